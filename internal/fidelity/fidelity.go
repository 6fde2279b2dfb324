// Package fidelity checks that FHIR JSON survives a decode into the generated
// models and an encode back: same keys, values, array order and decimal digits.
package fidelity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Diff returns the differences between two JSON documents as "path: what"
// lines, comparing numbers by their literal digits (105.00 is not 105) and
// objects by key set, so a field dropped or invented by the models shows up.
func Diff(want, got []byte) ([]string, error) {
	w, err := decode(want)
	if err != nil {
		return nil, fmt.Errorf("want: %w", err)
	}
	g, err := decode(got)
	if err != nil {
		return nil, fmt.Errorf("got: %w", err)
	}
	var out []string
	diff("$", w, g, &out)
	return out, nil
}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func diff(path string, want, got any, out *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: want object, got %s", path, kind(got)))
			return
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			gv, ok := g[k]
			if !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			diff(path+"."+k, w[k], gv, out)
		}
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[k]; !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: unexpected %s", path, k, kind(g[k])))
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: want array, got %s", path, kind(got)))
			return
		}
		if len(w) != len(g) {
			*out = append(*out, fmt.Sprintf("%s: want %d items, got %d", path, len(w), len(g)))
			return
		}
		for i := range w {
			diff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], out)
		}
	case json.Number:
		if g, ok := got.(json.Number); !ok || g != w {
			*out = append(*out, fmt.Sprintf("%s: want number %s, got %s", path, w, short(got)))
		}
	default:
		if want != got {
			*out = append(*out, fmt.Sprintf("%s: want %s, got %s", path, short(want), short(got)))
		}
	}
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func short(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}
