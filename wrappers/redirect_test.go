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
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// redirectServer answers the first request with a redirect to target and
// records what every other request carried.
func redirectServer(t *testing.T, status int, target string) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var reached []string
	started := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !started
		started = true
		mu.Unlock()
		if first {
			w.Header().Set("Location", target)
			w.WriteHeader(status)
			return
		}
		mu.Lock()
		reached = append(reached, r.Method+" "+r.URL.Path+" auth="+r.Header.Get("Authorization")+" org="+r.Header.Get("X-Org-Public-Id"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write([]byte(`{"resourceType":"Patient","id":"p2"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), reached...) }
}

// TestRedirectsPassTheSameChecks redirects a call to other paths on the
// same host: another family, an operation the grant forbids, another
// operation, a path outside every family. None may receive the token or
// X-Org-Public-Id; a redirect to the same operation may.
func TestRedirectsPassTheSameChecks(t *testing.T) {
	type call func(ctx context.Context, env authn.Environment) error
	readAsSystem := func(ctx context.Context, env authn.Environment) error {
		c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: env}, orgID)
		if err != nil {
			return err
		}
		_, err = c.Facade.Gen.ReadPatientWithResponse(ctx, "p1")
		return err
	}
	readAsPatient := func(ctx context.Context, env authn.Environment) error {
		c, err := NewUserClient((&fakeSource{ct: authn.ClientUser, scopes: []string{"PATIENT"}}).in(env))
		if err != nil {
			return err
		}
		_, err = c.Facade.Gen.ReadPatientWithResponse(ctx, "p1")
		return err
	}
	statusQueryAsSystem := func(ctx context.Context, env authn.Environment) error {
		c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: env}, orgID)
		if err != nil {
			return err
		}
		_, err = c.Facade.Gen.PatientStatusQueryWithApplicationFhirPlusJSONBodyWithResponse(ctx, stu3.Parameters{ResourceType: stu3.ParametersResourceTypeParameters})
		return err
	}
	cases := []struct {
		name   string
		status int
		target string
		call   call
	}{
		{"another family", http.StatusFound, "/phr-fhir/Patient/$process-message", readAsSystem},
		{"another family, POST kept", http.StatusTemporaryRedirect, "/phr-fhir/Patient/$process-message", statusQueryAsSystem},
		{"an operation the grant forbids", http.StatusFound, "/fhir/Patient/$status-query", readAsPatient},
		{"a forbidden operation, POST kept", http.StatusPermanentRedirect, "/fhir/Person/$destroy", statusQueryAsSystem},
		{"another operation the grant allows", http.StatusFound, "/fhir/Observation", readAsPatient},
		{"POST turned into GET", http.StatusSeeOther, "/fhir/Patient/p9", statusQueryAsSystem},
		{"outside every family", http.StatusFound, "/admin/landing", readAsSystem},
		{"route confusion", http.StatusFound, "/fhir/Patient/..%2F..%2Fjson%2Fusers%2Fself", readAsPatient},
		{"a REST API path", http.StatusMovedPermanently, "/json/users/self", readAsPatient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, reached := redirectServer(t, c.status, c.target)
			err := c.call(context.Background(), loopbackEnv(srv.URL))
			if !errors.Is(err, ErrUnsafeURL) {
				t.Errorf("want ErrUnsafeURL, got %v", err)
			}
			if r := reached(); len(r) > 0 {
				t.Errorf("the redirect target received %q", r)
			}
		})
	}
	t.Run("same operation", func(t *testing.T) {
		srv, reached := redirectServer(t, http.StatusMovedPermanently, "/fhir/Patient/p2")
		if err := readAsSystem(context.Background(), loopbackEnv(srv.URL)); err != nil {
			t.Fatal(err)
		}
		if r := reached(); len(r) != 1 || !strings.Contains(r[0], "auth=Bearer ") || !strings.Contains(r[0], "org="+orgID) {
			t.Errorf("a redirect to the same operation: %q", r)
		}
	})
}

// TestReplayedRequestRedirectIsChecked: the replay after a 401 is a new
// request, and its redirects pass the same checks.
func TestReplayedRequestRedirectIsChecked(t *testing.T) {
	var mu sync.Mutex
	n := 0
	var reached []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		switch n {
		case 1:
			w.WriteHeader(http.StatusUnauthorized)
		case 2:
			w.Header().Set("Location", "/fhir/Patient/$status-query")
			w.WriteHeader(http.StatusTemporaryRedirect)
		default:
			reached = append(reached, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		}
	}))
	defer srv.Close()
	src := &fakeSource{ct: authn.ClientUser, scopes: []string{"PATIENT"}}
	c, err := NewUserClient(src.in(loopbackEnv(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	if !errors.Is(err, ErrUnsafeURL) {
		t.Errorf("want ErrUnsafeURL, got %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 2 || len(reached) > 0 {
		t.Errorf("%d requests; the redirect target received %q", n, reached)
	}
}
