package wrappers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/samber/lo"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/aggregated"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	customerstu3 "github.com/pkbgo/pkb/gen/customer/stu3"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// STU3Client is a generated client of an STU3 family, built by this package.
type STU3Client interface {
	*facade.ClientWithResponses | *customerstu3.ClientWithResponses
}

// R4Client is a generated client of an R4 family, built by this package.
type R4Client interface {
	*customerr4.ClientWithResponses | *aggregated.ClientWithResponses
}

// PageOption limits a paged iteration.
type PageOption func(*pageLimits)

type pageLimits struct{ pages, resources int }

// DefaultMaxPages is the page limit of an iteration without MaxPages: a
// server whose next links never end (a bug, or one that changes a query
// parameter on every page) is not followed for ever. PKB caps a search at
// 60,000 resources and asks for _count ≤ 10 on the Aggregated API, so the
// largest documented search is 6,000 pages.
const DefaultMaxPages = 10_000

// MaxPages stops an iteration after n pages, the first included, instead
// of after DefaultMaxPages; n <= 0 removes the limit (a next link to a
// page already fetched still ends the iteration with ErrPageLoop).
func MaxPages(n int) PageOption {
	return func(l *pageLimits) { l.pages = max(n, 0) }
}

// MaxResources stops a resource iteration after n resources.
func MaxResources(n int) PageOption { return func(l *pageLimits) { l.resources = n } }

// ErrPageLimit is yielded once when a MaxPages or MaxResources limit stops
// an iteration that had more to fetch, so a capped result is never
// mistaken for a complete one.
var ErrPageLimit = errors.New("pkb: page or resource limit reached before the last page")

// ErrPageLoop is yielded when a next link leads to a page the iteration
// has already fetched (the same URL, up to case, query parameter order,
// percent-encoding and fragment): following it would never end.
var ErrPageLoop = errors.New("pkb: next link repeats a page already fetched")

// STU3Pages yields first, then each page its link[relation=next] leads to,
// fetched through the same client: same token, same access checks, and a
// next link on another scheme, host or base path is refused with
// ErrUnsafeURL. Breaking out of the loop fetches nothing more. Only the
// current page is held in memory.
func STU3Pages[C STU3Client](ctx context.Context, c C, first *stu3.Bundle, opts ...PageOption) iter.Seq2[*stu3.Bundle, error] {
	return pages(ctx, doerOfClient(c), first, opts, stu3Link)
}

// R4Pages is STU3Pages for R4 families (Customer R4, Aggregated).
func R4Pages[C R4Client](ctx context.Context, c C, first *r4.Bundle, opts ...PageOption) iter.Seq2[*r4.Bundle, error] {
	return pages(ctx, doerOfClient(c), first, opts, r4Link)
}

// STU3Resources yields every matched resource of type T (a generated STU3
// resource type such as stu3.Observation) across all pages. Entries that
// are included resources or OperationOutcomes about the search are
// skipped; an entry of another type is yielded as an error and the
// iteration goes on.
func STU3Resources[T any, C STU3Client](ctx context.Context, c C, first *stu3.Bundle, opts ...PageOption) iter.Seq2[T, error] {
	return resources[T](limits(opts), STU3Pages(ctx, c, first, opts...), func(b *stu3.Bundle, yield func(resource) bool) {
		for _, e := range b.Entry {
			if e.Resource != nil && (e.Search == nil || !skippedMode(string(e.Search.Mode))) && !yield(e.Resource) {
				return
			}
		}
	})
}

// R4Resources is STU3Resources for R4 families.
func R4Resources[T any, C R4Client](ctx context.Context, c C, first *r4.Bundle, opts ...PageOption) iter.Seq2[T, error] {
	return resources[T](limits(opts), R4Pages(ctx, c, first, opts...), func(b *r4.Bundle, yield func(resource) bool) {
		for _, e := range b.Entry {
			if e.Resource != nil && (e.Search == nil || !skippedMode(string(e.Search.Mode))) && !yield(e.Resource) {
				return
			}
		}
	})
}

// skippedMode reports a search entry that is not a match: an included
// resource or an OperationOutcome about the search.
func skippedMode(mode string) bool { return mode == "include" || mode == "outcome" }

// stu3Link returns the URL of the Bundle's link of relation rel.
func stu3Link(b *stu3.Bundle, rel string) string {
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.Url
		}
	}
	return ""
}

func r4Link(b *r4.Bundle, rel string) string {
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.Url
		}
	}
	return ""
}

func limits(opts []PageOption) pageLimits {
	l := pageLimits{pages: DefaultMaxPages}
	for _, o := range opts {
		o(&l)
	}
	return l
}

func pages[B any](ctx context.Context, d *doer, first *B, opts []PageOption, link func(*B, string) string) iter.Seq2[*B, error] {
	l := limits(opts)
	return func(yield func(*B, error) bool) {
		if d == nil {
			yield(nil, errors.New("pkb: paging needs a client built by the wrappers package"))
			return
		}
		// The URLs fetched, the first page's own (its self link) included
		// when it has one, so a next link back to any of them is a loop.
		seen := map[string]bool{}
		if self := link(first, "self"); self != "" {
			if req, _, err := d.nextRequest(ctx, self); err == nil {
				seen[pageKey(req.URL)] = true
			}
		}
		page := first
		for n := 1; page != nil; n++ {
			if !yield(page, nil) {
				return
			}
			next := link(page, "next")
			if next == "" {
				return
			}
			if l.pages > 0 && n >= l.pages {
				yield(nil, ErrPageLimit)
				return
			}
			page = nil // hold one page at a time
			req, op, err := d.nextRequest(ctx, next)
			if err != nil {
				yield(nil, err)
				return
			}
			key := pageKey(req.URL)
			if seen[key] {
				yield(nil, ErrPageLoop)
				return
			}
			seen[key] = true
			if page, err = fetchPage[B](d, req, op); err != nil {
				yield(nil, err)
				return
			}
		}
	}
}

