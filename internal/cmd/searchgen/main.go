// Command searchgen reads the x-fhir-search extension of every query parameter
// in the endpoint-family OpenAPI documents, joins each with HL7's
// SearchParameter definition for the same resource and code, and writes the
// table package search validates against, so the rules the client enforces
// (prefixes, modifiers, AND repetition, reference targets) can never drift from
// the specs.
//
//	go run ./internal/cmd/searchgen -out search/spec_gen.go \
//	    -hl7 stu3=internal/cmd/searchgen/hl7/stu3.json -hl7 r4=internal/cmd/searchgen/hl7/r4.json \
//	    facade:stu3=api/openapi/facade.yaml aggregated:r4=api/openapi/aggregated.yaml ...
//
// HL7's full definitions (2 MB per version) are not needed at generation time:
// -trim writes the subset the documents use, which is what is committed under
// internal/cmd/searchgen/hl7 (see PROVENANCE.md there):
//
//	go run ./internal/cmd/searchgen -trim stu3=/path/to/stu3/search-parameters.json \
//	    -trim-out internal/cmd/searchgen/hl7/stu3.json facade:stu3=api/openapi/facade.yaml ...
//
// With -trim-types Type,Type,... the subset also keeps every definition whose
// base is one of those types: the Aggregated endpoint implements all of R4's
// core parameters of its types, and internal/cmd/aggregatedgen generates them
// from this subset. Definitions already in -trim-out are kept as they are, so
// re-trimming from another copy of HL7's Bundle never rewrites them.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pkbgo/pkb/internal/specdoc"
)

// kinds maps x-fhir-search types to the Kind constants of package search.
var kinds = map[string]string{
	"date": "KindDate", "token": "KindToken", "reference": "KindReference", "string": "KindString",
	"number": "KindNumber", "quantity": "KindQuantity", "uri": "KindURI", "composite": "KindComposite",
	"special": "KindSpecial",
}

var families = map[string]string{
	"facade": "access.FamilyFacade", "aggregated": "access.FamilyAggregated",
	"customer-stu3": "access.FamilyCustomerSTU3", "customer-r4": "access.FamilyCustomerR4",
	"messaging": "access.FamilyMessaging", "restapi": "access.FamilyRESTAPI",
}

type xSearch struct {
	Type            string   `yaml:"type" json:"type"`
	Required        string   `yaml:"required" json:"required"`
	Multiple        string   `yaml:"multiple" json:"multiple"`
	Modifiers       []string `yaml:"modifiers" json:"modifiers"`
	Prefixes        []string `yaml:"prefixes" json:"prefixes"`
	SupportedValues []string `yaml:"supportedValues" json:"supportedValues"`
	Definition      string   `yaml:"definition" json:"definition"`
}

// hl7Param is the part of an HL7 SearchParameter the table uses.
type hl7Param struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	Code       string   `json:"code"`
	Base       []string `json:"base"`
	Type       string   `json:"type"`
	Target     []string `json:"target,omitempty"`
	Comparator []string `json:"comparator,omitempty"`
	Modifier   []string `json:"modifier,omitempty"`
	Chain      []string `json:"chain,omitempty"`
}

type row struct {
	family, version, op, resource, name string
	x                                   xSearch
	enum                                []string
	hl7                                 *hl7Param
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	out := flag.String("out", "", "Go file to write")
	var hl7, trim multiFlag
	flag.Var(&hl7, "hl7", "version=trimmed-hl7.json (repeatable)")
	flag.Var(&trim, "trim", "version=full-hl7-search-parameters.json: write the trimmed subset instead of Go")
	trimOut := flag.String("trim-out", "", "file the -trim subset is written to")
	trimTypes := flag.String("trim-types", "", "with -trim: comma-separated resource types whose every definition is kept")
	flag.Parse()
	if flag.NArg() == 0 || (*out == "" && len(trim) == 0) {
		fmt.Fprintln(os.Stderr, "usage: searchgen -out FILE -hl7 version=file ... family:version=spec.yaml ...")
		os.Exit(2)
	}
	if err := run(*out, hl7, trim, *trimOut, *trimTypes, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "searchgen:", err)
		os.Exit(1)
	}
}

