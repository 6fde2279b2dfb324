package wrappers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// recorder answers every request with status and body, and records what
// it was sent.
type recorder struct {
	mu     sync.Mutex
	status int
	body   string
	reqs   []*http.Request
	bodies []string
}

func (r *recorder) serve(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.bodies = append(r.bodies, string(b))
		status, body := r.status, r.body
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (r *recorder) set(status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.body = status, body
}

func (r *recorder) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return r.reqs[len(r.reqs)-1], r.bodies[len(r.bodies)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// TestTypedCallHostileAnswers checks what a typed call makes of answers it
// must not take at face value: a 2xx body of another resourceType, a match
// of another type in a search page, a union answer of neither member, and
// an OperationOutcome error.
func TestTypedCallHostileAnswers(t *testing.T) {
	rec := &recorder{}
	srv := rec.serve(t)
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var rte *ResourceTypeError

	rec.set(200, `{"resourceType":"Observation","id":"p1","status":"final"}`)
	if p, err := c.Facade.ReadPatient(ctx, "p1"); p != nil || !errors.As(err, &rte) || rte.Want != "Patient" || rte.Got != "Observation" {
		t.Errorf("Observation for a Patient read: %v, %v", p, err)
	}
	rec.set(200, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"o1"}},{"resource":{"resourceType":"Patient","id":"p1"}}]}`)
	if p, err := c.Facade.SearchObservation(ctx, &facade.SearchObservationParams{Patient: "p1", Category: "lab"}); p != nil || !errors.As(err, &rte) || rte.Got != "Patient" {
		t.Errorf("a Patient among Observation matches: %v, %v", p, err)
	}
	rec.set(200, `{"resourceType":"Patient","id":"p1"}`)
	if r, err := c.Facade.QuestionnaireSendQuestionnaireRequest(ctx, "q1", &stu3.Parameters{}); r != nil || !errors.As(err, &rte) || rte.Want != "Parameters or OperationOutcome" {
		t.Errorf("a Patient for Parameters|OperationOutcome: %v, %v", r, err)
	}
	rec.set(200, `{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational"}]}`)
	if r, err := c.Messaging.PatientProcessMessage(ctx, &stu3.Patient{}); err != nil || r == nil || r.Patient != nil || r.OperationOutcome == nil || r.OperationOutcome.Issue[0].Code != "informational" {
		t.Errorf("an OperationOutcome for Patient|OperationOutcome: %+v, %v", r, err)
	}
	rec.set(200, `{"resourceType":"Patient","id":"p1"}`)
	if r, err := c.Messaging.PatientProcessMessage(ctx, &stu3.Patient{}); err != nil || r == nil || r.Patient == nil || r.Patient.Id != "p1" || r.OperationOutcome != nil {
		t.Errorf("a Patient for Patient|OperationOutcome: %+v, %v", r, err)
	}
	rec.set(404, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"Patient/p9 is not known"}]}`)
	var ae *APIError
	if p, err := c.Facade.ReadPatient(ctx, "p9"); p != nil || !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Outcome == nil || ae.Outcome.Issues[0].Code != "not-found" || ae.Operation != "facade.readPatient" {
		t.Errorf("404 OperationOutcome: %v, %+v", p, err)
	}
	rec.set(200, `{"resourceType":"Patient","id":`)
	if p, err := c.Facade.ReadPatient(ctx, "p1"); p != nil || err == nil {
		t.Errorf("truncated body: %v, %v", p, err)
	}
}

// TestTypedCallRefusedBeforeIO checks that a typed call the client's grant
// does not cover, or with a path value that is not one plain segment, or
// without its body, sends nothing.
func TestTypedCallRefusedBeforeIO(t *testing.T) {
	rec := &recorder{status: 200, body: `{"resourceType":"Parameters"}`}
	srv := rec.serve(t)
	sys, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	usr, err := NewUserClient(&fakeSource{ct: authn.ClientUser, env: loopbackEnv(srv.URL), scopes: []string{"PATIENT"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// $date-of-last-data-point on an instance is the patient's own only.
	if _, err := sys.Facade.PatientInstanceDateOfLastDataPoint(ctx, "p1"); !errors.Is(err, ErrNotPermitted) {
		t.Errorf("system client, patient-only operation: %v", err)
	}
	// $status-query is the System Client's only.
	if _, err := usr.Facade.PatientStatusQuery(ctx, &stu3.Parameters{}); !errors.Is(err, ErrNotPermitted) {
		t.Errorf("patient, system-only operation: %v", err)
	}
	for _, id := range []string{"../metadata", "", "p1/_history/1", "..", "p1?x=1"} {
		if _, err := sys.Facade.ReadPatient(ctx, id); !errors.Is(err, ErrInvalidCall) {
			t.Errorf("ReadPatient(%q): %v", id, err)
		}
	}
	// A required search parameter left blank: the generated builder sends
	// patient= and PKB would search more than the caller meant.
	if _, err := sys.Facade.SearchObservation(ctx, &facade.SearchObservationParams{Category: "lab"}); !errors.Is(err, ErrMissingParameter) {
		t.Errorf("blank required parameter: %v", err)
	}
	if _, err := sys.Facade.PatientStatusQuery(ctx, nil); !errors.Is(err, ErrInvalidCall) {
		t.Errorf("nil body: %v", err)
	}
	if n := rec.count(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

// TestTypedCallEncoding checks that a typed call sends what the generated
// client sends: the same query (encoded by the generated builder), the
// header parameters of its Params struct, the resource type of the Go type,
// and a body whose resourceType is set without changing the caller's value.
func TestTypedCallEncoding(t *testing.T) {
	rec := &recorder{status: 200, body: `{"resourceType":"Bundle","type":"searchset"}`}
	srv := rec.serve(t)
	sys, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	count := int32(7)
	params := &facade.SearchObservationParams{Patient: "Patient/p1", Category: "http://x|a b,c", Date: []string{"ge2024", "lt2025"}, Count: &count}
	if _, err := sys.Facade.Gen.SearchObservationWithResponse(ctx, params); err != nil {
		t.Fatal(err)
	}
	genReq, _ := rec.last(t)
	if _, err := sys.Facade.SearchObservation(ctx, params); err != nil {
		t.Fatal(err)
	}
	typedReq, _ := rec.last(t)
	if typedReq.URL.Path != genReq.URL.Path || typedReq.URL.RawQuery != genReq.URL.RawQuery {
		t.Errorf("typed %s?%s, generated %s?%s", typedReq.URL.Path, typedReq.URL.RawQuery, genReq.URL.Path, genReq.URL.RawQuery)
	}

	cust, err := NewCustomerSystemClient(&fakeSource{ct: authn.ClientCustomer, env: loopbackEnv(srv.URL)}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	rec.set(201, `{"resourceType":"Patient","id":"p2","meta":{"versionId":"1"}}`)
	in := &r4.Patient{Id: "p2"}
	p, err := CustomerR4Create(ctx, cust.CustomerR4, in, &customerr4.CreateParams{IfNoneExist: ptrTo("identifier=s|v")})
	if err != nil || p == nil || p.Id != "p2" {
		t.Fatalf("create: %v, %v", p, err)
	}
	req, body := rec.last(t)
	if req.Method != http.MethodPost || req.URL.Path != "/customer/acme/fhir/Patient" || req.Header.Get("If-None-Exist") != "identifier=s|v" ||
		req.Header.Get("Content-Type") != "application/fhir+json" || body != `{"id":"p2","resourceType":"Patient"}` {
		t.Errorf("create sent %s %s If-None-Exist=%q %q", req.Method, req.URL.Path, req.Header.Get("If-None-Exist"), body)
	}
	if in.ResourceType != "" {
		t.Error("the caller's resource was changed")
	}
	rec.set(200, `{"resourceType":"Patient","id":"p2"}`)
	if _, err := CustomerR4Update(ctx, cust.CustomerR4, "p2", p, nil, IfMatch("1")); err != nil {
		t.Fatal(err)
	}
	req, _ = rec.last(t)
	if req.Method != http.MethodPut || req.URL.Path != "/customer/acme/fhir/Patient/p2" || req.Header.Get("If-Match") != `W/"1"` {
		t.Errorf("update sent %s %s If-Match=%q", req.Method, req.URL.Path, req.Header.Get("If-Match"))
	}
	rec.set(200, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]}`)
	page, err := CustomerR4SearchPost[r4.Observation](ctx, cust.CustomerR4, &customerr4.SearchForm{ID: ptrTo("o1")})
	if err != nil || len(page.Matches) != 1 || page.Matches[0].Id != "o1" {
		t.Fatalf("search by POST: %v, %v", page, err)
	}
	req, body = rec.last(t)
	if form, _ := url.ParseQuery(body); req.URL.Path != "/customer/acme/fhir/Observation/_search" || form.Get("_id") != "o1" ||
		req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("search by POST sent %s %q (%s)", req.URL.Path, body, req.Header.Get("Content-Type"))
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestTypedOperationCount ties the generated file to the access table:
// every operation has its typed call.
func TestTypedOperationCount(t *testing.T) {
	if n := len(access.Operations()); typedOperations != n {
		t.Errorf("operations_gen.go has %d typed calls, the access table %d operations: run make generate", typedOperations, n)
	}
}

