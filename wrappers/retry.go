package wrappers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/pkbgo/pkb/gen/access"
)

// RetryPolicy says how an idempotent request is retried. Retries are
// opt-in (WithRetry); without it every call makes one attempt. Only GET
// requests and POST operations the OpenAPI documents mark read-only
// (x-pkb-read-only, e.g. $status-query) are ever retried; a create, an
// update or a $process-message never is.
//
// A retry must not add load where PKB may still be working on the first
// attempt: a Facade read can run for 2 minutes at PKB (docs/pkb-api.md §4,
// §8), and an attempt the client gave up on, or that a gateway answered
// 502 or 504, may still be running there. So by default only answers that
// say the request was not served are retried: 429 Too Many Requests, 503
// Service Unavailable with a Retry-After, and a failure to connect at all.
// RetryAmbiguous widens that.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt; 1 disables retries. At most
	// MaxAttempts requests reach the server per call.
	MaxAttempts int
	// BaseDelay and MaxDelay bound the exponential backoff with full
	// jitter: attempt n waits a random time in [0, min(MaxDelay, BaseDelay*2^(n-1))].
	BaseDelay, MaxDelay time.Duration
	// MaxRetryAfter caps a server's Retry-After; a longer one is not
	// waited for and the error is returned. Zero means 30 s, as in
	// DefaultRetryPolicy: a server's word alone never makes a call wait
	// for hours.
	MaxRetryAfter time.Duration
	// PerAttemptTimeout bounds each attempt inside the caller's deadline
	// (0: none). An attempt cut off by it is retried only under
	// RetryAmbiguous: PKB may still be running it.
	PerAttemptTimeout time.Duration
	// RetryAmbiguous also retries what may leave the first attempt running
	// at PKB: 502 and 504, a 503 without Retry-After, a connection lost
	// after the request was sent, and an attempt cut off by
	// PerAttemptTimeout. Use it only for calls known to be quick: against a
	// slow Facade each such retry adds a concurrent run of the same read.
	RetryAmbiguous bool
}

// DefaultRetryPolicy is a sane policy for PKB: at most 4 attempts, 200 ms
// base, 5 s cap, Retry-After honoured up to 30 s, no per-attempt timeout
// (the caller's deadline and DefaultTimeout, above PKB's 2-minute Facade
// read, bound the call) and no ambiguous retries.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, BaseDelay: 200 * time.Millisecond, MaxDelay: 5 * time.Second,
		MaxRetryAfter: 30 * time.Second}
}

// WithRetry enables retries of idempotent requests under p.
func WithRetry(p RetryPolicy) Option {
	return func(c *config) { c.retry = &p }
}

// RetryError is the final error of a retried request. It unwraps to both the
// last attempt's error and the previous one, so errors.As finds an APIError
// from either.
type RetryError struct {
	// Attempts is how many attempts were made.
	Attempts int
	// Err is the last attempt's error; Previous the one before it.
	Err, Previous error
}

// Error gives the last error, the number of attempts and the previous error.
func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (after %d attempts; previous attempt: %v)", e.Err, e.Attempts, e.Previous)
}

// Unwrap returns the last and the previous attempt's errors.
func (e *RetryError) Unwrap() []error { return []error{e.Err, e.Previous} }

// idempotent reports whether op may be sent again without changing anything.
func idempotent(op access.Operation) bool {
	return op.Method == http.MethodGet || op.Method == http.MethodHead || (op.Method == http.MethodPost && op.ReadOnly)
}

// retryable reports whether err is worth another attempt under p: see
// RetryPolicy. A refusal, a conflict or a precondition failure never is.
func (p RetryPolicy) retryable(err error, parent context.Context) bool {
	if parent.Err() != nil || errors.Is(err, ErrNotPermitted) || errors.Is(err, ErrUnsafeURL) || errors.Is(err, ErrResponseTooLarge) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusTooManyRequests:
			return true
		case http.StatusServiceUnavailable:
			return ae.retryAfterSet || p.RetryAmbiguous
		case http.StatusBadGateway, http.StatusGatewayTimeout:
			return p.RetryAmbiguous
		}
		return false
	}
	// Only a failure to reach PKB; a token endpoint error is the token
	// source's to handle.
	var re *RequestError
	if !errors.As(err, &re) || !re.transport {
		return false
	}
	return p.RetryAmbiguous || notSent(re.Err)
}

// notSent reports whether a transport error happened before any of the
// request reached the server: the connection was never made.
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// delay returns how long to wait before attempt n+1, or false if the
// server's Retry-After is beyond the cap.
func (p RetryPolicy) delay(attempt int, err error) (time.Duration, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		limit := p.MaxRetryAfter
		if limit <= 0 {
			limit = DefaultRetryPolicy().MaxRetryAfter
		}
		if ae.RetryAfter > limit {
			return 0, false
		}
		return ae.RetryAfter, true
	}
	ceiling := p.BaseDelay << (attempt - 1)
	if ceiling <= 0 || (p.MaxDelay > 0 && ceiling > p.MaxDelay) {
		ceiling = p.MaxDelay
	}
	if ceiling <= 0 {
		return 0, true
	}
	return rand.N(ceiling + 1), true
}

// sleep waits d or until ctx is done, and refuses to start a wait that
// would end after ctx's deadline.
func sleep(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cancelOnClose releases a per-attempt context once the caller has read
// the body: cancelling earlier would cut the body off.
type cancelOnClose struct {
	*limitedBody
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.limitedBody.Close()
	c.cancel()
	return err
}
