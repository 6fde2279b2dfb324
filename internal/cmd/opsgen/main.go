// Command opsgen writes wrappers/operations_gen.go: for every operation of
// every endpoint family a typed call on the family's handle (wrappers.Facade,
// wrappers.Messaging, ...), so that a new PKB operation gets its typed method
// by regeneration.
//
//	go run ./internal/cmd/opsgen -out wrappers/operations_gen.go api/openapi/facade.yaml ...
//
// What it reads, and why from there:
//   - the operation table gen/access (operationId, method, path, grants, FHIR
//     interaction and resource type), generated just before from the same
//     documents, so the typed layer and the checkpoint agree by construction;
//   - each family document (the arguments), for the operation's summary, and
//     to check that the document and the table list the same operations;
//   - the family's oapi-codegen output (gen/<family>), for the Go names of
//     the parameter structs, request builders, request bodies and 2xx
//     response models: the typed call takes and returns exactly the types
//     the generated client does, and encodes its query and header
//     parameters with the generated request builder.
//
// Operations on a generic /{resourceType} path become generic functions
// (CustomerR4Read[T], ...): Go methods cannot have type parameters, and the
// resource type must come from the Go type, never from a string.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"strconv"
	"strings"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/specdoc"
)

// module is the root module's path: GoPackage values are under it.
const module = "github.com/pkbgo/pkb"

// handles maps each family to its handle type in package wrappers and the
// prefix of its generic functions. A family missing here fails the run:
// its handle must be written (wrappers/clients.go) before it gets methods.
var handles = map[access.Family]string{
	access.FamilyFacade:       "Facade",
	access.FamilyMessaging:    "Messaging",
	access.FamilyCustomerSTU3: "CustomerSTU3",
	access.FamilyCustomerR4:   "CustomerR4",
	access.FamilyAggregated:   "Aggregated",
	access.FamilyRESTAPI:      "REST",
}

func main() {
	out := flag.String("out", "", "Go file to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: opsgen -out FILE spec.yaml ...")
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "opsgen:", err)
		os.Exit(1)
	}
}

func run(out string, docs []string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	summaries := map[string]string{} // family.operationId -> summary
	handwritten := map[string]bool{} // family.operationId, x-pkb-typed-call: handwritten
	seen := map[access.Family]bool{}
	for _, file := range docs {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		doc, err := specdoc.Parse(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if doc.Info.Family == nil {
			return fmt.Errorf("%s: info has no x-pkb-family block", file)
		}
		fam := access.Family(doc.Info.Family.ID)
		seen[fam] = true
		for _, path := range doc.Paths() {
			for _, op := range doc.Item(path).Operations() {
				summaries[string(fam)+"."+op.OperationID] = oneLine(op.Summary)
				switch op.TypedCall {
				case "":
				case "handwritten":
					handwritten[string(fam)+"."+op.OperationID] = true
				default:
					return fmt.Errorf("%s: %s: x-pkb-typed-call %q: want \"handwritten\" or nothing", file, op.OperationID, op.TypedCall)
				}
			}
		}
	}
	g := &generator{root: root, pkgs: map[string]*goPkg{}, imports: map[string]string{}, unions: map[string]*union{}}
	var methods []string
	n := 0
	for _, op := range access.Operations() {
		if !seen[op.Family] {
			continue
		}
		sum, ok := summaries[string(op.Family)+"."+op.ID]
		if !ok {
			return fmt.Errorf("%s.%s: in gen/access but not in the documents given (stale gen/access?)", op.Family, op.ID)
		}
		delete(summaries, string(op.Family)+"."+op.ID)
		if handwritten[string(op.Family)+"."+op.ID] {
			n++ // its typed call is in a handwritten file of package wrappers
			continue
		}
		src, err := g.operation(op, sum)
		if err != nil {
			return fmt.Errorf("%s.%s (%s %s): %w", op.Family, op.ID, op.Method, op.Path, err)
		}
		methods = append(methods, src)
		n++
	}
	if len(summaries) > 0 {
		left := slices.Sorted(mapKeys(summaries))
		return fmt.Errorf("operations in the documents but not in gen/access (run accessgen first): %s", strings.Join(left, ", "))
	}
	src, err := g.file(methods, n)
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

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// repoRoot is the directory of the root module's go.mod, found upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module "+module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the " + module + " module")
		}
		dir = parent
	}
}

