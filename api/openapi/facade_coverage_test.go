package openapi_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/internal/drift"
)

// This file checks that facade.yaml covers, item by item, PKB's published Facade
// CapabilityStatement (source/facade-capabilitystatement.json): every resource type,
// every interaction, every search parameter with the properties PKB documents for it,
// every searchInclude and every rest.operation.
//
// The checker lives in internal/drift (drift.CheckCoverage), which `make drift` and
// `pkb drift` also use, so the test and the drift report agree on what "covered"
// means. PKB's searchParam documentation strings are parsed there independently of
// the YAML, so a parameter whose x-fhir-search or OpenAPI shape disagrees with PKB's
// text fails.

const (
	facadeStatementFile = "source/facade-capabilitystatement.json"
	facadeDocumentFile  = "facade.yaml"
)

func loadFacadeStatement(t *testing.T) *drift.Statement {
	t.Helper()
	raw, err := os.ReadFile(facadeStatementFile)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := drift.ParseStatement(raw)
	if err != nil {
		t.Fatalf("%s: %v", facadeStatementFile, err)
	}
	return cs
}

func loadFacadeDocument(t *testing.T) *drift.Spec {
	t.Helper()
	raw, err := os.ReadFile(facadeDocumentFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := drift.ParseSpec(raw)
	if err != nil {
		t.Fatalf("%s: %v", facadeDocumentFile, err)
	}
	return doc
}

func TestFacadeCoversCapabilityStatement(t *testing.T) {
	cs := loadFacadeStatement(t)
	doc := loadFacadeDocument(t)
	r := drift.CheckCoverage(cs, doc)
	t.Logf("coverage of %s by %s:", facadeStatementFile, facadeDocumentFile)
	for _, line := range r.Summary() {
		t.Log("  " + line)
	}
	for _, m := range r.Missing {
		t.Errorf("missing: %s", m)
	}
	if r.Total[drift.CatResources] == 0 || r.Total[drift.CatSearchParams] == 0 || r.Total[drift.CatOperations] == 0 {
		t.Errorf("the statement yielded no items (%v); is it the right file?", r.Total)
	}
}

// TestFacadeCoverageDetectsGaps proves the checker can fail: it runs it on a copy of
// the statement with invented or altered items and expects each to be reported.
func TestFacadeCoverageDetectsGaps(t *testing.T) {
	cs := loadFacadeStatement(t)
	doc := loadFacadeDocument(t)

	// Deep copy through JSON, so the edits cannot leak into other tests.
	raw, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	var edited drift.Statement
	if err := json.Unmarshal(raw, &edited); err != nil {
		t.Fatal(err)
	}
	rest := &edited.Rest[0]
	var patched []string
	for i := range rest.Resource {
		res := &rest.Resource[i]
		switch res.Type {
		case "Patient":
			res.SearchParam = append(res.SearchParam, drift.SearchParam{
				Name: "invented-param", Type: "token",
				Documentation: "Optional. Multi-value support: none. Modifier support: none.",
			})
			patched = append(patched, "Patient?invented-param")
		case "Observation":
			for j := range res.SearchParam {
				if res.SearchParam[j].Name == "date" { // PKB: Optional and AND; pretend Required, none
					res.SearchParam[j].Documentation = "Required. Multi-value support: none. Modifier support: none. Prefix support: [eq]."
					patched = append(patched, "Observation?date")
				}
			}
		}
	}
	rest.Resource = append(rest.Resource, drift.Resource{Type: "Basic", Interaction: []drift.Interaction{{Code: "read"}}})
	rest.Operation = append(rest.Operation, drift.Operation{Name: "invented-operation"})
	if len(patched) != 2 {
		t.Fatalf("statement changed shape; patched only %v", patched)
	}

	base := drift.CheckCoverage(cs, doc)
	got := drift.CheckCoverage(&edited, doc)
	for _, line := range got.Summary() {
		t.Log("  " + line)
	}
	wantReported := []string{
		drift.CatSearchParams + ": Patient?invented-param: no query parameter invented-param",
		drift.CatSearchParams + ": Observation?date: x-fhir-search.required",
		drift.CatSearchParams + ": Observation?date: OpenAPI required",
		drift.CatSearchParams + ": Observation?date: x-fhir-search.multiple",
		drift.CatSearchParams + ": Observation?date: array schema",
		drift.CatSearchParams + ": Observation?date: x-fhir-search.prefixes",
		drift.CatResources + ": Basic: no path /Basic",
		drift.CatInteractions + ": Basic read: no GET /Basic/{id}",
		drift.CatOperations + ": invented-operation: no operation with x-fhir-operation",
	}
	for _, w := range wantReported {
		if !slices.ContainsFunc(got.Missing, func(m string) bool { return strings.HasPrefix(m, w) }) {
			t.Errorf("checker did not report %q; it reported:\n%s", w, strings.Join(got.Missing, "\n"))
		}
	}
	sp := drift.CatSearchParams
	if got.Total[sp] != base.Total[sp]+1 || got.Covered[sp] != base.Covered[sp]-1 {
		t.Errorf("search parameters: got %d/%d, want %d/%d",
			got.Covered[sp], got.Total[sp], base.Covered[sp]-1, base.Total[sp]+1)
	}
	op := drift.CatOperations
	if got.Covered[op] != base.Covered[op] || got.Total[op] != base.Total[op]+1 {
		t.Errorf("operations: got %d/%d, want %d/%d", got.Covered[op], got.Total[op],
			base.Covered[op], base.Total[op]+1)
	}
}

// TestParsePKBSearchDoc pins the parser on PKB's documentation variants.
func TestParsePKBSearchDoc(t *testing.T) {
	cases := []struct {
		doc  string
		want drift.SearchDoc
	}{
		{"Required. Multi-value support: none. Modifier support: [<type>].",
			drift.SearchDoc{Required: "required", Multiple: "none", Modifiers: []string{"<type>"}, Prefixes: []string{}}},
		{"Optional. Multi-value support: AND. Modifier support: none. Prefixes supported: [eq, gt, lt, ge, le].",
			drift.SearchDoc{Required: "optional", Multiple: "AND", Modifiers: []string{}, Prefixes: []string{"eq", "gt", "lt", "ge", "le"}}},
		{"Conditional. Multi-value support: none. Modifier support: none. Prefix support: [eq].",
			drift.SearchDoc{Required: "conditional", Multiple: "none", Modifiers: []string{}, Prefixes: []string{"eq"}}},
		{"Required. Multi-value support: none. Modifier support: none. Supported values: [https://fhir.nhs.uk/Id/nhs-number].",
			drift.SearchDoc{Required: "required", Multiple: "none", Modifiers: []string{}, Prefixes: []string{},
				SupportedValues: []string{"https://fhir.nhs.uk/Id/nhs-number"}}},
		{"Optional. Multi-value support: none. Modifier support: none. Definition: http://fhir.patientsknowbest.com/searchparameter/document-status",
			drift.SearchDoc{Required: "optional", Multiple: "none", Modifiers: []string{}, Prefixes: []string{},
				Definition: "http://fhir.patientsknowbest.com/searchparameter/document-status"}},
	}
	for _, c := range cases {
		got, err := drift.ParseSearchDoc(c.doc)
		if err != nil {
			t.Errorf("%q: %v", c.doc, err)
			continue
		}
		if got.Required != c.want.Required || got.Multiple != c.want.Multiple ||
			!slices.Equal(got.Modifiers, c.want.Modifiers) || !slices.Equal(got.Prefixes, c.want.Prefixes) ||
			!slices.Equal(got.SupportedValues, c.want.SupportedValues) || got.Definition != c.want.Definition {
			t.Errorf("%q:\n got %+v\nwant %+v", c.doc, got, c.want)
		}
	}
	if _, err := drift.ParseSearchDoc("Sometimes. Multi-value support: none."); err == nil {
		t.Error("unparseable documentation accepted")
	}
}
