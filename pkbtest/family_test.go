package pkbtest_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

// TestFamilyDoAgainstTheSimulator sends operations named by operationId
// through wrappers.Family.Do, walks pages with FirstPage and All, and
// follows a next link, against the simulator, which validates every
// request against the OpenAPI documents: what Do builds from a route
// template is what the documents describe, including the [base]/ of a
// Customer transaction.
func TestFamilyDoAgainstTheSimulator(t *testing.T) {
	s := newSim(t, pkbtest.WithPageSize(2))
	c := ctx(t)

	facade := systemClient(t, s).Facade.Family()
	page, err := wrappers.FirstPage[stu3.Patient](c, facade, &wrappers.Call{Operation: "searchPatient",
		Query: url.Values{"identifier": {nhsSystem + "|" + pkbtest.SeedPatientNHSNumber}}})
	if err != nil || len(page.Matches) != 1 || page.Matches[0].Id != pkbtest.SeedPatientID {
		t.Fatalf("searchPatient: %v %+v", err, page)
	}
	resp, err := facade.Do(c, &wrappers.Call{Operation: "readPatient", Path: []string{pkbtest.SeedPatientID}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	status := `{"resourceType":"Parameters","parameter":[{"name":"patientIdentifier","valueIdentifier":{"system":"` + nhsSystem + `","value":"` + pkbtest.SeedPatientNHSNumber + `"}}]}`
	resp, err = facade.Do(c, &wrappers.Call{Operation: "patientStatusQuery", Body: []byte(status)})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// Included resources: the questionnaire responses' patient.
	qr, err := wrappers.FirstPage[stu3.QuestionnaireResponse](c, facade, &wrappers.Call{Operation: "searchQuestionnaireResponse",
		Query: url.Values{"patient": {"Patient/" + pkbtest.SeedPatientID}, "_include": {"QuestionnaireResponse:subject:Patient"}}})
	if err != nil || len(qr.Matches) == 0 {
		t.Fatalf("searchQuestionnaireResponse: %v %+v", err, qr)
	}
	subject := ""
	if qr.Matches[0].Subject != nil {
		subject = qr.Matches[0].Subject.Reference
	}
	if p, err := wrappers.IncludedAs[stu3.Patient](qr, subject); err != nil || p == nil || p.Id != pkbtest.SeedPatientID {
		t.Errorf("included subject %q: %+v %v (%d included)", subject, p, err, qr.Included.Len())
	}

	// Observations of the seeded patient, two to a page: All follows the
	// simulator's next links through the checkpoint.
	obsPage, err := wrappers.FirstPage[stu3.Observation](c, facade, &wrappers.Call{Operation: "searchObservation",
		Query: url.Values{"patient": {"Patient/" + pkbtest.SeedPatientID}, "category": {pkbtest.SystemObservationCategory + "|LABORATORY"}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for o, err := range obsPage.All(c) {
		if err != nil {
			t.Fatal(err)
		}
		if o.DeclaredType() != "Observation" {
			t.Errorf("match of type %q", o.DeclaredType())
		}
		n++
	}
	if obsPage.NextLink == "" || n <= len(obsPage.Matches) {
		t.Errorf("%d observations, %d on the first page (next %q): paging not exercised", n, len(obsPage.Matches), obsPage.NextLink)
	}
	if obsPage.NextLink != "" {
		resp, err := facade.Follow(c, obsPage.NextLink)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"Bundle"`) {
			t.Errorf("Follow: %s", b)
		}
	}

	// A Customer R4 batch to [base]/, then the resources it wrote.
	cust := customerClient(t, s, pkbtest.CustomerR4).CustomerR4.Family()
	batch := `{"resourceType":"Bundle","type":"batch","entry":[
	  {"resource":{"resourceType":"Patient","id":"do-p1","name":[{"family":"Example"}]},"request":{"method":"PUT","url":"Patient/do-p1"}},
	  {"resource":{"resourceType":"Observation","id":"do-o1","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/do-p1"}},"request":{"method":"PUT","url":"Observation/do-o1"}}]}`
	resp, err = cust.Do(c, &wrappers.Call{Operation: "transaction", Body: []byte(batch)})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rpage, err := wrappers.FirstPage[r4.Observation](c, cust, &wrappers.Call{Operation: "search", Path: []string{"Observation"},
		Query: url.Values{"_id": {"do-o1"}}})
	if err != nil || len(rpage.Matches) != 1 || rpage.Matches[0].Subject.Reference != "Patient/do-p1" {
		t.Fatalf("Customer search: %v %+v", err, rpage)
	}
	call := &wrappers.Call{Operation: "read", Path: []string{"Patient", "do-p1"}}
	wrappers.Apply(call, wrappers.Header("If-None-Match", `W/"1"`))
	if resp, err = cust.Do(c, call); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The REST API through the checkpoint, and a refusal before any I/O.
	rest := tetheredClient(t, s).REST.Family()
	resp, err = rest.Do(c, &wrappers.Call{Operation: "getUserByNhsNumber", Path: []string{pkbtest.SeedPatientNHSNumber}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("getUserByNhsNumber: %d", resp.StatusCode)
	}
	if _, err := rest.Do(c, &wrappers.Call{Operation: "createMeasurement", Body: []byte(`{}`)}); !errors.Is(err, wrappers.ErrNotPermitted) {
		t.Errorf("createMeasurement as tethered: %v", err)
	}
}
