package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Recognisable values that must never appear in an error.
const (
	leakSecret = "SECRET-CLIENT-7f3a9d"
	leakRT     = "RT-SECRET-91c2e4"
	leakCode   = "CODE-SECRET-55aa01"
	leakAT     = "AT-SECRET-0b0b77"
	leakJWT    = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	leakOpaque = "2YotnFZFEjr1zCsicMWpAA" // PKB's documented access-token shape
)

// echo builds a body that repeats everything the client sent, the way a
// careless or hostile server might.
func echo(r *http.Request) string {
	return fmt.Sprintf(`form=%s auth=%s raw_auth=%q {"access_token":"%s"} jwt=%s bare %s`,
		r.PostForm.Encode(), r.Header.Get("Authorization"), r.Header.Get("Authorization"), leakAT, leakJWT, leakOpaque)
}

type errCase struct {
	name    string
	handler http.HandlerFunc
	kind    error // sentinel the error must match, or nil
	check   func(t *testing.T, te *TokenError)
}

func jsonErr(status int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		writeJSON(w, status, map[string]string{"error": code, "error_description": echo(r)})
	}
}

var errCases = []errCase{
	{name: "invalid_client", handler: jsonErr(401, "invalid_client"), kind: ErrInvalidClient,
		check: func(t *testing.T, te *TokenError) {
			if !strings.Contains(te.Hint, "check the client ID and secret") {
				t.Errorf("hint = %q", te.Hint)
			}
		}},
	{name: "invalid_grant API_SESSION_INVALID", handler: func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "API_SESSION_INVALID " + echo(r)})
	}, kind: ErrReauthorize, check: func(t *testing.T, te *TokenError) {
		if te.PKBCode != "API_SESSION_INVALID" || !strings.Contains(te.Hint, "authorise again") && !strings.Contains(te.Hint, "ask PKB") {
			t.Errorf("PKBCode=%q hint=%q", te.PKBCode, te.Hint)
		}
	}},
	{name: "API_SESSION_EXPIRED as error code", handler: jsonErr(401, "API_SESSION_EXPIRED"), kind: ErrReauthorize,
		check: func(t *testing.T, te *TokenError) {
			if te.PKBCode != "API_SESSION_EXPIRED" {
				t.Errorf("PKBCode=%q", te.PKBCode)
			}
		}},
	{name: "spring unauthorized", handler: func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		writeJSON(w, 401, map[string]string{"error": "unauthorized", "error_description": "Full authentication is required to access this resource " + echo(r)})
	}, kind: ErrInvalidClient},
	{name: "invalid_scope", handler: jsonErr(400, "invalid_scope"), kind: ErrInvalidScope},
	{name: "500 JSON", handler: jsonErr(500, "server_error"), kind: ErrTokenEndpoint},
	{name: "429", handler: jsonErr(429, "slow_down"), kind: ErrTokenEndpoint},
	{name: "502 HTML", handler: func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		fmt.Fprintf(w, "<html><head><style>p{}</style></head><body><h1>Bad Gateway</h1><p>%s</p></body></html>", echo(r))
	}, kind: ErrTokenEndpoint, check: func(t *testing.T, te *TokenError) {
		if te.ContentType != "text/html" || !strings.Contains(te.Excerpt, "Bad Gateway") || strings.Contains(te.Excerpt, "<") {
			t.Errorf("content type %q excerpt %q", te.ContentType, te.Excerpt)
		}
	}},
	{name: "200 HTML login page", handler: func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<html><body>Please sign in %s</body></html>", echo(r))
	}, kind: ErrTokenEndpoint, check: func(t *testing.T, te *TokenError) {
		if te.StatusCode != 200 || !strings.Contains(te.Excerpt, "Please sign in") {
			t.Errorf("status %d excerpt %q", te.StatusCode, te.Excerpt)
		}
	}},
	{name: "200 JSON without access_token", handler: func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		writeJSON(w, 200, map[string]string{"refresh_token": leakRT, "note": echo(r)})
	}, kind: ErrTokenEndpoint},
	{name: "404 plain text", handler: func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(404)
		fmt.Fprint(w, "no such page "+echo(r))
	}, kind: ErrTokenEndpoint},
	{name: "timeout", handler: func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	}, kind: ErrTokenEndpoint, check: func(t *testing.T, te *TokenError) {
		if !errors.Is(te, context.DeadlineExceeded) {
			t.Errorf("timeout not recognisable: %v", te)
		}
	}},
	{name: "HTML labelled as JSON", handler: func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		fmt.Fprintf(w, "<html><body>Service Unavailable %s</body></html>", echo(r))
	}, kind: ErrTokenEndpoint, check: func(t *testing.T, te *TokenError) {
		if !strings.Contains(te.Excerpt, "Service Unavailable") {
			t.Errorf("excerpt %q", te.Excerpt)
		}
	}},
	{name: "401 empty body", handler: func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
	}, kind: ErrInvalidClient},
	{name: "connection refused", handler: nil, kind: ErrTokenEndpoint},
}

