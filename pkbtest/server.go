package pkbtest

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
)

// Endpoint names one of the server's routes by its PKB path.
type Endpoint string

const (
	// EndpointAuthorize is the User Client authorization endpoint.
	EndpointAuthorize Endpoint = "/apiAuthorize.action"
	// EndpointUserToken is the token endpoint of User and Tethered-Token
	// clients.
	EndpointUserToken Endpoint = "/apiToken.action"
	// EndpointSystemToken is the System Client (Spring) token endpoint.
	EndpointSystemToken Endpoint = "/api/oauth/token"
	// EndpointCustomerToken is the Customer System Client (Keycloak realm
	// "pkb") token endpoint.
	EndpointCustomerToken Endpoint = "/auth/realms/pkb/protocol/openid-connect/token"
)

// Endpoints lists every route the server serves.
var Endpoints = []Endpoint{EndpointAuthorize, EndpointUserToken, EndpointSystemToken, EndpointCustomerToken, EndpointCustomerCerts}

// Default access-token lifespans per client type (docs/pkb-api.md §3.2, §3.4, §3.5)
// and the default absolute session (refresh-token) lifespan.
const (
	// DefaultUserAccessTokenLifespan is PKB's documented 600 s.
	DefaultUserAccessTokenLifespan = 600 * time.Second
	// DefaultTetheredAccessTokenLifespan follows the User Client's.
	DefaultTetheredAccessTokenLifespan = 600 * time.Second
	// DefaultSystemAccessTokenLifespan is the Facade example's 3599 s.
	DefaultSystemAccessTokenLifespan = 3599 * time.Second
	// DefaultCustomerAccessTokenLifespan is the Keycloak example's 300 s.
	DefaultCustomerAccessTokenLifespan = 300 * time.Second
	// DefaultSessionLifespan is the absolute session lifespan (PKB's is
	// undocumented).
	DefaultSessionLifespan = 24 * time.Hour
)

// Approval decides what the user "behind" /apiAuthorize.action does, since
// the server has no UI.
type Approval struct {
	// UserID is the PKB user who approves; it becomes the Grant's UserID.
	// Empty means DefaultUserID.
	UserID string
	// Deny makes the user click Deny: the browser is redirected with
	// error=access_denied and the request's state.
	Deny bool
	// Scope is granted when the request has no scope parameter. Empty means
	// the client's first registered scope.
	Scope string
}

// Option configures NewAuthServer and StartAuthServer.
type Option func(*settings)

type settings struct {
	clients    []Client
	noDefaults bool
	approval   Approval
	lifespans  map[ClientType]time.Duration
	session    time.Duration
	baseURL    string
}

// WithClients registers extra clients (in addition to the seeded ones
// unless WithoutDefaultClients is also given). A client with a seeded id
// replaces the seeded one.
func WithClients(clients ...Client) Option {
	return func(s *settings) { s.clients = append(s.clients, clients...) }
}

// WithoutDefaultClients starts the server with no seeded clients.
func WithoutDefaultClients() Option {
	return func(s *settings) { s.noDefaults = true }
}

// WithApproval sets the initial Approval (see SetApproval).
func WithApproval(a Approval) Option {
	return func(s *settings) { s.approval = a }
}

// WithAccessTokenLifespan sets the initial access-token lifespan for one
// client type (see SetAccessTokenLifespan).
func WithAccessTokenLifespan(t ClientType, d time.Duration) Option {
	return func(s *settings) { s.lifespans[t] = d }
}

// WithSessionLifespan sets the absolute lifespan of user and tethered
// sessions, i.e. of their refresh tokens (see SetSessionLifespan).
func WithSessionLifespan(d time.Duration) Option {
	return func(s *settings) { s.session = d }
}

// WithBaseURL sets the URL the server is reachable at, for the URL helpers,
// when the server is mounted with Routes rather than started by
// StartAuthServer.
func WithBaseURL(u string) Option {
	return func(s *settings) { s.baseURL = strings.TrimRight(u, "/") }
}

