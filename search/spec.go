package search

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pkbgo/pkb/gen/access"
)

// Family is the endpoint family whose document declares a parameter
// (access.FamilyFacade, ...); the same operationId (searchPatient,
// searchObservation) exists in several families with different rules.
type Family = access.Family

// Kind is a FHIR search parameter type; it says which constructor builds a
// value for the parameter.
type Kind string

// The FHIR search parameter types and their constructors.
const (
	KindDate      Kind = "date"      // Date (Eq, Ge, Between, ...)
	KindToken     Kind = "token"     // Token (Code, NHSNumber, ...) or TokenText
	KindReference Kind = "reference" // Reference (Ref, ID) or Chained
	KindString    Kind = "string"    // String (StartsWith, Exact, Contains)
	KindNumber    Kind = "number"    // a Go integer field in the params struct
	KindQuantity  Kind = "quantity"  // Raw
	KindURI       Kind = "uri"       // Raw
	KindComposite Kind = "composite" // Raw
	KindSpecial   Kind = "special"   // Raw (or the params struct's enum)
)

// ParamSpec is what a family's document says about one search parameter of
// one operation, joined with HL7's definition of the same parameter.
type ParamSpec struct {
	// Family and Operation (the operationId) locate the parameter.
	Family    Family
	Operation string
	// Resource is the searched type, empty for a generic "/{resourceType}" route.
	Resource string
	// Name is the parameter as sent, modifiers included where the document
	// declares them in the name ("subject:Patient.identifier", "code:text").
	Name string
	// Kind is the document's x-fhir-search type.
	Kind Kind
	// Requirement is PKB's "required", "optional" or "conditional".
	Requirement string
	// AND is true when the parameter may repeat (PKB's "Multi-value support: AND").
	AND bool
	// Modifiers lists the modifiers allowed on Name; "<type>" allows any
	// resource type in Targets (or any type when Targets is empty).
	Modifiers []string
	// Prefixes lists the date prefixes the parameter accepts.
	Prefixes []Prefix
	// SupportedSystems restricts a token's system where PKB documents a list.
	SupportedSystems []string
	// Enum restricts the value to the document's enumeration.
	Enum []string
	// HL7Kind is HL7's type for the parameter, empty for PKB-defined ones.
	HL7Kind Kind
	// Targets is HL7's list of resource types a reference may point at.
	Targets []string
	// Definition is the canonical URL of the SearchParameter (PKB's or HL7's).
	Definition string
}

var index = sync.OnceValue(func() map[[3]string]ParamSpec {
	m := make(map[[3]string]ParamSpec, len(specs))
	for _, s := range specs {
		m[[3]string{string(s.Family), s.Operation, s.Name}] = s
	}
	return m
})

// Lookup returns the spec of the parameter name of operationID in family.
func Lookup(family Family, operationID, name string) (ParamSpec, bool) {
	s, ok := index()[[3]string{string(family), operationID, name}]
	return s, ok
}

// Specs lists the search parameters of operationID in family, sorted by name;
// with an empty operationID, every parameter of the family.
func Specs(family Family, operationID string) []ParamSpec {
	var out []ParamSpec
	for _, s := range specs {
		if s.Family == family && (operationID == "" || s.Operation == operationID) {
			out = append(out, s)
		}
	}
	return out
}

// Sentinel errors, for errors.Is on a ParamError.
var (
	ErrUnknownParameter = errors.New("parameter not declared for this operation")
	ErrModifier         = errors.New("modifier not allowed")
	ErrNotRepeatable    = errors.New("parameter does not support multiple values")
	ErrPrefix           = errors.New("prefix not allowed")
	ErrSyntax           = errors.New("malformed value")
	ErrUnsupported      = errors.New("value not supported by PKB")
	ErrTarget           = errors.New("reference type not allowed")
)

// ParamError says which parameter (and which of its values) is wrong. It
// never includes the value: search values carry NHS numbers and other
// identifiers that must not reach logs.
type ParamError struct {
	Family    Family
	Operation string
	Param     string
	// Index is the position of the offending value, -1 for the parameter as a whole.
	Index int
	Err   error
}