// clientUnderTest obtains one token (or error) from a given client type.
type clientUnderTest struct {
	name string
	run  func(t *testing.T, env Environment, opts Options) error
}

var clientsUnderTest = []clientUnderTest{
	{"system", func(t *testing.T, env Environment, opts Options) error {
		c, err := NewSystemSource(SystemConfig{ClientID: "sys-id", ClientSecret: leakSecret, Environment: env, Options: opts})
		if err != nil {
			return err
		}
		_, err = c.Token(context.Background())
		return err
	}},
	{"customer", func(t *testing.T, env Environment, opts Options) error {
		c, err := NewCustomerSource(CustomerConfig{ClientID: "cust-id", ClientSecret: leakSecret, Environment: env, Options: opts})
		if err != nil {
			return err
		}
		_, err = c.Token(context.Background())
		return err
	}},
	{"tethered", func(t *testing.T, env Environment, opts Options) error {
		c, err := NewTetheredSource(TetheredConfig{ClientID: "teth-id", ClientSecret: leakSecret, Environment: env, RefreshToken: leakRT, Options: opts})
		if err != nil {
			return err
		}
		_, err = c.Token(context.Background())
		return err
	}},
	{"user refresh", func(t *testing.T, env Environment, opts Options) error {
		store := NewMemoryStore(&oauth2.Token{AccessToken: leakAT, RefreshToken: leakRT, Expiry: time.Now().Add(-time.Hour)})
		c, err := NewUserSource(UserConfig{ClientID: "user-id", ClientSecret: leakSecret, Environment: env, Store: store, Options: opts})
		if err != nil {
			return err
		}
		_, err = c.Token(context.Background())
		return err
	}},
	{"user exchange", func(t *testing.T, env Environment, opts Options) error {
		c, err := NewUserSource(UserConfig{ClientID: "user-id", ClientSecret: leakSecret, Environment: env, RedirectURL: "https://app.example/cb", Options: opts})
		if err != nil {
			return err
		}
		_, p := c.AuthCodeURL()
		_, err = c.Exchange(context.Background(), p, url.Values{"code": {leakCode}, "state": {p.State}})
		if err != nil {
			err = verifierFree(t, err, p.Verifier)
		}
		return err
	}},
}

func verifierFree(t *testing.T, err error, verifier string) error {
	for _, s := range renderings(err) {
		if strings.Contains(s, verifier) {
			t.Errorf("PKCE verifier leaked: %s", s)
		}
	}
	return err
}

func renderings(err error) []string {
	return []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%s", err), fmt.Sprintf("%q", err)}
}

func assertNoLeak(t *testing.T, err error) {
	t.Helper()
	for _, s := range renderings(err) {
		for _, secret := range []string{leakSecret, leakRT, leakCode, leakAT, leakJWT, leakOpaque, url.QueryEscape(leakSecret),
			"c3lzLWlkOlNFQ1JFVC1DTElFTlQtN2YzYTlk" /* base64 sys-id:secret */} {
			if strings.Contains(s, secret) {
				t.Errorf("%q leaked into %q", secret, s)
			}
		}
	}
}

