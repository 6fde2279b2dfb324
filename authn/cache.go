package authn

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Cache holds one access token and fetches a new one when it is near expiry,
// with at most one fetch in flight however many goroutines ask.
//
// The fetch runs with the values (trace IDs, loggers) of the context of the
// goroutine that started it, but not its cancellation: a caller that gives up
// returns at once with its own ctx.Err() while the others keep waiting. Only
// when every waiter has given up is the fetch itself cancelled.
type Cache struct {
	fetch func(ctx context.Context) (*oauth2.Token, error)
	early time.Duration
	now   func() time.Time

	mu        sync.Mutex
	tok       *oauth2.Token
	refreshAt time.Time
	retryAt   time.Time // after a failed refresh, when to try again while tok is still valid
	rejected  string    // access token reported as refused; never cached again
	gen       uint64    // generation of tok, to drop results of abandoned flights that finish late
	nextGen   uint64
	flight    *flight
}

type flight struct {
	gen     uint64
	done    chan struct{}
	tok     *oauth2.Token
	err     error
	waiters int
	cancel  context.CancelFunc
}

// NewCache returns a Cache around fetch. fetch should return a token whose
// Expiry is already set; a zero Expiry means the token is used until it is
// invalidated. Only Options.EarlyExpiry and Options.Now are used.
func NewCache(fetch func(ctx context.Context) (*oauth2.Token, error), opts Options) *Cache {
	return &Cache{fetch: fetch, early: opts.early(), now: opts.now()}
}

// Token returns the cached token, or waits for a fetch.
func (c *Cache) Token(ctx context.Context) (*oauth2.Token, error) {
	c.mu.Lock()
	if now := c.now(); c.tok != nil && (now.Before(c.refreshAt) || now.Before(c.retryAt) && c.stillValid(now)) {
		t := cloneToken(c.tok)
		c.mu.Unlock()
		return t, nil
	}
	if err := ctx.Err(); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	f := c.flight
	if f == nil {
		c.nextGen++
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{gen: c.nextGen, done: make(chan struct{}), cancel: cancel}
		c.flight = f
		go c.run(fctx, f)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			// A refresh ahead of expiry failed (token endpoint or shared
			// store down): the cached token still works until it expires.
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.tok != nil && c.stillValid(c.now()) {
				return cloneToken(c.tok), nil
			}
			return nil, f.err
		}
		return cloneToken(f.tok), nil
	case <-ctx.Done():
		c.mu.Lock()
		f.waiters--
		if f.waiters == 0 && c.flight == f {
			// Nobody wants this result any more. Detach it so the next
			// caller starts afresh rather than inheriting a cancelled fetch.
			c.flight = nil
			f.cancel()
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (c *Cache) run(ctx context.Context, f *flight) {
	defer f.cancel()
	start := c.now()
	tok, err := c.safeFetch(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && tok == nil {
		err = fmt.Errorf("authn: token source returned no token: %w", ErrTokenEndpoint)
	}
	if err == nil && f.gen > c.gen && tok.AccessToken != c.rejected {
		c.tok, c.gen = cloneToken(tok), f.gen
		c.refreshAt = refreshTime(obtainedAt(tok, start), tok.Expiry, c.early)
		c.retryAt = time.Time{}
	}
	if err != nil && c.tok != nil {
		// Do not retry on every call while the old token lasts.
		now := c.now()
		c.retryAt = now.Add(min(time.Second, max(c.tok.Expiry.Sub(now)/4, 0)))
	}
	if c.flight == f {
		c.flight = nil
	}
	f.tok, f.err = tok, err
	close(f.done)
}

// safeFetch turns a panic in fetch into an error, because it runs on a
// goroutine nobody could recover on and would otherwise leave waiters hung.
func (c *Cache) safeFetch(ctx context.Context) (tok *oauth2.Token, err error) {
	defer func() {
		if r := recover(); r != nil {
			tok, err = nil, fmt.Errorf("authn: token fetch panicked: %v", r)
		}
	}()
	return c.fetch(ctx)
}

// stillValid reports whether the cached token has not expired; c.mu is
// held.
func (c *Cache) stillValid(now time.Time) bool {
	return c.tok.Expiry.IsZero() || now.Before(c.tok.Expiry.Add(-time.Second))
}

// set installs a token obtained outside a flight (an authorization-code
// exchange), as if a flight had just returned it.
func (c *Cache) set(tok *oauth2.Token, obtained time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextGen++
	c.tok, c.gen = cloneToken(tok), c.nextGen
	c.refreshAt = refreshTime(obtainedAt(tok, obtained), tok.Expiry, c.early)
}

// Invalidate drops the cached token if it is still accessToken, and reports
// whether it did. Comparing first makes a burst of 401s cost one refresh.
func (c *Cache) Invalidate(accessToken string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil || c.tok.AccessToken != accessToken {
		return false
	}
	c.tok = nil
	c.rejected = accessToken
	if c.flight != nil {
		// A fetch that started before the refusal may return the refused
		// token (from a shared store, say): let its waiters have it, but
		// send new callers, such as the replay of the refused request, to
		// a fetch that knows.
		c.flight = nil
	}
	return true
}

// Cached returns a copy of the cached token, even if it is due for refresh,
// or nil. It never fetches.
func (c *Cache) Cached() *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cloneToken(c.tok)
}

// refreshTime is when a token obtained at obtained and expiring at expiry
// should be replaced: early before expiry, or at half its lifetime if it
// lives less than 2*early, so that short-lived tokens are neither used up to
// the last second nor refetched on every call.
func refreshTime(obtained, expiry time.Time, early time.Duration) time.Time {
	if expiry.IsZero() {
		return time.Unix(1<<62, 0)
	}
	window := min(early, expiry.Sub(obtained)/2)
	if window < 0 {
		window = 0
	}
	return expiry.Add(-window)
}