func run(out string, hl7, trim []string, trimOut, trimTypes string, args []string) error {
	var rows []row
	for _, arg := range args {
		fv, file, ok := strings.Cut(arg, "=")
		family, version, ok2 := strings.Cut(fv, ":")
		if !ok || !ok2 || families[family] == "" {
			return fmt.Errorf("argument %q: want family:version=spec.yaml", arg)
		}
		got, err := read(family, version, file)
		if err != nil {
			return err
		}
		rows = append(rows, got...)
	}
	if len(trim) > 0 {
		return writeTrimmed(trim, trimOut, trimTypes, rows)
	}
	defs := map[string][]hl7Param{}
	for _, h := range hl7 {
		version, file, ok := strings.Cut(h, "=")
		if !ok {
			return fmt.Errorf("-hl7 %q: want version=file", h)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		var ps []hl7Param
		if err := json.Unmarshal(b, &ps); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		defs[version] = ps
	}
	for i := range rows {
		rows[i].hl7 = match(defs[rows[i].version], rows[i].resource, baseCode(rows[i].name))
	}
	src, err := render(rows)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, src) {
		return nil
	}
	return os.WriteFile(out, src, 0o644)
}

func baseCode(name string) string {
	code, _, _ := strings.Cut(name, ":")
	return code
}

// match finds HL7's definition of code on resource; a generic route
// ("{resourceType}") only matches parameters defined on every resource.
func match(defs []hl7Param, resource, code string) *hl7Param {
	for i, d := range defs {
		if d.Code != code {
			continue
		}
		if slices.Contains(d.Base, "Resource") || (resource != "" && slices.Contains(d.Base, resource)) ||
			(resource != "" && slices.Contains(d.Base, "DomainResource")) {
			return &defs[i]
		}
	}
	return nil
}

func read(family, version, file string) ([]row, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	doc, err := specdoc.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var rows []row
	for _, path := range doc.Paths() {
		for _, op := range doc.Item(path).Operations() {
			for _, p := range doc.Params(path, op) {
				if p.FHIRSearch == nil || p.In != "query" {
					continue
				}
				x, err := decodeXSearch(p.FHIRSearch)
				if err != nil {
					return nil, fmt.Errorf("%s %s %s: x-fhir-search: %w", file, op.OperationID, p.Name, err)
				}
				if kinds[x.Type] == "" {
					return nil, fmt.Errorf("%s %s %s: unknown x-fhir-search type %q", file, op.OperationID, p.Name, x.Type)
				}
				r := row{family: family, version: version, op: op.OperationID, resource: resourceOf(path), name: p.Name, x: x}
				if s := p.Schema; s != nil {
					if s.Items != nil {
						s = s.Items
					}
					for _, v := range s.Enum {
						r.enum = append(r.enum, fmt.Sprint(v))
					}
				}
				rows = append(rows, r)
			}
		}
	}
	return rows, nil
}

// decodeXSearch reads the extension, as decoded YAML, into its typed form.
func decodeXSearch(ext map[string]any) (xSearch, error) {
	var x xSearch
	b, err := json.Marshal(ext)
	if err == nil {
		err = json.Unmarshal(b, &x)
	}
	return x, err
}

// resourceOf is the resource type a route searches, "" for a generic route.
func resourceOf(path string) string {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if first == "" || strings.HasPrefix(first, "{") || strings.HasPrefix(first, "$") {
		return ""
	}
	return first
}

