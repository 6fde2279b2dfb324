package fhirschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// minimal is a valid schema in HL7's shape: two primitives, a data type with
// an extension sibling, a resource and the ResourceList union.
const minimal = `{
 "$schema": "http://json-schema.org/draft-06/schema#",
 "discriminator": {"propertyName": "resourceType"},
 "oneOf": [{"$ref": "#/definitions/Basic"}],
 "definitions": {
  "ResourceList": {"oneOf": [{"$ref": "#/definitions/Basic"}]},
  "string": {"pattern": "", "type": "string"},
  "decimal": {"pattern": "-?([0]|([1-9][0-9]*))(\\.[0-9]+)?", "type": "number"},
  "integer": {"pattern": "-?([0]|([1-9][0-9]*))", "type": "number"},
  "canonical": {"pattern": "", "type": "string"},
  "Element": {"description": "e", "additionalProperties": false, "properties": {"id": {"$ref": "#/definitions/string"}}},
  "Basic": {"description": "b", "additionalProperties": false, "required": ["resourceType", "code"], "properties": {
   "resourceType": {"description": "r", "const": "Basic"},
   "code": {"description": "c", "$ref": "#/definitions/string"},
   "_code": {"description": "x", "$ref": "#/definitions/Element"},
   "given": {"description": "g", "type": "array", "items": {"$ref": "#/definitions/string"}},
   "_given": {"description": "g", "type": "array", "items": {"$ref": "#/definitions/Element"}},
   "profile": {"description": "p", "type": "array", "items": {"$ref": "#/definitions/canonical"}},
   "amount": {"description": "a", "$ref": "#/definitions/decimal"},
   "valueInteger": {"description": "v", "pattern": "-?([0]|([1-9][0-9]*))", "type": "number"},
   "status": {"description": "s", "enum": ["a", "b"]}
  }}
 }
}`

func schemas(t *testing.T, src string) map[string]map[string]any {
	t.Helper()
	out, err := Convert([]byte(src), Options{Title: "t", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	return doc.Components.Schemas
}

func prop(t *testing.T, s map[string]map[string]any, typ, name string) map[string]any {
	t.Helper()
	p, ok := s[typ]["properties"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("%s.%s missing", typ, name)
	}
	return p
}

func TestConvertRules(t *testing.T) {
	s := schemas(t, minimal)
	if _, ok := s["string"]; ok {
		t.Error("primitive definitions must be inlined, not emitted")
	}
	basic := s["Basic"]
	if basic["type"] != "object" {
		t.Error("rule 10: type object missing")
	}
	if req := basic["required"].([]any); len(req) != 1 || req[0] != "resourceType" {
		t.Errorf("rule 9: required = %v, want [resourceType]", req)
	}
	if rt := prop(t, s, "Basic", "resourceType"); rt["type"] != "string" || rt["enum"].([]any)[0] != "Basic" {
		t.Errorf("rule 6: const to enum: %v", rt)
	}
	if st := prop(t, s, "Basic", "status"); st["type"] != "string" {
		t.Errorf("rule 5: typeless enum: %v", st)
	}
	if a := prop(t, s, "Basic", "amount"); a["x-go-type"] != "json.Number" {
		t.Errorf("rule 3: decimal: %v", a)
	}
	if v := prop(t, s, "Basic", "valueInteger"); v["type"] != "integer" || v["format"] != "int32" {
		t.Errorf("rule 4: integer by regex: %v", v)
	}
	if c := prop(t, s, "Basic", "code"); c["type"] != "string" || c["x-go-type-skip-optional-pointer"] != true {
		t.Errorf("rule 8: string value: %v", c)
	}
	if x := prop(t, s, "Basic", "_code"); x["x-go-name"] != "CodeExt" || x["$ref"] != "#/components/schemas/Element" {
		t.Errorf("rule 7: extension sibling: %v", x)
	}
	if g := prop(t, s, "Basic", "_given"); g["x-go-type"] != "[]*Element" {
		t.Errorf("rule 7: array extension sibling keeps nulls: %v", g)
	}
	if p := prop(t, s, "Basic", "_profile"); p["x-go-name"] != "ProfileExt" {
		t.Errorf("missing sibling of a canonical array not added: %v", p)
	}
	rl := s["ResourceList"]
	if d := rl["discriminator"].(map[string]any); d["propertyName"] != "resourceType" || d["mapping"].(map[string]any)["Basic"] != "#/components/schemas/Basic" {
		t.Errorf("rule 11: ResourceList discriminator: %v", d)
	}
}

func TestConvertRefusesUnknownConstructs(t *testing.T) {
	cases := []struct {
		name, from, to, pointer string
	}{
		{"unknown keyword", `"status": {"description": "s", "enum": ["a", "b"]}`, `"status": {"description": "s", "enum": ["a"], "minLength": 1}`, "/definitions/Basic/properties/status/minLength"},
		{"unknown primitive", `"canonical": {"pattern": "", "type": "string"}`, `"integer64": {"pattern": "", "type": "string"}`, "/definitions/integer64"},
		{"number of unknown regex", `"valueInteger": {"description": "v", "pattern": "-?([0]|([1-9][0-9]*))"`, `"valueInteger": {"description": "v", "pattern": "[0-9]+"`, "/definitions/Basic/properties/valueInteger/pattern"},
		{"dangling reference", `"amount": {"description": "a", "$ref": "#/definitions/decimal"}`, `"amount": {"description": "a", "$ref": "#/definitions/Money"}`, "/definitions/Basic/properties/amount/$ref"},
		{"remote reference", `"amount": {"description": "a", "$ref": "#/definitions/decimal"}`, `"amount": {"description": "a", "$ref": "http://example.org/x.json"}`, "/definitions/Basic/properties/amount/$ref"},
		{"open object", `"Element": {"description": "e", "additionalProperties": false`, `"Element": {"description": "e", "additionalProperties": true`, "/definitions/Element/additionalProperties"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(minimal, c.from, c.to, 1)
			if src == minimal {
				t.Fatal("test case does not apply to the fixture")
			}
			if strings.Contains(c.to, "integer64") {
				src = strings.Replace(src, `{"$ref": "#/definitions/canonical"}`, `{"$ref": "#/definitions/string"}`, 1)
			}
			_, err := Convert([]byte(src), Options{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v", err)
			}
			if e.Pointer != c.pointer || e.Rule == "" {
				t.Errorf("pointer %q rule %q, want pointer %q", e.Pointer, e.Rule, c.pointer)
			}
		})
	}
	if _, err := Convert([]byte("{not json"), Options{}); err == nil {
		t.Error("malformed JSON accepted")
	}
}

func TestConvertIsDeterministic(t *testing.T) {
	src, err := os.ReadFile("../../api/openapi/source/stu3/fhir.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Convert(src, Options{Version: "3.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Convert(src, Options{Version: "3.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two conversions of the same schema differ")
	}
}
