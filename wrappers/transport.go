package wrappers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/loopback"
)

const (
	mediaFHIR = "application/fhir+json"
	mediaJSON = "application/json"
	// drainLimit bounds how much of a 401 body is read so the connection can
	// be reused for the replay; anything longer is simply closed.
	drainLimit = 64 << 10
)

// endpoint is one family's base URL and the rules that go with it.
type endpoint struct {
	family access.Family
	base   *url.URL
	router *router
	accept string
}

// pipeline is shared by every family of one client: one token source and one
// *http.Client, so tokens and connections are reused across families.
type pipeline struct {
	src       authn.Source
	hc        *http.Client
	orgID     string // X-Org-Public-Id, System Client only
	userAgent string
	maxBody   int64
	retry     *RetryPolicy
	logger    *slog.Logger
	// accepted is the access token a 401 was seen not to be about.
	accepted acceptedTokens
	// maxConc gives each family's concurrency limit.
	maxConc func(access.Family) int
}

// requiredQuery refuses a request without a non-blank value for each query
// parameter its document marks required (PKB's mandatory search parameters,
// such as the Aggregated endpoint's patient selectors): the generated
// client sends a required parameter even when it is the empty string, and
// PKB would answer with an error or, worse, a search over everything the
// caller may see. A value under a modified name (patient:Patient=...) counts.
// Next links are not checked: the server builds them.
func requiredQuery(req *http.Request, op access.Operation) error {
	if len(op.RequiredQuery) == 0 {
		return nil
	}
	q := req.URL.Query()
	for _, name := range op.RequiredQuery {
		found := false
		for k, vs := range q {
			if k != name && !strings.HasPrefix(k, name+":") {
				continue
			}
			for _, v := range vs {
				if strings.TrimSpace(v) != "" {
					found = true
				}
			}
		}
		if !found {
			return &RequestError{Method: req.Method, Route: op.Path,
				Err: fmt.Errorf("%w: %s", ErrMissingParameter, name)}
		}
	}
	return nil
}

// do sends a resolved request: the access check, the required-parameter
// check (for requests the caller built, not server-made next links), then
// attempts under the retry policy, each logged.
func (f *Family) do(req *http.Request, op access.Operation, checkRequired bool) (*http.Response, error) {
	public := slices.Contains(op.Grants, "public")
	if !public {
		if err := f.permit(op); err != nil {
			f.p.log(req.Context(), op, req.Method, 0, 0, 1, "", err)
			return nil, err
		}
	}
	if checkRequired {
		if err := requiredQuery(req, op); err != nil {
			f.p.log(req.Context(), op, req.Method, 0, 0, 1, "", err)
			return nil, err
		}
	}
	addBTG(req, f.ep.family)
	policy := f.p.retry
	if policy == nil || !idempotent(op) {
		policy = &RetryPolicy{MaxAttempts: 1}
	}
	ctx := req.Context()
	var prev error
	for attempt := 1; ; attempt++ {
		areq := req
		if attempt > 1 {
			var err error
			if areq, err = rewind(req); err != nil {
				return nil, f.fail(op, req, err)
			}
		}
		start := time.Now()
		release, err := f.lim.acquire(ctx)
		if err != nil {
			err = f.fail(op, req, err)
			f.p.log(ctx, op, req.Method, 0, time.Since(start), attempt, "", err)
			if prev != nil {
				return nil, &RetryError{Attempts: attempt - 1, Err: err, Previous: prev}
			}
			return nil, err
		}
		resp, err := f.attempt(areq, op, public, policy.PerAttemptTimeout, release)
		status, reqID := 0, ""
		if resp != nil {
			status, reqID = resp.StatusCode, requestID(resp.Header.Get("X-Request-Id"))
		}
		var ae *APIError
		if errors.As(err, &ae) {
			status, reqID = ae.StatusCode, ae.RequestID
		}
		f.p.log(ctx, op, req.Method, status, time.Since(start), attempt, reqID, err)
		if err == nil {
			return resp, nil
		}
		// Decide on this attempt's own error: the previous one, kept in a
		// RetryError for the caller, must not make a refusal look retryable.
		final := err
		if attempt > 1 {
			final = &RetryError{Attempts: attempt, Err: err, Previous: prev}
		}
		if attempt >= policy.MaxAttempts || !policy.retryable(err, ctx) {
			return nil, final
		}
		wait, ok := policy.delay(attempt, err)
		if !ok || sleep(ctx, wait) != nil {
			return nil, final
		}
		prev = err
	}
}

