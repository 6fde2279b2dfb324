package wrappers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pkbgo/pkb/authn"
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
}

// Error names the route template and the cause.
func (e *RequestError) Error() string {
	return fmt.Sprintf("pkb: %s %s: %v", e.Method, e.Route, e.Err)
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }
