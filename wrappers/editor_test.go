package wrappers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/facade"
)

// TestRequestEditorsCannotBypassTheRouteCheck edits the request after the
// generated client built it, the way a careless or hostile RequestEditorFn
// can, and checks what a real server receives.
func TestRequestEditorsCannotBypassTheRouteCheck(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.Host+" "+r.RequestURI+" auth="+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write([]byte(`{"resourceType":"Patient","id":"p1"}`))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	src := &fakeSource{ct: authn.ClientUser, scopes: []string{"PATIENT"}}
	c, err := NewUserClient(src.in(loopbackEnv(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	editors := map[string]facade.RequestEditorFn{
		"opaque to another family": func(_ context.Context, r *http.Request) error {
			r.URL.Opaque = "/json/v1/users/1/recordAccessToken"
			return nil
		},
		"opaque absolute": func(_ context.Context, r *http.Request) error {
			r.URL.Opaque = "//" + host + "/fhir/Patient/$status-query"
			return nil
		},
		"opaque same path": func(_ context.Context, r *http.Request) error {
			r.URL.Opaque = r.URL.EscapedPath()
			return nil
		},
		"Host header to another virtual host": func(_ context.Context, r *http.Request) error {
			r.Host = "acme.fhir-api.sandbox.patientsknowbest.com"
			return nil
		},
		"method override header": func(_ context.Context, r *http.Request) error {
			r.Header.Set("X-HTTP-Method-Override", "DELETE")
			return nil
		},
		"original URL header": func(_ context.Context, r *http.Request) error {
			r.Header.Set("X-Original-URL", "/fhir/Patient/$status-query")
			return nil
		},
		"rewrite URL header": func(_ context.Context, r *http.Request) error {
			r.Header.Set("X-Rewrite-Url", "/fhir/Patient/$status-query")
			return nil
		},
	}
	for name, ed := range editors {
		mu.Lock()
		got = nil
		mu.Unlock()
		_, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1", ed)
		if !errors.Is(err, ErrUnsafeURL) {
			t.Errorf("%s: want ErrUnsafeURL, got %v", name, err)
		}
		mu.Lock()
		if len(got) > 0 {
			t.Errorf("%s: the server received %q", name, got)
		}
		mu.Unlock()
	}
	mu.Lock()
	got = nil
	mu.Unlock()
	// RawPath that disagrees with Path: what is checked is what is sent.
	_, err = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1", func(_ context.Context, r *http.Request) error {
		r.URL.RawPath = "/fhir/Patient/%24status-query-not-the-path"
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil || len(got) != 1 || !strings.Contains(got[0], " /fhir/Patient/p1 ") {
		t.Errorf("an inconsistent RawPath: err %v, server saw %q", err, got)
	}
	if src.fetches.Load() != 1 {
		t.Errorf("%d token fetches; refused requests must fetch none", src.fetches.Load())
	}
}
