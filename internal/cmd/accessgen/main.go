// Command accessgen reads the endpoint-family OpenAPI documents and writes
// gen/access: the family table (each document's x-pkb-family block) and the
// operation table (each operation's x-pkb-access grants and its FHIR
// interaction), so the tables can never drift from the specs.
//
//	go run ./internal/cmd/accessgen -out gen/access/access.gen.go api/openapi/facade.yaml ...
//
// The family constants follow the order of the arguments.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/pkbgo/pkb/internal/specdoc"
)

// grants is the closed set of x-pkb-access values (api/openapi/CONVENTIONS.md).
var grants = []string{"public", "system", "customer", "user:PATIENT", "user:CLINICIAN", "user:TEAMCOORD", "tethered:SITE"}

// clientTypes are the client types a grant can name, in table order; "public" names none.
var clientTypes = []string{"system", "customer", "user", "tethered"}

// The closed sets of the x-pkb-family block (api/openapi/CONVENTIONS.md).
var (
	fhirVersions = []string{"stu3", "r4"}
	envFields    = []string{"FacadeURL", "MessagingURL", "CustomerURLTemplate", "AggregatedURL", "RESTURL"}
	mediaTypes   = map[string]string{"stu3": "application/fhir+json", "r4": "application/fhir+json", "": "application/json"}
)

// The FHIR interactions an operation can have. FHIR's own codes, except
// batch-transaction: POST [base] serves both the batch and the transaction
// interaction, and the posted Bundle's type decides which.
const (
	read             = "read"
	vread            = "vread"
	update           = "update"
	patch            = "patch"
	del              = "delete"
	historyInstance  = "history-instance"
	historyType      = "history-type"
	historySystem    = "history-system"
	create           = "create"
	searchType       = "search-type"
	searchSystem     = "search-system"
	batchTransaction = "batch-transaction"
	capabilities     = "capabilities"
	operationCall    = "operation"
)

// interactions lists them in the order the generated constants appear.
var interactions = []string{read, vread, update, patch, del, historyInstance, historyType, historySystem,
	create, searchType, searchSystem, batchTransaction, capabilities, operationCall}

type family struct {
	specdoc.Family
	title       string
	clientTypes []string
}

type operation struct {
	family, id, method, path string
	grants                   []string
	readOnly                 bool
	requiredQuery            []string
	interaction, resource    string
}

func main() {
	out := flag.String("out", "", "Go file to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: accessgen -out FILE spec.yaml ...")
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "accessgen:", err)
		os.Exit(1)
	}
}

func run(out string, files []string) error {
	var ops []operation
	var families []family
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		f, got, err := parse(file, raw)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(families, func(g family) bool { return g.ID == f.ID }) {
			return fmt.Errorf("%s: x-pkb-family id %q is already used by another document", file, f.ID)
		}
		families = append(families, f)
		ops = append(ops, got...)
	}
	src, err := render(families, ops)
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

// parse reads one family document into its family row and operations.
func parse(file string, raw []byte) (family, []operation, error) {
	doc, err := specdoc.Parse(raw)
	if err != nil {
		return family{}, nil, fmt.Errorf("%s: %w", file, err)
	}
	block := doc.Info.Family
	if block == nil {
		return family{}, nil, fmt.Errorf("%s: info has no x-pkb-family block (api/openapi/CONVENTIONS.md)", file)
	}
	if err := checkFamily(block); err != nil {
		return family{}, nil, fmt.Errorf("%s: info.x-pkb-family: %w", file, err)
	}
	f := family{Family: *block, title: doc.Info.Title}
	var ops []operation
	for _, path := range doc.Paths() {
		for m, op := range doc.Item(path).Operations() {
			where := fmt.Sprintf("%s: %s %s", file, m, path)
			if op.OperationID == "" {
				return family{}, nil, fmt.Errorf("%s: no operationId", where)
			}
			if len(op.Access) == 0 {
				return family{}, nil, fmt.Errorf("%s: no x-pkb-access; every operation must say who may call it", where)
			}
			for _, g := range op.Access {
				if !slices.Contains(grants, g) {
					return family{}, nil, fmt.Errorf("%s: x-pkb-access value %q is not one of %v", where, g, grants)
				}
				if ct, _, _ := strings.Cut(g, ":"); slices.Contains(clientTypes, ct) && !slices.Contains(f.clientTypes, ct) {
					f.clientTypes = append(f.clientTypes, ct)
				}
			}
			o := operation{family: f.ID, id: op.OperationID, method: m, path: path, grants: op.Access, readOnly: op.ReadOnly}
			for _, p := range doc.Params(path, op) {
				if p != nil && p.In == "query" && p.Required {
					o.requiredQuery = append(o.requiredQuery, p.Name)
				}
			}
			slices.Sort(o.requiredQuery)
			switch {
			case f.FHIRVersion == "" && op.FHIRInteraction != "":
				return family{}, nil, fmt.Errorf("%s: x-fhir-interaction %q in a family that is not FHIR", where, op.FHIRInteraction)
			case f.FHIRVersion != "":
				o.interaction, o.resource, err = classify(m, path, op.FHIRInteraction)
				if err != nil {
					return family{}, nil, fmt.Errorf("%s: %w", where, err)
				}
			}
			ops = append(ops, o)
		}
	}
	slices.SortFunc(f.clientTypes, func(a, b string) int {
		return slices.Index(clientTypes, a) - slices.Index(clientTypes, b)
	})
	return f, ops, nil
}

