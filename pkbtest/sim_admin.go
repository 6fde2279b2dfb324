package pkbtest

import (
	"net"
	"net/http"
)

// Admin endpoints. They sit under /_sim, answer only clients on the
// loopback interface (pkb serve may listen on another address, and these
// endpoints hand out credentials) and are no part of PKB's API:
//
//	GET  /_sim/stats             counters since start (Stats)
//	POST /_sim/tethered-tokens   a new tethered refresh token
const (
	adminStats          = "/_sim/stats"
	adminTetheredTokens = "/_sim/tethered-tokens"
)

// TetheredToken is the JSON answer of POST /_sim/tethered-tokens.
type TetheredToken struct {
	// RefreshToken is a new, single-use refresh token of a new session, as
	// a Team Coordinator gets from PKB's web UI.
	RefreshToken string `json:"refresh_token"`
	// ClientID is the Tethered-Token System Client it was issued for.
	ClientID string `json:"client_id"`
	// Scope is always SITE, the scope to send when redeeming it.
	Scope string `json:"scope"`
}

func (s *Simulator) adminRoutes() {
	s.mux.HandleFunc(adminStats, loopbackOnly(s.handleStats))
	s.mux.HandleFunc(adminTetheredTokens, loopbackOnly(s.handleTetheredTokens))
}

// loopbackOnly refuses requests that do not come from the loopback
// interface with 403.
func loopbackOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "pkbtest: /_sim endpoints answer loopback clients only", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// handleTetheredTokens serves POST /_sim/tethered-tokens: it does what a
// Team Coordinator does in PKB's web UI ("REST API access"), so that a
// running simulator can hand out a fresh tethered session without a
// restart. The optional form or query parameter client_id names the
// Tethered-Token System Client (default DefaultTetheredClientID); the
// session's coordinator is DefaultCoordinatorID.
func (s *Simulator) handleTetheredTokens(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	client := r.Form.Get("client_id")
	if client == "" {
		client = DefaultTetheredClientID
	}
	rt, err := s.auth.IssueTetheredRefreshToken(client, DefaultCoordinatorID)
	if err != nil {
		// The error names the client id the caller sent, nothing secret.
		writeOAuthError(w, http.StatusBadRequest, "invalid_client", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, TetheredToken{RefreshToken: rt, ClientID: client, Scope: ScopeSite})
}
