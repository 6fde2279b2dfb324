package authn

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/internal/redact"
)

// fetchShared is fetch for a Coordinator: the double-checked lease
// protocol described there. fetchMu is held.
func (r *rotator) fetchShared(ctx context.Context) (*oauth2.Token, error) {
	r.mu.Lock()
	unsaved := r.unsaved
	r.mu.Unlock()
	if unsaved {
		// An earlier redemption's successor never reached the store. Save
		// it now unless someone else saved since, in which case theirs wins.
		// The lease of that redemption is still held, if it has not run
		// out, so that nobody redeems the spent refresh token meanwhile.
		tok, err := r.flushShared(ctx)
		if err != nil {
			return nil, err
		}
		if tok != nil && r.usable(tok) {
			return tok, nil
		}
	}

	if err := r.reloadShared(ctx); err != nil {
		return nil, err
	}
	if cur := r.snapshot(); r.usable(cur) {
		return cur, nil
	}

	adopted := false
	lease, since, err := lockWaitSince(ctx, r.coord, r.ttl, func() (bool, error) {
		// Someone else is refreshing: watch for the token they save.
		if err := r.reloadShared(ctx); err != nil {
			return false, err
		}
		adopted = r.usable(r.snapshot())
		return adopted, nil
	})
	if err != nil {
		return nil, r.storeErr("lock", err)
	}
	if adopted {
		return r.snapshot(), nil
	}
	defer r.releaseUnlessHeld(ctx, lease)

	// Holding the lease, look once more: the previous holder may have saved
	// between our load and our lock.
	if err := r.reloadShared(ctx); err != nil {
		return nil, err
	}
	cur := r.snapshot()
	r.noteOrigin(cur)
	if r.usable(cur) {
		return cur, nil
	}
	if cur == nil || cur.RefreshToken == "" {
		return nil, errNoSession(r.reauth)
	}
	// The redemption must end before the lease can, so that nobody else
	// can present this refresh token while PKB may still be answering. The
	// lease's clock started when TryLock was sent; if a slow store has used
	// up most of it, do not start.
	deadline := since.Add(redeemBound(r.ttl))
	if time.Until(deadline) < r.ttl/4 {
		return nil, &StoreError{Op: "lock", msg: "the store took most of the lease's TTL to answer; refresh not started", err: ErrStoreUnavailable}
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	tok, err := r.redeemChain(rctx, cur)
	if err != nil {
		return nil, err
	}
	return r.installShared(ctx, lease, tok)
}

// reloadShared adopts the stored token and its version. Memory is kept
// when the store is empty (a configured refresh token not yet redeemed).
func (r *rotator) reloadShared(ctx context.Context) error {
	stored, ver, err := r.coord.LoadVersion(ctx)
	if err != nil {
		return r.storeErr("load", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unsaved {
		return nil
	}
	r.version = ver
	if stored != nil && (r.current == nil || stored.RefreshToken != r.current.RefreshToken || stored.AccessToken != r.current.AccessToken) {
		r.current = stored
	}
	return nil
}

// installShared saves a token PKB just issued, under lease, comparing
// against the version the redemption started from. While the lease lasts a
// failed save is retried: nobody else can redeem meanwhile, and the new
// refresh token exists nowhere but here.
func (r *rotator) installShared(ctx context.Context, lease Lease, tok *oauth2.Token) (*oauth2.Token, error) {
	r.mu.Lock()
	r.current = cloneToken(tok)
	r.rejected = ""
	r.unsaved = true
	base := r.version
	r.mu.Unlock()

	deadline := time.Now().Add(min(redeemBound(r.ttl)/4, 2*time.Second))
	sctx := context.WithoutCancel(ctx)
	backoff := 50 * time.Millisecond
	for {
		ver, err := lease.CompareAndSave(sctx, cloneToken(tok), base)
		if err == nil {
			r.mu.Lock()
			r.unsaved, r.version = false, ver
			r.mu.Unlock()
			return cloneToken(tok), nil
		}
		if errors.Is(err, ErrConflict) {
			return nil, r.lost(ctx)
		}
		if time.Now().Add(backoff).After(deadline) {
			// Keep the lease: until it runs out nobody else redeems the
			// spent refresh token. Keep trying in the background too, so
			// that the save lands the moment the store is back, before
			// anyone whose lease wait ends can redeem the spent token.
			r.mu.Lock()
			r.held = lease
			r.mu.Unlock()
			go r.saveLater(ctx)
			return nil, r.unsavedErr(err, tok)
		}
		time.Sleep(jitter(backoff))
		backoff = min(backoff*2, time.Second)
	}
}

// saveLater retries the save of an unsaved token until it succeeds or
// another holder's newer token wins.
func (r *rotator) saveLater(ctx context.Context) {
	backoff := 20 * time.Millisecond
	for {
		time.Sleep(jitter(backoff))
		backoff = min(backoff*2, 250*time.Millisecond)
		r.fetchMu.Lock()
		r.mu.Lock()
		unsaved := r.unsaved
		r.mu.Unlock()
		if !unsaved {
			r.fetchMu.Unlock()
			return
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, err := r.flushShared(fctx)
		cancel()
		r.fetchMu.Unlock()
		if err == nil {
			return
		}
	}
}

// flushShared retries the save of an unsaved token. It returns the token
// once saved, or nil after adopting a newer one another holder saved.
func (r *rotator) flushShared(ctx context.Context) (*oauth2.Token, error) {
	r.mu.Lock()
	lease, base := r.held, r.version
	r.held = nil
	r.mu.Unlock()
	if lease == nil {
		var err error
		if lease, err = lockWait(ctx, r.coord, r.ttl, func() (bool, error) { return false, nil }); err != nil {
			return nil, r.storeErr("lock", err)
		}
	}
	defer r.releaseUnlessHeld(ctx, lease)
	tok := r.snapshot()
	ver, err := lease.CompareAndSave(context.WithoutCancel(ctx), cloneToken(tok), base)
	if errors.Is(err, ErrConflict) {
		// Another holder saved first; this process's token is from a chain
		// that has moved on, so never offer it again.
		r.mu.Lock()
		r.unsaved = false
		r.mu.Unlock()
		return nil, r.reloadShared(ctx)
	}
	if err != nil {
		r.mu.Lock()
		r.held = lease
		r.mu.Unlock()
		return nil, r.unsavedErr(err, tok)
	}
	r.mu.Lock()
	r.unsaved, r.version = false, ver
	r.mu.Unlock()
	return tok, nil
}

// lost handles a CompareAndSave conflict after a redemption: the lease ran
// out and another holder saved a newer token, which is kept.
func (r *rotator) lost(ctx context.Context) error {
	r.mu.Lock()
	r.unsaved = false
	r.mu.Unlock()
	_ = r.reloadShared(ctx)
	return &leaseLostError{}
}

// unsavedErr reports a redeemed token that could not be saved.
func (r *rotator) unsavedErr(err error, tok *oauth2.Token) error {
	red := redact.New(append(r.secrets(), tok.AccessToken, tok.RefreshToken)...)
	return &PersistError{
		msg: line(red, err.Error()) + "; the refresh token was redeemed at PKB but its successor is held only by this process, " +
			"which retries the save on each Token call while other holders of the store wait for its lease (Options.LeaseTTL); " +
			"if the save does not succeed by then, or this process exits, the session is lost and " + r.reauth,
		err:    err,
		shared: true,
	}
}

func (r *rotator) storeErr(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	secrets := r.secrets()
	if cur := r.snapshot(); cur != nil {
		secrets = append(secrets, cur.AccessToken, cur.RefreshToken)
	}
	return newStoreError(op, err, redact.New(secrets...))
}

// releaseUnlessHeld releases lease unless it is kept for an unsaved token.
func (r *rotator) releaseUnlessHeld(ctx context.Context, lease Lease) {
	r.mu.Lock()
	held := r.held == lease
	r.mu.Unlock()
	if !held {
		r.release(ctx, lease)
	}
}

// release gives the lease back even if the caller's context has ended.
func (r *rotator) release(ctx context.Context, lease Lease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = lease.Release(rctx)
}

// leaseLostError is ErrLeaseLost with advice.
type leaseLostError struct{}

func (*leaseLostError) Error() string {
	return "authn: the token store lease ran out during a refresh and another holder saved a newer token, which was kept; retry, and raise Options.LeaseTTL if token requests are slow"
}

func (*leaseLostError) Unwrap() error { return ErrLeaseLost }
