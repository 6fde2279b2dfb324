package wrappers

import (
	"fmt"
	"io"
	"net/http"
	"reflect"

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
	Entry []struct {
		Search *struct {
			Mode string `json:"mode"`
		} `json:"search"`
		Resource *T `json:"resource"`
	} `json:"entry"`
}

// DecodeSearchSet reads a searchset Bundle of T resources from r.
func DecodeSearchSet[T any](r io.Reader) (*SearchSet[T], error) {
	var w searchSetWire[T]
	if err := fastjson.UnmarshalRead(r, &w); err != nil {
		return nil, fmt.Errorf("pkb: decoding a searchset: %w", err)
	}
	if w.ResourceType != "Bundle" {
		return nil, fmt.Errorf("pkb: want a Bundle, got resourceType %q", w.ResourceType)
	}
	want := typeName[T]()
	out := &SearchSet[T]{Total: w.Total, Resources: make([]T, 0, len(w.Entry))}
	for _, l := range w.Link {
		if l.Relation == "next" {
			out.Next = l.URL
		}
	}
	for i, e := range w.Entry {
		if e.Search != nil && skippedMode(e.Search.Mode) {
			out.Skipped++
			continue
		}
		if e.Resource == nil {
			continue
		}
		if got := resourceTypeOf(e.Resource); got != want {
			return nil, fmt.Errorf("pkb: searchset entry %d is a %s, not a %s", i, got, want)
		}
		out.Resources = append(out.Resources, *e.Resource)
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

// resourceTypeOf reads the ResourceType field every generated resource has.
func resourceTypeOf(v any) string {
	f := reflect.ValueOf(v).Elem().FieldByName("ResourceType")
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}
