package pkbtest_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/pkbtest"
)

func TestUserAuthCodePKCE(t *testing.T) {
	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"basic", oauth2.AuthStyleInHeader}, {"form", oauth2.AuthStyleInParams}} {
		t.Run(tc.name, func(t *testing.T) {
			s := pkbtest.StartAuthServer(t)
			_, tok := login(t, s, tc.style, pkbtest.ScopePatient)
			if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "PATIENT" {
				t.Errorf("token = %+v scope %v", tok, tok.Extra("scope"))
			}
			if d := time.Until(tok.Expiry); d < 590*time.Second || d > 601*time.Second {
				t.Errorf("expiry in %v, want ~600s", d)
			}
			g, err := s.Introspect(ctxT(t), tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if g.ClientType != pkbtest.ClientTypeUser || g.ClientID != pkbtest.DefaultUserClientID ||
				g.UserID != pkbtest.DefaultUserID || !g.HasScope("PATIENT") || len(g.Scopes) != 1 || g.SessionID == "" {
				t.Errorf("grant = %+v", g)
			}
			if d := time.Until(g.ExpiresAt); d < 590*time.Second || d > 601*time.Second {
				t.Errorf("grant expires in %v", d)
			}
			wantCount(t, s, pkbtest.EndpointAuthorize, 1)
			wantCount(t, s, pkbtest.EndpointUserToken, 1)
		})
	}
}

func TestUserTokenResponseShape(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	cfg := userConfig(s, oauth2.AuthStyleInHeader, "")
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, cfg, verifier)
	status, m := postToken(t, s.UserTokenURL(), url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {cfg.RedirectURL},
		"code_verifier": {verifier},
	}, cfg.ClientID, cfg.ClientSecret)
	if status != 200 {
		t.Fatalf("status %d: %v", status, m)
	}
	wantKeys(t, m, "access_token", "token_type", "expires_in", "refresh_token", "scope")
	// Scope omitted at authorize: the client's first scope is granted.
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(600) || m["scope"] != "PATIENT" {
		t.Errorf("body = %v", m)
	}
}

