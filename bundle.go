package pkb

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/internal/fastjson"
	"github.com/pkbgo/pkb/wrappers"
)

// Bundle builds a FHIR transaction or batch of release V (NewTransaction,
// NewBatch): entries are added with CreateIn, UpdateIn, DeleteIn and
// ReadIn, and Do posts it to a family's base (POST [base]/) in one
// request.
//
// In a transaction the server applies every entry or none: one failed
// entry fails the whole request with its OperationOutcome (a
// *wrappers.APIError from Do). In a batch each entry stands alone: Do
// returns a result per entry, and a *BatchError naming the entries that
// failed.
//
// A Bundle is not safe for concurrent use while it is being built.
type Bundle[V any] struct {
	kind    string // "transaction" or "batch"
	entries []entry
	err     error // the first error of an entry added, reported by Do
}

// entry is one request of the Bundle.
type entry struct {
	method, url string // url relative to the base, e.g. "Patient" or "Patient/p1"
	route       string // url as a template ("Patient/{id}"), for errors
	typ         string // the resource type the entry is about
	fullURL     string
	resource    json.RawMessage
	ifMatch     string
	ifNoneExist string
}

// NewTransaction starts an empty transaction of release V, e.g.
// pkb.NewTransaction[r4.Version]().
func NewTransaction[V any]() *Bundle[V] { return &Bundle[V]{kind: "transaction"} }

// NewBatch starts an empty batch of release V.
func NewBatch[V any]() *Bundle[V] { return &Bundle[V]{kind: "batch"} }

// Len is the number of entries added.
func (b *Bundle[V]) Len() int { return len(b.entries) }

// Ref is a typed reference to the resource of type T that an entry of a
// Bundle creates or updates: set it where another entry of the same
// Bundle refers to that resource, and the server rewrites it to the
// resource's new id as it applies the transaction.
type Ref[T any] struct {
	ref string
}

// Reference is the reference as FHIR writes it in Reference.reference:
// the entry's fullUrl ("urn:uuid:…") for a created resource, "Type/id"
// for an updated one; "" for the zero Ref.
func (r Ref[T]) Reference() string { return r.ref }

// STU3 is r as a stu3.Reference, for an STU3 model's reference field.
func (r Ref[T]) STU3() *stu3.Reference { return &stu3.Reference{Reference: r.ref} }

// R4 is r as an r4.Reference, for an R4 model's reference field.
func (r Ref[T]) R4() *r4.Reference { return &r4.Reference{Reference: r.ref} }

// CreateIn adds the creation of r to b (POST T) under a fresh urn:uuid
// fullUrl, and returns the reference other entries use to point at it.
// r is encoded now: changes to r after the call are not sent. Its
// resourceType is set or checked as in Create.
//
//	patient := pkb.CreateIn(tx, &p)
//	obs.Subject = patient.R4()
//	pkb.CreateIn(tx, &obs)
func CreateIn[T any, PT Resource[T, V], V any](b *Bundle[V], r *T) Ref[T] {
	return add[T, PT](b, r, "")
}

// CreateIfNoneExistIn adds a conditional creation of r to b: the server
// creates it only if no resource of type T matches ifNoneExist (see
// CreateIfNoneExist).
func CreateIfNoneExistIn[T any, PT Resource[T, V], V any](b *Bundle[V], r *T, ifNoneExist url.Values) Ref[T] {
	if len(ifNoneExist) == 0 {
		b.fail(errors.New("CreateIfNoneExistIn needs a non-empty search query"))
		return Ref[T]{}
	}
	return add[T, PT](b, r, ifNoneExist.Encode())
}

func add[T any, PT Resource[T, V], V any](b *Bundle[V], r *T, ifNoneExist string) Ref[T] {
	raw, err := body[T, PT](r)
	if err != nil {
		b.fail(err)
		return Ref[T]{}
	}
	typ := PT(r).FHIRType()
	full, err := newUUID()
	if err != nil {
		b.fail(err)
		return Ref[T]{}
	}
	b.entries = append(b.entries, entry{method: http.MethodPost, url: typ, route: typ, typ: typ,
		fullURL: full, resource: raw, ifNoneExist: ifNoneExist})
	return Ref[T]{ref: full}
}

