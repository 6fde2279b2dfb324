package wrappers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// TestSend checks the typed decode every typed call goes through: the
// model of the right type, nil for an answer without a body, a typed
// error for a body of another resourceType or one that does not decode.
func TestSend(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		want       func(t *testing.T, p *stu3.Patient, m *Meta, err error)
	}{
		{"patient", `{"resourceType":"Patient","id":"p1","meta":{"versionId":"3"}}`, 200,
			func(t *testing.T, p *stu3.Patient, m *Meta, err error) {
				if err != nil || p == nil || p.Id != "p1" || m.ETag != `W/"3"` || m.Location != "https://x/Patient/p1/_history/3" {
					t.Fatalf("got %+v %+v %v", p, m, err)
				}
			}},
		{"other type", `{"resourceType":"Observation","id":"o1"}`, 200,
			func(t *testing.T, p *stu3.Patient, m *Meta, err error) {
				var rte *ResourceTypeError
				if p != nil || !errors.As(err, &rte) || rte.Want != "Patient" || rte.Got != "Observation" {
					t.Fatalf("got %v %v", p, err)
				}
			}},
		{"no content", ``, 204,
			func(t *testing.T, p *stu3.Patient, m *Meta, err error) {
				if p != nil || err != nil || m.Status != 204 {
					t.Fatalf("got %v %+v %v", p, m, err)
				}
			}},
		{"malformed", `{"resourceType":"Patient","id":`, 200,
			func(t *testing.T, p *stu3.Patient, m *Meta, err error) {
				if p != nil || err == nil {
					t.Fatalf("got %v %v", p, err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/fhir/Patient/p1" {
					t.Errorf("path %s", r.URL.Path)
				}
				w.Header().Set("ETag", `W/"3"`)
				w.Header().Set("Content-Location", "https://x/Patient/p1/_history/3")
				if tc.body != "" {
					w.Header().Set("Content-Type", "application/fhir+json")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
			if err != nil {
				t.Fatal(err)
			}
			p, m, err := Send[stu3.Patient](context.Background(), c.Facade.Family(), &Call{Operation: "readPatient", Path: []string{"p1"}})
			tc.want(t, p, m, err)
		})
	}
}
