// Package fastjson decodes JSON exactly as encoding/json does, with the Go
// team's encoding/json/v2 implementation (github.com/go-json-experiment/json,
// the code behind GOEXPERIMENT=jsonv2), which is markedly faster on the
// generated FHIR models' wide structs.
package fastjson

import (
	"encoding/json"
	"fmt"
	"io"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// options select encoding/json's (v1) semantics. encoding/json.Number, which
// the models use for decimals, is not a type that package knows, so it is
// taught here: the number's literal is kept, digits and all (105.00 stays
// 105.00), and null leaves it empty, as encoding/json does.
var options = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv2.WithUnmarshalers(
	jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, n *json.Number) error {
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		switch v.Kind() {
		case '0':
			*n = json.Number(v)
		case 'n':
		default:
			return fmt.Errorf("want a JSON number for a decimal, got %s", v.Kind())
		}
		return nil
	})))

// Unmarshal decodes data into v.
func Unmarshal(data []byte, v any) error { return jsonv2.Unmarshal(data, v, options) }

// UnmarshalRead decodes the whole of r into v.
func UnmarshalRead(r io.Reader, v any) error { return jsonv2.UnmarshalRead(r, v, options) }
