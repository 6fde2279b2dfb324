package wrappers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
)

// DefaultTimeout bounds a whole request, body included, when the caller
// supplies no *http.Client. It exceeds the 2 minutes a Facade read may take
// at PKB (a synchronous call to PKB's legacy application with a 2-minute
// read timeout, docs/pkb-api.md §4 and §8): a client that gave up sooner
// would leave PKB working on a request whose answer nobody reads, and a
// caller that then tried again would double the load on a Facade that is
// already slow. Callers should still pass contexts with deadlines, and
// keep them above 2 minutes for Facade calls they want answered.
const DefaultTimeout = 150 * time.Second

// userAgent identifies this library to PKB.
const userAgent = "pkb-go"

// Option configures a client.
type Option func(*config)

// DefaultMaxResponseBytes bounds a response body: a 1,000-entry Bundle is a
// few megabytes, so this only stops a runaway or hostile response.
const DefaultMaxResponseBytes = 64 << 20

type config struct {
	hc         *http.Client
	middleware []func(http.RoundTripper) http.RoundTripper
	maxBody    int64
	retry      *RetryPolicy
	logger     *slog.Logger
	maxConc    *int
	familyConc map[access.Family]int
}

func newConfig(opts []Option) config {
	c := config{maxBody: DefaultMaxResponseBytes}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithHTTPClient sets the *http.Client used for API calls. It is copied,
// never modified: the copy follows a redirect only to the same operation
// under the same base URL, and refuses any other.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) { c.hc = hc }
}

// WithMiddleware wraps the HTTP transport, e.g. for tracing or metrics.
// Middleware runs after the access checks and sees the request with its
// credentials, so it must not log headers. The first one given is outermost.
func WithMiddleware(mw func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *config) { c.middleware = append(c.middleware, mw) }
}

// WithMaxResponseBytes sets the largest response body the client reads
// (default DefaultMaxResponseBytes); reading past it fails with
// ErrResponseTooLarge. A JSON body may also hold at most one object or
// array element per 256 bytes of the limit (262,144 for the default), so
// that decoding it cannot take many times its size in memory; more fails
// with ErrResponseTooLarge too.
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) { c.maxBody = n }
}

func (c config) pipeline(src authn.Source, orgID string) *pipeline {
	return &pipeline{src: src, hc: c.httpClient(), orgID: orgID, userAgent: userAgent, maxBody: c.maxBody,
		retry: c.retry, logger: c.logger, maxConc: c.maxConcurrency}
}

// httpClient builds the client all families share.
func (c config) httpClient() *http.Client {
	hc := &http.Client{Timeout: DefaultTimeout}
	if c.hc != nil {
		copied := *c.hc
		hc = &copied
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	for i := len(c.middleware) - 1; i >= 0; i-- {
		rt = c.middleware[i](rt)
	}
	hc.Transport = rt
	hc.CheckRedirect = checkRedirect
	return hc
}
