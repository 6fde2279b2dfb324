package fastjson

import (
	"encoding/json"
	"testing"

	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// TestNumberFromString: encoding/json decodes a JSON string holding a valid
// number into a json.Number (the models' decimals), and refuses one that
// does not; fastjson must do exactly the same.
func TestNumberFromString(t *testing.T) {
	for _, v := range []string{
		`"105.00"`, `"-0.5e-3"`, `"0"`, `"\u0031\u0030"`, `"1E+2"`,
		`""`, `"abc"`, `"01"`, `" 1"`, `"1 "`, `"+1"`, `"-"`, `".5"`, `"1."`, `"1e"`, `"0x10"`, `"NaN"`, `"1\u0000"`,
		`105.00`, `null`, `true`, `{}`, `[]`, `"\ud800"`,
	} {
		in := []byte(`{"resourceType":"Observation","valueQuantity":{"value":` + v + `}}`)
		var want, got stu3.Observation
		werr := json.Unmarshal(in, &want)
		gerr := Unmarshal(in, &got)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: encoding/json error %v, fastjson error %v", v, werr, gerr)
			continue
		}
		if werr == nil && want.ValueQuantity.Value != got.ValueQuantity.Value {
			t.Errorf("%s: encoding/json %q, fastjson %q", v, want.ValueQuantity.Value, got.ValueQuantity.Value)
		}
		var want4, got4 r4.Observation
		if (json.Unmarshal(in, &want4) == nil) != (Unmarshal(in, &got4) == nil) || want4.ValueQuantity != nil && want4.ValueQuantity.Value != got4.ValueQuantity.Value {
			t.Errorf("%s: R4 disagrees", v)
		}
	}
}
