package verify

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/assumptions"
)

// These tests drive the engine against httptest servers with a table of
// their own; the whole table against the simulator is in pkbtest.

const testToken = "tok-verify-engine-test"

// probeTable is n assumptions, each reading another Patient id.
func probeTable(n int) []assumptions.Assumption {
	var out []assumptions.Assumption
	for i := range n {
		out = append(out, assumptions.Assumption{
			ID: fmt.Sprintf("test.a%02d", i), Family: access.FamilyFacade, Operation: "readPatient", Kind: "shape",
			Claim: "a Patient is a Patient",
			Probes: []assumptions.Probe{{
				Clients: []string{"system"},
				Request: assumptions.Request{Family: access.FamilyFacade, Operation: "readPatient", Path: []string{fmt.Sprintf("p%d", i)}},
				Confirm: []assumptions.Expect{{Status: []int{200}, JSON: []assumptions.Check{
					{Path: "resourceType", OneOf: []string{`"Patient"`}, MaxItems: -1},
					{Path: "name[0].family", Type: "string", MaxItems: -1},
				}}},
				Contradict: []int{404},
			}},
		})
	}
	return out
}

func testCaller(url string) *HTTPCaller {
	return &HTTPCaller{
		Info:     Client{Type: "system", Grants: []string{"system"}, Families: []access.Family{access.FamilyFacade}},
		BaseURLs: map[access.Family]string{access.FamilyFacade: url + "/fhir"},
		Token:    func(context.Context) (string, error) { return testToken, nil },
	}
}

func patient(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/fhir+json")
	fmt.Fprint(w, `{"resourceType":"Patient","id":"x","name":[{"family":"Zebedee-Secretname"}]}`)
}

// TestRunHonoursRetryAfter: a 429 with Retry-After pauses the run for that
// long and the call is retried; the assumption is then judged on the
// answer.
func TestRunHonoursRetryAfter(t *testing.T) {
	var calls atomic.Int32
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		patient(w)
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), testCaller(srv.URL), Options{Table: probeTable(1), NoDrift: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Results[0].Outcome != Confirmed || rep.Calls != 2 {
		t.Fatalf("outcome %s after %d calls, want confirmed after 2", rep.Results[0].Outcome, rep.Calls)
	}
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Errorf("retried after %v, before the 1 s Retry-After", gap)
	}
}

// TestRunBoundsConcurrency: however many probes, at most
// DefaultConcurrency requests are in flight.
func TestRunBoundsConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		patient(w)
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), testCaller(srv.URL), Options{Table: probeTable(24), NoDrift: true, Concurrency: 100})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Confirmed != 24 || rep.Calls != 24 {
		t.Fatalf("summary %+v, %d calls", rep.Summary, rep.Calls)
	}
	if p := peak.Load(); p > MaxConcurrency || p < 2 {
		t.Errorf("peak concurrency %d, want 2..%d", p, MaxConcurrency)
	}
}

