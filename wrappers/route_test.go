package wrappers

import (
	"errors"
	"net/http"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
)

// TestRouteConfusionIsRefused sends, for each principal, paths a server
// would route to another operation or outside the family than the one the
// matcher would otherwise have checked: encoded slashes and dots, matrix
// parameters, operation names and FHIR keywords in parameter slots,
// backslashes, double encoding, empty segments and trailing slashes.
func TestRouteConfusionIsRefused(t *testing.T) {
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("network call to %s %s", r.Method, r.URL.EscapedPath())
		return nil, errors.New("unreachable")
	})
	cases := []struct {
		p      principal
		family access.Family
		method string
		path   string
	}{
		// a PATIENT token may readPatient, never patientStatusQuery
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/$status-query"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%24status-query"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/$everything"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/_history"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/_search"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/..%2F..%2Fjson%2Fusers%2Fself"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%2e%2e%2fOrganization"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/..;"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/..;/..;/json/users/self"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/1;jsessionid=x"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%3B"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/..%5C..%5Cjson"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%252e%252e"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%252F"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/."},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/..."},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%2E"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/1/"},
		{principals[2], access.FamilyFacade, http.MethodGet, "//Patient/1"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient//1"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/a%00b"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/a%20b"},
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%EF%BC%8E%EF%BC%8E"}, // fullwidth dots
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%C0%AE%C0%AE"},       // overlong dots
		{principals[2], access.FamilyFacade, http.MethodGet, "/Patient/%zz"},
		// a trailing slash turned listPatientMeasurements into listMeasurements
		{principals[2], access.FamilyRESTAPI, http.MethodGet, "/v2-beta/measurements/"},
		{principals[3], access.FamilyRESTAPI, http.MethodGet, "/v2-beta/measurements/%2E"},
		{principals[3], access.FamilyRESTAPI, http.MethodGet, "/v1/users/..%2Fself/recordAccessToken"},
		// customer: keywords in the resource type or id slot
		{principals[1], access.FamilyCustomerR4, http.MethodPost, "/_search"},
		{principals[1], access.FamilyCustomerR4, http.MethodGet, "/_history"},
		{principals[1], access.FamilyCustomerR4, http.MethodDelete, "/Patient/$expunge"},
		{principals[1], access.FamilyCustomerSTU3, http.MethodGet, "/Patient/1/_history/%2e%2e"},
	}
	for _, c := range cases {
		src := &fakeSource{ct: c.p.ct, scopes: c.p.scopes}
		d := buildDoers(t, c.p, src, rt)[c.family]
		req, err := http.NewRequest(c.method, d.ep.base.String()+c.path, nil)
		if err != nil {
			// net/url refuses it before we see it: nothing can be sent
			continue
		}
		if _, err := d.doRequest(req); !errors.Is(err, ErrUnknownOperation) && !errors.Is(err, ErrUnsafeURL) {
			t.Errorf("%s %s %s %s: want a refusal, got %v", c.p.name, c.family, c.method, c.path, err)
		}
		if src.fetches.Load() != 0 {
			t.Errorf("%s %s: a token was fetched", c.method, c.path)
		}
	}
}

// TestOrdinaryParametersStillMatch keeps the matcher from refusing what the
// generated clients send for real ids.
func TestOrdinaryParametersStillMatch(t *testing.T) {
	r := newRouter(access.FamilyFacade)
	for path, want := range map[string]string{
		"/Patient/9000000009":                           "readPatient",
		"/Patient/a1b2c3d4-0000-4000-8000-000000000000": "readPatient",
		"/Patient/p.1-x":                                "readPatient",
		"/Patient/p%2D1":                                "readPatient",
		"/Patient/p1/$date-of-last-data-point":          "patientInstanceDateOfLastDataPoint",
		"/Patient/p1/%24date-of-last-data-point":        "patientInstanceDateOfLastDataPoint",
		"/Patient":                                      "searchPatient",
		"/$purview":                                     "purview",
	} {
		op, ok := r.match(http.MethodGet, path)
		if !ok || op.ID != want {
			t.Errorf("GET %s: matched %q (%t), want %s", path, op.ID, ok, want)
		}
	}
	cr := newRouter(access.FamilyCustomerR4)
	for _, p := range []string{"", "/"} {
		if op, ok := cr.match(http.MethodPost, p); !ok || op.ID != "transaction" {
			t.Errorf("POST %q: %q %t, want transaction", p, op.ID, ok)
		}
	}
	_ = authn.ClientUser
}
