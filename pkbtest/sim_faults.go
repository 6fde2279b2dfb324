package pkbtest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/pkbgo/pkb/gen/access"
)

// APIFaultKind is how an API request fails under fault injection. Token
// endpoint faults (down, 503, HTML) are injected with Auth().InjectFault,
// and revoked or expired tokens with Auth().RevokeToken / ExpireAccessToken.
type APIFaultKind int

const (
	// APIFaultRateLimited answers 429 Too Many Requests with Retry-After
	// (APIFault.RetryAfter, default "1") and an OperationOutcome, as a
	// throttling gateway would; PKB documents no rate limits, so clients
	// must still cope.
	APIFaultRateLimited APIFaultKind = iota + 1
	// APIFaultUnavailable answers 503 (or APIFault.Status) with a short
	// plain-text body and Retry-After when set.
	APIFaultUnavailable
	// APIFaultSlow delays the request by APIFault.Delay and then serves it
	// normally, for client timeout tests. The delay ends early if the
	// client gives up.
	APIFaultSlow
	// APIFaultTruncated serves the request but sends only the first half of
	// the body, announced with the full Content-Length, then closes the
	// connection.
	APIFaultTruncated
	// APIFaultHTML answers with an HTML error page (status 502 or
	// APIFault.Status), as a proxy in front of PKB would.
	APIFaultHTML
)

// String names the fault kind.
func (k APIFaultKind) String() string {
	switch k {
	case APIFaultRateLimited:
		return "rate-limited"
	case APIFaultUnavailable:
		return "unavailable"
	case APIFaultSlow:
		return "slow"
	case APIFaultTruncated:
		return "truncated"
	case APIFaultHTML:
		return "html"
	}
	return fmt.Sprintf("APIFaultKind(%d)", int(k))
}

// APIFault makes matching API requests fail. Faults apply before
// authentication, as a gateway's would, and are matched in the order they
// were injected.
type APIFault struct {
	// Kind is how requests fail.
	Kind APIFaultKind
	// Family limits the fault to one endpoint family; empty means all.
	Family access.Family
	// Operation limits the fault to one operationId within Family (or any
	// family); empty means every operation.
	Operation string
	// Status overrides the HTTP status of APIFaultUnavailable and
	// APIFaultHTML.
	Status int
	// RetryAfter is sent as Retry-After (seconds or an HTTP date).
	RetryAfter string
	// Delay is how long APIFaultSlow holds each request.
	Delay time.Duration
	// Times is how many requests fail before the fault clears itself; 0
	// means until ClearAPIFaults.
	Times int
}

// InjectAPIFault adds a fault; see APIFault.
func (s *Simulator) InjectAPIFault(f APIFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearAPIFaults removes every injected API fault.
func (s *Simulator) ClearAPIFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (f *APIFault) matches(fam access.Family, op string) bool {
	return (f.Family == "" || f.Family == fam) && (f.Operation == "" || f.Operation == op)
}

// consume takes one use of fault i; the caller holds s.mu.
func (s *Simulator) consume(i int) APIFault {
	f := s.faults[i]
	out := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
	}
	return out
}

// takeFault returns the first matching fault other than truncation (which
// needs the response, see takeTruncate). op is "" when the request matched
// no operation; then only faults without Operation apply.
func (s *Simulator) takeFault(fam access.Family, op string) *APIFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Kind == APIFaultTruncated || !f.matches(fam, op) || (op == "" && f.Operation != "") {
			continue
		}
		out := s.consume(i)
		return &out
	}
	return nil
}

func (s *Simulator) peekTruncate(fam access.Family, op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.Kind == APIFaultTruncated && f.matches(fam, op) {
			return true
		}
	}
	return false
}

func (s *Simulator) takeTruncate(fam access.Family, op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Kind == APIFaultTruncated && f.matches(fam, op) {
			s.consume(i)
			return true
		}
	}
	return false
}

// applyFault answers the request as f says and reports whether it did;
// a slow fault only delays, and the request then proceeds.
func (s *Simulator) applyFault(c *call, w http.ResponseWriter, f *APIFault) bool {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch f.Kind {
	case APIFaultSlow:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.r.Context().Done():
		}
		return false
	case APIFaultRateLimited:
		if f.RetryAfter == "" {
			w.Header().Set("Retry-After", "1")
		}
		c.fail(http.StatusTooManyRequests, "throttled", "", "too many requests (pkbtest fault injection)")
	case APIFaultHTML:
		writeHTMLError(w, f.Status)
	default:
		writePlainError(w, f.Status)
	}
	return true
}
