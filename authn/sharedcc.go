package authn

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/internal/redact"
)

// sharedCC shares a client-credentials access token among the holders of a
// store: each reuses the stored token while it is fresh, and one of them
// (the lease holder) fetches the next one ahead of expiry while the others
// keep using the current one. A client-credentials grant can be repeated
// safely, so a store that cannot be used never stops the client: it fetches
// a token of its own, and says so in the log once per outage.
type sharedCC struct {
	store TokenStore
	coord Coordinator // store as a Coordinator, or nil
	fetch func(ctx context.Context) (*oauth2.Token, error)
	early time.Duration
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger
	key   SessionKey

	mu       sync.Mutex
	rejected string
	degraded bool
}

func (s *sharedCC) reject(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected = accessToken
}

func (s *sharedCC) fresh(tok *oauth2.Token) bool {
	s.mu.Lock()
	rejected := s.rejected
	s.mu.Unlock()
	return fresh(tok, rejected, s.now(), s.early)
}

// valid reports whether tok can still be used while someone else fetches
// its successor: not rejected and not within the last tenth of its life.
func (s *sharedCC) valid(tok *oauth2.Token) bool {
	s.mu.Lock()
	rejected := s.rejected
	s.mu.Unlock()
	if tok == nil || tok.AccessToken == "" || tok.AccessToken == rejected {
		return false
	}
	if tok.Expiry.IsZero() {
		return true
	}
	life := tok.Expiry.Sub(obtainedAt(tok, s.now()))
	return s.now().Add(life / 10).Before(tok.Expiry)
}

func (s *sharedCC) load(ctx context.Context) (*oauth2.Token, uint64, error) {
	if s.coord != nil {
		return s.coord.LoadVersion(ctx)
	}
	tok, err := s.store.Load(ctx)
	return tok, 0, err
}

// Token is the Cache's fetch function.
func (s *sharedCC) Token(ctx context.Context) (*oauth2.Token, error) {
	tok, ver, err := s.load(ctx)
	if err != nil {
		return s.local(ctx, "load", err)
	}
	if s.fresh(tok) {
		s.ok()
		return tok, nil
	}
	if s.coord == nil {
		t, err := s.fetch(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.store.Save(context.WithoutCancel(ctx), t); err != nil {
			s.down("save", err)
		} else {
			s.ok()
		}
		return t, nil
	}
	lease, ok, err := s.coord.TryLock(ctx, s.ttl)
	if err != nil {
		return s.local(ctx, "lock", err)
	}
	if !ok {
		// Another holder is fetching. Keep using the current token while
		// it lasts; without one, wait for theirs.
		if s.valid(tok) {
			return tok, nil
		}
		adopted := false
		lease, err = lockWait(ctx, s.coord, s.ttl, func() (bool, error) {
			t, _, err := s.coord.LoadVersion(ctx)
			if err != nil {
				return false, err
			}
			if adopted = s.fresh(t); adopted {
				tok = t
			}
			return adopted, nil
		})
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if err != nil {
			return s.local(ctx, "lock", err)
		}
		if adopted {
			s.ok()
			return tok, nil
		}
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lease.Release(rctx)
	}()
	tok, ver, err = s.coord.LoadVersion(ctx)
	if err != nil {
		return s.local(ctx, "load", err)
	}
	if s.fresh(tok) {
		s.ok()
		return tok, nil
	}
	t, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := lease.CompareAndSave(context.WithoutCancel(ctx), t, ver); err != nil && !errors.Is(err, ErrConflict) {
		s.down("save", err)
	} else {
		s.ok()
	}
	return t, nil
}

// local fetches a token of this process's own while the store is unusable.
func (s *sharedCC) local(ctx context.Context, op string, err error) (*oauth2.Token, error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if ctx.Err() != nil {
			return nil, err
		}
	}
	s.down(op, err)
	return s.fetch(ctx)
}

// down logs the first failure of an outage.
func (s *sharedCC) down(op string, err error) {
	s.mu.Lock()
	first := !s.degraded
	s.degraded = true
	s.mu.Unlock()
	if first {
		s.log.Warn("authn: shared token store unusable; fetching client-credentials tokens locally until it recovers",
			"session", s.key.String(), "op", op, "err", newStoreError(op, err, redact.New()).Error())
	}
}

// ok logs the end of an outage.
func (s *sharedCC) ok() {
	s.mu.Lock()
	was := s.degraded
	s.degraded = false
	s.mu.Unlock()
	if was {
		s.log.Info("authn: shared token store usable again", "session", s.key.String())
	}
}
