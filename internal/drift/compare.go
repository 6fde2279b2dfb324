package drift

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/pkbgo/pkb/api/openapi"
)

// Row kinds, in report order.
const (
	KindStatement     = "statement"
	KindResource      = "resource"
	KindInteraction   = "interaction"
	KindSearchParam   = "searchParam"
	KindSearchInclude = "searchInclude"
	KindOperation     = "operation"
)

var kindOrder = []string{KindStatement, KindResource, KindInteraction, KindSearchParam, KindSearchInclude, KindOperation}

// kindCategory maps a row kind to its coverage category.
var kindCategory = map[string]string{
	KindResource: CatResources, KindInteraction: CatInteractions, KindSearchParam: CatSearchParams,
	KindSearchInclude: CatSearchInclude, KindOperation: CatOperations,
}

var kindLabel = map[string]string{
	KindStatement: "statement", KindResource: "resource", KindInteraction: "interaction",
	KindSearchParam: "search param", KindSearchInclude: "search include", KindOperation: "operation",
}

// Change values of a Row.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Spec values of a Row: what the spec says about the item.
const (
	SpecCovered    = "covered"     // added/changed item the spec covers as documented
	SpecNotCovered = "NOT COVERED" // added/changed item the spec lacks or contradicts
	SpecStill      = "still in spec"
	SpecAbsent     = "not in spec"
	SpecNA         = "n/a"
)

// Row is one difference between the committed and the candidate statement.
// Item names follow the coverage check: "Observation" (resource),
// "Patient read" (interaction), "Observation?code" (search parameter),
// "QuestionnaireResponse?_include=..." (search include), "status-query"
// (operation), "fhirVersion" (statement).
type Row struct {
	Change string `json:"change"` // added | removed | changed
	Kind   string `json:"kind"`   // statement | resource | interaction | searchParam | searchInclude | operation
	Item   string `json:"item"`
	// Field names the changed property of a changed row: type, required,
	// multiple, modifiers, prefixes, supportedValues, definition (search
	// parameters), reference (operations), fhirVersion or url (statement).
	Field string `json:"field,omitempty"`
	Old   string `json:"old,omitempty"` // changed: old value; removed: the removed item's properties
	New   string `json:"new,omitempty"` // changed: new value; added: the added item's properties
	// Spec is SpecCovered or SpecNotCovered for added and changed items,
	// SpecStill or SpecAbsent for removed ones, SpecNA for statement rows.
	Spec string `json:"spec"`
	// SpecProblems lists why the spec does not cover an added or changed item.
	SpecProblems []string `json:"specProblems,omitempty"`
	// Failing is true for removals and for items the spec does not cover.
	Failing bool `json:"failing"`
}

// Detail is the row's human-readable detail: "old → new" for changes, the
// item's properties otherwise.
func (r Row) Detail() string {
	switch r.Change {
	case Changed:
		return r.Field + ": " + r.Old + " → " + r.New
	case Removed:
		return r.Old
	default:
		return r.New
	}
}

// StatementInfo identifies a compared statement.
type StatementInfo struct {
	URL         string `json:"url"`
	Date        string `json:"date"`
	FHIRVersion string `json:"fhirVersion"`
}

// CoverageSummary is the coverage tally of one category.
type CoverageSummary struct {
	Category string `json:"category"`
	Covered  int    `json:"covered"`
	Total    int    `json:"total"`
}

// Report is the result of Compare.
type Report struct {
	Committed StatementInfo `json:"committed"`
	Candidate StatementInfo `json:"candidate"`
	// Rows are the differences, ordered by kind, item, change and field.
	Rows []Row `json:"rows"`
	// Coverage tallies how much of the candidate the spec covers.
	Coverage []CoverageSummary `json:"coverage"`
	// Uncovered lists every coverage gap of the candidate, drift or not,
	// as "<category>: <item>: <problem>".
	Uncovered []string `json:"uncovered"`
}

// Compare parses a committed and a candidate CapabilityStatement (JSON) and
// the Facade OpenAPI document (YAML) and reports how the candidate differs
// from the committed statement and what of it the spec does not cover.
func Compare(committed, candidate, spec []byte) (*Report, error) {
	old, err := ParseStatement(committed)
	if err != nil {
		return nil, fmt.Errorf("committed statement: %w", err)
	}
	cand, err := ParseStatement(candidate)
	if err != nil {
		return nil, fmt.Errorf("candidate statement: %w", err)
	}
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("facade spec: %w", err)
	}
	return CompareStatements(old, cand, s), nil
}

// Committed files inside api/openapi (openapi.FS).
const (
	CommittedStatementFile = "source/facade-capabilitystatement.json"
	FacadeSpecFile         = "facade.yaml"
)

