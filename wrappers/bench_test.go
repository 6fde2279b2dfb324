package wrappers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/internal/fastjson"
)

const benchPatient = `{"resourceType":"Patient","id":"p1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9990000018"}],"name":[{"family":"Testpatient","given":["Ann","Marie"],"prefix":["Ms"]}],"gender":"female","birthDate":"1970-01-01","telecom":[{"system":"email","value":"ann@example.org"}]}`

func benchServer(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" { // for the real authn token source; hit once
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"bench-token","token_type":"bearer","expires_in":3599}`)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, benchPatient)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchSystemClient is a System Client, with a real authn token source,
// on the loopback server srv (whose /token issues the token).
func benchSystemClient(b *testing.B, srv *httptest.Server) *SystemClient {
	b.Helper()
	env := loopbackEnv(srv.URL)
	env.SystemTokenURL = srv.URL + "/token"
	src, err := authn.NewSystemSource(authn.SystemConfig{ClientID: "bench", ClientSecret: "bench", Environment: env})
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewSystemClient(src, orgID, WithHTTPClient(&http.Client{}))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkReadPatient compares one typed read through the System Client
// wrapper's generated client, and through its Family.Do with a fastjson
// decode, with the same read through the bare generated client (a bearer
// editor added by hand) and through plain net/http + encoding/json, all
// against the same loopback server. Compare with benchstat.
func BenchmarkReadPatient(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=raw-nethttp", func(b *testing.B) {
		srv := benchServer(b)
		hc := &http.Client{}
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/fhir/Patient/p1", nil)
			req.Header.Set("Authorization", "Bearer "+secretToken)
			req.Header.Set("Accept", "application/fhir+json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var p stu3.Patient
			err = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if err != nil || p.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=generated", func(b *testing.B) {
		srv := benchServer(b)
		c, err := facade.NewClientWithResponses(srv.URL+"/fhir/", facade.WithHTTPClient(&http.Client{}),
			facade.WithRequestEditorFn(func(ctx context.Context, req *http.Request) error {
				req.Header.Set("Authorization", "Bearer "+secretToken)
				req.Header.Set("Accept", "application/fhir+json")
				return nil
			}))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.ReadPatientWithResponse(ctx, "p1")
			if err != nil || resp.ApplicationfhirJSON200.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=wrapper", func(b *testing.B) {
		c := benchSystemClient(b, benchServer(b))
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Facade.Gen.ReadPatientWithResponse(ctx, "p1")
			if err != nil || resp.ApplicationfhirJSON200.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
	// The path the typed layer takes: the operation named, no route
	// matching of the request, one fastjson decode of the body.
	b.Run("impl=family-do", func(b *testing.B) {
		c := benchSystemClient(b, benchServer(b))
		f := c.Facade.Family()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := f.Do(ctx, &Call{Operation: "readPatient", Path: []string{"p1"}})
			if err != nil {
				b.Fatal(err)
			}
			var p stu3.Patient
			err = fastjson.UnmarshalRead(resp.Body, &p)
			resp.Body.Close()
			if err != nil || p.Id != "p1" {
				b.Fatal(err)
			}
		}
	})
}