// UpdateIn adds the update of r (PUT T/id, r's id) to b, conditional on
// r's meta.versionId when it has one, as Update is; it returns the
// reference "T/id".
func UpdateIn[T any, PT Resource[T, V], V any](b *Bundle[V], r *T) Ref[T] {
	id, version := PT(r).Identity()
	if r != nil && !plainID(id) {
		b.fail(errors.New("UpdateIn needs a resource with an id of letters, digits, '-' and '.'"))
		return Ref[T]{}
	}
	raw, err := body[T, PT](r)
	if err != nil {
		b.fail(err)
		return Ref[T]{}
	}
	typ := PT(r).FHIRType()
	e := entry{method: http.MethodPut, url: typ + "/" + id, route: typ + "/{id}", typ: typ, resource: raw}
	if version != "" {
		e.ifMatch = `W/"` + version + `"`
	}
	b.entries = append(b.entries, e)
	return Ref[T]{ref: typ + "/" + id}
}

// DeleteIn adds the deletion of the resource of type T with that id
// (DELETE T/id) to b.
func DeleteIn[T any, PT Resource[T, V], V any](b *Bundle[V], id string) {
	b.addByID(fhirType[T, PT](), http.MethodDelete, id)
}

// ReadIn adds a read of the resource of type T with that id (GET T/id)
// to b; EntryAs decodes the result.
func ReadIn[T any, PT Resource[T, V], V any](b *Bundle[V], id string) {
	b.addByID(fhirType[T, PT](), http.MethodGet, id)
}

func (b *Bundle[V]) addByID(typ, method, id string) {
	if !plainID(id) {
		b.fail(fmt.Errorf("%s %s needs an id of letters, digits, '-' and '.'", method, typ))
		return
	}
	b.entries = append(b.entries, entry{method: method, url: typ + "/" + id, route: typ + "/{id}", typ: typ})
}

// fail records the first error of an entry; Do reports it before any I/O.
func (b *Bundle[V]) fail(err error) {
	if b.err == nil {
		b.err = fmt.Errorf("pkb: %s entry %d: %w", b.kind, len(b.entries), err)
	}
}

// plainID reports whether id is a FHIR logical id (1 to 64 of A-Z, a-z,
// 0-9, "-" and "."): anything else would change the entry's URL.
func plainID(id string) bool {
	if id == "" || len(id) > 64 || strings.Trim(id, ".") == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// newUUID is a random (version 4) UUID as a urn:uuid URI.
func newUUID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// EntryResult is the server's answer to one entry of a Bundle, at the
// entry's position.
type EntryResult struct {
	// Index is the entry's position in the Bundle, from 0, in the order
	// the entries were added.
	Index int
	// Method and Route say what the entry asked, by template
	// ("POST Patient", "PUT Patient/{id}"), never with ids.
	Method, Route string
	// Status is the HTTP status of the entry's response.status, e.g. 201.
	Status int
	// Location is response.location: where a created or updated
	// resource is, e.g. "Patient/123/_history/1".
	Location string
	// ETag is response.etag, e.g. W/"1".
	ETag string
	// LastModified is response.lastModified.
	LastModified string
	// Err is nil for an entry that succeeded; for one that failed an
	// *EntryError whose cause is the entry's OperationOutcome as a
	// *wrappers.APIError, or a *wrappers.ResourceTypeError when the
	// server answered the entry with a resource of another type.
	Err error

	typ      string // the entry's resource type
	resource jsontext.Value
}

// EntryAs decodes the resource the server returned for an entry (the
// created, updated or read resource) as a T: nil, nil if the entry has no
// resource (a delete, or a server that returns none), a
// *wrappers.ResourceTypeError if the resource is not a T, and the entry's
// Err if it failed.
//
//	p, err := pkb.EntryAs[r4.Patient](results[0])
func EntryAs[T any, PT interface {
	*T
	FHIRType() string
	DeclaredType() string
}](r EntryResult) (*T, error) {
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.resource) == 0 {
		return nil, nil
	}
	v := new(T)
	if err := fastjson.Unmarshal(r.resource, v); err != nil {
		return nil, fmt.Errorf("pkb: entry %d: the resource does not decode as a %s: %w", r.Index, PT(v).FHIRType(), err)
	}
	if want, got := PT(v).FHIRType(), PT(v).DeclaredType(); got != want {
		return nil, wrappers.NewResourceTypeError(want, got)
	}
	return v, nil
}

