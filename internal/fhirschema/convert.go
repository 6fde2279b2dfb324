// Package fhirschema converts HL7's FHIR JSON Schema (draft-06, as published
// in fhir.schema.json) into an OpenAPI 3.0.3 document holding only
// components/schemas, shaped so that oapi-codegen produces lossless,
// idiomatic Go models.
//
// The rules are the ones proven in the project's codegen study
// (shared/design/CODEGEN.md §5). Every schema construct the converter does
// not know is refused with an error naming the JSON pointer and the rule,
// because a silently accepted construct becomes interface{} in Go.
package fhirschema

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// Error reports a schema construct the converter refuses, with the JSON
// pointer into the source document and the rule that applies.
type Error struct {
	Pointer string
	Rule    string
	Detail  string
}

// Error reads "pointer: rule: detail".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Pointer, e.Rule, e.Detail)
}

// Options describe the output document.
type Options struct {
	// Title and Description go into the OpenAPI info object.
	Title       string
	Description string
	// Version is the info.version, e.g. the FHIR version "3.0.1".
	Version string
}

// numeric primitive families, told apart by the pattern HL7 gives them:
// the JSON Schema types every one of them as "number".
const (
	kindString  = "string"
	kindBoolean = "boolean"
	kindInteger = "integer"
	kindDecimal = "decimal"
)

// primitives maps each FHIR primitive type name to its Go-facing kind. A
// lower-case definition that is not listed here is refused: a new FHIR
// version may add primitives, and guessing their wire form is how data is lost.
var primitives = map[string]string{
	"base64Binary": kindString, "canonical": kindString, "code": kindString,
	"date": kindString, "dateTime": kindString, "id": kindString,
	"instant": kindString, "markdown": kindString, "oid": kindString,
	"string": kindString, "time": kindString, "uri": kindString,
	"url": kindString, "uuid": kindString, "xhtml": kindString,
	"boolean":     kindBoolean,
	"decimal":     kindDecimal,
	"integer":     kindInteger,
	"positiveInt": kindInteger,
	"unsignedInt": kindInteger,
}

type converter struct {
	defs map[string]map[string]any
	// numberPatterns maps the regex of each numeric primitive to its kind, so
	// inline choice-type numbers (valueInteger, valueDecimal) can be typed.
	numberPatterns map[string]string
}

// Convert turns the bytes of an HL7 fhir.schema.json into the bytes of an
// OpenAPI 3.0.3 document. The output is deterministic: keys are sorted and
// arrays keep the source order.
func Convert(src []byte, opts Options) ([]byte, error) {
	var root map[string]any
	dec := json.NewDecoder(strings.NewReader(string(src)))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, &Error{Pointer: "", Rule: "input", Detail: "not a JSON object: " + err.Error()}
	}
	for k := range root {
		switch k {
		case "$schema", "id", "$id", "description", "discriminator", "oneOf", "definitions":
		default:
			return nil, &Error{Pointer: ptr("", k), Rule: "top-level keywords", Detail: fmt.Sprintf("unknown keyword %q", k)}
		}
	}
	rawDefs, ok := root["definitions"].(map[string]any)
	if !ok || len(rawDefs) == 0 {
		return nil, &Error{Pointer: "/definitions", Rule: "input", Detail: "no definitions object"}
	}
	c := &converter{defs: map[string]map[string]any{}, numberPatterns: map[string]string{}}
	for name, d := range rawDefs {
		m, ok := d.(map[string]any)
		if !ok {
			return nil, &Error{Pointer: ptr("/definitions", name), Rule: "definition", Detail: "not an object"}
		}
		c.defs[name] = m
	}
	if err := c.indexPrimitives(); err != nil {
		return nil, err
	}

	schemas := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(c.defs)) {
		if isPrimitiveName(name) {
			continue // inlined at every use (rule 3)
		}
		p := ptr("/definitions", name)
		var out map[string]any
		var err error
		if name == "ResourceList" {
			out, err = c.resourceList(p, c.defs[name])
		} else {
			out, err = c.complexType(p, c.defs[name])
		}
		if err != nil {
			return nil, err
		}
		schemas[name] = out
	}

	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       opts.Title,
			"version":     opts.Version,
			"description": opts.Description,
		},
		"paths":      map[string]any{},
		"components": map[string]any{"schemas": schemas},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func isPrimitiveName(name string) bool {
	return name != "" && unicode.IsLower(rune(name[0]))
}

