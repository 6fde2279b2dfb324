package wrappers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
)

// gatedServer holds every request until the test releases it, and records
// the most requests it ever held at once.
type gatedServer struct {
	*httptest.Server
	inflight, max atomic.Int32
	arrived       chan struct{}
	release       chan struct{}
}

func newGatedServer(t *testing.T) *gatedServer {
	g := &gatedServer{arrived: make(chan struct{}, 100), release: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := g.inflight.Add(1)
		for {
			m := g.max.Load()
			if n <= m || g.max.CompareAndSwap(m, n) {
				break
			}
		}
		g.arrived <- struct{}{}
		<-g.release
		g.inflight.Add(-1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"resourceType":"Patient","id":"p1"}`)
	}))
	t.Cleanup(g.Close)
	return g
}

// run sends calls requests with send, letting the server answer one at a
// time once limit of them have arrived, and returns the most it saw in
// flight at once. A limit that fails to hold shows as extra arrivals
// while the server holds limit requests; the wait for them is a grace
// period for a slow machine, not a measurement.
func (g *gatedServer) run(t *testing.T, calls, limit int, send func() error) int {
	t.Helper()
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			if err := send(); err != nil {
				t.Error(err)
			}
		})
	}
	held := 0
	for done := 0; done < calls; {
		for held < limit && done+held < calls {
			<-g.arrived
			held++
		}
		// Give a broken limiter the chance to let more in.
		select {
		case <-g.arrived:
			held++
		case <-time.After(20 * time.Millisecond):
		}
		g.release <- struct{}{}
		held--
		done++
	}
	wg.Wait()
	return int(g.max.Load())
}

// TestMaxConcurrencyHolds: with a limit of n, at most n requests of a
// family are in flight at once, and the limit is reached (it is not
// stricter than asked).
func TestMaxConcurrencyHolds(t *testing.T) {
	g := newGatedServer(t)
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(g.URL)}, orgID, WithMaxConcurrency(3))
	if err != nil {
		t.Fatal(err)
	}
	got := g.run(t, 10, 3, func() error {
		_, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
		return err
	})
	if got != 3 {
		t.Errorf("at most %d requests in flight, want 3", got)
	}
}

// TestDefaultConcurrencyIsSerialForREST: PKB asks for REST requests "to be
// executed serially rather than concurrently" (docs/pkb-api.md §4, §8):
// without an option, one at a time.
func TestDefaultConcurrencyIsSerialForREST(t *testing.T) {
	g := newGatedServer(t)
	src := &fakeSource{ct: authn.ClientUser, scopes: []string{authn.ScopePatient}, env: loopbackEnv(g.URL)}
	c, err := NewUserClient(src)
	if err != nil {
		t.Fatal(err)
	}
	got := g.run(t, 6, 1, func() error {
		resp, err := c.REST.Family().Do(context.Background(), &Call{Operation: "getSelf"})
		if err == nil {
			// The slot is held until the body is closed.
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	})
	if got != 1 {
		t.Errorf("at most %d REST requests in flight, want 1", got)
	}
	if DefaultMaxConcurrency(access.FamilyRESTAPI) != 1 || DefaultMaxConcurrency(access.FamilyMessaging) != 1 || DefaultMaxConcurrency(access.FamilyFacade) != 4 {
		t.Error("the documented defaults changed")
	}
}

// TestFamilyMaxConcurrencyOverrides: a per-family limit beats the
// client-wide one.
func TestFamilyMaxConcurrencyOverrides(t *testing.T) {
	g := newGatedServer(t)
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(g.URL)}, orgID,
		WithMaxConcurrency(1), WithFamilyMaxConcurrency(access.FamilyFacade, 2))
	if err != nil {
		t.Fatal(err)
	}
	got := g.run(t, 6, 2, func() error {
		_, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
		return err
	})
	if got != 2 {
		t.Errorf("at most %d requests in flight, want 2", got)
	}
}

// TestWaitingForASlotHonoursTheContext: a call that cannot get a slot
// before its context ends fails with the context's error and sends
// nothing; an open body holds the slot, closing it frees the slot.
func TestWaitingForASlotHonoursTheContext(t *testing.T) {
	var n atomic.Int32
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"1"}`)
	}))
	defer srv.Close()
	src := &fakeSource{ct: authn.ClientUser, scopes: []string{authn.ScopePatient}, env: loopbackEnv(srv.URL)}
	c, err := NewUserClient(src)
	if err != nil {
		t.Fatal(err)
	}
	rest := c.REST.Family()
	open, err := rest.Do(context.Background(), &Call{Operation: "getSelf"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err = rest.Do(ctx, &Call{Operation: "getSelf"})
	var re *RequestError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &re) || n.Load() != 1 {
		t.Fatalf("waiting behind an open body: %v, %d requests", err, n.Load())
	}
	open.Body.Close()
	resp, err := rest.Do(context.Background(), &Call{Operation: "getSelf"})
	if err != nil {
		t.Fatalf("after the body was closed: %v", err)
	}
	resp.Body.Close()
	// A failed request gives its slot back too.
	fail.Store(true)
	for range 3 {
		if _, err := rest.Do(context.Background(), &Call{Operation: "getSelf"}); !IsAPIStatus(err, 500) {
			t.Fatalf("failing call: %v", err)
		}
	}
	fail.Store(false)
	resp, err = rest.Do(context.Background(), &Call{Operation: "getSelf"})
	if err != nil {
		t.Fatalf("after refusals: %v", err)
	}
	resp.Body.Close()
}