// oneLine is a summary as a comment line: whitespace collapsed.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// goPkg is what opsgen knows of one generated package.
type goPkg struct {
	path, name, dir string
	funcs           map[string]*ast.FuncDecl
	types           map[string]*ast.TypeSpec
	methods         map[string][]*ast.FuncDecl // by receiver type name, in source order
	imports         map[string]string          // local name -> import path
	resources       map[string]bool            // models: types with a FHIRType method
}

type generator struct {
	root    string
	pkgs    map[string]*goPkg
	imports map[string]string // import path -> name used in the output
	unions  map[string]*union // by Go name
}

// union is a 2xx body that is one of several models, told apart by
// resourceType: it becomes a struct with one field per model.
type union struct {
	name    string
	models  *goPkg
	members []string
	doc     string
}

// load parses the non-test Go files of the package at path.
func (g *generator) load(path string) (*goPkg, error) {
	if p := g.pkgs[path]; p != nil {
		return p, nil
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return nil, fmt.Errorf("package %s is not in module %s", path, module)
	}
	p := &goPkg{path: path, dir: filepath.Join(g.root, filepath.FromSlash(rel)), funcs: map[string]*ast.FuncDecl{},
		types: map[string]*ast.TypeSpec{}, methods: map[string][]*ast.FuncDecl{}, imports: map[string]string{}, resources: map[string]bool{}}
	files, err := filepath.Glob(filepath.Join(p.dir, "*.go"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		p.name = f.Name.Name
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			name := filepath.Base(ip)
			if im.Name != nil {
				name = im.Name.Name
			}
			p.imports[name] = ip
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					p.funcs[d.Name.Name] = d
					continue
				}
				recv := d.Recv.List[0].Type
				if s, ok := recv.(*ast.StarExpr); ok {
					recv = s.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					p.methods[id.Name] = append(p.methods[id.Name], d)
					if d.Name.Name == "FHIRType" {
						p.resources[id.Name] = true
					}
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok {
						p.types[ts.Name.Name] = ts
					}
				}
			}
		}
	}
	if p.name == "" {
		return nil, fmt.Errorf("no Go files in %s", p.dir)
	}
	g.pkgs[path] = p
	return p, nil
}

// use records an import and returns the name to qualify it with.
func (g *generator) use(p *goPkg) string {
	g.imports[p.path] = p.name
	return p.name
}

// goType is a resolved Go type of a body.
type goType struct {
	pkg   *goPkg // the package that declares it
	name  string
	slice bool   // []pkg.name
	union *union // a oneOf of models
}

func (t goType) isModel(name string) bool {
	return t.pkg != nil && t.union == nil && !t.slice && t.name == name && t.pkg.resources[name]
}

