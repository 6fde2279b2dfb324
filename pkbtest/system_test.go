package pkbtest_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/pkbtest"
)

func TestSystemClientCredentials(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	tok, err := systemConfig(s, oauth2.AuthStyleInHeader).Token(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Errorf("token %+v", tok)
	}
	g, err := s.Introspect(ctxT(t), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if g.ClientType != pkbtest.ClientTypeSystem || g.ClientID != pkbtest.DefaultSystemClientID || g.UserID != "" ||
		len(g.Scopes) != 1 || g.Scopes[0] != pkbtest.DefaultSystemOrgID+"-all" {
		t.Errorf("grant %+v", g)
	}

	status, m := postToken(t, s.SystemTokenURL(), url.Values{"grant_type": {"client_credentials"}}, pkbtest.DefaultSystemClientID, pkbtest.DefaultClientSecret)
	if status != 200 {
		t.Fatalf("status %d %v", status, m)
	}
	wantKeys(t, m, "access_token", "token_type", "expires_in", "scope", "client_name", "jti")
	if m["token_type"] != "bearer" || m["expires_in"] != float64(3599) || m["scope"] != pkbtest.DefaultSystemOrgID+"-all" ||
		m["client_name"] != pkbtest.DefaultSystemClientName || m["jti"] == "" {
		t.Errorf("body %v", m)
	}
	wantCount(t, s, pkbtest.EndpointSystemToken, 2)
}

func TestSystemRequiresBasic(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	_, err := systemConfig(s, oauth2.AuthStyleInParams).Token(ctxT(t))
	re := retrieveError(t, err, 401, "unauthorized")
	if re.ErrorDescription != "Full authentication is required to access this resource" {
		t.Errorf("description %q", re.ErrorDescription)
	}

	bad := systemConfig(s, oauth2.AuthStyleInHeader)
	bad.ClientSecret = "wrong"
	_, err = bad.Token(ctxT(t))
	if re := retrieveError(t, err, 401, "unauthorized"); re.ErrorDescription != "Bad credentials" {
		t.Errorf("description %q", re.ErrorDescription)
	}

	// Other client types are not System Clients.
	cust := customerConfig(s, oauth2.AuthStyleInHeader)
	cust.TokenURL = s.SystemTokenURL()
	_, err = cust.Token(ctxT(t))
	retrieveError(t, err, 401, "unauthorized")

	status, m := postToken(t, s.SystemTokenURL(), url.Values{"grant_type": {"password"}}, pkbtest.DefaultSystemClientID, pkbtest.DefaultClientSecret)
	if status != 400 || m["error"] != "unsupported_grant_type" {
		t.Errorf("password grant: %d %v", status, m)
	}
	wantCount(t, s, pkbtest.EndpointSystemToken, 4)
}

func TestCustomerClientCredentials(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		tok, err := customerConfig(s, style).Token(ctxT(t))
		if err != nil {
			t.Fatalf("style %v: %v", style, err)
		}
		if tok.TokenType != "Bearer" || tok.RefreshToken != "" {
			t.Errorf("token %+v", tok)
		}
		g, err := s.Introspect(ctxT(t), tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if g.ClientType != pkbtest.ClientTypeCustomer || g.ClientID != pkbtest.DefaultCustomerClientID || g.UserID != "" ||
			!g.HasScope("email") || !g.HasScope("profile") {
			t.Errorf("grant %+v", g)
		}
	}
	status, m := postToken(t, s.CustomerTokenURL(), url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {pkbtest.DefaultCustomerClientID},
		"client_secret": {pkbtest.DefaultClientSecret},
	}, "", "")
	if status != 200 {
		t.Fatalf("status %d %v", status, m)
	}
	wantKeys(t, m, "access_token", "expires_in", "refresh_expires_in", "token_type", "not-before-policy", "scope")
	if m["expires_in"] != float64(300) || m["refresh_expires_in"] != float64(0) || m["token_type"] != "Bearer" ||
		m["not-before-policy"] != float64(0) || m["scope"] != "email profile" {
		t.Errorf("body %v", m)
	}

	bad := customerConfig(s, oauth2.AuthStyleInParams)
	bad.ClientSecret = "wrong"
	_, err := bad.Token(ctxT(t))
	retrieveError(t, err, 401, "invalid_client")
	sys := systemConfig(s, oauth2.AuthStyleInHeader)
	sys.TokenURL = s.CustomerTokenURL()
	_, err = sys.Token(ctxT(t))
	retrieveError(t, err, 401, "invalid_client")
	wantCount(t, s, pkbtest.EndpointCustomerToken, 5)
}

