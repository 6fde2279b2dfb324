package authn

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// flakyStore is a Coordinator that can be switched off like a store
// server that went away.
type flakyStore struct {
	Coordinator
	down atomic.Bool
}

var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (s *flakyStore) LoadVersion(ctx context.Context) (*oauth2.Token, uint64, error) {
	if s.down.Load() {
		return nil, 0, errDown
	}
	return s.Coordinator.LoadVersion(ctx)
}

func (s *flakyStore) TryLock(ctx context.Context, ttl time.Duration) (Lease, bool, error) {
	if s.down.Load() {
		return nil, false, errDown
	}
	l, ok, err := s.Coordinator.TryLock(ctx, ttl)
	if l != nil {
		l = &flakyLease{Lease: l, s: s}
	}
	return l, ok, err
}

type flakyLease struct {
	Lease
	s *flakyStore
}

func (l *flakyLease) CompareAndSave(ctx context.Context, tok *oauth2.Token, v uint64) (uint64, error) {
	if l.s.down.Load() {
		return 0, errDown
	}
	return l.Lease.CompareAndSave(ctx, tok, v)
}

func TestSharedClientCredentialsOneFetchForManyClients(t *testing.T) {
	as := newFakeAS(t)
	as.expiresIn = 600
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "system.json")
	var cs []*SystemSource
	for range 5 {
		c, err := NewSystemSource(SystemConfig{ClientID: "sys", ClientSecret: "sys-secret", Environment: as.env(),
			Store: NewFileStore(path), Options: Options{Now: clock.Now}})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	ctx := context.Background()
	for round := range 4 {
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Token(ctx); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := as.calls.Load(); n != int32(round+1) {
			t.Fatalf("round %d: %d token requests from 5 clients sharing a store, want %d", round, n, round+1)
		}
		clock.Advance(550 * time.Second)
	}
	// A 401 on the shared token: the client that saw it does not take the
	// refused token back from the store.
	tok, _ := cs[0].Token(ctx)
	cs[0].Invalidate(tok.AccessToken)
	tok2, err := cs[0].Token(ctx)
	if err != nil || tok2.AccessToken == tok.AccessToken {
		t.Fatalf("after Invalidate: %v %v", tok2, err)
	}
}

func TestSharedClientCredentialsFallBackLocallyAndLogOnce(t *testing.T) {
	as := newFakeAS(t)
	clock := newFakeClock()
	store := &flakyStore{Coordinator: NewFileStore(filepath.Join(t.TempDir(), "s.json"))}
	var logs bytes.Buffer
	c, err := NewSystemSource(SystemConfig{ClientID: "sys", ClientSecret: "sys-secret", Environment: as.env(), Store: store,
		Options: Options{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	ctx := context.Background()
	for range 3 {
		tok, err := c.Token(ctx)
		if err != nil {
			t.Fatalf("client credentials must survive a store outage: %v", err)
		}
		c.Invalidate(tok.AccessToken)
	}
	if n := strings.Count(logs.String(), "shared token store unusable"); n != 1 {
		t.Fatalf("fallback logged %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "sys-secret") {
		t.Fatal("log leaks the secret")
	}
	store.down.Store(false)
	c.Invalidate((&oauth2.Token{}).AccessToken)
	clock.Advance(time.Hour)
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "usable again") {
		t.Fatalf("recovery not logged:\n%s", logs.String())
	}
}

func TestTetheredNeverRedeemsWhenSharedStoreIsDown(t *testing.T) {
	as := newFakeAS(t)
	clock := newFakeClock()
	store := &flakyStore{Coordinator: NewFileStore(filepath.Join(t.TempDir(), "t.json"))}
	c := newTethered(t, as, store, as.issueRT(), clock)
	ctx := context.Background()
	if _, err := c.Token(ctx); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	clock.Advance(time.Hour) // the access token has expired
	calls := as.calls.Load()
	_, err := c.Token(ctx)
	if !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("err = %v, want ErrStoreUnavailable", err)
	}
	var se *StoreError
	if !errors.As(err, &se) || se.Op != "load" {
		t.Fatalf("err = %#v", err)
	}
	if as.calls.Load() != calls {
		t.Fatal("a refresh token was redeemed without the shared store")
	}
	store.down.Store(false)
	if _, err := c.Token(ctx); err != nil {
		t.Fatalf("no recovery after the store came back: %v", err)
	}
}

func TestSharedSaveFailureAfterRedemptionKeepsLeaseAndRetries(t *testing.T) {
	as := newFakeAS(t)
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "t.json")
	store := &flakyStore{Coordinator: NewFileStore(path)}
	rt := as.issueRT()
	c, err := NewTetheredSource(TetheredConfig{ClientID: "teth-id", ClientSecret: "teth-secret", Environment: as.env(),
		RefreshToken: rt, Store: store, Options: Options{Now: clock.Now, LeaseTTL: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	// The store fails just after the redemption reached PKB.
	as.setOverride(func(_ http.ResponseWriter, _ *http.Request, _ url.Values) bool {
		store.down.Store(true)
		return false
	})
	_, err = c.Token(context.Background())
	if !errors.Is(err, ErrNotPersisted) || !errors.Is(err, ErrReauthorize) {
		t.Fatalf("err = %v, want ErrNotPersisted and ErrReauthorize", err)
	}
	if !strings.Contains(err.Error(), "redeemed at PKB") || !strings.Contains(err.Error(), "Team Coordinator") || strings.Contains(err.Error(), "rt-") {
		t.Fatalf("message does not say what happened and what to do, or leaks: %v", err)
	}
	// The lease is still held: another process cannot redeem the spent token.
	other := NewFileStore(path)
	if _, ok, _ := other.TryLock(context.Background(), time.Second); ok {
		t.Fatal("the lease was released while the new token was unsaved")
	}
	as.setOverride(nil)
	store.down.Store(false)
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatalf("save not retried: %v", err)
	}
	saved, _ := other.Load(context.Background())
	if saved.RefreshToken != tok.RefreshToken || as.calls.Load() != 1 || len(as.reusedTokens()) > 0 {
		t.Fatalf("saved %s, handed out %+v, calls %d", saved.RefreshToken, tok, as.calls.Load())
	}
	if _, ok, _ := other.TryLock(context.Background(), time.Second); !ok {
		t.Fatal("lease not released after the save succeeded")
	}
}

func TestStoreBoundToAnotherSessionIsRefused(t *testing.T) {
	cfg := TetheredConfig{ClientID: "a", ClientSecret: "s", Environment: Sandbox}
	other := cfg
	other.ClientID = "b"
	cfg.Store = keyedStore{MemoryStore: NewMemoryStore(nil), key: other.SessionKey("")}
	if _, err := NewTetheredSource(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	cfg.Store = keyedStore{MemoryStore: NewMemoryStore(nil), key: cfg.SessionKey("reporting")}
	cfg.RefreshToken = "rt"
	if _, err := NewTetheredSource(cfg); err != nil {
		t.Fatal(err)
	}
}

type keyedStore struct {
	*MemoryStore
	key SessionKey
}

func (k keyedStore) SessionKey() SessionKey { return k.key }