// resolve follows aliases from expr, a type in package p, to the model,
// local struct or union it names.
func (g *generator) resolve(p *goPkg, expr ast.Expr, depth int) (goType, error) {
	if depth > 16 {
		return goType{}, errors.New("alias cycle")
	}
	switch e := expr.(type) {
	case *ast.StarExpr:
		return g.resolve(p, e.X, depth+1)
	case *ast.ArrayType:
		t, err := g.resolve(p, e.Elt, depth+1)
		if err != nil || t.slice || t.union != nil {
			return goType{}, fmt.Errorf("unsupported slice element type (%v)", err)
		}
		t.slice = true
		return t, nil
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return goType{}, errors.New("unsupported qualified type")
		}
		path, ok := p.imports[x.Name]
		if !ok {
			return goType{}, fmt.Errorf("unknown import %s", x.Name)
		}
		q, err := g.load(path)
		if err != nil {
			return goType{}, err
		}
		return g.resolve(q, ast.NewIdent(e.Sel.Name), depth+1)
	case *ast.Ident:
		ts, ok := p.types[e.Name]
		if !ok {
			return goType{}, fmt.Errorf("type %s not found in %s", e.Name, p.path)
		}
		if ts.Assign.IsValid() { // an alias
			return g.resolve(p, ts.Type, depth+1)
		}
		if p.resources[e.Name] || e.Name == "ResourceList" {
			// A model; ResourceList, FHIR's "any resource", is the generic
			// paths' T and never a two-way union.
			return goType{pkg: p, name: e.Name}, nil
		}
		if u, err := g.unionOf(p, e.Name); err != nil || u != nil {
			return goType{union: u}, err
		}
		return goType{pkg: p, name: e.Name}, nil
	}
	return goType{}, fmt.Errorf("unsupported type expression %T", expr)
}

// unionOf returns the union that type name of p is (an oapi-codegen oneOf
// struct: As<Member> methods returning models), or nil.
func (g *generator) unionOf(p *goPkg, name string) (*union, error) {
	var models *goPkg
	var members []string
	for _, m := range p.methods[name] {
		if !strings.HasPrefix(m.Name.Name, "As") || m.Type.Results == nil || len(m.Type.Results.List) != 2 {
			continue
		}
		t, err := g.resolve(p, m.Type.Results.List[0].Type, 1)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", name, m.Name.Name, err)
		}
		if t.pkg == nil || !t.pkg.resources[t.name] || t.slice {
			return nil, fmt.Errorf("union %s has a member %s that is not a FHIR model", name, m.Name.Name)
		}
		if models != nil && models != t.pkg {
			return nil, fmt.Errorf("union %s mixes model packages", name)
		}
		models = t.pkg
		members = append(members, t.name)
	}
	if len(members) == 0 {
		return nil, nil
	}
	if len(members) != 2 {
		return nil, fmt.Errorf("union %s has %d members; opsgen decodes unions of two (extend sendEither)", name, len(members))
	}
	// The same union exists in several families and releases: its Go name
	// says the release (ParametersOrOperationOutcomeSTU3).
	name += strings.ToUpper(models.name)
	if u := g.unions[name]; u != nil {
		if u.models != models || !slices.Equal(u.members, members) {
			return nil, fmt.Errorf("two different unions are named %s", name)
		}
		return u, nil
	}
	u := &union{name: name, models: models, members: members}
	g.unions[name] = u
	return u, nil
}

// builder is a generated request builder: New<Op>Request...
type builder struct {
	decl      *ast.FuncDecl
	pathTypes []ast.Expr // the path parameters' types, in order
	params    string     // the <Op>Params type name, or ""
	body      ast.Expr   // the typed body's type, or nil
	form      bool       // the typed body is a form
}

// builderOf reads the builder's signature: server, path parameters,
// params, then (typed builders) the body.
func builderOf(d *ast.FuncDecl, typed bool) (*builder, error) {
	b := &builder{decl: d}
	var args []*ast.Field
	for _, f := range d.Type.Params.List {
		for range max(len(f.Names), 1) {
			args = append(args, f)
		}
	}
	if len(args) == 0 {
		return nil, errors.New("builder without a server argument")
	}
	args = args[1:]
	// A family with one media type names its typed builder New<Op>Request.
	if last := len(d.Type.Params.List) - 1; !typed && last > 0 && len(d.Type.Params.List[last].Names) == 1 && d.Type.Params.List[last].Names[0].Name == "body" {
		typed = true
	}
	if typed {
		b.body = args[len(args)-1].Type
		b.form = strings.HasSuffix(d.Name.Name, "WithFormdataBody")
		args = args[:len(args)-1]
	}
	for _, a := range args {
		if s, ok := a.Type.(*ast.StarExpr); ok {
			if id, ok := s.X.(*ast.Ident); ok && strings.HasSuffix(id.Name, "Params") {
				b.params = id.Name
				continue
			}
		}
		if b.params != "" {
			return nil, errors.New("a path parameter after the params struct")
		}
		b.pathTypes = append(b.pathTypes, a.Type)
	}
	return b, nil
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// goName is a path parameter's name as a Go parameter: lower camel case,
// "Id" as "ID", never a keyword or a name the method uses.
func goName(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "-", "_"), ".", "_")
	if strings.HasSuffix(s, "Id") {
		s = strings.TrimSuffix(s, "Id") + "ID"
	}
	if token.IsKeyword(s) || slices.Contains([]string{"ctx", "opts", "params", "in", "call", "req", "err", "v", "f", "h", "body"}, s) {
		s += "Value"
	}
	return s
}

