package openapi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// This file checks that facade.yaml covers, item by item, PKB's published Facade
// CapabilityStatement (source/facade-capabilitystatement.json): every resource type,
// every interaction, every search parameter with the properties PKB documents for it,
// every searchInclude and every rest.operation.
//
// PKB's searchParam documentation strings are parsed here independently of the YAML,
// so a parameter whose x-fhir-search or OpenAPI shape disagrees with PKB's text fails.

const (
	facadeStatementFile = "source/facade-capabilitystatement.json"
	facadeDocumentFile  = "facade.yaml"
)

// capStatement is the part of an STU3 CapabilityStatement the checker reads.
type capStatement struct {
	ResourceType string `json:"resourceType"`
	Rest         []struct {
		Mode     string        `json:"mode"`
		Resource []capResource `json:"resource"`
		// Operation lists the statement-level operations (rest.operation).
		Operation []capOperation `json:"operation"`
	} `json:"rest"`
}

type capResource struct {
	Type        string `json:"type"`
	Interaction []struct {
		Code string `json:"code"`
	} `json:"interaction"`
	SearchParam   []capSearchParam `json:"searchParam"`
	SearchInclude []string         `json:"searchInclude"`
}

type capSearchParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation"`
}

type capOperation struct {
	Name       string `json:"name"`
	Definition struct {
		Reference string `json:"reference"`
	} `json:"definition"`
}

// Coverage categories, in report order.
const (
	catResources     = "resource types"
	catInteractions  = "interactions"
	catSearchParams  = "search parameters"
	catSearchInclude = "search includes"
	catOperations    = "operations"
)

var coverageCategories = []string{catResources, catInteractions, catSearchParams, catSearchInclude, catOperations}

// coverageReport is the checker's result: a tally per category and one line per
// missing or mismatched item.
type coverageReport struct {
	covered, total map[string]int
	missing        []string
}

func newCoverageReport() *coverageReport {
	return &coverageReport{covered: map[string]int{}, total: map[string]int{}}
}

// item records one statement item. problems empty means covered; otherwise each
// problem becomes one missing line, prefixed with the category and the item name.
func (r *coverageReport) item(category, name string, problems ...string) {
	r.total[category]++
	if len(problems) == 0 {
		r.covered[category]++
		return
	}
	for _, p := range problems {
		r.missing = append(r.missing, fmt.Sprintf("%s: %s: %s", category, name, p))
	}
}

func (r *coverageReport) summary() []string {
	var lines []string
	var c, t int
	for _, cat := range coverageCategories {
		lines = append(lines, fmt.Sprintf("%-18s %3d/%-3d covered", cat, r.covered[cat], r.total[cat]))
		c += r.covered[cat]
		t += r.total[cat]
	}
	return append(lines, fmt.Sprintf("%-18s %3d/%-3d covered", "total", c, t))
}

// pkbSearchDoc is what PKB's searchParam documentation says, e.g.
// "Required. Multi-value support: none. Modifier support: [<type>]."
// "Optional. Multi-value support: AND. Modifier support: none. Prefix support: [eq, gt, lt, ge, le]."
type pkbSearchDoc struct {
	required        string // required | optional | conditional
	multiple        string // none | AND
	modifiers       []string
	prefixes        []string
	supportedValues []string // nil when not documented
	definition      string   // "" when not documented
}

var (
	reRequired   = regexp.MustCompile(`^\s*(Required|Optional|Conditional)\b`)
	reMultiple   = regexp.MustCompile(`Multi-value support:\s*(none|AND)\b`)
	reModifiers  = regexp.MustCompile(`Modifier support:\s*(none|\[([^\]]*)\])`)
	rePrefixes   = regexp.MustCompile(`(?:Prefix support|Prefixes supported):\s*\[([^\]]*)\]`)
	reSupported  = regexp.MustCompile(`Supported values:\s*\[([^\]]*)\]`)
	reDefinition = regexp.MustCompile(`Definition:\s*(\S+?)\.?(?:\s|$)`)
)