func TestTokenErrorsAreMappedAndNeverLeakSecrets(t *testing.T) {
	for _, ec := range errCases {
		for _, cu := range clientsUnderTest {
			t.Run(ec.name+"/"+cu.name, func(t *testing.T) {
				env := Sandbox
				if ec.handler != nil {
					srv := httptest.NewServer(ec.handler)
					defer srv.Close()
					env.UserTokenURL, env.SystemTokenURL, env.CustomerTokenURL = srv.URL+"/t", srv.URL+"/t", srv.URL+"/t"
				} else {
					srv := httptest.NewServer(http.NotFoundHandler())
					u := srv.URL
					srv.Close()
					env.UserTokenURL, env.SystemTokenURL, env.CustomerTokenURL = u+"/t", u+"/t", u+"/t"
				}
				opts := Options{HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}}
				err := cu.run(t, env, opts)
				if err == nil {
					t.Fatal("no error")
				}
				assertNoLeak(t, err)
				if ec.kind != nil && !errors.Is(err, ec.kind) {
					t.Errorf("errors.Is(%v, %v) = false", err, ec.kind)
				}
				var te *TokenError
				if !errors.As(err, &te) {
					t.Fatalf("not a *TokenError: %T %v", err, err)
				}
				if te.Hint == "" {
					t.Errorf("no hint: %v", err)
				}
				var re *oauth2.RetrieveError
				if errors.As(err, &re) {
					t.Error("*oauth2.RetrieveError is reachable; its Error() prints the body")
				}
				if ec.check != nil {
					ec.check(t, te)
				}
			})
		}
	}
}

func TestCallbackErrorsNeverLeak(t *testing.T) {
	c, err := NewUserSource(UserConfig{ClientID: "user-id", ClientSecret: leakSecret, Environment: Sandbox})
	if err != nil {
		t.Fatal(err)
	}
	_, p := c.AuthCodeURL()
	for _, q := range []url.Values{
		{"state": {"wrong"}, "code": {leakCode}, "error": {"x " + leakSecret}},
		{"state": {p.State}, "code": {leakCode}, "error": {"access_denied"}, "error_description": {"code=" + leakCode + " " + leakSecret + " " + p.Verifier + " " + leakJWT}},
	} {
		_, err := c.Exchange(context.Background(), p, q)
		if err == nil {
			t.Fatal("no error")
		}
		assertNoLeak(t, err)
		verifierFree(t, err, p.Verifier)
	}
}

type leakyStore struct {
	tok     *oauth2.Token
	loadErr bool
}

func (s *leakyStore) Load(ctx context.Context) (*oauth2.Token, error) {
	if s.loadErr {
		return nil, fmt.Errorf("cannot read: refresh_token=%s secret %s", leakRT, leakSecret)
	}
	return cloneToken(s.tok), nil
}

func (s *leakyStore) Save(ctx context.Context, tok *oauth2.Token) error {
	return fmt.Errorf("cannot write access %s refresh %s", tok.AccessToken, tok.RefreshToken)
}

func TestStoreErrorsNeverLeak(t *testing.T) {
	as := newFakeAS(t)
	as.setOverride(func(w http.ResponseWriter, r *http.Request, form url.Values) bool {
		writeJSON(w, 200, map[string]any{"access_token": leakAT, "refresh_token": "RT-NEW-SECRET-4242", "expires_in": 600})
		return true
	})
	c, _ := NewTetheredSource(TetheredConfig{ClientID: "id", ClientSecret: leakSecret, Environment: as.env(), RefreshToken: leakRT, Store: &leakyStore{tok: &oauth2.Token{RefreshToken: leakRT}}})
	_, err := c.Token(context.Background())
	if !errors.Is(err, ErrNotPersisted) {
		t.Fatalf("err = %v", err)
	}
	assertNoLeak(t, err)
	if strings.Contains(err.Error(), "RT-NEW-SECRET-4242") {
		t.Fatalf("new refresh token leaked: %v", err)
	}

	c2, _ := NewTetheredSource(TetheredConfig{ClientID: "id", ClientSecret: leakSecret, Environment: as.env(), RefreshToken: leakRT, Store: &leakyStore{loadErr: true}})
	_, err = c2.Token(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	assertNoLeak(t, err)
}
