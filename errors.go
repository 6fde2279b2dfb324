package pkb

import (
	"errors"

	"github.com/pkbgo/pkb/gen/access"
)

// ErrUnsupported matches (with errors.Is) an *UnsupportedError: a call for
// an interaction that the family's OpenAPI document does not offer on the
// resource type. Such a call never reaches the network.
var ErrUnsupported = errors.New("pkb: interaction not offered by this family")

// UnsupportedError is a call refused before any I/O because the family's
// document has no operation for the interaction on the resource type
// (access.Find found none): a Facade Create, an update on the Aggregated
// API, a transaction on the Facade. It names the family, the interaction
// and the type, which are the caller's code, never data.
type UnsupportedError struct {
	// Family is the endpoint family of the handle the call was made on.
	Family access.Family
	// Interaction is the FHIR interaction (an access.Interaction...
	// constant), or "transaction" or "batch" for Bundle.Do.
	Interaction string
	// ResourceType is the resource type of the call; "" for a
	// whole-system interaction (batch-transaction).
	ResourceType string
}

// Error names the family, the interaction and the type.
func (e *UnsupportedError) Error() string {
	what := e.Interaction
	if e.ResourceType != "" {
		what += " " + e.ResourceType
	}
	return "pkb: the " + string(e.Family) + " API does not offer " + what
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// ErrNoMatch is a SearchOne whose search matched nothing.
var ErrNoMatch = errors.New("pkb: the search matched no resource")

// ErrAmbiguous is a SearchOne whose search matched more than one
// resource: none is returned, since picking one could be picking the
// wrong patient.
var ErrAmbiguous = errors.New("pkb: the search matched more than one resource")
