package authn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/internal/redact"
)

// DefaultTokenTimeout bounds each token request when Options.HTTPClient is
// nil. Token requests get their own client because a hung token endpoint
// must not hold every API call hostage for as long as the API client's
// (often much longer, or zero) timeout.
const DefaultTokenTimeout = 30 * time.Second

// DefaultEarlyExpiry is how long before expiry a cached token is replaced.
// x/oauth2 uses 10 s, which is too little for clock skew plus a slow
// request; PKB's shortest tokens live 300 s, so 60 s costs little.
const DefaultEarlyExpiry = 60 * time.Second

// Options are the settings every client type shares.
type Options struct {
	// HTTPClient sends token requests. Nil means a client with
	// DefaultTokenTimeout. A client with Timeout 0 is used as given, so
	// bound it yourself. It is copied, never modified; the copy never
	// follows redirects, and a response that its transport fetched from
	// another URL is refused.
	HTTPClient *http.Client
	// EarlyExpiry is how long before expiry a token is refreshed; zero means
	// DefaultEarlyExpiry. Tokens living less than twice this long are
	// refreshed at half their lifetime instead.
	EarlyExpiry time.Duration
	// Now replaces time.Now, for tests. All expiry arithmetic uses it.
	Now func() time.Time
	// LeaseTTL is how long a client holds the lease of a shared store
	// ([Coordinator]) while it refreshes; a holder that dies blocks the
	// session's refreshes for at most this long. Zero means the token
	// request timeout plus 15 s (45 s by default). A redemption is always
	// cut short before its lease can end.
	LeaseTTL time.Duration
	// Logger receives the rare events worth an operator's attention, such
	// as a client-credentials client falling back to a token of its own
	// while its shared store is down (logged once per outage). Nil means
	// slog.Default().
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

func (o Options) now() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

func (o Options) early() time.Duration {
	if o.EarlyExpiry > 0 {
		return o.EarlyExpiry
	}
	return DefaultEarlyExpiry
}

// tokenHTTPClient returns a copy of base (the caller's client is never
// modified) that never follows a redirect and whose transport records the
// status, content type and the start of the body of token responses, so
// that errors x/oauth2 reports without them can still be explained.
//
// Following a redirect would send the client secret, a refresh token or an
// authorization code and PKCE verifier to wherever the endpoint points:
// 307 and 308 repeat the POST with its body, and net/http keeps the
// Authorization header between ports of one host. The 3xx response itself
// is returned instead, and becomes a [TokenError].
func (o Options) tokenHTTPClient() *http.Client {
	var hc http.Client
	if o.HTTPClient != nil {
		hc = *o.HTTPClient
	} else {
		hc.Timeout = DefaultTokenTimeout
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &captureTransport{base: base}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// errAnswerElsewhere is returned when a caller's transport followed a
// redirect by itself: the request is gone, but the other host's answer is
// refused.
var errAnswerElsewhere = errors.New("authn: the token response came from another URL than the token endpoint (the HTTP client's transport followed a redirect)")

type captureKey struct{}

// capture is filled in by captureTransport for one token request.
type capture struct {
	mu     sync.Mutex
	status int
	ct     string
	body   []byte
	// life is the lifetime a 2xx response granted, read by
	// normalizeTokenResponse; parsed says whether it was read at all.
	life          time.Duration
	known, parsed bool
	full          []byte // the whole (normalised) body of a 2xx response
}

// lifetime returns what normalizeTokenResponse read from the response.
func (c *capture) lifetime() (d time.Duration, known, parsed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.life, c.known, c.parsed
}

const captureLimit = 4 << 10

func (c *capture) get() (status int, ct string, body []byte, ok bool) {
	if c == nil {
		return 0, "", nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.ct, append([]byte(nil), c.body...), c.status != 0
}

type captureTransport struct {
	base http.RoundTripper
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	if r := resp.Request; r != nil && r.URL != nil && !sameEndpoint(r.URL, req.URL) {
		resp.Body.Close()
		return nil, errAnswerElsewhere
	}
	cp, ok := req.Context().Value(captureKey{}).(*capture)
	if !ok {
		return resp, nil
	}
	ct := resp.Header.Get("Content-Type")
	cp.mu.Lock()
	cp.status, cp.ct, cp.body = resp.StatusCode, ct, nil
	cp.mu.Unlock()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body = &teeBody{ReadCloser: resp.Body, cp: cp}
		return resp, nil
	}
	// A token: read it here (x/oauth2 reads no more than tokenBodyLimit
	// either) so that its expires_in can be made safe before x/oauth2
	// parses it.
	body, err := io.ReadAll(io.LimitReader(resp.Body, tokenBodyLimit+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body, life, known := normalizeTokenResponse(ct, body)
	cp.mu.Lock()
	cp.body = bytes.Clone(body[:min(len(body), captureLimit)])
	cp.full = body
	cp.life, cp.known, cp.parsed = life, known, true
	cp.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// sameEndpoint compares scheme, host and path; a transport may hand back a
// copy of the request, but never one for another endpoint.
func sameEndpoint(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host) && a.EscapedPath() == b.EscapedPath()
}

type teeBody struct {
	io.ReadCloser
	cp *capture
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.cp.mu.Lock()
		if room := captureLimit - len(b.cp.body); room > 0 {
			b.cp.body = append(b.cp.body, p[:min(n, room)]...)
		}
		b.cp.mu.Unlock()
	}
	return n, err
}

// endpoint performs token requests through x/oauth2 with the dedicated
// client and turns failures into secret-free errors.
type endpoint struct {
	hc     *http.Client
	now    func() time.Time
	reauth string
}

// do runs f, a token request, with the dedicated client; a successful
// token carries origin under OriginExtra (any value the server sent there is
// dropped).
func (e *endpoint) do(ctx context.Context, red *redact.Redactor, origin string, f func(ctx context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	cp := &capture{}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, e.hc)
	ctx = context.WithValue(ctx, captureKey{}, cp)
	start := e.now()
	tok, err := f(ctx)
	if err != nil {
		return nil, mapError(err, cp, red, e.reauth)
	}
	d, known, parsed := cp.lifetime()
	if !parsed {
		d, known = lifetime(tok.Extra("expires_in"))
	}
	tok = stampExpiry(tok, start, d, known)
	if origin != "" || tok.Extra(OriginExtra) != nil {
		tok = withOrigin(tok, cp, origin)
	}
	return tok, nil
}
