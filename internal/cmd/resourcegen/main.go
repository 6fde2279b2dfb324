// Command resourcegen writes resource.gen.go beside a generated FHIR model
// package: the package's release marker (type Version), the Resource
// interface, and on every resource model T (the members of the model
// document's ResourceList union) the methods FHIRType, FHIRVersion,
// DeclaredType, StampType and Identity that the typed layer builds on.
//
//	go run ./internal/cmd/resourcegen -doc api/openapi/fhir-stu3.json \
//		-models gen/fhir/stu3/fhir.gen.go -out gen/fhir/stu3/resource.gen.go
//
// The resource list comes from the document; the field shapes (resourceType,
// id, meta.versionId) are read from the Go models oapi-codegen generated from
// it, so the methods compile against what is there. A model whose shape the
// generator does not know is an error naming the type, never a guess.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

func main() {
	doc := flag.String("doc", "", "FHIR model OpenAPI document (fhir-*.json) holding ResourceList")
	models := flag.String("models", "", "Go file oapi-codegen generated from -doc")
	out := flag.String("out", "", "Go file to write, in the package of -models")
	flag.Parse()
	if *doc == "" || *models == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: resourcegen -doc fhir-VERSION.json -models fhir.gen.go -out resource.gen.go")
		os.Exit(2)
	}
	if err := run(*doc, *models, *out); err != nil {
		fmt.Fprintln(os.Stderr, "resourcegen:", err)
		os.Exit(1)
	}
}

func run(docPath, modelsPath, out string) error {
	rawDoc, err := os.ReadFile(docPath)
	if err != nil {
		return err
	}
	version, names, err := resourceList(rawDoc)
	if err != nil {
		return fmt.Errorf("%s: %w", docPath, err)
	}
	rawModels, err := os.ReadFile(modelsPath)
	if err != nil {
		return err
	}
	src, err := generate(rawModels, version, names, filepath.ToSlash(docPath), filepath.ToSlash(modelsPath))
	if err != nil {
		return fmt.Errorf("%s: %w", modelsPath, err)
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, src) {
		return nil
	}
	return os.WriteFile(out, src, 0o644)
}

