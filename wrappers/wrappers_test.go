package wrappers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
)

const (
	secretToken = "tok-SECRET-0123456789"
	orgID       = "235a397b-1ae8-4755-9c77-1a0e2fbc5314"
)

// fakeSource is an authn.Source with a fixed grant that counts token
// fetches, standing in for the token endpoint.
type fakeSource struct {
	ct      authn.ClientType
	env     authn.Environment // zero: authn.Sandbox
	mu      sync.Mutex
	scopes  []string
	granted []string // scopes that appear once a token has been fetched
	fetches atomic.Int32
	gen     atomic.Int32
	current string
}

func (f *fakeSource) Token(ctx context.Context) (*oauth2.Token, error) {
	f.fetches.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current == "" {
		f.current = fmt.Sprintf("%s-%d", secretToken, f.gen.Add(1))
	}
	if f.granted != nil {
		f.scopes = f.granted
	}
	return &oauth2.Token{AccessToken: f.current, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func (f *fakeSource) Invalidate(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tok != f.current {
		return false
	}
	f.current = ""
	return true
}

func (f *fakeSource) Grant() (authn.ClientType, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ct, slices.Clone(f.scopes)
}

func (f *fakeSource) Environment() authn.Environment {
	if f.env == (authn.Environment{}) {
		return authn.Sandbox
	}
	return f.env
}

// in sets the environment the source reports.
func (f *fakeSource) in(env authn.Environment) *fakeSource {
	f.env = env
	return f
}

// transportFunc lets a test decide what the network does.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func ok200(r *http.Request) *http.Response {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/fhir+json"}},
		Body: io.NopCloser(strings.NewReader(`{"resourceType":"Bundle","type":"searchset"}`)), Request: r}
}

// principal is one client type with one grant, as the table test sees it.
type principal struct {
	name   string
	ct     authn.ClientType
	scopes []string
}

// buildDoers returns, per family, the checkpoint of a client of the
// principal's type, built on the given transport.
func buildDoers(t testing.TB, p principal, src *fakeSource, rt http.RoundTripper) map[access.Family]*Family {
	t.Helper()
	opts := []Option{WithHTTPClient(&http.Client{Transport: rt})}
	out := map[access.Family]*Family{}
	switch p.ct {
	case authn.ClientSystem:
		c, err := NewSystemClient(src, orgID, opts...)
		if err != nil {
			t.Fatal(err)
		}
		out[access.FamilyFacade] = c.Facade.Family()
		out[access.FamilyMessaging] = c.Messaging.Family()
	case authn.ClientCustomer:
		c, err := NewCustomerSystemClient(src, "acme", opts...)
		if err != nil {
			t.Fatal(err)
		}
		out[access.FamilyCustomerSTU3] = c.CustomerSTU3.Family()
		out[access.FamilyCustomerR4] = c.CustomerR4.Family()
		out[access.FamilyAggregated] = c.Aggregated.Family()
	case authn.ClientUser:
		c, err := NewUserClient(src, opts...)
		if err != nil {
			t.Fatal(err)
		}
		out[access.FamilyFacade] = c.Facade.Family()
		out[access.FamilyRESTAPI] = c.REST.Family()
	case authn.ClientTethered:
		c, err := NewTetheredClient(src, opts...)
		if err != nil {
			t.Fatal(err)
		}
		out[access.FamilyRESTAPI] = c.REST.Family()
	}
	return out
}

var principals = []principal{
	{name: "system", ct: authn.ClientSystem},
	{name: "customer", ct: authn.ClientCustomer},
	{name: "user:PATIENT", ct: authn.ClientUser, scopes: []string{"PATIENT"}},
	{name: "user:CLINICIAN", ct: authn.ClientUser, scopes: []string{"CLINICIAN"}},
	{name: "user:TEAMCOORD", ct: authn.ClientUser, scopes: []string{"TEAMCOORD"}},
	{name: "tethered:SITE", ct: authn.ClientTethered, scopes: []string{"SITE"}},
}