// CompareWithEmbedded compares candidate with the statement and facade.yaml
// embedded in package api/openapi at build time: the entry point for
// `pkb drift`, whose binary must work outside the repository.
func CompareWithEmbedded(candidate []byte) (*Report, error) {
	committed, err := openapi.FS.ReadFile(CommittedStatementFile)
	if err != nil {
		return nil, err
	}
	spec, err := openapi.FS.ReadFile(FacadeSpecFile)
	if err != nil {
		return nil, err
	}
	return Compare(committed, candidate, spec)
}

// CompareStatements is Compare on parsed inputs.
func CompareStatements(committed, candidate *Statement, spec *Spec) *Report {
	cov := CheckCoverage(candidate, spec)
	r := &Report{
		Committed: info(committed), Candidate: info(candidate),
		Uncovered: append([]string{}, cov.Missing...),
	}
	for _, cat := range Categories {
		r.Coverage = append(r.Coverage, CoverageSummary{cat, cov.Covered[cat], cov.Total[cat]})
	}
	add := func(row Row) {
		switch {
		case row.Kind == KindStatement:
			row.Spec = SpecNA
		case row.Change == Removed:
			row.Failing = true
			row.Spec = SpecAbsent
			if stillInSpec(spec, row) {
				row.Spec = SpecStill
			}
		default:
			row.SpecProblems = fieldProblems(row.Field, cov.Problems(kindCategory[row.Kind], row.Item))
			row.Spec = SpecCovered
			if len(row.SpecProblems) > 0 {
				row.Spec = SpecNotCovered
				row.Failing = true
			}
		}
		r.Rows = append(r.Rows, row)
	}

	if committed.FHIRVersion != candidate.FHIRVersion {
		add(Row{Change: Changed, Kind: KindStatement, Item: "fhirVersion", Field: "fhirVersion", Old: committed.FHIRVersion, New: candidate.FHIRVersion})
	}
	if committed.URL != candidate.URL {
		add(Row{Change: Changed, Kind: KindStatement, Item: "url", Field: "url", Old: committed.URL, New: candidate.URL})
	}

	oldRes, newRes := resources(committed), resources(candidate)
	for _, typ := range unionKeys(oldRes, newRes) {
		o, n := oldRes[typ], newRes[typ]
		switch {
		case o == nil:
			add(Row{Change: Added, Kind: KindResource, Item: typ, New: resourceDetail(n)})
		case n == nil:
			add(Row{Change: Removed, Kind: KindResource, Item: typ, Old: resourceDetail(o)})
		}
		compareResource(typ, o, n, add)
	}

	oldOps, newOps := operations(committed), operations(candidate)
	for _, name := range unionKeys(oldOps, newOps) {
		o, n := oldOps[name], newOps[name]
		switch {
		case o == nil:
			add(Row{Change: Added, Kind: KindOperation, Item: name, New: n.Definition.Reference})
		case n == nil:
			add(Row{Change: Removed, Kind: KindOperation, Item: name, Old: o.Definition.Reference})
		case o.Definition.Reference != n.Definition.Reference:
			add(Row{Change: Changed, Kind: KindOperation, Item: name, Field: "reference", Old: o.Definition.Reference, New: n.Definition.Reference})
		}
	}

	changeOrder := map[string]int{Removed: 0, Changed: 1, Added: 2}
	slices.SortStableFunc(r.Rows, func(a, b Row) int {
		return cmp.Or(
			cmp.Compare(slices.Index(kindOrder, a.Kind), slices.Index(kindOrder, b.Kind)),
			cmp.Compare(a.Item, b.Item),
			cmp.Compare(changeOrder[a.Change], changeOrder[b.Change]),
		)
	})
	return r
}

// compareResource adds the interaction, search parameter and include rows of
// one resource type; o or n is nil when the type was added or removed.
func compareResource(typ string, o, n *Resource, add func(Row)) {
	if o == nil {
		o = &Resource{Type: typ}
	}
	if n == nil {
		n = &Resource{Type: typ}
	}
	oldIn, newIn := set(o.Interaction, func(i Interaction) string { return i.Code }), set(n.Interaction, func(i Interaction) string { return i.Code })
	for _, code := range unionKeys(oldIn, newIn) {
		switch {
		case !oldIn[code]:
			add(Row{Change: Added, Kind: KindInteraction, Item: interactionItem(typ, code)})
		case !newIn[code]:
			add(Row{Change: Removed, Kind: KindInteraction, Item: interactionItem(typ, code)})
		}
	}

	oldSP, newSP := params(o), params(n)
	for _, name := range unionKeys(oldSP, newSP) {
		item := searchParamItem(typ, name)
		op, np := oldSP[name], newSP[name]
		switch {
		case op == nil:
			add(Row{Change: Added, Kind: KindSearchParam, Item: item, New: paramDetail(*np)})
		case np == nil:
			add(Row{Change: Removed, Kind: KindSearchParam, Item: item, Old: paramDetail(*op)})
		default:
			for _, f := range paramFields(*op) {
				nv := paramField(*np, f)
				if ov := paramField(*op, f); ov != nv {
					add(Row{Change: Changed, Kind: KindSearchParam, Item: item, Field: f, Old: ov, New: nv})
				}
			}
		}
	}

	oldInc, newInc := set(o.SearchInclude, func(s string) string { return s }), set(n.SearchInclude, func(s string) string { return s })
	for _, inc := range unionKeys(oldInc, newInc) {
		switch {
		case !oldInc[inc]:
			add(Row{Change: Added, Kind: KindSearchInclude, Item: includeItem(typ, inc)})
		case !newInc[inc]:
			add(Row{Change: Removed, Kind: KindSearchInclude, Item: includeItem(typ, inc)})
		}
	}
}

