// Package fastjson decodes JSON exactly as encoding/json does, with the Go
// team's encoding/json/v2 implementation (github.com/go-json-experiment/json,
// the code behind GOEXPERIMENT=jsonv2), which is markedly faster on the
// generated FHIR models' wide structs.
package fastjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// options select encoding/json's (v1) semantics. encoding/json.Number, which
// the models use for decimals, is not a type that package knows, so it is
// taught here what encoding/json does with one: a number's literal is kept,
// digits and all (105.00 stays 105.00); a string holding a valid number
// gives that number ("105.00" is 105.00), any other string is an error;
// null leaves it as it was; anything else is an error.
var options = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv2.WithUnmarshalers(
	jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, n *json.Number) error {
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		switch v.Kind() {
		case '0':
			*n = json.Number(v)
		case '"':
			s, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return err
			}
			if !validNumber(s) {
				return errors.New("a string that is not a valid number, for a decimal")
			}
			*n = json.Number(s)
		case 'n':
		default:
			return fmt.Errorf("want a JSON number for a decimal, got %s", v.Kind())
		}
		return nil
	})))

// validNumber reports whether s is a JSON number (RFC 8259 §6), as
// encoding/json's isValidNumber does.
func validNumber(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	if s[0] == '-' {
		if s = s[1:]; len(s) == 0 {
			return false
		}
	}
	digits := func() int {
		i := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		s = s[i:]
		return i
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		digits()
	default:
		return false
	}
	if len(s) > 0 && s[0] == '.' {
		s = s[1:]
		if digits() == 0 {
			return false
		}
	}
	if len(s) > 0 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		if digits() == 0 {
			return false
		}
	}
	return len(s) == 0
}

// Unmarshal decodes data into v.
func Unmarshal(data []byte, v any) error { return jsonv2.Unmarshal(data, v, options) }

// UnmarshalRead decodes the whole of r into v.
func UnmarshalRead(r io.Reader, v any) error { return jsonv2.UnmarshalRead(r, v, options) }
