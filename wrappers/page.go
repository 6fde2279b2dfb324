package wrappers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/samber/lo"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/fastjson"
)

// DefaultMaxPages is the page limit of an iteration without MaxPages: a
// server whose next links never end (a bug, or one that changes a query
// parameter on every page) is not followed for ever. PKB caps a search at
// 60,000 resources and asks for _count ≤ 10 on the Aggregated API, so the
// largest documented search is 6,000 pages.
const DefaultMaxPages = 10_000

// ErrPageLimit is yielded once when a MaxPages or MaxResources limit stops
// an iteration that had more to fetch, so a capped result is never
// mistaken for a complete one.
var ErrPageLimit = errors.New("pkb: page or resource limit reached before the last page")

// ErrPageLoop is yielded when a next link leads to a page the iteration
// has already fetched (the same URL, up to case, query parameter order,
// percent-encoding and fragment): following it would never end.
var ErrPageLoop = errors.New("pkb: next link repeats a page already fetched")

// errNoFamily is the error of following a page that no Family fetched.
var errNoFamily = errors.New("pkb: this page was not fetched through a wrappers.Family, so its next link cannot be followed")

// pageLimits are the limits of a paged iteration.
type pageLimits struct {
	pages     int
	pagesSet  bool // pages was given (0 means no limit then)
	resources int
}

func (l pageLimits) maxPages() int {
	if l.pagesSet {
		return l.pages
	}
	return DefaultMaxPages
}

// with returns l overridden by opts.
func (l pageLimits) with(opts []CallOption) pageLimits {
	if len(opts) == 0 {
		return l
	}
	c := Call{limits: l}
	Apply(&c, opts...)
	return c.limits
}

// ResourceTypeError is a body, or a searchset entry, whose resourceType is
// not the one the call expects: its content would not fit the Go type.
type ResourceTypeError struct {
	// Want is the expected resource type, e.g. "Observation".
	Want string
	// Got is the resourceType received. Anything that is not a short run
	// of letters is shown as "(missing or not a resource type)", never as
	// the server's text.
	Got string
}

// NewResourceTypeError is the error for a body, or an entry, of type got
// where want was expected. got is the server's text: anything that is not
// a short run of letters becomes "(missing or not a resource type)", so
// layers built on this package (such as package pkb) never repeat it.
func NewResourceTypeError(want, got string) *ResourceTypeError {
	return &ResourceTypeError{Want: want, Got: shownType(got)}
}

// Error names both types.
func (e *ResourceTypeError) Error() string {
	return "pkb: want a " + e.Want + ", got resourceType " + e.Got
}

// Page is one page of a FHIR search (a searchset Bundle, or a history
// Bundle) whose matches are resources of type T, a generated model such as
// stu3.Observation or r4.Observation. It is decoded in one pass with the
// client's body limits: each match straight into a T, included resources
// kept as the server sent them until IncludedAs or IncludedOf decodes
// them. A match of another resourceType fails the page with a
// *ResourceTypeError; an entry without a resource (a deletion in a
// history) is skipped.
//
// Next fetches the following page; Pages and All iterate this page and
// the following ones through the same Family (same token, same checks),
// stopping at a page already fetched (ErrPageLoop) and after
// DefaultMaxPages unless MaxPages says otherwise.
type Page[T any] struct {
	// Matches are the entries with search.mode "match" (or none), in order.
	Matches []*T
	// Total is Bundle.total, when the server sent it.
	Total *int
	// Included holds the entries with search.mode "include".
	Included Included
	// Outcomes are the issues of the entries with search.mode "outcome":
	// what the server has to say about the search (an ignored parameter,
	// a truncated result).
	Outcomes []OutcomeIssue
	// NextLink is the link[relation=next] URL, "" on the last page.
	NextLink string

	fam    *Family
	from   string // pageKey of the URL the page came from, "" if unknown
	self   string // the Bundle's self link
	limits pageLimits
}