var (
	reFamilyID  = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	reGoPackage = regexp.MustCompile(`^github\.com/pkbgo/pkb/gen(/[a-z][a-z0-9]*)+$`)
)

func checkFamily(f *specdoc.Family) error {
	switch {
	case !reFamilyID.MatchString(f.ID):
		return fmt.Errorf("id %q: want lower-case words joined by '-', e.g. customer-stu3", f.ID)
	case f.FHIRVersion != "" && !slices.Contains(fhirVersions, f.FHIRVersion):
		return fmt.Errorf("fhirVersion %q: want one of %v, or no fhirVersion for a family that is not FHIR", f.FHIRVersion, fhirVersions)
	case f.MediaType != mediaTypes[f.FHIRVersion]:
		return fmt.Errorf("mediaType %q: want %q for fhirVersion %q", f.MediaType, mediaTypes[f.FHIRVersion], f.FHIRVersion)
	case !slices.Contains(envFields, f.EnvField):
		return fmt.Errorf("envField %q: want one of %v", f.EnvField, envFields)
	case !reGoPackage.MatchString(f.GoPackage):
		return fmt.Errorf("goPackage %q: want the import path of a package under github.com/pkbgo/pkb/gen", f.GoPackage)
	}
	return nil
}

var (
	reResourceType = regexp.MustCompile(`^[A-Z][A-Za-z]*$`)
	reTemplate     = regexp.MustCompile(`^\{[A-Za-z_][A-Za-z0-9_]*\}$`)
)

// generic is the first path segment of an operation that serves every resource type.
const generic = "{resourceType}"

// shapes maps "METHOD shape" to the FHIR interaction (FHIR RESTful API,
// the interaction URLs). In a shape, T is the resource type segment (a type
// name or {resourceType}), {} a path parameter and $op a named operation.
var shapes = map[string]string{
	"POST /":                batchTransaction,
	"GET /":                 searchSystem,
	"POST /_search":         searchSystem,
	"GET /_history":         historySystem,
	"GET /metadata":         capabilities,
	"GET /$op":              operationCall,
	"POST /$op":             operationCall,
	"GET /T":                searchType,
	"POST /T/_search":       searchType,
	"POST /T":               create,
	"GET /T/_history":       historyType,
	"GET /T/$op":            operationCall,
	"POST /T/$op":           operationCall,
	"GET /T/{}":             read,
	"PUT /T/{}":             update,
	"PATCH /T/{}":           patch,
	"DELETE /T/{}":          del,
	"GET /T/{}/_history":    historyInstance,
	"GET /T/{}/_history/{}": vread,
	"GET /T/{}/$op":         operationCall,
	"POST /T/{}/$op":        operationCall,
}

// classify returns the FHIR interaction and resource type of an operation
// of a FHIR family. override, the operation's x-fhir-interaction, replaces
// the interaction derived from method and path; the resource type is the
// path's first segment when that names a type, "" for a whole-system
// operation and for a generic {resourceType} path.
func classify(method, path, override string) (interaction, resource string, err error) {
	if override != "" && !slices.Contains(interactions, override) {
		return "", "", fmt.Errorf("x-fhir-interaction %q is not one of %v", override, interactions)
	}
	var segs []string
	if path != "/" {
		segs = strings.Split(strings.TrimPrefix(path, "/"), "/")
	}
	shape := make([]string, len(segs))
	for i, s := range segs {
		switch {
		case i == 0 && s == generic:
			shape[i] = "T"
		case i == 0 && reTemplate.MatchString(s):
			return "", "", fmt.Errorf("a generic type segment must be spelled %s, not %s", generic, s)
		case i == 0 && reResourceType.MatchString(s):
			shape[i], resource = "T", s
		case reTemplate.MatchString(s):
			shape[i] = "{}"
		case strings.HasPrefix(s, "$") && len(s) > 1:
			shape[i] = "$op"
		default:
			shape[i] = s
		}
	}
	if override != "" {
		return override, resource, nil
	}
	interaction, ok := shapes[method+" /"+strings.Join(shape, "/")]
	if !ok {
		return "", "", errors.New("cannot tell which FHIR interaction this is from its method and path; " +
			"say it with x-fhir-interaction (api/openapi/CONVENTIONS.md)")
	}
	return interaction, resource, nil
}

