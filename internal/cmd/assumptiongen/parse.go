package main

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// The generator keeps its own copy of internal/assumptions' types, so that
// it never depends on the package it writes.

type location struct{ file, pointer string }

type param struct {
	name   string
	values []string
}

type request struct {
	family, operation string
	path              []string
	query, header     []param
	body              string
	anonymous         bool
}

type check struct {
	path, typ          string
	oneOf              []string
	minItems, maxItems int
	optional           bool
	schema             string
}

type expect struct {
	status      []int
	contentType string
	json        []check
	response    string
}

type edit struct {
	file, op, path, from, value string
}

type alternative struct {
	method, template string
	req              *request
	fix              []edit
}

type probe struct {
	clients      []string
	writes       bool
	req          request
	confirm      []expect
	contradict   []int
	alternatives []alternative
}

type entry struct {
	id, family, operation, kind, claim, see, untestable string
	probes                                              []probe
	fix                                                 []edit
	doc, source                                         location
	refs                                                []string
}

type value struct {
	name, description, generated string
	sensitive                    bool
}

type pick struct{ name, path string }

type discovery struct {
	clients []string
	req     request
	picks   []pick
}

type table struct {
	entries     []entry
	sees        []entry // entries that only point at another (see)
	values      []value
	discoveries []discovery
}

// grants is the closed set of x-pkb-access values (CONVENTIONS.md), plus
// "public" for a probe any client can run.
var grants = []string{"public", "system", "customer", "user:PATIENT", "user:CLINICIAN", "user:TEAMCOORD", "tethered:SITE"}

var kinds = []string{"path", "access", "parameter", "required", "status", "shape", "behaviour", "host"}