func writeTrimmed(trim []string, out, types string, rows []row) error {
	if len(trim) != 1 || out == "" {
		return fmt.Errorf("-trim takes one version=file and needs -trim-out")
	}
	version, file, ok := strings.Cut(trim[0], "=")
	if !ok {
		return fmt.Errorf("-trim %q: want version=file", trim[0])
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var bundle struct {
		Entry []struct {
			Resource hl7Param `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	all := make([]hl7Param, 0, len(bundle.Entry))
	for _, e := range bundle.Entry {
		all = append(all, e.Resource)
	}
	seen := map[string]bool{}
	var keep []hl7Param
	if old, err := os.ReadFile(out); err == nil {
		var prev []hl7Param
		if err := json.Unmarshal(old, &prev); err != nil {
			return fmt.Errorf("%s: %w", out, err)
		}
		for _, p := range prev {
			seen[p.ID] = true
			keep = append(keep, p)
		}
	}
	if types != "" {
		want := strings.Split(types, ",")
		for _, d := range all {
			if !seen[d.ID] && slices.ContainsFunc(d.Base, func(b string) bool { return slices.Contains(want, b) }) {
				seen[d.ID] = true
				keep = append(keep, d)
			}
		}
	}
	for _, r := range rows {
		if r.version != version {
			continue
		}
		if m := match(all, r.resource, baseCode(r.name)); m != nil && !seen[m.ID] {
			seen[m.ID] = true
			keep = append(keep, *m)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].ID < keep[j].ID })
	js, err := json.MarshalIndent(keep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(js, '\n'), 0o644)
}

func render(rows []row) ([]byte, error) {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.family != b.family {
			return a.family < b.family
		}
		if a.op != b.op {
			return a.op < b.op
		}
		return a.name < b.name
	})
	var w bytes.Buffer
	w.WriteString("// Code generated by internal/cmd/searchgen from the x-fhir-search extensions in api/openapi and HL7's SearchParameter definitions. DO NOT EDIT.\n\n")
	w.WriteString("package search\n\nimport \"github.com/pkbgo/pkb/gen/access\"\n\n")
	w.WriteString("// specs lists every search parameter every family's documents declare, sorted by family, operation and name.\n")
	w.WriteString("var specs = []ParamSpec{\n")
	for _, r := range rows {
		fmt.Fprintf(&w, "\t{Family: %s, Operation: %q, Resource: %q, Name: %q, Kind: %s, Requirement: %q, AND: %t",
			families[r.family], r.op, r.resource, r.name, kinds[r.x.Type], r.x.Required, r.x.Multiple == "AND")
		if len(r.x.Modifiers) > 0 {
			fmt.Fprintf(&w, ", Modifiers: %s", strs(r.x.Modifiers))
		}
		if len(r.x.Prefixes) > 0 {
			ps := make([]string, len(r.x.Prefixes))
			for i, p := range r.x.Prefixes {
				ps[i] = "Prefix" + strings.ToUpper(p[:1]) + p[1:]
			}
			fmt.Fprintf(&w, ", Prefixes: []Prefix{%s}", strings.Join(ps, ", "))
		}
		if len(r.x.SupportedValues) > 0 {
			fmt.Fprintf(&w, ", SupportedSystems: %s", strs(r.x.SupportedValues))
		}
		if len(r.enum) > 0 {
			fmt.Fprintf(&w, ", Enum: %s", strs(r.enum))
		}
		def := r.x.Definition
		if r.hl7 != nil {
			if def == "" {
				def = r.hl7.URL
			}
			fmt.Fprintf(&w, ", HL7Kind: %s", kinds[r.hl7.Type])
			if len(r.hl7.Target) > 0 {
				t := slices.Clone(r.hl7.Target)
				slices.Sort(t)
				fmt.Fprintf(&w, ", Targets: %s", strs(t))
			}
		}
		if def != "" {
			fmt.Fprintf(&w, ", Definition: %q", def)
		}
		w.WriteString("},\n")
	}
	w.WriteString("}\n")
	return format.Source(w.Bytes())
}

func strs(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[]string{" + strings.Join(q, ", ") + "}"
}
