package wrappers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/pkbgo/pkb/gen/access"
)

// Family is the checkpoint of one endpoint family of one client: every
// request to the family passes it, whether it comes from Do, Follow, a
// pager or the generated client (Gen) of the family's handle. Before any
// network I/O, to the API or to the token endpoint, it resolves the request
// to an operation of the family's OpenAPI document, checks the client's
// grant against that operation's x-pkb-access list (gen/access) and refuses
// any URL outside the family's base URL; then it adds the bearer token,
// Accept and, for a System Client, X-Org-Public-Id, retries under the
// client's policy, replays once after a 401, checks redirects, turns error
// answers into *APIError and bounds the body. A Family is safe for
// concurrent use.
type Family struct {
	p       *pipeline
	ep      endpoint
	info    access.FamilyInfo
	ops     map[string]*route // by operationId
	baseStr string            // ep.base.String()
	lim     limiter           // requests in flight; nil: no limit
}

// newFamily builds the checkpoint of one family of a client on the
// client's pipeline.
func newFamily(p *pipeline, info access.FamilyInfo, base *url.URL) *Family {
	f := &Family{p: p, info: info, ops: map[string]*route{}, baseStr: base.String(),
		ep: endpoint{family: info.ID, base: base, router: newRouter(info.ID), accept: info.MediaType}}
	n := DefaultMaxConcurrency(info.ID)
	if p.maxConc != nil {
		n = p.maxConc(info.ID)
	}
	f.lim = newLimiter(n)
	for i := range f.ep.router.routes {
		rt := &f.ep.router.routes[i]
		if _, dup := f.ops[rt.op.ID]; !dup {
			f.ops[rt.op.ID] = rt
		}
	}
	return f
}

// Info describes the family (its row of the family table).
func (f *Family) Info() access.FamilyInfo {
	info := f.info
	info.ClientTypes = slices.Clone(info.ClientTypes)
	return info
}

// BaseURL returns a copy of the family's base URL, without a trailing
// slash.
func (f *Family) BaseURL() *url.URL {
	u := *f.ep.base
	return &u
}

// Call is one request to an operation of a family, for Family.Do. The
// operation is named, never inferred from a URL: Do builds the URL from
// the operation's route template.
type Call struct {
	// Operation is the operationId in the family's document (see
	// access.Lookup and access.Find), e.g. "readPatient".
	Operation string
	// Path holds the values of the route template's path parameters, in
	// template order ("Patient", "p1" for /{resourceType}/{id}). Each must
	// be one plain segment: letters, digits, "-", "." and "_", not only
	// dots and not starting with "_" (FHIR ids, resource types, NHS
	// numbers and PKB ids all are); anything else is refused before any
	// I/O, since it is how a path is made to mean another one.
	Path []string
	// Query is the query string. A parameter the document marks required
	// must have a non-blank value.
	Query url.Values
	// Header holds request headers the caller may set: If-Match,
	// If-None-Match, If-None-Exist, If-Modified-Since, Prefer,
	// breaktheglass (PKB's break-the-glass token), x-team-id (the
	// Aggregated questionnaire operations' team) and Content-Type (default:
	// the family's media type when there is a Body). Any other header is
	// refused before any I/O: the checkpoint sets the credentials, Accept
	// and X-Org-Public-Id itself. CallOptions fill it.
	Header http.Header
	// Body is the request body, sent again as it is on a retry or after a
	// 401; nil sends none.
	Body []byte

	limits pageLimits
	// rawQuery, when Query is empty, is the query string exactly as a
	// generated request builder encoded it (the typed calls set it), so
	// that a typed call sends the bytes the generated client would.
	rawQuery string
}

// allowedHeaders are the request headers a Call may carry, canonicalised.
var allowedHeaders = map[string]bool{
	"If-Match": true, "If-None-Match": true, "If-None-Exist": true, "If-Modified-Since": true,
	"Prefer": true, "Breaktheglass": true, "X-Team-Id": true, "Content-Type": true,
}

// Do sends call through the checkpoint and returns the response of a
// 2xx (or, for a conditional read, 304) answer, whose body the caller must
// close; any other answer is an *APIError. A call that names no operation
// of the family (ErrUnknownOperation), does not fit it (ErrInvalidCall),
// lacks a required query parameter (ErrMissingParameter) or that the
// client's grant does not cover (ErrNotPermitted) is refused before any
// I/O, with a *RequestError naming the route template, never the URL.
func (f *Family) Do(ctx context.Context, call *Call) (*http.Response, error) {
	if call == nil {
		return nil, &RequestError{Route: "(no call)", Err: ErrInvalidCall}
	}
	rt, ok := f.ops[call.Operation]
	if !ok {
		return nil, f.unknown(call.Operation)
	}
	req, err := f.build(ctx, rt, call)
	if err != nil {
		f.p.log(ctx, rt.op, rt.op.Method, 0, 0, 1, "", err)
		return nil, err
	}
	return f.do(req, rt.op, true)
}

