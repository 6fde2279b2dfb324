package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// TokenStore persists the token (above all the refresh token) of a user or
// tethered client. PKB refresh tokens are single-use, so the store is the
// only copy of the session that survives a restart: Save must not return
// until the token is durable.
//
// Load returns (nil, nil) when nothing has been saved. Implementations must
// be safe for concurrent use and must keep the granted scope
// ([GrantedScopes]) and the [OriginExtra] extra; the other extra fields of
// the token response may be dropped.
//
// A store that several clients, processes or replicas share must also
// implement [Coordinator], or two of them can redeem the same refresh
// token; FileStore and the authn/redisstore and authn/pgstore modules do.
type TokenStore interface {
	Load(ctx context.Context) (*oauth2.Token, error)
	Save(ctx context.Context, tok *oauth2.Token) error
}

// MemoryStore is a TokenStore that keeps the token in memory. A session held
// only here is lost when the process exits.
type MemoryStore struct {
	mu  sync.Mutex
	tok *oauth2.Token
}

// NewMemoryStore returns a MemoryStore holding tok, which may be nil.
func NewMemoryStore(tok *oauth2.Token) *MemoryStore {
	return &MemoryStore{tok: cloneToken(tok)}
}

// Load returns a copy of the stored token.
func (m *MemoryStore) Load(ctx context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneToken(m.tok), nil
}

// Save stores a copy of tok.
func (m *MemoryStore) Save(ctx context.Context, tok *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = cloneToken(tok)
	return nil
}

// FileStore is a TokenStore backed by one JSON file, readable only by its
// owner (0600, in a directory created 0700).
//
// Save writes a temporary file in the same directory, fsyncs it, renames it
// over the old file and fsyncs the directory, so a crash at any point leaves
// either the old or the new token, never a torn file and never neither: with
// single-use refresh tokens a half-written file would end the session.
//
// FileStore is a [Coordinator]: its lease is an exclusive flock(2) on a
// lock file beside the token file (path + ".lock", never deleted), held
// across load, redemption and save. Every client using the file, whether
// they share one *FileStore, use two FileStores on one path or run in
// different processes (two pkb commands), therefore redeems a refresh token
// only after seeing its predecessor's successor. The kernel drops the lock
// when its holder dies, so the lease TTL does not apply. On systems without
// flock (Windows) the lock only excludes clients in the same process. Do
// not put the file on a network file system whose flock is not shared
// between hosts; use a Redis or PostgreSQL store for replicas.
type FileStore struct {
	path string

	// beforeRename, if set, runs after the temporary file is durable and
	// before it replaces the old one; tests use it to simulate a crash.
	beforeRename func(tmp string) error
}

// NewFileStore returns a FileStore at path. Nothing is touched until the
// first Load, Save or TryLock.
func NewFileStore(path string) *FileStore {
	return &FileStore{path: path}
}

// Path returns the file the store uses.
func (f *FileStore) Path() string { return f.path }

// fileToken is the on-disk form. It exists because oauth2.Token does not
// serialise the granted scope, which Grant needs after a restart.
type fileToken struct {
	Version      int       `json:"version"`
	Generation   uint64    `json:"generation,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	ExpiresIn    int64     `json:"expires_in,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Origin       string    `json:"origin,omitempty"`
}

// Load reads the token; a missing file is (nil, nil).
func (f *FileStore) Load(ctx context.Context) (*oauth2.Token, error) {
	tok, _, err := f.LoadVersion(ctx)
	return tok, err
}

// LoadVersion reads the token and its generation, which every save
// increments. Reading needs no lock: the file is only ever replaced whole.
func (f *FileStore) LoadVersion(ctx context.Context) (*oauth2.Token, uint64, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("authn: read token file: %w", err)
	}
	var ft fileToken
	if err := json.Unmarshal(b, &ft); err != nil {
		// Deliberately not %w: a JSON syntax error can quote file content.
		return nil, 0, fmt.Errorf("authn: token file %s is not valid JSON", f.path)
	}
	if ft.Version != 1 {
		return nil, 0, fmt.Errorf("authn: token file %s has unsupported version %d", f.path, ft.Version)
	}
	tok := &oauth2.Token{
		AccessToken:  ft.AccessToken,
		TokenType:    ft.TokenType,
		RefreshToken: ft.RefreshToken,
		Expiry:       ft.Expiry,
		ExpiresIn:    ft.ExpiresIn,
	}
	tok = withStoredExtras(tok, ft.Scope, ft.Origin)
	// A file from before generations were recorded is generation 1, so
	// that it is distinguishable from no file at all.
	return tok, max(ft.Generation, 1), nil
}