func TestClientsStayAtTheirEndpoint(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	sys := systemConfig(s, oauth2.AuthStyleInHeader)
	sys.TokenURL = s.UserTokenURL()
	_, err := sys.Token(ctxT(t))
	retrieveError(t, err, 401, "invalid_client")

	// A User Client may not use client_credentials.
	user := systemConfig(s, oauth2.AuthStyleInHeader)
	user.ClientID, user.TokenURL = pkbtest.DefaultUserClientID, s.UserTokenURL()
	_, err = user.Token(ctxT(t))
	retrieveError(t, err, 400, "unsupported_grant_type")

	// The tethered client may not use the authorization endpoint.
	cfg := userConfig(s, oauth2.AuthStyleInHeader, pkbtest.ScopeSite)
	cfg.ClientID = pkbtest.DefaultTetheredClientID
	resp := openAuthorize(t, cfg.AuthCodeURL("state-12345", oauth2.S256ChallengeOption("v")))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("tethered client at authorize: status %d", resp.StatusCode)
	}
}

func TestTetheredRefreshSITE(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	rt, err := s.IssueTetheredRefreshToken(pkbtest.DefaultTetheredClientID, pkbtest.DefaultCoordinatorID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tetheredConfig(s, rt).Token(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.Extra("scope") != "SITE" || tok.RefreshToken == "" || tok.RefreshToken == rt {
		t.Errorf("token %+v scope %v", tok, tok.Extra("scope"))
	}
	g, err := s.Introspect(ctxT(t), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if g.ClientType != pkbtest.ClientTypeTethered || g.ClientID != pkbtest.DefaultTetheredClientID ||
		g.UserID != pkbtest.DefaultCoordinatorID || len(g.Scopes) != 1 || g.Scopes[0] != "SITE" {
		t.Errorf("grant %+v", g)
	}
	// Rotation: the next refresh uses the new token.
	tok2, err := tetheredConfig(s, tok.RefreshToken).Token(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// Reusing the coordinator's original token kills the session.
	_, err = tetheredConfig(s, rt).Token(ctxT(t))
	if re := retrieveError(t, err, 400, "invalid_grant"); !strings.HasPrefix(re.ErrorDescription, "API_SESSION_INVALID") {
		t.Errorf("description %q", re.ErrorDescription)
	}
	_, err = s.Introspect(ctxT(t), tok2.AccessToken)
	wantCode(t, err, pkbtest.ErrSessionInvalid)
	wantCount(t, s, pkbtest.EndpointUserToken, 3)
}

func TestTetheredChecks(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	rt, err := s.IssueTetheredRefreshToken(pkbtest.DefaultTetheredClientID, "coord-2")
	if err != nil {
		t.Fatal(err)
	}
	noScope := tetheredConfig(s, rt)
	noScope.Scopes = nil
	_, err = noScope.Token(ctxT(t))
	retrieveError(t, err, 400, "invalid_scope")

	// The User Client cannot redeem the tethered client's token.
	cfg := userConfig(s, oauth2.AuthStyleInHeader, "")
	_, err = refresh(t, cfg, rt)
	retrieveError(t, err, 400, "invalid_grant")

	if _, err := s.IssueTetheredRefreshToken(pkbtest.DefaultUserClientID, "coord-2"); err == nil {
		t.Error("IssueTetheredRefreshToken for a User Client succeeded")
	}
	if _, err := s.IssueTetheredRefreshToken("no-such-client", "coord-2"); err == nil {
		t.Error("IssueTetheredRefreshToken for an unknown client succeeded")
	}
	// The token still works after those failed attempts.
	tok, err := tetheredConfig(s, rt).Token(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if g, err := s.Introspect(ctxT(t), tok.AccessToken); err != nil || g.UserID != "coord-2" {
		t.Errorf("grant %+v err %v", g, err)
	}
}

func TestIntrospectErrors(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	ctx := ctxT(t)
	for _, tok := range []string{"", "garbage", "ory_at_abc.def"} {
		_, err := s.Introspect(ctx, tok)
		wantCode(t, err, pkbtest.ErrBadAuthentication)
	}
	_, tok := login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	// A refresh token is not an access token.
	_, err := s.Introspect(ctx, tok.RefreshToken)
	wantCode(t, err, pkbtest.ErrBadAuthentication)

	var te *pkbtest.TokenError
	if !errors.As(err, &te) || te.Code != pkbtest.CodeBadAuthentication || te.HTTPStatus() != 401 {
		t.Errorf("error %#v", err)
	}

	// Revoking one access token.
	if err := s.RevokeToken(tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	_, err = s.Introspect(ctx, tok.AccessToken)
	wantCode(t, err, pkbtest.ErrBadAuthentication)

	// Revoking a whole session.
	cfg, tok := login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	if err := s.RevokeSession(tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	_, err = s.Introspect(ctx, tok.AccessToken)
	wantCode(t, err, pkbtest.ErrSessionInvalid)
	_, err = refresh(t, cfg, tok.RefreshToken)
	if re := retrieveError(t, err, 400, "invalid_grant"); !strings.HasPrefix(re.ErrorDescription, "API_SESSION_INVALID") {
		t.Errorf("description %q", re.ErrorDescription)
	}

	// Revoking a refresh token alone.
	cfg, tok = login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	if err := s.RevokeToken(tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err = refresh(t, cfg, tok.RefreshToken)
	retrieveError(t, err, 400, "invalid_grant")
	if _, err := s.Introspect(ctx, tok.AccessToken); err != nil {
		t.Errorf("access token died with its refresh token: %v", err)
	}
	if err := s.RevokeToken("unknown"); err == nil {
		t.Error("RevokeToken(unknown) succeeded")
	}
}

func TestAuthenticateHeader(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	tok, err := customerConfig(s, oauth2.AuthStyleInParams).Token(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
	_, err = s.Authenticate(r)
	wantCode(t, err, pkbtest.ErrBadAuthentication)
	r.Header.Set("Authorization", "Basic abc")
	_, err = s.Authenticate(r)
	wantCode(t, err, pkbtest.ErrBadAuthentication)
	tok.SetAuthHeader(r)
	if g, err := s.Authenticate(r); err != nil || g.ClientType != pkbtest.ClientTypeCustomer {
		t.Errorf("grant %+v err %v", g, err)
	}
}

func TestAccessTokenExpiry(t *testing.T) {
	s := pkbtest.StartAuthServer(t, pkbtest.WithAccessTokenLifespan(pkbtest.ClientTypeUser, 42*time.Second))
	cfg, tok := login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	if d := time.Until(tok.Expiry); d < 35*time.Second || d > 43*time.Second {
		t.Errorf("expires in %v, want 42s", d)
	}
	if err := s.ExpireAccessToken(tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	_, err := s.Introspect(ctxT(t), tok.AccessToken)
	wantCode(t, err, pkbtest.ErrAccessTokenExpired)
	// The refresh token still works, as PKB says to do on ACC_TOKEN_EXPIRED.
	next, err := refresh(t, cfg, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Introspect(ctxT(t), next.AccessToken); err != nil {
		t.Fatal(err)
	}

	// Real-time expiry with a short lifespan.
	s.SetAccessTokenLifespan(pkbtest.ClientTypeSystem, 50*time.Millisecond)
	sys, err := systemConfig(s, oauth2.AuthStyleInHeader).Token(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	_, err = s.Introspect(ctxT(t), sys.AccessToken)
	wantCode(t, err, pkbtest.ErrAccessTokenExpired)
}

func TestFaultInjection(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	ctx := ctxT(t)

	s.InjectFault(pkbtest.EndpointSystemToken, pkbtest.Fault{Kind: pkbtest.FaultUnavailable, Times: 2, RetryAfter: "1"})
	for i := 0; i < 2; i++ {
		_, err := systemConfig(s, oauth2.AuthStyleInHeader).Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != 503 || re.Response.Header.Get("Retry-After") != "1" {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := systemConfig(s, oauth2.AuthStyleInHeader).Token(ctx); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
	wantCount(t, s, pkbtest.EndpointSystemToken, 3)

	// An HTML error page from a proxy, until cleared.
	s.InjectFault(pkbtest.EndpointUserToken, pkbtest.Fault{Kind: pkbtest.FaultHTML})
	cfg := userConfig(s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, cfg, verifier)
	_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 502 || !strings.Contains(string(re.Body), "<html>") {
		t.Fatalf("HTML fault: %v", err)
	}
	s.InjectFault(pkbtest.EndpointUserToken, pkbtest.Fault{Kind: pkbtest.FaultHTML, Status: 200})
	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err == nil {
		t.Fatal("HTML page with status 200 parsed as a token")
	}
	s.ClearFault(pkbtest.EndpointUserToken)
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("after ClearFault: %v", err)
	}
	wantCount(t, s, pkbtest.EndpointUserToken, 3)

	// The server dies mid-request: a transport error, not a token error.
	s.InjectFault(pkbtest.EndpointCustomerToken, pkbtest.Fault{Kind: pkbtest.FaultDown, Times: 1})
	_, err = customerConfig(s, oauth2.AuthStyleInParams).Token(ctx)
	if err == nil || errors.As(err, &re) {
		t.Fatalf("down fault: %v", err)
	}
	if _, err := customerConfig(s, oauth2.AuthStyleInParams).Token(ctx); err != nil {
		t.Fatal(err)
	}
	wantCount(t, s, pkbtest.EndpointCustomerToken, 2)

	// The authorization page can fail too.
	s.InjectFault(pkbtest.EndpointAuthorize, pkbtest.Fault{Kind: pkbtest.FaultUnavailable, Times: 1})
	resp := openAuthorize(t, cfg.AuthCodeURL("state-12345", oauth2.S256ChallengeOption(verifier)))
	if resp.StatusCode != 503 {
		t.Errorf("authorize fault: status %d", resp.StatusCode)
	}
	s.ResetRequestCounts()
	for _, ep := range pkbtest.Endpoints {
		wantCount(t, s, ep, 0)
	}
}

func TestRoutesMountOnMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/fhir/metadata", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") })
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	s := pkbtest.NewAuthServer(pkbtest.WithBaseURL(ts.URL), pkbtest.WithoutDefaultClients(), pkbtest.WithClients(pkbtest.Client{
		ID: "my-system", Secret: "s3", Type: pkbtest.ClientTypeSystem, OrgID: "11111111-2222-3333-4444-555555555555", Name: "Mine",
	}))
	s.Routes(mux)
	if s.SystemTokenURL() != ts.URL+"/api/oauth/token" {
		t.Fatalf("SystemTokenURL = %s", s.SystemTokenURL())
	}
	cfg := systemConfig(s, oauth2.AuthStyleInHeader)
	cfg.ClientID, cfg.ClientSecret = "my-system", "s3"
	tok, err := cfg.Token(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("client_name") != "Mine" || tok.Extra("scope") != "11111111-2222-3333-4444-555555555555-all" {
		t.Errorf("extra client_name %v scope %v", tok.Extra("client_name"), tok.Extra("scope"))
	}
	// The seeded clients are gone.
	_, err = systemConfig(s, oauth2.AuthStyleInHeader).Token(ctxT(t))
	retrieveError(t, err, 401, "unauthorized")
	// Clients can be registered while running.
	if err := s.RegisterClient(pkbtest.Client{ID: "late", Secret: "x", Type: "bogus"}); err == nil {
		t.Error("RegisterClient accepted an unknown type")
	}
	if err := s.RegisterClient(pkbtest.Client{ID: "late", Secret: "x", Type: pkbtest.ClientTypeCustomer}); err != nil {
		t.Fatal(err)
	}
	late := customerConfig(s, oauth2.AuthStyleInParams)
	late.ClientID, late.ClientSecret = "late", "x"
	if _, err := late.Token(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The handler itself answers 404 elsewhere.
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if rec.Code != 404 {
		t.Errorf("ServeHTTP /nope: %d", rec.Code)
	}
}
