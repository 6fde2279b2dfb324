package wrappers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/restapi"
)

// loopbackEnv points every family at one httptest server.
func loopbackEnv(url string) authn.Environment {
	env := authn.Sandbox
	env.FacadeURL = url + "/fhir"
	env.MessagingURL = url + "/phr-fhir"
	env.RESTURL = url + "/json"
	env.AggregatedURL = url + "/agg/fhir"
	env.CustomerURLTemplate = url + "/customer/{customer}/fhir"
	return env
}

func TestHeadersPerClientType(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprint(w, `{"resourceType":"Patient","id":"p1"}`)
	}))
	defer srv.Close()

	sys, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := sys.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 200 || resp.ApplicationfhirJSON200 == nil || resp.ApplicationfhirJSON200.Id != "p1" {
		t.Fatalf("read Patient: status %d, body %s", resp.StatusCode(), resp.Body)
	}
	if !strings.HasPrefix(got.Get("Authorization"), "Bearer "+secretToken) || got.Get("Accept") != "application/fhir+json" || got.Get("X-Org-Public-Id") != orgID {
		t.Errorf("system headers: %v", got)
	}

	user, err := NewUserClient((&fakeSource{ct: authn.ClientUser, scopes: []string{"PATIENT"}}).in(loopbackEnv(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	if got.Get("X-Org-Public-Id") != "" {
		t.Error("a User Client sent X-Org-Public-Id")
	}
	if _, err := user.REST.Gen.GetSelfWithResponse(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got.Get("Accept") != "application/json" {
		t.Errorf("REST API Accept = %q", got.Get("Accept"))
	}
}

func TestPublicOperationNeedsNoToken(t *testing.T) {
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprint(w, `{"resourceType":"CapabilityStatement"}`)
	}))
	defer srv.Close()
	src := &fakeSource{ct: authn.ClientUser, scopes: []string{"PATIENT"}}
	c, err := NewUserClient(src.in(loopbackEnv(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Facade.Gen.CapabilitiesWithResponse(context.Background()); err != nil {
		t.Fatal(err)
	}
	if src.fetches.Load() != 0 || auth.Load() != "" {
		t.Errorf("public /metadata fetched %d tokens and sent Authorization %q", src.fetches.Load(), auth.Load())
	}
}

func TestGrantedScopeNarrowerThanRequested(t *testing.T) {
	calls := 0
	rt := transportFunc(func(r *http.Request) (*http.Response, error) { calls++; return ok200(r), nil })
	// Requested CLINICIAN, but PKB granted only PATIENT.
	src := &fakeSource{ct: authn.ClientUser, scopes: []string{"CLINICIAN"}, granted: []string{"PATIENT"}}
	c, err := NewUserClient(src, WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.REST.Gen.ListPatientMeasurementsWithResponse(context.Background(), "9000000009", &restapi.ListPatientMeasurementsParams{APIRefs: []string{"bp"}})
	if !errors.Is(err, ErrNotPermitted) {
		t.Fatalf("want ErrNotPermitted after the token showed the granted scope, got %v", err)
	}
	if calls != 0 {
		t.Errorf("%d API calls", calls)
	}
}

func TestRefusesUnsafeBaseURLs(t *testing.T) {
	for _, base := range []string{"http://sandbox.patientsknowbest.com/fhir", "ftp://x/fhir", "https://user:pw@host/fhir", "https:///fhir"} {
		env := authn.Sandbox
		env.FacadeURL = base
		_, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: env}, orgID)
		if err == nil {
			t.Errorf("base URL %q accepted", base)
		}
	}
	for _, base := range []string{"http://127.0.0.1:8080/fhir", "http://localhost/fhir", "http://[::1]:9/fhir"} {
		env := authn.Sandbox
		env.FacadeURL = base
		if _, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: env}, orgID); err != nil {
			t.Errorf("loopback base URL %q refused: %v", base, err)
		}
	}
}

func TestWrongSourceType(t *testing.T) {
	if _, err := NewSystemClient(&fakeSource{ct: authn.ClientCustomer}, orgID); err == nil {
		t.Error("System Client accepted a customer token source")
	}
	if _, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, ""); err == nil {
		t.Error("System Client accepted an empty organisation id")
	}
}