func parsePKBSearchDoc(doc string) (pkbSearchDoc, error) {
	var d pkbSearchDoc
	m := reRequired.FindStringSubmatch(doc)
	if m == nil {
		return d, fmt.Errorf("documentation %q does not start with Required/Optional/Conditional", doc)
	}
	d.required = strings.ToLower(m[1])
	m = reMultiple.FindStringSubmatch(doc)
	if m == nil {
		return d, fmt.Errorf("documentation %q has no \"Multi-value support\"", doc)
	}
	d.multiple = m[1]
	m = reModifiers.FindStringSubmatch(doc)
	if m == nil {
		return d, fmt.Errorf("documentation %q has no \"Modifier support\"", doc)
	}
	d.modifiers = splitList(m[2]) // "none" leaves m[2] empty
	if m = rePrefixes.FindStringSubmatch(doc); m != nil {
		d.prefixes = splitList(m[1])
	} else {
		d.prefixes = []string{}
	}
	if m = reSupported.FindStringSubmatch(doc); m != nil {
		d.supportedValues = splitList(m[1])
	}
	if m = reDefinition.FindStringSubmatch(doc); m != nil {
		d.definition = m[1]
	}
	return d, nil
}

func splitList(s string) []string {
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkFacadeCoverage compares a CapabilityStatement with an OpenAPI document.
func checkFacadeCoverage(cs *capStatement, doc *openapi3.T) *coverageReport {
	r := newCoverageReport()
	for _, rest := range cs.Rest {
		for _, res := range rest.Resource {
			checkResource(r, doc, res)
		}
		checkOperations(r, doc, rest.Operation)
	}
	return r
}

func checkResource(r *coverageReport, doc *openapi3.T, res capResource) {
	// The type appears at all (Person is declared with no interaction).
	var found bool
	for _, p := range doc.Paths.InMatchingOrder() {
		if p == "/"+res.Type || strings.HasPrefix(p, "/"+res.Type+"/") {
			found = true
			break
		}
	}
	if found {
		r.item(catResources, res.Type)
	} else {
		r.item(catResources, res.Type, "no path /"+res.Type+" or /"+res.Type+"/...")
	}

	for _, in := range res.Interaction {
		name := res.Type + " " + in.Code
		switch in.Code {
		case "read":
			if operation(doc, "/"+res.Type+"/{id}", "GET") == nil {
				r.item(catInteractions, name, "no GET /"+res.Type+"/{id}")
			} else {
				r.item(catInteractions, name)
			}
		case "search-type":
			if operation(doc, "/"+res.Type, "GET") == nil {
				r.item(catInteractions, name, "no GET /"+res.Type)
			} else {
				r.item(catInteractions, name)
			}
		default:
			r.item(catInteractions, name, "interaction code not known to this checker")
		}
	}

	search := operation(doc, "/"+res.Type, "GET")
	for _, sp := range res.SearchParam {
		name := res.Type + "?" + sp.Name
		if search == nil {
			r.item(catSearchParams, name, "no search operation GET /"+res.Type)
			continue
		}
		r.item(catSearchParams, name, checkSearchParam(doc, "/"+res.Type, search, sp)...)
	}

	for _, inc := range res.SearchInclude {
		name := res.Type + "?_include=" + inc
		p := queryParam(doc, "/"+res.Type, search, "_include")
		switch {
		case search == nil:
			r.item(catSearchInclude, name, "no search operation GET /"+res.Type)
		case p == nil:
			r.item(catSearchInclude, name, "no _include parameter")
		case !schemaAllows(p.Schema, inc):
			r.item(catSearchInclude, name, "_include does not list "+inc)
		default:
			r.item(catSearchInclude, name)
		}
	}
}

// checkSearchParam returns the ways the parameter differs from PKB's documentation.
func checkSearchParam(doc *openapi3.T, path string, op *openapi3.Operation, sp capSearchParam) []string {
	want, err := parsePKBSearchDoc(sp.Documentation)
	if err != nil {
		return []string{err.Error()}
	}
	p := queryParam(doc, path, op, sp.Name)
	if p == nil {
		return []string{"no query parameter " + sp.Name + " on GET " + path}
	}
	ext, ok := p.Extensions["x-fhir-search"].(map[string]any)
	if !ok {
		return []string{"no x-fhir-search object"}
	}
	var probs []string
	mismatch := func(field string, got, want any) {
		probs = append(probs, fmt.Sprintf("%s is %v, PKB documents %v", field, got, want))
	}
	if got := extString(ext, "type"); got != sp.Type {
		mismatch("x-fhir-search.type", got, sp.Type)
	}
	if got := extString(ext, "required"); got != want.required {
		mismatch("x-fhir-search.required", got, want.required)
	}
	if p.Required != (want.required == "required") {
		mismatch("OpenAPI required", p.Required, want.required)
	}
	if got := extString(ext, "multiple"); got != want.multiple {
		mismatch("x-fhir-search.multiple", got, want.multiple)
	}
	isArray := p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Type.Is("array")
	if isArray != (want.multiple == "AND") {
		mismatch("array schema", isArray, "multi-value "+want.multiple)
	}
	if want.multiple == "AND" && (p.Style != "form" || p.Explode == nil || !*p.Explode) {
		probs = append(probs, "multi-value AND needs style: form, explode: true")
	}
	if got := extStrings(ext, "modifiers"); !sameSet(got, want.modifiers) {
		mismatch("x-fhir-search.modifiers", got, want.modifiers)
	}
	if got := extStrings(ext, "prefixes"); !sameSet(got, want.prefixes) {
		mismatch("x-fhir-search.prefixes", got, want.prefixes)
	}
	if want.supportedValues != nil {
		if got := extStrings(ext, "supportedValues"); !sameSet(got, want.supportedValues) {
			mismatch("x-fhir-search.supportedValues", got, want.supportedValues)
		}
	}
	if want.definition != "" {
		if got := extString(ext, "definition"); got != want.definition {
			mismatch("x-fhir-search.definition", got, want.definition)
		}
	}
	return probs
}

// reDefinitionID parses PKB's OperationDefinition ids, "<Type>-<t|i>-<name>" (type-
// or instance-level on Type), e.g. "Patient-t-status-query".
var reDefinitionID = regexp.MustCompile(`^OperationDefinition/([A-Z][A-Za-z]+)-([ti])-(.+)$`)

func checkOperations(r *coverageReport, doc *openapi3.T, ops []capOperation) {
	type located struct{ path, method string }
	byName := map[string][]located{}
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			if name, ok := op.Extensions["x-fhir-operation"].(string); ok {
				byName[name] = append(byName[name], located{path, method})
			}
		}
	}
	for _, o := range ops {
		found := byName[o.Name]
		if len(found) == 0 {
			r.item(catOperations, o.Name, "no operation with x-fhir-operation: "+o.Name)
			continue
		}
		m := reDefinitionID.FindStringSubmatch(o.Definition.Reference)
		if m == nil {
			r.item(catOperations, o.Name) // no level/type to check against
			continue
		}
		// At least one of the operations must sit where the definition id says:
		// type-level "/<Type>/$<name>", instance-level "/<Type>/{id}/$<name>".
		want := "/" + m[1] + "/$" + o.Name
		if m[2] == "i" {
			want = "/" + m[1] + "/{id}/$" + o.Name
		}
		var paths []string
		ok := false
		for _, l := range found {
			paths = append(paths, l.method+" "+l.path)
			ok = ok || l.path == want
		}
		if ok {
			r.item(catOperations, o.Name)
		} else {
			r.item(catOperations, o.Name, fmt.Sprintf("definition %s implies %s, found only %s",
				o.Definition.Reference, want, strings.Join(paths, ", ")))
		}
	}
}