// resourceList returns the document's info.version and the names of the
// ResourceList members, sorted, checked against the discriminator mapping.
func resourceList(raw []byte) (string, []string, error) {
	var doc struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
		Components struct {
			Schemas struct {
				ResourceList *struct {
					OneOf []struct {
						Ref string `json:"$ref"`
					} `json:"oneOf"`
					Discriminator struct {
						PropertyName string            `json:"propertyName"`
						Mapping      map[string]string `json:"mapping"`
					} `json:"discriminator"`
				} `json:"ResourceList"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", nil, fmt.Errorf("not a JSON OpenAPI document: %w", err)
	}
	rl := doc.Components.Schemas.ResourceList
	switch {
	case doc.Info.Version == "":
		return "", nil, errors.New("no info.version (the FHIR version)")
	case rl == nil || len(rl.OneOf) == 0:
		return "", nil, errors.New("no components.schemas.ResourceList union (oneOf)")
	case rl.Discriminator.PropertyName != "resourceType":
		return "", nil, fmt.Errorf("ResourceList discriminator is %q, want resourceType", rl.Discriminator.PropertyName)
	}
	var names []string
	for _, m := range rl.OneOf {
		name, ok := strings.CutPrefix(m.Ref, "#/components/schemas/")
		if !ok || !token.IsIdentifier(name) || !token.IsExported(name) {
			return "", nil, fmt.Errorf("ResourceList member %q is not a local schema with an exported Go name", m.Ref)
		}
		if rl.Discriminator.Mapping[name] != m.Ref {
			return "", nil, fmt.Errorf("ResourceList discriminator maps %q to %q, want %q", name, rl.Discriminator.Mapping[name], m.Ref)
		}
		names = append(names, name)
	}
	if len(rl.Discriminator.Mapping) != len(names) {
		return "", nil, fmt.Errorf("ResourceList discriminator maps %d types, oneOf lists %d", len(rl.Discriminator.Mapping), len(names))
	}
	slices.Sort(names)
	return doc.Info.Version, names, nil
}

// resource is what the template needs to know about one model.
type resource struct {
	Name string
	// TypeConst is the enum constant whose value is Name, e.g. PatientResourceTypePatient.
	TypeConst string
	// IDPtr, MetaPtr, VersionIDPtr say whether Id, Meta and Meta.VersionId are pointers.
	IDPtr, MetaPtr, VersionIDPtr bool
}

// IdentityBody is the body of Identity after the nil check, for the shape of r's fields.
func (r resource) IdentityBody() string {
	var b strings.Builder
	if r.IDPtr {
		b.WriteString("if r.Id != nil {\nid = *r.Id\n}\n")
	} else {
		b.WriteString("id = r.Id\n")
	}
	var conds []string
	if r.MetaPtr {
		conds = append(conds, "r.Meta != nil")
	}
	val := "r.Meta.VersionId"
	if r.VersionIDPtr {
		conds, val = append(conds, "r.Meta.VersionId != nil"), "*r.Meta.VersionId"
	}
	if len(conds) > 0 {
		fmt.Fprintf(&b, "if %s {\nversionID = %s\n}\n", strings.Join(conds, " && "), val)
	} else {
		fmt.Fprintf(&b, "versionID = %s\n", val)
	}
	b.WriteString("return id, versionID")
	return b.String()
}

// generated names the declarations resourcegen adds, which the models must not already hold.
var (
	packageNames = []string{"Version", "Resource"}
	methodNames  = []string{"FHIRType", "FHIRVersion", "DeclaredType", "StampType", "Identity"}
)

// models indexes the declarations of a generated model file.
type models struct {
	pkg     string
	structs map[string]*ast.StructType
	named   map[string]ast.Expr          // type name -> underlying type expression
	consts  map[string]map[string]string // type name -> value -> constant name
	methods map[string]map[string]bool   // receiver type name -> method names
}

func index(src []byte) (*models, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	m := &models{pkg: f.Name.Name, structs: map[string]*ast.StructType{}, named: map[string]ast.Expr{},
		consts: map[string]map[string]string{}, methods: map[string]map[string]bool{}}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil || len(d.Recv.List) != 1 {
				m.methods[""] = addName(m.methods[""], d.Name.Name)
				continue
			}
			recv := d.Recv.List[0].Type
			if s, ok := recv.(*ast.StarExpr); ok {
				recv = s.X
			}
			if id, ok := recv.(*ast.Ident); ok {
				m.methods[id.Name] = addName(m.methods[id.Name], d.Name.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					m.named[s.Name.Name] = s.Type
					if st, ok := s.Type.(*ast.StructType); ok {
						m.structs[s.Name.Name] = st
					}
				case *ast.ValueSpec:
					if d.Tok != token.CONST || s.Type == nil || len(s.Names) != len(s.Values) {
						continue
					}
					typ, ok := s.Type.(*ast.Ident)
					if !ok {
						continue
					}
					for i, v := range s.Values {
						lit, ok := v.(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						val, err := strconv.Unquote(lit.Value)
						if err != nil {
							return nil, err
						}
						if m.consts[typ.Name] == nil {
							m.consts[typ.Name] = map[string]string{}
						}
						m.consts[typ.Name][val] = s.Names[i].Name
					}
				}
			}
		}
	}
	return m, nil
}

func addName(set map[string]bool, name string) map[string]bool {
	if set == nil {
		set = map[string]bool{}
	}
	set[name] = true
	return set
}

// field returns the type expression of the struct's field name, or nil.
func field(st *ast.StructType, name string) ast.Expr {
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			if n.Name == name {
				return f.Type
			}
		}
	}
	return nil
}

// ident reports whether e is the identifier name, or a pointer to it (ptr).
func ident(e ast.Expr, name string) (ok, ptr bool) {
	if s, isPtr := e.(*ast.StarExpr); isPtr {
		e, ptr = s.X, true
	}
	id, isID := e.(*ast.Ident)
	return isID && id.Name == name, ptr
}

// shape checks that the model name has the fields the methods use.
func (m *models) shape(name string) (resource, error) {
	r := resource{Name: name}
	st := m.structs[name]
	if st == nil {
		return r, errors.New("no struct type of that name")
	}
	for _, meth := range methodNames {
		if field(st, meth) != nil || m.methods[name][meth] {
			return r, fmt.Errorf("already has a field or method %s", meth)
		}
	}
	rt := field(st, "ResourceType")
	if rt == nil {
		return r, errors.New("no ResourceType field")
	}
	rtID, ok := rt.(*ast.Ident)
	if !ok {
		return r, fmt.Errorf("ResourceType is %T, want a named string type", rt)
	}
	if u, ok := m.named[rtID.Name].(*ast.Ident); !ok || u.Name != "string" {
		return r, fmt.Errorf("ResourceType's type %s is not a string type declared in the package", rtID.Name)
	}
	if r.TypeConst = m.consts[rtID.Name][name]; r.TypeConst == "" {
		return r, fmt.Errorf("no constant of type %s with value %q", rtID.Name, name)
	}
	var isString, isMeta, isVersion bool
	if isString, r.IDPtr = ident(field(st, "Id"), "string"); !isString {
		return r, errors.New("Id is not a string or *string field")
	}
	if isMeta, r.MetaPtr = ident(field(st, "Meta"), "Meta"); !isMeta {
		return r, errors.New("Meta is not a Meta or *Meta field")
	}
	meta := m.structs["Meta"]
	if meta == nil {
		return r, errors.New("the package has no Meta struct")
	}
	if isVersion, r.VersionIDPtr = ident(field(meta, "VersionId"), "string"); !isVersion {
		return r, errors.New("Meta.VersionId is not a string or *string field")
	}
	return r, nil
}

func generate(src []byte, version string, names []string, docPath, modelsPath string) ([]byte, error) {
	m, err := index(src)
	if err != nil {
		return nil, err
	}
	for _, n := range packageNames {
		if _, taken := m.named[n]; taken || m.methods[""][n] {
			return nil, fmt.Errorf("package %s already declares %s", m.pkg, n)
		}
	}
	var rs []resource
	for _, n := range names {
		r, err := m.shape(n)
		if err != nil {
			return nil, fmt.Errorf("resource model %s: %w", n, err)
		}
		rs = append(rs, r)
	}
	var b bytes.Buffer
	err = tmpl.Execute(&b, map[string]any{
		"Doc": docPath, "Models": modelsPath, "Package": m.pkg,
		"Release": strings.ToUpper(m.pkg), "Version": version, "Resources": rs,
	})
	if err != nil {
		return nil, err
	}
	return format.Source(b.Bytes())
}

var tmpl = template.Must(template.New("").Parse(`// Code generated by internal/cmd/resourcegen from {{.Doc}} (ResourceList) and {{.Models}}. DO NOT EDIT.

package {{.Package}}

// Version marks FHIR {{.Release}} ({{.Version}}), the release of this package's
// models. It holds nothing: as a type parameter it lets the compiler refuse
// a resource of one release where a client of another is given.
type Version struct{}

// Resource is implemented by every resource model of this package, the
// members of ResourceList.
type Resource interface {
	// FHIRType returns the resource type name, e.g. "Patient".
	FHIRType() string
	// FHIRVersion returns the release marker.
	FHIRVersion() Version
}
{{range .Resources}}
// FHIRType returns "{{.Name}}".
func ({{.Name}}) FHIRType() string { return "{{.Name}}" }

// FHIRVersion returns the {{$.Release}} release marker.
func ({{.Name}}) FHIRVersion() Version { return Version{} }

// DeclaredType returns the value of r's resourceType field ("" for a nil r),
// which a decoded body may set to anything.
func (r *{{.Name}}) DeclaredType() string {
	if r == nil {
		return ""
	}
	return string(r.ResourceType)
}

// StampType sets r's resourceType field to "{{.Name}}".
func (r *{{.Name}}) StampType() { r.ResourceType = {{.TypeConst}} }

// Identity returns r's logical id and meta.versionId, "" where unset.
func (r *{{.Name}}) Identity() (id, versionID string) {
	if r == nil {
		return "", ""
	}
	{{.IdentityBody}}
}
{{end}}`))