// pageKey is a URL as a server would tell it apart: scheme and host
// without case, the path with percent-encoding undone, the query
// parameters in order of name, no fragment.
func pageKey(u *url.URL) string {
	path := u.EscapedPath()
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	query := u.RawQuery
	if q, err := url.ParseQuery(query); err == nil {
		query = q.Encode()
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + path + "?" + query
}

// resource is what both FHIR versions' generated ResourceList union offers.
type resource interface {
	Discriminator() (string, error)
	MarshalJSON() ([]byte, error)
}

// resources decodes the matches each page yields into T, counting them
// against the MaxResources limit.
func resources[T any, B any](l pageLimits, pageSeq iter.Seq2[*B, error], matches func(*B, func(resource) bool)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		count := 0
		for page, err := range pageSeq {
			if err != nil {
				yield(zero, err)
				return
			}
			stopped := false
			matches(page, func(r resource) bool {
				if l.resources > 0 && count >= l.resources {
					yield(zero, ErrPageLimit)
					stopped = true
					return false
				}
				count++
				v, err := decodeAs[T](r)
				if !yield(v, err) {
					stopped = true
					return false
				}
				return true
			})
			if stopped {
				return
			}
		}
	}
}

// decodeAs decodes one entry's resource into T, whose Go type name is the
// FHIR resource type (the generated models are named that way).
func decodeAs[T any](r resource) (T, error) {
	var v T
	got, err := r.Discriminator()
	if err != nil {
		return v, err
	}
	if want := typeName[T](); got != want {
		return v, fmt.Errorf("pkb: search entry is a %s, not a %s", shownType(got), want)
	}
	raw, err := r.MarshalJSON()
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, newDecodeError("a search entry", err)
	}
	return v, nil
}

// typeName is the FHIR resource type of a generated model type.
func typeName[T any]() string { return reflect.TypeFor[T]().Name() }

// nextRequest builds the GET of a next link and resolves it to an
// operation of the family, without any I/O.
func (d *doer) nextRequest(ctx context.Context, link string) (*http.Request, access.Operation, error) {
	ref, err := url.Parse(link)
	if err != nil {
		// url.Error quotes the link, which is the server's text.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, access.Operation{}, &RequestError{Method: http.MethodGet, Route: "(next link)", Err: err,
			msg: "malformed next link: " + withheld(err)}
	}
	// A relative link is relative to the service base (FHIR's rule).
	base := *d.ep.base
	base.Path += "/"
	u := base.ResolveReference(ref)
	// Built from the parsed URL, not its text: parsing it again could fail
	// with an error that quotes it.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.ep.base.String(), nil)
	if err != nil {
		return nil, access.Operation{}, err
	}
	req.URL, req.Host = u, u.Host
	op, err := d.resolve(req)
	if errors.Is(err, ErrUnknownOperation) {
		op, err = d.pageOperation(req)
	}
	if err != nil {
		return nil, access.Operation{}, err
	}
	return req, op, nil
}

// fetchPage GETs a next link's request through the family's choke point.
func fetchPage[B any](d *doer, req *http.Request, op access.Operation) (*B, error) {
	resp, err := d.do(req, op, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b B
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return nil, &RequestError{Method: http.MethodGet, Route: op.Path, Err: newDecodeError("a page", err)}
	}
	return &b, nil
}

// pageOperation covers servers (HAPI among them) whose next links point at
// the service base with a paging token, e.g. ?_getpages=…: such a GET is
// allowed to whoever may run some search of this family.
func (d *doer) pageOperation(req *http.Request) (access.Operation, error) {
	rel := strings.TrimPrefix(req.URL.EscapedPath(), strings.TrimSuffix(d.ep.base.EscapedPath(), "/"))
	if rel != "" && rel != "/" {
		return access.Operation{}, &RequestError{Method: req.Method, Route: "(next link)", Err: fmt.Errorf("%w in the %s API", ErrUnknownOperation, d.ep.family)}
	}
	gets := lo.Filter(d.ep.router.routes, func(rt route, _ int) bool { return rt.op.Method == http.MethodGet })
	grants := lo.FlatMap(gets, func(rt route, _ int) []string { return rt.op.Grants })
	return access.Operation{Family: d.ep.family, ID: "page", Method: http.MethodGet, Path: "/",
		Grants: lo.Without(lo.Uniq(grants), "public")}, nil
}

// doerOfClient finds the choke point inside a generated client built by
// this package; nil for a client built any other way.
func doerOfClient(c any) *doer {
	var hd any
	switch c := c.(type) {
	case *facade.ClientWithResponses:
		if in, ok := c.ClientInterface.(*facade.Client); ok {
			hd = in.Client
		}
	case *customerstu3.ClientWithResponses:
		if in, ok := c.ClientInterface.(*customerstu3.Client); ok {
			hd = in.Client
		}
	case *customerr4.ClientWithResponses:
		if in, ok := c.ClientInterface.(*customerr4.Client); ok {
			hd = in.Client
		}
	case *aggregated.ClientWithResponses:
		if in, ok := c.ClientInterface.(*aggregated.Client); ok {
			hd = in.Client
		}
	}
	d, _ := hd.(*doer)
	return d
}
