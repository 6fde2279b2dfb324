// Package specdoc reads the parts of the project's OpenAPI documents that its
// generators and reports need: the info title and x-pkb-family block, paths,
// operations with their x-pkb-*, x-fhir-operation and x-fhir-interaction
// extensions, and parameters with x-fhir-search. Local $refs to
// components/parameters and components/schemas are resolved; external $refs
// (the FHIR schema documents) are never followed, so a document parses from
// its own bytes in milliseconds, where kin-openapi would load the
// multi-megabyte FHIR schemas.
package specdoc

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Doc is one parsed OpenAPI document.
type Doc struct {
	// Info is the document's info object.
	Info  Info
	paths map[string]*PathItem
	order []string // path keys, sorted
}

// Info is the part of the info object the tools read.
type Info struct {
	Title string `yaml:"title"`
	// Family is the x-pkb-family block, nil when the document has none.
	Family *Family `yaml:"x-pkb-family"`
}

// Family is the x-pkb-family block of an endpoint-family document
// (CONVENTIONS.md): what the generated family table says about it.
type Family struct {
	// ID names the family, e.g. "customer-stu3".
	ID string `yaml:"id"`
	// FHIRVersion is "stu3" or "r4"; empty for the non-FHIR REST API.
	FHIRVersion string `yaml:"fhirVersion"`
	// MediaType is the one media type of every body.
	MediaType string `yaml:"mediaType"`
	// EnvField names the authn.Environment field holding the base URL.
	EnvField string `yaml:"envField"`
	// GoPackage is the import path of the generated client package.
	GoPackage string `yaml:"goPackage"`
}

// familyKeys are the keys an x-pkb-family block may hold.
var familyKeys = []string{"id", "fhirVersion", "mediaType", "envField", "goPackage"}

// UnmarshalYAML refuses keys the block does not define, so that a misspelt
// key is an error instead of an empty value.
func (f *Family) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("x-pkb-family: line %d: want a mapping", n.Line)
	}
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(familyKeys, k) {
			return fmt.Errorf("x-pkb-family: line %d: unknown key %q (want %s)", n.Content[i].Line, k, strings.Join(familyKeys, ", "))
		}
	}
	type plain Family
	return n.Decode((*plain)(f))
}

// PathItem is one entry of paths.
type PathItem struct {
	// Parameters apply to every operation of the path.
	Parameters []*Param `yaml:"parameters"`
	Get        *Op      `yaml:"get"`
	Put        *Op      `yaml:"put"`
	Post       *Op      `yaml:"post"`
	Delete     *Op      `yaml:"delete"`
	Patch      *Op      `yaml:"patch"`
	Head       *Op      `yaml:"head"`
	Options    *Op      `yaml:"options"`
}

// Op is one operation.
type Op struct {
	OperationID string `yaml:"operationId"`
	// Summary is the operation's one-line summary.
	Summary    string   `yaml:"summary"`
	Parameters []*Param `yaml:"parameters"`
	// Access is x-pkb-access: who may call the operation.
	Access []string `yaml:"x-pkb-access"`
	// ReadOnly is x-pkb-read-only: a POST that changes nothing.
	ReadOnly bool `yaml:"x-pkb-read-only"`
	// FHIROperation is x-fhir-operation: the FHIR operation name, if any.
	FHIROperation string `yaml:"x-fhir-operation"`
	// FHIRInteraction is x-fhir-interaction: the FHIR interaction, where it
	// cannot be derived from the method and path.
	FHIRInteraction string `yaml:"x-fhir-interaction"`
	// TypedCall is x-pkb-typed-call: "handwritten" when package wrappers
	// defines the operation's typed call by hand (because its answer needs
	// more than a decode, e.g. a secret to keep out of logs), so opsgen
	// generates none.
	TypedCall string `yaml:"x-pkb-typed-call"`
}