// attempt makes one attempt: send, replay once on 401, then check. release
// gives back the concurrency slot the attempt holds: on failure at once,
// on success when the caller closes the body.
func (f *Family) attempt(req *http.Request, op access.Operation, public bool, timeout time.Duration, release func()) (*http.Response, error) {
	cancel := context.CancelFunc(func() {})
	if timeout > 0 {
		var ctx context.Context
		ctx, cancel = context.WithTimeout(req.Context(), timeout)
		req = req.WithContext(ctx)
	}
	stop := cancel
	cancel = sync.OnceFunc(func() { stop(); release() })
	resp, tok, err := f.send(req, op, public)
	var tokens []string // the tokens sent, for redaction
	if tok != nil {
		tokens = append(tokens, tok.AccessToken)
	}
	if btg := req.Header.Get(breakTheGlassHeader); btg != "" {
		tokens = append(tokens, btg)
	}
	refused := false
	if err == nil && resp.StatusCode == http.StatusUnauthorized && tok != nil {
		var again *oauth2.Token
		resp, again, refused, err = f.unauthorized(req, resp, op, tok, public)
		if again != nil {
			tokens = append(tokens, again.AccessToken)
		}
	}
	if err == nil {
		resp, err = f.check(resp, req, op, tokens)
		var ae *APIError
		if refused && errors.As(err, &ae) {
			ae.WrongUserType = true
		}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{limitedBody: resp.Body.(*limitedBody), cancel: cancel}
	return resp, nil
}

// rewind copies req for another attempt, with a fresh body.
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return r, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("the request body cannot be sent again")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r.Body = body
	return r, nil
}

// check turns error statuses, and success bodies that are not JSON, into an
// *APIError, and bounds the size of the body the generated code will read.
// tokens are the access tokens sent, redacted from the error.
//
// Whatever the generated code would turn into a nil typed body and a nil
// error is an *APIError too: a redirect that was not followed (none to
// follow, or a body that cannot be sent again), and a success whose body
// has no Content-Type, or is empty where the operation returns data.
func (f *Family) check(resp *http.Response, req *http.Request, op access.Operation, tokens []string) (*http.Response, error) {
	switch {
	case resp.StatusCode >= 400:
		return nil, newAPIError(resp, req.Method, op, tokens...)
	case resp.StatusCode >= 300 && !(resp.StatusCode == http.StatusNotModified && conditional(req)):
		return nil, newAPIError(resp, req.Method, op, tokens...)
	}
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified {
		ct := resp.Header.Get("Content-Type")
		switch {
		case ct != "" && !isJSONContentType(ct):
			return nil, newAPIError(resp, req.Method, op, tokens...)
		case ct == "":
			var empty bool
			empty, resp.Body = peekEmpty(resp)
			if !empty || returnsData(op) {
				return nil, newAPIError(resp, req.Method, op, tokens...)
			}
		}
	}
	resp.Body = newLimitedBody(resp.Body, f.p.maxBody, isJSONContentType(resp.Header.Get("Content-Type")))
	return resp, nil
}

// conditional reports whether req asked for a 304 Not Modified.
func conditional(req *http.Request) bool {
	return req.Header.Get("If-None-Match") != "" || req.Header.Get("If-Modified-Since") != ""
}

// returnsData reports whether a success of op always carries a body: a GET,
// or a POST that only reads (e.g. $status-query). A write may be
// acknowledged without one (202 Accepted for a message).
func returnsData(op access.Operation) bool {
	return op.Method == http.MethodGet || op.Method == http.MethodHead || (op.Method == http.MethodPost && op.ReadOnly)
}

// peekEmpty reports whether resp's body is empty, returning a body that
// still reads from the start.
func peekEmpty(resp *http.Response) (bool, io.ReadCloser) {
	if resp.ContentLength == 0 || resp.Body == http.NoBody {
		return true, resp.Body
	}
	var one [1]byte
	n, err := io.ReadFull(resp.Body, one[:])
	if n == 0 {
		return err == io.EOF, resp.Body
	}
	return false, struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(one[:n]), resp.Body), resp.Body}
}