// fieldPrefixes maps a changed search parameter field to the coverage
// problems that concern it (CheckCoverage's wording).
var fieldPrefixes = map[string][]string{
	"type":            {"x-fhir-search.type "},
	"required":        {"x-fhir-search.required ", "OpenAPI required "},
	"multiple":        {"x-fhir-search.multiple ", "array schema ", "multi-value AND "},
	"modifiers":       {"x-fhir-search.modifiers "},
	"prefixes":        {"x-fhir-search.prefixes "},
	"supportedValues": {"x-fhir-search.supportedValues "},
	"definition":      {"x-fhir-search.definition "},
}

// fieldProblems keeps the problems about field; all of them for rows without
// a field or for problems that are not about a single field (missing parameter).
func fieldProblems(field string, problems []string) []string {
	prefixes, ok := fieldPrefixes[field]
	if !ok {
		return problems
	}
	var out []string
	for _, p := range problems {
		about := func(pre string) bool { return strings.HasPrefix(p, pre) }
		if slices.ContainsFunc(prefixes, about) || !slices.ContainsFunc(allFieldPrefixes(), about) {
			out = append(out, p)
		}
	}
	return out
}

func allFieldPrefixes() []string {
	var all []string
	for _, f := range searchParamFields {
		all = append(all, fieldPrefixes[f]...)
	}
	return all
}

var searchParamFields = []string{"type", "required", "multiple", "modifiers", "prefixes", "supportedValues", "definition"}

func paramFields(SearchParam) []string { return searchParamFields }

// paramField renders one property of a search parameter. The statement was
// parsed with ParseStatement, so the documentation parses.
func paramField(sp SearchParam, field string) string {
	d, _ := ParseSearchDoc(sp.Documentation)
	switch field {
	case "type":
		return sp.Type
	case "required":
		return d.Required
	case "multiple":
		return d.Multiple
	case "modifiers":
		return list(d.Modifiers)
	case "prefixes":
		return list(d.Prefixes)
	case "supportedValues":
		if d.SupportedValues == nil {
			return "-"
		}
		return list(d.SupportedValues)
	case "definition":
		return cmp.Or(d.Definition, "-")
	}
	panic("drift: unknown search parameter field " + field)
}

func list(l []string) string {
	s := slices.Clone(l)
	slices.Sort(s)
	return "[" + strings.Join(s, ", ") + "]"
}

// paramDetail renders a search parameter's properties, e.g.
// "token, optional, multiple none, modifiers [], prefixes []".
func paramDetail(sp SearchParam) string {
	parts := []string{sp.Type, paramField(sp, "required"), "multiple " + paramField(sp, "multiple"),
		"modifiers " + paramField(sp, "modifiers"), "prefixes " + paramField(sp, "prefixes")}
	if v := paramField(sp, "supportedValues"); v != "-" {
		parts = append(parts, "values "+v)
	}
	if v := paramField(sp, "definition"); v != "-" {
		parts = append(parts, "definition "+v)
	}
	return strings.Join(parts, ", ")
}

func resourceDetail(r *Resource) string {
	var codes []string
	for _, i := range r.Interaction {
		codes = append(codes, i.Code)
	}
	if len(codes) == 0 {
		return "no interactions"
	}
	return "interactions " + list(codes)
}

// stillInSpec reports whether the spec still has a removed item.
func stillInSpec(spec *Spec, row Row) bool {
	switch row.Kind {
	case KindResource:
		return hasResourcePath(spec, row.Item)
	case KindInteraction:
		typ, code, _ := strings.Cut(row.Item, " ")
		if code == "read" {
			return spec.Operation("/"+typ+"/{id}", "GET") != nil
		}
		return spec.Operation("/"+typ, "GET") != nil
	case KindSearchParam:
		typ, name, _ := strings.Cut(row.Item, "?")
		return spec.QueryParam("/"+typ, spec.Operation("/"+typ, "GET"), name) != nil
	case KindSearchInclude:
		typ, inc, _ := strings.Cut(row.Item, "?_include=")
		p := spec.QueryParam("/"+typ, spec.Operation("/"+typ, "GET"), "_include")
		return p != nil && schemaAllows(p.Schema, inc)
	case KindOperation:
		return len(specOperations(spec)[row.Item]) > 0
	}
	return false
}

