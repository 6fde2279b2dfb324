package openapi_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// families are the hand-written endpoint documents; each must exist.
var families = []string{
	"facade.yaml", "messaging.yaml", "customer-stu3.yaml", "customer-r4.yaml",
	"aggregated.yaml", "restapi.yaml",
}

// grants is the closed set of x-pkb-access values (CONVENTIONS.md).
var grants = []string{
	"public", "system", "customer", "user:PATIENT", "user:CLINICIAN", "user:TEAMCOORD", "tethered:SITE",
}

func load(t *testing.T, name string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true // the FHIR schema documents beside this one
	doc, err := loader.LoadFromFile(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

func TestDocumentsAreValid(t *testing.T) {
	for _, name := range append([]string{"fhir-stu3.json", "fhir-r4.json"}, families...) {
		t.Run(name, func(t *testing.T) {
			doc := load(t, name)
			if err := doc.Validate(context.Background(), openapi3.EnableSchemaPatternValidation()); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		})
	}
}

func TestDocumentsFollowConventions(t *testing.T) {
	for _, name := range families {
		t.Run(name, func(t *testing.T) {
			doc := load(t, name)
			seen := map[string]string{}
			ops := 0
			for _, path := range doc.Paths.InMatchingOrder() {
				for method, op := range doc.Paths.Value(path).Operations() {
					ops++
					where := method + " " + path
					if op.OperationID == "" {
						t.Errorf("%s: no operationId", where)
					} else if prev, dup := seen[op.OperationID]; dup {
						t.Errorf("%s: operationId %q already used by %s", where, op.OperationID, prev)
					}
					seen[op.OperationID] = where
					checkAccess(t, where, op)
					if op.Responses.Default() == nil {
						t.Errorf("%s: no default response", where)
					}
					for code, r := range op.Responses.Map() {
						if r.Value != nil && len(r.Value.Content) > 1 {
							t.Errorf("%s: response %s has %d media types, want one", where, code, len(r.Value.Content))
						}
					}
					if rb := op.RequestBody; rb != nil && rb.Value != nil && len(rb.Value.Content) != 1 {
						t.Errorf("%s: request body has %d media types, want one", where, len(rb.Value.Content))
					}
				}
			}
			if ops == 0 {
				t.Errorf("%s has no operations", name)
			}
			t.Logf("%s: %d operations", filepath.Base(name), ops)
		})
	}
}

func checkAccess(t *testing.T, where string, op *openapi3.Operation) {
	t.Helper()
	raw, ok := op.Extensions["x-pkb-access"]
	if !ok {
		t.Errorf("%s: no x-pkb-access", where)
		return
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		t.Errorf("%s: x-pkb-access must be a non-empty list, got %v", where, raw)
		return
	}
	for _, g := range list {
		s, _ := g.(string)
		if !slices.Contains(grants, s) {
			t.Errorf("%s: x-pkb-access value %v is not one of %s", where, g, strings.Join(grants, ", "))
		}
	}
}
