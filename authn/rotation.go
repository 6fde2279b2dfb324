package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/internal/redact"
)

// rotator owns the refresh token of a user or tethered session and redeems
// it at most once.
//
// The Cache already allows one flight at a time, but a flight abandoned by
// all its waiters is detached while it may still be redeeming, so fetchMu
// serialises fetches for real: the second fetch then re-reads the store,
// sees the rotated token and never presents the spent one.
type rotator struct {
	store TokenStore
	// coord is store as a Coordinator, or nil; ttl is its lease length.
	coord  Coordinator
	ttl    time.Duration
	early  time.Duration
	now    func() time.Time
	reauth string
	// redeem performs one refresh_token grant and marks the new token as
	// descending from origin (see OriginExtra) if origin is not empty.
	redeem func(ctx context.Context, refreshToken, origin string) (*oauth2.Token, error)
	// secrets returns the values to redact from store errors.
	secrets func() []string

	fetchMu sync.Mutex

	mu       sync.Mutex
	current  *oauth2.Token // last token saved or loaded; memory may be ahead of the store only when unsaved
	unsaved  bool
	version  uint64 // coord's version of current (of the token it replaced, while unsaved)
	held     Lease  // lease kept while an unsaved token waits to be saved
	rejected string // access token a caller reported as refused (401)
	// refused are the last access tokens callers reported as refused.
	refused   [4]string
	refusedAt int
	deadRT    string // refresh token the server said is dead
	deadErr   error
	// configured is the refresh token from the configuration, if any.
	configured string
	// fallbackRT is the configured refresh token while it may still be
	// tried once if the store's chain turns out to be dead (a coordinator
	// issued a new one). It is cleared as soon as it is presented, or seen
	// to have started the stored chain: then it is spent.
	fallbackRT string

	storedOnce sync.Once
	stored     []string // granted scopes of the session found in the store
}

func (r *rotator) snapshot() *oauth2.Token {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cloneToken(r.current)
}

// scopes returns the session's granted scopes: the current token's or,
// before anything was fetched, those of the session in the store. A
// restarted program has its session only there, and its granted scope is
// what PKB will enforce. The stores this package ships are local, so this
// reads a file at most, once; PKB is never contacted.
func (r *rotator) scopes() []string {
	if s := GrantedScopes(r.snapshot()); s != nil {
		return s
	}
	r.storedOnce.Do(func() {
		if tok, err := r.store.Load(context.Background()); err == nil {
			r.stored = GrantedScopes(tok)
		}
	})
	return slices.Clone(r.stored)
}

// reject records that accessToken was refused, so that the copy in the
// store is not handed out again.
func (r *rotator) reject(accessToken string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Every refused token is remembered, not only the current one: with a
	// shared store a 401 can arrive for a token this process has already
	// replaced while another replica's copy of the store still holds it.
	if accessToken == "" || slices.Contains(r.refused[:], accessToken) {
		return
	}
	r.refused[r.refusedAt%len(r.refused)] = accessToken
	r.refusedAt++
	if r.current != nil && r.current.AccessToken == accessToken {
		r.rejected = accessToken
	}
}

// usable reports whether tok's access token can be handed out without a
// redemption: the same rule as the Cache's, so that every holder of a
// shared store agrees when a token is due. A token whose lifetime is
// unknown gets the full early window.
func (r *rotator) usable(tok *oauth2.Token) bool {
	r.mu.Lock()
	rejected := r.rejected
	refused := tok != nil && tok.AccessToken != "" && slices.Contains(r.refused[:], tok.AccessToken)
	r.mu.Unlock()
	return !refused && fresh(tok, rejected, r.now(), r.early)
}

// fresh reports whether tok is not yet due for refresh at now.
func fresh(tok *oauth2.Token, rejected string, now time.Time, early time.Duration) bool {
	if tok == nil || tok.AccessToken == "" || tok.AccessToken == rejected {
		return false
	}
	if tok.Expiry.IsZero() {
		return true
	}
	return now.Before(refreshTime(obtainedAt(tok, time.Time{}), tok.Expiry, early))
}

