package pkbtest_test

// These tests run the client side (authn token sources and the wrappers'
// pre-I/O checks) against the fosite-based PKB authorization server, for
// all four client types.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/pkbtest"
)

func authEnv(s *pkbtest.AuthServer) authn.Environment {
	env := authn.Sandbox
	env.UserAuthorizeURL = s.AuthorizeURL()
	env.UserTokenURL = s.UserTokenURL()
	env.SystemTokenURL = s.SystemTokenURL()
	env.CustomerTokenURL = s.CustomerTokenURL()
	return env
}

// browser follows the authorize redirect back to a loopback callback, as
// the user's browser would after they click Approve.
func browser(u string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestSystemClientColdCacheSingleFlightAgainstFosite(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	src, err := authn.NewSystemSource(authn.SystemConfig{ClientID: pkbtest.DefaultSystemClientID, ClientSecret: pkbtest.DefaultClientSecret, Environment: authEnv(s)})
	if err != nil {
		t.Fatal(err)
	}
	const callers = 1000
	var wg sync.WaitGroup
	tokens := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			tok, err := src.Token(context.Background())
			errs[i] = err
			if err == nil {
				tokens[i] = tok.AccessToken
			}
		})
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != tokens[0] {
			t.Fatalf("caller %d: token %q, err %v", i, tokens[i], errs[i])
		}
	}
	if n := s.RequestCount(pkbtest.EndpointSystemToken); n != 1 {
		t.Errorf("%d concurrent cold calls made %d token requests, want 1", callers, n)
	}
	t.Logf("%d concurrent cold calls: %d token request", callers, s.RequestCount(pkbtest.EndpointSystemToken))
	g, err := s.Introspect(context.Background(), tokens[0])
	if err != nil || g.ClientID != pkbtest.DefaultSystemClientID {
		t.Errorf("introspection: %+v, %v", g, err)
	}
}

func TestCustomerClientFormAndBasicAgainstFosite(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		src, err := authn.NewCustomerSource(authn.CustomerConfig{ClientID: pkbtest.DefaultCustomerClientID, ClientSecret: pkbtest.DefaultClientSecret, Environment: authEnv(s), AuthStyle: style})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := src.Token(context.Background())
		if err != nil {
			t.Fatalf("auth style %d: %v", style, err)
		}
		if ct, _ := src.Grant(); ct != authn.ClientCustomer || time.Until(tok.Expiry) > 300*time.Second {
			t.Errorf("auth style %d: client type %s, expiry in %v (Keycloak gives 300 s)", style, ct, time.Until(tok.Expiry))
		}
	}
}

func TestWrongSecretIsATypedErrorWithoutTheSecret(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	const secret = "wrong-secret-VALUE-77"
	sys, _ := authn.NewSystemSource(authn.SystemConfig{ClientID: pkbtest.DefaultSystemClientID, ClientSecret: secret, Environment: authEnv(s)})
	cus, _ := authn.NewCustomerSource(authn.CustomerConfig{ClientID: pkbtest.DefaultCustomerClientID, ClientSecret: secret, Environment: authEnv(s)})
	for _, src := range []authn.Source{sys, cus} {
		_, err := src.Token(context.Background())
		if !errors.Is(err, authn.ErrInvalidClient) {
			t.Errorf("%T: want ErrInvalidClient, got %v", src, err)
		}
		if err != nil && strings.Contains(fmt.Sprintf("%v %+v", err, err), secret) {
			t.Errorf("%T: error leaks the client secret", src)
		}
	}
}

