// Command apisurface writes a deterministic listing of the exported Go API of
// packages: every exported const, var, func, type, method, struct field and
// interface method, with its signature, one per line, sorted. It reads the
// sources with go/parser (no type checking, no network, no build), so it runs
// in the generation chain before anything compiles.
//
//	go run ./internal/cmd/apisurface -out api/go-api gen/... wrappers authn search? message?
//
// Each argument is a package directory relative to the module root; "dir/..."
// adds every package below dir, "." the module's root package alone, and a
// trailing "?" makes a directory optional (skipped when absent). One file per
// package is written to -out, named after the package path with "/" replaced
// by "_" (gen/facade -> gen_facade.txt; the root package after the module
// path's last element, github.com/pkbgo/pkb -> pkb.txt);
// other *.txt files in -out are removed, so a deleted package shows up in the
// diff. Files are evaluated for GOOS=linux, GOARCH=amd64, without cgo.
//
// Limits: methods promoted from embedded types are listed as the embedding
// ("embedded T.X"), not expanded; constant values are printed as written.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

func main() {
	out := flag.String("out", "api/go-api", "directory for the listings (one <pkg path with / as _>.txt per package)")
	root := flag.String("root", ".", "module root (the directory holding go.mod)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: apisurface [-root dir] [-out dir] pkgdir|pkgdir/...|pkgdir? ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*root, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "apisurface:", err)
		os.Exit(1)
	}
}

func run(root, out string, patterns []string) error {
	modPath, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	dirs, err := expand(root, patterns)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	written := map[string]bool{}
	for _, dir := range dirs {
		importPath, name := modPath+"/"+dir, strings.ReplaceAll(dir, "/", "_")+".txt"
		if dir == "." {
			importPath, name = modPath, path.Base(modPath)+".txt"
		}
		listing, err := Surface(filepath.Join(root, dir), importPath)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		written[name] = true
		if err := os.WriteFile(filepath.Join(out, name), listing, 0o644); err != nil {
			return err
		}
	}
	old, err := filepath.Glob(filepath.Join(out, "*.txt"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if !written[filepath.Base(f)] {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// modulePath reads the module line of go.mod.
func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", fmt.Errorf("module root: %w (run from the repository root or pass -root)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s has no module line", gomod)
}

// buildCtx fixes the build configuration, so the listing does not depend on the host.
var buildCtx = func() build.Context {
	c := build.Default
	c.GOOS, c.GOARCH, c.CgoEnabled = "linux", "amd64", false
	return c
}()

// goFiles lists the non-test Go files of dir that build for buildCtx.
func goFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		ok, err := buildCtx.MatchFile(dir, n)
		if err != nil {
			return nil, err
		}
		if ok {
			files = append(files, n)
		}
	}
	return files, nil
}

// expand turns the patterns into sorted, unique package directories (slash-separated, relative to root).
func expand(root string, patterns []string) ([]string, error) {
	seen := map[string]bool{}
	for _, p := range patterns {
		optional := strings.HasSuffix(p, "?")
		p = filepath.ToSlash(filepath.Clean(strings.TrimSuffix(p, "?")))
		recursive := strings.HasSuffix(p, "/...")
		p = strings.TrimSuffix(p, "/...")
		if p == "." && !recursive {
			// The module's root package alone: "./..." would walk into
			// every package, listed or not.
			if files, err := goFiles(root); err != nil || len(files) == 0 {
				return nil, fmt.Errorf("the module root holds no Go package (%v)", err)
			}
			seen["."] = true
			continue
		}
		if p == "." || strings.HasPrefix(p, "../") || filepath.IsAbs(p) {
			return nil, fmt.Errorf("package directory %q must be below the module root", p)
		}
		abs := filepath.Join(root, p)
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			if optional {
				continue
			}
			return nil, fmt.Errorf("package directory %s does not exist (append ? to make it optional)", p)
		}
		found := 0
		err := filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			if path != abs && (!recursive || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_")) {
				return filepath.SkipDir
			}
			files, err := goFiles(path)
			if err != nil {
				return err
			}
			if len(files) > 0 {
				rel, err := filepath.Rel(root, path)
				if err != nil {
					return err
				}
				seen[filepath.ToSlash(rel)] = true
				found++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if found == 0 && !optional {
			return nil, fmt.Errorf("%s holds no Go package", p)
		}
	}
	var dirs []string
	for d := range seen {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs, nil
}

type entry struct{ key, line string }

// Surface returns the listing of the exported API of the package in dir.
func Surface(dir, importPath string) ([]byte, error) {
	files, err := goFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no Go files")
	}
	fset := token.NewFileSet()
	var pkgName string
	var entries []entry
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if pkgName == "" {
			pkgName = f.Name.Name
		} else if f.Name.Name != pkgName {
			return nil, fmt.Errorf("%s: package %s, but other files are package %s", name, f.Name.Name, pkgName)
		}
		l := lister{fset: fset}
		for _, d := range f.Decls {
			if err := l.decl(d); err != nil {
				return nil, fmt.Errorf("%s: %w", fset.Position(d.Pos()), err)
			}
		}
		entries = append(entries, l.entries...)
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.line, b.line)
	})
	entries = slices.Compact(entries)
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s (package %s)\n", importPath, pkgName)
	b.WriteString("# Exported Go API. Generated by internal/cmd/apisurface (make generate); DO NOT EDIT.\n")
	for _, e := range entries {
		b.WriteString(e.line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

type lister struct {
	fset    *token.FileSet
	entries []entry
}

func (l *lister) add(key, format string, args ...any) {
	l.entries = append(l.entries, entry{key, fmt.Sprintf(format, args...)})
}

var (
	reNewline = regexp.MustCompile(`\s*\n\s*`)
	reTabs    = regexp.MustCompile(`\t+`)
)

// str prints a node on one line.
func (l *lister) str(n ast.Node) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, l.fset, n); err != nil {
		panic(err) // printing a parsed AST to a buffer does not fail
	}
	s := reNewline.ReplaceAllString(b.String(), "; ")
	s = reTabs.ReplaceAllString(s, " ")
	s = strings.ReplaceAll(s, "{; ", "{ ")
	return strings.ReplaceAll(s, "; }", " }")
}