// Follow GETs a link a response of this family gave, such as a Bundle's
// next link, through the checkpoint. The link, relative to the base URL or
// absolute, must have the base URL's scheme, host and path, and be an
// operation of the family (or, for HAPI-style paging links, the service
// base with a query) that the grant covers; anything else is refused with
// ErrUnsafeURL or ErrUnknownOperation before any I/O. Errors never quote
// the link, which is the server's text.
func (f *Family) Follow(ctx context.Context, link string) (*http.Response, error) {
	req, op, err := f.nextRequest(ctx, link)
	if err != nil {
		return nil, err
	}
	return f.do(req, op, false)
}

// Permit reports, without any I/O, whether the client's grant covers the
// family's operation operationID: nil, a *NotPermittedError
// (ErrNotPermitted) or, for an operation the family lacks, a *RequestError
// wrapping ErrUnknownOperation. The grant is the token source's current
// one (see authn.Source.Grant).
func (f *Family) Permit(operationID string) error {
	rt, ok := f.ops[operationID]
	if !ok {
		return f.unknown(operationID)
	}
	if slices.Contains(rt.op.Grants, "public") {
		return nil
	}
	return f.permit(rt.op)
}

// unknown is the error for an operationId the family lacks. The name is
// the caller's, bounded so that a mistake cannot flood a log.
func (f *Family) unknown(id string) error {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return &RequestError{Route: "(unknown operation)", Err: fmt.Errorf("%w: the %s API has no operation %q", ErrUnknownOperation, f.ep.family, id)}
}

// build makes the request of call from the operation's route template.
func (f *Family) build(ctx context.Context, rt *route, call *Call) (*http.Request, error) {
	op := rt.op
	fail := func(format string, args ...any) error {
		return &RequestError{Method: op.Method, Route: op.Path, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidCall}, args...)...)}
	}
	if len(call.Path) != rt.params {
		return nil, fail("%s takes %d path values, got %d", op.ID, rt.params, len(call.Path))
	}
	var b strings.Builder
	b.Grow(len(f.ep.base.Path) + len(op.Path) + 16*rt.params)
	b.WriteString(f.ep.base.Path)
	n := 0
	for j, s := range rt.segs {
		b.WriteByte('/')
		if !rt.wild[j] {
			b.WriteString(s)
			continue
		}
		// The value is never shown: it may be an NHS number.
		if v := call.Path[n]; validParam(v) {
			b.WriteString(v)
		} else {
			return nil, fail("path value %d (%s) is not one plain segment", n+1, s)
		}
		n++
	}
	if len(rt.segs) == 0 {
		b.WriteByte('/') // [base]/, as the generated clients send it
	}
	u := *f.ep.base
	u.Path, u.RawPath, u.RawQuery = b.String(), "", call.Query.Encode()
	if len(call.Query) == 0 {
		u.RawQuery = call.rawQuery
	}
	// What is sent must be what was checked: the route matcher, which also
	// guards redirects and next links, must read the URL as this operation
	// (a value such as "metadata" in /{resourceType} is another one).
	rel := strings.TrimPrefix(u.EscapedPath(), f.ep.base.EscapedPath())
	if got, ok := f.ep.router.match(op.Method, rel); !ok || got.ID != op.ID {
		return nil, fail("the URL built for %s would be read as another operation", op.ID)
	}
	var body io.Reader
	if call.Body != nil {
		body = bytes.NewReader(call.Body) // GetBody makes it re-sendable
	}
	req, err := http.NewRequestWithContext(ctx, op.Method, f.baseStr, body)
	if err != nil {
		return nil, &RequestError{Method: op.Method, Route: op.Path, Err: err}
	}
	req.URL, req.Host = &u, u.Host
	for name, values := range call.Header {
		canon := http.CanonicalHeaderKey(name)
		if !allowedHeaders[canon] {
			return nil, fail("a call may not set the header %s", shownHeader(canon))
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, fail("the %s header holds a line break or NUL", canon)
			}
		}
		req.Header[canon] = append(req.Header[canon], values...)
	}
	if call.Body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", f.info.MediaType)
	}
	return req, nil
}

// shownHeader is a header name as an error may show it: a token of
// letters, digits and "-", bounded.
func shownHeader(name string) string {
	if name == "" || len(name) > 64 || strings.IndexFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-')
	}) >= 0 {
		return "(not a header name)"
	}
	return name
}

// genDoer is the generated client's HttpRequestDoer: its requests are
// resolved to an operation by route matching, then pass the checkpoint.
type genDoer struct{ f *Family }

// Do checks the request against the family's access table and base URL,
// then sends it with credentials. A refused request performs no I/O.
func (g genDoer) Do(req *http.Request) (*http.Response, error) { return g.f.doRequest(req) }

// doRequest resolves a request built elsewhere (by a generated client) to
// an operation and sends it through the checkpoint.
func (f *Family) doRequest(req *http.Request) (*http.Response, error) {
	op, err := f.resolve(req)
	if err != nil {
		return nil, err
	}
	return f.do(req, op, true)
}