func (c *converter) indexPrimitives() error {
	for name, def := range c.defs {
		if !isPrimitiveName(name) {
			continue
		}
		p := ptr("/definitions", name)
		kind, ok := primitives[name]
		if !ok {
			return &Error{Pointer: p, Rule: "primitive types", Detail: fmt.Sprintf("unknown FHIR primitive %q; add it to the primitive table with its JSON form", name)}
		}
		for k := range def {
			if k != "description" && k != "type" && k != "pattern" {
				return &Error{Pointer: ptr(p, k), Rule: "primitive types", Detail: fmt.Sprintf("unknown keyword %q", k)}
			}
		}
		typ, _ := def["type"].(string)
		want := map[string]string{kindString: "string", kindBoolean: "boolean", kindInteger: "number", kindDecimal: "number"}[kind]
		if typ != want && !(name == "xhtml" && typ == "") {
			return &Error{Pointer: ptr(p, "type"), Rule: "primitive types", Detail: fmt.Sprintf("%s has JSON type %q, expected %q", name, typ, want)}
		}
		if typ == "number" {
			pat, _ := def["pattern"].(string)
			if pat == "" {
				return &Error{Pointer: p, Rule: "integer vs decimal by regex", Detail: "numeric primitive without a pattern"}
			}
			c.numberPatterns[pat] = kind
		}
	}
	return nil
}

// complexType converts a data type, backbone element or resource.
func (c *converter) complexType(p string, def map[string]any) (map[string]any, error) {
	out := map[string]any{"type": "object"} // rule 10
	var props map[string]any
	for k, v := range def {
		switch k {
		case "description":
			out["description"] = v
		case "additionalProperties":
			if v != false {
				return nil, &Error{Pointer: ptr(p, k), Rule: "closed objects", Detail: "only additionalProperties:false is known"}
			}
			out[k] = false
		case "properties":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, &Error{Pointer: ptr(p, k), Rule: "properties", Detail: "not an object"}
			}
			props = m
		case "required":
			// rule 9: FHIR's cardinality 1..1 elements are often absent in
			// real data (PKB's own CapabilityStatement omits some); only the
			// resourceType discriminator stays required.
			list, ok := v.([]any)
			if !ok {
				return nil, &Error{Pointer: ptr(p, k), Rule: "required", Detail: "not an array"}
			}
			if slices.Contains(list, any("resourceType")) {
				out["required"] = []any{"resourceType"}
			}
		default:
			return nil, &Error{Pointer: ptr(p, k), Rule: "complex types", Detail: fmt.Sprintf("unknown keyword %q", k)}
		}
	}
	if props == nil {
		return nil, &Error{Pointer: p, Rule: "complex types", Detail: "definition without properties"}
	}
	outProps := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		pp := ptr(ptr(p, "properties"), name)
		sch, ok := props[name].(map[string]any)
		if !ok {
			return nil, &Error{Pointer: pp, Rule: "properties", Detail: "not an object"}
		}
		conv, err := c.property(pp, name, sch)
		if err != nil {
			return nil, err
		}
		outProps[name] = conv
	}
	if err := c.addMissingSiblings(p, props, outProps); err != nil {
		return nil, err
	}
	out["properties"] = outProps
	return out, nil
}

// addMissingSiblings gives every primitive element its `_field` sibling.
// FHIR's JSON format allows one on any primitive, but HL7's R4 schema leaves
// it out for canonical elements (ElementDefinition.type._profile appears in
// HL7's own examples), and a missing property is dropped on decode. Element
// ids and the xhtml div are attributes in FHIR's model and take no sibling.
func (c *converter) addMissingSiblings(p string, props, outProps map[string]any) error {
	for _, name := range slices.Sorted(maps.Keys(props)) {
		if strings.HasPrefix(name, "_") || name == "id" || props["_"+name] != nil {
			continue
		}
		s, _ := props[name].(map[string]any)
		ref, _ := s["$ref"].(string)
		isArray := false
		if items, ok := s["items"].(map[string]any); ok {
			ref, _ = items["$ref"].(string)
			isArray = true
		}
		prim, ok := strings.CutPrefix(ref, "#/definitions/")
		if !ok || !isPrimitiveName(prim) || prim == "xhtml" {
			continue
		}
		sib := map[string]any{"$ref": "#/definitions/Element"}
		if isArray {
			sib = map[string]any{"type": "array", "items": sib}
		}
		conv, err := c.extensionSibling(ptr(ptr(p, "properties"), "_"+name), "_"+name, sib)
		if err != nil {
			return err
		}
		outProps["_"+name] = conv
	}
	return nil
}

