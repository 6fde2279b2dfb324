package wrappers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/pkbgo/pkb/internal/fastjson"
)

// SearchSet is one searchset page decoded in a single pass straight into
// resources of type T (a generated resource type such as stu3.Observation
// or r4.Observation). It is the fast path for a search that returns one
// resource type: the generated Bundle keeps every resource as raw JSON and
// decodes it a second time on As<Type>(), while this decodes it once, with
// the Go team's encoding/json/v2 implementation under encoding/json's rules
// (internal/fastjson).
//
// Entries PKB marks as included resources or as an OperationOutcome about
// the search (search.mode include/outcome) are counted, not decoded; an
// entry of another type is an error, since its content would not fit T.
type SearchSet[T any] struct {
	// Total is Bundle.total, when the server sent it.
	Total *int32
	// Next is the link[relation=next] URL, "" on the last page.
	Next string
	// Resources are the matches, in order.
	Resources []T
	// Skipped counts included and outcome entries.
	Skipped int
}

type searchSetWire[T any] struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int32 `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry entryStream[T] `json:"entry"`
}

// entryStream decodes Bundle.entry one entry at a time straight into the
// SearchSet: no slice of entries is built (a Bundle of a million empty
// entries held a million of them), and nothing is sized from the
// untrusted entry count.
type entryStream[T any] struct {
	out  *SearchSet[T]
	want string
	n    int
	err  error // the first entry of another type
}

// errStopEntries ends decoding at an entry of another type.
var errStopEntries = errors.New("stop")

func (s *entryStream[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '[' {
		// null, or a type error: let the decoder say which, as for a slice
		var ignored []struct{}
		return jsonv2.UnmarshalDecode(dec, &ignored)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		e := entryWire[T]{Resource: resourceSlot[T]{out: s.out}}
		if err := jsonv2.UnmarshalDecode(dec, &e); err != nil {
			return err
		}
		i := s.n
		s.n++
		switch {
		case e.Search != nil && skippedMode(e.Search.Mode):
			s.out.Skipped++
			e.Resource.drop()
		case e.Resource.filled:
			if got := resourceTypeOf(&s.out.Resources[len(s.out.Resources)-1]); got != s.want {
				s.err = fmt.Errorf("pkb: searchset entry %d is a %s, not a %s", i, shownType(got), s.want)
				return errStopEntries
			}
		}
	}
	_, err := dec.ReadToken()
	return err
}

type entryWire[T any] struct {
	Search *struct {
		Mode string `json:"mode"`
	} `json:"search"`
	Resource resourceSlot[T] `json:"resource"`
}

// resourceSlot decodes an entry's resource into the next element of the
// SearchSet's Resources, so each resource is allocated once.
type resourceSlot[T any] struct {
	out    *SearchSet[T]
	filled bool
}

func (r *resourceSlot[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken() // null: no resource, as for a *T
		return err
	}
	if !r.filled { // a repeated "resource" key merges into the same one
		var zero T
		r.out.Resources = append(r.out.Resources, zero)
		r.filled = true
	}
	return jsonv2.UnmarshalDecode(dec, &r.out.Resources[len(r.out.Resources)-1])
}

// drop takes back the resource of an entry that is not a match.
func (r *resourceSlot[T]) drop() {
	if r.filled {
		var zero T
		r.out.Resources[len(r.out.Resources)-1] = zero
		r.out.Resources = r.out.Resources[:len(r.out.Resources)-1]
		r.filled = false
	}
}

// DecodeSearchSet reads a searchset Bundle of T resources from r. Unless r
// is the body of a response from this package's clients, which carries its
// client's limits, r is read under the default ones: DefaultMaxResponseBytes,
// and a JSON value budget that keeps the decoded size in proportion.
func DecodeSearchSet[T any](r io.Reader) (*SearchSet[T], error) {
	return decodeSearchSet[T](r, DefaultMaxResponseBytes)
}

func decodeSearchSet[T any](r io.Reader, maxBytes int64) (*SearchSet[T], error) {
	if _, ok := r.(interface{ limited() }); !ok {
		r = newLimitedBody(io.NopCloser(r), maxBytes, true)
	}
	out := &SearchSet[T]{}
	w := searchSetWire[T]{Entry: entryStream[T]{out: out, want: typeName[T]()}}
	err := fastjson.UnmarshalRead(r, &w)
	if w.Entry.err != nil {
		return nil, w.Entry.err
	}
	if err != nil {
		return nil, newDecodeError("a searchset", err)
	}
	if w.ResourceType != "Bundle" {
		return nil, fmt.Errorf("pkb: want a Bundle, got resourceType %s", shownType(w.ResourceType))
	}
	out.Total = w.Total
	for _, l := range w.Link {
		if l.Relation == "next" {
			out.Next = l.URL
		}
	}
	return out, nil
}

// DecodeSearchSetResponse decodes and closes the body of a search response
// obtained from a generated client's plain method (e.g.
// Facade.SearchObservation) built by this package, whose errors have
// already been turned into *APIError.
func DecodeSearchSetResponse[T any](resp *http.Response) (*SearchSet[T], error) {
	defer resp.Body.Close()
	return DecodeSearchSet[T](resp.Body)
}

// shownType is a resourceType from the server as an error may show it: a
// FHIR resource type is a short run of letters; anything else is the
// server's text and is not repeated.
func shownType(rt string) string {
	if rt == "" || len(rt) > 64 {
		return "(missing or not a resource type)"
	}
	for i := 0; i < len(rt); i++ {
		if c := rt[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "(missing or not a resource type)"
		}
	}
	return rt
}

// resourceTypeOf reads the ResourceType field every generated resource has.
func resourceTypeOf(v any) string {
	f := reflect.ValueOf(v).Elem().FieldByName("ResourceType")
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}