// EntryError is a failed entry of a batch.
type EntryError struct {
	// Index is the entry's position in the Bundle, from 0.
	Index int
	// Method and Route say what the entry asked, by template.
	Method, Route string
	// Err is the cause: a *wrappers.APIError holding the entry's status
	// and OperationOutcome, a *wrappers.ResourceTypeError, or
	// ErrResponseShape for an entry answered without a status.
	Err error
}

// Error names the entry (by position, method and route template, never
// its ids) and the cause.
func (e *EntryError) Error() string {
	var ae *wrappers.APIError
	if errors.As(e.Err, &ae) && ae.Method == e.Method && ae.Route == e.Route {
		return fmt.Sprintf("pkb: entry %d: %v", e.Index, e.Err) // the cause names them
	}
	return fmt.Sprintf("pkb: entry %d (%s %s): %v", e.Index, e.Method, e.Route, e.Err)
}

// Unwrap returns the cause.
func (e *EntryError) Unwrap() error { return e.Err }

// BatchError is what Do returns beside the results when entries of a
// batch failed: the results of every entry are still complete.
type BatchError struct {
	// Failed holds the error of each failed entry, in entry order.
	Failed []*EntryError
}

// Error names how many entries failed and the first one.
func (e *BatchError) Error() string {
	if len(e.Failed) == 1 {
		return e.Failed[0].Error()
	}
	return fmt.Sprintf("%v (and %d more failed entries)", e.Failed[0], len(e.Failed)-1)
}

// Unwrap returns each entry's error, so errors.As finds an entry's
// *wrappers.APIError.
func (e *BatchError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f
	}
	return out
}

// ErrResponseShape matches a transaction or batch response that does not
// answer the Bundle sent: not a Bundle of type transaction-response or
// batch-response, or another number of entries than were sent (a server
// that drops an entry must not let the caller believe it was applied).
var ErrResponseShape = errors.New("pkb: the response does not answer the bundle sent")

// Do posts b to the base of f's family (FHIR batch/transaction: POST
// [base]/), found in the family's operation table; a family without one
// (the Facade, the Aggregated API) gives an *UnsupportedError before any
// I/O. It returns one EntryResult per entry, in entry order.
//
// A failed transaction is an *wrappers.APIError (the server applied no
// entry). A batch whose entries partly failed returns every result and a
// *BatchError naming the failed entries. A response that does not answer
// the Bundle (ErrResponseShape) returns no results.
func (b *Bundle[V]) Do(ctx context.Context, f Family[V], opts ...wrappers.CallOption) ([]EntryResult, error) {
	if b.err != nil {
		return nil, b.err
	}
	if f == nil || f.Family() == nil {
		return nil, fmt.Errorf("%w: no family handle", wrappers.ErrInvalidCall)
	}
	fam := f.Family()
	op, ok := access.Find(fam.Info().ID, access.InteractionBatchTransaction, "")
	if !ok {
		return nil, &UnsupportedError{Family: fam.Info().ID, Interaction: b.kind}
	}
	raw, err := b.encode()
	if err != nil {
		return nil, err
	}
	call := &wrappers.Call{Operation: op.ID, Body: raw}
	wrappers.Apply(call, opts...)
	resp, _, err := wrappers.Send[bundleWire](ctx, fam, call)
	if err != nil {
		return nil, err
	}
	if resp == nil || resp.ResourceType != "Bundle" || resp.Type != b.kind+"-response" || len(resp.Entry) != len(b.entries) {
		return nil, b.shapeError(resp)
	}
	results := make([]EntryResult, len(b.entries))
	var failed []*EntryError
	for i, e := range b.entries {
		w := resp.Entry[i]
		r := EntryResult{Index: i, Method: e.method, Route: e.route, Location: w.Response.Location,
			ETag: w.Response.Etag, LastModified: w.Response.LastModified, typ: e.typ, resource: w.Resource}
		r.Status = parseStatus(w.Response.Status)
		var cause error
		switch {
		case r.Status < 200 || r.Status > 299:
			ae := &wrappers.APIError{StatusCode: r.Status, Method: e.method, Route: e.route,
				Operation: string(op.Family) + "." + op.ID}
			if len(w.Response.Outcome) > 0 {
				var oo wrappers.Outcome
				if fastjson.Unmarshal(w.Response.Outcome, &oo) == nil {
					ae.Outcome = &oo
				}
			}
			cause = ae
			if r.Status == 0 {
				// No readable status: not a success, and no status to show.
				cause = fmt.Errorf("%w: the entry's response has no status", ErrResponseShape)
			}
			r.resource = nil
		case len(w.Resource) > 0 && e.method != http.MethodDelete:
			if got := resourceType(w.Resource); got != e.typ {
				cause = wrappers.NewResourceTypeError(e.typ, got)
				r.resource = nil
			}
		}
		if cause != nil {
			ee := &EntryError{Index: i, Method: e.method, Route: e.route, Err: cause}
			r.Err = ee
			failed = append(failed, ee)
		}
		results[i] = r
	}
	if len(failed) > 0 {
		return results, &BatchError{Failed: failed}
	}
	return results, nil
}