// TestRunBudget: probes still waiting when the budget runs out are
// errors, and the run returns.
func TestRunBudget(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	rep, err := Run(context.Background(), testCaller(srv.URL), Options{Table: probeTable(3), NoDrift: true, Budget: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Errors != 3 {
		t.Errorf("summary %+v, want 3 errors", rep.Summary)
	}
}

// TestRunEvidenceIsStructure: a contradicted claim's evidence names paths,
// types and counts, never a value of the answer, in every output.
func TestRunEvidenceIsStructure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		// name[0].family is a number here: the check fails.
		fmt.Fprint(w, `{"resourceType":"Patient","id":"Zebedee-Secretid","name":[{"family":94347659,"given":["Zebedee-Secretname"]}],"Zebedee-Secretkey":1}`)
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), testCaller(srv.URL), Options{Table: probeTable(1)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Results[0].Outcome != Contradicted {
		t.Fatalf("outcome %s", rep.Results[0].Outcome)
	}
	var out bytes.Buffer
	for _, f := range []func() error{
		func() error { return WriteText(&out, rep, true) },
		func() error { return WriteJSON(&out, rep) },
		func() error { return WriteJUnit(&out, rep) },
		func() error { return WritePatches(&out, Suggest(rep)) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"Zebedee", "94347659", testToken} {
		if strings.Contains(out.String(), v) {
			t.Errorf("the outputs hold %q:\n%s", v, out.String())
		}
	}
	if !strings.Contains(out.String(), "name[0].family") {
		t.Errorf("the evidence does not name the path:\n%s", out.String())
	}
}

// TestHTTPCallerNeverLeaksTheToken: no token over plain http to a host
// that is not loopback, none on a redirect, and a path value cannot climb
// out of its segment.
func TestHTTPCallerNeverLeaksTheToken(t *testing.T) {
	c := testCaller("http://pkb.example.invalid")
	if _, err := c.Do(context.Background(), &Request{Family: access.FamilyFacade, Operation: "readPatient", Path: []string{"p1"}}); err == nil ||
		!strings.Contains(err.Error(), "refusing to send a token") {
		t.Errorf("plain http to a remote host: %v", err)
	}

	var leaked atomic.Bool
	var gotPath atomic.Value
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
	}))
	defer evil.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.URL.EscapedPath())
		http.Redirect(w, r, evil.URL+"/steal", http.StatusFound)
	}))
	defer srv.Close()
	resp, err := testCaller(srv.URL).Do(context.Background(), &Request{Family: access.FamilyFacade, Operation: "readPatient", Path: []string{"../../admin"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || leaked.Load() {
		t.Errorf("redirect followed (status %d) or token sent to its target (%v)", resp.StatusCode, leaked.Load())
	}
	if p := gotPath.Load(); p != "/fhir/Patient/..%2F..%2Fadmin" {
		t.Errorf("path sent: %v", p)
	}
	c = testCaller(srv.URL)
	c.Info.Grants = []string{"user:TEAMCOORD"}
	if _, err := c.Do(context.Background(), &Request{Family: access.FamilyFacade, Operation: "readPatient", Path: []string{"p1"}}); err == nil {
		t.Error("an operation the grant does not cover was sent")
	}
}

// TestRunRecordsDrift: answers that break the document are drift, each
// named by kind and path, and the run is not OK.
func TestRunRecordsDrift(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fhir/Patient/p0": // a type change and an unknown field
			w.Header().Set("Content-Type", "application/fhir+json")
			fmt.Fprint(w, `{"resourceType":"Patient","id":"x","active":"yes","zzExtra":1,"name":[{"family":"A"}]}`)
		case "/fhir/Patient/p1": // an error page that is not an OperationOutcome
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<html><body>Not here</body></html>`)
		default: // another status, no body (the document's default is an OperationOutcome)
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), testCaller(srv.URL), Options{Table: probeTable(3)})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range rep.Drift {
		kinds = append(kinds, fmt.Sprintf("%d %s %s breaking=%v", d.Status, d.Kind, d.Path, d.Breaking))
	}
	got := strings.Join(kinds, "\n")
	for _, want := range []string{"200 type active breaking=true", "200 unknown-field zzExtra", "404 error-body", "418 error-body"} {
		if !strings.Contains(got, want) {
			t.Errorf("drift lacks %q:\n%s", want, got)
		}
	}
	if rep.OK() {
		t.Error("a run with drift is OK")
	}
	var junit bytes.Buffer
	if err := WriteJUnit(&junit, rep); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(junit.String(), "<failure ") - strings.Count(junit.String(), `type="contradicted"`); n != len(rep.Drift) {
		t.Errorf("%d JUnit failures for %d drift items", n, len(rep.Drift))
	}
}

// TestPlanListsOnlyWhatCanBeSent: a probe whose values no run could have
// is not planned, so the list of writes is exactly what a run writes.
func TestPlanListsOnlyWhatCanBeSent(t *testing.T) {
	const id = "facade.send-questionnaire-request.response"
	sys := Client{Type: "system", Grants: []string{"system"}, Families: []access.Family{access.FamilyFacade, access.FamilyMessaging}}
	find := func(values map[string]string) Planned {
		for _, p := range Plan(sys, Options{Values: values, AllowWrites: true, Only: []string{id}}) {
			return p
		}
		t.Fatalf("%s is not in the plan", id)
		return Planned{}
	}
	if p := find(map[string]string{"patient.nhsNumber": "x"}); p.Runs || !strings.Contains(p.Reason, "practitionerId") {
		t.Errorf("without practitionerId: %+v", p)
	}
	if p := find(map[string]string{"patient.nhsNumber": "x", "practitionerId": "y"}); !p.Runs || !p.Writes {
		t.Errorf("with practitionerId: %+v", p)
	}
}

// TestRunRetryAfterBeyondTheBudget: a Retry-After longer than what is left
// of the budget is not waited for: the 429 is judged as it is.
func TestRunRetryAfterBeyondTheBudget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "86400")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	spec, err := LoadSpec() // before the clock starts: slow under -race
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := Run(context.Background(), testCaller(srv.URL), Options{Table: probeTable(2), Spec: spec, NoDrift: true, Budget: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Inconclusive != 2 || rep.Calls != 2 {
		t.Errorf("summary %+v after %d calls, want 2 inconclusive after 2", rep.Summary, rep.Calls)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the run waited %v", d)
	}
}
