package pkbtest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/pkbtest"
)

// TestLatencyPerFamily: WithLatency holds one family's requests (for
// client timeout tests, PKB's Facade may take ~2 minutes); other families
// answer at once; SetLatency changes it while running.
func TestLatencyPerFamily(t *testing.T) {
	s := newSim(t, pkbtest.WithLatency(access.FamilyFacade, time.Hour))
	sys := token(t, systemSource(t, s))
	get := func(timeout time.Duration, url, tok string, header map[string]string) (*http.Response, error) {
		c, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(c, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	facadeURL := s.Environment().FacadeURL + "/Patient/" + pkbtest.SeedPatientID
	if _, err := get(200*time.Millisecond, facadeURL, sys, orgHeader); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Facade with an hour's latency and a 200ms deadline: %v", err)
	}
	cust := token(t, customerSource(t, s))
	if resp, err := get(20*time.Second, s.Environment().AggregatedURL+"/Patient/"+pkbtest.SeedPatientID, cust, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Aggregated has no latency: %v", err)
	}
	s.SetLatency(access.FamilyFacade, 0)
	if resp, err := get(20*time.Second, facadeURL, sys, orgHeader); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Facade after SetLatency(0): %v", err)
	}

	opts, err := pkbtest.ParseLatencies("facade=2m, aggregated=500ms")
	if err != nil || len(opts) != 2 {
		t.Errorf("ParseLatencies: %v %d", err, len(opts))
	}
	for _, bad := range []string{"facade", "fhir=1s", "facade=-1s", "facade=soon"} {
		if _, err := pkbtest.ParseLatencies(bad); err == nil {
			t.Errorf("ParseLatencies(%q) accepted", bad)
		}
	}
}
