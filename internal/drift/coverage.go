package drift

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pkbgo/pkb/internal/specdoc"
)

// Coverage categories, in report order; each Coverage.Missing line starts with one.
const (
	CatResources     = "resource types"
	CatInteractions  = "interactions"
	CatSearchParams  = "search parameters"
	CatSearchInclude = "search includes"
	CatOperations    = "operations"
)

// Categories lists the coverage categories in report order.
var Categories = []string{CatResources, CatInteractions, CatSearchParams, CatSearchInclude, CatOperations}

// Coverage is the result of checking a statement against a spec: a tally per
// category and one Missing line per uncovered or mismatched item, formatted
// "<category>: <item>: <problem>".
type Coverage struct {
	Covered map[string]int
	Total   map[string]int
	Missing []string
	// problems holds the problems per "<category>\x00<item>".
	problems map[string][]string
}

func newCoverage() *Coverage {
	return &Coverage{Covered: map[string]int{}, Total: map[string]int{}, problems: map[string][]string{}}
}

// item records one statement item. problems empty means covered.
func (c *Coverage) item(category, name string, problems ...string) {
	c.Total[category]++
	if len(problems) == 0 {
		c.Covered[category]++
		return
	}
	c.problems[category+"\x00"+name] = append(c.problems[category+"\x00"+name], problems...)
	for _, p := range problems {
		c.Missing = append(c.Missing, fmt.Sprintf("%s: %s: %s", category, name, p))
	}
}

// Problems returns the coverage problems of one item (nil when covered or unknown).
func (c *Coverage) Problems(category, item string) []string {
	return c.problems[category+"\x00"+item]
}

// Summary returns one "covered/total" line per category plus a total line.
func (c *Coverage) Summary() []string {
	var lines []string
	var cov, tot int
	for _, cat := range Categories {
		lines = append(lines, fmt.Sprintf("%-18s %3d/%-3d covered", cat, c.Covered[cat], c.Total[cat]))
		cov += c.Covered[cat]
		tot += c.Total[cat]
	}
	return append(lines, fmt.Sprintf("%-18s %3d/%-3d covered", "total", cov, tot))
}

// CheckCoverage checks, item by item, that spec covers the statement: every
// resource type has a path, every read/search-type interaction its GET, every
// search parameter a query parameter whose x-fhir-search and OpenAPI shape
// match PKB's documentation, every searchInclude a value of _include, and
// every rest.operation an x-fhir-operation at the level its definition names.
func CheckCoverage(st *Statement, spec *Spec) *Coverage {
	c := newCoverage()
	for _, rest := range st.Rest {
		for _, res := range rest.Resource {
			checkResource(c, spec, res)
		}
		checkOperations(c, spec, rest.Operation)
	}
	return c
}

func interactionItem(typ, code string) string { return typ + " " + code }
func searchParamItem(typ, name string) string { return typ + "?" + name }
func includeItem(typ, inc string) string      { return typ + "?_include=" + inc }

func checkResource(c *Coverage, spec *Spec, res Resource) {
	// The type appears at all (Person is declared with no interaction).
	if hasResourcePath(spec, res.Type) {
		c.item(CatResources, res.Type)
	} else {
		c.item(CatResources, res.Type, "no path /"+res.Type+" or /"+res.Type+"/...")
	}

	for _, in := range res.Interaction {
		name := interactionItem(res.Type, in.Code)
		switch in.Code {
		case "read":
			if spec.Operation("/"+res.Type+"/{id}", "GET") == nil {
				c.item(CatInteractions, name, "no GET /"+res.Type+"/{id}")
			} else {
				c.item(CatInteractions, name)
			}
		case "search-type":
			if spec.Operation("/"+res.Type, "GET") == nil {
				c.item(CatInteractions, name, "no GET /"+res.Type)
			} else {
				c.item(CatInteractions, name)
			}
		default:
			c.item(CatInteractions, name, "interaction code not known to this checker")
		}
	}

	search := spec.Operation("/"+res.Type, "GET")
	for _, sp := range res.SearchParam {
		name := searchParamItem(res.Type, sp.Name)
		if search == nil {
			c.item(CatSearchParams, name, "no search operation GET /"+res.Type)
			continue
		}
		c.item(CatSearchParams, name, checkSearchParam(spec, "/"+res.Type, search, sp)...)
	}

	for _, inc := range res.SearchInclude {
		name := includeItem(res.Type, inc)
		p := spec.QueryParam("/"+res.Type, search, "_include")
		switch {
		case search == nil:
			c.item(CatSearchInclude, name, "no search operation GET /"+res.Type)
		case p == nil:
			c.item(CatSearchInclude, name, "no _include parameter")
		case !schemaAllows(p.Schema, inc):
			c.item(CatSearchInclude, name, "_include does not list "+inc)
		default:
			c.item(CatSearchInclude, name)
		}
	}
}