// sig prints a function type without the leading "func".
func (l *lister) sig(ft *ast.FuncType) string {
	return strings.TrimPrefix(l.str(ft), "func")
}

func (l *lister) decl(d ast.Decl) error {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if !d.Name.IsExported() {
			return nil
		}
		if d.Recv == nil {
			l.add(d.Name.Name, "func %s%s", d.Name.Name, l.sig(d.Type))
			return nil
		}
		if len(d.Recv.List) != 1 {
			return errors.New("method with a malformed receiver")
		}
		recv := d.Recv.List[0].Type
		base := receiverBase(recv)
		if base == "" || !ast.IsExported(base) {
			return nil
		}
		l.add(base+"."+d.Name.Name, "method (%s) %s%s", l.str(recv), d.Name.Name, l.sig(d.Type))
	case *ast.GenDecl:
		switch d.Tok {
		case token.TYPE:
			for _, s := range d.Specs {
				l.typeSpec(s.(*ast.TypeSpec))
			}
		case token.CONST:
			l.consts(d)
		case token.VAR:
			for _, s := range d.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !n.IsExported() {
						continue
					}
					switch {
					case vs.Type != nil:
						l.add(n.Name, "var %s %s", n.Name, l.str(vs.Type))
					case i < len(vs.Values):
						l.add(n.Name, "var %s = %s", n.Name, shorten(l.str(vs.Values[i])))
					default: // var a, b = f()
						l.add(n.Name, "var %s = %s (value %d)", n.Name, shorten(l.str(vs.Values[0])), i)
					}
				}
			}
		}
	}
	return nil
}

func shorten(s string) string {
	if r := []rune(s); len(r) > 120 {
		return string(r[:117]) + "..."
	}
	return s
}

func receiverBase(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

func (l *lister) typeSpec(ts *ast.TypeSpec) {
	name := ts.Name.Name
	if !ast.IsExported(name) {
		return
	}
	tparams := ""
	if ts.TypeParams != nil {
		tparams = "[" + l.fieldList(ts.TypeParams) + "]"
	}
	if ts.Assign.IsValid() {
		l.add(name, "type %s%s = %s", name, tparams, l.str(ts.Type))
		return
	}
	switch t := ts.Type.(type) {
	case *ast.StructType:
		l.add(name, "type %s%s struct", name, tparams)
		for _, f := range t.Fields.List {
			typ := l.str(f.Type)
			if len(f.Names) == 0 {
				l.add(name+"."+typ, "embedded %s.%s", name, typ)
				continue
			}
			for _, n := range f.Names {
				if n.IsExported() {
					l.add(name+"."+n.Name, "field %s.%s %s", name, n.Name, typ)
				}
			}
		}
	case *ast.InterfaceType:
		l.add(name, "type %s%s interface", name, tparams)
		for _, m := range t.Methods.List {
			if len(m.Names) == 0 { // embedded interface or type union
				l.add(name+".~", "embedded %s.%s", name, l.str(m.Type))
				continue
			}
			for _, n := range m.Names {
				if ft, ok := m.Type.(*ast.FuncType); ok {
					l.add(name+"."+n.Name, "method %s.%s%s", name, n.Name, l.sig(ft))
				}
			}
		}
	default:
		l.add(name, "type %s%s %s", name, tparams, l.str(ts.Type))
	}
}

// fieldList prints "a, b T, c U" for a field list (type parameters).
func (l *lister) fieldList(fl *ast.FieldList) string {
	var parts []string
	for _, f := range fl.List {
		var names []string
		for _, n := range f.Names {
			names = append(names, n.Name)
		}
		parts = append(parts, strings.TrimSpace(strings.Join(names, ", ")+" "+l.str(f.Type)))
	}
	return strings.Join(parts, ", ")
}

// consts lists a const group, repeating implicit types and values and
// noting the iota value where the expression uses iota.
func (l *lister) consts(d *ast.GenDecl) {
	var typ ast.Expr
	var values []ast.Expr
	for iota, s := range d.Specs {
		vs := s.(*ast.ValueSpec)
		if vs.Type != nil || len(vs.Values) > 0 {
			typ, values = vs.Type, vs.Values
		}
		for i, n := range vs.Names {
			if !n.IsExported() {
				continue
			}
			line := "const " + n.Name
			if typ != nil {
				line += " " + l.str(typ)
			}
			if i < len(values) {
				v := l.str(values[i])
				line += " = " + shorten(v)
				if strings.Contains(v, "iota") {
					line += fmt.Sprintf(" (iota %d)", iota)
				}
			}
			l.add(n.Name, "%s", line)
		}
	}
}
