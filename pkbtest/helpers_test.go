package pkbtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/pkbgo/pkb/pkbtest"
)

const testRedirect = "http://127.0.0.1:54321/callback"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// userConfig is how a PKB User Client configures golang.org/x/oauth2.
func userConfig(s *pkbtest.AuthServer, style oauth2.AuthStyle, scope string) *oauth2.Config {
	cfg := &oauth2.Config{
		ClientID:     pkbtest.DefaultUserClientID,
		ClientSecret: pkbtest.DefaultClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   s.AuthorizeURL(),
			TokenURL:  s.UserTokenURL(),
			AuthStyle: style,
		},
		RedirectURL: testRedirect,
	}
	if scope != "" {
		cfg.Scopes = []string{scope}
	}
	return cfg
}

// noFollow is a browser stand-in that stops at the redirect back to the
// app's loopback listener (nothing listens there).
var noFollow = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// openAuthorize opens an authorize URL like a browser and returns the
// response without following the final redirect.
func openAuthorize(t *testing.T, authURL string) *http.Response {
	t.Helper()
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// redirectQuery checks resp is a redirect to want (scheme, host, path) and
// returns its query.
func redirectQuery(t *testing.T, resp *http.Response, want string) url.Values {
	t.Helper()
	if resp.StatusCode/100 != 3 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: status %d, want a redirect; body %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	w, _ := url.Parse(want)
	if loc.Scheme != w.Scheme || loc.Host != w.Host || loc.Path != w.Path {
		t.Fatalf("redirected to %s, want %s", loc, want)
	}
	return loc.Query()
}

// authorize runs the browser leg for cfg and returns the code.
func authorize(t *testing.T, cfg *oauth2.Config, verifier string) string {
	t.Helper()
	state := oauth2.GenerateVerifier() // any unguessable value
	resp := openAuthorize(t, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	q := redirectQuery(t, resp, cfg.RedirectURL)
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("error") != "" {
		t.Fatalf("authorize error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	code := q.Get("code")
	if code == "" {
		t.Fatalf("no code in redirect %v", q)
	}
	return code
}

// login runs the whole User Client flow and returns the token.
func login(t *testing.T, s *pkbtest.AuthServer, style oauth2.AuthStyle, scope string) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	cfg := userConfig(s, style, scope)
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, cfg, verifier)
	tok, err := cfg.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return cfg, tok
}

// refresh redeems rt once, as oauth2.TokenSource does when a token expired.
func refresh(t *testing.T, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	t.Helper()
	return cfg.TokenSource(ctxT(t), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

func systemConfig(s *pkbtest.AuthServer, style oauth2.AuthStyle) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     pkbtest.DefaultSystemClientID,
		ClientSecret: pkbtest.DefaultClientSecret,
		TokenURL:     s.SystemTokenURL(),
		AuthStyle:    style,
	}
}

func customerConfig(s *pkbtest.AuthServer, style oauth2.AuthStyle) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     pkbtest.DefaultCustomerClientID,
		ClientSecret: pkbtest.DefaultClientSecret,
		TokenURL:     s.CustomerTokenURL(),
		AuthStyle:    style,
	}
}

// tetheredConfig is how a Tethered-Token client refreshes with
// golang.org/x/oauth2: the client-credentials helper with grant_type
// overridden, since oauth2.Config cannot send scope=SITE on refresh.
func tetheredConfig(s *pkbtest.AuthServer, rt string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     pkbtest.DefaultTetheredClientID,
		ClientSecret: pkbtest.DefaultClientSecret,
		TokenURL:     s.UserTokenURL(),
		Scopes:       []string{pkbtest.ScopeSite},
		AuthStyle:    oauth2.AuthStyleInHeader,
		EndpointParams: url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {rt},
		},
	}
}

// retrieveError asserts err is a token-endpoint error with the given status
// and OAuth error code, and returns it.
func retrieveError(t *testing.T, err error, status int, code string) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want *oauth2.RetrieveError", err, err)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("token error status %d code %q (%s), want %d %q", re.Response.StatusCode, re.ErrorCode, re.Body, status, code)
	}
	return re
}

// postToken sends a raw form to a token endpoint and decodes the JSON body.
func postToken(t *testing.T, endpoint string, form url.Values, basicID, basicSecret string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("POST %s: status %d, body not JSON: %s", endpoint, resp.StatusCode, body)
	}
	return resp.StatusCode, m
}

func wantKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("response has keys %v, want exactly %v", mapKeys(m), keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("response %v lacks %q", m, k)
		}
	}
}

func mapKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func wantCode(t *testing.T, err error, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func wantCount(t *testing.T, s *pkbtest.AuthServer, ep pkbtest.Endpoint, n int) {
	t.Helper()
	if got := s.RequestCount(ep); got != n {
		t.Errorf("RequestCount(%s) = %d, want %d", ep, got, n)
	}
}