var (
	reID          = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[A-Za-z0-9][A-Za-z0-9-]*)+$`)
	reAssumption  = regexp.MustCompile(`\bASSUMPTION\b`)
	rePlaceholder = regexp.MustCompile(`\{([^{}]*)\}`)
	reValueName   = regexp.MustCompile(`^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)*$`)
	reCheckPath   = regexp.MustCompile(`^$|^((\[[0-9]*\])+|[A-Za-z_$][A-Za-z0-9_:\-]*(\[[0-9]*\])*)(\.[A-Za-z_$][A-Za-z0-9_:\-]*(\[[0-9]*\])*)*$`)
	reMethodPath  = regexp.MustCompile(`^/([^/]+(/[^/]+)*)?$`)
	jsonTypes     = []string{"", "string", "number", "boolean", "object", "array", "null"}
	methods       = []string{"get", "put", "post", "delete", "patch", "head", "options"}
	patchOps      = []string{"add", "remove", "replace", "move", "copy"}
)

// doc is one family document as loaded.
type doc struct {
	file   string
	family string
	root   *yaml.Node
	ops    map[string]opInfo // by operationId
}

type opInfo struct {
	method, path string
	grants       []string
	pointer      string
}

// loader reads and caches the YAML documents patches point into.
type loader struct {
	read  readFunc
	files map[string]*yaml.Node
}

func (l *loader) node(file string) (*yaml.Node, error) {
	if n, ok := l.files[file]; ok {
		return n, nil
	}
	raw, err := l.read(file)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	l.files[file] = &n
	return &n, nil
}

func load(valuesFile string, files []string, read readFunc) (*table, error) {
	l := &loader{read: read, files: map[string]*yaml.Node{}}
	t := &table{}
	cat, err := l.node(valuesFile)
	if err != nil {
		return nil, err
	}
	docs := map[string]*doc{}
	var order []*doc
	for _, f := range files {
		root, err := l.node(f)
		if err != nil {
			return nil, err
		}
		d, err := readDoc(f, root)
		if err != nil {
			return nil, err
		}
		if docs[d.family] != nil {
			return nil, fmt.Errorf("%s: family %q is also %s", f, d.family, docs[d.family].file)
		}
		docs[d.family] = d
		order = append(order, d)
	}
	if err := t.readCatalogue(valuesFile, cat, docs); err != nil {
		return nil, err
	}
	declared := map[string]bool{}
	for _, v := range t.values {
		declared[v.name] = true
	}
	for _, d := range order {
		if err := t.readEntries(d, l, docs, declared); err != nil {
			return nil, err
		}
	}
	var own []entry
	for _, e := range t.entries {
		if e.see != "" {
			t.sees = append(t.sees, e)
		} else {
			own = append(own, e)
		}
	}
	t.entries = own
	sort.Slice(t.entries, func(i, j int) bool { return t.entries[i].id < t.entries[j].id })
	ids := map[string]*entry{}
	for i := range t.entries {
		e := &t.entries[i]
		if prev := ids[e.id]; prev != nil {
			return nil, fmt.Errorf("%s: id %q is also used at %s", e.doc.file+"#"+e.doc.pointer, e.id, prev.doc.file+"#"+prev.doc.pointer)
		}
		ids[e.id] = e
	}
	for _, e := range t.sees {
		if ids[e.see] == nil {
			return nil, fmt.Errorf("%s#%s: see %q names no entry", e.doc.file, e.doc.pointer, e.see)
		}
	}
	return t, nil
}

// readDoc collects a family document's id and operations.
func readDoc(file string, root *yaml.Node) (*doc, error) {
	d := &doc{file: file, root: root, ops: map[string]opInfo{}}
	id, _ := scalar(mapGet(mapGet(mapGet(root, "info"), "x-pkb-family"), "id"), file)
	if id == "" {
		return nil, fmt.Errorf("%s: no info.x-pkb-family.id", file)
	}
	d.family = id
	paths := resolve(mapGet(root, "paths"))
	if paths == nil || paths.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: no paths", file)
	}
	for i := 0; i+1 < len(paths.Content); i += 2 {
		p := paths.Content[i].Value
		item := resolve(paths.Content[i+1])
		for j := 0; j+1 < len(item.Content); j += 2 {
			m := item.Content[j].Value
			if !slices.Contains(methods, m) {
				continue
			}
			op := resolve(item.Content[j+1])
			oid, _ := scalar(mapGet(op, "operationId"), file)
			gs, _ := stringList(mapGet(op, "x-pkb-access"), file)
			d.ops[oid] = opInfo{method: strings.ToUpper(m), path: p, grants: gs, pointer: "/paths/" + escape(p) + "/" + m}
		}
	}
	return d, nil
}

// readEntries walks a document for x-pkb-assumption lists and checks that
// every ASSUMPTION a description states has an entry on the same object.
func (t *table) readEntries(d *doc, l *loader, docs map[string]*doc, declared map[string]bool) error {
	var walk func(n *yaml.Node, ptr, op string) error
	walk = func(n *yaml.Node, ptr, op string) error {
		n = resolve(n)
		switch n.Kind {
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if err := walk(c, fmt.Sprintf("%s/%d", ptr, i), op); err != nil {
					return err
				}
			}
		case yaml.MappingNode:
			if oid, ok := isOperation(ptr, n); ok {
				op = oid
			}
			notes := 0
			if desc := mapGet(n, "description"); desc != nil && desc.Kind == yaml.ScalarNode {
				notes = len(reAssumption.FindAllString(desc.Value, -1))
			}
			list := mapGet(n, "x-pkb-assumption")
			var got []entry
			if list != nil {
				where := d.file + "#" + ptr + "/x-pkb-assumption"
				items, err := sequence(list, where)
				if err != nil {
					return err
				}
				for i, it := range items {
					e, err := readEntry(it, fmt.Sprintf("%s/%d", where, i), d, ptr, op, l, docs, declared)
					if err != nil {
						return err
					}
					got = append(got, e)
				}
				if notes == 0 {
					return errorf(d.file+"#"+ptr, "x-pkb-assumption on an object whose description states no ASSUMPTION")
				}
			}
			if notes > len(got) {
				return errorf(d.file+"#"+ptr, "the description says ASSUMPTION %d times but the object has %d x-pkb-assumption entries", notes, len(got))
			}
			t.entries = append(t.entries, got...)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if k == "x-pkb-assumption" {
					continue
				}
				if err := walk(n.Content[i+1], ptr+"/"+escape(k), op); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(d.root, "", "")
}

// isOperation reports whether ptr is /paths/{path}/{method} and returns the
// operationId.
func isOperation(ptr string, n *yaml.Node) (string, bool) {
	toks := strings.Split(ptr, "/")
	if len(toks) != 4 || toks[1] != "paths" || !slices.Contains(methods, toks[3]) {
		return "", false
	}
	id, _ := scalar(mapGet(n, "operationId"), ptr)
	return id, id != ""
}

func readEntry(n *yaml.Node, where string, d *doc, anchor, op string, l *loader, docs map[string]*doc, declared map[string]bool) (entry, error) {
	f, err := fields(n, where, "id", "kind", "claim", "see", "untestable", "source", "probe", "probes", "fix")
	if err != nil {
		return entry{}, err
	}
	e := entry{family: d.family, operation: op, doc: location{d.file, anchor}, source: location{d.file, anchor}}
	e.id, _ = scalar(f["id"], where)
	e.see, _ = scalar(f["see"], where)
	if e.see != "" {
		if len(f) != 1 {
			return entry{}, errorf(where, "an entry with see has no other key")
		}
		return e, nil
	}
	if !reID.MatchString(e.id) {
		return entry{}, errorf(where, "id %q: want dotted words starting with the family, e.g. facade.purview.path", e.id)
	}
	if fam, _, _ := strings.Cut(e.id, "."); fam != d.family {
		return entry{}, errorf(where, "id %q does not start with the family %q", e.id, d.family)
	}
	where = d.file + ": " + e.id
	e.kind, _ = scalar(f["kind"], where)
	if !slices.Contains(kinds, e.kind) {
		return entry{}, errorf(where, "kind %q: want one of %s", e.kind, strings.Join(kinds, ", "))
	}
	e.claim, _ = scalar(f["claim"], where)
	if strings.TrimSpace(e.claim) == "" {
		return entry{}, errorf(where, "no claim")
	}
	e.untestable, _ = scalar(f["untestable"], where)
	if src, _ := scalar(f["source"], where); src != "" {
		file, ptr, ok := strings.Cut(src, "#")
		if !ok || file == "" {
			return entry{}, errorf(where, "source %q: want file#pointer", src)
		}
		root, err := l.node(file)
		if err != nil {
			return entry{}, errorf(where, "source: %v", err)
		}
		if lookup(root, ptr) == nil {
			return entry{}, errorf(where, "source %q does not resolve", src)
		}
		e.source = location{file, ptr}
	}
	var probeNodes []*yaml.Node
	switch {
	case f["probe"] != nil && f["probes"] != nil:
		return entry{}, errorf(where, "give probe or probes, not both")
	case f["probe"] != nil:
		probeNodes = []*yaml.Node{f["probe"]}
	case f["probes"] != nil:
		if probeNodes, err = sequence(f["probes"], where); err != nil {
			return entry{}, err
		}
	}
	switch {
	case len(probeNodes) == 0 && strings.TrimSpace(e.untestable) == "":
		return entry{}, errorf(where, "neither a probe nor an untestable reason")
	case len(probeNodes) > 0 && e.untestable != "":
		return entry{}, errorf(where, "a probe and an untestable reason")
	}
	ctx := &entryCtx{where: where, doc: d, docs: docs, op: op, declared: declared, loader: l, source: e.source}
	for i, pn := range probeNodes {
		p, err := ctx.readProbe(pn, fmt.Sprintf("%s probe %d", where, i+1))
		if err != nil {
			return entry{}, err
		}
		e.probes = append(e.probes, p)
	}
	if e.fix, err = ctx.readEdits(f["fix"], where+" fix"); err != nil {
		return entry{}, err
	}
	if strings.HasPrefix(anchor, "/components/parameters/") && strings.Count(anchor, "/") == 3 {
		e.refs = refsTo(d.root, "#"+anchor)
		if e.source.file != d.file {
			return entry{}, errorf(where, "an entry on a component parameter of a generated document is not supported")
		}
	}
	return e, nil
}

// refsTo lists the pointers of every mapping whose $ref is ref.
func refsTo(root *yaml.Node, ref string) []string {
	var out []string
	var walk func(n *yaml.Node, ptr string)
	walk = func(n *yaml.Node, ptr string) {
		n = resolve(n)
		switch n.Kind {
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s/%d", ptr, i))
			}
		case yaml.MappingNode:
			if r := mapGet(n, "$ref"); r != nil && r.Value == ref {
				out = append(out, ptr)
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], ptr+"/"+escape(n.Content[i].Value))
			}
		}
	}
	walk(root, "")
	return out
}

// entryCtx is what reading one entry needs.
type entryCtx struct {
	where    string
	doc      *doc
	docs     map[string]*doc
	op       string
	declared map[string]bool
	loader   *loader
	source   location
}

func (c *entryCtx) readProbe(n *yaml.Node, where string) (probe, error) {
	f, err := fields(n, where, "clients", "writes", "request", "confirm", "contradict", "alternatives")
	if err != nil {
		return probe{}, err
	}
	var p probe
	if p.writes, err = boolean(f["writes"], where); err != nil {
		return probe{}, err
	}
	if p.req, err = c.readRequest(f["request"], where+" request", c.doc.family, nil); err != nil {
		return probe{}, err
	}
	info := c.docs[p.req.family].ops[p.req.operation]
	if p.clients, err = readClients(f["clients"], where, info.grants); err != nil {
		return probe{}, err
	}
	exps, err := sequence(f["confirm"], where)
	if err != nil {
		return probe{}, err
	}
	if len(exps) == 0 {
		return probe{}, errorf(where, "no confirm: a probe must say what answer confirms the claim")
	}
	for i, en := range exps {
		ex, err := c.readExpect(en, fmt.Sprintf("%s confirm %d", where, i+1))
		if err != nil {
			return probe{}, err
		}
		p.confirm = append(p.confirm, ex)
	}
	if p.contradict, err = intList(f["contradict"], where+" contradict"); err != nil {
		return probe{}, err
	}
	for _, s := range p.contradict {
		for _, ex := range p.confirm {
			if slices.Contains(ex.status, s) {
				return probe{}, errorf(where, "status %d both confirms and contradicts", s)
			}
		}
	}
	alts, err := sequence(f["alternatives"], where)
	if err != nil {
		return probe{}, err
	}
	for i, an := range alts {
		a, err := c.readAlternative(an, fmt.Sprintf("%s alternative %d", where, i+1), p.req)
		if err != nil {
			return probe{}, err
		}
		p.alternatives = append(p.alternatives, a)
	}
	return p, nil
}

func readClients(n *yaml.Node, where string, opGrants []string) ([]string, error) {
	cs, err := stringList(n, where+" clients")
	if err != nil {
		return nil, err
	}
	if cs == nil {
		cs = slices.Clone(opGrants)
	}
	if slices.Contains(cs, "public") {
		cs = []string{"public"}
	}
	if len(cs) == 0 {
		return nil, errorf(where, "no clients")
	}
	for _, g := range cs {
		if !slices.Contains(grants, g) {
			return nil, errorf(where, "client %q: want one of %s", g, strings.Join(grants, ", "))
		}
	}
	return cs, nil
}

// readRequest reads a request; base, when set, is the probe's request that
// an alternative's fields replace.
func (c *entryCtx) readRequest(n *yaml.Node, where, family string, base *request) (request, error) {
	var r request
	if base != nil {
		r = *base
	} else {
		r = request{family: family, operation: c.op}
	}
	if n == nil {
		n = &yaml.Node{Kind: yaml.MappingNode}
	}
	f, err := fields(n, where, "family", "operationId", "path", "query", "header", "body", "anonymous")
	if err != nil {
		return request{}, err
	}
	if fam, _ := scalar(f["family"], where); fam != "" {
		if base != nil {
			return request{}, errorf(where, "an alternative cannot change the family")
		}
		r.family = fam
	}
	if oid, _ := scalar(f["operationId"], where); oid != "" {
		if base != nil {
			return request{}, errorf(where, "an alternative cannot change the operation (use template)")
		}
		r.operation = oid
	}
	d := c.docs[r.family]
	if d == nil {
		return request{}, errorf(where, "family %q is not one of the documents", r.family)
	}
	if r.operation == "" {
		return request{}, errorf(where, "no operationId: the entry is not on an operation")
	}
	info, ok := d.ops[r.operation]
	if !ok {
		return request{}, errorf(where, "operationId %q is not in %s", r.operation, d.file)
	}
	if f["path"] != nil {
		if r.path, err = stringList(f["path"], where+" path"); err != nil {
			return request{}, err
		}
	}
	if want := strings.Count(info.path, "{"); len(r.path) != want {
		return request{}, errorf(where, "%d path values for %s, which has %d parameters", len(r.path), info.path, want)
	}
	if f["query"] != nil {
		if r.query, err = readParams(f["query"], where+" query"); err != nil {
			return request{}, err
		}
	}
	if f["header"] != nil {
		if r.header, err = readParams(f["header"], where+" header"); err != nil {
			return request{}, err
		}
		for _, h := range r.header {
			if len(h.values) != 1 {
				return request{}, errorf(where, "header %s: want one value", h.name)
			}
		}
	}
	if f["body"] != nil {
		if r.body, err = jsonOf(f["body"], where+" body"); err != nil {
			return request{}, err
		}
	}
	if f["anonymous"] != nil {
		if r.anonymous, err = boolean(f["anonymous"], where); err != nil {
			return request{}, err
		}
	}
	for _, s := range r.strings() {
		if err := c.checkPlaceholders(s, where); err != nil {
			return request{}, err
		}
	}
	return r, nil
}

func (r request) strings() []string {
	out := append([]string{r.body}, r.path...)
	for _, p := range append(slices.Clone(r.query), r.header...) {
		out = append(out, p.values...)
	}
	return out
}

func (c *entryCtx) checkPlaceholders(s, where string) error {
	return checkPlaceholders(s, where, c.declared)
}

func checkPlaceholders(s, where string, declared map[string]bool) error {
	for _, m := range rePlaceholder.FindAllStringSubmatch(s, -1) {
		if !reValueName.MatchString(m[1]) {
			continue // JSON braces, not a placeholder
		}
		if !declared[m[1]] {
			return errorf(where, "placeholder {%s} is not in the probe-value catalogue", m[1])
		}
	}
	return nil
}

func readParams(n *yaml.Node, where string) ([]param, error) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return nil, errorf(where, "want a mapping of names to values")
	}
	var out []param
	for i := 0; i+1 < len(n.Content); i += 2 {
		vs, err := stringList(n.Content[i+1], where+" "+n.Content[i].Value)
		if err != nil {
			return nil, err
		}
		out = append(out, param{name: n.Content[i].Value, values: vs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (c *entryCtx) readExpect(n *yaml.Node, where string) (expect, error) {
	f, err := fields(n, where, "status", "contentType", "json", "response")
	if err != nil {
		return expect{}, err
	}
	var ex expect
	if ex.status, err = intList(f["status"], where+" status"); err != nil {
		return expect{}, err
	}
	if len(ex.status) == 0 {
		return expect{}, errorf(where, "no status")
	}
	ex.contentType, _ = scalar(f["contentType"], where)
	if r, _ := scalar(f["response"], where); r != "" {
		if ex.response, err = c.pointer(r, where+" response", true); err != nil {
			return expect{}, err
		}
	}
	checks, err := sequence(f["json"], where)
	if err != nil {
		return expect{}, err
	}
	for i, cn := range checks {
		ck, err := c.readCheck(cn, fmt.Sprintf("%s json %d", where, i+1))
		if err != nil {
			return expect{}, err
		}
		ex.json = append(ex.json, ck)
	}
	return ex, nil
}

func (c *entryCtx) readCheck(n *yaml.Node, where string) (check, error) {
	f, err := fields(n, where, "path", "type", "oneOf", "minItems", "maxItems", "optional", "schema")
	if err != nil {
		return check{}, err
	}
	ck := check{maxItems: -1}
	ck.path, _ = scalar(f["path"], where)
	if !reCheckPath.MatchString(ck.path) {
		return check{}, errorf(where, "path %q: want a.b[0].c, [] for every element, or empty for the body", ck.path)
	}
	ck.typ, _ = scalar(f["type"], where)
	if !slices.Contains(jsonTypes, ck.typ) {
		return check{}, errorf(where, "type %q: want one of %s", ck.typ, strings.Join(jsonTypes[1:], ", "))
	}
	if f["oneOf"] != nil {
		vals, err := sequence(f["oneOf"], where)
		if err != nil {
			return check{}, err
		}
		for _, v := range vals {
			if v.Kind != yaml.ScalarNode {
				return check{}, errorf(where, "oneOf holds scalars only")
			}
			j, err := jsonOf(v, where)
			if err != nil {
				return check{}, err
			}
			ck.oneOf = append(ck.oneOf, j)
		}
	}
	for key, dst := range map[string]*int{"minItems": &ck.minItems, "maxItems": &ck.maxItems} {
		if f[key] != nil {
			if err := f[key].Decode(dst); err != nil || *dst < 0 {
				return check{}, errorf(where, "%s: want a count", key)
			}
		}
	}
	if ck.optional, err = boolean(f["optional"], where); err != nil {
		return check{}, err
	}
	if s, _ := scalar(f["schema"], where); s != "" {
		if ck.schema, err = c.pointer(s, where+" schema", true); err != nil {
			return check{}, err
		}
	}
	if ck.typ == "" && ck.oneOf == nil && f["minItems"] == nil && f["maxItems"] == nil {
		return check{}, errorf(where, "a check needs a type, oneOf, minItems or maxItems")
	}
	return ck, nil
}

func (c *entryCtx) readAlternative(n *yaml.Node, where string, base request) (alternative, error) {
	f, err := fields(n, where, "method", "template", "request", "fix")
	if err != nil {
		return alternative{}, err
	}
	var a alternative
	a.method, _ = scalar(f["method"], where)
	a.template, _ = scalar(f["template"], where)
	switch {
	case a.template != "" && f["request"] != nil:
		return alternative{}, errorf(where, "a template or a request, not both")
	case a.template != "":
		if !reMethodPath.MatchString(a.template) {
			return alternative{}, errorf(where, "template %q: want a path from the family's base", a.template)
		}
		if a.method == "" {
			a.method = c.docs[base.family].ops[base.operation].method
		}
		a.method = strings.ToUpper(a.method)
		if !slices.Contains(methods, strings.ToLower(a.method)) {
			return alternative{}, errorf(where, "method %q", a.method)
		}
		if got := strings.Count(a.template, "{"); got > len(base.path) {
			return alternative{}, errorf(where, "template %s has more parameters than the probe has path values", a.template)
		}
		if f["fix"] != nil {
			return alternative{}, errorf(where, "a route alternative's patch is derived: no fix")
		}
		return a, nil
	case f["request"] != nil:
		if a.method != "" {
			return alternative{}, errorf(where, "method goes with template")
		}
		r, err := c.readRequest(f["request"], where+" request", base.family, &base)
		if err != nil {
			return alternative{}, err
		}
		a.req = &r
		if a.fix, err = c.readEdits(f["fix"], where+" fix"); err != nil {
			return alternative{}, err
		}
		if len(a.fix) == 0 {
			return alternative{}, errorf(where, "a request alternative needs the fix it implies")
		}
		return a, nil
	}
	return alternative{}, errorf(where, "an alternative needs a template or a request")
}

// pointer makes a pointer absolute in the source document (a relative one
// is relative to the entry's anchor) and checks that it resolves; with
// exists false only its parent must.
func (c *entryCtx) pointer(p, where string, exists bool) (string, error) {
	if !strings.HasPrefix(p, "/") {
		p = c.source.pointer + "/" + p
	}
	root, err := c.loader.node(c.source.file)
	if err != nil {
		return "", err
	}
	target := p
	if !exists {
		target, _ = parentOf(p)
	}
	if lookup(root, target) == nil {
		return "", errorf(where, "%s#%s does not resolve", c.source.file, target)
	}
	return p, nil
}

func (c *entryCtx) readEdits(n *yaml.Node, where string) ([]edit, error) {
	items, err := sequence(n, where)
	if err != nil {
		return nil, err
	}
	var out []edit
	for i, in := range items {
		w := fmt.Sprintf("%s %d", where, i+1)
		f, err := fields(in, w, "op", "path", "from", "value")
		if err != nil {
			return nil, err
		}
		e := edit{file: c.source.file}
		e.op, _ = scalar(f["op"], w)
		if !slices.Contains(patchOps, e.op) {
			return nil, errorf(w, "op %q: want one of %s", e.op, strings.Join(patchOps, ", "))
		}
		p, _ := scalar(f["path"], w)
		if e.path, err = c.pointer(p, w, e.op == "replace" || e.op == "remove"); err != nil {
			return nil, err
		}
		switch e.op {
		case "move", "copy":
			from, _ := scalar(f["from"], w)
			if e.from, err = c.pointer(from, w+" from", true); err != nil {
				return nil, err
			}
		case "add", "replace":
			if f["value"] == nil {
				return nil, errorf(w, "%s needs a value", e.op)
			}
			if e.value, err = jsonOf(f["value"], w); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	return out, nil
}
