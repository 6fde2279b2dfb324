package search_test

import (
	"context"
	"github.com/pkbgo/pkb/gen/access"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/aggregated"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/search"
)

// recorder is a FHIR server stand-in that keeps the raw query of each request.
type recorder struct {
	mu   sync.Mutex
	raws []string
}

func (rec *recorder) server(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.raws = append(rec.raws, r.URL.RawQuery)
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"searchset"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (rec *recorder) last(t *testing.T) (string, url.Values) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	raw := rec.raws[len(rec.raws)-1]
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("server could not parse %q: %v", raw, err)
	}
	return raw, q
}

// TestWireFacade sends constructor values through the generated Facade
// client and checks what a server decodes: "|" and "+" must survive, and a
// modifier added by the request editor must arrive on the name.
func TestWireFacade(t *testing.T) {
	rec := &recorder{}
	srv := rec.server(t)
	c, err := facade.NewClient(srv.URL + "/fhir")
	if err != nil {
		t.Fatal(err)
	}
	bst := time.FixedZone("BST", 3600)
	from := time.Date(2018, 7, 1, 9, 0, 0, 0, bst)
	params := &facade.SearchObservationParams{
		Category: search.Code("http://fhir.patientsknowbest.com/codesystem/observation-category", "LABORATORY").String(),
		Patient:  search.Ref("Patient", "3d8afd18-0844-459a-b3c2-355d02e54c0a").String(),
		Date:     search.Between(search.Instant(from), search.Day(from.AddDate(0, 1, 0))),
	}
	for _, d := range params.Date {
		if err := search.ValidateFor(access.FamilyFacade, "searchObservation", "date", d); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.SearchObservation(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	raw, q := rec.last(t)
	if strings.Contains(raw, "|") || strings.Contains(raw, "+01:00") {
		t.Errorf("raw query must percent-encode '|' and '+': %s", raw)
	}
	if got := q.Get("category"); got != "http://fhir.patientsknowbest.com/codesystem/observation-category|LABORATORY" {
		t.Errorf("category = %q", got)
	}
	if got := q["date"]; !slices.Equal(got, []string{"ge2018-07-01T09:00:00+01:00", "lt2018-08-01"}) {
		t.Errorf("date = %v (raw %s)", got, raw)
	}
	if got := q.Get("patient"); got != "Patient/3d8afd18-0844-459a-b3c2-355d02e54c0a" {
		t.Errorf("patient = %q", got)
	}

	// The ":exact" modifier cannot be expressed by the params struct; the
	// request editor adds it on top of what the struct writes.
	var extra search.Params
	extra.Add("value", search.Exact("urn:uuid:cd97da65-0aa4-43a6-b695-cfd0c6f3267d"))
	if err := extra.ValidateFor(access.FamilyFacade, "searchNamingSystem"); err != nil {
		t.Fatal(err)
	}
	resp, err = c.SearchNamingSystem(context.Background(), &facade.SearchNamingSystemParams{Value: "x"}, extra.Editor())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	raw, q = rec.last(t)
	if !strings.Contains(raw, "value:exact=") || q.Get("value:exact") != "urn:uuid:cd97da65-0aa4-43a6-b695-cfd0c6f3267d" || q.Get("value") != "x" {
		t.Errorf("naming system query = %s", raw)
	}

	// A Params with an invalid value fails the call before any I/O.
	before := len(rec.raws)
	var broken search.Params
	broken.Add("patient", search.Ref("Patient", "../etc").Typed())
	if _, err := c.SearchObservation(context.Background(), params, broken.Editor()); err == nil {
		t.Fatal("invalid editor value was sent")
	}
	if len(rec.raws) != before {
		t.Fatal("request reached the server")
	}
}

// TestWireAggregated checks the chained parameter names of the Aggregated
// client and the escaping of a value that contains FHIR's special characters.
func TestWireAggregated(t *testing.T) {
	rec := &recorder{}
	srv := rec.server(t)
	c, err := aggregated.NewClient(srv.URL + "/fhir")
	if err != nil {
		t.Fatal(err)
	}
	nhs := search.NHSNumber("9434765919")
	params := &aggregated.SearchObservationParams{
		SubjectPatientIdentifier: search.Opt(nhs),
		CodeText:                 search.Opt(search.TokenText("blood pressure, systolic")),
		LastUpdated:              search.Dates(search.Gt(search.Instant(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)))),
	}
	resp, err := c.SearchObservation(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	raw, q := rec.last(t)
	if got := q.Get("subject:Patient.identifier"); got != "https://fhir.nhs.uk/Id/nhs-number|9434765919" {
		t.Errorf("chain = %q (raw %s)", got, raw)
	}
	if got := q.Get("code:text"); got != `blood pressure\, systolic` {
		t.Errorf("code:text = %q (raw %s)", got, raw)
	}
	if got := q.Get("_lastUpdated"); got != "gt2024-05-01T00:00:00Z" {
		t.Errorf("_lastUpdated = %q", got)
	}
	for name, vals := range q {
		if err := search.ValidateFor(access.FamilyAggregated, "searchObservation", name, vals...); err != nil {
			t.Errorf("server-side view fails validation: %v", err)
		}
	}

	// The same chain through Params lands on the same name.
	var p search.Params
	p.Add("subject", search.Chain("Patient", "identifier", nhs))
	resp, err = c.SearchObservation(context.Background(), &aggregated.SearchObservationParams{}, p.Editor())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, q := rec.last(t); q.Get("subject:Patient.identifier") != nhs.String() {
		t.Errorf("Params chain = %v", q)
	}
}
