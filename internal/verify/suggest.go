package verify

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pkbgo/pkb/api/openapi"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/assumptions"
)

// Patch is the change to one document that would make a contradicted
// assumption match what PKB answered: a JSON Patch (RFC 6902) on the YAML
// document, for a person to review. pkb verify never applies it.
type Patch struct {
	// Assumption is the contradicted entry's ID.
	Assumption string `json:"assumption"`
	// File is the document, from the repository root.
	File string `json:"file"`
	// Reason says what was observed and why this patch.
	Reason string `json:"reason"`
	// Edits are the JSON Patch operations, in order.
	Edits []Edit `json:"patch"`
}

// Edit is one JSON Patch operation.
type Edit struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Suggest proposes, for every contradicted assumption of a report, the
// smallest patch to its document that would match what was observed:
// the patch of the alternative that answered, the entry's own fix, or one
// derived from the kind of claim and the failed checks. An assumption for
// which nothing can be derived gets a patch with no edits and a reason.
func Suggest(r *Report) []Patch {
	var out []Patch
	for _, res := range r.Results {
		if res.Outcome != Contradicted || res.obs == nil {
			continue
		}
		out = append(out, suggestOne(res.obs))
	}
	return out
}

func suggestOne(o *observation) Patch {
	a := o.assumption
	p := Patch{Assumption: a.ID, File: a.Source.File}
	opPtr := operationPointer(a, o.probe.Request)
	// An alternative that answered as the claim predicts says what PKB does.
	if o.altIndex >= 0 {
		alt := o.probe.Alternatives[o.altIndex]
		if alt.Template != "" {
			p.Edits, p.Reason = moveRoute(a, o.probe.Request, opPtr, alt)
			return p
		}
		p.Edits = fromTable(alt.Fix)
		p.Reason = "PKB answered " + describeAlternative(alt) + " as the claim predicts"
		return p
	}
	if len(a.Fix) > 0 {
		p.Edits = fromTable(a.Fix)
		p.Reason = fmt.Sprintf("the claim is contradicted (status %d); the entry's fix makes the document say what was observed", o.status)
		return p
	}
	if o.byStatus {
		switch a.Kind {
		case assumptions.KindAccess:
			op, ok := access.Lookup(o.probe.Request.Family, o.probe.Request.Operation)
			if ok && opPtr != "" {
				grants := slices.DeleteFunc(slices.Clone(op.Grants), func(g string) bool { return g == o.grant })
				p.Edits = []Edit{{Op: "replace", Path: opPtr + "/x-pkb-access", Value: mustJSON(grants)}}
				p.Reason = fmt.Sprintf("a %s client was refused (status %d)", o.grant, o.status)
			}
		case assumptions.KindStatus:
			if opPtr != "" && len(o.probe.Confirm) > 0 && len(o.probe.Confirm[0].Status) > 0 {
				from := opPtr + "/responses/" + strconv.Itoa(o.probe.Confirm[0].Status[0])
				p.Edits = []Edit{{Op: "copy", From: from, Path: opPtr + "/responses/" + strconv.Itoa(o.status)}}
				p.Reason = fmt.Sprintf("PKB answered %d; review the copied response's description and body", o.status)
			}
		case assumptions.KindPath:
			if opPtr != "" {
				p.Edits = []Edit{{Op: "remove", Path: opPtr}}
				p.Reason = fmt.Sprintf("PKB answered %d and no alternative route answered; remove the operation, or find where PKB serves it", o.status)
				if !o.altTried && len(o.probe.Alternatives) > 0 {
					p.Reason += " (the alternatives were not tried: the caller cannot call routes outside the documents)"
				}
			}
		case assumptions.KindParameter:
			if strings.Contains(a.Source.Pointer, "/parameters/") {
				p.Edits = removeParameter(a)
				p.Reason = fmt.Sprintf("PKB refused the parameter (status %d) and no alternative answered", o.status)
			}
		}
		if p.Edits == nil {
			p.Reason = fmt.Sprintf("PKB answered %d; no patch can be derived for a %s claim: edit the document by hand", o.status, a.Kind)
		}
		return p
	}
	// Contradicted by the answer: the media type or the checks failed.
	var reasons []string
	if ex := o.expect; ex != nil && ex.ContentType != "" && o.media != ex.ContentType && ex.Response != "" {
		p.Edits = append(p.Edits, Edit{Op: "move", From: ex.Response + "/content/" + escape(ex.ContentType), Path: ex.Response + "/content/" + escape(o.media)})
		if !strings.HasSuffix(o.media, "json") {
			p.Edits = append(p.Edits, Edit{Op: "replace", Path: ex.Response + "/content/" + escape(o.media) + "/schema", Value: json.RawMessage(`{"type":"string"}`)})
		}
		reasons = append(reasons, fmt.Sprintf("the answer is %s, not %s", o.media, ex.ContentType))
	}
	for _, c := range o.checks {
		if c.result != checkFails || c.check.Schema == "" {
			continue
		}
		edits, why := checkPatch(a, c)
		p.Edits = append(p.Edits, edits...)
		if why != "" {
			reasons = append(reasons, why)
		}
	}
	if len(p.Edits) == 0 {
		p.Reason = "the answer did not have the predicted shape; no patch can be derived: see the evidence and edit the document by hand"
		return p
	}
	p.Reason = strings.Join(reasons, "; ")
	return p
}

