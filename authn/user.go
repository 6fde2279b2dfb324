package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/url"
	"slices"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/internal/redact"
)

// UserConfig configures a User Client, which acts for a PKB user who
// approved it in a browser.
type UserConfig struct {
	// ClientID and ClientSecret are the REST API client credentials. The
	// secret may be empty for public clients, which then rely on PKCE.
	ClientID string
	// ClientSecret never appears in errors, even if the server echoes it.
	ClientSecret string
	// Environment supplies UserAuthorizeURL and UserTokenURL.
	Environment Environment
	// RedirectURL must be registered with PKB. It may be empty if exactly
	// one is registered. LoginLoopback replaces it.
	RedirectURL string
	// Scope is the user type to request: ScopePatient, ScopeClinician,
	// ScopeTeamCoord, or empty to let PKB accept any type enabled for the
	// client. What PKB grants is what counts; see GrantedScopes.
	Scope string
	// Store persists the session. Nil means an in-memory store, so the user
	// has to log in again after every restart.
	Store TokenStore
	// AuthStyle is how the secret is sent to apiToken.action. PKB does not
	// document it (docs/pkb-api.md §6.3); zero means oauth2.AuthStyleInHeader, which
	// RFC 6749 requires servers to support. Auto-detection is never used
	// because its retry would present a single-use code or refresh token
	// twice.
	AuthStyle oauth2.AuthStyle
	Options
}

// UserSource runs the authorization-code flow with PKCE and then keeps the
// session alive by rotating the refresh token through the TokenStore.
type UserSource struct {
	cfg   UserConfig
	style oauth2.AuthStyle
	ep    *endpoint
	cache *Cache
	rot   *rotator
}

var userScopes = []string{ScopePatient, ScopeClinician, ScopeTeamCoord}

// NewUserSource validates cfg without I/O. If cfg.Store already holds a
// session, Token uses it and no login is needed.
func NewUserSource(cfg UserConfig) (*UserSource, error) {
	if err := firstErr(
		checkRequired("ClientID", cfg.ClientID),
		checkURL("Environment.UserAuthorizeURL", cfg.Environment.UserAuthorizeURL),
		checkURL("Environment.UserTokenURL", cfg.Environment.UserTokenURL),
	); err != nil {
		return nil, err
	}
	if cfg.RedirectURL != "" {
		if u, err := url.Parse(cfg.RedirectURL); err != nil || !u.IsAbs() {
			return nil, &ConfigError{Field: "RedirectURL", Reason: "must be an absolute URL", Err: ErrInvalidConfig}
		}
	}
	if cfg.Scope != "" && !slices.Contains(userScopes, cfg.Scope) {
		return nil, &ConfigError{Field: "Scope", Reason: fmt.Sprintf("%q is not one of PATIENT, CLINICIAN, TEAMCOORD", cfg.Scope), Err: ErrInvalidScope}
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore(nil)
	}
	c := &UserSource{cfg: cfg, style: cfg.AuthStyle}
	if c.style == oauth2.AuthStyleAutoDetect {
		c.style = oauth2.AuthStyleInHeader
	}
	c.ep = &endpoint{hc: cfg.tokenHTTPClient(), now: cfg.now(),
		reauth: "the user must authorise again: run the authorization-code login"}
	if err := checkStoreKey(cfg.Store, cfg.SessionKey("")); err != nil {
		return nil, err
	}
	c.rot = &rotator{
		store:   cfg.Store,
		ttl:     cfg.leaseTTL(c.ep.hc.Timeout),
		early:   cfg.early(),
		now:     cfg.now(),
		reauth:  c.ep.reauth,
		secrets: func() []string { return []string{cfg.ClientSecret} },
		redeem:  c.refresh,
	}
	c.rot.coord, _ = cfg.Store.(Coordinator)
	c.cache = NewCache(c.rot.fetch, cfg.Options)
	return c, nil
}

func (c *UserSource) oauthConfig(redirect string) *oauth2.Config {
	var scopes []string
	if c.cfg.Scope != "" {
		scopes = []string{c.cfg.Scope}
	}
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.cfg.Environment.UserAuthorizeURL,
			TokenURL:  c.cfg.Environment.UserTokenURL,
			AuthStyle: c.style,
		},
		RedirectURL: redirect,
		Scopes:      scopes,
	}
}

func (c *UserSource) refresh(ctx context.Context, rt, origin string) (*oauth2.Token, error) {
	red := redact.New(rt).WithBasic(c.cfg.ClientID, c.cfg.ClientSecret)
	conf := c.oauthConfig("")
	return c.ep.do(ctx, red, origin, func(ctx context.Context) (*oauth2.Token, error) {
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	})
}

