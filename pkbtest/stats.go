package pkbtest

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
)

// Stats are the simulator's counters since it started, for fleet and load
// tests: how many token requests each client type made per grant, how many
// refresh tokens were redeemed, how often a refresh token was presented
// twice (which kills the session, as at PKB) and how API calls ended.
// GET /_sim/stats on a Simulator returns them as JSON.
type Stats struct {
	// TokenRequests counts requests to the token endpoints by client type
	// ("user", "system", "customer", "tethered", or "unknown" for an
	// unknown client id) and grant_type, whatever their outcome.
	TokenRequests map[string]map[string]int `json:"token_requests"`
	// RefreshTokenRedemptions counts successful refresh_token grants: each
	// one spent one refresh token and issued its successor.
	RefreshTokenRedemptions int `json:"refresh_token_redemptions"`
	// ReuseDetections counts presentations of a refresh token that had
	// already been redeemed (or of one from a session killed that way).
	ReuseDetections int `json:"reuse_detections"`
	// SessionsKilled counts sessions invalidated by a reuse detection.
	SessionsKilled int `json:"sessions_killed"`
	// APICalls counts API (non-token) responses by HTTP status.
	APICalls map[string]int `json:"api_calls"`
}

// stats is the mutable form.
type stats struct {
	mu       sync.Mutex
	tokens   map[string]map[string]int
	redeemed int
	reused   int
	killed   int
	api      map[string]int
}

func newStats() *stats {
	return &stats{tokens: map[string]map[string]int{}, api: map[string]int{}}
}

func (s *stats) tokenRequest(clientType, grant string) {
	if grant == "" {
		grant = "(none)"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens[clientType] == nil {
		s.tokens[clientType] = map[string]int{}
	}
	s.tokens[clientType][grant]++
}

func (s *stats) add(f func(s *stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *stats) apiCall(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.api[strconv.Itoa(status)]++
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{TokenRequests: map[string]map[string]int{}, RefreshTokenRedemptions: s.redeemed, ReuseDetections: s.reused,
		SessionsKilled: s.killed, APICalls: maps.Clone(s.api)}
	for k, v := range s.tokens {
		out.TokenRequests[k] = maps.Clone(v)
	}
	return out
}

// Stats returns the auth server's counters (APICalls stays empty: the
// resource endpoints are the Simulator's).
func (s *AuthServer) Stats() Stats { return s.stats.snapshot() }

// Stats returns the simulator's counters.
func (s *Simulator) Stats() Stats { return s.auth.stats.snapshot() }

// handleStats serves GET /_sim/stats.
func (s *Simulator) handleStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.Stats())
}
