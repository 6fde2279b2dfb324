package drift

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var (
	committedFile = filepath.Join("..", "..", "api", "openapi", "source", "facade-capabilitystatement.json")
	specFile      = filepath.Join("..", "..", "api", "openapi", "facade.yaml")
)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit returns a copy of PKB's committed statement changed by fn, which gets
// the decoded JSON (so unknown fields such as profile survive the edit).
func edit(t *testing.T, fn func(t *testing.T, cs map[string]any)) []byte {
	t.Helper()
	var cs map[string]any
	if err := json.Unmarshal(readFile(t, committedFile), &cs); err != nil {
		t.Fatal(err)
	}
	fn(t, cs)
	b, err := json.MarshalIndent(cs, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func restOf(cs map[string]any) map[string]any { return cs["rest"].([]any)[0].(map[string]any) }

func resourceOf(t *testing.T, cs map[string]any, typ string) map[string]any {
	t.Helper()
	for _, r := range restOf(cs)["resource"].([]any) {
		if res := r.(map[string]any); res["type"] == typ {
			return res
		}
	}
	t.Fatalf("statement has no resource %s", typ)
	return nil
}

func addParam(t *testing.T, cs map[string]any, typ, name, ptype, doc string) {
	res := resourceOf(t, cs, typ)
	res["searchParam"] = append(res["searchParam"].([]any), map[string]any{"name": name, "type": ptype, "documentation": doc})
}

func removeParam(t *testing.T, cs map[string]any, typ, name string) {
	res := resourceOf(t, cs, typ)
	var kept []any
	for _, p := range res["searchParam"].([]any) {
		if p.(map[string]any)["name"] != name {
			kept = append(kept, p)
		}
	}
	if len(kept) == len(res["searchParam"].([]any)) {
		t.Fatalf("%s has no search parameter %s", typ, name)
	}
	res["searchParam"] = kept
}

func param(t *testing.T, cs map[string]any, typ, name string) map[string]any {
	for _, p := range resourceOf(t, cs, typ)["searchParam"].([]any) {
		if p.(map[string]any)["name"] == name {
			return p.(map[string]any)
		}
	}
	t.Fatalf("%s has no search parameter %s", typ, name)
	return nil
}

func compare(t *testing.T, candidate []byte) *Report {
	t.Helper()
	r, err := Compare(readFile(t, committedFile), candidate, readFile(t, specFile))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// row is the comparable part of a Row.
type row struct{ change, kind, item, field, old, new, spec string }

func rows(r *Report) []row {
	var out []row
	for _, x := range r.Rows {
		out = append(out, row{x.Change, x.Kind, x.Item, x.Field, x.Old, x.New, x.Spec})
	}
	return out
}

func assertRows(t *testing.T, r *Report, want []row) {
	t.Helper()
	if got := rows(r); !reflect.DeepEqual(got, want) {
		var b bytes.Buffer
		_ = r.WriteText(&b)
		t.Errorf("rows differ\n got %#v\nwant %#v\nreport:\n%s", got, want, b.String())
	}
}

func TestCompareUnchanged(t *testing.T) {
	r := compare(t, readFile(t, committedFile))
	assertRows(t, r, nil)
	if r.Failed() || len(r.Uncovered) != 0 {
		t.Errorf("committed statement against itself failed: %v", r.Uncovered)
	}
	if got := r.Verdict(); got != "OK: no drift; the spec covers the statement" {
		t.Errorf("verdict %q", got)
	}
}

func TestCompareAddedResource(t *testing.T) {
	cand := edit(t, func(t *testing.T, cs map[string]any) {
		rest := restOf(cs)
		rest["resource"] = append(rest["resource"].([]any), map[string]any{
			"type":        "Basic",
			"interaction": []any{map[string]any{"code": "read"}, map[string]any{"code": "search-type"}},
			"searchParam": []any{map[string]any{"name": "patient", "type": "reference",
				"documentation": "Required. Multi-value support: none. Modifier support: [<type>]."}},
		})
	})
	r := compare(t, cand)
	assertRows(t, r, []row{
		{Added, KindResource, "Basic", "", "", "interactions [read, search-type]", SpecNotCovered},
		{Added, KindInteraction, "Basic read", "", "", "", SpecNotCovered},
		{Added, KindInteraction, "Basic search-type", "", "", "", SpecNotCovered},
		{Added, KindSearchParam, "Basic?patient", "", "", "reference, required, multiple none, modifiers [<type>], prefixes []", SpecNotCovered},
	})
	if !r.Failed() || r.Removals() != 0 {
		t.Errorf("Failed() = %v, removals %d; want failed by coverage only", r.Failed(), r.Removals())
	}
	wantUncovered := []string{
		"resource types: Basic: no path /Basic or /Basic/...",
		"interactions: Basic read: no GET /Basic/{id}",
		"interactions: Basic search-type: no GET /Basic",
		"search parameters: Basic?patient: no search operation GET /Basic",
	}
	if !reflect.DeepEqual(r.Uncovered, wantUncovered) {
		t.Errorf("uncovered:\n got %q\nwant %q", r.Uncovered, wantUncovered)
	}
}

func TestCompareRemovedSearchParam(t *testing.T) {
	r := compare(t, edit(t, func(t *testing.T, cs map[string]any) { removeParam(t, cs, "Encounter", "date") }))
	assertRows(t, r, []row{
		{Removed, KindSearchParam, "Encounter?date", "", "date, optional, multiple AND, modifiers [], prefixes [eq, gt, lt]", "", SpecStill},
	})
	if !r.Failed() || len(r.Uncovered) != 0 {
		t.Errorf("Failed() = %v, uncovered %v; want failed by the removal only", r.Failed(), r.Uncovered)
	}
	if got := r.Verdict(); got != "FAIL: 1 removal" {
		t.Errorf("verdict %q", got)
	}
}

func TestCompareChangedParamType(t *testing.T) {
	r := compare(t, edit(t, func(t *testing.T, cs map[string]any) {
		param(t, cs, "Observation", "date")["type"] = "string"
	}))
	assertRows(t, r, []row{
		{Changed, KindSearchParam, "Observation?date", "type", "date", "string", SpecNotCovered},
	})
	if p := r.Rows[0].SpecProblems; len(p) != 1 || p[0] != "x-fhir-search.type is date, PKB documents string" {
		t.Errorf("spec problems %q", p)
	}
	if !r.Failed() {
		t.Error("an uncovered type change did not fail")
	}
}

func TestCompareChangedParamRules(t *testing.T) {
	r := compare(t, edit(t, func(t *testing.T, cs map[string]any) {
		// Conditional, AND, prefixes [eq, gt, lt, ge, le] -> Required, none, [<type>], [eq]
		param(t, cs, "DocumentReference", "created")["documentation"] =
			"Required. Multi-value support: none. Modifier support: [missing]. Prefix support: [eq]."
	}))
	assertRows(t, r, []row{
		{Changed, KindSearchParam, "DocumentReference?created", "required", "conditional", "required", SpecNotCovered},
		{Changed, KindSearchParam, "DocumentReference?created", "multiple", "AND", "none", SpecNotCovered},
		{Changed, KindSearchParam, "DocumentReference?created", "modifiers", "[]", "[missing]", SpecNotCovered},
		{Changed, KindSearchParam, "DocumentReference?created", "prefixes", "[eq, ge, gt, le, lt]", "[eq]", SpecNotCovered},
	})
	wantProblems := [][]string{
		{"x-fhir-search.required is conditional, PKB documents required", "OpenAPI required is false, PKB documents required"},
		{"x-fhir-search.multiple is AND, PKB documents none", "array schema is true, PKB documents multi-value none"},
		{"x-fhir-search.modifiers is [], PKB documents [missing]"},
		{"x-fhir-search.prefixes is [eq gt lt ge le], PKB documents [eq]"},
	}
	for i, w := range wantProblems {
		if i < len(r.Rows) && !reflect.DeepEqual(r.Rows[i].SpecProblems, w) {
			t.Errorf("row %d problems %q, want %q", i, r.Rows[i].SpecProblems, w)
		}
	}
	if len(r.Uncovered) != 6 {
		t.Errorf("uncovered %q, want 6 lines", r.Uncovered)
	}
}

// TestCompareObservationAddedDocumentReferenceRemoved is the example:
// PKB adds a search parameter to Observation and drops one from DocumentReference.
func TestCompareObservationAddedDocumentReferenceRemoved(t *testing.T) {
	cand := edit(t, func(t *testing.T, cs map[string]any) {
		addParam(t, cs, "Observation", "code", "token", "Optional. Multi-value support: none. Modifier support: none.")
		removeParam(t, cs, "DocumentReference", "indexed")
		cs["date"] = "2026-09-01T09:00:00+01:00"
	})
	r := compare(t, cand)
	assertRows(t, r, []row{
		{Removed, KindSearchParam, "DocumentReference?indexed", "", "date, conditional, multiple none, modifiers [], prefixes [eq]", "", SpecStill},
		{Added, KindSearchParam, "Observation?code", "", "", "token, optional, multiple none, modifiers [], prefixes []", SpecNotCovered},
	})
	wantUncovered := []string{"search parameters: Observation?code: no query parameter code on GET /Observation"}
	if !reflect.DeepEqual(r.Uncovered, wantUncovered) {
		t.Errorf("uncovered %q, want %q", r.Uncovered, wantUncovered)
	}
	if got := r.Verdict(); got != "FAIL: 1 removal, 1 coverage gap" {
		t.Errorf("verdict %q", got)
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"committed: date 2026-07-21T01:32:11+01:00, FHIR 3.0.2",
		"candidate: date 2026-09-01T09:00:00+01:00, FHIR 3.0.2",
		"CHANGE   KIND          ITEM",
		"removed  search param  DocumentReference?indexed  date, conditional, multiple none, modifiers [], prefixes [eq]",
		"still in spec (remove it or mark it deprecated)",
		"added    search param  Observation?code",
		"NOT COVERED: no query parameter code on GET /Observation",
		"search parameters   24/25  covered",
		"\nFAIL: 1 removal, 1 coverage gap\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}

	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Failed  bool   `json:"failed"`
		Verdict string `json:"verdict"`
		Rows    []Row  `json:"rows"`
	}
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatalf("JSON report does not decode: %v\n%s", err, js)
	}
	if !decoded.Failed || decoded.Verdict != r.Verdict() || !reflect.DeepEqual(decoded.Rows, r.Rows) {
		t.Errorf("JSON report does not match:\n%s", js)
	}
}

func TestCompareOperationsAndInteractions(t *testing.T) {
	r := compare(t, edit(t, func(t *testing.T, cs map[string]any) {
		rest := restOf(cs)
		ops := rest["operation"].([]any)
		ops[0].(map[string]any)["definition"] = map[string]any{"reference": "OperationDefinition/Consent-i-purview"}
		rest["operation"] = append(ops[1:], map[string]any{"name": "export", "definition": map[string]any{"reference": "OperationDefinition/Patient-i-export"}})
		resourceOf(t, cs, "Patient")["interaction"] = []any{map[string]any{"code": "search-type"}}
	}))
	assertRows(t, r, []row{
		{Removed, KindInteraction, "Patient read", "", "", "", SpecStill},
		{Added, KindOperation, "export", "", "", "OperationDefinition/Patient-i-export", SpecNotCovered},
		{Removed, KindOperation, "purview", "", "OperationDefinition/Consent-t-purview", "", SpecStill},
	})
	// purview was removed at index 0 and is therefore not "changed".
}

func TestCompareBadInput(t *testing.T) {
	committed, spec := readFile(t, committedFile), readFile(t, specFile)
	for name, c := range map[string]struct {
		committed, candidate, spec []byte
		want                       string
	}{
		"empty candidate":  {committed, nil, spec, "candidate statement: capability statement is empty"},
		"not JSON":         {committed, []byte("<html>"), spec, "candidate statement: capability statement is not valid JSON"},
		"other resource":   {committed, []byte(`{"resourceType":"OperationOutcome"}`), spec, `resourceType is "OperationOutcome"`},
		"no rest":          {committed, []byte(`{"resourceType":"CapabilityStatement"}`), spec, "has no rest entry"},
		"bad search doc":   {committed, []byte(`{"resourceType":"CapabilityStatement","rest":[{"resource":[{"type":"Patient","searchParam":[{"name":"x","type":"token","documentation":"Maybe."}]}]}]}`), spec, "Patient?x: documentation"},
		"bad committed":    {[]byte("{}"), committed, spec, "committed statement: capability statement has no resourceType"},
		"spec not OpenAPI": {committed, committed, []byte("swagger: '2.0'\npaths: {}\n"), "facade spec: spec: openapi is \"\""},
		"spec bad ref":     {committed, committed, []byte("openapi: 3.0.3\npaths:\n  /P:\n    get:\n      parameters:\n        - $ref: '#/components/parameters/Nope'\n"), "does not resolve"},
	} {
		_, err := Compare(c.committed, c.candidate, c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
	}
}

func TestCompareWithEmbedded(t *testing.T) {
	r, err := CompareWithEmbedded(readFile(t, committedFile))
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed() || len(r.Rows) != 0 {
		t.Errorf("embedded files disagree with the working tree: %+v", r)
	}
}

// TestCompareChangeAlreadyInSpec: when the spec was updated along with the
// statement, the change is covered and the report passes.
func TestCompareChangeAlreadyInSpec(t *testing.T) {
	old := edit(t, func(t *testing.T, cs map[string]any) { param(t, cs, "Observation", "date")["type"] = "string" })
	r, err := Compare(old, readFile(t, committedFile), readFile(t, specFile))
	if err != nil {
		t.Fatal(err)
	}
	assertRows(t, r, []row{{Changed, KindSearchParam, "Observation?date", "type", "string", "date", SpecCovered}})
	if r.Failed() {
		t.Errorf("a covered change failed: %s", r.Verdict())
	}
	if got := r.Verdict(); got != "OK: 1 change(s), all covered by the spec" {
		t.Errorf("verdict %q", got)
	}
}
