package pkbtest_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSlowFacadeGetsOneAttempt: against a Facade slower than the caller
// waits (the simulator's per-family latency; PKB's Facade reads may run 2
// minutes, docs/pkb-api.md §4, §8), a client with the default retry policy
// and a per-attempt timeout sends the read once: the abandoned attempt may
// still be running at PKB, and a retry would add a second run.
func TestSlowFacadeGetsOneAttempt(t *testing.T) {
	s := newSim(t, pkbtest.WithLatency(access.FamilyFacade, time.Hour))
	var sent atomic.Int32
	count := wrappers.WithMiddleware(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent.Add(1)
			return next.RoundTrip(r)
		})
	})
	p := wrappers.DefaultRetryPolicy()
	p.BaseDelay, p.MaxDelay, p.PerAttemptTimeout = time.Millisecond, 2*time.Millisecond, 200*time.Millisecond
	c, err := wrappers.NewSystemClient(systemSource(t, s), pkbtest.SeedOrgPublicID, wrappers.WithRetry(p), count)
	if err != nil {
		t.Fatal(err)
	}
	cx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Facade.Gen.ReadPatientWithResponse(cx, pkbtest.SeedPatientID)
	if !errors.Is(err, context.DeadlineExceeded) || cx.Err() != nil || sent.Load() != 1 {
		t.Errorf("slow Facade: %v after %d requests; want the per-attempt timeout after 1", err, sent.Load())
	}
}
