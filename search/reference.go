package search

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	typeRE = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
	idRE   = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
)

// Reference is a reference search value. FHIR has two spellings of a typed
// reference, "patient=Patient/123" and "patient:Patient=123"; Ref gives the
// first (which fits the generated params structs) and Typed the second.
type Reference struct {
	typ, id string
	typed   bool
}

// Ref refers to resource id of type typ ("Patient/123").
func Ref(typ, id string) Reference { return Reference{typ: typ, id: id} }

// ID refers to a resource by logical id alone, leaving the type to the
// server; prefer Ref where the parameter can point at several types.
func ID(id string) Reference { return Reference{id: id} }

// Typed moves the type into a ":Type" modifier ("patient:Patient=123"), for
// parameters whose spec lists the <type> modifier. Because the modifier is part
// of the parameter name, send it through Params, not a params struct field.
func (r Reference) Typed() Reference {
	r.typed = r.typ != ""
	return r
}

// String is the value part of the wire form.
func (r Reference) String() string {
	if r.typ == "" || r.typed {
		return r.id
	}
	return r.typ + "/" + r.id
}

// Type is the referenced resource type, empty for ID.
func (r Reference) Type() string { return r.typ }

// Modifier is the type for a Typed reference, otherwise empty.
func (r Reference) Modifier() string {
	if r.typed {
		return r.typ
	}
	return ""
}

// Validate checks the type and id against FHIR's grammar, so a stray "/" or
// space in an id cannot redirect the search to another resource.
func (r Reference) Validate() error {
	if r.typ != "" && !typeRE.MatchString(r.typ) {
		return fmt.Errorf("%w: not a resource type", ErrSyntax)
	}
	if !idRE.MatchString(r.id) {
		return fmt.Errorf("%w: not a FHIR logical id", ErrSyntax)
	}
	return nil
}

// ParseReference parses "Type/id" or a bare "id"; absolute URLs are refused
// because PKB's documents only use relative references.
func ParseReference(s string) (Reference, error) {
	typ, id, ok := strings.Cut(s, "/")
	r := ID(s)
	if ok {
		r = Ref(typ, id)
	}
	return r, r.Validate()
}

// Chained searches a reference by a parameter of the resource it points at,
// such as Aggregated's "subject:Patient.identifier=system|value".
type Chained struct {
	typ, param string
	value      Value
}

// Chain builds ref:typ.param=value. For Aggregated's declared chains the
// generated params struct already has a field (SubjectPatientIdentifier and
// so on) taking value.String(); Chain is for Params and validation.
func Chain(typ, param string, value Value) Chained { return Chained{typ, param, value} }

// String is the chained value's wire form.
func (c Chained) String() string {
	if c.value == nil {
		return ""
	}
	return c.value.String()
}

// Modifier is "Type.param", which goes after the reference parameter's name.
func (c Chained) Modifier() string { return c.typ + "." + c.param }

// Validate checks the type, the chained parameter name and the inner value,
// which may not carry a modifier of its own.
func (c Chained) Validate() error {
	switch {
	case !typeRE.MatchString(c.typ):
		return fmt.Errorf("%w: chain: not a resource type", ErrSyntax)
	case !nameRE.MatchString(c.param):
		return fmt.Errorf("%w: chain: not a parameter name", ErrSyntax)
	case c.value == nil:
		return fmt.Errorf("%w: chain: no value", ErrSyntax)
	case c.value.Modifier() != "":
		return fmt.Errorf("%w: chain: the chained value cannot carry a modifier", ErrModifier)
	}
	return c.value.Validate()
}

// String is a string search value. FHIR's default string match is a
// case-insensitive "starts with", which surprises callers who meant equality;
// Exact and Contains make the choice visible.
type String struct {
	s, modifier string
}

// StartsWith is FHIR's default string match.
func StartsWith(s string) String { return String{s: s} }

// Exact matches the whole string, case and accents included (":exact").
func Exact(s string) String { return String{s, "exact"} }

// Contains matches anywhere in the string (":contains").
func Contains(s string) String { return String{s, "contains"} }

// String is the escaped value.
func (s String) String() string { return escape(s.s) }

// Modifier is "", "exact" or "contains".
func (s String) Modifier() string { return s.modifier }

// Validate rejects an empty string, which would match everything.
func (s String) Validate() error {
	if strings.TrimSpace(s.s) == "" {
		return fmt.Errorf("%w: empty string", ErrSyntax)
	}
	return nil
}
