package pkbtest

import (
	"fmt"
	"net/http"
)

// FaultKind is how an endpoint fails under fault injection.
type FaultKind int

const (
	// FaultUnavailable answers 503 Service Unavailable (or Fault.Status)
	// with a short plain-text body.
	FaultUnavailable FaultKind = iota + 1
	// FaultHTML answers with an HTML error page, as a proxy or load
	// balancer in front of PKB would, with status 502 (or Fault.Status; use
	// 200 for an HTML page served with success status).
	FaultHTML
	// FaultDown closes the connection without any response, as if the
	// server died mid-request.
	FaultDown
)

// String names the fault kind.
func (k FaultKind) String() string {
	switch k {
	case FaultUnavailable:
		return "unavailable"
	case FaultHTML:
		return "html"
	case FaultDown:
		return "down"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault makes an endpoint fail instead of serving requests.
type Fault struct {
	// Kind is how requests fail.
	Kind FaultKind
	// Status overrides the HTTP status of FaultUnavailable and FaultHTML.
	Status int
	// Times is how many requests fail before the endpoint recovers by
	// itself; 0 means until ClearFault.
	Times int
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter string
}

// InjectFault makes ep fail as f describes, replacing any earlier fault.
// Faulted requests are still counted by RequestCount.
func (s *AuthServer) InjectFault(ep Endpoint, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[ep] = &f
}

// ClearFault makes ep serve normally again.
func (s *AuthServer) ClearFault(ep Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults, ep)
}

// RequestCount returns how many requests reached ep (whatever their outcome,
// faulted ones included) since the start or the last ResetRequestCounts.
// Note that Go's http.Transport may transparently resend an idempotent GET
// whose reused connection was closed (FaultDown on EndpointAuthorize).
func (s *AuthServer) RequestCount(ep Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[ep]
}

// ResetRequestCounts sets every endpoint's RequestCount back to zero.
func (s *AuthServer) ResetRequestCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
}

// takeFault counts a request to ep and returns the fault to apply, if any.
func (s *AuthServer) takeFault(ep Endpoint) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[ep]++
	f, ok := s.faults[ep]
	if !ok {
		return Fault{}, false
	}
	out := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(s.faults, ep)
		}
	}
	return out, true
}

const htmlErrorPage = `<!DOCTYPE html>
<html><head><title>%[1]d %[2]s</title></head>
<body><center><h1>%[1]d %[2]s</h1></center><hr><center>nginx</center></body></html>
`

// writeHTMLError answers with a proxy's HTML error page, 502 unless status
// says otherwise.
func writeHTMLError(w http.ResponseWriter, status int) {
	if status == 0 {
		status = http.StatusBadGateway
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, htmlErrorPage, status, http.StatusText(status))
}

// writePlainError answers with a short plain-text error, 503 unless status
// says otherwise.
func writePlainError(w http.ResponseWriter, status int) {
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s (pkbtest fault injection)\n", status, http.StatusText(status))
}

// instrument counts requests to ep and applies injected faults.
func (s *AuthServer) instrument(ep Endpoint, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, faulted := s.takeFault(ep)
		if !faulted {
			next.ServeHTTP(w, r)
			return
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		switch f.Kind {
		case FaultHTML:
			writeHTMLError(w, f.Status)
		case FaultDown:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(http.ErrAbortHandler) // closes the connection without a response
			}
			_ = conn.Close()
		default:
			writePlainError(w, f.Status)
		}
	})
}
