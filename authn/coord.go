package authn

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/internal/redact"
)

// Coordinator is an optional extension of [TokenStore] for a store that
// several clients share: goroutines of one process, processes on one host
// ([FileStore]) or replicas of a service (the Redis and PostgreSQL stores in
// the nested modules authn/redisstore and authn/pgstore). A client whose
// store implements it coordinates every redemption of a refresh token with
// the other holders of the store:
//
//  1. A fresh access token in the client's own cache costs no store access.
//  2. Otherwise the client loads the shared token; if it is still fresh
//     (another holder rotated it) the client adopts it.
//  3. Otherwise it takes the session's lease with TryLock. While another
//     holder has it, the client waits (bounded by its context) and loads
//     again, adopting the token the holder saves. It never presents a
//     refresh token another holder may be redeeming.
//  4. Holding the lease it loads once more, and only if the token is still
//     stale redeems the refresh token, once, and saves the successor with
//     [Lease.CompareAndSave] on the version it loaded, then releases.
//
// A lease has an owner and a time to live longer than a token request
// ([Options.LeaseTTL]), so the lease of a holder that crashed ends by itself;
// a holder that lost its lease cannot overwrite a newer token because the
// save compares versions. The client-credentials clients use the same steps
// to share one access token among replicas, but never wait long: a
// client-credentials grant is not single-use.
//
// Implementations must be safe for concurrent use by several clients and
// processes. The package authn/storetest has the conformance tests every
// implementation should pass.
type Coordinator interface {
	TokenStore
	// LoadVersion returns the stored token and its version, an opaque
	// number that changes on every save; (nil, 0, nil) when nothing is
	// stored.
	LoadVersion(ctx context.Context) (*oauth2.Token, uint64, error)
	// TryLock takes the session's lease for ttl without waiting. It
	// returns ok == false, and no error, when another holder has it.
	TryLock(ctx context.Context, ttl time.Duration) (lease Lease, ok bool, err error)
}

// Lease is a held lease on one session of a [Coordinator].
type Lease interface {
	// CompareAndSave stores tok if the stored version is still version
	// (0: nothing stored) and returns the new version. If another save
	// came first it stores nothing and returns an error wrapping
	// [ErrConflict]. It succeeds even if the lease has expired, as long as
	// nobody saved in between: the version, not the lease, protects the
	// newer token, and refusing would lose the only copy of a refresh
	// token that PKB has already rotated.
	CompareAndSave(ctx context.Context, tok *oauth2.Token, version uint64) (uint64, error)
	// Release ends the lease if this holder still has it; releasing a
	// lease that expired or was taken over is not an error.
	Release(ctx context.Context) error
}

// Errors of shared stores.
var (
	// ErrStoreUnavailable means a shared token store could not be used
	// (unreachable, timed out, refused the record). A user or tethered
	// client then redeems nothing, because an uncoordinated redemption of
	// a single-use refresh token could end the session for every replica;
	// retry when the store is back. Client-credentials clients fetch a
	// token of their own instead.
	ErrStoreUnavailable = errors.New("authn: token store unavailable")
	// ErrConflict is returned by [Lease.CompareAndSave] when the stored
	// version is no longer the one the caller loaded.
	ErrConflict = errors.New("authn: token store version conflict")
	// ErrLeaseLost means the lease on a session ran out while this process
	// was redeeming, and another holder saved a newer token first. That
	// token was kept; this process's result was discarded.
	ErrLeaseLost = errors.New("authn: token store lease lost")
)

// StoreError reports a failure of a shared token store. Its message is
// sanitised: no token, and no credentials from a store URL.
type StoreError struct {
	// Op is what was attempted: "load", "lock", "save" or "release".
	Op  string
	msg string
	err error
}

// Error describes the failure.
func (e *StoreError) Error() string {
	return "authn: token store " + e.Op + ": " + e.msg
}

// Unwrap returns ErrStoreUnavailable (unless the caller's context ended)
// and the store's own error.
func (e *StoreError) Unwrap() []error {
	if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
		return []error{e.err}
	}
	return []error{ErrStoreUnavailable, e.err}
}

func newStoreError(op string, err error, red *redact.Redactor) error {
	var se *StoreError
	if errors.As(err, &se) {
		return err
	}
	return &StoreError{Op: op, msg: line(red, err.Error()), err: err}
}

// SessionKey names one PKB session in a shared store. Every replica that
// uses the same token endpoint, client and session name shares one session;
// different names give one client several independent sessions (say one
// Tethered session per Team Coordinator).
type SessionKey struct {
	// TokenURL is the token endpoint the session's tokens come from.
	TokenURL string
	// ClientID is the OAuth client.
	ClientID string
	// ClientType is the PKB client type.
	ClientType ClientType
	// Name is chosen by the caller; empty means "default".
	Name string
}

