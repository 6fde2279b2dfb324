// Package assumptions is the table of what pkb-go assumes about PKB where
// PKB's documentation is silent: one row per x-pkb-assumption entry of the
// OpenAPI documents in api/openapi, with the probe that tests it, and the
// catalogue of the values probes fill in (the named test patient, inputs
// a team supplies, values found by earlier calls). The rows are generated
// by internal/cmd/assumptiongen (table.gen.go); api/openapi/CONVENTIONS.md
// describes the YAML they come from. internal/verify runs the probes; the
// simulator (pkbtest) can behave as if any one of them were false.
//
// Every accessor returns fresh copies, so no caller can change what another
// one sees.
package assumptions

import (
	"slices"

	"github.com/pkbgo/pkb/gen/access"
)

// Kind says what an assumption is about, and so which patch can make the
// document match PKB when a probe contradicts it.
type Kind string

// The kinds of assumption.
const (
	// KindPath: the operation is served at this method and path.
	KindPath Kind = "path"
	// KindAccess: a client type (a grant) may, or may not, call the operation.
	KindAccess Kind = "access"
	// KindParameter: a parameter has this name, value or style.
	KindParameter Kind = "parameter"
	// KindRequired: which search parameter, if any, is mandatory.
	KindRequired Kind = "required"
	// KindStatus: the success status of the operation.
	KindStatus Kind = "status"
	// KindShape: the shape of a response body (fields, JSON types, media type).
	KindShape Kind = "shape"
	// KindBehaviour: a rule the server applies that the document cannot
	// express in a schema.
	KindBehaviour Kind = "behaviour"
	// KindHost: where an environment's endpoint lives.
	KindHost Kind = "host"
)

// Kinds lists every kind, in the order above.
func Kinds() []Kind {
	return []Kind{KindPath, KindAccess, KindParameter, KindRequired, KindStatus, KindShape, KindBehaviour, KindHost}
}

// Public is the probe client that stands for any client: the probe calls a
// public operation (or sends no credentials) and any client can run it.
const Public = "public"

// Location is a place in a YAML document: its path from the repository root
// and a JSON pointer (RFC 6901) into it.
type Location struct {
	File    string
	Pointer string
}

// String renders the location as a JSON reference, file#pointer.
func (l Location) String() string { return l.File + "#" + l.Pointer }

// Assumption is one x-pkb-assumption entry.
type Assumption struct {
	// ID is stable and unique, e.g. "facade.purview.path".
	ID string
	// Family is the endpoint family whose document holds the entry.
	Family access.Family
	// Operation is the operationId of the operation the entry is on or
	// under; "" for entries on servers and components.
	Operation string
	// Kind says what the claim is about.
	Kind Kind
	// Claim is the assumption, in one sentence.
	Claim string
	// Untestable, when set, says why no probe can test the claim.
	Untestable string
	// Probes are the ways to test the claim, in order; a client runs the
	// first one it can.
	Probes []Probe
	// Fix is the patch to propose when the claim is contradicted, where it
	// cannot be derived from the observation; pointers are absolute in
	// Source.File.
	Fix []Edit
	// Doc is where the entry is in its family document.
	Doc Location
	// Source is where the entry is written and where patches apply: the
	// same as Doc, except for documents generated from an input
	// (aggregated.yaml from source/aggregated.in.yaml).
	Source Location
	// Refs lists, for an entry on a component parameter, the pointer in
	// Source.File of every $ref to that parameter.
	Refs []string
}

// Testable reports whether the entry has a probe.
func (a Assumption) Testable() bool { return len(a.Probes) > 0 }

// Probe is one way to test a claim: a call and what its answer means.
type Probe struct {
	// Clients are the grants that can run the probe (x-pkb-access values:
	// system, customer, user:PATIENT, ...); Public means any client.
	Clients []string
	// Writes marks a call that changes data on PKB.
	Writes bool
	// Request is the call.
	Request Request
	// Confirm lists what confirms the claim: the first expectation whose
	// status set holds the answer's status decides, and the claim is
	// contradicted when its other conditions fail.
	Confirm []Expect
	// Contradict lists statuses that contradict the claim.
	Contradict []int
	// Alternatives are tried, in order, once the claim is contradicted, to
	// find what PKB does instead and so the patch to propose.
	Alternatives []Alternative
}

// Request is a call to an operation. Every string may hold placeholders,
// {name}, naming values of the catalogue (Values).
type Request struct {
	// Family and Operation name the operation (operationId).
	Family    access.Family
	Operation string
	// Path holds the path parameter values, in template order.
	Path []string
	// Query and Header are the parameters, in name order.
	Query  []Param
	Header []Param
	// Body is the JSON body, "" for none.
	Body string
	// Anonymous sends no credentials.
	Anonymous bool
}

// Param is one query or header parameter; a query parameter may repeat.
type Param struct {
	Name   string
	Values []string
}

// Expect is an answer that confirms a claim.
type Expect struct {
	// Status is the set of statuses this expectation is about.
	Status []int
	// ContentType is the media type the body must have ("" for any).
	ContentType string
	// JSON are checks on the body.
	JSON []Check
	// Response is the pointer, in the assumption's Source.File, of the
	// response object a media-type patch replaces ("" when none applies).
	Response string
}

