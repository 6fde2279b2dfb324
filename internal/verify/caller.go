// Package verify tests pkb-go's picture of PKB against a real PKB
// environment: it runs the probes of the x-pkb-assumption entries
// (internal/assumptions) that the configured client can run, says which
// assumptions each answer confirms or contradicts, validates every answer
// against the OpenAPI documents (drift), and proposes the patch to the
// documents that would make a contradicted assumption match what was
// observed. pkb verify is its front end.
//
// Nothing it reports holds a value from an answer: evidence is structure
// only (statuses, media types, JSON paths, JSON types, lengths, counts),
// and every value a probe sent or found is scrubbed from its outputs as a
// second line of defence.
package verify

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/pkbgo/pkb/gen/access"
)

// Client says what the caller is: its client type, the grants its token
// holds (x-pkb-access values: system, customer, user:PATIENT, ...) and the
// endpoint families it can reach.
type Client struct {
	// Type is system, customer, user or tethered.
	Type string `json:"type"`
	// Grants are the x-pkb-access values the token satisfies, e.g.
	// ["user:CLINICIAN"] or ["system"].
	Grants []string `json:"grants"`
	// Families the caller has a base URL for.
	Families []access.Family `json:"families"`
}

// String names the client by its grants, e.g. "user:PATIENT".
func (c Client) String() string {
	if len(c.Grants) == 0 {
		return c.Type
	}
	s := c.Grants[0]
	for _, g := range c.Grants[1:] {
		s += "+" + g
	}
	return s
}

// can reports whether a probe or discovery naming clients (grants, or
// "public") can run with this client.
func (c Client) can(clients []string) bool {
	for _, g := range clients {
		if g == "public" || slices.Contains(c.Grants, g) {
			return true
		}
	}
	return false
}

func (c Client) reaches(f access.Family) bool { return slices.Contains(c.Families, f) }

// Request is one call to an operation of the OpenAPI documents.
type Request struct {
	// Family and Operation (operationId) name the operation.
	Family    access.Family
	Operation string
	// Path holds the path parameter values, in template order, unescaped.
	Path []string
	// Query and Header are the parameters to send.
	Query  url.Values
	Header http.Header
	// Body is the JSON body (nil for none).
	Body []byte
	// Anonymous asks for no credentials.
	Anonymous bool
}

// Caller sends probe requests for one client: the pkb command adapts its
// connecting layer to it (the operation's template, the token, the
// organisation header and the grant check before any I/O are the caller's).
// The engine reads and closes every response body.
type Caller interface {
	Client() Client
	Do(ctx context.Context, req *Request) (*http.Response, error)
}

// RouteRequest is a call to a route that the documents do not declare: an
// alternative PKB may serve a contradicted operation at. Path values fill
// Template's parameters in order.
type RouteRequest struct {
	Request
	// Method and Template (relative to the family's base URL, e.g.
	// "/Consent/$purview") name the route.
	Method, Template string
}

// RouteCaller is an optional extension of Caller for alternatives: without
// it the engine does not try other routes, and a contradicted path gets no
// derived patch but removal.
type RouteCaller interface {
	DoRoute(ctx context.Context, req *RouteRequest) (*http.Response, error)
}
