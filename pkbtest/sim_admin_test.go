package pkbtest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/pkbtest"
)

// redeemTethered redeems a tethered refresh token at /apiToken.action as a
// Tethered-Token System Client does (scope SITE) and returns the access
// token.
func redeemTethered(t *testing.T, s *pkbtest.Simulator, rt string) string {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {pkbtest.ScopeSite}}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, s.Environment().UserTokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(pkbtest.DefaultTetheredClientID, pkbtest.DefaultClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("redeeming the tethered refresh token: %s %v", resp.Status, err)
	}
	return tok.AccessToken
}

// TestSimTetheredTokens: POST /_sim/tethered-tokens issues a new tethered
// session on a running simulator, as a Team Coordinator does in PKB's web
// UI; the /_sim endpoints answer loopback clients only.
func TestSimTetheredTokens(t *testing.T) {
	s := newSim(t)
	issue := func() pkbtest.TetheredToken {
		t.Helper()
		resp, err := http.Post(s.URL()+"/_sim/tethered-tokens", "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tt pkbtest.TetheredToken
		if err := json.NewDecoder(resp.Body).Decode(&tt); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /_sim/tethered-tokens: %s %v", resp.Status, err)
		}
		return tt
	}
	a, b := issue(), issue()
	if a.RefreshToken == "" || a.RefreshToken == b.RefreshToken || a.ClientID != pkbtest.DefaultTetheredClientID || a.Scope != "SITE" {
		t.Fatalf("issued %+v and %+v", a, b)
	}
	for _, tt := range []pkbtest.TetheredToken{a, b} {
		resp, m := raw(t, http.MethodGet, s.Environment().RESTURL+"/users/self", redeemTethered(t, s, tt.RefreshToken), nil, "")
		if resp.StatusCode != http.StatusOK || get(m, "userType") != "TEAMCOORD" {
			t.Errorf("users/self with the issued session: %s %v", resp.Status, m)
		}
	}

	resp, _ := raw(t, http.MethodGet, s.URL()+"/_sim/tethered-tokens", "", nil, "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s", resp.Status)
	}
	resp, _ = raw(t, http.MethodPost, s.URL()+"/_sim/tethered-tokens?client_id="+pkbtest.DefaultSystemClientID, "", nil, "")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("for a System Client: %s", resp.Status)
	}

	// From another host: refused, for both admin endpoints.
	for _, path := range []string{"/_sim/tethered-tokens", "/_sim/stats"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		if path == "/_sim/stats" {
			req.Method = http.MethodGet
		}
		req.RemoteAddr = "192.0.2.10:40000"
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "refresh_token") {
			t.Errorf("%s from 192.0.2.10: %d %s", path, rec.Code, rec.Body)
		}
	}
}