// Included is a page's included resources (search.mode "include", from
// _include and _revinclude), undecoded, indexed by reference ("Type/id")
// and by the entries' fullUrl. IncludedAs and IncludedOf decode them.
type Included struct {
	items []includedItem
	index map[string]int
}

type includedItem struct {
	typ, id, fullURL string
	raw              []byte
}

// Len is the number of included resources.
func (in *Included) Len() int { return len(in.items) }

// Raw returns the JSON of the included resource that ref names: "Type/id"
// (a trailing /_history/{vid} is ignored) or an entry's fullUrl.
func (in *Included) Raw(ref string) (json.RawMessage, bool) {
	it := in.lookup(ref)
	if it == nil {
		return nil, false
	}
	return bytes.Clone(it.raw), true
}

func (in *Included) add(it includedItem) {
	if in.index == nil {
		in.index = map[string]int{}
	}
	i := len(in.items)
	in.items = append(in.items, it)
	if it.fullURL != "" {
		if _, dup := in.index[it.fullURL]; !dup {
			in.index[it.fullURL] = i
		}
	}
	if it.typ != "" && it.id != "" {
		if _, dup := in.index[it.typ+"/"+it.id]; !dup {
			in.index[it.typ+"/"+it.id] = i
		}
	}
}

func (in *Included) lookup(ref string) *includedItem {
	if i, ok := in.index[ref]; ok {
		return &in.items[i]
	}
	if rest, _, ok := strings.Cut(ref, "/_history/"); ok {
		ref = rest
	}
	if i, ok := in.index[ref]; ok {
		return &in.items[i]
	}
	return nil
}

// IncludedAs decodes the resource of p's included entries that ref names:
// a reference as a match holds it ("Patient/p1", optionally with
// /_history/{vid}), an absolute URL under the family's base URL, or an
// entry's fullUrl (such as urn:uuid:…). It returns nil, nil if p includes
// no such resource, and a *ResourceTypeError if the resource is not a U.
func IncludedAs[U, T any](p *Page[T], ref string) (*U, error) {
	it := p.Included.lookup(ref)
	if it == nil && p.fam != nil {
		if u, err := url.Parse(ref); err == nil && u.IsAbs() {
			base := p.fam.ep.base
			if strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(u.Host, base.Host) {
				if rel, ok := strings.CutPrefix(u.Path, base.Path+"/"); ok {
					it = p.Included.lookup(rel)
				}
			}
		}
	}
	if it == nil {
		return nil, nil
	}
	return decodeIncluded[U](it)
}

// IncludedOf yields every resource of type U that p includes, decoded, in
// the order of the Bundle.
func IncludedOf[U, T any](p *Page[T]) iter.Seq2[*U, error] {
	want := fhirType[U]()
	return func(yield func(*U, error) bool) {
		for i := range p.Included.items {
			it := &p.Included.items[i]
			if it.typ != want {
				continue
			}
			if !yield(decodeIncluded[U](it)) {
				return
			}
		}
	}
}

func decodeIncluded[U any](it *includedItem) (*U, error) {
	if want := fhirType[U](); it.typ != want {
		return nil, NewResourceTypeError(want, it.typ)
	}
	v := new(U)
	if err := fastjson.Unmarshal(it.raw, v); err != nil {
		return nil, newDecodeError("an included resource", err)
	}
	return v, nil
}

// FirstPage sends call, a search (or history) operation of f, and decodes
// the page it answers with. The call's MaxPages and MaxResources options
// become the page's limits for Pages and All.
func FirstPage[T any](ctx context.Context, f *Family, call *Call) (*Page[T], error) {
	resp, err := f.Do(ctx, call)
	if err != nil {
		return nil, err
	}
	p, err := DecodePage[T](f, resp)
	if err != nil {
		return nil, err
	}
	p.limits = call.limits
	return p, nil
}

