package wrappers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
)

// pathValues fills op's path parameters as concretePath does.
func pathValues(op access.Operation) []string {
	var out []string
	for _, s := range splitPath(op.Path) {
		switch {
		case s == "{resourceType}":
			out = append(out, "Observation")
		case strings.HasPrefix(s, "{"):
			out = append(out, "id-9000000009")
		}
	}
	return out
}

// callOf is a call of op that fits it: path values, required query
// parameters and, for a write, a body.
func callOf(op access.Operation) *Call {
	c := &Call{Operation: op.ID, Path: pathValues(op), Query: url.Values{}}
	for _, name := range op.RequiredQuery {
		c.Query.Set(name, "x")
	}
	if op.Method == http.MethodPost || op.Method == http.MethodPut {
		c.Body = []byte(`{"resourceType":"Parameters"}`)
	}
	return c
}

// TestDoEveryOperationForEveryClientType is the access table test through
// Family.Do: every operation of every family a client type holds is sent
// to the path its template gives when the grant allows it, and refused
// without any I/O (token fetch included) when it does not.
func TestDoEveryOperationForEveryClientType(t *testing.T) {
	allowed, denied := 0, 0
	for _, p := range principals {
		t.Run(p.name, func(t *testing.T) {
			src := &fakeSource{ct: p.ct, scopes: p.scopes}
			var mu sync.Mutex
			var got []*http.Request
			rt := transportFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
				return ok200(r), nil
			})
			fams := buildDoers(t, p, src, rt)
			for _, op := range access.Operations() {
				f, has := fams[op.Family]
				if !has {
					continue
				}
				mu.Lock()
				got = nil
				mu.Unlock()
				fetches := src.fetches.Load()
				resp, err := f.Do(context.Background(), callOf(op))
				if !expectAllowed(op.Grants, p) {
					denied++
					var npe *NotPermittedError
					if !errors.As(err, &npe) || npe.Operation != op.ID {
						t.Errorf("%s.%s: want a NotPermittedError, got %v", op.Family, op.ID, err)
					}
					if len(got) != 0 || src.fetches.Load() != fetches {
						t.Errorf("%s.%s: a refused call did I/O", op.Family, op.ID)
					}
					if perr := f.Permit(op.ID); !errors.Is(perr, ErrNotPermitted) {
						t.Errorf("%s.%s: Permit = %v, want ErrNotPermitted", op.Family, op.ID, perr)
					}
					continue
				}
				allowed++
				if err != nil {
					t.Errorf("%s.%s: %v", op.Family, op.ID, err)
					continue
				}
				resp.Body.Close()
				if err := f.Permit(op.ID); err != nil {
					t.Errorf("%s.%s: Permit = %v", op.Family, op.ID, err)
				}
				if len(got) != 1 {
					t.Errorf("%s.%s: %d requests, want 1", op.Family, op.ID, len(got))
					continue
				}
				r := got[0]
				wantPath := f.ep.base.Path + concretePath(op.Path)
				if r.Method != op.Method || r.URL.Path != wantPath || r.URL.Host != f.ep.base.Host {
					t.Errorf("%s.%s: sent %s %s%s, want %s %s%s", op.Family, op.ID, r.Method, r.URL.Host, r.URL.Path, op.Method, f.ep.base.Host, wantPath)
				}
				if rop, ok := f.ep.router.match(r.Method, strings.TrimPrefix(r.URL.EscapedPath(), f.ep.base.EscapedPath())); !ok || rop.ID != op.ID {
					t.Errorf("%s.%s: the URL sent reads as %q", op.Family, op.ID, rop.ID)
				}
				if op.Method == http.MethodPost || op.Method == http.MethodPut {
					if r.Header.Get("Content-Type") != f.info.MediaType || r.GetBody == nil {
						t.Errorf("%s.%s: Content-Type %q, re-sendable body %t", op.Family, op.ID, r.Header.Get("Content-Type"), r.GetBody != nil)
					}
				}
			}
		})
	}
	if allowed == 0 || denied == 0 {
		t.Fatalf("%d allowed and %d denied calls checked", allowed, denied)
	}
}

