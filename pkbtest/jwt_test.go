package pkbtest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/pkbtest"
)

// TestCustomerTokensAreJWTs: Customer System Client access tokens are
// RS256 JWTs with Keycloak's claims (docs/pkb-api.md §3.5), verifiable with
// the realm's published key; the resource side verifies them (signature,
// kid, iss, aud, exp, azp, scope) and refuses a tampered or unsigned one.
// Other client types keep opaque tokens.
func TestCustomerTokensAreJWTs(t *testing.T) {
	s := pkbtest.StartAuthServer(t)
	ctx := ctxT(t)
	tok, err := customerConfig(s, oauth2.AuthStyleInParams).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok.AccessToken)
	if err != nil {
		t.Fatalf("the customer access token is not a JWS: %v", err)
	}
	if h := parsed.Headers[0]; h.Algorithm != "RS256" || h.KeyID == "" || h.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header = %+v", h)
	}

	// Verified with the key from the realm's JWKS endpoint.
	resp, err := http.Get(s.URL() + string(pkbtest.EndpointCustomerCerts))
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	keys := set.Key(parsed.Headers[0].KeyID)
	if err != nil || len(keys) != 1 || keys[0].IsPublic() != true {
		t.Fatalf("JWKS: %v %+v", err, set)
	}
	var claims pkbtest.KeycloakClaims
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("signature does not verify with the published key: %v", err)
	}
	if claims.Issuer != s.URL()+"/auth/realms/pkb" || len(claims.Audience) != 1 || claims.Audience[0] != "account" ||
		claims.AuthorizedParty != pkbtest.DefaultCustomerClientID || claims.Scope != "email profile" || claims.Type != "Bearer" ||
		claims.ID == "" || claims.Subject == "" {
		t.Errorf("claims = %+v", claims)
	}
	if life := claims.Expiry.Time().Sub(claims.IssuedAt.Time()); life < 299*time.Second || life > 301*time.Second {
		t.Errorf("exp - iat = %v, want Keycloak's 300 s", life)
	}
	if _, err := s.Introspect(ctx, tok.AccessToken); err != nil {
		t.Fatalf("Introspect: %v", err)
	}

	// The payload edited, the signature kept: refused.
	parts := strings.Split(tok.AccessToken, ".")
	var payload map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(b, &payload)
	payload["azp"], payload["clientId"] = pkbtest.DefaultSystemClientID, pkbtest.DefaultSystemClientID
	b, _ = json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	_, err = s.Introspect(ctx, tampered)
	wantCode(t, err, pkbtest.ErrBadAuthentication)
	// alg none with the stored signature part: refused.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]
	_, err = s.Introspect(ctx, none)
	wantCode(t, err, pkbtest.ErrBadAuthentication)
	// Expired by the operator: ACC_TOKEN_EXPIRED, as for opaque tokens.
	if err := s.ExpireAccessToken(tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	_, err = s.Introspect(ctx, tok.AccessToken)
	wantCode(t, err, pkbtest.ErrAccessTokenExpired)
	// A JWT whose own exp has passed.
	s.SetAccessTokenLifespan(pkbtest.ClientTypeCustomer, -time.Minute)
	old, err := customerConfig(s, oauth2.AuthStyleInParams).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Introspect(ctx, old.AccessToken)
	wantCode(t, err, pkbtest.ErrAccessTokenExpired)

	sys, err := systemConfig(s, oauth2.AuthStyleInHeader).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(sys.AccessToken, ".") == 2 {
		t.Errorf("System Client tokens should stay opaque; only the Keycloak realm issues JWTs here")
	}
}
