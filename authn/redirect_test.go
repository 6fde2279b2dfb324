package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// sink is a loopback "attacker" server that answers every request with a
// valid token response and records what reached it.
type sink struct {
	srv  *httptest.Server
	hits atomic.Int32

	mu   sync.Mutex
	seen []string // method, Authorization and body of every request
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, fmt.Sprintf("%s auth=%q body=%q", r.Method, r.Header.Get("Authorization"), b))
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"access_token": "AT-FROM-ATTACKER", "refresh_token": "RT-FROM-ATTACKER", "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// tokenPath is one way a client of this package sends credentials to a
// token endpoint. run returns the error of one token request and the store
// it used (nil for client-credentials clients).
type tokenPath struct {
	name string
	run  func(t *testing.T, env Environment, opts Options) (error, *recordingStore)
}

var tokenPaths = []tokenPath{
	{"system", func(t *testing.T, env Environment, opts Options) (error, *recordingStore) {
		c, err := NewSystemSource(SystemConfig{ClientID: "sys-id", ClientSecret: leakSecret, Environment: env, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Token(context.Background())
		return err, nil
	}},
	{"customer", func(t *testing.T, env Environment, opts Options) (error, *recordingStore) {
		c, err := NewCustomerSource(CustomerConfig{ClientID: "cust-id", ClientSecret: leakSecret, Environment: env, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Token(context.Background())
		return err, nil
	}},
	{"tethered", func(t *testing.T, env Environment, opts Options) (error, *recordingStore) {
		store := &recordingStore{TokenStore: NewMemoryStore(nil)}
		c, err := NewTetheredSource(TetheredConfig{ClientID: "teth-id", ClientSecret: leakSecret, Environment: env, RefreshToken: leakRT, Store: store, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Token(context.Background())
		return err, store
	}},
	{"user refresh", func(t *testing.T, env Environment, opts Options) (error, *recordingStore) {
		store := &recordingStore{TokenStore: NewMemoryStore(&oauth2.Token{AccessToken: leakAT, RefreshToken: leakRT, Expiry: time.Now().Add(-time.Hour)})}
		c, err := NewUserSource(UserConfig{ClientID: "user-id", ClientSecret: leakSecret, Environment: env, Store: store, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Token(context.Background())
		return err, store
	}},
	{"user exchange", func(t *testing.T, env Environment, opts Options) (error, *recordingStore) {
		store := &recordingStore{TokenStore: NewMemoryStore(nil)}
		c, err := NewUserSource(UserConfig{ClientID: "user-id", ClientSecret: leakSecret, Environment: env, RedirectURL: "https://app.example/cb", Store: store, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		_, p := c.AuthCodeURL()
		_, err = c.Exchange(context.Background(), p, url.Values{"code": {leakCode}, "state": {p.State}})
		if err != nil {
			err = verifierFree(t, err, p.Verifier)
		}
		return err, store
	}},
}

func envAt(base string) Environment {
	env := Sandbox
	env.UserAuthorizeURL = base + "/authorize"
	env.UserTokenURL, env.SystemTokenURL, env.CustomerTokenURL = base+"/token", base+"/token", base+"/token"
	return env
}

// A token endpoint that redirects must not receive a second chance to send
// the credentials elsewhere: 307/308 would re-POST the secret, refresh
// token, code and verifier, and 301-303 would still reach the other host.
func TestTokenRequestsNeverFollowRedirects(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, tp := range tokenPaths {
			for _, own := range []bool{false, true} {
				t.Run(fmt.Sprintf("%d/%s/own-client=%v", code, tp.name, own), func(t *testing.T) {
					evil := newSink(t)
					redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						http.Redirect(w, r, evil.srv.URL+"/token?stolen=1", code)
					}))
					defer redirector.Close()
					var opts Options
					var caller *http.Client
					if own {
						// A caller's client that would follow redirects.
						caller = &http.Client{Timeout: 5 * time.Second}
						opts.HTTPClient = caller
					}
					err, store := tp.run(t, envAt(redirector.URL), opts)
					if got := evil.received(); len(got) != 0 {
						t.Fatalf("the redirect target received %d request(s): %v", len(got), got)
					}
					if err == nil {
						t.Fatal("a redirected token request succeeded")
					}
					var te *TokenError
					if !errors.As(err, &te) || !errors.Is(err, ErrTokenEndpoint) || te.StatusCode != code {
						t.Fatalf("err = %T %v, want a *TokenError with status %d wrapping ErrTokenEndpoint", err, err, code)
					}
					if te.Hint == "" {
						t.Errorf("no hint: %v", err)
					}
					assertNoLeak(t, err)
					if store != nil && len(store.saved()) != 0 {
						t.Fatalf("saved %+v", store.saved())
					}
					if own && (caller.CheckRedirect != nil || caller.Transport != nil) {
						t.Fatal("the caller's *http.Client was modified")
					}
				})
			}
		}
	}
}

// followingTransport is a careless caller's RoundTripper that follows
// redirects itself, below CheckRedirect's reach.
type followingTransport struct{}

func (followingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return (&http.Client{Timeout: 5 * time.Second}).Do(req)
}

// When the caller's transport follows a redirect on its own, the request
// is already gone, but the answer of the other host must not be accepted
// or saved.
func TestTokenResponseFromAnotherURLIsRefused(t *testing.T) {
	for _, tp := range tokenPaths {
		t.Run(tp.name, func(t *testing.T) {
			evil := newSink(t)
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, evil.srv.URL+"/token", http.StatusTemporaryRedirect)
			}))
			defer redirector.Close()
			err, store := tp.run(t, envAt(redirector.URL), Options{HTTPClient: &http.Client{Transport: followingTransport{}}})
			if !errors.Is(err, ErrTokenEndpoint) {
				t.Fatalf("err = %v, want ErrTokenEndpoint (evil saw %d)", err, evil.hits.Load())
			}
			assertNoLeak(t, err)
			if store != nil && len(store.saved()) != 0 {
				t.Fatalf("saved the other host's tokens: %+v", store.saved())
			}
		})
	}
}

// Token endpoint URLs follow the rule of API base URLs: https, or plain
// http only to loopback, never with credentials or a fragment.
func TestTokenURLsMustBeHTTPSOrLoopback(t *testing.T) {
	bad := []string{
		"http://pkb.example.com/token",
		"http://10.1.2.3/token",
		"http://[2001:db8::1]/token",
		"http://127.0.0.1.nip.io/token",
		"http://localhost.example/token",
		"ftp://pkb.example.com/token",
		"https://user:pass@pkb.example.com/token",
		"https://user@pkb.example.com/token",
		"http://u:p@127.0.0.1/token",
		"https://pkb.example.com/token#frag",
		"https://pkb.example.com/token#",
		"https:///token",
		"//pkb.example.com/token",
		"/token",
		"",
	}
	good := []string{
		"https://pkb.example.com/token",
		"https://pkb.example.com:8443/token?realm=x",
		"http://127.0.0.1:8080/token",
		"http://127.9.9.9/token",
		"http://[::1]:9000/token",
		"http://localhost:9000/token",
		"HTTPS://PKB.EXAMPLE.COM/token",
	}
	build := map[string]func(Environment) error{
		"system": func(e Environment) error {
			return second(NewSystemSource(SystemConfig{ClientID: "i", ClientSecret: "s", Environment: e}))
		},
		"customer": func(e Environment) error {
			return second(NewCustomerSource(CustomerConfig{ClientID: "i", ClientSecret: "s", Environment: e}))
		},
		"tethered": func(e Environment) error {
			return second(NewTetheredSource(TetheredConfig{ClientID: "i", ClientSecret: "s", RefreshToken: "r", Environment: e}))
		},
		"user token": func(e Environment) error {
			return second(NewUserSource(UserConfig{ClientID: "i", ClientSecret: "s", Environment: e}))
		},
		"user authorize": func(e Environment) error {
			e.UserAuthorizeURL, e.UserTokenURL = e.UserTokenURL, Sandbox.UserTokenURL
			return second(NewUserSource(UserConfig{ClientID: "i", ClientSecret: "s", Environment: e}))
		},
	}
	for name, mk := range build {
		for _, u := range bad {
			if err := mk(Environment{UserAuthorizeURL: Sandbox.UserAuthorizeURL, UserTokenURL: u, SystemTokenURL: u, CustomerTokenURL: u}); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%s %q: err = %v, want ErrInvalidConfig", name, u, err)
			} else if strings.Contains(err.Error(), "pass") {
				t.Errorf("%s %q: the error quotes the URL's credentials: %v", name, u, err)
			}
		}
		for _, u := range good {
			if err := mk(Environment{UserAuthorizeURL: Sandbox.UserAuthorizeURL, UserTokenURL: u, SystemTokenURL: u, CustomerTokenURL: u}); err != nil {
				t.Errorf("%s %q: %v", name, u, err)
			}
		}
	}
}
