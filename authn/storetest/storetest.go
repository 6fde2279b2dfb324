// Package storetest is the conformance suite for [authn.Coordinator]
// implementations: shared token stores such as authn.FileStore,
// authn/redisstore and authn/pgstore, and your own. Run it from a test of
// your store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Session {
//			key := storetest.NewKey(t) // a fresh, empty session
//			return func() authn.Coordinator { return mystore.New(db, key) }
//		}, storetest.Options{})
//	}
//
// Each call of the Session function returns an independent handle on the
// same session, as another process would open it. The suite checks the
// round trip, versions, lease exclusion and expiry, compare-and-save,
// mutual exclusion under concurrency, and finally the whole rotation
// protocol with Tethered clients against a refresh endpoint that detects
// reuse as PKB does.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
)

// Session opens a new handle on the session under test.
type Session func() authn.Coordinator

// Factory returns a fresh, empty session for one subtest.
type Factory func(t *testing.T) Session

// Options describe what the store under test does not do.
type Options struct {
	// LeasesNeverExpire is for stores whose lease ends only when released
	// or when its holder dies (FileStore's flock); the expiry tests are
	// skipped.
	LeasesNeverExpire bool
	// Clients is the number of Tethered clients of the rotation test, each
	// on its own handle; zero means 4.
	Clients int
}

// NewKey returns a session key unique to the test, for stores that hold
// many sessions.
func NewKey(t testing.TB) authn.SessionKey {
	return authn.SessionKey{TokenURL: "https://pkb.invalid/apiToken.action", ClientID: "storetest", ClientType: authn.ClientTethered,
		Name: fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())}
}

// Token returns a token like those PKB issues, for the tests.
func Token(at, rt string) *oauth2.Token {
	return (&oauth2.Token{AccessToken: at, TokenType: "Bearer", RefreshToken: rt,
		Expiry: time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC), ExpiresIn: 600}).WithExtra(map[string]any{"scope": "SITE", authn.OriginExtra: "origin-fingerprint"})
}