// DecodePage decodes and closes the body of r, a response of f's, as a
// Page. f may be nil for a body obtained elsewhere; such a page is read
// under the default limits (DefaultMaxResponseBytes and its JSON value
// budget) and cannot follow its next link.
func DecodePage[T any](f *Family, r *http.Response) (*Page[T], error) {
	limit := int64(DefaultMaxResponseBytes)
	if f != nil {
		limit = f.p.maxBody
	}
	var from *url.URL
	if r.Request != nil {
		from = r.Request.URL
	}
	return decodePage[T](f, r.Body, from, limit)
}

// decodePage decodes and closes body, which came from the URL from (nil if
// unknown), reading at most limit bytes unless the body carries its
// client's limits already.
func decodePage[T any](f *Family, body io.ReadCloser, from *url.URL, limit int64) (*Page[T], error) {
	defer body.Close()
	var r io.Reader = body
	if _, ok := body.(interface{ limited() }); !ok {
		r = newLimitedBody(body, limit, true)
	}
	p := &Page[T]{fam: f}
	if from != nil {
		p.from = pageKey(from)
	}
	w := pageWire[T]{Entry: entryStream[T]{page: p, want: fhirType[T]()}}
	if hasFHIRType[T]() {
		w.Entry.directFn = w.Entry.direct
	}
	err := fastjson.UnmarshalRead(r, &w)
	if w.Entry.err != nil {
		return nil, w.Entry.err
	}
	if err != nil {
		return nil, newDecodeError("a searchset page", err)
	}
	if w.ResourceType != "Bundle" {
		return nil, NewResourceTypeError("Bundle", w.ResourceType)
	}
	p.Total = w.Total
	for _, l := range w.Link {
		switch l.Relation {
		case "next":
			p.NextLink = l.URL
		case "self":
			p.self = l.URL
		}
	}
	return p, nil
}

// Next fetches and decodes the page NextLink leads to, through the family
// that fetched p (see Family.Follow); nil, nil on the last page. Unlike
// Pages and All it keeps no record of the pages fetched: a server whose
// next links loop makes a loop of Next calls loop too.
func (p *Page[T]) Next(ctx context.Context) (*Page[T], error) {
	if p.NextLink == "" {
		return nil, nil
	}
	if p.fam == nil {
		return nil, errNoFamily
	}
	resp, err := p.fam.Follow(ctx, p.NextLink)
	if err != nil {
		return nil, err
	}
	next, err := DecodePage[T](p.fam, resp)
	if err != nil {
		return nil, err
	}
	next.limits = p.limits
	return next, nil
}

// Pages yields p, then each page its next links lead to. MaxPages in opts
// overrides the limit p was fetched with (DefaultMaxPages by default); a
// limit that stops the iteration yields ErrPageLimit, a next link to a page
// already fetched ErrPageLoop, and a link outside the family's base URL
// ErrUnsafeURL, each once, last. Breaking out of the loop fetches nothing
// more; only the current page is held.
func (p *Page[T]) Pages(ctx context.Context, opts ...CallOption) iter.Seq2[*Page[T], error] {
	return p.pages(ctx, p.limits.with(opts))
}

func (p *Page[T]) pages(ctx context.Context, l pageLimits) iter.Seq2[*Page[T], error] {
	return func(yield func(*Page[T], error) bool) {
		f := p.fam
		// The URLs fetched, the first page's own and its self link
		// included, so a next link back to any of them is a loop.
		seen := map[string]bool{}
		if p.from != "" {
			seen[p.from] = true
		}
		if p.self != "" && f != nil {
			if req, _, err := f.nextRequest(ctx, p.self); err == nil {
				seen[pageKey(req.URL)] = true
			}
		}
		page := p
		for n := 1; ; n++ {
			if !yield(page, nil) {
				return
			}
			next := page.NextLink
			if next == "" {
				return
			}
			if m := l.maxPages(); m > 0 && n >= m {
				yield(nil, ErrPageLimit)
				return
			}
			if f == nil {
				yield(nil, errNoFamily)
				return
			}
			page = nil // hold one page at a time
			req, op, err := f.nextRequest(ctx, next)
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
			resp, err := f.do(req, op, false)
			if err != nil {
				yield(nil, err)
				return
			}
			if page, err = DecodePage[T](f, resp); err != nil {
				yield(nil, &RequestError{Method: http.MethodGet, Route: op.Path, Err: err})
				return
			}
			page.limits = l
		}
	}
}

