package wrappers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/restapi"
	"github.com/pkbgo/pkb/wrappers"
)

// fakePKB stands in for PKB in these examples: a token endpoint that always
// issues a token, and canned API answers. Tests against a real OAuth 2.0
// server live in the pkbtest module.
func fakePKB() (*httptest.Server, authn.Environment) {
	mux := http.NewServeMux()
	token := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		scope := r.FormValue("scope")
		if scope == "" {
			scope = "PATIENT"
		}
		fmt.Fprintf(w, `{"access_token":"example-token","token_type":"Bearer","expires_in":600,"refresh_token":"example-refresh-%d","scope":%q}`, time.Now().UnixNano(), scope)
	}
	for _, p := range []string{"/api/oauth/token", "/auth/realms/pkb/protocol/openid-connect/token", "/apiToken.action"} {
		mux.HandleFunc(p, token)
	}
	fhir := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/fhir+json")
			io.WriteString(w, body)
		}
	}
	mux.HandleFunc("GET /fhir/Patient", fhir(`{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":{"resourceType":"Patient","id":"p1","name":[{"family":"Testpatient","given":["Ann"]}]}}]}`))
	mux.HandleFunc("GET /customer/acme/fhir/Observation", fhir(`{"resourceType":"Bundle","type":"searchset","total":3,
		"link":[{"relation":"next","url":"Observation?patient=p1&page=2"}],
		"entry":[{"resource":{"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":"Patient/p1"}},"search":{"mode":"match"}},
		{"resource":{"resourceType":"Patient","id":"p1","name":[{"family":"Testpatient"}]},"search":{"mode":"include"}}]}`))
	mux.HandleFunc("GET /fhir/$purview", fhir(`{"resourceType":"Parameters","parameter":[{"name":"purview","valueReference":{"reference":"Patient/p1"}}]}`))
	mux.HandleFunc("GET /agg/fhir/Observation", fhir(`{"resourceType":"Bundle","type":"searchset","total":2}`))
	mux.HandleFunc("GET /json/v2-beta/measurements/p1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `[{"apiRef":"bloodPressureSystolic","value":"120"}]`)
	})
	srv := httptest.NewServer(mux)
	env := authn.Sandbox
	env.SystemTokenURL = srv.URL + "/api/oauth/token"
	env.CustomerTokenURL = srv.URL + "/auth/realms/pkb/protocol/openid-connect/token"
	env.UserTokenURL = srv.URL + "/apiToken.action"
	env.FacadeURL = srv.URL + "/fhir"
	env.RESTURL = srv.URL + "/json"
	env.AggregatedURL = srv.URL + "/agg/fhir"
	env.CustomerURLTemplate = srv.URL + "/customer/{customer}/fhir"
	return srv, env
}

func ExampleNewSystemClient() {
	srv, env := fakePKB()
	defer srv.Close()

	src, err := authn.NewSystemSource(authn.SystemConfig{ClientID: "my-client", ClientSecret: "my-secret", Environment: env})
	if err != nil {
		log.Fatal(err)
	}
	pkb, err := wrappers.NewSystemClient(src, "235a397b-1ae8-4755-9c77-1a0e2fbc5314")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := pkb.Facade.Gen.SearchPatientWithResponse(context.Background(), &facade.SearchPatientParams{
		Identifier: "https://fhir.nhs.uk/Id/nhs-number|9990000018",
	})
	if err != nil {
		log.Fatal(err)
	}
	bundle := resp.ApplicationfhirJSON200
	patient, _ := bundle.Entry[0].Resource.AsPatient()
	fmt.Println(*bundle.Total, patient.Name[0].Family)
	// Output: 1 Testpatient
}

func ExampleNewCustomerSystemClient() {
	srv, env := fakePKB()
	defer srv.Close()

	src, err := authn.NewCustomerSource(authn.CustomerConfig{ClientID: "acme", ClientSecret: "acme-secret", Environment: env})
	if err != nil {
		log.Fatal(err)
	}
	pkb, err := wrappers.NewCustomerSystemClient(src, "acme")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := pkb.Aggregated.Gen.SearchObservationWithResponse(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*resp.ApplicationfhirJSON200.Total)
	// Output: 2
}