// Run runs the suite.
func Run(t *testing.T, newSession Factory, opts Options) {
	ctx := context.Background()
	t.Run("Empty", func(t *testing.T) {
		s := newSession(t)()
		tok, ver, err := s.LoadVersion(ctx)
		if tok != nil || ver != 0 || err != nil {
			t.Fatalf("LoadVersion of an empty session = %v, %d, %v; want nil, 0, nil", tok, ver, err)
		}
		if tok, err := s.Load(ctx); tok != nil || err != nil {
			t.Fatalf("Load of an empty session = %v, %v", tok, err)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		open := newSession(t)
		in := Token("at-1", "rt-1")
		if err := open().Save(ctx, in); err != nil {
			t.Fatal(err)
		}
		out, ver, err := open().LoadVersion(ctx)
		if err != nil || ver == 0 {
			t.Fatalf("LoadVersion = %v, %d, %v", out, ver, err)
		}
		if out.AccessToken != "at-1" || out.RefreshToken != "rt-1" || out.TokenType != "Bearer" ||
			!out.Expiry.Equal(in.Expiry) || out.ExpiresIn != 600 {
			t.Fatalf("round trip lost fields: %+v", out)
		}
		if s := authn.GrantedScopes(out); !reflect.DeepEqual(s, []string{"SITE"}) {
			t.Fatalf("granted scope = %v, want [SITE]", s)
		}
		if o, _ := out.Extra(authn.OriginExtra).(string); o != "origin-fingerprint" {
			t.Fatalf("the %s extra = %q, want it kept", authn.OriginExtra, o)
		}
	})
	t.Run("SaveChangesVersion", func(t *testing.T) {
		s := newSession(t)()
		seen := map[uint64]bool{0: true}
		for i := range 3 {
			if err := s.Save(ctx, Token(fmt.Sprint("at-", i), "rt")); err != nil {
				t.Fatal(err)
			}
			_, v, err := s.LoadVersion(ctx)
			if err != nil || seen[v] {
				t.Fatalf("save %d: version %d repeats or error %v", i, v, err)
			}
			seen[v] = true
		}
	})
	t.Run("LeaseExcludes", func(t *testing.T) {
		open := newSession(t)
		a, b := open(), open()
		la, ok, err := a.TryLock(ctx, time.Minute)
		if err != nil || !ok {
			t.Fatalf("first TryLock = %v, %v", ok, err)
		}
		if _, ok, err := b.TryLock(ctx, time.Minute); err != nil || ok {
			t.Fatalf("second holder got the lease: %v, %v", ok, err)
		}
		if _, ok, err := a.TryLock(ctx, time.Minute); err != nil || ok {
			t.Fatalf("a second TryLock on the same handle got the lease: %v, %v", ok, err)
		}
		if err := la.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := la.Release(ctx); err != nil {
			t.Fatalf("second Release: %v", err)
		}
		lb, ok, err := b.TryLock(ctx, time.Minute)
		if err != nil || !ok {
			t.Fatalf("TryLock after release = %v, %v", ok, err)
		}
		lb.Release(ctx)
	})
	t.Run("CompareAndSave", func(t *testing.T) {
		open := newSession(t)
		s := open()
		l, ok, err := s.TryLock(ctx, time.Minute)
		if err != nil || !ok {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		defer l.Release(ctx)
		v1, err := l.CompareAndSave(ctx, Token("at-1", "rt-1"), 0)
		if err != nil || v1 == 0 {
			t.Fatalf("CompareAndSave on empty = %d, %v", v1, err)
		}
		if _, err := l.CompareAndSave(ctx, Token("at-x", "rt-x"), 0); !errors.Is(err, authn.ErrConflict) {
			t.Fatalf("CompareAndSave with version 0 over a stored token: err = %v, want ErrConflict", err)
		}
		v2, err := l.CompareAndSave(ctx, Token("at-2", "rt-2"), v1)
		if err != nil || v2 == v1 {
			t.Fatalf("CompareAndSave = %d, %v", v2, err)
		}
		if _, err := l.CompareAndSave(ctx, Token("at-y", "rt-y"), v1); !errors.Is(err, authn.ErrConflict) {
			t.Fatalf("CompareAndSave with a stale version: err = %v, want ErrConflict", err)
		}
		got, v, err := open().LoadVersion(ctx)
		if err != nil || got.RefreshToken != "rt-2" || v != v2 {
			t.Fatalf("stored %v (version %d, %v), want rt-2 at version %d", got, v, err, v2)
		}
	})
	t.Run("LeaseExpires", func(t *testing.T) {
		if opts.LeasesNeverExpire {
			t.Skip("the store's leases end only with their holder")
		}
		open := newSession(t)
		a, b, c := open(), open(), open()
		if err := a.Save(ctx, Token("at-0", "rt-0")); err != nil {
			t.Fatal(err)
		}
		_, v0, _ := a.LoadVersion(ctx)
		la, ok, err := a.TryLock(ctx, 300*time.Millisecond)
		if err != nil || !ok {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		// The holder stalls past its TTL; b takes over and saves.
		deadline := time.Now().Add(5 * time.Second)
		var lb authn.Lease
		for {
			if lb, ok, err = b.TryLock(ctx, time.Minute); err != nil || ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an expired lease was never released")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		vb, err := lb.CompareAndSave(ctx, Token("at-b", "rt-b"), v0)
		if err != nil {
			t.Fatal(err)
		}
		// The stalled holder wakes up: it must not overwrite b's token ...
		if _, err := la.CompareAndSave(ctx, Token("at-a", "rt-a"), v0); !errors.Is(err, authn.ErrConflict) {
			t.Fatalf("a holder whose lease expired overwrote a newer token: err = %v", err)
		}
		// ... nor release b's lease.
		if err := la.Release(ctx); err != nil {
			t.Fatalf("Release of an expired lease: %v", err)
		}
		if _, ok, err := c.TryLock(ctx, time.Minute); err != nil || ok {
			t.Fatalf("an expired holder's Release freed the new holder's lease: %v, %v", ok, err)
		}
		got, v, _ := c.LoadVersion(ctx)
		if got.RefreshToken != "rt-b" || v != vb {
			t.Fatalf("stored %s at %d", got.RefreshToken, v)
		}
		lb.Release(ctx)
	})
	t.Run("ExpiredLeaseStillSavesWhenNobodyElseDid", func(t *testing.T) {
		if opts.LeasesNeverExpire {
			t.Skip("the store's leases end only with their holder")
		}
		s := newSession(t)()
		l, ok, err := s.TryLock(ctx, 100*time.Millisecond)
		if err != nil || !ok {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := l.CompareAndSave(ctx, Token("at-1", "rt-1"), 0); err != nil {
			t.Fatalf("the only copy of a rotated token was refused after the lease ran out: %v", err)
		}
	})
	t.Run("MutualExclusion", func(t *testing.T) {
		open := newSession(t)
		const workers, rounds = 6, 15
		var wg sync.WaitGroup
		var inside atomic.Int32
		errc := make(chan error, workers)
		for range workers {
			s := open()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					l, err := waitLock(ctx, s)
					if err != nil {
						errc <- err
						return
					}
					if n := inside.Add(1); n != 1 {
						errc <- fmt.Errorf("%d holders of one lease", n)
					}
					tok, v, err := s.LoadVersion(ctx)
					n := 0
					if err == nil && tok != nil {
						n, _ = strconv.Atoi(tok.AccessToken)
					}
					if err == nil {
						_, err = l.CompareAndSave(ctx, Token(strconv.Itoa(n+1), "rt"), v)
					}
					inside.Add(-1)
					l.Release(ctx)
					if err != nil {
						errc <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		tok, _, err := open().LoadVersion(ctx)
		if err != nil || tok == nil || tok.AccessToken != strconv.Itoa(workers*rounds) {
			t.Fatalf("counter = %v (%v), want %d: an update was lost", tok, err, workers*rounds)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s := newSession(t)()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := s.LoadVersion(cctx); err == nil {
			// Stores that read a local file may not look at ctx; they must
			// at least not fail the next call.
			t.Log("LoadVersion ignores a cancelled context")
		}
		if _, _, err := s.LoadVersion(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Rotation", func(t *testing.T) { runRotation(t, newSession(t), opts) })
}

func waitLock(ctx context.Context, s authn.Coordinator) (authn.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		l, ok, err := s.TryLock(ctx, 10*time.Second)
		if err != nil || ok {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("storetest: lease never became free")
		case <-time.After(time.Millisecond):
		}
	}
}

// runRotation drives Tethered clients, each on its own handle and sharing a
// clock, through rounds of expiry: in every round exactly one of them must
// redeem, and no refresh token may be presented twice.
func runRotation(t *testing.T, open Session, opts Options) {
	pkb := newRefreshServer(t)
	clients := opts.Clients
	if clients <= 0 {
		clients = 4
	}
	clock := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	first := pkb.issue()
	var cs []*authn.TetheredSource
	for range clients {
		c, err := authn.NewTetheredSource(authn.TetheredConfig{
			ClientID: "storetest", ClientSecret: "storetest-secret",
			Environment: authn.Environment{UserTokenURL: pkb.srv.URL + "/apiToken.action"},
			// The store is bound to the suite's key, not to this test
			// server's URL; hide the binding from the client's check.
			RefreshToken: first, Store: unkeyed{open()},
			Options: authn.Options{Now: clock.now, LeaseTTL: 20 * time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	ctx := context.Background()
	const rounds, perClient = 8, 5
	for round := range rounds {
		var wg sync.WaitGroup
		for _, c := range cs {
			for range perClient {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := c.Token(ctx); err != nil {
						t.Errorf("round %d: %v", round, err)
					}
				}()
			}
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		clock.advance(550 * time.Second) // every token (600 s, refreshed 60 s early) is due
	}
	if r := pkb.reused.Load(); r != 0 {
		t.Fatalf("%d refresh tokens were presented twice", r)
	}
	if n := pkb.redeemed.Load(); n != rounds {
		t.Fatalf("%d redemptions in %d rounds, want exactly one per round", n, rounds)
	}
}

type unkeyed struct{ authn.Coordinator }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// refreshServer is a token endpoint with single-use refresh tokens.
type refreshServer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	seq      int
	live     map[string]bool
	used     map[string]bool
	redeemed atomic.Int32
	reused   atomic.Int32
}

func newRefreshServer(t *testing.T) *refreshServer {
	s := &refreshServer{live: map[string]bool{}, used: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *refreshServer) issue() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	rt := fmt.Sprintf("rt-%d", s.seq)
	s.live[rt] = true
	return rt
}

func (s *refreshServer) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	rt := r.PostForm.Get("refresh_token")
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	if s.used[rt] || !s.live[rt] {
		if s.used[rt] {
			s.reused.Add(1)
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "API_SESSION_INVALID"})
		return
	}
	s.used[rt] = true
	s.seq++
	next := fmt.Sprintf("rt-%d", s.seq)
	s.live[next] = true
	n := s.seq
	s.mu.Unlock()
	s.redeemed.Add(1)
	// A little latency widens the window in which a broken store would
	// let two clients redeem.
	time.Sleep(20 * time.Millisecond)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("at-%d", n), "token_type": "Bearer",
		"expires_in": 600, "refresh_token": next, "scope": "SITE"})
}
