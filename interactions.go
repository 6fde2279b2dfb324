package pkb

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/wrappers"
)

// Family is a FHIR family handle of a client whose models are of release
// V: *wrappers.Facade, *wrappers.Messaging and *wrappers.CustomerSTU3 are
// Family[stu3.Version], *wrappers.CustomerR4 and *wrappers.Aggregated are
// Family[r4.Version]. The release ties a handle to its models at compile
// time: Read[r4.Patient] on c.Facade does not compile.
type Family[V any] interface {
	Family() *wrappers.Family
	FHIRVersion() V
}

// Resource is the pointer type of a FHIR resource model of release V, as
// gen/fhir/stu3 and gen/fhir/r4 generate them (resource.gen.go): the
// functions of this package take T (e.g. stu3.Patient) as their type
// argument and reach the model's methods through *T.
type Resource[T, V any] interface {
	*T
	// FHIRType is the resource type, e.g. "Patient".
	FHIRType() string
	// FHIRVersion is the release marker.
	FHIRVersion() V
	// DeclaredType is the value of the resourceType field.
	DeclaredType() string
	// StampType sets the resourceType field to FHIRType.
	StampType()
	// Identity is the logical id and meta.versionId.
	Identity() (id, versionID string)
}

// Read reads the current version of the resource of type T with that id
// (FHIR read: GET [base]/T/id).
//
//	p, err := pkb.Read[stu3.Patient](ctx, c.Facade, id)
//
// A 2xx body of another resourceType is a *wrappers.ResourceTypeError; a
// 404 or 410 is a *wrappers.APIError (see wrappers.IsNotFound). With
// wrappers.Header("If-None-Match", etag) in opts, a 304 (unchanged) gives
// nil, nil.
func Read[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], id string, opts ...wrappers.CallOption) (*T, error) {
	call, fam, err := prepare[T, PT](f, access.InteractionRead, id)
	if err != nil {
		return nil, err
	}
	wrappers.Apply(call, opts...)
	return readOne[T](ctx, fam, call)
}

// VRead reads version versionID of the resource of type T with that id
// (FHIR vread: GET [base]/T/id/_history/versionID).
func VRead[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], id, versionID string, opts ...wrappers.CallOption) (*T, error) {
	call, fam, err := prepare[T, PT](f, access.InteractionVRead, id, versionID)
	if err != nil {
		return nil, err
	}
	wrappers.Apply(call, opts...)
	return readOne[T](ctx, fam, call)
}

// SearchPage runs a search on resources of type T (FHIR search-type: GET
// [base]/T?query) and returns its first page: the matches, Bundle.total,
// the included resources (wrappers.IncludedAs, wrappers.IncludedOf) and
// the server's outcome issues. Page.Next, Page.Pages and Page.All walk
// the following pages through the same checkpoint. MaxPages and
// MaxResources in opts become the page's limits.
//
// query is FHIR's search query; package search builds its values.
func SearchPage[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], query url.Values, opts ...wrappers.CallOption) (*wrappers.Page[T], error) {
	call, fam, err := prepare[T, PT](f, access.InteractionSearchType)
	if err != nil {
		return nil, err
	}
	call.Query = query
	wrappers.Apply(call, opts...)
	return wrappers.FirstPage[T](ctx, fam, call)
}