// isJSONContentType reports whether a Content-Type header names JSON; the
// common exact forms skip the allocating parser.
func isJSONContentType(ct string) bool {
	base, _, _ := strings.Cut(ct, ";")
	base = strings.TrimSpace(base)
	switch base {
	case mediaFHIR, mediaJSON:
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && isJSON(mt)
}

// replay handles a 401 on a request sent with tok.
// It returns the replay's response and the token the replay was sent with.
func (f *Family) replay(req *http.Request, resp *http.Response, op access.Operation, tok *oauth2.Token, public bool) (*http.Response, *oauth2.Token, error) {
	// The token was rejected: drop it (only if still cached, so a burst of
	// 401s refreshes once) and replay once, if the body can be sent again.
	f.p.src.Invalidate(tok.AccessToken)
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	resp.Body.Close()
	replay := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, nil, f.fail(op, req, err)
		}
		replay.Body = body
	}
	return f.send(replay, op, public)
}

// resolve maps the request to an operation of this family, refusing URLs
// outside the configured base URL.
func (f *Family) resolve(req *http.Request) (access.Operation, error) {
	u := req.URL
	base := f.ep.base
	route := "(unresolved)"
	if u.User != nil || !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return access.Operation{}, &RequestError{Method: req.Method, Route: route,
			Err: fmt.Errorf("%w: the scheme, host or user information is not the configured %s base URL's", ErrUnsafeURL, f.ep.family)}
	}
	// What is checked below must be what is sent: net/http sends Opaque
	// instead of the path, and req.Host instead of the URL's host; and
	// some servers and proxies route by a method or URL override header.
	switch {
	case u.Opaque != "":
		return access.Operation{}, &RequestError{Method: req.Method, Route: route,
			Err: fmt.Errorf("%w: a request with an opaque URL (URL.Opaque) is not checked", ErrUnsafeURL)}
	case req.Host != "" && !strings.EqualFold(req.Host, u.Host):
		return access.Operation{}, &RequestError{Method: req.Method, Route: route,
			Err: fmt.Errorf("%w: the Host header differs from the URL's host", ErrUnsafeURL)}
	}
	if h := overrideHeader(req.Header); h != "" {
		return access.Operation{}, &RequestError{Method: req.Method, Route: route,
			Err: fmt.Errorf("%w: a request carrying %s is not checked", ErrUnsafeURL, h)}
	}
	basePath := strings.TrimSuffix(base.EscapedPath(), "/")
	rel, ok := strings.CutPrefix(u.EscapedPath(), basePath)
	if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
		return access.Operation{}, &RequestError{Method: req.Method, Route: route,
			Err: fmt.Errorf("%w: path is outside the configured %s base path %s", ErrUnsafeURL, f.ep.family, basePath)}
	}
	op, ok := f.ep.router.match(req.Method, rel)
	if !ok {
		return access.Operation{}, &RequestError{Method: req.Method, Route: route,
			Err: fmt.Errorf("%w in the %s API", ErrUnknownOperation, f.ep.family)}
	}
	return op, nil
}

// overrideHeaders make some servers, frameworks and proxies run another
// method or path than the request line's: the checked operation would not
// be the one run.
var overrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "X-Original-Url", "X-Rewrite-Url"}

// overrideHeader returns the first override header in h, matched without
// regard to case since a caller may set the map directly.
func overrideHeader(h http.Header) string {
	for k := range h {
		for _, o := range overrideHeaders {
			if strings.EqualFold(k, o) {
				return o
			}
		}
	}
	return ""
}

// permit checks the caller's grant without any I/O: the token source
// reports the granted scopes of its cached token, or the configured ones.
func (f *Family) permit(op access.Operation) error {
	ct, scopes := f.p.src.Grant()
	if permitted(op.Grants, ct, scopes) {
		return nil
	}
	return &NotPermittedError{Family: string(op.Family), Operation: op.ID, ClientType: ct,
		Required: slices.Clone(op.Grants), Granted: slices.Clone(scopes)}
}