// All yields the matches of p and of the pages that follow it, as Pages
// fetches them; MaxResources in opts stops it after that many matches
// (yielding ErrPageLimit if there were more).
func (p *Page[T]) All(ctx context.Context, opts ...CallOption) iter.Seq2[*T, error] {
	l := p.limits.with(opts)
	return func(yield func(*T, error) bool) {
		count := 0
		for page, err := range p.pages(ctx, l) {
			if err != nil {
				yield(nil, err)
				return
			}
			for i, m := range page.Matches {
				if !yield(m, nil) {
					return
				}
				if count++; l.resources > 0 && count >= l.resources {
					if i < len(page.Matches)-1 || page.NextLink != "" {
						yield(nil, ErrPageLimit)
					}
					return
				}
			}
		}
	}
}

// pageWire is the part of a Bundle a page needs.
type pageWire[T any] struct {
	ResourceType string `json:"resourceType"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry entryStream[T] `json:"entry"`
}

// entryStream decodes Bundle.entry one entry at a time into the page: no
// slice of entries is built (a Bundle of a million empty entries held a
// million of them), and nothing is sized from the untrusted entry count.
// Each entry's resource is captured as JSON text (its search.mode may come
// after it) in one reused buffer, then a match is decoded into a new T,
// once.
type entryStream[T any] struct {
	page    *Page[T]
	want    string
	e       entryWire
	n       int
	err     error // why decoding stopped early
	pending *T    // the entry's resource, decoded straight from the stream
	// directFn is direct bound to the stream, nil when T is not a FHIR
	// model; made once per page.
	directFn func(*jsontext.Decoder) error
}

// direct decodes the entry's resource, which starts as a T, straight from
// the stream into a new T: a match (most entries) is then tokenised once,
// not captured as text and decoded again.
func (s *entryStream[T]) direct(dec *jsontext.Decoder) error {
	v := new(T)
	if err := jsonv2.UnmarshalDecode(dec, v); err != nil {
		s.err = newDecodeError(fmt.Sprintf("searchset entry %d", s.n), err)
		return errStopEntries
	}
	s.pending = v
	return nil
}

type entryWire struct {
	FullURL  textSlot `json:"fullUrl"`
	Resource rawSlot  `json:"resource"`
	Search   struct {
		Mode textSlot `json:"mode"`
	} `json:"search"`
}

// rawSlot keeps the text of a JSON value in a buffer it reuses, or, when
// the value is an object whose first member says it is a want resource,
// hands it to direct instead (decoded then says so).
type rawSlot struct {
	buf     []byte
	set     bool
	want    string
	direct  func(*jsontext.Decoder) error
	decoded bool
}

// startsAsResource reports whether b, the decoder's unread input before a
// member value, starts with {"resourceType":"want" (whitespace allowed).
// Input split across the decoder's buffer just reports false.
func startsAsResource(b []byte, want string) bool {
	ws := func() {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
			b = b[1:]
		}
	}
	lit := func(l string) bool {
		ws()
		if len(b) < len(l) || string(b[:len(l)]) != l {
			return false
		}
		b = b[len(l):]
		return true
	}
	ws()
	if len(b) > 0 && b[0] == ':' {
		b = b[1:]
	}
	return lit("{") && lit(`"resourceType"`) && lit(":") && lit(`"`) && lit(want) && len(b) > 0 && b[0] == '"'
}