func info(s *Statement) StatementInfo {
	return StatementInfo{URL: s.URL, Date: s.Date, FHIRVersion: s.FHIRVersion}
}

func resources(s *Statement) map[string]*Resource {
	out := map[string]*Resource{}
	for ri := range s.Rest {
		for i := range s.Rest[ri].Resource {
			res := &s.Rest[ri].Resource[i]
			if out[res.Type] == nil {
				out[res.Type] = res
			}
		}
	}
	return out
}

func operations(s *Statement) map[string]*Operation {
	out := map[string]*Operation{}
	for ri := range s.Rest {
		for i := range s.Rest[ri].Operation {
			op := &s.Rest[ri].Operation[i]
			if out[op.Name] == nil {
				out[op.Name] = op
			}
		}
	}
	return out
}

func params(r *Resource) map[string]*SearchParam {
	out := map[string]*SearchParam{}
	for i := range r.SearchParam {
		if out[r.SearchParam[i].Name] == nil {
			out[r.SearchParam[i].Name] = &r.SearchParam[i]
		}
	}
	return out
}

func set[T any](items []T, key func(T) string) map[string]bool {
	out := map[string]bool{}
	for _, it := range items {
		out[key(it)] = true
	}
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Removals counts the removed rows.
func (r *Report) Removals() int {
	n := 0
	for _, row := range r.Rows {
		if row.Change == Removed {
			n++
		}
	}
	return n
}

// Failed reports whether a CI job should fail: PKB removed something, or the
// spec does not cover an item of the candidate statement.
func (r *Report) Failed() bool {
	return r.Removals() > 0 || len(r.Uncovered) > 0
}

// Verdict is the one-line result, e.g. "FAIL: 1 removal, 1 coverage gap".
func (r *Report) Verdict() string {
	if !r.Failed() {
		if len(r.Rows) == 0 {
			return "OK: no drift; the spec covers the statement"
		}
		return fmt.Sprintf("OK: %d change(s), all covered by the spec", len(r.Rows))
	}
	var why []string
	if n := r.Removals(); n > 0 {
		why = append(why, plural(n, "removal", "removals"))
	}
	if n := len(r.Uncovered); n > 0 {
		why = append(why, plural(n, "coverage gap", "coverage gaps"))
	}
	return "FAIL: " + strings.Join(why, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// WriteText writes the report as a readable table: the compared statements,
// one row per difference, the spec coverage of the candidate and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Capability drift: %s\n", cmp.Or(r.Candidate.URL, r.Committed.URL))
	fmt.Fprintf(&b, "  committed: date %s, FHIR %s\n", r.Committed.Date, r.Committed.FHIRVersion)
	fmt.Fprintf(&b, "  candidate: date %s, FHIR %s\n\n", r.Candidate.Date, r.Candidate.FHIRVersion)
	if len(r.Rows) == 0 {
		b.WriteString("No differences.\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "CHANGE\tKIND\tITEM\tDETAIL\tSPEC")
		for _, row := range r.Rows {
			spec := row.Spec
			if len(row.SpecProblems) > 0 {
				spec += ": " + strings.Join(row.SpecProblems, "; ")
			}
			if row.Change == Removed && row.Spec == SpecStill {
				spec += " (remove it or mark it deprecated)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Change, kindLabel[row.Kind], row.Item, row.Detail(), spec)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	b.WriteString("\nSpec coverage of the candidate:\n")
	for _, c := range r.Coverage {
		fmt.Fprintf(&b, "  %-18s %3d/%-3d covered\n", c.Category, c.Covered, c.Total)
	}
	for _, u := range r.Uncovered {
		fmt.Fprintf(&b, "  not covered: %s\n", u)
	}
	fmt.Fprintf(&b, "\n%s\n", r.Verdict())
	_, err := w.Write(b.Bytes())
	return err
}

// JSON returns the report as indented JSON, with "failed" and "verdict"
// fields added for CI jobs.
func (r *Report) JSON() ([]byte, error) {
	type out struct {
		*Report
		Rows      []Row    `json:"rows"`
		Uncovered []string `json:"uncovered"`
		Failed    bool     `json:"failed"`
		Verdict   string   `json:"verdict"`
	}
	o := out{Report: r, Rows: r.Rows, Uncovered: r.Uncovered, Failed: r.Failed(), Verdict: r.Verdict()}
	if o.Rows == nil {
		o.Rows = []Row{}
	}
	if o.Uncovered == nil {
		o.Uncovered = []string{}
	}
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
