package wrappers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkbgo/pkb/authn"
)

// unauthorizedServer answers every request 401 as answer writes it, and
// counts the requests.
func unauthorizedServer(t *testing.T, answer func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		answer(w)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func clinicianREST(t *testing.T, url string) (*REST, *fakeSource) {
	t.Helper()
	src := &fakeSource{ct: authn.ClientUser, scopes: []string{authn.ScopeClinician}, env: loopbackEnv(url)}
	c, err := NewUserClient(src)
	if err != nil {
		t.Fatal(err)
	}
	return c.REST, src
}

func btgCall() *Call { return &Call{Operation: "breakTheGlass", Path: []string{"123"}} }

// TestWrongUserType401SpendsNoRefresh: PKB's REST API answers a valid
// token of the wrong user type with 401 and a text message (docs/pkb-api.md
// §2.5). The client recognises it: no token is dropped (a refresh would
// spend the single-use refresh token), no replay, and the error is a typed
// permission error. Before, every such call dropped the token and
// refreshed.
func TestWrongUserType401SpendsNoRefresh(t *testing.T) {
	srv, n := unauthorizedServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "Login context is null. Error opening authorization request with supplied tokenHeader. Method requires a user within scope(s) CLINICIAN and BTG functionality enabled but current user is of UserType PATIENT")
	})
	rest, src := clinicianREST(t, srv.URL)
	for i := range 5 {
		_, err := rest.Family().Do(context.Background(), btgCall())
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 401 || !ae.WrongUserType || !IsPermissionDenied(err) {
			t.Fatalf("call %d: %v (%+v); want a 401 marked WrongUserType", i, err, ae)
		}
		if ae.Body == "" {
			t.Error("the server's message was lost")
		}
	}
	if got := src.gen.Load(); got != 1 {
		t.Errorf("%d tokens issued for five wrong-user-type 401s, want 1 (no refresh)", got)
	}
	if n.Load() != 5 {
		t.Errorf("%d requests for five calls, want 5 (no replay)", n.Load())
	}
}

// TestUnexplained401RefreshesOncePerToken: a 401 that says nothing (no
// invalid_token challenge, no PKB token code) is first taken as a refused
// token: dropped, replayed once with a fresh one. When the fresh token is
// refused too, the 401 is a refusal of the caller, and neither that call
// nor any later one, sequential or in a burst, spends another refresh for
// the same token.
func TestUnexplained401RefreshesOncePerToken(t *testing.T) {
	srv, n := unauthorizedServer(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) })
	rest, src := clinicianREST(t, srv.URL)
	_, err := rest.Family().Do(context.Background(), btgCall())
	var ae *APIError
	if !errors.As(err, &ae) || !ae.WrongUserType || !IsPermissionDenied(err) {
		t.Fatalf("first call: %v; want a refusal after the replay", err)
	}
	if src.gen.Load() != 2 || n.Load() != 2 {
		t.Fatalf("first call: %d tokens, %d requests; want 2 and 2 (one replay)", src.gen.Load(), n.Load())
	}
	for range 3 {
		if _, err := rest.Family().Do(context.Background(), btgCall()); !IsPermissionDenied(err) {
			t.Fatalf("later call: %v", err)
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := rest.Family().Do(context.Background(), btgCall()); !IsPermissionDenied(err) {
				t.Errorf("burst call: %v", err)
			}
		})
	}
	wg.Wait()
	if got := src.gen.Load(); got != 2 {
		t.Errorf("%d tokens issued, want 2: one refresh in all", got)
	}
	if n.Load() != 2+3+8 {
		t.Errorf("%d requests, want %d (no replays after the first call)", n.Load(), 2+3+8)
	}
}

// TestTokenRejected401StillRefreshes: a 401 that says the token is at
// fault (RFC 6750 invalid_token, or PKB's ACC_TOKEN_EXPIRED) keeps the
// drop-and-replay behaviour on every call, even for a token a refusal was
// seen for: an expired token must not be taken for a refusal.
func TestTokenRejected401StillRefreshes(t *testing.T) {
	var expired atomic.Bool
	srv, _ := unauthorizedServer(t, func(w http.ResponseWriter) {
		if expired.Load() {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pkb", error="invalid_token"`)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "Login context is null. Error opening authorization request with supplied tokenHeader. ACC_TOKEN_EXPIRED: expired")
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	rest, src := clinicianREST(t, srv.URL)
	if _, err := rest.Family().Do(context.Background(), btgCall()); !IsPermissionDenied(err) {
		t.Fatalf("unexplained 401: %v", err)
	}
	expired.Store(true)
	for i := range 3 {
		_, err := rest.Family().Do(context.Background(), btgCall())
		var ae *APIError
		if !errors.As(err, &ae) || ae.WrongUserType || IsPermissionDenied(err) {
			t.Fatalf("call %d: %v; want a plain 401", i, err)
		}
	}
	// 2 after the first call, then each expired-token call drops its token
	// and replays with a new one.
	if got := src.gen.Load(); got != 2+3 {
		t.Errorf("%d tokens issued, want %d (one refresh per call)", got, 2+3)
	}
}
