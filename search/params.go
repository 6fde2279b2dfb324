package search

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Value is any search value this package builds. The modifier is kept apart
// from the value because FHIR writes it on the parameter name
// ("value:exact=..."), which is what makes modifiers easy to get wrong by hand.
type Value interface {
	// String is the value's wire form, escaped.
	String() string
	// Modifier is the suffix for the parameter name, without the colon.
	Modifier() string
	// Validate reports a value that would change meaning or be refused.
	Validate() error
}

// Raw is the escape hatch: a value sent exactly as written, for syntax this
// package does not model. It is validated only when it goes through
// ValidateFor.
type Raw string

// String is the raw text.
func (r Raw) String() string { return string(r) }

// Modifier is empty: put a modifier in the name given to Params.Add.
func (r Raw) Modifier() string { return "" }

// Validate accepts anything but the empty string.
func (r Raw) Validate() error {
	if r == "" {
		return fmt.Errorf("%w: empty value", ErrSyntax)
	}
	return nil
}

// Opt is for the optional (pointer) fields of the generated params structs:
// Identifier: search.Opt(search.NHSNumber(n)).
func Opt(v Value) *string {
	s := v.String()
	return &s
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_\-]*$`)

// Params collects query parameters the generated params structs cannot
// express: a modifier on the name, a chained parameter, a parameter the
// document does not declare. The zero value is ready to use. Invalid values are
// remembered and returned by Values and by the request editor, so a mistake
// fails the call before any network I/O instead of being sent.
type Params struct {
	values url.Values
	errs   []error
}

// Add appends values under name plus the values' common modifier. Several
// values repeat the parameter, which FHIR reads as AND.
func (p *Params) Add(name string, values ...Value) *Params {
	if len(values) == 0 {
		p.errs = append(p.errs, &ParamError{Param: name, Index: -1, Err: fmt.Errorf("%w: no values", ErrSyntax)})
		return p
	}
	if !nameRE.MatchString(name) {
		p.errs = append(p.errs, &ParamError{Param: name, Index: -1, Err: fmt.Errorf("%w: not a parameter name", ErrSyntax)})
		return p
	}
	key := name
	for i, v := range values {
		if v == nil {
			p.errs = append(p.errs, &ParamError{Param: name, Index: i, Err: fmt.Errorf("%w: nil value", ErrSyntax)})
			return p
		}
		if err := v.Validate(); err != nil {
			p.errs = append(p.errs, &ParamError{Param: name, Index: i, Err: err})
			return p
		}
		k := name
		if m := v.Modifier(); m != "" {
			k += ":" + m
		}
		if i == 0 {
			key = k
		} else if k != key {
			p.errs = append(p.errs, &ParamError{Param: name, Index: i, Err: fmt.Errorf("%w: values with different modifiers", ErrModifier)})
			return p
		}
	}
	p.add(key, values...)
	return p
}

func (p *Params) add(key string, values ...Value) {
	if p.values == nil {
		p.values = url.Values{}
	}
	for _, v := range values {
		p.values.Add(key, v.String())
	}
}

// Raw appends values under name exactly as given, modifiers and all: the
// escape hatch for syntax this package does not model.
func (p *Params) Raw(name string, values ...string) *Params {
	if p.values == nil {
		p.values = url.Values{}
	}
	p.values[name] = append(p.values[name], values...)
	return p
}

// Values returns the collected parameters, or every error recorded while
// adding them.
func (p *Params) Values() (url.Values, error) {
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	out := make(url.Values, len(p.values))
	for k, v := range p.values {
		out[k] = slices.Clone(v)
	}
	return out, nil
}

// ValidateFor checks every collected parameter against the spec of family's
// operation (see ValidateFor), returning all problems at once.
func (p *Params) ValidateFor(family Family, operationID string) error {
	v, err := p.Values()
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if err := ValidateFor(family, operationID, k, v[k]...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Editor is a request editor for any generated client (each package's
// RequestEditorFn has this signature) that appends the parameters to the
// request's query. A Params with recorded errors yields an editor that fails
// the request.
func (p *Params) Editor() func(context.Context, *http.Request) error {
	v, err := p.Values()
	if err != nil {
		return func(context.Context, *http.Request) error { return err }
	}
	return Editor(v)
}

// Editor appends v to a request's query, after whatever the generated client
// wrote, as a request editor. Parameter names keep their ":" and "." (some FHIR
// servers match names before decoding them); values are percent-encoded, so
// "|", "+" and "," arrive intact.
func Editor(v url.Values) func(context.Context, *http.Request) error {
	enc := encode(v)
	return func(_ context.Context, req *http.Request) error {
		if enc == "" {
			return nil
		}
		if req.URL.RawQuery == "" {
			req.URL.RawQuery = enc
		} else {
			req.URL.RawQuery += "&" + enc
		}
		return nil
	}
}

func encode(v url.Values) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(v)) {
		name := strings.ReplaceAll(url.QueryEscape(k), "%3A", ":")
		for _, val := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(val))
		}
	}
	return b.String()
}
