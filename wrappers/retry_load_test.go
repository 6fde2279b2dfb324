package wrappers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkbgo/pkb/authn"
)

// quickDefault is DefaultRetryPolicy with short waits, for tests: what it
// retries is the default's.
func quickDefault() RetryPolicy {
	p := DefaultRetryPolicy()
	p.BaseDelay, p.MaxDelay = time.Millisecond, 2*time.Millisecond
	return p
}

// TestSlowServerGetsOneAttempt: a Facade read may run for 2 minutes at PKB
// (docs/pkb-api.md §4, §8). An attempt the client gives up on (here a
// caller's per-attempt timeout) may still be running there, so the default
// policy does not start another: the slow server receives one request.
// Before, every timed-out attempt was retried, up to MaxAttempts
// concurrent runs of the same read at PKB.
func TestSlowServerGetsOneAttempt(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		<-r.Context().Done() // slower than any client waits
	}))
	defer srv.Close()
	p := quickDefault()
	p.PerAttemptTimeout = 30 * time.Millisecond
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID, WithRetry(p))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	if !errors.Is(err, context.DeadlineExceeded) || n.Load() != 1 {
		t.Errorf("slow server: %v after %d attempts; want the timeout after 1", err, n.Load())
	}
}

// TestDefaultRetriesOnlyWhatWasNotServed: under DefaultRetryPolicy a
// gateway's 502 or 504 and a 503 without Retry-After (the backend may
// still be running the request) get one attempt; 429 and a 503 with
// Retry-After (the server says it did not serve it) get at most
// MaxAttempts, never more; without WithRetry, one attempt.
func TestDefaultRetriesOnlyWhatWasNotServed(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter string
		want       int32
	}{
		{http.StatusBadGateway, "", 1},
		{http.StatusGatewayTimeout, "", 1},
		{http.StatusServiceUnavailable, "", 1},
		{http.StatusServiceUnavailable, "0", 4},
		{http.StatusTooManyRequests, "", 4},
		{http.StatusTooManyRequests, "0", 4},
	}
	for _, tc := range cases {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			w.WriteHeader(tc.status)
		}))
		c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID, WithRetry(quickDefault()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
		if !IsAPIStatus(err, tc.status) || n.Load() != tc.want {
			t.Errorf("%d (Retry-After %q): %v after %d attempts, want %d", tc.status, tc.retryAfter, err, n.Load(), tc.want)
		}
		// Without WithRetry: one attempt, whatever the answer.
		n.Store(0)
		c, _ = NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
		if _, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1"); err == nil || n.Load() != 1 {
			t.Errorf("%d without WithRetry: %d attempts", tc.status, n.Load())
		}
		srv.Close()
	}
}

// TestDefaultRetriesConnectFailuresOnly: a request that never reached the
// server (the connection was refused) is retried; one whose connection
// broke after it was sent is not, since PKB may be running it.
func TestDefaultRetriesConnectFailuresOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int32
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, 4},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, 1},
		{"eof", errors.New("unexpected EOF"), 1},
	} {
		var n atomic.Int32
		rt := transportFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return nil, tc.err
		})
		c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithHTTPClient(&http.Client{Transport: rt}), WithRetry(quickDefault()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1"); err == nil || n.Load() != tc.want {
			t.Errorf("%s: %v after %d attempts, want %d", tc.name, err, n.Load(), tc.want)
		}
	}
	if DefaultTimeout <= 2*time.Minute {
		t.Errorf("DefaultTimeout %v gives up before PKB's 2-minute Facade read does", DefaultTimeout)
	}
}