// Error names the operation, parameter and value position, never the value.
func (e *ParamError) Error() string {
	var b strings.Builder
	b.WriteString("search: ")
	if e.Operation != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Family, e.Operation)
	}
	b.WriteString(e.Param)
	if e.Index >= 0 {
		fmt.Fprintf(&b, "[%d]", e.Index)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap gives errors.Is access to the sentinel.
func (e *ParamError) Unwrap() error { return e.Err }

// ValidateFor checks values for parameter name (modifiers included, as sent:
// "date", "patient:Patient", "value:exact") of operationID in family against
// the generated table: that the parameter is declared, the modifier allowed,
// repetition permitted, each value well formed for the parameter's type, date
// prefixes among those the parameter accepts, token systems among those PKB
// supports, and reference types among HL7's targets. Use it on values that
// did not come from this package's constructors, or to catch a prefix PKB
// does not support on a particular parameter (Encounter.date has no ge/le).
func ValidateFor(family Family, operationID, name string, values ...string) error {
	fail := func(i int, err error) error {
		return &ParamError{Family: family, Operation: operationID, Param: name, Index: i, Err: err}
	}
	spec, modifier, err := resolve(family, operationID, name)
	if err != nil {
		return fail(-1, err)
	}
	if len(values) == 0 {
		return fail(-1, fmt.Errorf("%w: no values", ErrSyntax))
	}
	if len(values) > 1 && !spec.AND {
		return fail(1, ErrNotRepeatable)
	}
	for i, v := range values {
		if err := checkValue(spec, modifier, v); err != nil {
			return fail(i, err)
		}
	}
	return nil
}

// resolve finds the spec for name, which is either declared as is or is a
// declared parameter plus a modifier the spec allows.
func resolve(family Family, operationID, name string) (ParamSpec, string, error) {
	if s, ok := Lookup(family, operationID, name); ok {
		return s, "", nil
	}
	base, mod, ok := strings.Cut(name, ":")
	s, found := Lookup(family, operationID, base)
	if !found {
		if len(Specs(family, operationID)) == 0 {
			return ParamSpec{}, "", fmt.Errorf("%w: the operation has no search parameters", ErrUnknownParameter)
		}
		return ParamSpec{}, "", ErrUnknownParameter
	}
	if !ok {
		return s, "", nil
	}
	typ, chain, chained := strings.Cut(mod, ".")
	switch {
	case slices.Contains(s.Modifiers, mod) && !chained:
		return s, mod, nil
	case s.Kind == KindReference && typeRE.MatchString(typ) && slices.Contains(s.Modifiers, "<type>"):
		if len(s.Targets) > 0 && !slices.Contains(s.Targets, typ) {
			return ParamSpec{}, "", ErrTarget
		}
		if chained && !nameRE.MatchString(chain) {
			return ParamSpec{}, "", fmt.Errorf("%w: chain", ErrSyntax)
		}
		return s, mod, nil
	}
	return ParamSpec{}, "", ErrModifier
}

func checkValue(s ParamSpec, modifier, v string) error {
	if v == "" {
		return fmt.Errorf("%w: empty value", ErrSyntax)
	}
	if len(s.Enum) > 0 {
		if !slices.Contains(s.Enum, v) {
			return fmt.Errorf("%w: not one of the documented values", ErrUnsupported)
		}
		return nil
	}
	if s.Kind != KindSpecial && len(splitUnescaped(v, ',')) > 1 {
		// A comma is FHIR's OR; no PKB parameter declares OR support.
		return fmt.Errorf("%w: unescaped ',' (OR) is not supported", ErrNotRepeatable)
	}
	typ, chain, chained := strings.Cut(modifier, ".")
	switch {
	case chained:
		// Chains name the target's parameter; identifier is the only one PKB uses.
		if chain == "identifier" {
			_, err := ParseToken(v)
			return err
		}
		return nil
	case strings.Contains(s.Name, "."):
		// The declared name is itself a chain ending in identifier.
		if strings.HasSuffix(s.Name, ".identifier") {
			_, err := ParseToken(v)
			return err
		}
		return nil
	}
	switch s.Kind {
	case KindDate:
		d, err := ParseDateParam(v)
		if err != nil {
			return err
		}
		if d.prefix != "" && !slices.Contains(s.Prefixes, d.prefix) {
			return fmt.Errorf("%w: %s (allowed: %v)", ErrPrefix, d.prefix, s.Prefixes)
		}
	case KindToken:
		if modifier == "text" || strings.HasSuffix(s.Name, ":text") {
			if badEscape(v) {
				return fmt.Errorf("%w: bad escape", ErrSyntax)
			}
			return nil
		}
		t, err := ParseToken(v)
		if err != nil {
			return err
		}
		if len(s.SupportedSystems) > 0 && !slices.Contains(s.SupportedSystems, t.system) {
			return fmt.Errorf("%w: identifier system not in %v", ErrUnsupported, s.SupportedSystems)
		}
	case KindReference:
		if typ != "" {
			// "patient:Patient=123": the value is a bare id.
			if !idRE.MatchString(v) {
				return fmt.Errorf("%w: not a FHIR logical id", ErrSyntax)
			}
			return nil
		}
		r, err := ParseReference(v)
		if err != nil {
			return err
		}
		if r.typ != "" && len(s.Targets) > 0 && !slices.Contains(s.Targets, r.typ) {
			return fmt.Errorf("%w: %s (allowed: %v)", ErrTarget, r.typ, s.Targets)
		}
	case KindString:
		if badEscape(v) {
			return fmt.Errorf("%w: bad escape", ErrSyntax)
		}
	case KindNumber:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("%w: not an integer", ErrSyntax)
		}
	}
	return nil
}
