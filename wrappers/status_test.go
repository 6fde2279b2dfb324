package wrappers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// bareServer answers with status, the given headers only (net/http would
// otherwise sniff a Content-Type) and body.
func bareServer(t *testing.T, status int, headers map[string]string, body string) *SystemClient {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = nil // no sniffing
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSuccessWithoutTheBodyIsAnError: a read that gets no typed body must
// get an error, never (nil, nil).
func TestSuccessWithoutTheBodyIsAnError(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		headers map[string]string
		body    string
	}{
		{"200 without Content-Type", 200, nil, `{"resourceType":"Patient","id":"p1"}`},
		{"200 empty without Content-Type", 200, nil, ``},
		{"200 empty, Content-Length 0", 200, map[string]string{"Content-Length": "0"}, ``},
		{"3xx without Location", 302, nil, ``},
		{"300 Multiple Choices", 300, map[string]string{"Content-Type": "application/fhir+json"}, `{"resourceType":"Patient","id":"p1"}`},
		{"304 not asked for", 304, nil, ``},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := bareServer(t, c.status, c.headers, c.body)
			resp, err := cl.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
			var e *APIError
			if !errors.As(err, &e) || e.StatusCode != c.status {
				t.Errorf("want an *APIError with status %d, got %v (typed body %v)", c.status, err, resp != nil && resp.ApplicationfhirJSON200 != nil)
			}
			// paging and searchsets see the same
			first := linkPage(t, cl.Facade.Family(), "Observation?page=2")
			var last error
			for _, err := range first.Pages(context.Background()) {
				last = err
			}
			if !errors.As(last, &e) {
				t.Errorf("paging: want an *APIError, got %v", last)
			}
		})
	}
}

// TestWriteWithoutBodyIsFine: PKB acknowledges a message with 202 and no
// body (API.md §4), and a write may answer an empty 200 or 201.
func TestWriteWithoutBodyIsFine(t *testing.T) {
	for _, status := range []int{200, 201, 202, 204} {
		cl := bareServer(t, status, nil, ``)
		p := stu3.Parameters{ResourceType: stu3.ParametersResourceTypeParameters}
		_, err := cl.Facade.Gen.PersonDestroyWithApplicationFhirPlusJSONBodyWithResponse(context.Background(), p)
		if err != nil {
			t.Errorf("an empty %d to a write: %v", status, err)
		}
	}
	_ = facade.ReadPatientResponse{}
}