// checkSearchParam returns the ways the parameter differs from PKB's documentation.
func checkSearchParam(spec *Spec, path string, op *specdoc.Op, sp SearchParam) []string {
	want, err := ParseSearchDoc(sp.Documentation)
	if err != nil {
		return []string{err.Error()}
	}
	p := spec.QueryParam(path, op, sp.Name)
	if p == nil {
		return []string{"no query parameter " + sp.Name + " on GET " + path}
	}
	ext := p.FHIRSearch
	if ext == nil {
		return []string{"no x-fhir-search object"}
	}
	var probs []string
	mismatch := func(field string, got, want any) {
		probs = append(probs, fmt.Sprintf("%s is %v, PKB documents %v", field, got, want))
	}
	if got := extString(ext, "type"); got != sp.Type {
		mismatch("x-fhir-search.type", got, sp.Type)
	}
	if got := extString(ext, "required"); got != want.Required {
		mismatch("x-fhir-search.required", got, want.Required)
	}
	if p.Required != (want.Required == "required") {
		mismatch("OpenAPI required", p.Required, want.Required)
	}
	if got := extString(ext, "multiple"); got != want.Multiple {
		mismatch("x-fhir-search.multiple", got, want.Multiple)
	}
	isArray := p.Schema != nil && p.Schema.Type == "array"
	if isArray != (want.Multiple == "AND") {
		mismatch("array schema", isArray, "multi-value "+want.Multiple)
	}
	if want.Multiple == "AND" && (p.Style != "form" || p.Explode == nil || !*p.Explode) {
		probs = append(probs, "multi-value AND needs style: form, explode: true")
	}
	if got := extStrings(ext, "modifiers"); !sameSet(got, want.Modifiers) {
		mismatch("x-fhir-search.modifiers", got, want.Modifiers)
	}
	if got := extStrings(ext, "prefixes"); !sameSet(got, want.Prefixes) {
		mismatch("x-fhir-search.prefixes", got, want.Prefixes)
	}
	if want.SupportedValues != nil {
		if got := extStrings(ext, "supportedValues"); !sameSet(got, want.SupportedValues) {
			mismatch("x-fhir-search.supportedValues", got, want.SupportedValues)
		}
	}
	if want.Definition != "" {
		if got := extString(ext, "definition"); got != want.Definition {
			mismatch("x-fhir-search.definition", got, want.Definition)
		}
	}
	return probs
}

// reDefinitionID parses PKB's OperationDefinition ids, "<Type>-<t|i>-<name>" (type-
// or instance-level on Type), e.g. "Patient-t-status-query".
var reDefinitionID = regexp.MustCompile(`^OperationDefinition/([A-Z][A-Za-z]+)-([ti])-(.+)$`)

type located struct{ path, method string }

// specOperations indexes the spec's operations by x-fhir-operation.
func specOperations(spec *Spec) map[string][]located {
	byName := map[string][]located{}
	for _, path := range spec.Paths() {
		for _, method := range []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"} {
			if op := spec.Item(path).Operations()[method]; op != nil && op.FHIROperation != "" {
				byName[op.FHIROperation] = append(byName[op.FHIROperation], located{path, method})
			}
		}
	}
	return byName
}

func checkOperations(c *Coverage, spec *Spec, ops []Operation) {
	byName := specOperations(spec)
	for _, o := range ops {
		found := byName[o.Name]
		if len(found) == 0 {
			c.item(CatOperations, o.Name, "no operation with x-fhir-operation: "+o.Name)
			continue
		}
		m := reDefinitionID.FindStringSubmatch(o.Definition.Reference)
		if m == nil {
			c.item(CatOperations, o.Name) // no level/type to check against
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
			c.item(CatOperations, o.Name)
		} else {
			c.item(CatOperations, o.Name, fmt.Sprintf("definition %s implies %s, found only %s",
				o.Definition.Reference, want, strings.Join(paths, ", ")))
		}
	}
}