// operationPointer is the pointer, in the entry's source file, of the
// operation a probe calls.
func operationPointer(a assumptions.Assumption, r assumptions.Request) string {
	op, ok := access.Lookup(r.Family, r.Operation)
	if !ok {
		return ""
	}
	ptr := "/paths/" + escape(op.Path) + "/" + strings.ToLower(op.Method)
	if a.Source.File != a.Doc.File {
		// A generated document: its hand-written operations are under
		// /document in the input; generated ones have no pointer there.
		if !strings.HasPrefix(a.Source.Pointer, "/document/") {
			return ""
		}
		ptr = "/document" + ptr
	}
	return ptr
}

// moveRoute derives the move of an operation to the route that answered.
func moveRoute(a assumptions.Assumption, r assumptions.Request, opPtr string, alt assumptions.Alternative) ([]Edit, string) {
	op, ok := access.Lookup(r.Family, r.Operation)
	if !ok || opPtr == "" {
		return nil, "PKB answered " + alt.Method + " " + alt.Template + "; move the operation there by hand"
	}
	base := strings.TrimSuffix(opPtr, "/paths/"+escape(op.Path)+"/"+strings.ToLower(op.Method))
	method := strings.ToLower(alt.Method)
	target := base + "/paths/" + escape(alt.Template)
	reason := fmt.Sprintf("PKB answers %s %s, not %s %s", alt.Method, alt.Template, op.Method, op.Path)
	var existsPath, existsOp bool
	methods := 0
	for _, o := range access.Operations() {
		if o.Family != r.Family {
			continue
		}
		if o.Path == alt.Template {
			existsPath = true
			if strings.EqualFold(o.Method, alt.Method) {
				existsOp = true
			}
		}
		if o.Path == op.Path {
			methods++
		}
	}
	if strings.Count(alt.Template, "{") != strings.Count(op.Path, "{") {
		reason += "; the path parameters differ: review the operation's parameters"
	}
	switch {
	case existsOp:
		return []Edit{{Op: "remove", Path: opPtr}}, reason + fmt.Sprintf(", which the document already declares: remove %s %s", op.Method, op.Path)
	case existsPath:
		return []Edit{{Op: "move", From: opPtr, Path: target + "/" + method}}, reason
	case methods == 1:
		edits := []Edit{{Op: "move", From: base + "/paths/" + escape(op.Path), Path: target}}
		if method != strings.ToLower(op.Method) {
			edits = append(edits, Edit{Op: "move", From: target + "/" + strings.ToLower(op.Method), Path: target + "/" + method})
		}
		return edits, reason
	}
	return []Edit{{Op: "add", Path: target, Value: json.RawMessage(`{}`)}, {Op: "move", From: opPtr, Path: target + "/" + method}}, reason
}

