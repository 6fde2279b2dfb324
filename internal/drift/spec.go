package drift

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Spec is the part of an OpenAPI 3 document that the coverage check reads:
// paths, operations, query parameters (with x-fhir-search) and
// x-fhir-operation. Local $refs to components/parameters and
// components/schemas are resolved; external $refs (the FHIR schema documents)
// are never needed, so a Spec parses from the document's bytes alone.
type Spec struct {
	paths map[string]*specPathItem
	order []string // path keys, sorted
}

type specDoc struct {
	OpenAPI    string                   `yaml:"openapi"`
	Paths      map[string]*specPathItem `yaml:"paths"`
	Components struct {
		Parameters map[string]*specParam  `yaml:"parameters"`
		Schemas    map[string]*specSchema `yaml:"schemas"`
	} `yaml:"components"`
}

type specPathItem struct {
	Parameters []*specParam `yaml:"parameters"`
	Get        *specOp      `yaml:"get"`
	Put        *specOp      `yaml:"put"`
	Post       *specOp      `yaml:"post"`
	Delete     *specOp      `yaml:"delete"`
	Patch      *specOp      `yaml:"patch"`
	Head       *specOp      `yaml:"head"`
	Options    *specOp      `yaml:"options"`
}

type specOp struct {
	OperationID    string       `yaml:"operationId"`
	Parameters     []*specParam `yaml:"parameters"`
	XFHIROperation string       `yaml:"x-fhir-operation"`
}

type specParam struct {
	Ref         string         `yaml:"$ref"`
	Name        string         `yaml:"name"`
	In          string         `yaml:"in"`
	Required    bool           `yaml:"required"`
	Style       string         `yaml:"style"`
	Explode     *bool          `yaml:"explode"`
	Schema      *specSchema    `yaml:"schema"`
	XFHIRSearch map[string]any `yaml:"x-fhir-search"`
}

type specSchema struct {
	Ref   string      `yaml:"$ref"`
	Type  string      `yaml:"type"`
	Enum  []any       `yaml:"enum"`
	Items *specSchema `yaml:"items"`
}

// ParseSpec decodes an OpenAPI 3 document (YAML or JSON) for the coverage
// check. It fails on documents that are not OpenAPI 3, have no paths, or hold
// a local $ref that does not resolve.
func ParseSpec(raw []byte) (*Spec, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, errors.New("spec is empty")
	}
	var d specDoc
	if err := yaml.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("spec is not a YAML/JSON OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		return nil, fmt.Errorf("spec: openapi is %q, want an OpenAPI 3.x document", d.OpenAPI)
	}
	if len(d.Paths) == 0 {
		return nil, errors.New("spec has no paths")
	}
	s := &Spec{paths: d.Paths}
	for p, item := range d.Paths {
		if item == nil {
			return nil, fmt.Errorf("spec: path %s is empty", p)
		}
		s.order = append(s.order, p)
		if err := d.resolveParams(item.Parameters, p); err != nil {
			return nil, err
		}
		for m, op := range item.operations() {
			if err := d.resolveParams(op.Parameters, m+" "+p); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(s.order)
	return s, nil
}

func (d *specDoc) resolveParams(params []*specParam, where string) error {
	for i, p := range params {
		if p == nil {
			return fmt.Errorf("spec: %s: empty parameter", where)
		}
		if p.Ref != "" {
			name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
			target := d.Components.Parameters[name]
			if !ok || target == nil {
				return fmt.Errorf("spec: %s: parameter $ref %q does not resolve", where, p.Ref)
			}
			params[i] = target
			p = target
		}
		s, err := d.resolveSchema(p.Schema, 0)
		if err != nil {
			return fmt.Errorf("spec: %s: parameter %s: %w", where, p.Name, err)
		}
		p.Schema = s
	}
	return nil
}

func (d *specDoc) resolveSchema(s *specSchema, depth int) (*specSchema, error) {
	if s == nil {
		return nil, nil
	}
	if depth > 32 {
		return nil, errors.New("schema $ref cycle")
	}
	if s.Ref != "" {
		name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
		if !ok {
			return s, nil // external: FHIR schema documents, not needed here
		}
		target := d.Components.Schemas[name]
		if target == nil {
			return nil, fmt.Errorf("schema $ref %q does not resolve", s.Ref)
		}
		return d.resolveSchema(target, depth+1)
	}
	items, err := d.resolveSchema(s.Items, depth+1)
	if err != nil {
		return nil, err
	}
	s.Items = items
	return s, nil
}

// operations returns the item's operations by upper-case method.
func (it *specPathItem) operations() map[string]*specOp {
	out := map[string]*specOp{}
	for m, op := range map[string]*specOp{"GET": it.Get, "PUT": it.Put, "POST": it.Post, "DELETE": it.Delete,
		"PATCH": it.Patch, "HEAD": it.Head, "OPTIONS": it.Options} {
		if op != nil {
			out[m] = op
		}
	}
	return out
}

func (s *Spec) operation(path, method string) *specOp {
	item := s.paths[path]
	if item == nil {
		return nil
	}
	return item.operations()[method]
}

// queryParam finds a query parameter on the operation or its path item.
func (s *Spec) queryParam(path string, op *specOp, name string) *specParam {
	if op == nil {
		return nil
	}
	params := slices.Clone(op.Parameters)
	if item := s.paths[path]; item != nil {
		params = append(params, item.Parameters...)
	}
	for _, p := range params {
		if p != nil && p.In == "query" && p.Name == name {
			return p
		}
	}
	return nil
}

// hasResourcePath reports whether the spec has /Type or a path under /Type/.
func (s *Spec) hasResourcePath(typ string) bool {
	for _, p := range s.order {
		if p == "/"+typ || strings.HasPrefix(p, "/"+typ+"/") {
			return true
		}
	}
	return false
}

// schemaAllows reports whether value is in the enum of the schema or of its items.
func schemaAllows(s *specSchema, value string) bool {
	if s == nil {
		return false
	}
	if slices.Contains(s.Enum, any(value)) {
		return true
	}
	return s.Items != nil && slices.Contains(s.Items.Enum, any(value))
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