// textSlot keeps a JSON string's content in a buffer it reuses: most
// entries' fullUrl and search.mode are read and dropped, and need no
// string of their own.
type textSlot struct{ buf []byte }

func (t *textSlot) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case 'n':
		t.buf = t.buf[:0]
		return nil
	case '"':
		t.buf, err = jsontext.AppendUnquote(t.buf[:0], v)
		return err
	}
	return fmt.Errorf("want a JSON string, got %s", v.Kind())
}

func (r *rawSlot) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	r.decoded = false
	if r.direct != nil && startsAsResource(dec.UnreadBuffer(), r.want) {
		if err := r.direct(dec); err != nil {
			return err
		}
		r.set, r.decoded = true, true
		return nil
	}
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if v.Kind() == 'n' {
		r.set = false
		return nil
	}
	r.buf, r.set = append(r.buf[:0], v...), true
	return nil
}

// errStopEntries ends decoding at an entry that fails the page.
var errStopEntries = errors.New("stop")

func (s *entryStream[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '[' {
		// null, or a type error: let the decoder say which, as for a slice
		var ignored []struct{}
		return jsonv2.UnmarshalDecode(dec, &ignored)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		// Fresh fields over the buffers of the previous entry.
		mode := s.e.Search.Mode.buf[:0]
		s.e = entryWire{FullURL: textSlot{s.e.FullURL.buf[:0]}, Resource: rawSlot{buf: s.e.Resource.buf[:0], want: s.want, direct: s.directFn}}
		s.pending = nil
		s.e.Search.Mode.buf = mode
		if err := jsonv2.UnmarshalDecode(dec, &s.e); err != nil {
			return err
		}
		if err := s.add(); err != nil {
			s.err = err
			return errStopEntries
		}
		s.n++
	}
	_, err := dec.ReadToken()
	return err
}

// add files the entry just decoded.
func (s *entryStream[T]) add() error {
	e := &s.e
	if !e.Resource.set {
		return nil
	}
	raw := e.Resource.buf
	p := s.page
	mode := string(e.Search.Mode.buf) // no allocation in the comparisons
	if e.Resource.decoded {
		if mode != "include" && mode != "outcome" {
			v := s.pending
			// A repeated resourceType member: the decoder kept the last one.
			if got := declaredType(v); got != s.want {
				return fmt.Errorf("pkb: searchset entry %d: %w", s.n, NewResourceTypeError(s.want, got))
			}
			p.Matches = append(p.Matches, v)
			return nil
		}
		// An included resource of the matches' own type (rare: e.g.
		// Observation:has-member): kept as JSON again, which drops what
		// the model has no field for.
		b, err := jsonv2.Marshal(s.pending)
		if err != nil {
			return newDecodeError(fmt.Sprintf("searchset entry %d", s.n), err)
		}
		raw = b
	}
	switch mode {
	case "include":
		var id struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := fastjson.Unmarshal(raw, &id); err != nil {
			return newDecodeError(fmt.Sprintf("searchset entry %d", s.n), err)
		}
		p.Included.add(includedItem{typ: id.ResourceType, id: id.ID, fullURL: string(e.FullURL.buf), raw: bytes.Clone(raw)})
	case "outcome":
		var oo Outcome
		if err := fastjson.Unmarshal(raw, &oo); err != nil {
			return newDecodeError(fmt.Sprintf("searchset entry %d", s.n), err)
		}
		p.Outcomes = append(p.Outcomes, oo.Issues...)
	default:
		if got, ok := isType(raw, s.want); !ok {
			return fmt.Errorf("pkb: searchset entry %d: %w", s.n, NewResourceTypeError(s.want, got))
		}
		v := new(T)
		if err := fastjson.Unmarshal(raw, v); err != nil {
			return newDecodeError(fmt.Sprintf("searchset entry %d", s.n), err)
		}
		// A repeated resourceType member: the decoder kept the last one.
		if got := declaredType(v); got != s.want {
			return fmt.Errorf("pkb: searchset entry %d: %w", s.n, NewResourceTypeError(s.want, got))
		}
		p.Matches = append(p.Matches, v)
	}
	return nil
}

// isType reports whether the resource raw is a want, and otherwise its
// resourceType. The usual form, with resourceType first, is checked
// without decoding.
func isType(raw []byte, want string) (string, bool) {
	const prefix = `{"resourceType":"`
	if len(raw) > len(prefix)+len(want) && string(raw[:len(prefix)]) == prefix &&
		string(raw[len(prefix):len(prefix)+len(want)]) == want && raw[len(prefix)+len(want)] == '"' {
		return want, true
	}
	var v struct {
		ResourceType string `json:"resourceType"`
	}
	_ = fastjson.Unmarshal(raw, &v) // a resource that does not decode fails later
	return v.ResourceType, v.ResourceType == want
}

// fhirType is the FHIR resource type of a generated model type: its
// FHIRType method, or else its Go name (the models are named that way).
func fhirType[T any]() string {
	var zero T
	if r, ok := any(zero).(interface{ FHIRType() string }); ok {
		return r.FHIRType()
	}
	return reflect.TypeFor[T]().Name()
}

// declaredType is the resourceType v holds: its DeclaredType method, or
// else its ResourceType field.
func declaredType(v any) string {
	if r, ok := v.(interface{ DeclaredType() string }); ok {
		return r.DeclaredType()
	}
	f := reflect.ValueOf(v).Elem().FieldByName("ResourceType")
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}

// shownType is a resourceType from the server as an error may show it: a
// FHIR resource type is a short run of letters; anything else is the
// server's text and is not repeated.
func shownType(rt string) string {
	if rt == "" || len(rt) > 64 {
		return "(missing or not a resource type)"
	}
	for i := 0; i < len(rt); i++ {
		if c := rt[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "(missing or not a resource type)"
		}
	}
	return rt
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

// nextRequest builds the GET of a link and resolves it to an operation of
// the family, without any I/O.
func (f *Family) nextRequest(ctx context.Context, link string) (*http.Request, access.Operation, error) {
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
	base := *f.ep.base
	base.Path += "/"
	u := base.ResolveReference(ref)
	// Built from the parsed URL, not its text: parsing it again could fail
	// with an error that quotes it.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.ep.base.String(), nil)
	if err != nil {
		return nil, access.Operation{}, err
	}
	req.URL, req.Host = u, u.Host
	op, err := f.resolve(req)
	if errors.Is(err, ErrUnknownOperation) {
		op, err = f.pageOperation(req)
	}
	if err != nil {
		return nil, access.Operation{}, err
	}
	return req, op, nil
}

// pageOperation covers servers (HAPI among them) whose next links point at
// the service base with a paging token, e.g. ?_getpages=…: such a GET is
// allowed to whoever may run some search of this family.
func (f *Family) pageOperation(req *http.Request) (access.Operation, error) {
	rel := strings.TrimPrefix(req.URL.EscapedPath(), strings.TrimSuffix(f.ep.base.EscapedPath(), "/"))
	if rel != "" && rel != "/" {
		return access.Operation{}, &RequestError{Method: req.Method, Route: "(next link)", Err: fmt.Errorf("%w in the %s API", ErrUnknownOperation, f.ep.family)}
	}
	gets := lo.Filter(f.ep.router.routes, func(rt route, _ int) bool { return rt.op.Method == http.MethodGet })
	grants := lo.FlatMap(gets, func(rt route, _ int) []string { return rt.op.Grants })
	return access.Operation{Family: f.ep.family, ID: "page", Method: http.MethodGet, Path: "/",
		Grants: lo.Without(lo.Uniq(grants), "public")}, nil
}