// removeParameter removes a parameter the entry is on, and every $ref to
// it when it is a component (last first, so the indices stay right).
func removeParameter(a assumptions.Assumption) []Edit {
	var edits []Edit
	refs := slices.Clone(a.Refs)
	slices.SortFunc(refs, func(x, y string) int {
		px, ix := parentIndex(x)
		py, iy := parentIndex(y)
		if px != py {
			return strings.Compare(px, py)
		}
		return iy - ix
	})
	for _, r := range refs {
		edits = append(edits, Edit{Op: "remove", Path: r})
	}
	return append(edits, Edit{Op: "remove", Path: a.Source.Pointer})
}

func parentIndex(p string) (string, int) {
	i := strings.LastIndex(p, "/")
	n, _ := strconv.Atoi(p[i+1:])
	return p[:i], n
}

// checkPatch derives the edit a failed check implies for its schema.
func checkPatch(a assumptions.Assumption, c checkObservation) ([]Edit, string) {
	s := c.check.Schema
	switch {
	case c.fhirType != "":
		file := "fhir-r4.json"
		if fi, ok := access.FamilyByID(a.Family); ok && fi.FHIRVersion == "stu3" {
			file = "fhir-stu3.json"
		}
		return []Edit{{Op: "replace", Path: s, Value: mustJSON(map[string]string{"$ref": file + "#/components/schemas/" + c.fhirType})}},
			fmt.Sprintf("%s is a %s", c.check.Path, c.fhirType)
	case c.absent:
		parent, name := schemaParent(s)
		if parent == "" {
			return []Edit{{Op: "remove", Path: s}}, fmt.Sprintf("%s is absent", c.check.Path)
		}
		declared := declaredProperties(a.Source.File, parent)
		var fresh []string
		for _, k := range c.siblings {
			if k != "(key)" && k != name && !slices.Contains(declared, k) {
				fresh = append(fresh, k)
			}
		}
		if len(fresh) == 1 {
			return []Edit{{Op: "move", From: s, Path: parent + "/properties/" + escape(fresh[0])}},
				fmt.Sprintf("%s is absent and %s, which the document does not declare, is there instead", c.check.Path, fresh[0])
		}
		return []Edit{{Op: "remove", Path: s}}, fmt.Sprintf("%s is absent", c.check.Path)
	case len(c.types) == 1 && c.types[0] == "null":
		return []Edit{{Op: "add", Path: s + "/nullable", Value: json.RawMessage("true")}}, fmt.Sprintf("%s is null", c.check.Path)
	case len(c.types) == 1 && c.types[0] != c.check.Type && c.check.Type != "":
		return []Edit{{Op: "add", Path: s + "/type", Value: mustJSON(c.types[0])}},
			fmt.Sprintf("%s is a %s, not a %s", c.check.Path, c.types[0], c.check.Type)
	case c.check.Type == "" && len(c.types) == 1:
		return nil, ""
	}
	return nil, fmt.Sprintf("%s does not hold what the document says; no patch derived", c.check.Path)
}

// schemaParent splits ".../properties/name" into the object schema and the
// property name.
func schemaParent(ptr string) (string, string) {
	i := strings.LastIndex(ptr, "/properties/")
	if i < 0 {
		return "", ""
	}
	return ptr[:i], unescape(ptr[i+len("/properties/"):])
}

// declaredProperties reads the property names of an object schema in an
// embedded document.
func declaredProperties(file, ptr string) []string {
	n := yamlAt(file, ptr+"/properties")
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

// yamlAt reads the node at a pointer of an embedded document
// (api/openapi/*.yaml), nil when there is none.
func yamlAt(file, ptr string) *yaml.Node {
	dir, name := path.Split(file)
	if dir != "api/openapi/" {
		return nil
	}
	raw, err := openapi.FS.ReadFile(name)
	if err != nil {
		return nil
	}
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) != nil || len(root.Content) == 0 {
		return nil
	}
	n := root.Content[0]
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = unescape(tok)
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == tok {
					next = n.Content[i+1]
				}
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		default:
			return nil
		}
		for n != nil && n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n == nil {
			return nil
		}
	}
	return n
}