// operation renders the typed call of op.
func (g *generator) operation(op access.Operation, summary string) (string, error) {
	info, ok := access.FamilyByID(op.Family)
	if !ok {
		return "", errors.New("family not in the family table")
	}
	handle, ok := handles[op.Family]
	if !ok {
		return "", fmt.Errorf("family %s has no handle type in opsgen's table", op.Family)
	}
	p, err := g.load(info.GoPackage)
	if err != nil {
		return "", err
	}
	name := strings.ToUpper(op.ID[:1]) + op.ID[1:]
	// The builders: New<Name>Request (no body) or the typed-body one.
	var b *builder
	if d := p.funcs["New"+name+"Request"]; d != nil {
		b, err = builderOf(d, false)
	} else {
		var typed []string
		for fn := range p.funcs {
			if strings.HasPrefix(fn, "New"+name+"RequestWith") && strings.HasSuffix(fn, "Body") && fn != "New"+name+"RequestWithBody" {
				typed = append(typed, fn)
			}
		}
		if len(typed) != 1 {
			return "", fmt.Errorf("want one generated request builder New%sRequest or New%sRequestWith<type>Body, found %v", name, name, typed)
		}
		b, err = builderOf(p.funcs[typed[0]], true)
	}
	if err != nil {
		return "", err
	}
	names := pathParam.FindAllStringSubmatch(op.Path, -1)
	if len(names) != len(b.pathTypes) {
		return "", fmt.Errorf("path has %d parameters, %s takes %d", len(names), b.decl.Name.Name, len(b.pathTypes))
	}
	generic := len(names) > 0 && names[0][1] == "resourceType"
	if !generic && op.ResourceType == "" && strings.Contains(op.Path, "{resourceType}") {
		return "", errors.New("{resourceType} is not the first path parameter")
	}
	var models *goPkg
	modelsName := ""
	if info.FHIRVersion != "" {
		models, err = g.load(module + "/gen/fhir/" + info.FHIRVersion)
		if err != nil {
			return "", err
		}
		modelsName = g.use(models)
	}
	if generic && models == nil {
		return "", errors.New("a generic {resourceType} path outside a FHIR family")
	}
	pkg := g.use(p)

	// The 2xx answer's type, from the generated <Name>Response struct.
	resp, err := g.response(p, name)
	if err != nil {
		return "", err
	}

	var sig, body strings.Builder
	typeParam := ""
	if generic {
		typeParam = "[T " + modelsName + ".Resource]"
	}
	// Arguments.
	args := []string{"ctx context.Context"}
	var pathVals []string
	for i, n := range names {
		if i == 0 && generic {
			pathVals = append(pathVals, "fhirType[T]()")
			continue
		}
		args = append(args, goName(n[1])+" string")
		pathVals = append(pathVals, goName(n[1]))
	}
	// The body.
	bodyType := ""
	var bt goType
	if b.body != nil {
		bt, err = g.resolve(p, b.body, 0)
		if err != nil {
			return "", fmt.Errorf("request body: %w", err)
		}
		switch {
		case generic && bt.pkg == models && bt.name == "ResourceList":
			bodyType = "T"
		case bt.union != nil || bt.slice:
			return "", errors.New("request body: a union or array body is not supported")
		default:
			bodyType = g.use(bt.pkg) + "." + bt.name
		}
		args = append(args, "in *"+bodyType)
	}
	if b.params != "" {
		args = append(args, "params *"+pkg+"."+b.params)
	}
	args = append(args, "opts ...CallOption")

	// The result.
	result, ret, err := g.result(op, resp, generic, models, modelsName)
	if err != nil {
		return "", err
	}

	// Doc comment.
	fn := name
	recv := "(h *" + handle + ") "
	famExpr := "h.fam"
	if generic {
		fn = handle + name
		recv = ""
		args = slices.Insert(args, 1, "h *"+handle)
	}
	fmt.Fprintf(&sig, "// %s calls %s, %s %s", fn, op.ID, op.Method, op.Path)
	if summary != "" {
		fmt.Fprintf(&sig, ": %s", strings.TrimSuffix(summary, "."))
	}
	sig.WriteString(".\n")
	if generic {
		fmt.Fprintf(&sig, "// The resource type in the path is T's (T.FHIRType()).\n")
	}
	fmt.Fprintf(&sig, "// Permitted to: %s (checked before any I/O).\n", strings.Join(op.Grants, ", "))
	sig.WriteString(ret.doc)
	fmt.Fprintf(&sig, "func %s%s%s(%s) %s {\n", recv, fn, typeParam, strings.Join(args, ", "), result)

	// Body.
	fmt.Fprintf(&body, "\tcall := Call{Operation: %q", op.ID)
	if len(pathVals) > 0 {
		fmt.Fprintf(&body, ", Path: []string{%s}", strings.Join(pathVals, ", "))
	}
	body.WriteString("}\n")
	if b.params != "" {
		// The query and header parameters, encoded by the generated builder
		// (its URL and body are not used).
		bargs := []string{"opsServer"}
		for i, t := range b.pathTypes {
			z, err := g.zero(p, pkg, t)
			if err != nil {
				return "", fmt.Errorf("path parameter %d: %w", i+1, err)
			}
			bargs = append(bargs, z)
		}
		bargs = append(bargs, "params")
		builderName := "New" + name + "Request"
		if b.body != nil {
			builderName += "WithBody"
			bargs = append(bargs, `""`, "nil")
		}
		fmt.Fprintf(&body, "\treq, err := %s.%s(%s)\n\tif err := paramsInto(&call, req, err); err != nil {\n\t\treturn %s\n\t}\n", pkg, builderName, strings.Join(bargs, ", "), ret.fail("err"))
	}
	if b.body != nil {
		switch {
		case b.form:
			g.imports["github.com/oapi-codegen/runtime"] = "runtime"
			fmt.Fprintf(&body, "\tif in == nil {\n\t\treturn %s\n\t}\n", ret.fail(fmt.Sprintf("missingBody(%q)", op.ID)))
			fmt.Fprintf(&body, "\tform, err := runtime.MarshalForm(*in, nil)\n\tif err != nil {\n\t\treturn %s\n\t}\n", ret.fail(fmt.Sprintf("bodyError(%q, err)", op.ID)))
			body.WriteString("\tcall.Body = []byte(form.Encode())\n\tsetHeader(&call, \"Content-Type\", \"application/x-www-form-urlencoded\")\n")
		case bt.pkg != nil && bt.pkg == models || bodyType == "T":
			fmt.Fprintf(&body, "\tif err := fhirBody(&call, %q, in); err != nil {\n\t\treturn %s\n\t}\n", op.ID, ret.fail("err"))
		default:
			fmt.Fprintf(&body, "\tif err := jsonBody(&call, %q, in); err != nil {\n\t\treturn %s\n\t}\n", op.ID, ret.fail("err"))
		}
	}
	body.WriteString("\tApply(&call, opts...)\n")
	body.WriteString(ret.send(famExpr))
	body.WriteString("}\n")
	return sig.String() + body.String(), nil
}