// ID returns a stable identifier of the session: a hash of the key's
// fields, so that a store's keys and rows carry no client id or URL. It
// has only lower-case letters and digits, so it is safe in Redis keys
// (inside a {hash tag}), SQL and file names.
func (k SessionKey) ID() string {
	name := k.Name
	if name == "" {
		name = "default"
	}
	h := sha256.Sum256([]byte("pkb-go session v1\x00" + k.TokenURL + "\x00" + k.ClientID + "\x00" + string(k.ClientType) + "\x00" + name))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:20]))
}

// String returns the client type, the session name and the ID, never the
// client id.
func (k SessionKey) String() string {
	name := k.Name
	if name == "" {
		name = "default"
	}
	return string(k.ClientType) + "/" + name + "/" + k.ID()
}

// sessionKeyed is implemented by stores bound to one session key, so that
// a client can refuse a store that was bound to another client's session.
type sessionKeyed interface {
	SessionKey() SessionKey
}

// checkStoreKey refuses a store bound to a different session.
func checkStoreKey(store TokenStore, want SessionKey) error {
	ks, ok := store.(sessionKeyed)
	if !ok {
		return nil
	}
	got := ks.SessionKey()
	if got.TokenURL != want.TokenURL || got.ClientID != want.ClientID || got.ClientType != want.ClientType {
		return &ConfigError{Field: "Store", Reason: "is bound to session " + got.String() + ", not to this client's (" + want.String() + "); build its key with the config's SessionKey method", Err: ErrInvalidConfig}
	}
	return nil
}

// SessionKey returns the key of this client's session called name, for
// binding a shared store to it.
func (c TetheredConfig) SessionKey(name string) SessionKey {
	return SessionKey{TokenURL: c.Environment.UserTokenURL, ClientID: c.ClientID, ClientType: ClientTethered, Name: name}
}

// SessionKey returns the key of this client's session called name, for
// binding a shared store to it.
func (c UserConfig) SessionKey(name string) SessionKey {
	return SessionKey{TokenURL: c.Environment.UserTokenURL, ClientID: c.ClientID, ClientType: ClientUser, Name: name}
}

// SessionKey returns the key under which replicas share this client's
// access token, for binding a shared store to it.
func (c SystemConfig) SessionKey(name string) SessionKey {
	return SessionKey{TokenURL: c.Environment.SystemTokenURL, ClientID: c.ClientID, ClientType: ClientSystem, Name: name}
}

// SessionKey returns the key under which replicas share this client's
// access token, for binding a shared store to it.
func (c CustomerConfig) SessionKey(name string) SessionKey {
	return SessionKey{TokenURL: c.Environment.CustomerTokenURL, ClientID: c.ClientID, ClientType: ClientCustomer, Name: name}
}

// lockWait takes the lease of c, waiting while another holder has it. Each
// time the lease is busy it calls reread, which may end the wait by
// returning done (another holder saved what the caller needed). The wait
// ends with ctx.
func lockWait(ctx context.Context, c Coordinator, ttl time.Duration, reread func() (done bool, err error)) (Lease, error) {
	lease, _, err := lockWaitSince(ctx, c, ttl, reread)
	return lease, err
}

// lockWaitSince is lockWait that also returns when the successful TryLock
// was sent: the lease cannot end before that time plus its TTL.
func lockWaitSince(ctx context.Context, c Coordinator, ttl time.Duration, reread func() (done bool, err error)) (Lease, time.Time, error) {
	backoff := 5 * time.Millisecond
	for {
		sent := time.Now()
		lease, ok, err := c.TryLock(ctx, ttl)
		if err != nil {
			return nil, time.Time{}, err
		}
		if ok {
			return lease, sent, nil
		}
		done, err := reread()
		if err != nil || done {
			return nil, time.Time{}, err
		}
		t := time.NewTimer(jitter(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, time.Time{}, ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, 25*time.Millisecond)
	}
}

// jitter spreads retries of many replicas: d/2 to d.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// leaseTTL is the lease length for a client whose token requests are
// bounded by timeout (0: unbounded).
func (o Options) leaseTTL(timeout time.Duration) time.Duration {
	if o.LeaseTTL > 0 {
		return o.LeaseTTL
	}
	if timeout <= 0 {
		timeout = DefaultTokenTimeout
	}
	return timeout + 15*time.Second
}

// redeemBound is how long a redemption under a lease of ttl may take: it
// must end before the lease can, with room for the save.
func redeemBound(ttl time.Duration) time.Duration {
	return ttl - min(ttl/3, 10*time.Second)
}