// Check is a condition on one place of a JSON body. Path is dotted with
// brackets: "a.b[0].c"; "[]" stands for every element of an array, "" for
// the whole body.
type Check struct {
	Path string
	// Type is the JSON type the value must have: string, number, boolean,
	// object, array or null ("" for any).
	Type string
	// OneOf lists JSON literals, one of which the value must equal.
	OneOf []string
	// MinItems and MaxItems bound an array's length (an absent array has
	// none); MaxItems < 0 means no bound.
	MinItems, MaxItems int
	// Optional: no value at Path tells nothing instead of contradicting.
	Optional bool
	// Schema is the pointer, in the assumption's Source.File, of the schema
	// that declares the value, for patches ("" when none applies).
	Schema string
}

// Alternative is another way PKB may serve a contradicted claim.
type Alternative struct {
	// Method and Template name another route (relative to the family's
	// base URL) for the same call; empty when the alternative is Request.
	Method, Template string
	// Request, when set, is another call to the same operation; its fields
	// replace the probe's (an empty field keeps the probe's).
	Request *Request
	// Fix is the patch that makes the document match when this alternative
	// confirms the claim; for a route alternative it is derived instead.
	Fix []Edit
}

// Edit is one JSON Patch (RFC 6902) operation on a YAML document.
type Edit struct {
	// File is the document, from the repository root.
	File string
	// Op is add, remove, replace, move or copy.
	Op string
	// Path and From are JSON pointers into File.
	Path, From string
	// Value is the JSON value of add and replace ("" otherwise).
	Value string
}

// Value is a name a probe's placeholders may use.
type Value struct {
	// Name, e.g. "patient.nhsNumber".
	Name string
	// Description says what a team supplies, or where the value comes from.
	Description string
	// Sensitive marks patient data: it never appears in any output.
	Sensitive bool
	// Generated is "uuid" or "now" for values made fresh for each probe;
	// "" otherwise.
	Generated string
}

// Discovery is a call whose answer provides values.
type Discovery struct {
	// Clients are the grants that can make the call (Public: any client).
	Clients []string
	// Request is the call.
	Request Request
	// Pick maps value names to the check-style path of the value in the
	// answer's JSON body.
	Pick []Pick
}

// Pick is one value a discovery takes from its answer.
type Pick struct {
	Name, Path string
}

// All returns every entry, sorted by ID.
func All() []Assumption {
	out := make([]Assumption, len(table))
	for i, a := range table {
		out[i] = a.clone()
	}
	return out
}

// ByID returns the entry with that ID.
func ByID(id string) (Assumption, bool) {
	i, ok := slices.BinarySearchFunc(table[:], id, func(a Assumption, id string) int {
		switch {
		case a.ID < id:
			return -1
		case a.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return Assumption{}, false
	}
	return table[i].clone(), true
}

// Values returns the catalogue of probe values, sorted by name.
func Values() []Value { return slices.Clone(values[:]) }

// Discoveries returns the calls that find values, in catalogue order (the
// order in which they are tried).
func Discoveries() []Discovery {
	out := make([]Discovery, len(discoveries))
	for i, d := range discoveries {
		d.Clients = slices.Clone(d.Clients)
		d.Request = d.Request.clone()
		d.Pick = slices.Clone(d.Pick)
		out[i] = d
	}
	return out
}

func (a Assumption) clone() Assumption {
	probes := make([]Probe, len(a.Probes))
	for i, p := range a.Probes {
		probes[i] = p.clone()
	}
	if len(probes) > 0 {
		a.Probes = probes
	}
	a.Fix = slices.Clone(a.Fix)
	a.Refs = slices.Clone(a.Refs)
	return a
}

func (p Probe) clone() Probe {
	p.Clients = slices.Clone(p.Clients)
	p.Request = p.Request.clone()
	confirm := make([]Expect, len(p.Confirm))
	for i, e := range p.Confirm {
		e.Status = slices.Clone(e.Status)
		checks := make([]Check, len(e.JSON))
		for j, c := range e.JSON {
			c.OneOf = slices.Clone(c.OneOf)
			checks[j] = c
		}
		e.JSON = checks
		confirm[i] = e
	}
	p.Confirm = confirm
	p.Contradict = slices.Clone(p.Contradict)
	alts := make([]Alternative, len(p.Alternatives))
	for i, alt := range p.Alternatives {
		if alt.Request != nil {
			r := alt.Request.clone()
			alt.Request = &r
		}
		alt.Fix = slices.Clone(alt.Fix)
		alts[i] = alt
	}
	p.Alternatives = alts
	return p
}

func (r Request) clone() Request {
	r.Path = slices.Clone(r.Path)
	r.Query = cloneParams(r.Query)
	r.Header = cloneParams(r.Header)
	return r
}

func cloneParams(ps []Param) []Param {
	if ps == nil {
		return nil
	}
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{Name: p.Name, Values: slices.Clone(p.Values)}
	}
	return out
}
