package authn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkbgo/pkb/authn"
)

// stubPKB stands in for PKB's token endpoints so the examples run offline.
// It issues numbered tokens and rotates refresh tokens.
func stubPKB() *httptest.Server {
	var mu sync.Mutex
	n := 0
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		defer mu.Unlock()
		n++
		body := map[string]any{"access_token": fmt.Sprintf("access-%d", n), "token_type": "Bearer", "expires_in": 600}
		switch r.PostForm.Get("grant_type") {
		case "client_credentials":
			body["scope"] = "none"
		case "authorization_code":
			body["scope"], body["refresh_token"] = "PATIENT", fmt.Sprintf("refresh-%d", n)
		case "refresh_token":
			body["scope"], body["refresh_token"] = r.PostForm.Get("scope"), fmt.Sprintf("refresh-%d", n)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(body)
	}))
}

// pointAt returns env with every token URL on srv.
func pointAt(env authn.Environment, srv *httptest.Server) authn.Environment {
	env.UserAuthorizeURL = srv.URL + "/apiAuthorize.action"
	env.UserTokenURL = srv.URL + "/apiToken.action"
	env.SystemTokenURL = srv.URL + "/api/oauth/token"
	env.CustomerTokenURL = srv.URL + "/auth/realms/pkb/protocol/openid-connect/token"
	return env
}

func ExampleNewSystemSource() {
	srv := stubPKB()
	defer srv.Close()

	c, err := authn.NewSystemSource(authn.SystemConfig{
		ClientID:     "my-system-client",
		ClientSecret: "example-secret",
		Environment:  pointAt(authn.Sandbox, srv), // authn.Sandbox in real use
	})
	if err != nil {
		log.Fatal(err)
	}
	// Grant needs no I/O, so callers can refuse an operation up front.
	typ, scopes := c.Grant()
	fmt.Println(typ, scopes)

	tok, err := c.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.AccessToken)
	// After a 401 with this token: drop it, the next Token fetches anew.
	c.Invalidate(tok.AccessToken)
	tok, _ = c.Token(context.Background())
	fmt.Println(tok.AccessToken)
	// Output:
	// system []
	// access-1
	// access-2
}

func ExampleNewCustomerSource() {
	srv := stubPKB()
	defer srv.Close()

	env := pointAt(authn.Sandbox, srv)
	c, err := authn.NewCustomerSource(authn.CustomerConfig{
		ClientID:     "my-customer-client",
		ClientSecret: "example-secret",
		Environment:  env,
	})
	if err != nil {
		log.Fatal(err)
	}
	base, err := env.CustomerURL("acme")
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(base)
	fmt.Println(tok.AccessToken)
	// Output:
	// https://acme.fhir-api.sandbox.patientsknowbest.com/fhir
	// access-1
}

func ExampleNewTetheredSource() {
	srv := stubPKB()
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "pkb")
	defer os.RemoveAll(dir)

	// Every rotated refresh token is written here before it is used, so a
	// restart resumes the session instead of needing a new token from the
	// Team Coordinator.
	store := authn.NewFileStore(filepath.Join(dir, "tethered-token.json"))
	c, err := authn.NewTetheredSource(authn.TetheredConfig{
		ClientID:     "my-rest-client",
		ClientSecret: "example-secret",
		Environment:  pointAt(authn.Sandbox, srv),
		RefreshToken: "refresh-from-coordinator",
		Store:        store,
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := c.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	saved, _ := store.Load(context.Background())
	typ, scopes := c.Grant()
	fmt.Println(tok.AccessToken, saved.RefreshToken, typ, scopes)
	// Output:
	// access-1 refresh-1 tethered [SITE]
}

func ExampleNewUserSource() {
	srv := stubPKB()
	defer srv.Close()

	c, err := authn.NewUserSource(authn.UserConfig{
		ClientID:     "my-app",
		ClientSecret: "example-secret",
		Environment:  pointAt(authn.Sandbox, srv),
		RedirectURL:  "https://app.example/callback",
		Scope:        authn.ScopePatient,
		Store:        authn.NewMemoryStore(nil), // use a FileStore or your database
	})
	if err != nil {
		log.Fatal(err)
	}

	// 1. Send the browser to authURL; keep pending in the server-side session.
	authURL, pending := c.AuthCodeURL()
	fmt.Println(strings.Contains(authURL, "code_challenge_method=S256"))

	// 2. PKB redirects back to https://app.example/callback?code=...&state=...
	callback := url.Values{"code": {"code-from-pkb"}, "state": {pending.State}}

	// 3. Exchange checks state, sends the PKCE verifier and saves the token.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, err := c.Exchange(ctx, pending, callback)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(authn.GrantedScopes(tok))
	// Output:
	// true
	// [PATIENT]
}

func ExampleLoginLoopback() {
	store := authn.NewFileStore(filepath.Join(os.Getenv("HOME"), ".config", "pkb", "token.json"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := authn.LoginLoopback(ctx, authn.UserConfig{
		ClientID:    "my-cli",
		Environment: authn.Sandbox,
		Scope:       authn.ScopeClinician,
		Store:       store,
	}, func(u string) error {
		fmt.Println("Open this URL in your browser:", u)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Later runs need no login: NewUserSource with the same store resumes.
}