// PendingAuth is what must survive between sending the user to PKB and
// handling the callback: in a web app, keep it in the server-side session,
// never in a URL or an unencrypted cookie, because the verifier is what
// stops a stolen code from being redeemed.
type PendingAuth struct {
	// State is the random anti-CSRF value sent to PKB.
	State string
	// Verifier is the PKCE code verifier. Secret.
	Verifier string
	// RedirectURL is the redirect URI the code is bound to.
	RedirectURL string
}

// String omits the verifier so that logging a PendingAuth is safe.
func (p PendingAuth) String() string {
	return fmt.Sprintf("PendingAuth{State:%q Verifier:%s RedirectURL:%q}", p.State, redact.Marker, p.RedirectURL)
}

// GoString omits the verifier, for %#v.
func (p PendingAuth) GoString() string { return "authn." + p.String() }

// AuthCodeURL returns the URL to send the user's browser to, and the
// PendingAuth to keep until the callback. Each call makes a fresh state and
// PKCE verifier (S256). opts add query parameters.
func (c *UserSource) AuthCodeURL(opts ...oauth2.AuthCodeOption) (string, *PendingAuth) {
	return c.authCodeURL(c.cfg.RedirectURL, opts...)
}

func (c *UserSource) authCodeURL(redirect string, opts ...oauth2.AuthCodeOption) (string, *PendingAuth) {
	p := &PendingAuth{State: rand.Text(), Verifier: oauth2.GenerateVerifier(), RedirectURL: redirect}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(p.Verifier)}, opts...)
	return c.oauthConfig(redirect).AuthCodeURL(p.State, opts...), p
}

// Exchange checks the callback query against pending and redeems the code.
// The new token is saved to the store before it is returned; if that fails
// the error wraps ErrNotPersisted and the session stays in memory.
//
// A callback whose state does not match yields a *CallbackError wrapping
// ErrStateMismatch, and nothing else in it is trusted. A matching callback
// carrying error=access_denied wraps ErrAccessDenied.
func (c *UserSource) Exchange(ctx context.Context, pending *PendingAuth, callback url.Values) (*oauth2.Token, error) {
	if pending == nil || pending.State == "" || pending.Verifier == "" {
		return nil, &CallbackError{Code: "state_mismatch", Description: "no pending authorization", kind: ErrStateMismatch}
	}
	if subtle.ConstantTimeCompare([]byte(callback.Get("state")), []byte(pending.State)) != 1 {
		return nil, &CallbackError{Code: "state_mismatch", kind: ErrStateMismatch}
	}
	code := callback.Get("code")
	red := redact.New(code, pending.Verifier).WithBasic(c.cfg.ClientID, c.cfg.ClientSecret)
	if e := callback.Get("error"); e != "" {
		ce := &CallbackError{Code: line(red, e), Description: line(red, callback.Get("error_description"))}
		if e == "access_denied" {
			ce.kind = ErrAccessDenied
		}
		return nil, ce
	}
	if code == "" {
		return nil, &CallbackError{Code: "missing_code", Description: "the callback has neither code nor error"}
	}
	conf := c.oauthConfig(pending.RedirectURL)
	tok, err := c.ep.do(ctx, red, "", func(ctx context.Context) (*oauth2.Token, error) {
		return conf.Exchange(ctx, code, oauth2.VerifierOption(pending.Verifier))
	})
	if err != nil {
		return nil, err
	}
	saved, err := c.rot.adopt(ctx, tok)
	if err != nil {
		return nil, err
	}
	c.cache.set(saved, c.cfg.now()())
	return cloneToken(saved), nil
}

// Token returns a cached access token, or redeems the refresh token, saves
// its successor and returns the new access token. Before any login it fails
// with ErrReauthorize without I/O.
func (c *UserSource) Token(ctx context.Context) (*oauth2.Token, error) {
	return c.cache.Token(ctx)
}

// Invalidate drops the cached token if it is still accessToken; the next
// Token call redeems the refresh token.
func (c *UserSource) Invalidate(accessToken string) bool {
	c.rot.reject(accessToken)
	return c.cache.Invalidate(accessToken)
}

// Environment returns the environment of the source's configuration.
func (c *UserSource) Environment() Environment { return c.cfg.Environment }

// Grant reports ClientUser with the scopes PKB granted, from the cached or
// last stored token; before any token is seen it reports the requested
// scope, or nil if any user type was allowed.
func (c *UserSource) Grant() (ClientType, []string) {
	if s := GrantedScopes(c.cache.Cached()); s != nil {
		return ClientUser, s
	}
	if s := c.rot.scopes(); s != nil {
		return ClientUser, s
	}
	if c.cfg.Scope != "" {
		return ClientUser, []string{c.cfg.Scope}
	}
	return ClientUser, nil
}
