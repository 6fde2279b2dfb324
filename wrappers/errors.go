package wrappers

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/internal/redact"
)

// ErrNotPermitted matches (with errors.Is) every refusal of a call that the
// client's type or granted scopes do not allow. Such a call never reaches the
// network.
var ErrNotPermitted = errors.New("pkb: operation not permitted for this client")

// ErrUnsafeURL matches a request refused because its URL is not under the
// configured base URL, or would send a token over plain HTTP to a host that
// is not loopback.
var ErrUnsafeURL = errors.New("pkb: refusing to send credentials to this URL")

// ErrUnknownOperation matches a request whose method and path match no
// operation of the family's OpenAPI document, so no access rule covers it.
var ErrUnknownOperation = errors.New("pkb: request matches no documented operation")

// ErrMissingParameter matches a request refused before any I/O because a
// query parameter its OpenAPI document marks required (for example the
// Aggregated endpoint's mandatory patient selector) is absent or blank. The
// error names the parameter, never a value.
var ErrMissingParameter = errors.New("pkb: required query parameter missing or empty")

// ErrInvalidCall matches a Call that Family.Do refused before any I/O
// because it does not fit its operation: the wrong number of path values,
// a path value that is not one plain segment, a URL the route matcher would
// read as another operation, or a header a call may not set. The error
// names the route template and the problem, never a value.
var ErrInvalidCall = errors.New("pkb: call does not fit its operation")

// NotPermittedError says which operation was refused and why.
type NotPermittedError struct {
	// Family and Operation name the operation (its operationId).
	Family, Operation string
	// ClientType is the caller's client type.
	ClientType authn.ClientType
	// Required lists the grants that may call the operation (x-pkb-access).
	Required []string
	// Granted lists the scopes the caller holds.
	Granted []string
}

// Error says who was refused what, and which grants would do.
func (e *NotPermittedError) Error() string {
	granted := "none"
	if len(e.Granted) > 0 {
		granted = strings.Join(e.Granted, " ")
	}
	return fmt.Sprintf("pkb: %s client (scopes: %s) may not call %s.%s; it requires one of: %s",
		e.ClientType, granted, e.Family, e.Operation, strings.Join(e.Required, ", "))
}

// Is makes errors.Is(err, ErrNotPermitted) true.
func (e *NotPermittedError) Is(target error) bool { return target == ErrNotPermitted }

// RequestError is a refused or failed request. It names the operation by its
// route template, never by the concrete URL: FHIR queries and paths carry
// NHS numbers and other identifiers that must not reach logs.
type RequestError struct {
	// Method and Route identify the request, e.g. GET /Patient/{id}.
	Method, Route string
	// Err is the cause.
	Err error
	// transport marks a failure to exchange the request with PKB at all.
	transport bool
	// msg, when set, replaces Err's text in the message: see withheld.
	msg string
}

// Error names the route template and the cause.
func (e *RequestError) Error() string {
	if e.Method == "" {
		return fmt.Sprintf("pkb: %s: %v", e.Route, e.Err)
	}
	if e.msg != "" {
		return fmt.Sprintf("pkb: %s %s: %s", e.Method, e.Route, e.msg)
	}
	return fmt.Sprintf("pkb: %s %s: %v", e.Method, e.Route, e.Err)
}

// withheld returns err's text without what the server sent. net/http,
// net/textproto and net/url quote (with %q) the status line, header line,
// Location header or URL they could not parse, and a server may put the
// token, identifiers or terminal escapes there; so the text stops at the
// first quote, and what is left is redacted, stripped of controls and
// bounded. err itself stays in the chain for errors.Is and errors.As.
func withheld(err error, tokens ...string) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "\"`"); i >= 0 {
		msg = strings.TrimRight(msg[:i], " :") + " (server text withheld)"
	}
	return redact.New(tokens...).Line(msg, 512)
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// decodeError is a response body that did not decode. Its message says
// where and what kind of JSON, never the JSON itself: encoding/json quotes
// a number that does not fit ("number 9434765919"), and other decoders
// quote more.
type decodeError struct {
	msg string
	err error
}

func (e *decodeError) Error() string { return e.msg }
func (e *decodeError) Unwrap() error { return e.err }

// newDecodeError describes err, from decoding what, without server text.
func newDecodeError(what string, err error) error {
	var (
		te  *json.UnmarshalTypeError
		te1 *jsonv1.UnmarshalTypeError
		se  *json.SyntaxError
		se1 *jsonv1.SyntaxError
	)
	detail := ""
	switch {
	case errors.Is(err, ErrResponseTooLarge):
		detail = err.Error() // ours: no server text
	case errors.As(err, &te):
		detail = typeErrorText(te.Value, te.Type, te.Field)
	case errors.As(err, &te1):
		detail = typeErrorText(te1.Value, te1.Type, te1.Field)
	case errors.As(err, &se):
		detail = fmt.Sprintf("invalid JSON at byte offset %d", se.Offset)
	case errors.As(err, &se1):
		detail = fmt.Sprintf("invalid JSON at byte offset %d", se1.Offset)
	default:
		detail = withheld(err)
	}
	return &decodeError{msg: "pkb: decoding " + what + ": " + detail, err: err}
}

// typeErrorText keeps the JSON kind of an UnmarshalTypeError's value
// ("number", "string", ...), not the value.
func typeErrorText(value string, t reflect.Type, field string) string {
	kind, _, _ := strings.Cut(value, " ")
	s := "JSON " + kind + " where Go " + fmt.Sprint(t) + " was expected"
	if field != "" {
		s += " (field " + field + ")"
	}
	return s
}