func fromTable(es []assumptions.Edit) []Edit {
	out := make([]Edit, len(es))
	for i, e := range es {
		out[i] = Edit{Op: e.Op, Path: e.Path, From: e.From}
		if e.Value != "" {
			out[i].Value = json.RawMessage(e.Value)
		}
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

func unescape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
}

// ApplyPatch applies edits to the data of a YAML document (comments and
// layout are not kept) and returns the result, or the first edit that does
// not apply. pkb verify uses it to check a patch, never to write one.
func ApplyPatch(doc []byte, edits []Edit) (any, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	for i, e := range edits {
		var err error
		switch e.Op {
		case "add", "replace":
			var val any
			if err = json.Unmarshal(e.Value, &val); err == nil {
				v, err = setAt(v, e.Path, val, e.Op == "replace")
			}
		case "remove":
			v, _, err = removeAt(v, e.Path)
		case "move", "copy":
			var val any
			if e.Op == "move" {
				v, val, err = removeAt(v, e.From)
			} else {
				val, err = getAt(v, e.From)
			}
			if err == nil {
				v, err = setAt(v, e.Path, val, false)
			}
		default:
			err = fmt.Errorf("unknown op %q", e.Op)
		}
		if err != nil {
			return nil, fmt.Errorf("edit %d (%s %s): %w", i+1, e.Op, e.Path, err)
		}
	}
	return v, nil
}

func tokens(ptr string) ([]string, error) {
	if ptr == "" {
		return nil, nil
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, fmt.Errorf("pointer %q does not start with /", ptr)
	}
	toks := strings.Split(ptr[1:], "/")
	for i := range toks {
		toks[i] = unescape(toks[i])
	}
	return toks, nil
}

func getAt(v any, ptr string) (any, error) {
	toks, err := tokens(ptr)
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		switch x := v.(type) {
		case map[string]any:
			e, ok := x[t]
			if !ok {
				return nil, fmt.Errorf("no member %q", t)
			}
			v = e
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("no element %q", t)
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("%q is below a scalar", t)
		}
	}
	return v, nil
}

// setAt adds (or, with mustExist, replaces) the value at ptr.
func setAt(root any, ptr string, val any, mustExist bool) (any, error) {
	toks, err := tokens(ptr)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return val, nil
	}
	parentPtr := ptr[:strings.LastIndex(ptr, "/")]
	parent, err := getAt(root, parentPtr)
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	switch x := parent.(type) {
	case map[string]any:
		if _, ok := x[last]; mustExist && !ok {
			return nil, fmt.Errorf("no member %q to replace", last)
		}
		x[last] = val
	case []any:
		i, err := strconv.Atoi(last)
		if last == "-" {
			i, err = len(x), nil
		}
		if err != nil || i < 0 || i > len(x) || (mustExist && i == len(x)) {
			return nil, fmt.Errorf("no element %q", last)
		}
		if mustExist {
			x[i] = val
		} else {
			x = slices.Insert(x, i, val)
			return setAt(root, parentPtr, x, true)
		}
	default:
		return nil, fmt.Errorf("the parent of %q is a scalar", last)
	}
	return root, nil
}

func removeAt(root any, ptr string) (any, any, error) {
	toks, err := tokens(ptr)
	if err != nil || len(toks) == 0 {
		return nil, nil, fmt.Errorf("cannot remove %q", ptr)
	}
	parentPtr := ptr[:strings.LastIndex(ptr, "/")]
	parent, err := getAt(root, parentPtr)
	if err != nil {
		return nil, nil, err
	}
	last := toks[len(toks)-1]
	switch x := parent.(type) {
	case map[string]any:
		v, ok := x[last]
		if !ok {
			return nil, nil, fmt.Errorf("no member %q", last)
		}
		delete(x, last)
		return root, v, nil
	case []any:
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i >= len(x) {
			return nil, nil, fmt.Errorf("no element %q", last)
		}
		v := x[i]
		root, err = setAt(root, parentPtr, slices.Delete(slices.Clone(x), i, i+1), true)
		return root, v, err
	}
	return nil, nil, fmt.Errorf("the parent of %q is a scalar", last)
}
