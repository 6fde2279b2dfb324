package authn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// countingFetcher returns tokens at-1, at-2, ... each living life.
type countingFetcher struct {
	n     atomic.Int32
	clock *fakeClock
	life  time.Duration
	delay time.Duration
}

func (f *countingFetcher) fetch(ctx context.Context) (*oauth2.Token, error) {
	n := f.n.Add(1)
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	return &oauth2.Token{AccessToken: fmt.Sprintf("at-%d", n), Expiry: f.clock.Now().Add(f.life)}, nil
}

func TestCacheSingleFlightColdCache(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, life: 300 * time.Second, delay: 20 * time.Millisecond}
	c := NewCache(f.fetch, Options{Now: clock.Now})

	const n = 1000
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tok, err := c.Token(context.Background())
			if err != nil {
				errs <- err
				return
			}
			if tok.AccessToken != "at-1" {
				errs <- fmt.Errorf("got %q", tok.AccessToken)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := f.n.Load(); got != 1 {
		t.Fatalf("1000 goroutines on a cold cache made %d token requests, want exactly 1", got)
	}
}

func TestCacheRefreshesAheadOfExpiry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		life      time.Duration
		early     time.Duration
		refreshAt time.Duration
	}{
		{"default window, 300s", 300 * time.Second, 0, 240 * time.Second},
		{"default window, 3599s", 3599 * time.Second, 0, 3539 * time.Second},
		{"custom window", 600 * time.Second, 120 * time.Second, 480 * time.Second},
		{"lifetime shorter than window: half", 30 * time.Second, 0, 15 * time.Second},
		{"lifetime just above window: half", 70 * time.Second, 0, 35 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			f := &countingFetcher{clock: clock, life: tc.life}
			c := NewCache(f.fetch, Options{Now: clock.Now, EarlyExpiry: tc.early})
			ctx := context.Background()
			if _, err := c.Token(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tc.refreshAt - time.Second)
			for range 5 {
				if tok, _ := c.Token(ctx); tok.AccessToken != "at-1" {
					t.Fatalf("refreshed too early: %s", tok.AccessToken)
				}
			}
			clock.Advance(time.Second)
			if tok, _ := c.Token(ctx); tok.AccessToken != "at-2" {
				t.Fatalf("not refreshed at %v: %s", tc.refreshAt, tok.AccessToken)
			}
			if got := f.n.Load(); got != 2 {
				t.Fatalf("fetches = %d, want 2", got)
			}
		})
	}
}

func TestCacheCancelledCallerDoesNotFailOthers(t *testing.T) {
	clock := newFakeClock()
	release := make(chan struct{})
	var fetchCtxErr atomic.Value
	var calls atomic.Int32
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		calls.Add(1)
		<-release
		if err := ctx.Err(); err != nil {
			fetchCtxErr.Store(err)
		}
		return &oauth2.Token{AccessToken: "at", Expiry: clock.Now().Add(time.Hour)}, nil
	}, Options{Now: clock.Now})

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.Token(leaderCtx)
		leaderErr <- err
	}()
	waitFor(t, func() bool { return calls.Load() == 1 })

	otherTok := make(chan *oauth2.Token, 1)
	otherErr := make(chan error, 1)
	go func() {
		tok, err := c.Token(context.Background())
		otherTok <- tok
		otherErr <- err
	}()
	waitFor(t, func() bool { return waiters(c) == 2 })

	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader err = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-otherErr; err != nil {
		t.Fatalf("other waiter failed because the leader cancelled: %v", err)
	}
	if tok := <-otherTok; tok.AccessToken != "at" {
		t.Fatalf("tok = %v", tok)
	}
	if v := fetchCtxErr.Load(); v != nil {
		t.Fatalf("fetch context was cancelled: %v", v)
	}
	if calls.Load() != 1 {
		t.Fatalf("calls = %d", calls.Load())
	}
}

func waiters(c *Cache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flight == nil {
		return 0
	}
	return c.flight.waiters
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCacheFetchCancelledWhenAllWaitersLeave(t *testing.T) {
	fetchDone := make(chan error, 1)
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		<-ctx.Done()
		fetchDone <- ctx.Err()
		return nil, ctx.Err()
	}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Token(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	select {
	case err := <-fetchDone:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("fetch ctx err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fetch not cancelled after its only waiter left")
	}
}

type ctxKey struct{}

func TestCacheFetchSeesCallerContextValues(t *testing.T) {
	var got atomic.Value
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		got.Store(ctx.Value(ctxKey{}))
		return &oauth2.Token{AccessToken: "at"}, nil
	}, Options{})
	if _, err := c.Token(context.WithValue(context.Background(), ctxKey{}, "trace-123")); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "trace-123" {
		t.Fatalf("fetch ctx value = %v", got.Load())
	}
}