// TestDoRefusesCallsThatDoNotFit: path values that would change the path,
// a wrong count, an operation the family lacks and headers a caller may
// not set are refused before any I/O, and the errors never show a value.
func TestDoRefusesCallsThatDoNotFit(t *testing.T) {
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("network call to %s", r.URL)
		return nil, errors.New("unreachable")
	})
	src := &fakeSource{ct: authn.ClientCustomer}
	c, err := NewCustomerSystemClient(src, "acme", WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	f := c.CustomerR4.Family()
	read := func(typ, id string) *Call { return &Call{Operation: "read", Path: []string{typ, id}} }
	for name, tc := range map[string]struct {
		call *Call
		want error
	}{
		"dot segment":                  {read("Patient", ".."), ErrInvalidCall},
		"dot segment, encoded":         {read("Patient", "%2e%2e"), ErrInvalidCall},
		"slash":                        {read("Patient", "9434765919/../../x"), ErrInvalidCall},
		"backslash":                    {read("Patient", `a\b`), ErrInvalidCall},
		"matrix parameter":             {read("Patient", "..;"), ErrInvalidCall},
		"operation as an id":           {read("Patient", "$expunge"), ErrInvalidCall},
		"keyword as an id":             {read("Patient", "_history"), ErrInvalidCall},
		"keyword as a type":            {&Call{Operation: "search", Path: []string{"_search"}}, ErrInvalidCall},
		"empty id":                     {read("Patient", ""), ErrInvalidCall},
		"query in an id":               {read("Patient", "p1?_format=xml"), ErrInvalidCall},
		"space":                        {read("Patient", "p 1"), ErrInvalidCall},
		"non-ASCII":                    {read("Patient", "p\u2024\u2024"), ErrInvalidCall},
		"another operation's literal":  {&Call{Operation: "search", Path: []string{"metadata"}}, ErrInvalidCall},
		"too few values":               {&Call{Operation: "read", Path: []string{"Patient"}}, ErrInvalidCall},
		"too many values":              {&Call{Operation: "capabilities", Path: []string{"x"}}, ErrInvalidCall},
		"unknown operation":            {&Call{Operation: "readPatient", Path: []string{"p1"}}, ErrUnknownOperation},
		"Authorization header":         {&Call{Operation: "capabilities", Header: http.Header{"Authorization": {"Bearer stolen"}}}, ErrInvalidCall},
		"method override header":       {&Call{Operation: "capabilities", Header: http.Header{"X-Http-Method-Override": {"DELETE"}}}, ErrInvalidCall},
		"org header":                   {&Call{Operation: "capabilities", Header: http.Header{"X-Org-Public-Id": {"other-org"}}}, ErrInvalidCall},
		"Host header":                  {&Call{Operation: "capabilities", Header: http.Header{"Host": {"evil.example.org"}}}, ErrInvalidCall},
		"header with a line break":     {&Call{Operation: "capabilities", Header: http.Header{"Prefer": {"return=minimal\r\nAuthorization: x"}}}, ErrInvalidCall},
		"lower-case disallowed header": {&Call{Operation: "capabilities", Header: http.Header{"cookie": {"a=b"}}}, ErrInvalidCall},
		"nil call":                     {nil, ErrInvalidCall},
	} {
		_, err := f.Do(context.Background(), tc.call)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: want %v, got %v", name, tc.want, err)
			continue
		}
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: want a *RequestError, got %T", name, err)
		}
		for _, secret := range []string{"9434765919", "stolen", "other-org", "evil.example", "a=b"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows a value: %v", name, err)
			}
		}
	}
	if src.fetches.Load() != 0 {
		t.Errorf("refused calls fetched %d tokens", src.fetches.Load())
	}
	if err := f.Permit("readPatient"); !errors.Is(err, ErrUnknownOperation) {
		t.Errorf("Permit of an unknown operation: %v", err)
	}
}