func TestUserClientAuthCodePKCEAndRotationAgainstFosite(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	store := authn.NewFileStore(filepath.Join(t.TempDir(), "pkb", "token.json"))
	user, err := authn.NewUserSource(authn.UserConfig{
		ClientID: pkbtest.DefaultUserClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: authEnv(s), Scope: authn.ScopePatient, Store: store,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := user.LoginLoopback(ctx, browser)
	if err != nil {
		t.Fatal(err)
	}
	if got := authn.GrantedScopes(tok); len(got) != 1 || got[0] != "PATIENT" {
		t.Errorf("granted scopes %v", got)
	}
	saved, err := store.Load(ctx)
	if err != nil || saved.RefreshToken == "" {
		t.Fatalf("the refresh token was not saved: %v", err)
	}
	first := saved.RefreshToken

	// Expire the access token on the server and drop it locally: the next
	// call redeems the refresh token once and saves its successor first.
	if err := s.ExpireAccessToken(tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	user.Invalidate(tok.AccessToken)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := user.Token(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rotated, _ := store.Load(ctx)
	if rotated.RefreshToken == "" || rotated.RefreshToken == first {
		t.Fatal("the rotated refresh token was not saved")
	}
	if n := s.RequestCount(pkbtest.EndpointUserToken); n != 2 {
		t.Errorf("%d token requests (code exchange + refreshes), want 2: a refresh token must be redeemed once", n)
	}

	// Someone replays the spent refresh token: PKB kills the session.
	replayer, _ := authn.NewUserSource(authn.UserConfig{
		ClientID: pkbtest.DefaultUserClientID, ClientSecret: pkbtest.DefaultClientSecret, Environment: authEnv(s),
		Store: authn.NewMemoryStore(&oauth2.Token{RefreshToken: first, Expiry: time.Now().Add(-time.Hour)}),
	})
	_, err = replayer.Token(ctx)
	var te *authn.TokenError
	if !errors.Is(err, authn.ErrReauthorize) || !errors.As(err, &te) || te.PKBCode != "API_SESSION_INVALID" {
		t.Errorf("reused refresh token: want ErrReauthorize with API_SESSION_INVALID, got %v", err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v", err, err), first) {
		t.Error("the error leaks the refresh token")
	}
	// ...and the legitimate holder must authorise again.
	cur, _ := user.Token(ctx)
	user.Invalidate(cur.AccessToken)
	if _, err := user.Token(ctx); !errors.Is(err, authn.ErrReauthorize) {
		t.Errorf("after the session was killed: want ErrReauthorize, got %v", err)
	}
}

func TestUserClientStateMismatchAndDenial(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	user, err := authn.NewUserSource(authn.UserConfig{
		ClientID: pkbtest.DefaultUserClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: authEnv(s), Scope: authn.ScopeClinician, RedirectURL: "http://127.0.0.1:9/callback",
	})
	if err != nil {
		t.Fatal(err)
	}
	authURL, pending := user.AuthCodeURL()
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("scope") != "CLINICIAN" {
		t.Fatalf("authorize URL lacks PKCE S256, state or scope: %s", u.RawQuery)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code in redirect %q", resp.Header.Get("Location"))
	}
	forged := loc.Query()
	forged.Set("state", "attacker-state-123")
	if _, err := user.Exchange(context.Background(), pending, forged); !errors.Is(err, authn.ErrStateMismatch) {
		t.Errorf("forged state: want ErrStateMismatch, got %v", err)
	}
	tok, err := user.Exchange(context.Background(), pending, loc.Query())
	if err != nil {
		t.Fatal(err)
	}
	if ct, scopes := user.Grant(); ct != authn.ClientUser || len(scopes) != 1 || scopes[0] != "CLINICIAN" || tok.AccessToken == "" {
		t.Errorf("grant after exchange: %s %v", ct, scopes)
	}

	s.SetApproval(pkbtest.Approval{Deny: true})
	authURL, pending = user.AuthCodeURL()
	resp, err = noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if _, err := user.Exchange(context.Background(), pending, loc.Query()); !errors.Is(err, authn.ErrAccessDenied) {
		t.Errorf("denied: want ErrAccessDenied, got %v", err)
	}
}

func TestTetheredClientSITERotationAgainstFosite(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	rt, err := s.IssueTetheredRefreshToken(pkbtest.DefaultTetheredClientID, pkbtest.DefaultCoordinatorID)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tethered.json")
	newClient := func() *authn.TetheredSource {
		c, err := authn.NewTetheredSource(authn.TetheredConfig{
			ClientID: pkbtest.DefaultTetheredClientID, ClientSecret: pkbtest.DefaultClientSecret,
			Environment: authEnv(s), RefreshToken: rt, Store: authn.NewFileStore(path),
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient()
	tok, err := c.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.Introspect(context.Background(), tok.AccessToken)
	if err != nil || !g.HasScope("SITE") || g.UserID != pkbtest.DefaultCoordinatorID {
		t.Fatalf("tethered grant: %+v, %v", g, err)
	}
	// A restart (a new client on the same store) picks up the saved
	// session: the still-valid access token first, then the rotated refresh
	// token, never the coordinator's spent one.
	c2 := newClient()
	tok2, err := c2.Token(context.Background())
	if err != nil || tok2.AccessToken != tok.AccessToken {
		t.Fatalf("after restart: %v (same access token: %t)", err, err == nil && tok2.AccessToken == tok.AccessToken)
	}
	c2.Invalidate(tok2.AccessToken)
	tok3, err := c2.Token(context.Background())
	if err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	if n := s.RequestCount(pkbtest.EndpointUserToken); n != 2 {
		t.Errorf("%d redemptions, want 2", n)
	}
	if g, err := s.Introspect(context.Background(), tok3.AccessToken); err != nil || !g.HasScope("SITE") {
		t.Errorf("rotated session: %+v, %v", g, err)
	}
}

func TestTokenEndpointDownIsTyped(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	s.InjectFault(pkbtest.EndpointSystemToken, pkbtest.Fault{Kind: pkbtest.FaultHTML})
	src, _ := authn.NewSystemSource(authn.SystemConfig{ClientID: pkbtest.DefaultSystemClientID, ClientSecret: pkbtest.DefaultClientSecret, Environment: authEnv(s)})
	_, err := src.Token(context.Background())
	if !errors.Is(err, authn.ErrTokenEndpoint) {
		t.Errorf("HTML error page: want ErrTokenEndpoint, got %v", err)
	}
	s.ClearFault(pkbtest.EndpointSystemToken)
	if _, err := src.Token(context.Background()); err != nil {
		t.Errorf("after the fault cleared: %v", err)
	}
}