// AuthServer is the offline PKB authorization server. It is an http.Handler
// serving the four PKB token routes; it is safe for concurrent use. Token
// requests, introspection and admin changes to sessions are serialised, so a
// concurrent double use of one refresh token is always detected as reuse.
type AuthServer struct {
	provider fosite.OAuth2Provider
	strategy *tokenStrategy
	store    *memStore
	mux      *http.ServeMux

	// flowMu serialises token issuance, introspection and admin changes to
	// sessions, so that refresh-token reuse is detected as PKB would even
	// when a client races two refreshes.
	flowMu sync.Mutex

	mu        sync.Mutex
	baseURL   string
	approval  Approval
	lifespans map[ClientType]time.Duration
	session   time.Duration
	faults    map[Endpoint]*Fault
	counts    map[Endpoint]int
	stats     *stats
}

var _ http.Handler = (*AuthServer)(nil)

// NewAuthServer builds a server with the seeded clients (see the package
// documentation) and the given options. It panics if an option registers an
// invalid client.
func NewAuthServer(opts ...Option) *AuthServer {
	st := settings{
		lifespans: map[ClientType]time.Duration{
			ClientTypeUser:     DefaultUserAccessTokenLifespan,
			ClientTypeTethered: DefaultTetheredAccessTokenLifespan,
			ClientTypeSystem:   DefaultSystemAccessTokenLifespan,
			ClientTypeCustomer: DefaultCustomerAccessTokenLifespan,
		},
		session: DefaultSessionLifespan,
	}
	for _, o := range opts {
		o(&st)
	}

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic(err)
	}
	cfg := &fosite.Config{
		AccessTokenLifespan:      DefaultUserAccessTokenLifespan,
		RefreshTokenLifespan:     st.session,
		AuthorizeCodeLifespan:    10 * time.Minute,
		GlobalSecret:             secret,
		ScopeStrategy:            fosite.ExactScopeStrategy,
		AudienceMatchingStrategy: fosite.DefaultAudienceMatchingStrategy,
		// PKB's authorize parameters do not include PKCE (docs/pkb-api.md
		// §3.2): a client without it must work, and one that sends S256
		// must still be checked.
		EnforcePKCE:                    false,
		EnablePKCEPlainChallengeMethod: false,
		RefreshTokenScopes:             []string{}, // always issue refresh tokens, no "offline" scope
		OmitRedirectScopeParam:         true,       // PKB's redirect carries code and state only
		ClientSecretsHasher:            plainHasher{},
		SendDebugMessagesToClients:     false,
	}
	store := newMemStore()
	strategy := &tokenStrategy{HMACSHAStrategy: compose.NewOAuth2HMACStrategy(cfg), realm: &realmKey{}}
	provider := compose.Compose(cfg, store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
	)

	s := &AuthServer{
		provider:  provider,
		strategy:  strategy,
		store:     store,
		mux:       http.NewServeMux(),
		baseURL:   st.baseURL,
		approval:  st.approval,
		lifespans: st.lifespans,
		session:   st.session,
		faults:    map[Endpoint]*Fault{},
		counts:    map[Endpoint]int{},
		stats:     newStats(),
	}
	var clients []Client
	if !st.noDefaults {
		clients = defaultClients()
	}
	clients = append(clients, st.clients...)
	for _, c := range clients {
		if err := s.RegisterClient(c); err != nil {
			panic(err)
		}
	}
	s.Routes(s.mux)
	return s
}

