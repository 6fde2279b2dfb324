package pkbtest

import (
	"context"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/storage"
)

// memStore extends fosite's in-memory store with a client registry that can
// change while the server runs, and with the bookkeeping PKB's error codes
// need: which grant (session) each token signature belongs to, which
// sessions were invalidated and which access tokens were revoked one by one.
type memStore struct {
	*storage.MemoryStore

	mu      sync.Mutex
	clients map[string]*pkbClient
	atReq   map[string]string    // access-token signature -> request (session) id
	rtReq   map[string]string    // refresh-token signature -> request (session) id
	killed  map[string]bool      // session id -> invalidated (API_SESSION_INVALID)
	revoked map[string]bool      // access-token signature -> revoked on its own
	sessExp map[string]time.Time // session id -> absolute session expiry
}

func newMemStore() *memStore {
	return &memStore{
		MemoryStore: storage.NewMemoryStore(),
		clients:     map[string]*pkbClient{},
		atReq:       map[string]string{},
		rtReq:       map[string]string{},
		killed:      map[string]bool{},
		revoked:     map[string]bool{},
		sessExp:     map[string]time.Time{},
	}
}

func (m *memStore) setClient(c *pkbClient) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.clients[c.GetID()] = c
}

func (m *memStore) client(id string) (*pkbClient, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	return c, ok
}

// GetClient overrides MemoryStore.GetClient with the server's registry.
func (m *memStore) GetClient(_ context.Context, id string) (fosite.Client, error) {
	if c, ok := m.client(id); ok {
		return c, nil
	}
	return nil, fosite.ErrNotFound
}

// CreateAccessTokenSession records which session the token belongs to.
func (m *memStore) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	m.mu.Lock()
	m.atReq[signature] = req.GetID()
	m.mu.Unlock()
	return m.MemoryStore.CreateAccessTokenSession(ctx, signature, req)
}

// CreateRefreshTokenSession records which session the token belongs to.
func (m *memStore) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	m.mu.Lock()
	m.rtReq[signature] = req.GetID()
	if exp := req.GetSession().GetExpiresAt(fosite.RefreshToken); !exp.IsZero() {
		m.sessExp[req.GetID()] = exp
	}
	m.mu.Unlock()
	return m.MemoryStore.CreateRefreshTokenSession(ctx, signature, accessSignature, req)
}

func (m *memStore) sessionOfAccess(sig string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.atReq[sig]
	return id, ok
}

func (m *memStore) sessionOfRefresh(sig string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.rtReq[sig]
	return id, ok
}

func (m *memStore) kill(sessionID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.killed[sessionID] = true
}

func (m *memStore) isKilled(sessionID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.killed[sessionID]
}

// sessionExpired reports whether the session reached its absolute expiry.
func (m *memStore) sessionExpired(sessionID string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.sessExp[sessionID]
	return ok && !now.Before(exp)
}

func (m *memStore) expireSession(sessionID string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessExp[sessionID] = at
}

func (m *memStore) markRevoked(accessSig string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revoked[accessSig] = true
}

func (m *memStore) isRevoked(accessSig string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revoked[accessSig]
}