func TestAuthorizeLoopbackAnyPort(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	for _, redirect := range []string{"http://127.0.0.1:1234/callback", "http://127.0.0.1:65000/callback", "http://127.0.0.1/callback"} {
		cfg := userConfig(s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
		cfg.RedirectURL = redirect
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, cfg, verifier)
		if _, err := cfg.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier)); err != nil {
			t.Errorf("%s: Exchange: %v", redirect, err)
		}
	}
	// Unregistered redirect URIs get PKB's browser error page, no redirect.
	for _, redirect := range []string{"https://attacker.example/callback", "http://127.0.0.1:1234/other", "http://localhost:1234/callback"} {
		cfg := userConfig(s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
		cfg.RedirectURL = redirect
		resp := openAuthorize(t, cfg.AuthCodeURL("state-12345", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "<html") {
			t.Errorf("%s: status %d Location %q body %s", redirect, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
}

func TestAuthorizeErrorsRedirectWithState(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	cfg := userConfig(s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	for name, tc := range map[string]struct {
		url  string
		want string
	}{
		"plain PKCE": {cfg.AuthCodeURL("state-12345", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")), "invalid_request"},
		"two scopes": {userConfig(s, 0, "PATIENT CLINICIAN").AuthCodeURL("state-12345", oauth2.S256ChallengeOption("v")), "invalid_scope"},
		"SITE scope": {userConfig(s, 0, "SITE").AuthCodeURL("state-12345", oauth2.S256ChallengeOption("v")), "invalid_scope"},
	} {
		t.Run(name, func(t *testing.T) {
			q := redirectQuery(t, openAuthorize(t, tc.url), cfg.RedirectURL)
			if q.Get("error") != tc.want || q.Get("state") != "state-12345" || q.Get("code") != "" {
				t.Errorf("redirect query %v, want error=%s", q, tc.want)
			}
		})
	}
}

// TestPKCEOptional: PKB's documented authorize parameters do not include
// PKCE (docs/pkb-api.md §3.2), so a login without it works; a client that
// sends an S256 challenge is still held to it.
func TestPKCEOptional(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	cfg := userConfig(s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	code := func(opts ...oauth2.AuthCodeOption) string {
		t.Helper()
		q := redirectQuery(t, openAuthorize(t, cfg.AuthCodeURL("state-12345", opts...)), cfg.RedirectURL)
		if q.Get("code") == "" {
			t.Fatalf("authorize: %v", q)
		}
		return q.Get("code")
	}
	tok, err := cfg.Exchange(ctxT(t), code())
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("login without PKCE: %v", err)
	}
	verifier := oauth2.GenerateVerifier()
	_, err = cfg.Exchange(ctxT(t), code(oauth2.S256ChallengeOption(verifier)))
	retrieveError(t, err, 400, "invalid_grant") // challenge sent, verifier missing
	_, err = cfg.Exchange(ctxT(t), code(), oauth2.VerifierOption(verifier))
	retrieveError(t, err, 400, "invalid_grant") // verifier without a challenge
	if _, err := cfg.Exchange(ctxT(t), code(oauth2.S256ChallengeOption(verifier)), oauth2.VerifierOption(verifier)); err != nil {
		t.Errorf("login with PKCE: %v", err)
	}
}

func TestAuthorizeDeny(t *testing.T) {
	s := pkbtest.StartAuthServer(t, pkbtest.WithApproval(pkbtest.Approval{Deny: true}))
	cfg := userConfig(s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	q := redirectQuery(t, openAuthorize(t, cfg.AuthCodeURL("anti-csrf-1234", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), cfg.RedirectURL)
	if q.Get("error") != "access_denied" || q.Get("state") != "anti-csrf-1234" || q.Get("code") != "" {
		t.Errorf("redirect query %v", q)
	}
	s.SetApproval(pkbtest.Approval{})
	login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
}

func TestAuthorizeApproverAndScope(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	s.SetApproval(pkbtest.Approval{UserID: "clinician-7"})
	_, tok := login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopeClinician)
	g, err := s.Introspect(ctxT(t), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if g.UserID != "clinician-7" || len(g.Scopes) != 1 || g.Scopes[0] != "CLINICIAN" {
		t.Errorf("grant = %+v", g)
	}
	s.SetApproval(pkbtest.Approval{UserID: "coord-9", Scope: pkbtest.ScopeTeamCoord})
	_, tok = login(t, s, oauth2.AuthStyleInHeader, "")
	if g, _ := s.Introspect(ctxT(t), tok.AccessToken); g.UserID != "coord-9" || g.Scopes[0] != "TEAMCOORD" {
		t.Errorf("grant = %+v", g)
	}
}

func TestAuthCodeExchangeChecks(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	cfg := userConfig(s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)

	verifier := oauth2.GenerateVerifier()
	code := authorize(t, cfg, verifier)
	_, err := cfg.Exchange(ctxT(t), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	retrieveError(t, err, 400, "invalid_grant") // wrong PKCE verifier

	code = authorize(t, cfg, verifier)
	other := *cfg
	other.RedirectURL = "http://127.0.0.1:9/callback"
	_, err = other.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier))
	retrieveError(t, err, 400, "invalid_grant") // redirect_uri differs from authorize

	code = authorize(t, cfg, verifier)
	bad := *cfg
	bad.ClientSecret = "wrong"
	_, err = bad.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier))
	retrieveError(t, err, 401, "invalid_client")

	if _, err := cfg.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	_, err = cfg.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier))
	retrieveError(t, err, 400, "invalid_grant") // codes are single-use
}

func TestRefreshRotation(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		s := pkbtest.StartAuthServer(t)
		cfg, tok := login(t, s, style, pkbtest.ScopePatient)
		g0, _ := s.Introspect(ctxT(t), tok.AccessToken)
		seen := map[string]bool{tok.RefreshToken: true}
		for i := 0; i < 3; i++ {
			next, err := refresh(t, cfg, tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh %d: %v", i, err)
			}
			if next.RefreshToken == "" || seen[next.RefreshToken] || next.AccessToken == tok.AccessToken {
				t.Fatalf("refresh %d did not rotate: %+v", i, next)
			}
			seen[next.RefreshToken] = true
			if next.TokenType != "Bearer" || next.Extra("scope") != "PATIENT" {
				t.Errorf("refreshed token %+v scope %v", next, next.Extra("scope"))
			}
			// The superseded access token is dead; the new one is the same session.
			_, err = s.Introspect(ctxT(t), tok.AccessToken)
			wantCode(t, err, pkbtest.ErrBadAuthentication)
			g, err := s.Introspect(ctxT(t), next.AccessToken)
			if err != nil || g.SessionID != g0.SessionID || g.UserID != pkbtest.DefaultUserID || g.Scopes[0] != "PATIENT" {
				t.Fatalf("grant %+v err %v", g, err)
			}
			tok = next
		}
		wantCount(t, s, pkbtest.EndpointUserToken, 4)
	}
}

func TestRefreshReuseKillsSession(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	cfg, tok0 := login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	tok1, err := refresh(t, cfg, tok0.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}

	_, err = refresh(t, cfg, tok0.RefreshToken) // reuse
	re := retrieveError(t, err, 400, "invalid_grant")
	if !strings.HasPrefix(re.ErrorDescription, "API_SESSION_INVALID") {
		t.Errorf("description %q", re.ErrorDescription)
	}
	// The rotated refresh token and its access token died with the session.
	_, err = refresh(t, cfg, tok1.RefreshToken)
	re = retrieveError(t, err, 400, "invalid_grant")
	if !strings.HasPrefix(re.ErrorDescription, "API_SESSION_INVALID") {
		t.Errorf("description %q", re.ErrorDescription)
	}
	_, err = s.Introspect(ctxT(t), tok1.AccessToken)
	wantCode(t, err, pkbtest.ErrSessionInvalid)
	// Reusing again still says the session is invalid.
	_, err = refresh(t, cfg, tok0.RefreshToken)
	if re := retrieveError(t, err, 400, "invalid_grant"); !strings.HasPrefix(re.ErrorDescription, "API_SESSION_INVALID") {
		t.Errorf("description %q", re.ErrorDescription)
	}
	wantCount(t, s, pkbtest.EndpointUserToken, 5)

	// Other sessions are unaffected.
	_, other := login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	if _, err := refresh(t, cfg, other.RefreshToken); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentRefreshIsReuse(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	cfg, tok := login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	var wg sync.WaitGroup
	results := make([]*oauth2.Token, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { results[i], errs[i] = refresh(t, cfg, tok.RefreshToken) })
	}
	wg.Wait()
	ok := 0
	for i := range 2 {
		if errs[i] == nil {
			ok++
			// The winner's tokens die with the session too.
			_, err := s.Introspect(ctxT(t), results[i].AccessToken)
			wantCode(t, err, pkbtest.ErrSessionInvalid)
		} else if re := retrieveError(t, errs[i], 400, "invalid_grant"); !strings.HasPrefix(re.ErrorDescription, "API_SESSION_INVALID") {
			t.Errorf("description %q", re.ErrorDescription)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 2 concurrent refreshes succeeded, want 1", ok)
	}
}

func TestSessionExpiry(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	cfg, tok := login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	if err := s.ExpireSession(tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err := refresh(t, cfg, tok.RefreshToken)
	if re := retrieveError(t, err, 400, "invalid_grant"); !strings.HasPrefix(re.ErrorDescription, "API_SESSION_EXPIRED") {
		t.Errorf("description %q", re.ErrorDescription)
	}
	_, err = s.Introspect(ctxT(t), tok.AccessToken)
	wantCode(t, err, pkbtest.ErrSessionExpired)

	// A natural end of the session: refreshing does not extend it.
	s.SetSessionLifespan(time.Second)
	cfg, tok = login(t, s, oauth2.AuthStyleInHeader, pkbtest.ScopePatient)
	if tok, err = refresh(t, cfg, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1600 * time.Millisecond)
	_, err = refresh(t, cfg, tok.RefreshToken)
	if re := retrieveError(t, err, 400, "invalid_grant"); !strings.HasPrefix(re.ErrorDescription, "API_SESSION_EXPIRED") {
		t.Errorf("description %q", re.ErrorDescription)
	}
}
