package pkbtest

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/access"
)

// WithLatency delays every request to one endpoint family by d before the
// simulator looks at it, for timeout tests: PKB's Facade calls its legacy
// application synchronously and may take up to about two minutes
// (docs/pkb-api.md §4, §8). A delay ends early when the client gives up.
func WithLatency(f access.Family, d time.Duration) SimOption {
	return func(s *simSettings) {
		if s.latency == nil {
			s.latency = map[access.Family]time.Duration{}
		}
		s.latency[f] = d
	}
}

// SetLatency changes the delay of one family while the simulator runs (0
// removes it); see WithLatency.
func (s *Simulator) SetLatency(f access.Family, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.latency, f)
		return
	}
	s.latency[f] = d
}

func (s *Simulator) latencyOf(f access.Family) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latency[f]
}

// ParseLatencies reads pkb serve's --latency value, comma-separated
// family=duration pairs such as "facade=2m,aggregated=500ms", into options.
// Families are named as in access.Families (facade, messaging,
// customer-stu3, customer-r4, aggregated, restapi).
func ParseLatencies(spec string) ([]SimOption, error) {
	var opts []SimOption
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	for _, pair := range strings.Split(spec, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, fmt.Errorf("latency %q: want family=duration, e.g. facade=2m", pair)
		}
		f := access.Family(strings.TrimSpace(name))
		if _, known := access.FamilyByID(f); !known {
			var names []string
			for _, fi := range access.Families() {
				names = append(names, string(fi.ID))
			}
			return nil, fmt.Errorf("latency %q: unknown family %q (one of %s)", pair, name, strings.Join(names, ", "))
		}
		d, err := time.ParseDuration(strings.TrimSpace(dur))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("latency %q: %q is not a non-negative duration such as 500ms or 2m", pair, dur)
		}
		opts = append(opts, WithLatency(f, d))
	}
	return opts, nil
}

// delay holds a request for its family's latency; it reports false when the
// client gave up meanwhile.
func (s *Simulator) delay(f access.Family, r *http.Request) bool {
	d := s.latencyOf(f)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
