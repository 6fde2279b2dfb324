package pkbtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// Customer System Client access tokens are JWTs, as PKB's Keycloak realm
// "pkb" issues them (docs/pkb-api.md §1.2, §3.5): RS256-signed by a key the
// server generates, with Keycloak's claims for a client-credentials token.
// Every other client type keeps fosite's opaque HMAC tokens.

// EndpointCustomerCerts is the Keycloak realm's JWKS endpoint: the public
// key that verifies Customer System Client access tokens.
const EndpointCustomerCerts Endpoint = "/auth/realms/pkb/protocol/openid-connect/certs"

// keycloakRealmPath is the realm's issuer path under the server's URL.
const keycloakRealmPath = "/auth/realms/pkb"

// KeycloakAudience is the aud claim of Customer System Client tokens:
// Keycloak's default audience ("account") for a confidential client
// (ASSUMPTION: PKB's realm configuration is not published).
const KeycloakAudience = "account"

// KeycloakClaims are the claims of a Customer System Client access token,
// as Keycloak issues them for a client-credentials grant.
type KeycloakClaims struct {
	jwt.Claims
	// Type is "Bearer".
	Type string `json:"typ"`
	// AuthorizedParty is the client id (Keycloak's azp).
	AuthorizedParty string `json:"azp"`
	// Scope is the space-separated granted scope, e.g. "email profile".
	Scope string `json:"scope"`
	// ClientID repeats the client id, as Keycloak's service accounts do.
	ClientID string `json:"clientId"`
	// PreferredUsername is "service-account-" + the client id.
	PreferredUsername string `json:"preferred_username"`
}

// realmKey is the signing key of the simulated Keycloak realm, generated on
// first use so that servers that never issue a Customer token pay nothing.
type realmKey struct {
	once sync.Once
	key  *rsa.PrivateKey
	kid  string
	err  error
}

func (k *realmKey) get() (*rsa.PrivateKey, string, error) {
	k.once.Do(func() {
		k.key, k.err = rsa.GenerateKey(rand.Reader, 2048)
		k.kid = rand.Text()[:16]
	})
	return k.key, k.kid, k.err
}

// issuerKey carries the realm's issuer URL from the token request to the
// token strategy.
type issuerKey struct{}

// realmIssuer is the iss of tokens issued through r: the server's URL (or,
// when it has none, the host the client reached) and the realm path.
func (s *AuthServer) realmIssuer(r *http.Request) string {
	if u := s.URL(); u != "" {
		return u + keycloakRealmPath
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + keycloakRealmPath
}

// tokenStrategy is fosite's HMAC strategy, except that access tokens of
// Customer System Clients are Keycloak-style JWTs.
type tokenStrategy struct {
	*oauth2.HMACSHAStrategy
	realm *realmKey
}

var _ oauth2.CoreStrategy = (*tokenStrategy)(nil)

// isJWT reports whether a token has a JWS compact serialization's shape;
// fosite's HMAC tokens have one dot.
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// AccessTokenSignature keys a token in the store: a JWT's signature part,
// or the HMAC token's signature.
func (s *tokenStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		return token[strings.LastIndex(token, ".")+1:]
	}
	return s.HMACSHAStrategy.AccessTokenSignature(ctx, token)
}

// GenerateAccessToken issues a JWT to a Customer System Client and an HMAC
// token to anyone else.
func (s *tokenStrategy) GenerateAccessToken(ctx context.Context, req fosite.Requester) (string, string, error) {
	c, ok := req.GetClient().(*pkbClient)
	if !ok || c.typ != ClientTypeCustomer {
		return s.HMACSHAStrategy.GenerateAccessToken(ctx, req)
	}
	key, kid, err := s.realm.get()
	if err != nil {
		return "", "", err
	}
	iss, _ := ctx.Value(issuerKey{}).(string)
	now := time.Now()
	exp := req.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(c.srv.accessLifespan(c.typ))
	}
	claims := KeycloakClaims{
		Claims: jwt.Claims{
			Issuer:   iss,
			Subject:  "service-account-" + c.GetID(),
			Audience: jwt.Audience{KeycloakAudience},
			// Whole seconds, rounded up so the JWT never expires before the
			// session's record of it.
			Expiry:   jwt.NewNumericDate(exp.Add(time.Second - 1).Truncate(time.Second)),
			IssuedAt: jwt.NewNumericDate(now),
			ID:       rand.Text(),
		},
		Type:              "Bearer",
		AuthorizedParty:   c.GetID(),
		Scope:             strings.Join(req.GetGrantedScopes(), " "),
		ClientID:          c.GetID(),
		PreferredUsername: "service-account-" + c.GetID(),
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", "", err
	}
	token, err := jwt.Signed(signer).Claims(claims).CompactSerialize()
	if err != nil {
		return "", "", err
	}
	return token, s.AccessTokenSignature(ctx, token), nil
}

// ValidateAccessToken checks a JWT as a resource server must (RS256 with
// the realm's key and kid, iss of the realm, aud, exp, iat, azp and scope
// of the stored grant) and then the stored session's expiry, which
// ExpireAccessToken can shorten; HMAC tokens are fosite's.
func (s *tokenStrategy) ValidateAccessToken(ctx context.Context, req fosite.Requester, token string) error {
	if !isJWT(token) {
		return s.HMACSHAStrategy.ValidateAccessToken(ctx, req, token)
	}
	claims, err := s.verifyJWT(token)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return fosite.ErrTokenExpired.WithWrap(err)
	case err != nil:
		return fosite.ErrRequestUnauthorized.WithWrap(err)
	case claims.AuthorizedParty != req.GetClient().GetID() || claims.Scope != strings.Join(req.GetGrantedScopes(), " "):
		return fosite.ErrTokenClaim.WithHint("azp or scope differ from the grant")
	}
	if exp := req.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() && exp.Before(time.Now()) {
		return fosite.ErrTokenExpired
	}
	return nil
}

// verifyJWT checks a token's header, signature and registered claims.
func (s *tokenStrategy) verifyJWT(token string) (KeycloakClaims, error) {
	var claims KeycloakClaims
	key, kid, err := s.realm.get()
	if err != nil {
		return claims, err
	}
	tok, err := jwt.ParseSigned(token)
	if err != nil {
		return claims, err
	}
	if len(tok.Headers) != 1 || tok.Headers[0].Algorithm != string(jose.RS256) || tok.Headers[0].KeyID != kid {
		return claims, errors.New("not an RS256 token of this realm")
	}
	if err := tok.Claims(&key.PublicKey, &claims); err != nil {
		return claims, err
	}
	if !strings.HasSuffix(claims.Issuer, keycloakRealmPath) || claims.Type != "Bearer" {
		return claims, errors.New("not an access token of realm pkb")
	}
	return claims, claims.ValidateWithLeeway(jwt.Expected{Audience: jwt.Audience{KeycloakAudience}, Time: time.Now()}, 0)
}

// handleCerts serves the realm's JSON Web Key Set.
func (s *AuthServer) handleCerts(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "GET only")
		return
	}
	key, kid, err := s.strategy.realm.get()
	if err != nil {
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "no realm key")
		return
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}}}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}
