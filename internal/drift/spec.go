package drift

import (
	"slices"
	"strings"

	"github.com/pkbgo/pkb/internal/specdoc"
)

// Spec is the OpenAPI document the coverage check reads: paths, operations,
// query parameters (with x-fhir-search) and x-fhir-operation.
type Spec = specdoc.Doc

// ParseSpec decodes an OpenAPI 3 document (YAML or JSON) for the coverage
// check; see specdoc.Parse.
func ParseSpec(raw []byte) (*Spec, error) { return specdoc.Parse(raw) }

// hasResourcePath reports whether the spec has /Type or a path under /Type/.
func hasResourcePath(s *Spec, typ string) bool {
	for _, p := range s.Paths() {
		if p == "/"+typ || strings.HasPrefix(p, "/"+typ+"/") {
			return true
		}
	}
	return false
}

// schemaAllows reports whether value is in the enum of the schema or of its items.
func schemaAllows(s *specdoc.Schema, value string) bool {
	if s == nil {
		return false
	}
	if slices.Contains(s.Enum, any(value)) {
		return true
	}
	return s.Items != nil && slices.Contains(s.Items.Enum, any(value))
}

func extString(ext map[string]any, key string) string {
	s, _ := ext[key].(string)
	return s
}

func extStrings(ext map[string]any, key string) []string {
	list, _ := ext[key].([]any)
	out := []string{}
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