func (b *Bundle[V]) shapeError(resp *bundleWire) error {
	switch {
	case resp == nil:
		return fmt.Errorf("%w: no body", ErrResponseShape)
	case resp.ResourceType != "Bundle":
		return fmt.Errorf("%w: %w", ErrResponseShape, wrappers.NewResourceTypeError("Bundle", resp.ResourceType))
	case resp.Type != b.kind+"-response":
		return fmt.Errorf("%w: a Bundle of type %q, not %s-response", ErrResponseShape, shown(resp.Type), b.kind)
	}
	return fmt.Errorf("%w: %d entries sent, %d answered", ErrResponseShape, len(b.entries), len(resp.Entry))
}

// encode is the Bundle as JSON.
func (b *Bundle[V]) encode() ([]byte, error) {
	type request struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		IfMatch     string `json:"ifMatch,omitempty"`
		IfNoneExist string `json:"ifNoneExist,omitempty"`
	}
	type wireEntry struct {
		FullURL  string          `json:"fullUrl,omitempty"`
		Resource json.RawMessage `json:"resource,omitempty"`
		Request  request         `json:"request"`
	}
	out := struct {
		ResourceType string      `json:"resourceType"`
		Type         string      `json:"type"`
		Entry        []wireEntry `json:"entry,omitempty"`
	}{ResourceType: "Bundle", Type: b.kind}
	for _, e := range b.entries {
		out.Entry = append(out.Entry, wireEntry{FullURL: e.fullURL, Resource: e.resource,
			Request: request{Method: e.method, URL: e.url, IfMatch: e.ifMatch, IfNoneExist: e.ifNoneExist}})
	}
	return json.Marshal(out)
}

// bundleWire is the part of a batch-response or transaction-response
// Bundle that Do reads.
type bundleWire struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		Resource jsontext.Value `json:"resource"`
		Response struct {
			Status       string         `json:"status"`
			Location     string         `json:"location"`
			Etag         string         `json:"etag"`
			LastModified string         `json:"lastModified"`
			Outcome      jsontext.Value `json:"outcome"`
		} `json:"response"`
	} `json:"entry"`
}

// parseStatus reads the code of an entry's response.status ("201 Created"
// or "201"); 0 if there is none.
func parseStatus(s string) int {
	code, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 || n > 599 {
		return 0
	}
	return n
}

// resourceType reads a resource's resourceType without decoding the rest.
func resourceType(raw []byte) string {
	var v struct {
		ResourceType string `json:"resourceType"`
	}
	_ = fastjson.Unmarshal(raw, &v)
	return v.ResourceType
}

// shown is a Bundle.type from the server as an error may show it: a short
// run of letters and hyphens ("transaction-response"), or a placeholder
// (it is the server's text). Resource types go through
// wrappers.NewResourceTypeError.
func shown(rt string) string {
	if rt == "" || len(rt) > 64 || strings.IndexFunc(rt, func(c rune) bool {
		return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-')
	}) >= 0 {
		return "(missing or not a resource type)"
	}
	return rt
}