// TestDoSendsAllowedHeadersAndQuery: the allowlisted headers reach the
// server as given, the credentials are the checkpoint's, and the query is
// the call's.
func TestDoSendsAllowedHeadersAndQuery(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"resourceType":"Patient","id":"p1"}`)
	}))
	defer srv.Close()
	c, err := NewCustomerSystemClient(&fakeSource{ct: authn.ClientCustomer, env: loopbackEnv(srv.URL)}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	call := &Call{Operation: "update", Path: []string{"Patient", "p1"}, Body: []byte(`{"resourceType":"Patient","id":"p1"}`)}
	Apply(call, IfMatch("3"), PreferReturn("representation"), Header("breaktheglass", "btg-token"),
		IfNoneExist(url.Values{"identifier": {"https://fhir.nhs.uk/Id/nhs-number|9434765919"}}), nil)
	resp, err := c.CustomerR4.Family().Do(context.Background(), call)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for name, want := range map[string]string{
		"If-Match": `W/"3"`, "Prefer": "return=representation", "Breaktheglass": "btg-token",
		"If-None-Exist": "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919",
		"Content-Type":  "application/fhir+json", "Accept": "application/fhir+json",
	} {
		if got.Header.Get(name) != want {
			t.Errorf("%s: %q, want %q", name, got.Header.Get(name), want)
		}
	}
	if !strings.HasPrefix(got.Header.Get("Authorization"), "Bearer "+secretToken) || got.URL.Path != "/customer/acme/fhir/Patient/p1" || body != string(call.Body) {
		t.Errorf("sent %s %s with body %q", got.Method, got.URL.Path, body)
	}

	Apply(call, NoIfMatch())
	if call.Header.Get("If-Match") != "" {
		t.Error("NoIfMatch left If-Match")
	}
	search := &Call{Operation: "search", Path: []string{"Observation"}, Query: url.Values{"code": {"8867-4"}, "date": {"ge2024-01-01", "lt2025-01-01"}}}
	if resp, err = c.CustomerR4.Family().Do(context.Background(), search); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if q := got.URL.Query(); q.Get("code") != "8867-4" || len(q["date"]) != 2 || got.Method != http.MethodGet {
		t.Errorf("query sent: %s %s", got.Method, got.URL.RawQuery)
	}
}

// TestDoBodyIsSentAgain: a Call's body goes out again, whole, on the
// replay after a 401 and on a retry.
func TestDoBodyIsSentAgain(t *testing.T) {
	var bodies []string
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		auths = append(auths, r.Header.Get("Authorization"))
		switch len(bodies) {
		case 1:
			w.WriteHeader(http.StatusUnauthorized)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "application/fhir+json")
			io.WriteString(w, `{"resourceType":"Parameters"}`)
		}
	}))
	defer srv.Close()
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID, WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	const in = `{"resourceType":"Parameters","parameter":[{"name":"nhsNumber","valueString":"9434765919"}]}`
	resp, err := c.Facade.Family().Do(context.Background(), &Call{Operation: "patientStatusQuery", Body: []byte(in)})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(bodies) != 3 || bodies[0] != in || bodies[1] != in || bodies[2] != in {
		t.Errorf("bodies sent: %q", bodies)
	}
	if auths[0] == auths[1] {
		t.Error("the replay after a 401 reused the refused token")
	}
}

// TestDoChecksRequiredQueryAndPublicOperations: a required parameter must
// have a value; a public operation needs no token.
func TestDoChecksRequiredQueryAndPublicOperations(t *testing.T) {
	calls := 0
	rt := transportFunc(func(r *http.Request) (*http.Response, error) { calls++; return ok200(r), nil })
	src := &fakeSource{ct: authn.ClientCustomer}
	c, err := NewCustomerSystemClient(src, "acme", WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	op, _ := access.Lookup(access.FamilyAggregated, "searchAllergyIntolerance")
	if len(op.RequiredQuery) == 0 {
		t.Fatal("aggregated.searchAllergyIntolerance has no required parameter any more: pick another operation")
	}
	_, err = c.Aggregated.Family().Do(context.Background(), &Call{Operation: op.ID, Query: url.Values{op.RequiredQuery[0]: {" "}}})
	if !errors.Is(err, ErrMissingParameter) || calls != 0 || src.fetches.Load() != 0 {
		t.Errorf("blank required parameter: %v, %d calls", err, calls)
	}

	usrc := &fakeSource{ct: authn.ClientUser, scopes: []string{"PATIENT"}}
	u, err := NewUserClient(usrc, WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := u.Facade.Family().Do(context.Background(), &Call{Operation: "capabilities"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if calls != 1 || usrc.fetches.Load() != 0 {
		t.Errorf("public capabilities: %d calls, %d token fetches", calls, usrc.fetches.Load())
	}
	if err := u.Facade.Family().Permit("capabilities"); err != nil {
		t.Errorf("Permit(public): %v", err)
	}
}

// TestClientsHoldExactlyTheirFamilies: each client type's client has a
// handle for each family the family table grants that type, and no other.
func TestClientsHoldExactlyTheirFamilies(t *testing.T) {
	rt := transportFunc(func(r *http.Request) (*http.Response, error) { return ok200(r), nil })
	opts := []Option{WithHTTPClient(&http.Client{Transport: rt})}
	clients := map[authn.ClientType]func() (any, error){
		authn.ClientSystem: func() (any, error) { return NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, opts...) },
		authn.ClientCustomer: func() (any, error) {
			return NewCustomerSystemClient(&fakeSource{ct: authn.ClientCustomer}, "acme", opts...)
		},
		authn.ClientUser:     func() (any, error) { return NewUserClient(&fakeSource{ct: authn.ClientUser}, opts...) },
		authn.ClientTethered: func() (any, error) { return NewTetheredClient(&fakeSource{ct: authn.ClientTethered}, opts...) },
	}
	for ct, build := range clients {
		c, err := build()
		if err != nil {
			t.Fatalf("%s: %v", ct, err)
		}
		var got []access.Family
		v := reflect.ValueOf(c).Elem()
		for i := range v.NumField() {
			h, ok := v.Field(i).Interface().(interface{ Family() *Family })
			if !ok || v.Field(i).IsNil() {
				t.Fatalf("%s client field %s is not a family handle", ct, v.Type().Field(i).Name)
			}
			f := h.Family()
			got = append(got, f.Info().ID)
			if f.Info().MediaType != f.ep.accept || f.BaseURL().String() != f.ep.base.String() {
				t.Errorf("%s: Info or BaseURL disagree with the checkpoint", f.Info().ID)
			}
		}
		var want []access.Family
		for _, info := range access.Families() {
			if slices.Contains(info.ClientTypes, string(ct)) {
				want = append(want, info.ID)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("%s client holds %v, the family table grants %v", ct, got, want)
		}
	}
}

// TestBaseURLsComeFromTheSource: a client takes every base URL from its
// token source's environment, so that a production token is never sent to
// the sandbox (issue 13: WithEnvironment defaulted to Sandbox).
func TestBaseURLsComeFromTheSource(t *testing.T) {
	var hosts []string
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		hosts = append(hosts, r.URL.Host+r.URL.Path)
		return ok200(r), nil
	})
	opts := []Option{WithHTTPClient(&http.Client{Transport: rt})}
	sys, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: authn.UKProduction}, orgID, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := sys.Facade.Gen.ReadPatient(context.Background(), "p1"); err == nil {
		resp.Body.Close()
	}
	cus, err := NewCustomerSystemClient(&fakeSource{ct: authn.ClientCustomer, env: authn.UKProduction}, "acme", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := cus.CustomerR4.Family().Do(context.Background(), &Call{Operation: "read", Path: []string{"Patient", "p1"}}); err == nil {
		resp.Body.Close()
	}
	want := []string{"my.patientsknowbest.com/fhir/Patient/p1", "acme.fhir-api.patientsknowbest.com/fhir/Patient/p1"}
	if !slices.Equal(hosts, want) {
		t.Errorf("requests went to %v, want %v", hosts, want)
	}
	for _, info := range access.Families() {
		u, _ := authn.UKProduction.BaseURL(info.ID, "acme")
		if strings.Contains(u, "sandbox") {
			t.Errorf("%s: %s", info.ID, u)
		}
	}
	if _, err := NewCustomerSystemClient(&fakeSource{ct: authn.ClientCustomer}, "evil.example.org/x#"); !errors.Is(err, authn.ErrInvalidConfig) {
		t.Errorf("customer name that is not a DNS label: %v", err)
	}
	bad := authn.Sandbox
	bad.MessagingURL = "http://messaging.example.org/phr-fhir"
	if _, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: bad}, orgID); err == nil {
		t.Error("plain http to a remote host accepted")
	}
}

// TestGeneratedClientUsesTheCheckpoint: a handle's generated client sends
// through the handle's Family, so both see one grant and one base URL.
func TestGeneratedClientUsesTheCheckpoint(t *testing.T) {
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	in, ok := c.Facade.Gen.ClientInterface.(*facade.Client)
	if !ok {
		t.Fatalf("generated client is %T", c.Facade.Gen.ClientInterface)
	}
	if d, ok := in.Client.(genDoer); !ok || d.f != c.Facade.Family() || in.Server != c.Facade.Family().BaseURL().String()+"/" {
		t.Errorf("generated client's doer %T, server %s", in.Client, in.Server)
	}
	var _ r4.Version = (&CustomerR4{}).FHIRVersion()
}

// TestInfoAndBaseURLAreCopies: what a caller does to them changes nothing.
func TestInfoAndBaseURLAreCopies(t *testing.T) {
	c, err := NewUserClient(&fakeSource{ct: authn.ClientUser})
	if err != nil {
		t.Fatal(err)
	}
	f := c.Facade.Family()
	info := f.Info()
	info.ClientTypes[0] = "tethered"
	u := f.BaseURL()
	u.Host = "evil.example.org"
	if f.Info().ClientTypes[0] == "tethered" || f.BaseURL().Host == "evil.example.org" || f.ep.base.Host == "evil.example.org" {
		t.Error("a returned value reached the family")
	}
}

// FuzzCallPath sends arbitrary path values through Family.Do's URL
// builder. Property: a call accepted has a URL that every server
// normalisation reads as the named operation under the base path.
func FuzzCallPath(f *testing.F) {
	for _, v := range []string{"p1", "..", "%2e", "a/b", "$everything", "_history", "", "metadata", "p 1", "9434765919", "a;b", "Patient"} {
		f.Add(uint8(3), uint8(0), v, "x")
		f.Add(uint8(3), uint8(1), "Patient", v)
	}
	doers := fuzzDoers(f)
	f.Fuzz(func(t *testing.T, family, opIndex uint8, a, b string) {
		d := doers[int(family)%len(doers)]
		ops := make([]*route, 0, len(d.ops))
		for i := range d.ep.router.routes {
			rt := &d.ep.router.routes[i]
			if d.ops[rt.op.ID] == rt {
				ops = append(ops, rt)
			}
		}
		rt := ops[int(opIndex)%len(ops)]
		vals := []string{a, b, a}[:rt.params]
		req, err := d.build(context.Background(), rt, &Call{Operation: rt.op.ID, Path: vals})
		if err != nil {
			for _, v := range vals {
				if len(v) >= 4 && strings.Contains(err.Error(), v) && !strings.Contains(rt.op.Path, v) {
					t.Fatalf("the error shows a path value: %v", err)
				}
			}
			return
		}
		checkAccepted(t, d, rt.op.Method, req.URL, rt.op)
		if got := strings.Count(req.URL.EscapedPath(), "/"); got != strings.Count(d.ep.base.EscapedPath(), "/")+max(len(splitPath(rt.op.Path)), 1) {
			t.Fatalf("%s: %d slashes for %s", req.URL.EscapedPath(), got, rt.op.Path)
		}
	})
}
