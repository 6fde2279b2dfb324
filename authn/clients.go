package authn

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/pkbgo/pkb/internal/loopback"
	"github.com/pkbgo/pkb/internal/redact"
)

// checkURL applies the rule API base URLs follow to the URLs credentials
// are sent to: https, or plain http only to a loopback host (a local
// simulator or test server), with no user information, whose credentials
// net/http would send as Basic authentication, and no fragment. Errors name
// the field, never the URL, which may hold a password.
func checkURL(field, s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return &ConfigError{Field: field, Reason: "must be an absolute https URL", Err: ErrInvalidConfig}
	}
	switch {
	case u.User != nil:
		return &ConfigError{Field: field, Reason: "must not contain credentials", Err: ErrInvalidConfig}
	case u.Fragment != "" || strings.Contains(s, "#"):
		return &ConfigError{Field: field, Reason: "must not contain a fragment", Err: ErrInvalidConfig}
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback.Host(u.Hostname()):
	default:
		return &ConfigError{Field: field, Reason: "must use https (plain http only to a loopback host)", Err: ErrInvalidConfig}
	}
	return nil
}

func checkRequired(field, v string) error {
	if v == "" {
		return &ConfigError{Field: field, Reason: "is required", Err: ErrInvalidConfig}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// SystemConfig configures a System Client, which calls the Facade and
// Messaging FHIR APIs for an organisation with no person logged in.
type SystemConfig struct {
	// ClientID and ClientSecret are issued by PKB.
	ClientID string
	// ClientSecret never appears in errors, even if the server echoes it.
	ClientSecret string
	// Environment supplies SystemTokenURL.
	Environment Environment
	// Store, if set, shares the access token with the other replicas that
	// use the same store and session key (see SystemConfig.SessionKey): they
	// reuse it while it is fresh and one of them fetches the next. Nil
	// means every process fetches its own.
	Store TokenStore
	Options
}

// SystemSource obtains System Client tokens by repeating the
// client-credentials grant; PKB never issues these clients a refresh token.
type SystemSource struct {
	env    Environment
	ident  clientIdent
	cache  *Cache
	shared *sharedCC
}

// NewSystemSource validates cfg without I/O. Credentials are sent with HTTP
// Basic as PKB documents, and no scope is sent because PKB documents scopes
// as unsupported there (docs/pkb-api.md §6.6).
func NewSystemSource(cfg SystemConfig) (*SystemSource, error) {
	if err := firstErr(
		checkRequired("ClientID", cfg.ClientID),
		checkRequired("ClientSecret", cfg.ClientSecret),
		checkURL("Environment.SystemTokenURL", cfg.Environment.SystemTokenURL),
	); err != nil {
		return nil, err
	}
	ep := &endpoint{hc: cfg.tokenHTTPClient(), now: cfg.now(), reauth: "ask PKB to re-enable the system client"}
	cc := &clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.Environment.SystemTokenURL,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	red := redact.New().WithBasic(cfg.ClientID, cfg.ClientSecret)
	c := &SystemSource{env: cfg.Environment, ident: clientIdent{ClientSystem, cfg.ClientID, cfg.Environment.SystemTokenURL}}
	fetch := func(ctx context.Context) (*oauth2.Token, error) {
		return ep.do(ctx, red, "", cc.Token)
	}
	var err error
	if c.cache, c.shared, err = newCCCache(fetch, cfg.Store, cfg.SessionKey(""), ep.hc.Timeout, cfg.Options); err != nil {
		return nil, err
	}
	return c, nil
}

// newCCCache returns the cache of a client-credentials client, sharing its
// tokens through store if one is set.
func newCCCache(fetch func(context.Context) (*oauth2.Token, error), store TokenStore, key SessionKey, timeout time.Duration, opts Options) (*Cache, *sharedCC, error) {
	if store == nil {
		return NewCache(fetch, opts), nil, nil
	}
	if err := checkStoreKey(store, key); err != nil {
		return nil, nil, err
	}
	s := &sharedCC{store: store, fetch: fetch, early: opts.early(), ttl: opts.leaseTTL(timeout), now: opts.now(), log: opts.logger(), key: key}
	s.coord, _ = store.(Coordinator)
	return NewCache(s.Token, opts), s, nil
}

// Token returns a cached or new access token.
func (c *SystemSource) Token(ctx context.Context) (*oauth2.Token, error) { return c.cache.Token(ctx) }

// Invalidate drops the cached token if it is still accessToken, and stops
// taking it from a shared store.
func (c *SystemSource) Invalidate(accessToken string) bool {
	if c.shared != nil {
		c.shared.reject(accessToken)
	}
	return c.cache.Invalidate(accessToken)
}

// Grant reports ClientSystem and no scopes: PKB's System Client scope field
// is either "none" or an opaque "<org>-all" and carries no permission the
// wrappers can check (docs/pkb-api.md §6.6), so it is ignored.
func (c *SystemSource) Grant() (ClientType, []string) { return ClientSystem, nil }

// Environment returns the environment of the source's configuration.
func (c *SystemSource) Environment() Environment { return c.env }

// CustomerConfig configures a Customer System Client, which calls the
// Customer and Aggregated FHIR APIs.
type CustomerConfig struct {
	// ClientID and ClientSecret are issued by PKB.
	ClientID string
	// ClientSecret never appears in errors, even if the server echoes it.
	ClientSecret string
	// Environment supplies CustomerTokenURL.
	Environment Environment
	// Scopes are sent only if set; PKB documents none.
	Scopes []string
	// AuthStyle is how the secret is sent. Zero means
	// oauth2.AuthStyleInParams (form fields), which is what PKB's Keycloak
	// example shows; oauth2.AuthStyleInHeader also works with Keycloak.
	// Auto-detection is never used because it sends the secret twice.
	AuthStyle oauth2.AuthStyle
	// Store, if set, shares the access token with the other replicas that
	// use the same store and session key (see CustomerConfig.SessionKey).
	// Nil means every process fetches its own.
	Store TokenStore
	Options
}

// CustomerSource obtains Customer System Client tokens by repeating the
// client-credentials grant.
type CustomerSource struct {
	env    Environment
	ident  clientIdent
	cache  *Cache
	shared *sharedCC
	scopes []string
}

// NewCustomerSource validates cfg without I/O.
func NewCustomerSource(cfg CustomerConfig) (*CustomerSource, error) {
	if err := firstErr(
		checkRequired("ClientID", cfg.ClientID),
		checkRequired("ClientSecret", cfg.ClientSecret),
		checkURL("Environment.CustomerTokenURL", cfg.Environment.CustomerTokenURL),
	); err != nil {
		return nil, err
	}
	style := cfg.AuthStyle
	if style == oauth2.AuthStyleAutoDetect {
		style = oauth2.AuthStyleInParams
	}
	ep := &endpoint{hc: cfg.tokenHTTPClient(), now: cfg.now(), reauth: "ask PKB to re-enable the customer client"}
	cc := &clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.Environment.CustomerTokenURL,
		Scopes:       slices.Clone(cfg.Scopes),
		AuthStyle:    style,
	}
	red := redact.New().WithBasic(cfg.ClientID, cfg.ClientSecret)
	c := &CustomerSource{env: cfg.Environment, ident: clientIdent{ClientCustomer, cfg.ClientID, cfg.Environment.CustomerTokenURL}, scopes: slices.Clone(cfg.Scopes)}
	fetch := func(ctx context.Context) (*oauth2.Token, error) {
		return ep.do(ctx, red, "", cc.Token)
	}
	var err error
	if c.cache, c.shared, err = newCCCache(fetch, cfg.Store, cfg.SessionKey(""), ep.hc.Timeout, cfg.Options); err != nil {
		return nil, err
	}
	return c, nil
}

// Token returns a cached or new access token.
func (c *CustomerSource) Token(ctx context.Context) (*oauth2.Token, error) {
	return c.cache.Token(ctx)
}

// Invalidate drops the cached token if it is still accessToken, and stops
// taking it from a shared store.
func (c *CustomerSource) Invalidate(accessToken string) bool {
	if c.shared != nil {
		c.shared.reject(accessToken)
	}
	return c.cache.Invalidate(accessToken)
}

// Grant reports ClientCustomer with the granted scopes of the cached token,
// or the configured scopes if none is cached.
func (c *CustomerSource) Grant() (ClientType, []string) {
	if s := GrantedScopes(c.cache.Cached()); s != nil {
		return ClientCustomer, s
	}
	return ClientCustomer, slices.Clone(c.scopes)
}

// Environment returns the environment of the source's configuration.
func (c *CustomerSource) Environment() Environment { return c.env }

// TetheredConfig configures a Tethered-Token System Client, which calls the
// legacy REST API with the rights a Team Coordinator delegated to it.
type TetheredConfig struct {
	// ClientID and ClientSecret are the REST API client credentials.
	ClientID string
	// ClientSecret never appears in errors, even if the server echoes it.
	ClientSecret string
	// Environment supplies UserTokenURL (apiToken.action).
	Environment Environment
	// RefreshToken is the token the Team Coordinator handed over. It is
	// used only if Store is empty, or once if the stored session turns out
	// to be dead (the coordinator issued a new one). It may be empty if the
	// store already holds a session.
	//
	// Refresh tokens are single-use: once this one has been presented, or
	// has started the session in the store, it is spent and never
	// presented again; when that session ends, Token fails with
	// ErrReauthorize and a hint to configure a new one. Every token of a
	// session started from it carries the extra field "pkbgo_origin" (a
	// one-way fingerprint), which is how other clients on the store and the
	// same configuration after a restart know; a TokenStore that drops the
	// field loses that knowledge across restarts.
	RefreshToken string
	// Store persists each rotated refresh token. Nil means an in-memory
	// store, which loses the session (and needs a new token from the
	// coordinator) whenever the process restarts.
	Store TokenStore
	// AuthStyle is how the secret is sent to apiToken.action. PKB does not
	// document it (docs/pkb-api.md §6.3); zero means oauth2.AuthStyleInHeader, which
	// RFC 6749 requires servers to support. Auto-detection is never used
	// because its retry would present the single-use refresh token twice.
	AuthStyle oauth2.AuthStyle
	Options
}

// TetheredSource redeems and rotates a tethered refresh token.
type TetheredSource struct {
	env   Environment
	ident clientIdent
	cache *Cache
	rot   *rotator
}

// NewTetheredSource validates cfg without I/O; the refresh token is first
// redeemed by the first Token call.
//
// ASSUMPTION (docs/pkb-api.md §3.3): the request is grant_type=refresh_token with
// scope=SITE at apiToken.action, and each response carries a new,
// single-use refresh token.
func NewTetheredSource(cfg TetheredConfig) (*TetheredSource, error) {
	if err := firstErr(
		checkRequired("ClientID", cfg.ClientID),
		checkRequired("ClientSecret", cfg.ClientSecret),
		checkURL("Environment.UserTokenURL", cfg.Environment.UserTokenURL),
	); err != nil {
		return nil, err
	}
	if cfg.RefreshToken == "" && cfg.Store == nil {
		return nil, &ConfigError{Field: "RefreshToken", Reason: "is required when there is no Store", Err: ErrInvalidConfig}
	}
	style := cfg.AuthStyle
	if style == oauth2.AuthStyleAutoDetect {
		style = oauth2.AuthStyleInHeader
	}
	store := cfg.Store
	if store == nil {
		store = NewMemoryStore(nil)
	}
	ep := &endpoint{hc: cfg.tokenHTTPClient(), now: cfg.now(),
		reauth: "the Team Coordinator must authorise again by issuing a new refresh token (Institution tab, REST API access)"}
	if err := checkStoreKey(store, cfg.SessionKey("")); err != nil {
		return nil, err
	}
	rot := &rotator{
		store:      store,
		ttl:        cfg.leaseTTL(ep.hc.Timeout),
		early:      cfg.early(),
		now:        cfg.now(),
		reauth:     ep.reauth,
		secrets:    func() []string { return []string{cfg.ClientSecret, cfg.RefreshToken} },
		configured: cfg.RefreshToken,
		fallbackRT: cfg.RefreshToken,
	}
	rot.coord, _ = store.(Coordinator)
	if cfg.RefreshToken != "" {
		rot.current = &oauth2.Token{RefreshToken: cfg.RefreshToken}
	}
	rot.redeem = func(ctx context.Context, rt, origin string) (*oauth2.Token, error) {
		cc := &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     cfg.Environment.UserTokenURL,
			Scopes:       []string{ScopeSite},
			// clientcredentials lets grant_type be overridden precisely for
			// grants like this one, and unlike oauth2.Config's refresher it
			// sends the scope.
			EndpointParams: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}},
			AuthStyle:      style,
		}
		red := redact.New(rt, cfg.RefreshToken).WithBasic(cfg.ClientID, cfg.ClientSecret)
		return ep.do(ctx, red, origin, cc.Token)
	}
	c := &TetheredSource{env: cfg.Environment, ident: clientIdent{ClientTethered, cfg.ClientID, cfg.Environment.UserTokenURL}, rot: rot}
	c.cache = NewCache(rot.fetch, cfg.Options)
	return c, nil
}

// Token returns a cached access token, or redeems the refresh token, saves
// its successor and then returns the new access token.
func (c *TetheredSource) Token(ctx context.Context) (*oauth2.Token, error) {
	return c.cache.Token(ctx)
}

// Invalidate drops the cached token if it is still accessToken; the next
// Token call redeems the refresh token.
func (c *TetheredSource) Invalidate(accessToken string) bool {
	c.rot.reject(accessToken)
	return c.cache.Invalidate(accessToken)
}

// Grant reports ClientTethered with the granted scopes of the cached token,
// or SITE if none is cached.
func (c *TetheredSource) Grant() (ClientType, []string) {
	if s := GrantedScopes(c.cache.Cached()); s != nil {
		return ClientTethered, s
	}
	if s := c.rot.scopes(); s != nil {
		return ClientTethered, s
	}
	return ClientTethered, []string{ScopeSite}
}

// Environment returns the environment of the source's configuration.
func (c *TetheredSource) Environment() Environment { return c.env }

var (
	_ Source = (*SystemSource)(nil)
	_ Source = (*CustomerSource)(nil)
	_ Source = (*TetheredSource)(nil)
	_ Source = (*UserSource)(nil)
)