func (f *Family) send(req *http.Request, op access.Operation, public bool) (*http.Response, *oauth2.Token, error) {
	var tok *oauth2.Token
	if !public {
		var err error
		tok, err = f.p.src.Token(req.Context())
		if err != nil {
			return nil, nil, f.fail(op, req, err)
		}
		// Now the granted scope is known, which may be narrower than the one
		// requested: check again before the API sees the token.
		if err := f.permit(op); err != nil {
			return nil, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if f.p.orgID != "" { // only System Clients have one
			req.Header.Set("X-Org-Public-Id", f.p.orgID)
		}
	}
	req.Header.Set("Accept", f.ep.accept)
	if f.p.userAgent != "" {
		req.Header.Set("User-Agent", f.p.userAgent)
	}
	req = req.WithContext(context.WithValue(req.Context(), redirectKey{}, &redirectGuard{f: f, op: op, public: public}))
	resp, err := f.p.hc.Do(req)
	if err != nil {
		re := f.fail(op, req, err)
		re.transport = !errors.Is(err, ErrUnsafeURL)
		if tok != nil {
			re.msg = withheld(re.Err, tok.AccessToken)
		} else {
			re.msg = withheld(re.Err)
		}
		return nil, tok, re
	}
	return resp, tok, nil
}

// fail wraps err so that it names the route template, not the URL: a
// *url.Error from net/http would print the query, which carries identifiers.
func (f *Family) fail(op access.Operation, req *http.Request, err error) *RequestError {
	// Only net/http's own wrapper is dropped; an error inside, such as an
	// authn.TokenError with its hint, must survive.
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err
	}
	return &RequestError{Method: req.Method, Route: op.Path, Err: err}
}

// permitted reports whether a client of type ct holding scopes matches any
// of the operation's grants.
func permitted(grants []string, ct authn.ClientType, scopes []string) bool {
	for _, g := range grants {
		kind, scope, scoped := strings.Cut(g, ":")
		switch {
		case g == "public":
			return true
		case authn.ClientType(kind) != ct:
		case !scoped || slices.Contains(scopes, scope):
			return true
		}
	}
	return false
}

// checkBaseURL accepts https, or plain http only to a loopback host, with no
// credentials, query or fragment.
func checkBaseURL(family access.Family, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("pkb: %s base URL: %w", family, err)
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("pkb: %s base URL %q has no host", family, raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%w: %s base URL must not carry credentials, a query or a fragment", ErrUnsafeURL, family)
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
	default:
		return nil, fmt.Errorf("%w: %s base URL must use https (plain http only to loopback), got %s://%s", ErrUnsafeURL, family, u.Scheme, u.Hostname())
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// maxRedirects bounds the redirects one request follows, as net/http does.
const maxRedirects = 10

// redirectKey carries a request's redirectGuard in its context: the
// *http.Client, and so its CheckRedirect, is shared by every family.
type redirectKey struct{}

// redirectGuard is what checkRedirect needs to check a redirect as the
// original request was checked.
type redirectGuard struct {
	f      *Family
	op     access.Operation
	public bool
}

// checkRedirect lets a request follow a redirect only to the same
// operation of the same family, under the same base URL, and only while
// the grant still permits it. net/http copies every header to a same-host
// redirect (Authorization and X-Org-Public-Id included) and X-Org-Public-Id
// even to another host, so the target must pass the checks the original
// passed: a redirect to another path on the API host could otherwise reach
// another family or an operation the grant forbids. A redirect to another
// operation is refused even when the grant allows it: the response would
// be decoded as the original operation's.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("pkb: stopped after %d redirects", maxRedirects)
	}
	g, _ := req.Context().Value(redirectKey{}).(*redirectGuard)
	if g == nil {
		return fmt.Errorf("%w: redirect of an unchecked request refused", ErrUnsafeURL)
	}
	op, err := g.f.resolve(req)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			err = re.Err
		}
		if errors.Is(err, ErrUnsafeURL) {
			return fmt.Errorf("redirect refused: %w", err)
		}
		return fmt.Errorf("%w: redirect refused: %w", ErrUnsafeURL, err)
	}
	if op.Family != g.op.Family || op.ID != g.op.ID {
		return fmt.Errorf("%w: redirect to another operation (%s %s) refused", ErrUnsafeURL, op.Method, op.Path)
	}
	if !g.public {
		if err := g.f.permit(op); err != nil {
			return fmt.Errorf("%w: redirect refused: %w", ErrUnsafeURL, err)
		}
	}
	return nil
}