// Search yields every match of a search on resources of type T, across
// all its pages, fetching each page as the loop reaches it; breaking out
// of the loop fetches nothing more. An error ends the sequence: a failed
// request, a page of another type, a next link outside the family
// (wrappers.ErrUnsafeURL) or back to a page already fetched
// (wrappers.ErrPageLoop), or a MaxPages/MaxResources limit that stopped
// the iteration early (wrappers.ErrPageLimit), so a capped result is never
// mistaken for a complete one.
//
//	for obs, err := range pkb.Search[stu3.Observation](ctx, c.Facade, query) {
func Search[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], query url.Values, opts ...wrappers.CallOption) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		p, err := SearchPage[T, PT](ctx, f, query, opts...)
		if err != nil {
			yield(nil, err)
			return
		}
		for v, err := range p.All(ctx) {
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// SearchOne runs a search that must match exactly one resource of type T,
// such as a patient by NHS number, and returns it. No match is
// ErrNoMatch; more than one (by Bundle.total, the first page's matches or
// a match on the next page) is ErrAmbiguous, never an arbitrary pick:
// PKB can hold several accounts under one NHS number, and acting on the
// wrong one is a patient-safety incident.
//
//	p, err := pkb.SearchOne[stu3.Patient](ctx, c.Facade,
//		url.Values{"identifier": {search.NHSNumber(nhs).String()}})
func SearchOne[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], query url.Values, opts ...wrappers.CallOption) (*T, error) {
	p, err := SearchPage[T, PT](ctx, f, query, opts...)
	if err != nil {
		return nil, err
	}
	typ := fhirType[T, PT]()
	switch {
	case len(p.Matches) > 1 || p.Total != nil && *p.Total > 1:
		return nil, fmt.Errorf("%w: the %s search matched more than one", ErrAmbiguous, typ)
	case len(p.Matches) == 0:
		return nil, fmt.Errorf("%w: the %s search matched none", ErrNoMatch, typ)
	case p.NextLink != "":
		next, err := p.Next(ctx)
		if err != nil {
			return nil, err
		}
		if next != nil && len(next.Matches) > 0 {
			return nil, fmt.Errorf("%w: the %s search matched more than one", ErrAmbiguous, typ)
		}
	}
	return p.Matches[0], nil
}

// History returns the first page of the history of the resource of type T
// with that id (FHIR history-instance: GET [base]/T/id/_history), or, for
// an empty id, of every resource of type T (history-type). query takes
// _since, _at and _count. Deletions, which have no resource, are not
// among the matches.
func History[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], id string, query url.Values, opts ...wrappers.CallOption) (*wrappers.Page[T], error) {
	var (
		call *wrappers.Call
		fam  *wrappers.Family
		err  error
	)
	if id == "" {
		call, fam, err = prepare[T, PT](f, access.InteractionHistoryType)
	} else {
		call, fam, err = prepare[T, PT](f, access.InteractionHistoryInstance, id)
	}
	if err != nil {
		return nil, err
	}
	call.Query = query
	wrappers.Apply(call, opts...)
	return wrappers.FirstPage[T](ctx, fam, call)
}

// Create stores r as a new resource of type T (FHIR create: POST [base]/T)
// and returns the resource as the server stored it (with its new id and
// meta.versionId) and the answer's Meta (Status 201, Location, ETag).
// With wrappers.PreferReturn("minimal") the server sends no body: the
// resource is nil and Meta.Location says where it is.
//
// An empty resourceType in r is set to T's (StampType); one that names
// another type is refused before any I/O with a *wrappers.ResourceTypeError.
// A plain create is not safe to retry: if the answer is lost, a second
// call makes a second resource. CreateIfNoneExist is.
func Create[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], r *T, opts ...wrappers.CallOption) (*T, *wrappers.Meta, error) {
	call, fam, err := prepare[T, PT](f, access.InteractionCreate)
	if err != nil {
		return nil, nil, err
	}
	if call.Body, err = body[T, PT](r); err != nil {
		return nil, nil, err
	}
	wrappers.Apply(call, opts...)
	return wrappers.Send[T](ctx, fam, call)
}

// CreateIfNoneExist stores r unless a resource of type T matches the
// search query ifNoneExist (FHIR conditional create, If-None-Exist), e.g.
// its identifier: the server creates it (Meta.Status 201) or answers with
// the one that matches (200); more than one match is a 412 *APIError.
// Unlike Create, it is safe to retry: a repeated call, after a timeout
// for instance, finds the resource the first one made.
//
//	obs, meta, err := pkb.CreateIfNoneExist(ctx, c.CustomerR4, &obs,
//		url.Values{"identifier": {"https://lab.example|r-123"}})
func CreateIfNoneExist[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], r *T, ifNoneExist url.Values, opts ...wrappers.CallOption) (*T, *wrappers.Meta, error) {
	if len(ifNoneExist) == 0 {
		// An empty condition would make a plain create under a name that
		// promises a safe retry.
		return nil, nil, fmt.Errorf("%w: CreateIfNoneExist needs a non-empty search query", wrappers.ErrInvalidCall)
	}
	return Create[T, PT](ctx, f, r, append([]wrappers.CallOption{wrappers.IfNoneExist(ifNoneExist)}, opts...)...)
}