// TestPageDirectDecode covers the entries a page decodes straight from the
// stream (a resource whose first member names the page's type): matches,
// an included resource of the same type, a repeated resourceType member,
// and entries whose resourceType is not first.
func TestPageDirectDecode(t *testing.T) {
	decode := func(body string) (*Page[stu3.Observation], error) {
		return decodePage[stu3.Observation](nil, io.NopCloser(strings.NewReader(body)), nil, DefaultMaxResponseBytes)
	}
	p, err := decode(`{"resourceType":"Bundle","type":"searchset","entry":[
		{"fullUrl":"http://x/Observation/o1","resource": {"resourceType" : "Observation","id":"o1","status":"final"},"search":{"mode":"match"}},
		{"resource":{"id":"o3","resourceType":"Observation","status":"amended"}},
		{"search":{"mode":"include"},"resource":{"resourceType":"Observation","id":"o2","status":"final","valueString":"member"}},
		{"resource":{"resourceType":"Observation","id":"o4","status":"final","valueString":"member"},"search":{"mode":"include"}},
		{"resource":{"resourceType":"Patient","id":"p1"},"search":{"mode":"include"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Matches) != 2 || p.Matches[0].Id != "o1" || p.Matches[1].Id != "o3" || p.Matches[1].Status != "amended" {
		t.Fatalf("matches %+v", p.Matches)
	}
	for _, ref := range []string{"Observation/o2", "Observation/o4"} {
		o, err := IncludedAs[stu3.Observation](p, ref)
		if err != nil || o == nil || o.ValueString != "member" {
			t.Errorf("included %s: %+v, %v", ref, o, err)
		}
	}
	if pt, err := IncludedAs[stu3.Patient](p, "Patient/p1"); err != nil || pt == nil || pt.Id != "p1" {
		t.Errorf("included patient: %+v, %v", pt, err)
	}
	var rte *ResourceTypeError
	if _, err := decode(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o1","resourceType":"Patient"}}]}`); !errors.As(err, &rte) && err == nil {
		t.Errorf("repeated resourceType: %v", err)
	}
	if _, err := decode(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","status":7}}]}`); err == nil || !strings.Contains(err.Error(), "entry 0") {
		t.Errorf("a match that does not decode: %v", err)
	}
}