// obtainedAt is when tok was issued, from its granted lifetime, or def
// when that is unknown.
func obtainedAt(tok *oauth2.Token, def time.Time) time.Time {
	if tok.ExpiresIn > 0 && !tok.Expiry.IsZero() {
		return tok.Expiry.Add(-time.Duration(tok.ExpiresIn) * time.Second)
	}
	return def
}

// install records tok as the session and saves it. The store is written
// before anyone sees the access token; if that fails the token stays in
// memory, marked unsaved, and Save is retried on the next fetch.
func (r *rotator) install(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	r.mu.Lock()
	r.current = cloneToken(tok)
	r.rejected = ""
	r.unsaved = true
	r.mu.Unlock()
	return r.flush(ctx)
}

func (r *rotator) flush(ctx context.Context) (*oauth2.Token, error) {
	tok := r.snapshot()
	// A cancelled caller must not stop the only copy of a fresh refresh
	// token from reaching disk.
	if err := r.store.Save(context.WithoutCancel(ctx), cloneToken(tok)); err != nil {
		return nil, newPersistError(err, redact.New(append(r.secrets(), tok.AccessToken, tok.RefreshToken)...))
	}
	r.mu.Lock()
	r.unsaved = false
	r.mu.Unlock()
	return tok, nil
}

// adopt installs a token obtained by an authorization-code exchange.
func (r *rotator) adopt(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if r.coord != nil {
		// A new login replaces whatever the session was, under the lease
		// so that it does not land in the middle of a redemption.
		lease, err := lockWait(ctx, r.coord, r.ttl, func() (bool, error) { return false, nil })
		if err != nil {
			return nil, r.storeErr("lock", err)
		}
		defer r.releaseUnlessHeld(ctx, lease)
		_, ver, err := r.coord.LoadVersion(ctx)
		if err != nil {
			return nil, r.storeErr("load", err)
		}
		r.mu.Lock()
		r.version = ver
		r.mu.Unlock()
		return r.installShared(ctx, lease, tok)
	}
	return r.install(ctx, tok)
}

func (r *rotator) fetch(ctx context.Context) (*oauth2.Token, error) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if r.coord != nil {
		return r.fetchShared(ctx)
	}

	r.mu.Lock()
	unsaved := r.unsaved
	r.mu.Unlock()
	if unsaved {
		tok, err := r.flush(ctx)
		if err != nil {
			return nil, err
		}
		if r.usable(tok) {
			return tok, nil
		}
	} else if err := r.reload(ctx); err != nil {
		return nil, err
	}

	cur := r.snapshot()
	r.noteOrigin(cur)
	if r.usable(cur) {
		// Another process (or an earlier, abandoned flight) already
		// refreshed; reuse its token rather than spending the refresh token.
		return cur, nil
	}
	if cur == nil || cur.RefreshToken == "" {
		return nil, errNoSession(r.reauth)
	}
	tok, err := r.redeemChain(ctx, cur)
	if err != nil {
		return nil, err
	}
	return r.install(ctx, tok)
}

// redeemChain redeems cur's refresh token; when the chain turns out to be
// dead it tries the configured refresh token once, if it is not spent, and
// otherwise says that the configured one is spent.
func (r *rotator) redeemChain(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
	tok, err := r.redeemOnce(ctx, cur.RefreshToken, r.chainOrigin(cur))
	if err != nil && errors.Is(err, ErrReauthorize) {
		if fb := r.takeFallback(cur.RefreshToken); fb != "" {
			tok, err = r.redeemOnce(ctx, fb, originMark(fb))
		} else if r.configured != "" && cur.RefreshToken != r.configured {
			err = withHint(err, "the configured RefreshToken started the session that ended and is spent, so it is not presented again; configure the new one")
		}
	}
	return tok, err
}