// Update stores r as the new version of the resource of type T with r's id
// (FHIR update: PUT [base]/T/id) and returns the resource as stored and
// the answer's Meta (Status 200, or 201 when the id was new).
//
// The update is safe by default: when r has a meta.versionId (as a read
// returns it), Update sends If-Match: W/"<versionId>", so the server
// refuses it with 412 Precondition Failed (a *wrappers.APIError) if
// someone else changed the resource since r was read; read it again and
// reapply the change. wrappers.NoIfMatch() in opts sends no If-Match (last
// writer wins); wrappers.IfMatch(v) names another version.
//
// r must have an id; its resourceType is set or checked as in Create.
func Update[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], r *T, opts ...wrappers.CallOption) (*T, *wrappers.Meta, error) {
	id, version := PT(r).Identity()
	if r != nil && id == "" {
		return nil, nil, fmt.Errorf("%w: Update needs the resource's id", wrappers.ErrInvalidCall)
	}
	call, fam, err := prepare[T, PT](f, access.InteractionUpdate, id)
	if err != nil {
		return nil, nil, err
	}
	if call.Body, err = body[T, PT](r); err != nil {
		return nil, nil, err
	}
	if version != "" {
		wrappers.IfMatch(version)(call)
	}
	wrappers.Apply(call, opts...)
	return wrappers.Send[T](ctx, fam, call)
}

// Delete deletes the resource of type T with that id (FHIR delete: DELETE
// [base]/T/id). wrappers.IfMatch(versionID) in opts makes it conditional on
// the version the caller saw.
func Delete[T any, PT Resource[T, V], V any](ctx context.Context, f Family[V], id string, opts ...wrappers.CallOption) error {
	call, fam, err := prepare[T, PT](f, access.InteractionDelete, id)
	if err != nil {
		return err
	}
	wrappers.Apply(call, opts...)
	resp, err := fam.Do(ctx, call)
	if err != nil {
		return err
	}
	resp.Body.Close() // the deletion is done; what the body says is not needed
	return nil
}

// prepare finds the operation of f's family that performs interaction on
// T and builds its call, before any I/O: the path values are the resource
// type (for a generic /{resourceType} operation) followed by ids.
func prepare[T any, PT Resource[T, V], V any](f Family[V], interaction string, ids ...string) (*wrappers.Call, *wrappers.Family, error) {
	if f == nil {
		return nil, nil, fmt.Errorf("%w: no family handle (nil)", wrappers.ErrInvalidCall)
	}
	fam := f.Family()
	if fam == nil {
		return nil, nil, fmt.Errorf("%w: the family handle is not part of a client", wrappers.ErrInvalidCall)
	}
	typ := fhirType[T, PT]()
	op, ok := access.Find(fam.Info().ID, interaction, typ)
	if !ok {
		return nil, nil, &UnsupportedError{Family: fam.Info().ID, Interaction: interaction, ResourceType: typ}
	}
	call := &wrappers.Call{Operation: op.ID}
	if op.ResourceType == "" {
		call.Path = append(call.Path, typ)
	}
	call.Path = append(call.Path, ids...)
	return call, fam, nil
}

// body encodes r, a T, for a create or update: its resourceType set to T's
// if empty, refused if it names another type.
func body[T any, PT Resource[T, V], V any](r *T) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: no resource (nil)", wrappers.ErrInvalidCall)
	}
	p := PT(r)
	switch got := p.DeclaredType(); got {
	case "":
		p.StampType()
	case p.FHIRType():
	default:
		return nil, &wrappers.ResourceTypeError{Want: p.FHIRType(), Got: got}
	}
	b, err := json.Marshal(r)
	if err != nil {
		// The models marshal unless a caller put an invalid value (such as
		// a malformed json.Number) into one; the error names the Go type.
		return nil, fmt.Errorf("%w: encoding the %s: %v", wrappers.ErrInvalidCall, p.FHIRType(), err)
	}
	return b, nil
}

// readOne sends a read or vread. A 304 (a conditional read whose
// If-None-Match names the current version) is nil, nil; a 2xx without a
// body is an *APIError (wrappers.Send).
func readOne[T any](ctx context.Context, fam *wrappers.Family, call *wrappers.Call) (*T, error) {
	v, _, err := wrappers.Send[T](ctx, fam, call)
	return v, err
}

// fhirType is T's resource type. The models' FHIRType has a value
// receiver, so it is called on a zero T, never through a nil *T.
func fhirType[T any, PT interface {
	*T
	FHIRType() string
}]() string {
	var zero T
	return PT(&zero).FHIRType()
}