// expectAllowed restates the access rule independently of the
// implementation: a grant names a client type, optionally with a scope.
func expectAllowed(grants []string, p principal) bool {
	for _, g := range grants {
		if g == "public" || g == string(p.ct) {
			return true
		}
		for _, s := range p.scopes {
			if g == string(p.ct)+":"+s {
				return true
			}
		}
	}
	return false
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// concretePath fills a route template the way a generated client would.
func concretePath(tpl string) string {
	return pathParam.ReplaceAllStringFunc(tpl, func(p string) string {
		if p == "{resourceType}" {
			return "Observation"
		}
		return "id-9000000009"
	})
}

func TestEveryOperationForEveryClientType(t *testing.T) {
	allowed, denied := 0, 0
	for _, p := range principals {
		t.Run(p.name, func(t *testing.T) {
			src := &fakeSource{ct: p.ct, scopes: p.scopes}
			var calls atomic.Int32
			var mu sync.Mutex
			var deniedNow bool
			rt := transportFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				d := deniedNow
				mu.Unlock()
				if d {
					t.Errorf("network call for a denied operation: %s %s", r.Method, r.URL.Path)
				}
				calls.Add(1)
				return ok200(r), nil
			})
			doers := buildDoers(t, p, src, rt)
			for _, op := range access.Operations() {
				d, has := doers[op.Family]
				if !has {
					continue // the type system keeps this family away from this client type
				}
				want := expectAllowed(op.Grants, p)
				mu.Lock()
				deniedNow = !want
				mu.Unlock()
				fetchesBefore, callsBefore := src.fetches.Load(), calls.Load()
				req, err := http.NewRequestWithContext(context.Background(), op.Method, d.ep.base.String()+concretePath(op.Path)+requiredQueryOf(op), nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := d.doRequest(req)
				if want {
					allowed++
					if err != nil {
						t.Errorf("%s.%s: want allowed, got %v", op.Family, op.ID, err)
						continue
					}
					resp.Body.Close()
					if calls.Load() != callsBefore+1 {
						t.Errorf("%s.%s: %d network calls, want 1", op.Family, op.ID, calls.Load()-callsBefore)
					}
					continue
				}
				denied++
				if !errors.Is(err, ErrNotPermitted) {
					t.Errorf("%s.%s: want ErrNotPermitted, got %v", op.Family, op.ID, err)
					continue
				}
				var npe *NotPermittedError
				if !errors.As(err, &npe) || npe.Operation != op.ID || npe.ClientType != p.ct || !slices.Equal(npe.Required, op.Grants) {
					t.Errorf("%s.%s: error lacks operation, client type or required grants: %#v", op.Family, op.ID, npe)
				}
				if src.fetches.Load() != fetchesBefore || calls.Load() != callsBefore {
					t.Errorf("%s.%s: denied call did I/O (token fetches %d, API calls %d)", op.Family, op.ID,
						src.fetches.Load()-fetchesBefore, calls.Load()-callsBefore)
				}
			}
		})
	}
	t.Logf("%d operations in the access table; %d allowed and %d denied calls checked", len(access.Operations()), allowed, denied)
	if allowed == 0 || denied == 0 {
		t.Fatal("the table test checked no allowed or no denied call")
	}
}

// TestAccessAnchors pins a few rules from PKB's documentation, so the table
// test above cannot pass with an access table that is wrong everywhere.
func TestAccessAnchors(t *testing.T) {
	find := func(family access.Family, id string) access.Operation {
		op, ok := access.Lookup(family, id)
		if !ok {
			t.Fatalf("no operation %s.%s", family, id)
		}
		return op
	}
	cases := []struct {
		family access.Family
		op     string
		p      principal
		want   bool
	}{
		{access.FamilyFacade, "patientStatusQuery", principals[0], true},
		{access.FamilyFacade, "patientStatusQuery", principals[2], false},
		{access.FamilyFacade, "searchObservation", principals[2], true},
		{access.FamilyMessaging, "patientProcessMessage", principals[0], true},
		{access.FamilyRESTAPI, "listPatientMeasurements", principals[5], true},
		{access.FamilyRESTAPI, "listPatientMeasurements", principals[2], false},
		{access.FamilyRESTAPI, "listMeasurements", principals[2], true},
		{access.FamilyCustomerR4, "create", principals[1], true},
		{access.FamilyCustomerR4, "create", principals[0], false},
		{access.FamilyAggregated, "searchObservation", principals[2], false},
	}
	for _, c := range cases {
		op := find(c.family, c.op)
		if got := permitted(op.Grants, c.p.ct, c.p.scopes); got != c.want {
			t.Errorf("%s.%s for %s: permitted=%t, want %t (grants %v)", c.family, c.op, c.p.name, got, c.want, op.Grants)
		}
	}
}

// requiredQueryOf gives every required query parameter of op a value, so
// that an allowed call passes the wrappers' required-parameter check.
func requiredQueryOf(op access.Operation) string {
	q := url.Values{}
	for _, name := range op.RequiredQuery {
		q.Set(name, "x")
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
