package pkbtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/wrappers"
)

func TestSimStatsAndAccessTokenTTL(t *testing.T) {
	sim := NewServer(t, WithAccessTokenTTL(2*time.Second))
	ctx := context.Background()
	env := sim.Environment()

	sys, err := authn.NewSystemSource(authn.SystemConfig{ClientID: DefaultSystemClientID, ClientSecret: DefaultClientSecret, Environment: env})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sys.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != 2 {
		t.Fatalf("expires_in = %d, want 2", tok.ExpiresIn)
	}

	rt, err := sim.IssueTetheredRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	teth := func() *wrappers.TetheredClient {
		src, err := authn.NewTetheredSource(authn.TetheredConfig{ClientID: DefaultTetheredClientID, ClientSecret: DefaultClientSecret,
			Environment: env, RefreshToken: rt})
		if err != nil {
			t.Fatal(err)
		}
		w, err := wrappers.NewTetheredClient(src)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	a, b := teth(), teth()
	if r, err := a.REST.Gen.GetUserByNhsNumberWithResponse(ctx, SeedPatientNHSNumber); err != nil || r.StatusCode() != 200 {
		t.Fatalf("call: %v", err)
	}
	// b presents the same refresh token: reuse, and the session dies.
	if _, err := b.REST.Gen.GetUserByNhsNumberWithResponse(ctx, SeedPatientNHSNumber); !errors.Is(err, authn.ErrReauthorize) {
		t.Fatalf("reuse not detected: %v", err)
	}

	resp, err := http.Get(sim.URL() + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.TokenRequests["system"]["client_credentials"] != 1 || st.TokenRequests["tethered"]["refresh_token"] != 2 {
		t.Fatalf("token requests = %v", st.TokenRequests)
	}
	if st.RefreshTokenRedemptions != 1 || st.ReuseDetections != 1 || st.SessionsKilled != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if st.APICalls["200"] != 1 {
		t.Fatalf("api calls = %v", st.APICalls)
	}
}
