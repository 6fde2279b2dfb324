// Package redisstore keeps pkb-go sessions in Redis (or Valkey), so that the
// replicas of a service share one PKB session: it implements
// [authn.Coordinator], the lease-and-compare-and-save contract with which
// authn's clients redeem each single-use refresh token exactly once however
// many processes share it, and share one client-credentials access token.
//
// It lives in its own module so that programs which do not use it never
// compile the Redis driver (github.com/redis/go-redis/v9).
//
// # Keys
//
// Each session has two keys, PREFIX:{ID}:token (a hash: the version and the
// encoded token) and PREFIX:{ID}:lease (the current holder's random owner
// token, with the lease's TTL). ID is [authn.SessionKey.ID], a hash with no
// client id or URL in it; the braces are a Redis Cluster hash tag, so both
// keys of a session live in one slot. The lease is taken with SET NX PX and
// released by a script only by its owner; compare-and-save is a script
// that compares the version. Redis 7 or later (or Valkey).
//
// # Durability
//
// The store is the only copy of a rotated refresh token. Run Redis with
// append-only persistence (appendonly yes, appendfsync always or everysec)
// and, with replicas, consider WAIT; a Redis that loses its data loses the
// session, and a Team Coordinator must issue a new refresh token.
//
// # Encryption at rest
//
// With Options.Keys set, the stored value is an AES-256-GCM envelope
// ([authn.TokenCodec]) and never contains a token.
package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
)

// Client is what the store needs of a go-redis client: *redis.Client,
// *redis.ClusterClient, *redis.Ring and redis.UniversalClient all have it.
type Client interface {
	redis.Cmdable
	redis.Scripter
}

// Options configure a Store.
type Options struct {
	// Prefix starts every key; empty means "pkb".
	Prefix string
	// Keys, if set, encrypts tokens at rest.
	Keys *authn.Keyring
}

// Store is the Redis store of one session. It is safe for concurrent use.
type Store struct {
	rdb      Client
	session  authn.SessionKey
	codec    authn.TokenCodec
	tokenKey string
	leaseKey string
}

// New returns the store of session on rdb. Build session with the client
// config's SessionKey method, e.g. cfg.SessionKey("default"). Nothing is
// sent to Redis until the first call.
func New(rdb Client, session authn.SessionKey, opts Options) *Store {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "pkb"
	}
	base := prefix + ":{" + session.ID() + "}:"
	return &Store{rdb: rdb, session: session, codec: authn.TokenCodec{Keys: opts.Keys}, tokenKey: base + "token", leaseKey: base + "lease"}
}

// SessionKey returns the session the store is bound to.
func (s *Store) SessionKey() authn.SessionKey { return s.session }

// TokenKey and LeaseKey return the Redis keys of the session.
func (s *Store) TokenKey() string { return s.tokenKey }

// LeaseKey returns the key of the session's lease.
func (s *Store) LeaseKey() string { return s.leaseKey }

var (
	saveScript = redis.NewScript(`
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'd', ARGV[1])
return v`)
	casScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v')
if cur == false then cur = '0' end
if cur ~= ARGV[2] then return -1 end
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 'd', ARGV[1])
return v`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// Load returns the stored token, or nil.
func (s *Store) Load(ctx context.Context) (*oauth2.Token, error) {
	tok, _, err := s.LoadVersion(ctx)
	return tok, err
}

// LoadVersion returns the stored token and its version.
func (s *Store) LoadVersion(ctx context.Context) (*oauth2.Token, uint64, error) {
	vals, err := s.rdb.HMGet(ctx, s.tokenKey, "v", "d").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: load: %w", err)
	}
	vs, _ := vals[0].(string)
	d, _ := vals[1].(string)
	if vs == "" || d == "" {
		return nil, 0, nil
	}
	ver, err := strconv.ParseUint(vs, 10, 64)
	if err != nil {
		return nil, 0, errors.New("redisstore: load: the stored version is not a number")
	}
	tok, err := s.codec.Decode([]byte(d), s.session)
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: load: %w", err)
	}
	return tok, ver, nil
}

// Save stores tok unconditionally (a new login) and bumps the version.
func (s *Store) Save(ctx context.Context, tok *oauth2.Token) error {
	b, err := s.codec.Encode(tok, s.session)
	if err != nil {
		return err
	}
	if err := saveScript.Run(ctx, s.rdb, []string{s.tokenKey}, b).Err(); err != nil {
		return fmt.Errorf("redisstore: save: %w", err)
	}
	return nil
}

// TryLock takes the lease with SET NX PX.
func (s *Store) TryLock(ctx context.Context, ttl time.Duration) (authn.Lease, bool, error) {
	if ttl < time.Millisecond {
		return nil, false, errors.New("redisstore: lease TTL must be at least 1 ms")
	}
	owner := rand.Text()
	ok, err := s.rdb.SetNX(ctx, s.leaseKey, owner, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: lock: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	return &lease{s: s, owner: owner}, true, nil
}

type lease struct {
	s     *Store
	owner string
}

// CompareAndSave stores tok if the version is still version.
func (l *lease) CompareAndSave(ctx context.Context, tok *oauth2.Token, version uint64) (uint64, error) {
	b, err := l.s.codec.Encode(tok, l.s.session)
	if err != nil {
		return 0, err
	}
	v, err := casScript.Run(ctx, l.s.rdb, []string{l.s.tokenKey}, b, strconv.FormatUint(version, 10)).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: save: %w", err)
	}
	if v < 0 {
		return 0, fmt.Errorf("redisstore: the session was saved by another holder: %w", authn.ErrConflict)
	}
	return uint64(v), nil
}

// Release deletes the lease if this holder still owns it.
func (l *lease) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.s.rdb, []string{l.s.leaseKey}, l.owner).Err(); err != nil {
		return fmt.Errorf("redisstore: release: %w", err)
	}
	return nil
}

var _ authn.Coordinator = (*Store)(nil)
