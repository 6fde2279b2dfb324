package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/pkbgo/pkb/internal/redact"
)

// cleanValue is what safeJSON promises to produce, computed on decoded
// values: every string, member names included, with controls stripped and
// the secret redacted. ok is false when cleaning merges two member names,
// where the outcome depends on member order that a map does not keep.
func cleanValue(v any, red *redact.Redactor) (any, bool) {
	switch x := v.(type) {
	case string:
		return clean(red, x), true
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var ok bool
			if out[i], ok = cleanValue(e, red); !ok {
				return nil, false
			}
		}
		return out, true
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ck := clean(red, k)
			if _, dup := out[ck]; dup {
				return nil, false
			}
			ce, ok := cleanValue(e, red)
			if !ok {
				return nil, false
			}
			out[ck] = ce
		}
		return out, true
	}
	return v, true
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

// FuzzSafeJSON: for any JSON document, safeJSON yields JSON meaning the same
// with every string cleaned, whose bytes and decoded strings are safe for a
// terminal; anything else is refused.
func FuzzSafeJSON(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","id":"p1","name":[{"text":"\u001b]0;t\u0007x"}],"n":1.50e3,"b":true,"z":null}`), true)
	f.Add([]byte("\"\x9b31m \u009b \u202e\""), false)
	f.Add([]byte(`[[],{},[{}],"secret-token-1234"]`), true)
	f.Add([]byte(`{"a":1}{"b":2}`), true)
	f.Add([]byte(`{"a":1,"a\u0007":2}`), false)
	f.Add([]byte(`{"a" 1}`), true)
	red := redact.New("secret-token-1234")
	f.Fuzz(func(t *testing.T, doc []byte, indent bool) {
		out, err := safeJSON(doc, red, indent)
		if !json.Valid(doc) {
			if err == nil {
				t.Fatalf("accepted invalid JSON %q as %q", doc, out)
			}
			return
		}
		if err != nil {
			t.Fatalf("refused valid JSON %q: %v", doc, err)
		}
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 in %q", out)
		}
		for _, r := range string(out) {
			if (unicode.IsControl(r) && r != '\n') || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
				t.Fatalf("%U in %q", r, out)
			}
		}
		if !indent && bytes.ContainsRune(out, '\n') {
			t.Fatalf("one-line output has a newline: %q", out)
		}
		if bytes.Contains(out, []byte("secret-token-1234")) {
			t.Fatalf("secret in %q", out)
		}
		want, ok := cleanValue(decodeAny(t, doc), red)
		if !ok {
			return
		}
		if got := decodeAny(t, out); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q became %q:\n got %#v\nwant %#v", doc, out, got, want)
		}
	})
}
