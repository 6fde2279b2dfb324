package wrappers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// benchSearchPage is a searchset page of 50 laboratory Observations with a
// next link, as PKB's Facade answers a search.
var benchSearchPage = func() string {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"searchset","total":120,"link":[{"relation":"self","url":"http://x/fhir/Observation?patient=p1"},{"relation":"next","url":"http://x/fhir/Observation?patient=p1&_getpagesoffset=50"}],"entry":[`)
	for i := range 50 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"fullUrl":"http://x/fhir/Observation/o%d","resource":{"resourceType":"Observation","id":"o%d","meta":{"versionId":"1","lastUpdated":"2026-01-02T03:04:05Z"},"status":"final","category":[{"coding":[{"system":"http://hl7.org/fhir/observation-category","code":"laboratory"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-%02dT08:00:00Z","valueQuantity":{"value":%d.5,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}},"search":{"mode":"match"}}`, i, i, i%28+1, i%9+3)
	}
	b.WriteString(`]}`)
	return b.String()
}()

// typedBenchClient is a System Client on a loopback server that answers
// a Patient read and a 50-entry Observation search.
func typedBenchClient(b *testing.B) *SystemClient {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"bench-token","token_type":"bearer","expires_in":3599}`)
		case r.URL.Path == "/fhir/Observation":
			w.Header().Set("Content-Type", "application/fhir+json")
			io.WriteString(w, benchSearchPage)
		default:
			w.Header().Set("Content-Type", "application/fhir+json")
			io.WriteString(w, benchPatient)
		}
	}))
	b.Cleanup(srv.Close)
	return benchSystemClient(b, srv)
}

// reportCPU reports the process's CPU time (user and system, both sides of
// the loopback exchange) per iteration as cpu-ns/op: on a machine shared
// with other work, wall time (sec/op) varies with the load, CPU time much
// less. Call the returned function after the loop.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTypedCall compares a generated typed call (operations_gen.go)
// with the generated client's …WithResponse call for the same operation,
// through the same client and checkpoint, against the same loopback
// server: a Patient read, and the first page of an Observation search (50
// entries). impl=generated stops at the …WithResponse call, whose entries
// are still raw JSON; impl=generated-entries also decodes each entry into a
// stu3.Observation (AsObservation), the work the typed call does.
// Compare with benchstat (-col /impl); the goal is typed ≤ 1.02× the time
// and ≤ 1.1× the allocations of impl=generated.
func BenchmarkTypedCall(b *testing.B) {
	ctx := context.Background()
	b.Run("op=read/impl=generated", func(b *testing.B) {
		c := typedBenchClient(b)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			resp, err := c.Facade.Gen.ReadPatientWithResponse(ctx, "p1")
			if err != nil || resp.ApplicationfhirJSON200 == nil || resp.ApplicationfhirJSON200.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=read/impl=typed", func(b *testing.B) {
		c := typedBenchClient(b)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			p, err := c.Facade.ReadPatient(ctx, "p1")
			if err != nil || p.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	params := &facade.SearchObservationParams{Patient: "p1", Category: "http://hl7.org/fhir/observation-category|laboratory"}
	b.Run("op=search50/impl=generated", func(b *testing.B) {
		c := typedBenchClient(b)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			resp, err := c.Facade.Gen.SearchObservationWithResponse(ctx, params)
			if err != nil || resp.ApplicationfhirJSON200 == nil || len(resp.ApplicationfhirJSON200.Entry) != 50 {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=search50/impl=generated-entries", func(b *testing.B) {
		c := typedBenchClient(b)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			resp, err := c.Facade.Gen.SearchObservationWithResponse(ctx, params)
			if err != nil || resp.ApplicationfhirJSON200 == nil {
				b.Fatal(err)
			}
			obs := make([]*stu3.Observation, 0, 50)
			for _, e := range resp.ApplicationfhirJSON200.Entry {
				o, err := e.Resource.AsObservation()
				if err != nil {
					b.Fatal(err)
				}
				obs = append(obs, &o)
			}
			if len(obs) != 50 {
				b.Fatal(len(obs))
			}
		}
	})
	b.Run("op=search50/impl=typed", func(b *testing.B) {
		c := typedBenchClient(b)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			page, err := c.Facade.SearchObservation(ctx, params)
			if err != nil || len(page.Matches) != 50 {
				b.Fatal(err)
			}
		}
	})
}