// property converts one element of a complex type.
func (c *converter) property(p, name string, s map[string]any) (map[string]any, error) {
	if strings.HasPrefix(name, "_") {
		return c.extensionSibling(p, name, s)
	}
	if err := only(p, s, "element", "description", "$ref", "type", "items", "enum", "const", "pattern"); err != nil {
		return nil, err
	}
	if s["type"] == "array" {
		items, ok := s["items"].(map[string]any)
		if !ok {
			return nil, &Error{Pointer: p, Rule: "arrays", Detail: "array without an items object"}
		}
		it, err := c.value(ptr(p, "items"), items)
		if err != nil {
			return nil, err
		}
		delete(it, "x-go-type-skip-optional-pointer")
		out := map[string]any{"type": "array", "items": it}
		copyDescription(out, s)
		return out, nil
	}
	if _, ok := s["items"]; ok {
		return nil, &Error{Pointer: ptr(p, "items"), Rule: "arrays", Detail: "items on a non-array"}
	}
	out, err := c.value(p, s)
	if err != nil {
		return nil, err
	}
	copyDescription(out, s)
	return out, nil
}

// value converts a single (non-array) schema: a reference, an inline
// primitive, an enum or a const.
func (c *converter) value(p string, s map[string]any) (map[string]any, error) {
	if err := only(p, s, "value", "description", "$ref", "type", "enum", "const", "pattern"); err != nil {
		return nil, err
	}
	if ref, ok := s["$ref"].(string); ok {
		if len(s) > 2 || (len(s) == 2 && s["description"] == nil) {
			return nil, &Error{Pointer: p, Rule: "$ref siblings", Detail: "only description may sit beside $ref"}
		}
		return c.ref(p, ref)
	}
	if v, ok := s["const"]; ok { // rule 6
		str, ok := v.(string)
		if !ok {
			return nil, &Error{Pointer: ptr(p, "const"), Rule: "const to enum", Detail: "non-string const"}
		}
		return map[string]any{"type": "string", "enum": []any{str}}, nil
	}
	if e, ok := s["enum"]; ok { // rule 5
		list, ok := e.([]any)
		if !ok || len(list) == 0 {
			return nil, &Error{Pointer: ptr(p, "enum"), Rule: "typeless enums", Detail: "enum must be a non-empty array"}
		}
		for i, v := range list {
			if _, ok := v.(string); !ok {
				return nil, &Error{Pointer: ptr(ptr(p, "enum"), fmt.Sprint(i)), Rule: "typeless enums", Detail: "non-string enum value"}
			}
		}
		if t, ok := s["type"]; ok && t != "string" {
			return nil, &Error{Pointer: ptr(p, "type"), Rule: "typeless enums", Detail: "enum of a non-string type"}
		}
		return map[string]any{"type": "string", "enum": list, "x-go-type-skip-optional-pointer": true}, nil
	}
	switch s["type"] {
	case "string":
		return primitiveSchema(kindString), nil
	case "boolean":
		return primitiveSchema(kindBoolean), nil
	case "number": // rule 4: an inline choice-type primitive, typed by its regex
		pat, _ := s["pattern"].(string)
		kind, ok := c.numberPatterns[pat]
		if !ok {
			return nil, &Error{Pointer: ptr(p, "pattern"), Rule: "integer vs decimal by regex", Detail: fmt.Sprintf("pattern %q matches no numeric FHIR primitive", pat)}
		}
		return primitiveSchema(kind), nil
	}
	return nil, &Error{Pointer: p, Rule: "values", Detail: fmt.Sprintf("unknown schema shape with type %v", s["type"])}
}

func (c *converter) ref(p, ref string) (map[string]any, error) {
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	if !ok {
		return nil, &Error{Pointer: ptr(p, "$ref"), Rule: "local references", Detail: fmt.Sprintf("only #/definitions/ references are known, got %q", ref)}
	}
	if _, ok := c.defs[name]; !ok {
		return nil, &Error{Pointer: ptr(p, "$ref"), Rule: "local references", Detail: fmt.Sprintf("dangling reference %q", ref)}
	}
	if isPrimitiveName(name) { // rule 3
		return primitiveSchema(primitives[name]), nil
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}, nil
}

