package pkbtest

import (
	"context"
	"html/template"
	"net/http"
	"slices"

	"github.com/ory/fosite"
)

var authorizeErrorPage = template.Must(template.New("err").Parse(`<!DOCTYPE html>
<html><head><title>Patients Know Best - Error</title></head>
<body><h1>Sorry, there was a problem with this request</h1>
<p id="error">{{.Error}}</p><p id="error_description">{{.Description}}</p></body></html>
`))

// handleAuthorize is /apiAuthorize.action. fosite validates the request
// (client, redirect URI including RFC 8252 loopback ports, response_type,
// scope, state, PKCE S256) and issues the code; this handler stands in for
// the login and Approve/Deny page.
func (s *AuthServer) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	ctx := r.Context()

	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.writeAuthorizeError(ctx, w, ar, err)
		return
	}
	client := ar.GetClient().(*pkbClient)
	if client.typ != ClientTypeUser {
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrUnauthorizedClient.WithHint("Only User Clients may use the authorization endpoint."))
		return
	}

	approval := s.currentApproval()
	var scope string
	switch requested := ar.GetRequestedScopes(); len(requested) {
	case 0:
		// "If omitted, any scope enabled for the client is allowed."
		scope = approval.Scope
		if scope == "" {
			scope = client.GetScopes()[0]
		}
	case 1:
		scope = requested[0]
	default:
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidScope.WithHint("Request one scope: PATIENT, CLINICIAN or TEAMCOORD."))
		return
	}
	if !slices.Contains([]string{ScopePatient, ScopeClinician, ScopeTeamCoord}, scope) || !slices.Contains(client.GetScopes(), scope) {
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidScope.WithHintf("Scope %q is not available to this client.", scope))
		return
	}
	if approval.Deny {
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}

	ar.GrantScope(scope)
	session := &fosite.DefaultSession{Subject: approval.UserID, Username: approval.UserID}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		s.writeAuthorizeError(ctx, w, ar, err)
		return
	}
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// writeAuthorizeError redirects to the client with error and state when the
// redirect URI is trusted, and otherwise shows an error page, as PKB does
// for a bad request.
func (s *AuthServer) writeAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	if ar != nil && ar.IsRedirectURIValid() {
		s.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	_ = authorizeErrorPage.Execute(w, struct{ Error, Description string }{rfc.ErrorField, rfc.GetDescription()})
}