func ExampleNewUserClient() {
	srv, env := fakePKB()
	defer srv.Close()

	// A token obtained earlier with authn.LoginLoopback or UserSource.Exchange.
	store := authn.NewMemoryStore((&oauth2.Token{
		AccessToken: "earlier-token", RefreshToken: "earlier-refresh", Expiry: time.Now().Add(time.Hour),
	}).WithExtra(map[string]any{"scope": "PATIENT"}))
	src, err := authn.NewUserSource(authn.UserConfig{ClientID: "app", ClientSecret: "app-secret", Environment: env, Scope: authn.ScopePatient, Store: store})
	if err != nil {
		log.Fatal(err)
	}
	pkb, err := wrappers.NewUserClient(src)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := pkb.Facade.Gen.PurviewWithResponse(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.ApplicationfhirJSON200.Parameter[0].ValueReference.Reference)

	// A patient may not run a System-only operation: refused before any I/O.
	_, err = pkb.Facade.Gen.PatientStatusQueryWithBodyWithResponse(context.Background(), "application/fhir+json", strings.NewReader(`{}`))
	fmt.Println(errors.Is(err, wrappers.ErrNotPermitted))
	// Output:
	// Patient/p1
	// true
}

func ExampleNewTetheredClient() {
	srv, env := fakePKB()
	defer srv.Close()

	src, err := authn.NewTetheredSource(authn.TetheredConfig{
		ClientID: "site-app", ClientSecret: "site-secret", Environment: env,
		RefreshToken: "token-from-the-team-coordinator",
	})
	if err != nil {
		log.Fatal(err)
	}
	pkb, err := wrappers.NewTetheredClient(src)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := pkb.REST.Gen.ListPatientMeasurementsWithResponse(context.Background(), "p1", &restapi.ListPatientMeasurementsParams{APIRefs: []string{"bloodPressureSystolic"}})
	if err != nil {
		log.Fatal(err)
	}
	m := (*resp.JSON200)[0]
	fmt.Println(*m.APIRef, *m.Value)
	// Output: bloodPressureSystolic 120
}

// Family.Do sends one operation of a family's document, named by its
// operationId, through the client's checkpoint: the grant is checked and
// the URL built from the route template before anything is sent.
func ExampleFamily_Do() {
	srv, env := fakePKB()
	defer srv.Close()

	src, err := authn.NewSystemSource(authn.SystemConfig{ClientID: "my-client", ClientSecret: "my-secret", Environment: env})
	if err != nil {
		log.Fatal(err)
	}
	pkb, err := wrappers.NewSystemClient(src, "235a397b-1ae8-4755-9c77-1a0e2fbc5314")
	if err != nil {
		log.Fatal(err)
	}
	facade := pkb.Facade.Family()
	resp, err := facade.Do(context.Background(), &wrappers.Call{
		Operation: "searchPatient",
		Query:     url.Values{"identifier": {"https://fhir.nhs.uk/Id/nhs-number|9990000018"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	// Only a patient may ask for their own date of last data point;
	// Permit says so without any I/O.
	fmt.Println(facade.Permit("patientInstanceDateOfLastDataPoint") != nil)
	// Output:
	// 200
	// true
}

// FirstPage decodes a search's first page into typed matches; All walks
// every page after it, and IncludedAs reaches the resources _include
// brought along.
func ExampleFirstPage() {
	srv, env := fakePKB()
	defer srv.Close()

	src, err := authn.NewCustomerSource(authn.CustomerConfig{ClientID: "acme", ClientSecret: "acme-secret", Environment: env})
	if err != nil {
		log.Fatal(err)
	}
	pkb, err := wrappers.NewCustomerSystemClient(src, "acme")
	if err != nil {
		log.Fatal(err)
	}
	page, err := wrappers.FirstPage[r4.Observation](context.Background(), pkb.CustomerR4.Family(), &wrappers.Call{
		Operation: "search", Path: []string{"Observation"},
		Query: url.Values{"patient": {"p1"}, "_include": {"Observation:subject"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	obs := page.Matches[0]
	patient, err := wrappers.IncludedAs[r4.Patient](page, obs.Subject.Reference)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*page.Total, obs.Id, patient.Name[0].Family, page.NextLink != "")
	// Output: 3 o1 Testpatient true
}
