package pkb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pkbgo/pkb"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/wrappers"
)

// loopback serves handler as customer "acme"'s FHIR base and as the
// Facade, and returns a Customer System Client and a System Client on it.
// hits counts the API requests (tokens excluded).
func loopback(t *testing.T, handler http.HandlerFunc) (*wrappers.CustomerSystemClient, *wrappers.SystemClient, *atomic.Int64) {
	t.Helper()
	hits := new(atomic.Int64)
	mux := http.NewServeMux()
	h := func(w http.ResponseWriter, r *http.Request) { hits.Add(1); handler(w, r) }
	mux.HandleFunc("/customer/acme/fhir/", h)
	mux.HandleFunc("/fhir/", h)
	srv, env := fakeEnv(mux)
	t.Cleanup(srv.Close)
	return customerClient(env), systemClient(env), hits
}

func writeFHIR(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// A 2xx body of another resourceType is a *ResourceTypeError and no value,
// on every family: the Go type decides what is accepted.
func TestReadWrongResourceType(t *testing.T) {
	cust, sys, _ := loopback(t, func(w http.ResponseWriter, r *http.Request) {
		writeFHIR(w, 200, `{"resourceType":"Observation","id":"p1","status":"final"}`)
	})
	ctx := context.Background()
	p, err := pkb.Read[r4.Patient](ctx, cust.CustomerR4, "p1")
	var rte *wrappers.ResourceTypeError
	if p != nil || !errors.As(err, &rte) || rte.Want != "Patient" || rte.Got != "Observation" {
		t.Errorf("Customer R4 Read[Patient] of an Observation: %v, %v", p, err)
	}
	q, err := pkb.Read[stu3.Patient](ctx, sys.Facade, "p1")
	if q != nil || !errors.As(err, &rte) || rte.Want != "Patient" {
		t.Errorf("Facade Read[Patient] of an Observation: %v, %v", q, err)
	}
	// Update answered with another type: no value either.
	u, _, err := pkb.Update(ctx, cust.CustomerR4, &r4.Patient{Id: "p1"})
	if u != nil || !errors.As(err, &rte) {
		t.Errorf("Update answered with an Observation: %v, %v", u, err)
	}
}

// The requests the typed layer sends: method, path, If-Match, If-None-Exist,
// the body's resourceType.
func TestRequestsSent(t *testing.T) {
	type seen struct{ method, path, ifMatch, ifNoneExist, bodyType string }
	var got []seen
	cust, _, _ := loopback(t, func(w http.ResponseWriter, r *http.Request) {
		var b struct{ ResourceType string }
		json.NewDecoder(r.Body).Decode(&b)
		got = append(got, seen{r.Method, r.URL.Path, r.Header.Get("If-Match"), r.Header.Get("If-None-Exist"), b.ResourceType})
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/_history"), r.URL.Path == "/customer/acme/fhir/Patient" && r.Method == "GET":
			writeFHIR(w, 200, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient","id":"p1"}}]}`)
		default:
			w.Header().Set("Location", "Patient/p1/_history/4")
			writeFHIR(w, 201, `{"resourceType":"Patient","id":"p1","meta":{"versionId":"4"}}`)
		}
	})
	ctx, f := context.Background(), cust.CustomerR4
	check := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	_, err := pkb.Read[r4.Patient](ctx, f, "p1")
	check("read", err)
	_, err = pkb.VRead[r4.Patient](ctx, f, "p1", "3")
	check("vread", err)
	_, meta, err := pkb.Create(ctx, f, &r4.Patient{})
	check("create", err)
	if meta.Status != 201 || meta.Location != "Patient/p1/_history/4" {
		t.Errorf("create meta %+v", meta)
	}
	_, _, err = pkb.CreateIfNoneExist(ctx, f, &r4.Patient{}, url.Values{"identifier": {"sys|v"}})
	check("conditional create", err)
	_, _, err = pkb.Update(ctx, f, &r4.Patient{Id: "p1", Meta: &r4.Meta{VersionId: "3"}})
	check("update", err)
	_, _, err = pkb.Update(ctx, f, &r4.Patient{Id: "p1", Meta: &r4.Meta{VersionId: "3"}}, wrappers.NoIfMatch())
	check("update without If-Match", err)
	_, _, err = pkb.Update(ctx, f, &r4.Patient{Id: "p1"})
	check("update of a resource without a version", err)
	check("delete", pkb.Delete[r4.Patient](ctx, f, "p1"))
	_, err = pkb.History[r4.Patient](ctx, f, "p1", nil)
	check("history", err)
	_, err = pkb.History[r4.Patient](ctx, f, "", nil)
	check("type history", err)
	for _, err := range pkb.Search[r4.Patient](ctx, f, url.Values{"name": {"x"}}) {
		check("search", err)
	}
	const base = "/customer/acme/fhir"
	want := []seen{
		{"GET", base + "/Patient/p1", "", "", ""},
		{"GET", base + "/Patient/p1/_history/3", "", "", ""},
		{"POST", base + "/Patient", "", "", "Patient"},
		{"POST", base + "/Patient", "", "identifier=sys%7Cv", "Patient"},
		{"PUT", base + "/Patient/p1", `W/"3"`, "", "Patient"},
		{"PUT", base + "/Patient/p1", "", "", "Patient"},
		{"PUT", base + "/Patient/p1", "", "", "Patient"},
		{"DELETE", base + "/Patient/p1", "", "", ""},
		{"GET", base + "/Patient/p1/_history", "", "", ""},
		{"GET", base + "/Patient/_history", "", "", ""},
		{"GET", base + "/Patient", "", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// Refusals happen before any I/O: an interaction the family lacks, a
// resource whose resourceType contradicts the Go type, an update without
// an id, an empty conditional-create query, a transaction on a family
// without one, a bundle entry that failed to build.
func TestRefusedBeforeIO(t *testing.T) {
	cust, sys, hits := loopback(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request sent: %s %s", r.Method, r.URL.Path)
	})
	ctx := context.Background()
	var unsup *pkb.UnsupportedError
	_, _, err := pkb.Create(ctx, sys.Facade, &stu3.Patient{})
	if !errors.As(err, &unsup) || unsup.Family != "facade" || unsup.Interaction != "create" || unsup.ResourceType != "Patient" || !errors.Is(err, pkb.ErrUnsupported) {
		t.Errorf("Facade create: %v", err)
	}
	if _, err := pkb.Read[stu3.Account](ctx, sys.Facade, "a1"); !errors.Is(err, pkb.ErrUnsupported) {
		t.Errorf("Facade read of a type it does not serve: %v", err)
	}
	// The Aggregated API reads Patients: sent (and answered 404 by the
	// test server's mux, which does not route /agg), not unsupported.
	if _, err := pkb.Read[r4.Patient](ctx, cust.Aggregated, "a1"); !wrappers.IsNotFound(err) {
		t.Errorf("aggregated read: %v", err)
	}
	if err := pkb.Delete[r4.Observation](ctx, cust.Aggregated, "o1"); !errors.Is(err, pkb.ErrUnsupported) {
		t.Errorf("Aggregated delete: %v", err)
	}
	if _, err := pkb.NewTransaction[stu3.Version]().Do(ctx, sys.Facade); !errors.Is(err, pkb.ErrUnsupported) {
		t.Errorf("Facade transaction: %v", err)
	}

	obs := &r4.Patient{ResourceType: "Observation"}
	var rte *wrappers.ResourceTypeError
	if _, _, err := pkb.Create(ctx, cust.CustomerR4, obs); !errors.As(err, &rte) || rte.Got != "Observation" {
		t.Errorf("create of a Patient declaring Observation: %v", err)
	}
	if _, _, err := pkb.Update(ctx, cust.CustomerR4, &r4.Patient{}); !errors.Is(err, wrappers.ErrInvalidCall) {
		t.Errorf("update without id: %v", err)
	}
	if _, _, err := pkb.Update(ctx, cust.CustomerR4, &r4.Patient{Id: "../Observation/o1"}); !errors.Is(err, wrappers.ErrInvalidCall) {
		t.Errorf("update with a path in its id: %v", err)
	}
	if _, _, err := pkb.CreateIfNoneExist(ctx, cust.CustomerR4, &r4.Patient{}, nil); !errors.Is(err, wrappers.ErrInvalidCall) {
		t.Errorf("conditional create without a condition: %v", err)
	}
	if _, _, err := pkb.Create[r4.Patient](ctx, cust.CustomerR4, nil); !errors.Is(err, wrappers.ErrInvalidCall) {
		t.Errorf("create of nil: %v", err)
	}
	tx := pkb.NewTransaction[r4.Version]()
	pkb.CreateIn(tx, &r4.Patient{})
	pkb.UpdateIn(tx, &r4.Patient{Id: "a/b"})
	if _, err := tx.Do(ctx, cust.CustomerR4); err == nil || !strings.Contains(err.Error(), "entry 1") {
		t.Errorf("transaction with a bad entry: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// StampType fills a zero resourceType, so a model built in Go needs none.
func TestCreateStampsType(t *testing.T) {
	var sent string
	cust, _, _ := loopback(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sent = string(b)
		writeFHIR(w, 201, `{"resourceType":"Observation","id":"o9"}`)
	})
	o := &r4.Observation{Status: r4.ObservationStatusFinal}
	got, _, err := pkb.Create(context.Background(), cust.CustomerR4, o)
	if err != nil || got.Id != "o9" || !strings.Contains(sent, `"resourceType":"Observation"`) {
		t.Errorf("create: %v %+v, sent %s", err, got, sent)
	}
}

// A hostile or broken transaction response is never taken for an
// answer to the Bundle sent.
func TestTransactionResponseHostile(t *testing.T) {
	const patient = `{"resourceType":"Patient","id":"n1"}`
	cases := []struct {
		name, body string
		check      func(t *testing.T, res []pkb.EntryResult, err error)
	}{
		{"fewer entries than sent", `{"resourceType":"Bundle","type":"transaction-response","entry":[{"resource":` + patient + `,"response":{"status":"201 Created"}}]}`,
			func(t *testing.T, res []pkb.EntryResult, err error) {
				if res != nil || !errors.Is(err, pkb.ErrResponseShape) || !strings.Contains(err.Error(), "2 entries sent, 1 answered") {
					t.Errorf("%v %v", res, err)
				}
			}},
		{"more entries than sent", `{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201"}},{"response":{"status":"201"}},{"response":{"status":"201"}}]}`,
			func(t *testing.T, res []pkb.EntryResult, err error) {
				if res != nil || !errors.Is(err, pkb.ErrResponseShape) {
					t.Errorf("%v %v", res, err)
				}
			}},
		{"not a Bundle", `{"resourceType":"Patient<script>","id":"x"}`,
			func(t *testing.T, res []pkb.EntryResult, err error) {
				var rte *wrappers.ResourceTypeError
				if res != nil || !errors.Is(err, pkb.ErrResponseShape) || !errors.As(err, &rte) || strings.Contains(err.Error(), "script") {
					t.Errorf("%v %v", res, err)
				}
			}},
		{"a batch-response to a transaction", `{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"201"}},{"response":{"status":"201"}}]}`,
			func(t *testing.T, res []pkb.EntryResult, err error) {
				if res != nil || !errors.Is(err, pkb.ErrResponseShape) {
					t.Errorf("%v %v", res, err)
				}
			}},
		{"an entry whose resource has another type", `{"resourceType":"Bundle","type":"transaction-response","entry":[{"resource":` + patient + `,"response":{"status":"201 Created"}},{"resource":{"resourceType":"Patient","id":"n2"},"response":{"status":"201 Created"}}]}`,
			func(t *testing.T, res []pkb.EntryResult, err error) {
				var be *pkb.BatchError
				var rte *wrappers.ResourceTypeError
				if len(res) != 2 || !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 1 || !errors.As(err, &rte) || rte.Want != "Observation" {
					t.Fatalf("%v %v", res, err)
				}
				if o, err := pkb.EntryAs[r4.Observation](res[1]); o != nil || !errors.As(err, &rte) {
					t.Errorf("EntryAs of the wrong entry: %v %v", o, err)
				}
				if p, err := pkb.EntryAs[r4.Patient](res[0]); err != nil || p.Id != "n1" {
					t.Errorf("EntryAs of the good entry: %v %v", p, err)
				}
				// Asked as the wrong type, the good entry is refused too.
				if o, err := pkb.EntryAs[r4.Observation](res[0]); o != nil || !errors.As(err, &rte) {
					t.Errorf("EntryAs[Observation] of a Patient: %v %v", o, err)
				}
			}},
		{"an entry without a status", `{"resourceType":"Bundle","type":"transaction-response","entry":[{"resource":` + patient + `,"response":{"status":"201 Created"}},{"response":{"status":"created"}}]}`,
			func(t *testing.T, res []pkb.EntryResult, err error) {
				var be *pkb.BatchError
				if len(res) != 2 || !errors.As(err, &be) || be.Failed[0].Index != 1 || !errors.Is(err, pkb.ErrResponseShape) {
					t.Errorf("%v %v", res, err)
				}
			}},
		{"a failed transaction", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"entry 1"}]}`,
			func(t *testing.T, res []pkb.EntryResult, err error) {
				var ae *wrappers.APIError
				if res != nil || !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Outcome == nil {
					t.Errorf("%v %v", res, err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cust, _, _ := loopback(t, func(w http.ResponseWriter, r *http.Request) {
				status := 200
				if strings.Contains(tc.body, "OperationOutcome") {
					status = 400
				}
				writeFHIR(w, status, tc.body)
			})
			tx := pkb.NewTransaction[r4.Version]()
			p := pkb.CreateIn(tx, &r4.Patient{})
			pkb.CreateIn(tx, &r4.Observation{Subject: p.R4()})
			res, err := tx.Do(context.Background(), cust.CustomerR4)
			tc.check(t, res, err)
		})
	}
}

// The Bundle sent: a urn:uuid fullUrl per create, the reference between
// entries, If-Match from the version of an updated resource.
func TestBundleSent(t *testing.T) {
	var sent struct {
		ResourceType, Type string
		Entry              []struct {
			FullURL  string `json:"fullUrl"`
			Resource struct {
				ResourceType string
				Subject      struct{ Reference string }
			}
			Request struct {
				Method, URL, IfMatch, IfNoneExist string
			}
		}
	}
	cust, _, _ := loopback(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/customer/acme/fhir/" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		json.NewDecoder(r.Body).Decode(&sent)
		writeFHIR(w, 200, `{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"201"}},{"response":{"status":"201"}},{"response":{"status":"200"}},{"response":{"status":"204"}},{"response":{"status":"404 Not Found","outcome":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}}}]}`)
	})
	b := pkb.NewBatch[r4.Version]()
	p := pkb.CreateIn(b, &r4.Patient{})
	pkb.CreateIfNoneExistIn(b, &r4.Observation{Subject: p.R4()}, url.Values{"identifier": {"s|1"}})
	if up := pkb.UpdateIn(b, &r4.Patient{Id: "p7", Meta: &r4.Meta{VersionId: "2"}}); up.Reference() != "Patient/p7" {
		t.Errorf("UpdateIn ref %q", up.Reference())
	}
	pkb.DeleteIn[r4.Observation](b, "o1")
	pkb.ReadIn[r4.Patient](b, "p8")
	res, err := b.Do(context.Background(), cust.CustomerR4)

	if sent.ResourceType != "Bundle" || sent.Type != "batch" || len(sent.Entry) != 5 {
		t.Fatalf("sent %+v", sent)
	}
	e := sent.Entry
	if !strings.HasPrefix(e[0].FullURL, "urn:uuid:") || len(e[0].FullURL) != len("urn:uuid:")+36 || e[0].FullURL != p.Reference() {
		t.Errorf("fullUrl %q, ref %q", e[0].FullURL, p.Reference())
	}
	if e[1].Resource.Subject.Reference != e[0].FullURL || e[1].Request.IfNoneExist != "identifier=s%7C1" || e[1].FullURL == e[0].FullURL {
		t.Errorf("entry 1 %+v", e[1])
	}
	if e[2].Request.Method != "PUT" || e[2].Request.URL != "Patient/p7" || e[2].Request.IfMatch != `W/"2"` {
		t.Errorf("entry 2 %+v", e[2])
	}
	if e[3].Request.Method != "DELETE" || e[3].Request.URL != "Observation/o1" || e[4].Request.Method != "GET" || e[4].Request.URL != "Patient/p8" {
		t.Errorf("entries 3, 4 %+v", e[3:])
	}
	// The partial failure names entry 4, and every result is there.
	var be *pkb.BatchError
	var ae *wrappers.APIError
	if len(res) != 5 || !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 4 ||
		!errors.As(err, &ae) || ae.StatusCode != 404 || ae.Outcome == nil || ae.Outcome.Issues[0].Code != "not-found" {
		t.Fatalf("%+v %v", res, err)
	}
	if !strings.Contains(err.Error(), "entry 4: pkb: GET Patient/{id}: 404 Not Found") || strings.Contains(err.Error(), "p8") {
		t.Errorf("error text %q", err)
	}
	if res[3].Status != 204 || res[3].Err != nil || res[4].Err == nil {
		t.Errorf("results %+v", res)
	}
}

// Read[stu3.Patient] on an R4 family does not compile: the release of the
// model and of the family must agree.
func TestVersionMismatchDoesNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	src := `package main

import (
	"context"

	"github.com/pkbgo/pkb"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/wrappers"
)

func main() {
	var c *wrappers.CustomerSystemClient
	_, _ = pkb.Read[stu3.Patient](context.Background(), c.CustomerR4, "p1")
}
`
	good := strings.Replace(src, "c.CustomerR4", "c.CustomerSTU3", 1)
	wd, _ := os.Getwd()
	for _, tc := range []struct {
		name, src string
		fail      bool
	}{{"mismatch", src, true}, {"match", good, false}} {
		sub := filepath.Join(dir, tc.name)
		os.MkdirAll(sub, 0o755)
		os.WriteFile(filepath.Join(sub, "main.go"), []byte(tc.src), 0o644)
		os.WriteFile(filepath.Join(sub, "go.mod"), []byte("module toy\n\ngo 1.26\n\nrequire github.com/pkbgo/pkb v0.0.0\n\nreplace github.com/pkbgo/pkb => "+wd+"\n"), 0o644)
		// The root module's sums and the module cache its own build filled:
		// nothing is fetched.
		sums, err := os.ReadFile(filepath.Join(wd, "go.sum"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(sub, "go.sum"), sums, 0o644)
		cmd := exec.Command(goTool, "vet", ".")
		cmd.Dir = sub
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
		out, err := cmd.CombinedOutput()
		switch {
		case tc.fail && (err == nil || !strings.Contains(string(out), "wrong type for method FHIRVersion")):
			t.Errorf("%s: want a FHIRVersion type error, got %v: %s", tc.name, err, out)
		case !tc.fail && err != nil:
			t.Errorf("%s: %v: %s", tc.name, err, out)
		}
	}
}

// SearchOne looks past the first page when the server sends no total: a
// second match on page 2 is ErrAmbiguous.
func TestSearchOneSecondPage(t *testing.T) {
	_, sys, hits := loopback(t, func(w http.ResponseWriter, r *http.Request) {
		entry := `{"resource":{"resourceType":"Patient","id":"p1"}}`
		if r.URL.Query().Get("page") == "2" {
			writeFHIR(w, 200, `{"resourceType":"Bundle","type":"searchset","entry":[`+strings.Replace(entry, "p1", "p2", 1)+`]}`)
			return
		}
		writeFHIR(w, 200, `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"Patient?identifier=x&page=2"}],"entry":[`+entry+`]}`)
	})
	p, err := pkb.SearchOne[stu3.Patient](context.Background(), sys.Facade, url.Values{"identifier": {"x"}})
	if p != nil || !errors.Is(err, pkb.ErrAmbiguous) || hits.Load() != 2 {
		t.Errorf("%+v %v after %d requests", p, err, hits.Load())
	}
}