// reload adopts whatever the store holds. The store wins over memory because
// every token this process obtained was saved before use, so a different
// stored token can only be newer (from another process or a new login).
func (r *rotator) reload(ctx context.Context) error {
	stored, err := r.store.Load(ctx)
	if err != nil {
		secrets := r.secrets()
		if cur := r.snapshot(); cur != nil {
			secrets = append(secrets, cur.AccessToken, cur.RefreshToken)
		}
		return fmt.Errorf("authn: load token store: %w", &redactedError{msg: line(redact.New(secrets...), err.Error()), err: err})
	}
	if stored == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil || stored.RefreshToken != r.current.RefreshToken || stored.AccessToken != r.current.AccessToken {
		r.current = stored
	}
	return nil
}

// OriginExtra is the token extra that names the chain a token belongs to:
// a one-way fingerprint of the configured refresh token that started it.
// A TokenStore must keep it beside the granted scope, so that after a
// restart a spent configured refresh token is never presented again.
const OriginExtra = "pkbgo_origin"

// originMark fingerprints a configured refresh token. The hash is one-way,
// and the token it names is spent by the time the mark is stored.
func originMark(rt string) string {
	if rt == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("pkb-go chain origin\x00" + rt))
	return "v1:" + hex.EncodeToString(sum[:16])
}

func originOf(tok *oauth2.Token) string {
	if tok == nil {
		return ""
	}
	s, _ := tok.Extra(OriginExtra).(string)
	return s
}

// chainOrigin is the mark the successor of cur carries: cur's own, or the
// configured token's when cur is the configured token.
func (r *rotator) chainOrigin(cur *oauth2.Token) string {
	if o := originOf(cur); o != "" {
		return o
	}
	if r.configured != "" && cur.RefreshToken == r.configured {
		return originMark(r.configured)
	}
	return ""
}

// noteOrigin disarms the fallback when tok's chain was started from the
// configured refresh token, by this client or any other on the store.
func (r *rotator) noteOrigin(tok *oauth2.Token) {
	if r.configured == "" || originOf(tok) != originMark(r.configured) {
		return
	}
	r.mu.Lock()
	r.fallbackRT = ""
	r.mu.Unlock()
}

// withHint adds advice to the hint of a *TokenError.
func withHint(err error, hint string) error {
	var te *TokenError
	if !errors.As(err, &te) {
		return err
	}
	c := *te
	c.Hint = strings.TrimPrefix(c.Hint+"; "+hint, "; ")
	return &c
}

// takeFallback hands out the configured refresh token at most once, and
// only if it is not the one that just failed.
func (r *rotator) takeFallback(failed string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	fb := r.fallbackRT
	r.fallbackRT = ""
	if fb == failed {
		return ""
	}
	return fb
}

// redeemOnce presents rt unless it is already known to be dead.
//
// The request runs without the caller's cancellation (but with the HTTP
// client's timeout): once PKB has accepted a refresh token the only copy of
// its successor is in the response, and abandoning the response would end
// the session.
func (r *rotator) redeemOnce(ctx context.Context, rt, origin string) (*oauth2.Token, error) {
	r.mu.Lock()
	if r.deadRT == rt {
		err := r.deadErr
		r.mu.Unlock()
		return nil, err
	}
	if rt == r.configured {
		// Presented, so spent whatever the outcome: never a fallback.
		r.fallbackRT = ""
	}
	r.mu.Unlock()

	tok, err := r.redeem(context.WithoutCancel(ctx), rt, origin)
	if err != nil {
		if errors.Is(err, ErrReauthorize) {
			r.mu.Lock()
			r.deadRT, r.deadErr = rt, err
			r.mu.Unlock()
		}
		return nil, err
	}
	// x/oauth2 copies the old refresh token into the result when the
	// response has none. PKB omits it when the session ends before the new
	// access token does; the old one is spent, so forget it and let the
	// session end cleanly with ErrReauthorize instead of API_SESSION_INVALID.
	if fresh, _ := tok.Extra("refresh_token").(string); fresh == "" {
		tok.RefreshToken = ""
	}
	return tok, nil
}