func operation(doc *openapi3.T, path, method string) *openapi3.Operation {
	item := doc.Paths.Value(path)
	if item == nil {
		return nil
	}
	return item.GetOperation(method)
}

// queryParam finds a query parameter on the operation or its path item.
func queryParam(doc *openapi3.T, path string, op *openapi3.Operation, name string) *openapi3.Parameter {
	if op == nil {
		return nil
	}
	params := slices.Clone(op.Parameters)
	if item := doc.Paths.Value(path); item != nil {
		params = append(params, item.Parameters...)
	}
	for _, ref := range params {
		if ref != nil && ref.Value != nil && ref.Value.In == openapi3.ParameterInQuery && ref.Value.Name == name {
			return ref.Value
		}
	}
	return nil
}

// schemaAllows reports whether value is in the enum of the schema or of its items.
func schemaAllows(s *openapi3.SchemaRef, value string) bool {
	if s == nil || s.Value == nil {
		return false
	}
	if slices.Contains(s.Value.Enum, any(value)) {
		return true
	}
	return s.Value.Items != nil && s.Value.Items.Value != nil && slices.Contains(s.Value.Items.Value.Enum, any(value))
}

func extString(ext map[string]any, key string) string {
	s, _ := ext[key].(string)
	return s
}

func extStrings(ext map[string]any, key string) []string {
	list, _ := ext[key].([]any)
	out := []string{}
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func loadFacadeStatement(t *testing.T) *capStatement {
	t.Helper()
	raw, err := os.ReadFile(facadeStatementFile)
	if err != nil {
		t.Fatal(err)
	}
	var cs capStatement
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatalf("%s: %v", facadeStatementFile, err)
	}
	if cs.ResourceType != "CapabilityStatement" || len(cs.Rest) == 0 {
		t.Fatalf("%s: not a CapabilityStatement with rest", facadeStatementFile)
	}
	return &cs
}

