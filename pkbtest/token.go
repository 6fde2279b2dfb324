package pkbtest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"
)

// userTokenResponse is /apiToken.action's success body (docs/pkb-api.md §3.2).
type userTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// systemTokenResponse is /api/oauth/token's success body (docs/pkb-api.md §3.4).
type systemTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	ClientName  string `json:"client_name"`
	JTI         string `json:"jti"`
}

// customerTokenResponse is Keycloak's success body (docs/pkb-api.md §3.5).
type customerTokenResponse struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	TokenType        string `json:"token_type"`
	NotBeforePolicy  int64  `json:"not-before-policy"`
	Scope            string `json:"scope"`
}

type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="pkbtest"`)
	}
	writeJSON(w, status, oauthError{Error: code, ErrorDescription: desc})
}

// writeFositeError writes a fosite error in the endpoint's own error shape.
func writeFositeError(w http.ResponseWriter, ep Endpoint, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	status, code, desc := rfc.CodeField, rfc.ErrorField, rfc.GetDescription()
	switch ep {
	case EndpointSystemToken:
		// Spring Security OAuth2 shapes.
		switch code {
		case "invalid_client", "unauthorized_client":
			status, code, desc = http.StatusUnauthorized, "unauthorized", "Bad credentials"
		}
	case EndpointCustomerToken:
		// Keycloak shapes.
		switch code {
		case "invalid_client":
			status, desc = http.StatusUnauthorized, "Invalid client or Invalid client credentials"
		}
	}
	writeOAuthError(w, status, code, desc)
}

// writeSessionError is how /apiToken.action reports a dead session: invalid_grant
// with the PKB response code leading the description.
func writeSessionError(w http.ResponseWriter, code ResponseCode, desc string) {
	writeOAuthError(w, http.StatusBadRequest, "invalid_grant", string(code)+": "+desc)
}

// clientFromRequest returns the client id and secret from HTTP Basic (as
// fosite decodes it) or, failing that, from the form.
func clientFromRequest(r *http.Request) (id, secret string, basic bool) {
	if bid, bsecret, ok := r.BasicAuth(); ok {
		if uid, err := url.QueryUnescape(bid); err == nil {
			bid = uid
		}
		if usecret, err := url.QueryUnescape(bsecret); err == nil {
			bsecret = usecret
		}
		return bid, bsecret, true
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), false
}

func secretOK(c *pkbClient, secret string) bool {
	return subtle.ConstantTimeCompare(c.Secret, []byte(secret)) == 1
}

// tokenHandler serves one of the three token endpoints. Everything that is
// OAuth (client authentication, grant validation, code and PKCE checks,
// token generation, storage, rotation, reuse revocation) is fosite's; this
// handler only keeps clients at their own endpoint, adds PKB's session codes
// and writes each endpoint's response shape.
func (s *AuthServer) tokenHandler(ep Endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.flowMu.Lock()
		defer s.flowMu.Unlock()
		ctx := context.WithValue(r.Context(), issuerKey{}, s.realmIssuer(r))

		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Unable to parse the form body.")
				return
			}
		}
		grantType := r.PostForm.Get("grant_type")
		clientID, secret, basic := clientFromRequest(r)
		client, known := s.store.client(clientID)
		if known {
			s.stats.tokenRequest(string(client.typ), grantType)
		} else {
			s.stats.tokenRequest("unknown", grantType)
		}

		switch ep {
		case EndpointSystemToken:
			if r.Method == http.MethodPost && !basic {
				w.Header().Set("WWW-Authenticate", `Basic realm="oauth2/client"`)
				writeOAuthError(w, http.StatusUnauthorized, "unauthorized", "Full authentication is required to access this resource")
				return
			}
			if basic && (!known || client.typ != ClientTypeSystem || !secretOK(client, secret)) {
				w.Header().Set("WWW-Authenticate", `Basic realm="oauth2/client"`)
				writeOAuthError(w, http.StatusUnauthorized, "unauthorized", "Bad credentials")
				return
			}
			if r.Method == http.MethodPost && grantType != "client_credentials" {
				writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant type: "+grantType)
				return
			}
		case EndpointCustomerToken:
			if r.Method == http.MethodPost && (!known || client.typ != ClientTypeCustomer || !secretOK(client, secret)) {
				writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Invalid client or Invalid client credentials")
				return
			}
			if r.Method == http.MethodPost && grantType != "client_credentials" {
				writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type")
				return
			}
		case EndpointUserToken:
			if known && client.typ != ClientTypeUser && client.typ != ClientTypeTethered {
				writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Only User Clients and Tethered-Token System Clients may use "+string(ep)+".")
				return
			}
			if grantType != "" && grantType != "authorization_code" && grantType != "refresh_token" {
				writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type "+grantType+" is not supported at "+string(ep)+".")
				return
			}
			if known && client.typ == ClientTypeTethered && grantType == "refresh_token" && r.PostForm.Get("scope") != ScopeSite {
				writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "A Tethered-Token System Client must send scope=SITE.")
				return
			}
		}

		// Before fosite looks at a refresh token, note whether it is one
		// already used (reuse: fosite will revoke the session), one of a
		// session already invalidated, or one of an expired session.
		var sessionID string
		var reused, killed, expired bool
		if grantType == "refresh_token" {
			sig := s.strategy.RefreshTokenSignature(ctx, r.PostForm.Get("refresh_token"))
			if id, ok := s.store.sessionOfRefresh(sig); ok {
				sessionID = id
				killed = s.store.isKilled(id)
				req, err := s.store.GetRefreshTokenSession(ctx, sig, nil)
				reused = errors.Is(err, fosite.ErrInactiveToken)
				expired = err == nil && s.store.sessionExpired(id, time.Now()) &&
					known && req.GetClient().GetID() == clientID && secretOK(client, secret)
			}
		}
		if expired && !killed {
			// The session's absolute lifetime is over (possibly cut short
			// by ExpireSession): nothing of it works any more.
			writeSessionError(w, CodeSessionExpired, "the API session has expired")
			return
		}

		ar, err := s.provider.NewAccessRequest(ctx, r, &fosite.DefaultSession{})
		if err != nil {
			if rfc := fosite.ErrorToRFC6749Error(err); rfc.ErrorField == "invalid_grant" && sessionID != "" {
				if reused || killed {
					s.stats.add(func(st *stats) {
						st.reused++
						if !killed {
							st.killed++
						}
					})
					s.killSession(sessionID)
					writeSessionError(w, CodeSessionInvalid, "the API session was invalidated because a refresh token was used more than once")
					return
				}
			}
			writeFositeError(w, ep, err)
			return
		}

		fc := ar.GetClient().(*pkbClient)
		if ar.GetGrantTypes().ExactOne("client_credentials") {
			// PKB and Keycloak grant the client's configured scopes when
			// none is asked for.
			scopes := ar.GetRequestedScopes()
			if len(scopes) == 0 {
				scopes = fc.GetScopes()
			}
			for _, sc := range scopes {
				ar.GrantScope(sc)
			}
		}

		resp, err := s.provider.NewAccessResponse(ctx, ar)
		if err != nil {
			writeFositeError(w, ep, err)
			return
		}
		if grantType == "refresh_token" {
			s.stats.add(func(st *stats) { st.redeemed++ })
		}
		expiresIn := int64(s.accessLifespan(fc.typ).Round(time.Second) / time.Second)
		scope := strings.Join(ar.GetGrantedScopes(), " ")
		switch ep {
		case EndpointSystemToken:
			writeJSON(w, http.StatusOK, systemTokenResponse{
				AccessToken: resp.GetAccessToken(),
				TokenType:   "bearer",
				ExpiresIn:   expiresIn,
				Scope:       scope,
				ClientName:  fc.name,
				JTI:         ar.GetID(),
			})
		case EndpointCustomerToken:
			writeJSON(w, http.StatusOK, customerTokenResponse{
				AccessToken: resp.GetAccessToken(),
				ExpiresIn:   expiresIn,
				TokenType:   "Bearer",
				Scope:       scope,
			})
		default:
			refresh, _ := resp.GetExtra("refresh_token").(string)
			writeJSON(w, http.StatusOK, userTokenResponse{
				AccessToken:  resp.GetAccessToken(),
				TokenType:    "Bearer",
				ExpiresIn:    expiresIn,
				RefreshToken: refresh,
				Scope:        scope,
			})
		}
	})
}
