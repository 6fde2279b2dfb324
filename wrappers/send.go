package wrappers

import (
	"context"
	"io"
	"net/http"

	"github.com/pkbgo/pkb/internal/fastjson"
)

// Meta is what a typed call's answer says besides its body: the status
// and the headers that locate and version the result.
type Meta struct {
	// Status is the HTTP status, e.g. 200, 201 or 204.
	Status int
	// Location is the Location (or Content-Location) header: where a
	// created resource, or an asynchronous job's status, can be read.
	Location string
	// ETag is the ETag header, e.g. W/"3" (the version an update with
	// IfMatch must name).
	ETag string
	// LastModified is the Last-Modified header.
	LastModified string
}

// Send sends call through f's checkpoint (see Family.Do) and decodes a
// 2xx body into a new T, in one pass and within the client's body limits.
// A 204, a 304 or an empty body (e.g. a create answered with
// Prefer: return=minimal) gives a nil *T and a nil error, except that an
// operation that always answers with data (a read, a search, a read-only
// POST) answered with an empty 200 is an *APIError. When T is a
// FHIR resource model (it has a FHIRType method) a body with another
// resourceType is a *ResourceTypeError and no value: its content would
// not fit T. Every other answer is an error, as for Do.
//
// Send is the one place typed calls decode: the generated per-operation
// methods and package pkb use it.
func Send[T any](ctx context.Context, f *Family, call *Call) (*T, *Meta, error) {
	resp, err := f.Do(ctx, call)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	meta := &Meta{Status: resp.StatusCode, Location: resp.Header.Get("Location"),
		ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if meta.Location == "" {
		meta.Location = resp.Header.Get("Content-Location")
	}
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return nil, meta, nil
	}
	var v *T
	if resp.ContentLength != 0 {
		if v, err = decodeInto[T](resp.Body); err != nil {
			return nil, meta, err
		}
	}
	if v == nil {
		// An operation that always answers with data (a read, a search, a
		// read-only POST) answered with nothing: not the value it promises.
		if op := f.ops[call.Operation].op; returnsData(op) {
			return nil, meta, newAPIError(resp, op.Method, op)
		}
	}
	return v, meta, nil
}

// decodeInto decodes body into a new T; an empty body is nil, nil.
func decodeInto[T any](body io.Reader) (*T, error) {
	cr := &countingReader{r: body}
	v := new(T)
	if err := fastjson.UnmarshalRead(cr, v); err != nil {
		if cr.n == 0 {
			return nil, nil
		}
		return nil, newDecodeError("the response body", err)
	}
	if want := fhirType[T](); want != "" && hasFHIRType[T]() {
		if got := declaredType(v); got != want {
			return nil, NewResourceTypeError(want, got)
		}
	}
	return v, nil
}

// hasFHIRType reports whether T is a FHIR resource model.
func hasFHIRType[T any]() bool {
	var zero T
	_, ok := any(zero).(interface{ FHIRType() string })
	return ok
}

// countingReader counts the bytes read, to tell an empty body from a
// malformed one.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