// zero is a placeholder value of a path parameter type for the builder
// that encodes the query: the URL it builds is not used.
func (g *generator) zero(p *goPkg, pkg string, t ast.Expr) (string, error) {
	e := t
	for depth := 0; depth < 16; depth++ {
		id, ok := e.(*ast.Ident)
		if !ok {
			break
		}
		if id.Name == "string" {
			return `""`, nil
		}
		ts, ok := p.types[id.Name]
		if !ok {
			break
		}
		e = ts.Type
	}
	switch t := t.(type) {
	case *ast.Ident:
		return "*new(" + pkg + "." + t.Name + ")", nil
	case *ast.SelectorExpr:
		x := t.X.(*ast.Ident)
		q, err := g.load(p.imports[x.Name])
		if err != nil {
			return "", err
		}
		return "*new(" + g.use(q) + "." + t.Sel.Name + ")", nil
	}
	return "", fmt.Errorf("unsupported path parameter type %T", t)
}

var successField = regexp.MustCompile(`^(?:[A-Za-z]*JSON)(2\d\d)$`)

// response returns the distinct types of the 2xx bodies of <name>Response.
func (g *generator) response(p *goPkg, name string) ([]goType, error) {
	ts := p.types[name+"Response"]
	if ts == nil {
		return nil, fmt.Errorf("no generated %sResponse type", name)
	}
	st, ok := ts.Type.(*ast.StructType)
	if !ok {
		return nil, fmt.Errorf("%sResponse is not a struct", name)
	}
	var out []goType
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			if !successField.MatchString(n.Name) {
				continue
			}
			t, err := g.resolve(p, f.Type, 0)
			if err != nil {
				return nil, fmt.Errorf("%sResponse.%s: %w", name, n.Name, err)
			}
			if !slices.ContainsFunc(out, func(u goType) bool {
				return u.pkg == t.pkg && u.name == t.name && u.slice == t.slice && u.union == t.union
			}) {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// returns describes how a typed call returns.
type returns struct {
	doc  string
	zero string // the zero of the value result
	send func(fam string) string
}

func (r returns) fail(err string) string { return r.zero + ", " + err }

// result decides the result of an operation from its 2xx types.
func (g *generator) result(op access.Operation, resp []goType, generic bool, models *goPkg, modelsName string) (string, returns, error) {
	if len(resp) > 1 {
		return "", returns{}, fmt.Errorf("2xx answers of different types %v: declare one schema (a oneOf) for them", resp)
	}
	paged := slices.Contains([]string{access.InteractionSearchType, access.InteractionSearchSystem,
		access.InteractionHistoryInstance, access.InteractionHistoryType, access.InteractionHistorySystem}, op.Interaction)
	if len(resp) == 0 {
		return "(*Meta, error)", returns{
			doc:  "// The answer has no body: the result is its status and headers (Location for an asynchronous job).\n",
			zero: "nil",
			send: func(fam string) string {
				return "\t_, meta, err := Send[struct{}](ctx, " + fam + ", &call)\n\treturn meta, err\n"
			},
		}, nil
	}
	t := resp[0]
	switch {
	case t.union != nil:
		u := t.union
		mn := g.use(u.models)
		u.doc = fmt.Sprintf("// %s is the answer of an operation that returns %s or %s,\n// told apart by resourceType: exactly one field is set.", u.name, article(u.members[0]), article(u.members[1]))
		return "(*" + u.name + ", error)", returns{
			doc:  fmt.Sprintf("// The answer is %s or %s (see %s).\n", article(u.members[0]), article(u.members[1]), u.name),
			zero: "nil",
			send: func(fam string) string {
				return fmt.Sprintf("\ta, b, err := sendEither[%s.%s, %s.%s](ctx, %s, &call)\n\tif err != nil || a == nil && b == nil {\n\t\treturn nil, err\n\t}\n\treturn &%s{%s: a, %s: b}, nil\n",
					mn, u.members[0], mn, u.members[1], fam, u.name, u.members[0], u.members[1])
			},
		}, nil
	case paged && t.isModel("Bundle"):
		elem := ""
		switch {
		case generic:
			elem = "T"
		case op.ResourceType != "" && models.resources[op.ResourceType]:
			elem = modelsName + "." + op.ResourceType
		default:
			return "", returns{}, fmt.Errorf("no model for the resource type %q of a %s", op.ResourceType, op.Interaction)
		}
		return "(*Page[" + elem + "], error)", returns{
			doc:  "// The result is the first page; its All and Pages methods follow the next links.\n",
			zero: "nil",
			send: func(fam string) string {
				return "\treturn FirstPage[" + elem + "](ctx, " + fam + ", &call)\n"
			},
		}, nil
	case generic && t.pkg == models && t.name == "ResourceList" && !t.slice:
		return "(*T, error)", returns{
			doc:  "// A body of another resourceType is a *ResourceTypeError; an empty answer (204, return=minimal) is nil, nil.\n",
			zero: "nil",
			send: sendOne("T"),
		}, nil
	case t.slice:
		elem := g.use(t.pkg) + "." + t.name
		return "([]" + elem + ", error)", returns{
			zero: "nil",
			send: func(fam string) string {
				return "\tv, _, err := Send[[]" + elem + "](ctx, " + fam + ", &call)\n\tif v == nil {\n\t\treturn nil, err\n\t}\n\treturn *v, err\n"
			},
		}, nil
	case t.pkg != nil:
		if models != nil && t.pkg == models && t.name == "ResourceList" {
			return "", returns{}, errors.New("a ResourceList answer outside a generic path")
		}
		typ := g.use(t.pkg) + "." + t.name
		doc := ""
		if t.pkg.resources[t.name] {
			doc = "// A body of another resourceType is a *ResourceTypeError.\n"
		}
		return "(*" + typ + ", error)", returns{doc: doc, zero: "nil", send: sendOne(typ)}, nil
	}
	return "", returns{}, errors.New("unsupported answer type")
}

func sendOne(typ string) func(string) string {
	return func(fam string) string {
		return "\tv, _, err := Send[" + typ + "](ctx, " + fam + ", &call)\n\treturn v, err\n"
	}
}

// file renders the whole output.
func (g *generator) file(methods []string, n int) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/cmd/opsgen from api/openapi (the family documents), gen/access and the generated clients in gen/. DO NOT EDIT.\n\n")
	b.WriteString("package wrappers\n\n")
	paths := slices.Sorted(mapKeys(g.imports))
	b.WriteString("import (\n\t\"context\"\n\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "\t%s %q\n", g.imports[p], p)
	}
	b.WriteString(")\n\n")
	fmt.Fprintf(&b, "// typedOperations is the number of operations with a typed call: generated in this file, or handwritten (x-pkb-typed-call).\nconst typedOperations = %d\n\n", n)
	names := slices.Sorted(mapKeys(g.unions))
	for _, name := range names {
		u := g.unions[name]
		mn := g.use(u.models)
		fmt.Fprintf(&b, "%s\ntype %s struct {\n", u.doc, u.name)
		for _, m := range u.members {
			fmt.Fprintf(&b, "\t// %s is set when the answer is %s.\n\t%s *%s.%s\n", m, article(m), m, mn, m)
		}
		b.WriteString("}\n\n")
	}
	for _, m := range methods {
		b.WriteString(m)
		b.WriteString("\n")
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the output: %w\n%s", err, b.Bytes())
	}
	return src, nil
}

// article is name with its indefinite article.
func article(name string) string {
	if strings.ContainsRune("AEIOU", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}
