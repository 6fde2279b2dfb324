package authn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// fakeClock is an injectable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeAS is a minimal token endpoint that exists only to exercise this
// package's caching, rotation and error mapping; integration tests against
// a real OAuth server live in pkbtest.
type fakeAS struct {
	t   *testing.T
	srv *httptest.Server

	calls atomic.Int32

	mu          sync.Mutex
	seq         int
	live        map[string]bool // refresh tokens that may be redeemed
	used        map[string]bool // refresh tokens already redeemed
	reused      []string
	forms       []url.Values
	auths       []string
	expiresIn   int
	scope       string
	omitRefresh bool
	gate        chan struct{} // if non-nil, refresh requests wait on it
	override    func(w http.ResponseWriter, r *http.Request, form url.Values) bool
}

func newFakeAS(t *testing.T) *fakeAS {
	a := &fakeAS{t: t, live: map[string]bool{}, used: map[string]bool{}, expiresIn: 600}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAS) URL() string { return a.srv.URL + "/token" }

func (a *fakeAS) env() Environment {
	e := Sandbox
	e.UserAuthorizeURL = a.srv.URL + "/authorize"
	e.UserTokenURL = a.URL()
	e.SystemTokenURL = a.URL()
	e.CustomerTokenURL = a.URL()
	return e
}

// issueRT creates a redeemable refresh token, as a coordinator would.
func (a *fakeAS) issueRT() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	rt := fmt.Sprintf("rt-%d", a.seq)
	a.live[rt] = true
	return rt
}

func (a *fakeAS) setOverride(f func(w http.ResponseWriter, r *http.Request, form url.Values) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.override = f
}

func (a *fakeAS) lastForm() url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.forms) == 0 {
		return nil
	}
	return a.forms[len(a.forms)-1]
}

func (a *fakeAS) lastAuth() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.auths) == 0 {
		return ""
	}
	return a.auths[len(a.auths)-1]
}

func (a *fakeAS) reusedTokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.reused...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (a *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	a.calls.Add(1)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	a.mu.Lock()
	a.forms = append(a.forms, r.PostForm)
	a.auths = append(a.auths, r.Header.Get("Authorization"))
	override, gate := a.override, a.gate
	a.mu.Unlock()
	if override != nil && override(w, r, r.PostForm) {
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials", "authorization_code":
		a.mu.Lock()
		a.seq++
		n := a.seq
		a.mu.Unlock()
		a.issue(w, n, r.PostForm.Get("grant_type") == "authorization_code")
	case "refresh_token":
		if gate != nil {
			<-gate
		}
		rt := r.PostForm.Get("refresh_token")
		a.mu.Lock()
		if a.used[rt] {
			a.reused = append(a.reused, rt)
			a.mu.Unlock()
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "API_SESSION_INVALID: refresh token " + rt + " was used twice"})
			return
		}
		if !a.live[rt] {
			a.mu.Unlock()
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "unknown refresh token " + rt})
			return
		}
		a.used[rt] = true
		a.seq++
		n := a.seq
		a.mu.Unlock()
		a.issue(w, n, true)
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
	}
}

func (a *fakeAS) issue(w http.ResponseWriter, n int, withRefresh bool) {
	a.mu.Lock()
	body := map[string]any{
		"access_token": fmt.Sprintf("at-%d", n),
		"token_type":   "Bearer",
		"expires_in":   a.expiresIn,
	}
	if a.scope != "" {
		body["scope"] = a.scope
	}
	if withRefresh && !a.omitRefresh {
		rt := fmt.Sprintf("rt-%d", n)
		a.live[rt] = true
		body["refresh_token"] = rt
	}
	a.mu.Unlock()
	writeJSON(w, 200, body)
}

// recordingStore wraps a store and can be made to fail.
type recordingStore struct {
	TokenStore
	mu      sync.Mutex
	saves   []*oauth2.Token
	failErr error
	loads   int
}

func (s *recordingStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	s.loads++
	s.mu.Unlock()
	return s.TokenStore.Load(ctx)
}

func (s *recordingStore) Save(ctx context.Context, tok *oauth2.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failErr != nil {
		return s.failErr
	}
	s.saves = append(s.saves, cloneToken(tok))
	return s.TokenStore.Save(ctx, tok)
}

func (s *recordingStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failErr = err
}

func (s *recordingStore) saved() []*oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*oauth2.Token(nil), s.saves...)
}

// endSession makes every refresh token issued so far unusable, as PKB does
// when a session expires (API_SESSION_EXPIRED) or is revoked.
func (a *fakeAS) endSession() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.live = map[string]bool{}
}

// presented counts the requests that carried refresh token rt.
func (a *fakeAS) presented(rt string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, f := range a.forms {
		if f.Get("refresh_token") == rt {
			n++
		}
	}
	return n
}
