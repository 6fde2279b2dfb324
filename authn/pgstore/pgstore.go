// Package pgstore keeps pkb-go sessions in PostgreSQL, so that the replicas
// of a service share one PKB session: it implements [authn.Coordinator], the
// lease-and-compare-and-save contract with which authn's clients redeem each
// single-use refresh token exactly once however many processes share it,
// and share one client-credentials access token.
//
// It lives in its own module so that programs which do not use it never
// compile the PostgreSQL driver (github.com/jackc/pgx/v5).
//
// # Schema
//
// One table, pkb_token_sessions, defined in schema.sql (also [Schema]).
// Create it with [Migrate] at deploy time, or have your migration tool run
// the file; the store never creates it on its own, and reports a missing
// table with that advice. Each session is one row: the encoded token, a
// version bumped by every save, and a lease (owner and expiry, on the
// database's clock, so replicas' clocks do not matter).
//
// # Encryption at rest
//
// With Options.Keys set, the token column is an AES-256-GCM envelope
// ([authn.TokenCodec]) and never contains a token.
package pgstore

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
)

// Schema is the content of schema.sql.
//
//go:embed schema.sql
var Schema string

// DB is what the store needs of a connection: *pgxpool.Pool, *pgx.Conn and
// pgx.Tx have it. Use a pool: the store is called from many goroutines.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Migrate creates the table if it does not exist.
func Migrate(ctx context.Context, db DB) error {
	if _, err := db.Exec(ctx, Schema); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}

// Options configure a Store.
type Options struct {
	// Keys, if set, encrypts tokens at rest.
	Keys *authn.Keyring
}

// Store is the PostgreSQL store of one session. It is safe for concurrent
// use.
type Store struct {
	db      DB
	session authn.SessionKey
	id      string
	codec   authn.TokenCodec
}

// New returns the store of session in db. Build session with the client
// config's SessionKey method. Nothing is sent until the first call.
func New(db DB, session authn.SessionKey, opts Options) *Store {
	return &Store{db: db, session: session, id: session.ID(), codec: authn.TokenCodec{Keys: opts.Keys}}
}

// SessionKey returns the session the store is bound to.
func (s *Store) SessionKey() authn.SessionKey { return s.session }

// SessionID is the row's primary key.
func (s *Store) SessionID() string { return s.id }

// ErrNoTable means the table of schema.sql does not exist: run Migrate.
var ErrNoTable = errors.New("pgstore: table pkb_token_sessions does not exist; create it with pgstore.Migrate or schema.sql")

func wrap(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" {
		return fmt.Errorf("pgstore: %s: %w", op, ErrNoTable)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// Load returns the stored token, or nil.
func (s *Store) Load(ctx context.Context) (*oauth2.Token, error) {
	tok, _, err := s.LoadVersion(ctx)
	return tok, err
}

// LoadVersion returns the stored token and its version.
func (s *Store) LoadVersion(ctx context.Context) (*oauth2.Token, uint64, error) {
	var ver int64
	var b []byte
	err := s.db.QueryRow(ctx, `SELECT version, token FROM pkb_token_sessions WHERE session_id = $1 AND token IS NOT NULL`, s.id).Scan(&ver, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, wrap("load", err)
	}
	tok, err := s.codec.Decode(b, s.session)
	if err != nil {
		return nil, 0, fmt.Errorf("pgstore: load: %w", err)
	}
	return tok, uint64(ver), nil
}

// Save stores tok unconditionally (a new login) and bumps the version.
func (s *Store) Save(ctx context.Context, tok *oauth2.Token) error {
	b, err := s.codec.Encode(tok, s.session)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO pkb_token_sessions AS t (session_id, version, token) VALUES ($1, 1, $2)
ON CONFLICT (session_id) DO UPDATE SET version = t.version + 1, token = excluded.token, updated_at = now()`, s.id, b)
	if err != nil {
		return wrap("save", err)
	}
	return nil
}

// TryLock takes the lease if nobody holds it or its holder's has expired.
func (s *Store) TryLock(ctx context.Context, ttl time.Duration) (authn.Lease, bool, error) {
	if ttl < time.Millisecond {
		return nil, false, errors.New("pgstore: lease TTL must be at least 1 ms")
	}
	owner := rand.Text()
	var one int
	err := s.db.QueryRow(ctx, `INSERT INTO pkb_token_sessions AS t (session_id, lease_owner, lease_expires)
VALUES ($1, $2, now() + $3 * interval '1 millisecond')
ON CONFLICT (session_id) DO UPDATE SET lease_owner = excluded.lease_owner, lease_expires = excluded.lease_expires
WHERE t.lease_owner IS NULL OR t.lease_expires <= now()
RETURNING 1`, s.id, owner, ttl.Milliseconds()).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("lock", err)
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
	var ver int64
	if version == 0 {
		err = l.s.db.QueryRow(ctx, `INSERT INTO pkb_token_sessions AS t (session_id, version, token) VALUES ($1, 1, $2)
ON CONFLICT (session_id) DO UPDATE SET version = t.version + 1, token = excluded.token, updated_at = now()
WHERE t.version = 0
RETURNING version`, l.s.id, b).Scan(&ver)
	} else {
		err = l.s.db.QueryRow(ctx, `UPDATE pkb_token_sessions SET version = version + 1, token = $2, updated_at = now()
WHERE session_id = $1 AND version = $3
RETURNING version`, l.s.id, b, int64(version)).Scan(&ver)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("pgstore: the session was saved by another holder: %w", authn.ErrConflict)
	}
	if err != nil {
		return 0, wrap("save", err)
	}
	return uint64(ver), nil
}

// Release clears the lease if this holder still owns it.
func (l *lease) Release(ctx context.Context) error {
	_, err := l.s.db.Exec(ctx, `UPDATE pkb_token_sessions SET lease_owner = NULL, lease_expires = NULL WHERE session_id = $1 AND lease_owner = $2`, l.s.id, l.owner)
	if err != nil {
		return wrap("release", err)
	}
	return nil
}

var _ authn.Coordinator = (*Store)(nil)
