package pkb_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/pkbgo/pkb"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

const benchPatient = `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3"},"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"name":[{"family":"Testpatient","given":["Ann","Marie"],"prefix":["Ms"]}],"gender":"female","birthDate":"1970-01-01","telecom":[{"system":"email","value":"ann@example.org"}]}`

// BenchmarkTypedCall compares a typed call of package pkb with the same
// call through the client's generated method (…WithResponse), on the same
// client and the same loopback server: the typed layer's overhead over the
// generated plumbing (goal: at most 1.02× the time, 1.1× the allocations).
// Compare with benchstat -col /impl.
func BenchmarkTypedCall(b *testing.B) {
	ctx := context.Background()
	mux := http.NewServeMux()
	patient := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, benchPatient)
	}
	mux.HandleFunc("GET /fhir/Patient/p1", patient)
	mux.HandleFunc("GET /customer/acme/fhir/Patient/p1", patient)
	mux.HandleFunc("GET /fhir/Patient", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":`+benchPatient+`,"search":{"mode":"match"}}]}`)
	})
	srv, env := fakeEnv(mux)
	b.Cleanup(srv.Close)
	sys, cust := systemClient(env), customerClient(env)

	b.Run("call=facade-read/impl=generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := sys.Facade.Gen.ReadPatientWithResponse(ctx, "p1")
			if err != nil || resp.ApplicationfhirJSON200.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	b.Run("call=facade-read/impl=pkb", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := pkb.Read[stu3.Patient](ctx, sys.Facade, "p1")
			if err != nil || p.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	b.Run("call=customer-read/impl=generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := cust.CustomerR4.Gen.ReadWithResponse(ctx, "Patient", "p1", &customerr4.ReadParams{})
			if err != nil {
				b.Fatal(err)
			}
			if p, err := resp.ApplicationfhirJSON200.AsPatient(); err != nil || p.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	b.Run("call=customer-read/impl=pkb", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := pkb.Read[r4.Patient](ctx, cust.CustomerR4, "p1")
			if err != nil || p.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	q := url.Values{"identifier": {"https://fhir.nhs.uk/Id/nhs-number|9990000018"}}
	b.Run("call=facade-search/impl=generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := sys.Facade.Gen.SearchPatientWithResponse(ctx, &facade.SearchPatientParams{Identifier: q.Get("identifier")})
			if err != nil {
				b.Fatal(err)
			}
			if p, err := resp.ApplicationfhirJSON200.Entry[0].Resource.AsPatient(); err != nil || p.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	b.Run("call=facade-search/impl=pkb", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			page, err := pkb.SearchPage[stu3.Patient](ctx, sys.Facade, q)
			if err != nil || page.Matches[0].Id != "p1" {
				b.Fatal(err)
			}
		}
	})
}
