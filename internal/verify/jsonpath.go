package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pkbgo/pkb/internal/assumptions"
)

// seg is one step of a check path: a key, an index or every element.
type seg struct {
	key   string
	index int // >= 0 for [n]
	each  bool
}

var reKey = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_:\-]*`)

// parsePath reads "a.b[0].c", "[].x" or "" (the whole body).
func parsePath(p string) ([]seg, error) {
	var out []seg
	rest := p
	first := true
	for rest != "" {
		if !first {
			if rest[0] != '.' {
				return nil, fmt.Errorf("path %q: want '.' before %q", p, rest)
			}
			rest = rest[1:]
		}
		if rest != "" && rest[0] != '[' {
			k := reKey.FindString(rest)
			if k == "" {
				return nil, fmt.Errorf("path %q: bad key at %q", p, rest)
			}
			out = append(out, seg{key: k, index: -1})
			rest = rest[len(k):]
		} else if first && rest == "" {
			break
		}
		for strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: unclosed [", p)
			}
			in := rest[1:end]
			if in == "" {
				out = append(out, seg{index: -1, each: true})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("path %q: bad index %q", p, in)
				}
				out = append(out, seg{index: n})
			}
			rest = rest[end+1:]
		}
		first = false
	}
	return out, nil
}

// located is what a path finds at one place.
type located struct {
	value   any
	present bool
	// short: an index beyond the end of an array, or [] over an empty
	// array: the body holds nothing there to inspect.
	short bool
	// elsewhere: a step met a value of another JSON type than it walks
	// (an index or [] on a non-array, a key on a non-object). A claim about
	// a place inside a container presupposes the container's shape, which
	// an assumption of its own claims: its failure is not this claim's.
	elsewhere bool
	// parentKeys are the keys of the object the last key was looked up in
	// (for a missing property: what is there instead).
	parentKeys []string
}

// locate follows a path through decoded JSON (objects are
// map[string]any, numbers json.Number).
func locate(v any, path []seg) []located {
	cur := []located{{value: v, present: true}}
	for _, s := range path {
		var next []located
		for _, l := range cur {
			if !l.present {
				next = append(next, l)
				continue
			}
			switch {
			case s.each:
				arr, ok := l.value.([]any)
				if !ok {
					next = append(next, located{elsewhere: true})
					continue
				}
				if len(arr) == 0 {
					next = append(next, located{short: true})
				}
				for _, e := range arr {
					next = append(next, located{value: e, present: true})
				}
			case s.index >= 0:
				arr, ok := l.value.([]any)
				switch {
				case !ok:
					next = append(next, located{elsewhere: true})
				case s.index >= len(arr):
					next = append(next, located{short: true})
				default:
					next = append(next, located{value: arr[s.index], present: true})
				}
			default:
				obj, ok := l.value.(map[string]any)
				if !ok {
					next = append(next, located{elsewhere: true})
					continue
				}
				e, found := obj[s.key]
				if !found {
					keys := make([]string, 0, len(obj))
					for k := range obj {
						keys = append(keys, k)
					}
					slices.Sort(keys)
					next = append(next, located{parentKeys: keys})
					continue
				}
				next = append(next, located{value: e, present: true})
			}
		}
		cur = next
	}
	return cur
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "unknown"
}

// shape describes a value by its structure only: "string of length 10",
// "object with 4 keys", "array of 3", "number", "boolean", "null".
func shape(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string of length %d", len([]rune(x)))
	case map[string]any:
		return fmt.Sprintf("object with %d keys", len(x))
	case []any:
		return fmt.Sprintf("array of %d", len(x))
	}
	return jsonType(v)
}

// decodeJSON decodes a body keeping numbers exact.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

// checkResult is the outcome of one check.
type checkResult int

const (
	checkHolds checkResult = iota
	checkFails
	checkUnknown
)

// checkObservation is what a failed or undecided check saw, kept for the
// patch a contradiction implies; it holds no value from the answer except
// a resourceType that is a known FHIR type name.
type checkObservation struct {
	check      assumptions.Check
	result     checkResult
	types      []string // JSON types of the values found, sorted, distinct
	absent     bool     // no value where one was expected
	siblings   []string // keys beside a missing property (sanitised)
	fhirType   string   // the resourceType found, when it is a FHIR type name
	evidence   CheckEvidence
	arrayCount int
}

// evaluateCheck applies a check to a decoded body.
func evaluateCheck(c assumptions.Check, body any, isFHIRType func(string) bool) checkObservation {
	obs := checkObservation{check: c}
	path, err := parsePath(c.Path)
	if err != nil {
		obs.result = checkFails
		obs.evidence = CheckEvidence{Path: c.Path, Want: want(c), Got: "the check's path does not parse", Result: "fails"}
		return obs
	}
	locs := locate(body, path)
	var values []any
	short, absent, elsewhere := false, 0, false
	var siblings []string
	for _, l := range locs {
		switch {
		case l.present:
			values = append(values, l.value)
		case l.short:
			short = true
		case l.elsewhere:
			elsewhere = true
		default:
			absent++
			if siblings == nil && l.parentKeys != nil {
				siblings = l.parentKeys
			}
		}
	}
	obs.siblings = safeKeys(siblings)
	types := map[string]int{}
	for _, v := range values {
		types[jsonType(v)]++
	}
	for t := range types {
		obs.types = append(obs.types, t)
	}
	slices.Sort(obs.types)
	got := describeFound(values, absent)
	result := checkHolds
	if c.Type != "" || len(c.OneOf) > 0 {
		switch {
		case len(values) == 0 && absent > 0 && !c.Optional:
			result, obs.absent = checkFails, true
		case len(values) == 0:
			result = checkUnknown
		}
		for _, v := range values {
			if c.Type != "" && jsonType(v) != c.Type {
				result = checkFails
			}
			if len(c.OneOf) > 0 && !matchesOneOf(v, c.OneOf) {
				result = checkFails
				if s, ok := v.(string); ok && c.Path == "resourceType" && isFHIRType != nil && isFHIRType(s) {
					obs.fhirType = s
					got = "resourceType " + s
				} else if c.Type == "" || jsonType(v) == c.Type {
					got = shape(v) + ", not one of the expected values"
				}
			}
		}
	}
	if result != checkFails && (c.MinItems > 0 || c.MaxItems >= 0) {
		n := 0
		switch {
		case len(values) == 0 && short:
			result = checkUnknown
		case len(values) == 1:
			arr, ok := values[0].([]any)
			if !ok {
				result = checkFails
			}
			n = len(arr)
		case len(values) > 1:
			result = checkFails
		}
		obs.arrayCount = n
		if result == checkHolds && (n < c.MinItems || (c.MaxItems >= 0 && n > c.MaxItems)) {
			result = checkFails
		}
		if len(values) == 0 && !short {
			got = "absent (no items)"
		}
	}
	if short && len(values) == 0 && result == checkUnknown {
		got = "nothing there: the array is shorter than the path"
	}
	if elsewhere && len(values) == 0 && absent == 0 {
		result, got = checkUnknown, "nothing there: an enclosing value has another JSON type"
	}
	obs.result = result
	obs.evidence = CheckEvidence{Path: c.Path, Want: want(c), Got: got, Result: []string{"holds", "fails", "unknown"}[result]}
	if result == checkFails && obs.absent && len(obs.siblings) > 0 {
		obs.evidence.Siblings = obs.siblings
	}
	return obs
}

func matchesOneOf(v any, oneOf []string) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	return slices.Contains(oneOf, string(b))
}

// want renders what a check expects, from the table only.
func want(c assumptions.Check) string {
	var parts []string
	if c.Type != "" {
		parts = append(parts, c.Type)
	}
	if len(c.OneOf) > 0 {
		parts = append(parts, "one of "+strings.Join(c.OneOf, ", "))
	}
	if c.MinItems > 0 {
		parts = append(parts, fmt.Sprintf("at least %d items", c.MinItems))
	}
	if c.MaxItems >= 0 {
		parts = append(parts, fmt.Sprintf("at most %d items", c.MaxItems))
	}
	if c.Optional {
		parts = append(parts, "when present")
	}
	return strings.Join(parts, ", ")
}

// describeFound summarises what a path found, by structure.
func describeFound(values []any, absent int) string {
	switch {
	case len(values) == 0 && absent > 0:
		return "absent"
	case len(values) == 0:
		return "nothing there"
	case len(values) == 1 && absent == 0:
		return shape(values[0])
	}
	counts := map[string]int{}
	for _, v := range values {
		counts[jsonType(v)]++
	}
	var parts []string
	for _, t := range slices.Sorted(mapsKeys(counts)) {
		parts = append(parts, fmt.Sprintf("%s in %d", t, counts[t]))
	}
	if absent > 0 {
		parts = append(parts, fmt.Sprintf("absent in %d", absent))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" of %d", len(values)+absent)
}

func mapsKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// reSafeKey is the shape of a JSON key that may be reported: a field name,
// not a value used as a key (which could be an identifier or a name).
var reSafeKey = regexp.MustCompile(`^[a-z_][A-Za-z0-9_]{0,63}$`)

// safeKey returns a key fit to report, or "(key)" when it could be data.
func safeKey(k string) string {
	if reSafeKey.MatchString(k) {
		return k
	}
	return "(key)"
}

func safeKeys(keys []string) []string {
	if keys == nil {
		return nil
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, safeKey(k))
	}
	return out
}