func loadFacadeDocument(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true // $refs into fhir-stu3.json
	doc, err := loader.LoadFromFile(facadeDocumentFile)
	if err != nil {
		t.Fatalf("%s: %v", facadeDocumentFile, err)
	}
	return doc
}

func TestFacadeCoversCapabilityStatement(t *testing.T) {
	cs := loadFacadeStatement(t)
	doc := loadFacadeDocument(t)
	r := checkFacadeCoverage(cs, doc)
	t.Logf("coverage of %s by %s:", facadeStatementFile, facadeDocumentFile)
	for _, line := range r.summary() {
		t.Log("  " + line)
	}
	for _, m := range r.missing {
		t.Errorf("missing: %s", m)
	}
	if r.total[catResources] == 0 || r.total[catSearchParams] == 0 || r.total[catOperations] == 0 {
		t.Errorf("the statement yielded no items (%v); is it the right file?", r.total)
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
	var edited capStatement
	if err := json.Unmarshal(raw, &edited); err != nil {
		t.Fatal(err)
	}
	rest := &edited.Rest[0]
	var patched []string
	for i := range rest.Resource {
		res := &rest.Resource[i]
		switch res.Type {
		case "Patient":
			res.SearchParam = append(res.SearchParam, capSearchParam{
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
	rest.Resource = append(rest.Resource, capResource{Type: "Basic", Interaction: []struct {
		Code string `json:"code"`
	}{{Code: "read"}}})
	rest.Operation = append(rest.Operation, capOperation{Name: "invented-operation"})
	if len(patched) != 2 {
		t.Fatalf("statement changed shape; patched only %v", patched)
	}

	base := checkFacadeCoverage(cs, doc)
	got := checkFacadeCoverage(&edited, doc)
	for _, line := range got.summary() {
		t.Log("  " + line)
	}
	wantReported := []string{
		catSearchParams + ": Patient?invented-param: no query parameter invented-param",
		catSearchParams + ": Observation?date: x-fhir-search.required",
		catSearchParams + ": Observation?date: OpenAPI required",
		catSearchParams + ": Observation?date: x-fhir-search.multiple",
		catSearchParams + ": Observation?date: array schema",
		catSearchParams + ": Observation?date: x-fhir-search.prefixes",
		catResources + ": Basic: no path /Basic",
		catInteractions + ": Basic read: no GET /Basic/{id}",
		catOperations + ": invented-operation: no operation with x-fhir-operation",
	}
	for _, w := range wantReported {
		if !slices.ContainsFunc(got.missing, func(m string) bool { return strings.HasPrefix(m, w) }) {
			t.Errorf("checker did not report %q; it reported:\n%s", w, strings.Join(got.missing, "\n"))
		}
	}
	if got.total[catSearchParams] != base.total[catSearchParams]+1 ||
		got.covered[catSearchParams] != base.covered[catSearchParams]-1 {
		t.Errorf("search parameters: got %d/%d, want %d/%d",
			got.covered[catSearchParams], got.total[catSearchParams],
			base.covered[catSearchParams]-1, base.total[catSearchParams]+1)
	}
	if got.covered[catOperations] != base.covered[catOperations] || got.total[catOperations] != base.total[catOperations]+1 {
		t.Errorf("operations: got %d/%d, want %d/%d", got.covered[catOperations], got.total[catOperations],
			base.covered[catOperations], base.total[catOperations]+1)
	}
}

// TestParsePKBSearchDoc pins the parser on PKB's documentation variants.
func TestParsePKBSearchDoc(t *testing.T) {
	cases := []struct {
		doc  string
		want pkbSearchDoc
	}{
		{"Required. Multi-value support: none. Modifier support: [<type>].",
			pkbSearchDoc{required: "required", multiple: "none", modifiers: []string{"<type>"}, prefixes: []string{}}},
		{"Optional. Multi-value support: AND. Modifier support: none. Prefixes supported: [eq, gt, lt, ge, le].",
			pkbSearchDoc{required: "optional", multiple: "AND", modifiers: []string{}, prefixes: []string{"eq", "gt", "lt", "ge", "le"}}},
		{"Conditional. Multi-value support: none. Modifier support: none. Prefix support: [eq].",
			pkbSearchDoc{required: "conditional", multiple: "none", modifiers: []string{}, prefixes: []string{"eq"}}},
		{"Required. Multi-value support: none. Modifier support: none. Supported values: [https://fhir.nhs.uk/Id/nhs-number].",
			pkbSearchDoc{required: "required", multiple: "none", modifiers: []string{}, prefixes: []string{},
				supportedValues: []string{"https://fhir.nhs.uk/Id/nhs-number"}}},
		{"Optional. Multi-value support: none. Modifier support: none. Definition: http://fhir.patientsknowbest.com/searchparameter/document-status",
			pkbSearchDoc{required: "optional", multiple: "none", modifiers: []string{}, prefixes: []string{},
				definition: "http://fhir.patientsknowbest.com/searchparameter/document-status"}},
	}
	for _, c := range cases {
		got, err := parsePKBSearchDoc(c.doc)
		if err != nil {
			t.Errorf("%q: %v", c.doc, err)
			continue
		}
		if got.required != c.want.required || got.multiple != c.want.multiple ||
			!slices.Equal(got.modifiers, c.want.modifiers) || !slices.Equal(got.prefixes, c.want.prefixes) ||
			!slices.Equal(got.supportedValues, c.want.supportedValues) || got.definition != c.want.definition {
			t.Errorf("%q:\n got %+v\nwant %+v", c.doc, got, c.want)
		}
	}
	if _, err := parsePKBSearchDoc("Sometimes. Multi-value support: none."); err == nil {
		t.Error("unparseable documentation accepted")
	}
}
