package pkbtest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// ResponseCode is a code of PKB's response-code CodeSystem
// (http://fhir.patientsknowbest.com/codesystem/response-code, docs/pkb-api.md §4).
type ResponseCode string

const (
	// CodeAccessTokenExpired: the access token expired; refresh it.
	CodeAccessTokenExpired ResponseCode = "ACC_TOKEN_EXPIRED"
	// CodeBadAuthentication: no valid access token (missing, unknown,
	// malformed or revoked).
	CodeBadAuthentication ResponseCode = "BAD_AUTHENTICATION"
	// CodeSessionInvalid: the session was invalidated, e.g. a refresh
	// token was used twice; neither its access nor refresh tokens work.
	CodeSessionInvalid ResponseCode = "API_SESSION_INVALID"
	// CodeSessionExpired: the session reached its absolute lifetime.
	CodeSessionExpired ResponseCode = "API_SESSION_EXPIRED"
)

// TokenError is why a token was refused, with PKB's response code. Compare
// with errors.Is against ErrAccessTokenExpired, ErrBadAuthentication,
// ErrSessionInvalid or ErrSessionExpired (they match on Code).
type TokenError struct {
	// Code is the PKB response code.
	Code ResponseCode
	// Description is human-readable detail.
	Description string
}

// Error implements error.
func (e *TokenError) Error() string {
	if e.Description == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Description
}

// Is reports whether target is a *TokenError with the same Code.
func (e *TokenError) Is(target error) bool {
	t, ok := target.(*TokenError)
	return ok && t.Code == e.Code
}

// HTTPStatus is the status a PKB resource server would answer with: 401
// for every token and session code (docs/pkb-api.md §6 item 19 assumption).
func (e *TokenError) HTTPStatus() int { return http.StatusUnauthorized }

// Sentinel token errors, for errors.Is.
var (
	// ErrAccessTokenExpired matches any ACC_TOKEN_EXPIRED TokenError.
	ErrAccessTokenExpired = &TokenError{Code: CodeAccessTokenExpired, Description: "Access token expired"}
	// ErrBadAuthentication matches any BAD_AUTHENTICATION TokenError.
	ErrBadAuthentication = &TokenError{Code: CodeBadAuthentication, Description: "No valid access token"}
	// ErrSessionInvalid matches any API_SESSION_INVALID TokenError.
	ErrSessionInvalid = &TokenError{Code: CodeSessionInvalid, Description: "API session invalidated"}
	// ErrSessionExpired matches any API_SESSION_EXPIRED TokenError.
	ErrSessionExpired = &TokenError{Code: CodeSessionExpired, Description: "API session expired"}
)

func tokenErr(code ResponseCode, desc string) *TokenError {
	return &TokenError{Code: code, Description: desc}
}

// Grant is who an access token belongs to.
type Grant struct {
	// ClientType is the type of the client the token was issued to.
	ClientType ClientType
	// ClientID is the client the token was issued to.
	ClientID string
	// UserID is the approving user (user clients), the Team Coordinator
	// (tethered clients), or empty (system and customer clients).
	UserID string
	// Scopes are the granted scopes, e.g. [PATIENT], [SITE],
	// [<org uuid>-all] or [email profile].
	Scopes []string
	// IssuedAt is when the request that issued the token was made.
	IssuedAt time.Time
	// ExpiresAt is when the access token expires.
	ExpiresAt time.Time
	// SessionID identifies the session: every token from one authorization
	// (and its refreshes) shares it.
	SessionID string
}

// HasScope reports whether scope was granted.
func (g Grant) HasScope(scope string) bool { return slices.Contains(g.Scopes, scope) }

// Introspect validates an access token as a PKB resource server would and
// says whom it belongs to. Errors are *TokenError: ACC_TOKEN_EXPIRED for an
// expired token, API_SESSION_INVALID for a token of an invalidated session,
// API_SESSION_EXPIRED for a token of a session past its absolute lifetime,
// BAD_AUTHENTICATION for anything else (empty, unknown, revoked, a refresh
// token, or an access token superseded by a refresh).
func (s *AuthServer) Introspect(ctx context.Context, accessToken string) (Grant, error) {
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	if accessToken == "" {
		return Grant{}, tokenErr(CodeBadAuthentication, "no access token")
	}
	sig := s.strategy.AccessTokenSignature(ctx, accessToken)
	if id, ok := s.store.sessionOfAccess(sig); ok && s.store.isKilled(id) {
		return Grant{}, tokenErr(CodeSessionInvalid, "the API session was invalidated")
	}
	if id, ok := s.store.sessionOfAccess(sig); ok && s.store.sessionExpired(id, time.Now()) {
		return Grant{}, tokenErr(CodeSessionExpired, "the API session has expired")
	}
	if s.store.isRevoked(sig) {
		return Grant{}, tokenErr(CodeBadAuthentication, "the access token was revoked")
	}
	use, ar, err := s.provider.IntrospectToken(ctx, accessToken, fosite.AccessToken, &fosite.DefaultSession{})
	if err != nil {
		if errors.Is(err, fosite.ErrTokenExpired) {
			return Grant{}, tokenErr(CodeAccessTokenExpired, "access token expired")
		}
		return Grant{}, tokenErr(CodeBadAuthentication, "invalid access token")
	}
	if use != fosite.AccessToken {
		return Grant{}, tokenErr(CodeBadAuthentication, "not an access token")
	}
	g := Grant{
		ClientID:  ar.GetClient().GetID(),
		UserID:    ar.GetSession().GetSubject(),
		Scopes:    slices.Clone([]string(ar.GetGrantedScopes())),
		IssuedAt:  ar.GetRequestedAt(),
		ExpiresAt: ar.GetSession().GetExpiresAt(fosite.AccessToken),
		SessionID: ar.GetID(),
	}
	if c, ok := ar.GetClient().(*pkbClient); ok {
		g.ClientType = c.typ
	}
	return g, nil
}

// Authenticate reads "Authorization: Bearer <token>" from r and introspects
// the token; a missing or malformed header is BAD_AUTHENTICATION. It is the
// check a simulated PKB resource endpoint starts with.
func (s *AuthServer) Authenticate(r *http.Request) (Grant, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Grant{}, tokenErr(CodeBadAuthentication, "missing or malformed Authorization: Bearer header")
	}
	return s.Introspect(r.Context(), strings.TrimSpace(token))
}
