package wrappers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/aggregated"
)

// A search without a mandatory parameter (PKB's Aggregated patient
// selector) fails before any I/O: the generated client would send
// "subject:Patient.identifier=" for an empty required field.
func TestRequiredQueryRefusedBeforeIO(t *testing.T) {
	var calls atomic.Int32
	rt := transportFunc(func(r *http.Request) (*http.Response, error) { calls.Add(1); return ok200(r), nil })
	src := &fakeSource{ct: authn.ClientCustomer}
	c, err := NewCustomerSystemClient(src, "acme",
		WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const nhs = "https://fhir.nhs.uk/Id/nhs-number|9434765919"
	for name, call := range map[string]func() (*http.Response, error){
		"empty": func() (*http.Response, error) {
			return c.Aggregated.Gen.SearchCondition(ctx, &aggregated.SearchConditionParams{})
		},
		"blank": func() (*http.Response, error) {
			return c.Aggregated.Gen.SearchAllergyIntolerance(ctx, &aggregated.SearchAllergyIntoleranceParams{PatientPatientIdentifier: "  "})
		},
		"carers": func() (*http.Response, error) {
			return c.Aggregated.Gen.ConsentCarers(ctx, &aggregated.ConsentCarersParams{})
		},
	} {
		_, err := call()
		if !errors.Is(err, ErrMissingParameter) {
			t.Errorf("%s: err = %v, want ErrMissingParameter", name, err)
		}
		var re *RequestError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "Patient.identifier") {
			t.Errorf("%s: error %v does not name the parameter", name, err)
		}
	}
	if calls.Load() != 0 || src.fetches.Load() != 0 {
		t.Fatalf("refused calls did I/O: %d API calls, %d token fetches", calls.Load(), src.fetches.Load())
	}
	resp, err := c.Aggregated.Gen.SearchCondition(ctx, &aggregated.SearchConditionParams{SubjectPatientIdentifier: nhs})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// An optional selector (Observation's is not in PKB's retrieved table) is not enforced.
	resp, err = c.Aggregated.Gen.SearchObservation(ctx, &aggregated.SearchObservationParams{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if calls.Load() != 2 {
		t.Errorf("%d API calls, want 2", calls.Load())
	}
}