func TestRefusesOtherHostsAndPaths(t *testing.T) {
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("network call to %s", r.URL)
		return nil, errors.New("unreachable")
	})
	src := &fakeSource{ct: authn.ClientSystem}
	c, err := NewSystemClient(src, orgID, WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Facade.Family()
	for _, u := range []string{
		"https://evil.example.org/fhir/Patient/1",
		"http://sandbox.patientsknowbest.com/fhir/Patient/1",
		"https://sandbox.patientsknowbest.com/fhirx/Patient/1",
		"https://sandbox.patientsknowbest.com/json/users/self",
		"https://sandbox.patientsknowbest.com/fhir/Patient/1/extra",
		"https://sandbox.patientsknowbest.com/fhir/Patient",
		"https://sandbox.patientsknowbest.com/fhir/Patient/..",
		"https://sandbox.patientsknowbest.com/fhir/Patient/%2E%2E",
	} {
		method := http.MethodGet
		if strings.HasSuffix(u, "/Patient") {
			method = http.MethodDelete // a method the document does not declare
		}
		req, _ := http.NewRequest(method, u, nil)
		_, err := d.doRequest(req)
		if !errors.Is(err, ErrUnsafeURL) && !errors.Is(err, ErrUnknownOperation) {
			t.Errorf("%s %s: want ErrUnsafeURL or ErrUnknownOperation, got %v", method, u, err)
		}
	}
	if src.fetches.Load() != 0 {
		t.Errorf("refused requests fetched %d tokens", src.fetches.Load())
	}
}

func TestRedirectToAnotherHostIsRefused(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// 127.0.0.1 vs localhost: another host name for the same machine
		http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/fhir/Patient/1", http.StatusFound)
	}))
	defer srv.Close()
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "1")
	if !errors.Is(err, ErrUnsafeURL) {
		t.Errorf("want ErrUnsafeURL, got %v", err)
	}
	if leaked.Load() {
		t.Error("the token reached another host")
	}
}

func TestUnauthorizedReplaysOnceWithAFreshToken(t *testing.T) {
	var seen []string
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","details":{"coding":[{"system":"http://fhir.patientsknowbest.com/codesystem/response-code","code":"ACC_TOKEN_EXPIRED"}]}}]}`)
	}))
	defer srv.Close()
	src := &fakeSource{ct: authn.ClientSystem}
	c, err := NewSystemClient(src.in(loopbackEnv(srv.URL)), orgID)
	if err != nil {
		t.Fatal(err)
	}
	p := stu3.Parameters{ResourceType: stu3.ParametersResourceTypeParameters}
	_, err = c.Facade.Gen.PatientStatusQueryWithApplicationFhirPlusJSONBodyWithResponse(context.Background(), p)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.ResponseCode != "ACC_TOKEN_EXPIRED" {
		t.Errorf("want the second 401 as an APIError with PKB's code, got %v", err)
	}
	if len(seen) != 2 {
		t.Fatalf("%d attempts, want 2 (one replay, no loop)", len(seen))
	}
	if seen[0] == seen[1] {
		t.Error("the replay reused the rejected token")
	}
	if bodies[0] == "" || bodies[0] != bodies[1] {
		t.Errorf("replayed body differs: %q vs %q", bodies[0], bodies[1])
	}
}

func TestUnreplayableBodyIsNotReplayed(t *testing.T) {
	attempts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts++
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	src := &fakeSource{ct: authn.ClientSystem}
	c, err := NewSystemClient(src.in(loopbackEnv(srv.URL)), orgID)
	if err != nil {
		t.Fatal(err)
	}
	// An io.Reader with no GetBody cannot be sent twice.
	body := io.MultiReader(strings.NewReader(`{"resourceType":"Parameters"}`))
	_, err = c.Facade.Gen.PatientStatusQueryWithBodyWithResponse(context.Background(), "application/fhir+json", body)
	var apiErr *APIError
	if attempts != 1 || !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("%d attempts, error %v; want 1 attempt returning the 401", attempts, err)
	}
	if _, err := src.Token(context.Background()); err != nil || src.gen.Load() != 2 {
		t.Error("the rejected token was not invalidated")
	}
}

func TestErrorsCarryNoTokenOrQuery(t *testing.T) {
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	})
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Facade.Gen.SearchPatientWithResponse(context.Background(), &facade.SearchPatientParams{Identifier: "https://fhir.nhs.uk/Id/nhs-number|9434765919"})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		if strings.Contains(s, "9434765919") || strings.Contains(s, secretToken) {
			t.Errorf("error leaks an identifier or token: %s", s)
		}
	}
	var re *RequestError
	if !errors.As(err, &re) || re.Route != "/Patient" {
		t.Errorf("want a RequestError naming the route, got %v", err)
	}
}