func render(families []family, ops []operation) ([]byte, error) {
	slices.SortFunc(ops, func(a, b operation) int {
		return strings.Compare(a.family+" "+a.path+" "+a.method, b.family+" "+b.path+" "+b.method)
	})
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/cmd/accessgen from api/openapi (x-pkb-family, x-pkb-access, x-fhir-interaction). DO NOT EDIT.\n\n")
	b.WriteString(`// Package access holds two read-only tables taken from the OpenAPI documents:
// the endpoint families (Families) and, for every operation, who may call it
// and which FHIR interaction it is (Operations, Lookup, Find). The wrappers
// enforce the grants before any network I/O. Every function returns copies,
// so no caller can change what another one sees.
package access

import (
	"slices"
	"strings"
)

// Family names a PKB endpoint family, one per OpenAPI document.
type Family string

`)
	b.WriteString("// The endpoint families.\nconst (\n")
	for _, f := range families {
		fmt.Fprintf(&b, "\tFamily%s Family = %q\n", goName(f.ID), f.ID)
	}
	b.WriteString(")\n\n")
	b.WriteString(`// FamilyInfo describes one endpoint family, from its document's info.x-pkb-family block.
type FamilyInfo struct {
	// ID names the family.
	ID Family
	// Title is the document's info.title.
	Title string
	// FHIRVersion is "stu3" or "r4"; "" for the REST API, which is not FHIR.
	FHIRVersion string
	// MediaType is the media type of every request and response body, except
	// the form of a search by POST (application/x-www-form-urlencoded).
	MediaType string
	// EnvField names the authn.Environment field that holds the family's base
	// URL ("CustomerURLTemplate" for both Customer families).
	EnvField string
	// GoPackage is the import path of the generated client package.
	GoPackage string
	// ClientTypes lists the client types that some operation of the family
	// grants (system, customer, user, tethered), derived from the grants.
	ClientTypes []string
}

// The FHIR interactions of Operation.Interaction: FHIR's codes, except
// InteractionBatchTransaction.
const (
`)
	for _, in := range interactions {
		comment := ""
		switch in {
		case batchTransaction:
			comment = " // POST [base]: a batch or a transaction, as the posted Bundle's type says"
		case operationCall:
			comment = " // a named operation ($name) on the system, a type or an instance"
		}
		fmt.Fprintf(&b, "\tInteraction%s = %q%s\n", goName(in), in, comment)
	}
	b.WriteString(`)

// Operation is one operation of one family.
type Operation struct {
	// Family is the endpoint family whose document declares the operation.
	Family Family
	// ID is the operationId; the generated client method has the same name, capitalised.
	ID string
	// Method is the HTTP method, upper case.
	Method string
	// Path is the route template, relative to the family's base URL.
	Path string
	// Grants lists who may call it: public, system, customer, user:<SCOPE> or tethered:SITE.
	Grants []string
	// ReadOnly marks a POST that changes nothing on the server and may be retried.
	ReadOnly bool
	// RequiredQuery names the query parameters the document marks required:
	// a request without a non-blank value for each is refused before any I/O
	// (the generated client sends a required parameter even when it is empty).
	RequiredQuery []string
	// Interaction is the FHIR interaction (one of the Interaction constants),
	// derived from the method and path or set by x-fhir-interaction; "" in
	// the REST API.
	Interaction string
	// ResourceType is the resource type the path names ("Patient" for
	// /Patient/{id}); "" for a whole-system operation and for a generic
	// /{resourceType} path, which serves every type.
	ResourceType string
}

`)
	b.WriteString("// families is the family table, sorted by ID.\nvar families = [...]FamilyInfo{\n")
	sorted := slices.Clone(families)
	slices.SortFunc(sorted, func(a, b family) int { return strings.Compare(a.ID, b.ID) })
	for _, f := range sorted {
		fmt.Fprintf(&b, "\t{ID: Family%s, Title: %q, FHIRVersion: %q, MediaType: %q, EnvField: %q, GoPackage: %q, ClientTypes: %#v},\n",
			goName(f.ID), f.title, f.FHIRVersion, f.MediaType, f.EnvField, f.GoPackage, nonNil(f.clientTypes))
	}
	b.WriteString("}\n\n")
	b.WriteString("// operations is the operation table, sorted by family, path and method.\nvar operations = [...]Operation{\n")
	for _, o := range ops {
		fmt.Fprintf(&b, "\t{Family: Family%s, ID: %q, Method: %q, Path: %q, Grants: %#v, ReadOnly: %t, Interaction: %q, ResourceType: %q",
			goName(o.family), o.id, o.method, o.path, o.grants, o.readOnly, o.interaction, o.resource)
		if len(o.requiredQuery) > 0 {
			fmt.Fprintf(&b, ", RequiredQuery: %#v", o.requiredQuery)
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	b.WriteString(accessors)
	return format.Source(b.Bytes())
}

// accessors is the fixed part of the generated file: the only ways to read the tables.
const accessors = `
// Families returns the family table, sorted by ID. The slice and its rows are
// fresh copies.
func Families() []FamilyInfo {
	out := make([]FamilyInfo, len(families))
	for i, f := range families {
		out[i] = f.clone()
	}
	return out
}

// FamilyByID returns the family with that ID.
func FamilyByID(id Family) (FamilyInfo, bool) {
	for _, f := range families {
		if f.ID == id {
			return f.clone(), true
		}
	}
	return FamilyInfo{}, false
}

// Operations returns every operation of every family, sorted by family, path
// and method. The slice and its rows are fresh copies.
func Operations() []Operation {
	out := make([]Operation, len(operations))
	for i, o := range operations {
		out[i] = o.clone()
	}
	return out
}

// Lookup returns the operation of family f with that operationId.
func Lookup(f Family, operationID string) (Operation, bool) {
	i, ok := byID[idKey{f, operationID}]
	if !ok {
		return Operation{}, false
	}
	return operations[i].clone(), true
}

// Find returns the operation of family f that performs interaction on
// resourceType: the operation whose path names that type if there is one,
// else the family's generic /{resourceType} operation. An empty resourceType
// finds a whole-system operation (capabilities, batch-transaction). Where
// several operations match (a GET and a POST _search, or several named
// operations on one type), Find returns the first in table order; use Lookup
// to name one.
func Find(f Family, interaction, resourceType string) (Operation, bool) {
	i, ok := byInteraction[interactionKey{f, interaction, resourceType}]
	if !ok && resourceType != "" {
		i, ok = byInteraction[interactionKey{f, interaction, genericType}]
	}
	if !ok {
		return Operation{}, false
	}
	return operations[i].clone(), true
}

// genericType keys the operations whose path starts with /{resourceType}.
const genericType = "{resourceType}"

type idKey struct {
	f  Family
	id string
}

type interactionKey struct {
	f                         Family
	interaction, resourceType string
}

// byID and byInteraction index operations; the first row of a key wins.
var byID, byInteraction = func() (map[idKey]int, map[interactionKey]int) {
	ids, ins := map[idKey]int{}, map[interactionKey]int{}
	for i, o := range operations {
		if _, dup := ids[idKey{o.Family, o.ID}]; !dup {
			ids[idKey{o.Family, o.ID}] = i
		}
		if o.Interaction == "" {
			continue
		}
		k := interactionKey{o.Family, o.Interaction, o.ResourceType}
		if strings.HasPrefix(o.Path+"/", "/"+genericType+"/") {
			k.resourceType = genericType
		}
		if _, dup := ins[k]; !dup {
			ins[k] = i
		}
	}
	return ids, ins
}()

func (f FamilyInfo) clone() FamilyInfo {
	f.ClientTypes = slices.Clone(f.ClientTypes)
	return f
}

func (o Operation) clone() Operation {
	o.Grants = slices.Clone(o.Grants)
	o.RequiredQuery = slices.Clone(o.RequiredQuery)
	return o
}
`

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// goName turns "customer-stu3" into "CustomerSTU3" and "history-instance" into "HistoryInstance".
func goName(s string) string {
	var out strings.Builder
	for part := range strings.SplitSeq(s, "-") {
		switch part {
		case "stu3", "r4":
			out.WriteString(strings.ToUpper(part))
		case "restapi":
			out.WriteString("RESTAPI")
		case "vread":
			out.WriteString("VRead")
		default:
			out.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return out.String()
}