// Save atomically replaces the file with tok, waiting for the lock (bounded
// by ctx) so that it never lands in the middle of another client's
// redemption.
func (f *FileStore) Save(ctx context.Context, tok *oauth2.Token) error {
	if tok == nil {
		return errors.New("authn: cannot save a nil token")
	}
	lease, err := lockWait(ctx, f, 0, func() (bool, error) { return false, nil })
	if err != nil {
		return fmt.Errorf("authn: lock token file: %w", err)
	}
	defer lease.Release(ctx)
	l := lease.(*fileLease)
	_, gen, err := f.LoadVersion(ctx)
	if err != nil {
		return err
	}
	return l.write(tok, gen+1)
}

// TryLock takes the flock of the lock file without waiting; ttl is not
// used, since the kernel releases the lock of a dead holder.
func (f *FileStore) TryLock(ctx context.Context, ttl time.Duration) (Lease, bool, error) {
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("authn: create token directory: %w", err)
	}
	lf, err := os.OpenFile(f.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("authn: open token lock file: %w", err)
	}
	ok, err := tryFlock(lf)
	if err != nil || !ok {
		lf.Close()
		if err != nil {
			return nil, false, fmt.Errorf("authn: lock token file: %w", err)
		}
		return nil, false, nil
	}
	return &fileLease{f: f, lock: lf}, true, nil
}

// fileLease is a held flock.
type fileLease struct {
	f    *FileStore
	mu   sync.Mutex
	lock *os.File // nil once released
}

// CompareAndSave replaces the file if its generation is still version.
func (l *fileLease) CompareAndSave(ctx context.Context, tok *oauth2.Token, version uint64) (uint64, error) {
	if tok == nil {
		return 0, errors.New("authn: cannot save a nil token")
	}
	l.mu.Lock()
	held := l.lock != nil
	l.mu.Unlock()
	if !held {
		return 0, errors.New("authn: token file lease already released")
	}
	_, gen, err := l.f.LoadVersion(ctx)
	if err != nil {
		return 0, err
	}
	if gen != version {
		return 0, fmt.Errorf("authn: token file generation is %d, not %d: %w", gen, version, ErrConflict)
	}
	if err := l.write(tok, gen+1); err != nil {
		return 0, err
	}
	return gen + 1, nil
}

func (l *fileLease) write(tok *oauth2.Token, gen uint64) error {
	ft := fileToken{
		Version:      1,
		Generation:   gen,
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
		ExpiresIn:    tok.ExpiresIn,
		Scope:        strings.Join(GrantedScopes(tok), " "),
		Origin:       originOf(tok),
	}
	b, err := json.MarshalIndent(ft, "", "  ")
	if err != nil {
		return fmt.Errorf("authn: encode token: %w", err)
	}
	return l.f.writeAtomic(append(b, '\n'))
}

// Release drops the flock.
func (l *fileLease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil {
		return nil
	}
	err := unflock(l.lock)
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	l.lock = nil
	return err
}

var _ Coordinator = (*FileStore)(nil)

func (f *FileStore) writeAtomic(b []byte) (err error) {
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("authn: create token directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("authn: create temporary token file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	// CreateTemp already uses 0600; Chmod makes it explicit and survives
	// any future change there.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("authn: chmod temporary token file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("authn: write temporary token file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("authn: sync temporary token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("authn: close temporary token file: %w", err)
	}
	if f.beforeRename != nil {
		if err := f.beforeRename(tmpName); err != nil {
			return err
		}
	}
	if err := os.Rename(tmpName, f.path); err != nil {
		return fmt.Errorf("authn: replace token file: %w", err)
	}
	// The rename is only durable once the directory entry is.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// withStoredExtras restores the token-response extras a store keeps: the
// granted scope, and the fingerprint of the configured refresh token that
// started the chain (so that a spent configured token is never presented
// again after a restart).
func withStoredExtras(tok *oauth2.Token, scope, origin string) *oauth2.Token {
	extra := map[string]any{}
	if scope != "" {
		extra["scope"] = scope
	}
	if origin != "" {
		extra[OriginExtra] = origin
	}
	if len(extra) == 0 {
		return tok
	}
	return tok.WithExtra(extra)
}