// Param is one parameter, its $ref resolved.
type Param struct {
	Ref      string  `yaml:"$ref"`
	Name     string  `yaml:"name"`
	In       string  `yaml:"in"`
	Required bool    `yaml:"required"`
	Style    string  `yaml:"style"`
	Explode  *bool   `yaml:"explode"`
	Schema   *Schema `yaml:"schema"`
	// FHIRSearch is the x-fhir-search extension, as decoded YAML.
	FHIRSearch map[string]any `yaml:"x-fhir-search"`
}

// Schema is the part of a parameter schema the tools read.
type Schema struct {
	Ref   string  `yaml:"$ref"`
	Type  string  `yaml:"type"`
	Enum  []any   `yaml:"enum"`
	Items *Schema `yaml:"items"`
}

type rawDoc struct {
	OpenAPI    string               `yaml:"openapi"`
	Info       Info                 `yaml:"info"`
	Paths      map[string]*PathItem `yaml:"paths"`
	Components struct {
		Parameters map[string]*Param  `yaml:"parameters"`
		Schemas    map[string]*Schema `yaml:"schemas"`
	} `yaml:"components"`
}

// Methods lists the HTTP methods in the order operations are reported.
var Methods = []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"}

// Parse decodes an OpenAPI 3 document (YAML or JSON). It fails on documents
// that are not OpenAPI 3, have no paths, or hold a local $ref that does not
// resolve.
func Parse(raw []byte) (*Doc, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, errors.New("spec is empty")
	}
	var d rawDoc
	if err := yaml.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("spec is not a YAML/JSON OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		return nil, fmt.Errorf("spec: openapi is %q, want an OpenAPI 3.x document", d.OpenAPI)
	}
	if len(d.Paths) == 0 {
		return nil, errors.New("spec has no paths")
	}
	doc := &Doc{Info: d.Info, paths: d.Paths}
	for p, item := range d.Paths {
		if item == nil {
			return nil, fmt.Errorf("spec: path %s is empty", p)
		}
		doc.order = append(doc.order, p)
		if err := d.resolveParams(item.Parameters, p); err != nil {
			return nil, err
		}
		for m, op := range item.Operations() {
			if err := d.resolveParams(op.Parameters, m+" "+p); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(doc.order)
	return doc, nil
}

func (d *rawDoc) resolveParams(params []*Param, where string) error {
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

func (d *rawDoc) resolveSchema(s *Schema, depth int) (*Schema, error) {
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

// Paths returns the path templates, sorted.
func (d *Doc) Paths() []string { return d.order }

// Item returns the path item for a template, or nil.
func (d *Doc) Item(path string) *PathItem { return d.paths[path] }

// Operations returns the item's operations by upper-case method.
func (it *PathItem) Operations() map[string]*Op {
	out := map[string]*Op{}
	for m, op := range map[string]*Op{"GET": it.Get, "PUT": it.Put, "POST": it.Post, "DELETE": it.Delete,
		"PATCH": it.Patch, "HEAD": it.Head, "OPTIONS": it.Options} {
		if op != nil {
			out[m] = op
		}
	}
	return out
}

// Operation returns the operation at path and method, or nil.
func (d *Doc) Operation(path, method string) *Op {
	item := d.paths[path]
	if item == nil {
		return nil
	}
	return item.Operations()[method]
}

// Params returns the parameters of op at path: its own, then the path's.
func (d *Doc) Params(path string, op *Op) []*Param {
	params := slices.Clone(op.Parameters)
	if item := d.paths[path]; item != nil {
		params = append(params, item.Parameters...)
	}
	return params
}

// QueryParam finds a query parameter on the operation or its path item.
func (d *Doc) QueryParam(path string, op *Op, name string) *Param {
	if op == nil {
		return nil
	}
	for _, p := range d.Params(path, op) {
		if p != nil && p.In == "query" && p.Name == name {
			return p
		}
	}
	return nil
}
