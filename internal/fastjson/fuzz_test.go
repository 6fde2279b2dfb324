package fastjson

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// models are the generated types the differential target decodes into.
var models = []func() any{
	func() any { return new(stu3.Bundle) },
	func() any { return new(stu3.Observation) },
	func() any { return new(stu3.Patient) },
	func() any { return new(r4.Bundle) },
	func() any { return new(r4.Observation) },
	func() any { return new(r4.Patient) },
}

// FuzzDifferential decodes the same bytes into the same generated model
// with encoding/json and with fastjson: both must fail, or both succeed
// with the same value (compared by encoding/json's re-encoding of each).
// A disagreement is a bug in fastjson's options, to be fixed there.
func FuzzDifferential(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Observation","valueQuantity":{"value":"105.00"}}`,
		`{"resourceType":"Observation","valueQuantity":{"value":105.00}}`,
		`{"resourceType":"Observation","valueQuantity":{"value":"1e"}}`,
		`{"resourceType":"Observation","valueQuantity":{"value":null}}`,
		`{"resourceType":"Observation","VALUEQUANTITY":{"Value":1},"status":"final","status":"amended"}`,
		`{"resourceType":"Patient","name":[{"given":["A\ud800","\u00e9"]}],"birthDate":"1970-01-01"}`,
		"{\"resourceType\":\"Patient\",\"id\":\"\xff\xfe\"}",
		`{"resourceType":"Patient","active":"true"}`,
		`{"resourceType":"Bundle","total":2147483648}`,
		`{"resourceType":"Bundle","total":1.0}`,
		`{"resourceType":"Bundle","entry":[null,{},{"resource":null},{"resource":{"resourceType":"Patient"}}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Nope"}}]}`,
		`{"resourceType":"Bundle","link":[{"relation":"next","url":"Observation?page=2"}]} `,
		`{"resourceType":"Observation","component":[{"valueQuantity":{"value":-0}}],"extension":[{"url":"x","valueDecimal":1.50}]}`,
		`[]`, `null`, `{}`, `{"resourceType":1}`, `{"resourceType":"Observation"} {}`,
	} {
		for k := range models {
			f.Add(uint8(k), []byte(s))
		}
	}
	for _, dir := range []string{"stu3", "r4"} {
		for _, pat := range []string{"Observation-*.json", "Patient-*.json", "Bundle-*.json"} {
			files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "fhir", dir, pat))
			for i, name := range files {
				if i >= 8 {
					break
				}
				if b, err := os.ReadFile(name); err == nil && len(b) < 8<<10 {
					k := map[string]uint8{"Bundle": 0, "Observation": 1, "Patient": 2}[filepath.Base(name)[:len(pat)-7]]
					if dir == "r4" {
						k += 3
					}
					f.Add(k, b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		newModel := models[int(kind)%len(models)]
		want, got := newModel(), newModel()
		werr := json.Unmarshal(data, want)
		gerr := Unmarshal(data, got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%T: encoding/json error %v, fastjson error %v on %q", want, werr, gerr, data)
		}
		if werr != nil {
			return
		}
		wb, wmerr := json.Marshal(want)
		gb, gmerr := json.Marshal(got)
		if (wmerr == nil) != (gmerr == nil) || !bytes.Equal(wb, gb) {
			t.Fatalf("%T: decoded differently from %q:\nencoding/json: %s (%v)\nfastjson:      %s (%v)", want, data, wb, wmerr, gb, gmerr)
		}
	})
}