// extensionSibling converts a `_field` property, which carries the id and
// extensions of the primitive `field` (rules 6 and 7).
func (c *converter) extensionSibling(p, name string, s map[string]any) (map[string]any, error) {
	if err := only(p, s, "extension sibling", "description", "$ref", "type", "items"); err != nil {
		return nil, err
	}
	base := strings.TrimPrefix(name, "_")
	goName := exportedName(base) + "Ext"
	if s["type"] == "array" {
		items, _ := s["items"].(map[string]any)
		if items["$ref"] != "#/definitions/Element" || len(items) != 1 {
			return nil, &Error{Pointer: ptr(p, "items"), Rule: "extension siblings", Detail: "an array extension sibling must hold Element items"}
		}
		// []*Element keeps JSON nulls, which align the extensions with the
		// primitive array's positions (FHIR ele-1); []Element would turn them into {}.
		out := map[string]any{
			"type":                            "array",
			"items":                           map[string]any{"$ref": "#/components/schemas/Element"},
			"x-go-name":                       goName,
			"x-go-type":                       "[]*Element",
			"x-go-type-skip-optional-pointer": true,
		}
		copyDescription(out, s)
		return out, nil
	}
	if s["$ref"] != "#/definitions/Element" {
		return nil, &Error{Pointer: p, Rule: "extension siblings", Detail: "an extension sibling must reference Element"}
	}
	// oapi-codegen honours x-go-name beside a $ref, so the field stays a
	// pointer to the shared Element type, named BirthDateExt, not UnderscoreBirthDate.
	out := map[string]any{"$ref": "#/components/schemas/Element", "x-go-name": goName}
	return out, nil
}

// resourceList turns HL7's ResourceList (a oneOf of every resource) into a
// discriminated union on resourceType (rule 11).
func (c *converter) resourceList(p string, def map[string]any) (map[string]any, error) {
	if err := only(p, def, "ResourceList", "oneOf", "description"); err != nil {
		return nil, err
	}
	list, ok := def["oneOf"].([]any)
	if !ok || len(list) == 0 {
		return nil, &Error{Pointer: ptr(p, "oneOf"), Rule: "ResourceList union", Detail: "oneOf must be a non-empty array"}
	}
	var oneOf []any
	mapping := map[string]any{}
	for i, item := range list {
		ip := ptr(ptr(p, "oneOf"), fmt.Sprint(i))
		m, _ := item.(map[string]any)
		ref, _ := m["$ref"].(string)
		name, ok := strings.CutPrefix(ref, "#/definitions/")
		if !ok || len(m) != 1 {
			return nil, &Error{Pointer: ip, Rule: "ResourceList union", Detail: "each member must be a single #/definitions/ reference"}
		}
		def, ok := c.defs[name]
		if !ok {
			return nil, &Error{Pointer: ip, Rule: "ResourceList union", Detail: fmt.Sprintf("dangling reference %q", ref)}
		}
		props, _ := def["properties"].(map[string]any)
		rt, _ := props["resourceType"].(map[string]any)
		if rt["const"] != name {
			return nil, &Error{Pointer: ip, Rule: "ResourceList union", Detail: fmt.Sprintf("%s has no resourceType const %q", name, name)}
		}
		target := "#/components/schemas/" + name
		oneOf = append(oneOf, map[string]any{"$ref": target})
		mapping[name] = target
	}
	return map[string]any{
		"description":   "Any FHIR resource, told apart by resourceType.",
		"oneOf":         oneOf,
		"discriminator": map[string]any{"propertyName": "resourceType", "mapping": mapping},
	}, nil
}

func primitiveSchema(kind string) map[string]any {
	switch kind {
	case kindBoolean:
		// a pointer, so that false survives a round trip
		return map[string]any{"type": "boolean"}
	case kindInteger:
		return map[string]any{"type": "integer", "format": "int32"}
	case kindDecimal:
		// json.Number keeps the decimal's digits (105.00 stays 105.00);
		// FHIR forbids empty values, so omitempty loses nothing.
		return map[string]any{"type": "number", "x-go-type": "json.Number", "x-go-type-skip-optional-pointer": true}
	default:
		// FHIR forbids "", so a plain string with omitempty loses nothing (rule 8)
		return map[string]any{"type": "string", "x-go-type-skip-optional-pointer": true}
	}
}

func copyDescription(out, s map[string]any) {
	if d, ok := s["description"]; ok {
		out["description"] = d
	}
}

func only(p string, s map[string]any, rule string, allowed ...string) error {
	for _, k := range slices.Sorted(maps.Keys(s)) {
		if !slices.Contains(allowed, k) {
			return &Error{Pointer: ptr(p, k), Rule: rule, Detail: fmt.Sprintf("unknown keyword %q", k)}
		}
	}
	return nil
}

func exportedName(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ptr appends one escaped token to a JSON pointer (RFC 6901).
func ptr(base, token string) string {
	token = strings.ReplaceAll(token, "~", "~0")
	token = strings.ReplaceAll(token, "/", "~1")
	return base + "/" + token
}