func TestCacheInvalidateStormRefreshesOnce(t *testing.T) {
	clock := newFakeClock()
	f := &countingFetcher{clock: clock, life: time.Hour}
	c := NewCache(f.fetch, Options{Now: clock.Now})
	ctx := context.Background()
	first, _ := c.Token(ctx)

	var wg sync.WaitGroup
	var dropped atomic.Int32
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every request that got a 401 with the old token reports it.
			if c.Invalidate(first.AccessToken) {
				dropped.Add(1)
			}
			if _, err := c.Token(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if dropped.Load() != 1 {
		t.Fatalf("Invalidate dropped %d times, want 1", dropped.Load())
	}
	if got := f.n.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2 (initial + one refresh)", got)
	}
	if c.Invalidate("some-other-token") {
		t.Fatal("Invalidate dropped a token it was not given")
	}
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	var n atomic.Int32
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		if n.Add(1) == 1 {
			return nil, errors.New("boom")
		}
		return &oauth2.Token{AccessToken: "at"}, nil
	}, Options{})
	if _, err := c.Token(context.Background()); err == nil {
		t.Fatal("want error")
	}
	if tok, err := c.Token(context.Background()); err != nil || tok.AccessToken != "at" {
		t.Fatalf("%v %v", tok, err)
	}
}

func TestCacheFetchPanicBecomesError(t *testing.T) {
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) { panic("kaboom") }, Options{})
	if _, err := c.Token(context.Background()); err == nil {
		t.Fatal("want error")
	}
}

func TestCacheReturnsCopies(t *testing.T) {
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "at"}, nil
	}, Options{})
	tok, _ := c.Token(context.Background())
	tok.AccessToken = "mutated"
	if tok2, _ := c.Token(context.Background()); tok2.AccessToken != "at" {
		t.Fatal("caller mutation reached the cache")
	}
}

// A fetch that began before a 401 may return the refused token (from a
// shared store that has not seen the rotation yet). The replay of the
// refused request must not get it.
func TestCacheInvalidateDuringFetchNeverHandsBackTheRefusedToken(t *testing.T) {
	clock := newFakeClock()
	release := make(chan struct{})
	var calls atomic.Int32
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		switch calls.Add(1) {
		case 1:
			return &oauth2.Token{AccessToken: "old", Expiry: clock.Now().Add(100 * time.Second)}, nil
		case 2:
			<-release
			return &oauth2.Token{AccessToken: "old", Expiry: clock.Now().Add(100 * time.Second)}, nil
		}
		return &oauth2.Token{AccessToken: "new", Expiry: clock.Now().Add(time.Hour)}, nil
	}, Options{Now: clock.Now})
	ctx := context.Background()
	if tok, _ := c.Token(ctx); tok.AccessToken != "old" {
		t.Fatal(tok.AccessToken)
	}
	clock.Advance(90 * time.Second) // due: the next call starts a refresh
	go c.Token(ctx)
	waitFor(t, func() bool { return calls.Load() == 2 })
	if !c.Invalidate("old") { // a request with "old" got a 401
		t.Fatal("not dropped")
	}
	tok, err := c.Token(ctx) // its replay
	if err != nil || tok.AccessToken != "new" {
		t.Fatalf("replay got %v, %v; want the next token", tok, err)
	}
	close(release)
	time.Sleep(10 * time.Millisecond)
	if got := c.Cached(); got.AccessToken != "new" {
		t.Fatalf("cached %s after the early fetch finished", got.AccessToken)
	}
}

// A refresh ahead of expiry that fails leaves the still-valid token in use.
func TestCacheServesValidTokenWhenEarlyRefreshFails(t *testing.T) {
	clock := newFakeClock()
	var fail atomic.Bool
	var calls atomic.Int32
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, ErrStoreUnavailable
		}
		return &oauth2.Token{AccessToken: "t", Expiry: clock.Now().Add(100 * time.Second)}, nil
	}, Options{Now: clock.Now})
	ctx := context.Background()
	c.Token(ctx)
	fail.Store(true)
	clock.Advance(90 * time.Second)
	for range 5 {
		if tok, err := c.Token(ctx); err != nil || tok.AccessToken != "t" {
			t.Fatalf("%v %v", tok, err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d fetches: a failing refresh is retried on every call", n)
	}
	clock.Advance(11 * time.Second) // expired
	if _, err := c.Token(ctx); !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("err = %v once the token has expired", err)
	}
}