// StartAuthServer starts a NewAuthServer on an httptest server bound to
// 127.0.0.1 and closes it when the test ends. The URL helpers then return
// absolute URLs on that server.
func StartAuthServer(t testing.TB, opts ...Option) *AuthServer {
	t.Helper()
	s := NewAuthServer(opts...)
	ts := httptest.NewUnstartedServer(s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pkbtest: listen on 127.0.0.1: %v", err)
	}
	_ = ts.Listener.Close() // httptest's own listener, replaced to pin 127.0.0.1
	ts.Listener = l
	ts.Start()
	t.Cleanup(ts.Close)
	s.mu.Lock()
	s.baseURL = ts.URL
	s.mu.Unlock()
	return s
}

// Routes registers the PKB routes (the four token endpoints and the
// Keycloak realm's keys) on mux, so that a larger simulator
// can serve them next to its resource endpoints.
func (s *AuthServer) Routes(mux *http.ServeMux) {
	mux.Handle(string(EndpointAuthorize), s.instrument(EndpointAuthorize, http.HandlerFunc(s.handleAuthorize)))
	for _, ep := range []Endpoint{EndpointUserToken, EndpointSystemToken, EndpointCustomerToken} {
		mux.Handle(string(ep), s.instrument(ep, s.tokenHandler(ep)))
	}
	mux.Handle(string(EndpointCustomerCerts), s.instrument(EndpointCustomerCerts, http.HandlerFunc(s.handleCerts)))
}

// ServeHTTP serves the PKB routes; other paths get 404.
func (s *AuthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// URL returns the server's base URL ("" if it was neither started by
// StartAuthServer nor given WithBaseURL).
func (s *AuthServer) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// EndpointURL returns the absolute URL of ep.
func (s *AuthServer) EndpointURL(ep Endpoint) string { return s.URL() + string(ep) }

// AuthorizeURL returns the absolute URL of /apiAuthorize.action.
func (s *AuthServer) AuthorizeURL() string { return s.EndpointURL(EndpointAuthorize) }

// UserTokenURL returns the absolute URL of /apiToken.action.
func (s *AuthServer) UserTokenURL() string { return s.EndpointURL(EndpointUserToken) }

// SystemTokenURL returns the absolute URL of /api/oauth/token.
func (s *AuthServer) SystemTokenURL() string { return s.EndpointURL(EndpointSystemToken) }

// CustomerTokenURL returns the absolute URL of the Keycloak token endpoint.
func (s *AuthServer) CustomerTokenURL() string { return s.EndpointURL(EndpointCustomerToken) }

// RegisterClient adds or replaces a client. It takes effect immediately.
func (s *AuthServer) RegisterClient(c Client) error {
	fc, err := s.newFositeClient(c)
	if err != nil {
		return err
	}
	s.store.setClient(fc)
	return nil
}

// SetApproval sets what the (UI-less) user does at /apiAuthorize.action.
func (s *AuthServer) SetApproval(a Approval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approval = a
}

func (s *AuthServer) currentApproval() Approval {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.approval
	if a.UserID == "" {
		a.UserID = DefaultUserID
	}
	return a
}

// SetAccessTokenLifespan sets the lifespan of access tokens issued from now
// on to clients of type t (expires_in reports it in whole seconds). Use a
// short lifespan, or ExpireAccessToken, to test expiry.
func (s *AuthServer) SetAccessTokenLifespan(t ClientType, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifespans[t] = d
}

func (s *AuthServer) accessLifespan(t ClientType) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lifespans[t]
}

// SetSessionLifespan sets the absolute lifespan of sessions (refresh
// tokens) started from now on; refreshing does not extend a session. A
// refresh after it gives API_SESSION_EXPIRED.
func (s *AuthServer) SetSessionLifespan(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session = d
}

func (s *AuthServer) sessionLifespan() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.session
}

// String returns the endpoint's path.
func (ep Endpoint) String() string { return string(ep) }

func (s *AuthServer) mustClient(id string) (*pkbClient, error) {
	c, ok := s.store.client(id)
	if !ok {
		return nil, fmt.Errorf("pkbtest: unknown client %q", id)
	}
	return c, nil
}
