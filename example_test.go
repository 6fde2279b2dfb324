package pkb_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/url"
	"time"

	"github.com/pkbgo/pkb"
	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/restapi"
	"github.com/pkbgo/pkb/message"
	"github.com/pkbgo/pkb/search"
	"github.com/pkbgo/pkb/wrappers"
)

// The examples run against fakePKB (fake_test.go), an httptest server
// standing in for PKB; with a real environment only the authn.Environment
// changes (authn.Sandbox, authn.UKProduction).

func systemClient(env authn.Environment) *wrappers.SystemClient {
	src, err := authn.NewSystemSource(authn.SystemConfig{ClientID: "my-client", ClientSecret: "my-secret", Environment: env})
	if err != nil {
		log.Fatal(err)
	}
	c, err := wrappers.NewSystemClient(src, "235a397b-1ae8-4755-9c77-1a0e2fbc5314")
	if err != nil {
		log.Fatal(err)
	}
	return c
}

func customerClient(env authn.Environment) *wrappers.CustomerSystemClient {
	src, err := authn.NewCustomerSource(authn.CustomerConfig{ClientID: "acme", ClientSecret: "acme-secret", Environment: env})
	if err != nil {
		log.Fatal(err)
	}
	c, err := wrappers.NewCustomerSystemClient(src, "acme")
	if err != nil {
		log.Fatal(err)
	}
	return c
}

// Task 1: find a patient by NHS number (Facade, System Client). SearchOne
// wants exactly one match: PKB may hold several accounts under one NHS
// number, and then the answer is ErrAmbiguous, not one of them.
func ExampleSearchOne() {
	srv, env := fakePKB()
	defer srv.Close()
	c := systemClient(env)
	ctx := context.Background()

	// task 1 begin
	p, err := pkb.SearchOne[stu3.Patient](ctx, c.Facade, url.Values{"identifier": {search.NHSNumber("9990000018").String()}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Id, p.Name[0].Family)
	// task 1 end

	// Output: p1 Testpatient
}

// Task 2: page through a year of laboratory Observations (Facade). Search
// fetches the next page when the loop reaches it, through the same
// checkpoint; breaking out of the loop fetches nothing more.
func ExampleSearch() {
	const pkbCategory = "http://fhir.patientsknowbest.com/codesystem/observation-category"
	srv, env := fakePKB()
	defer srv.Close()
	c := systemClient(env)
	ctx := context.Background()

	// task 2 begin
	query, err := new(search.Params).Add("patient", search.Ref("Patient", "p1")).Add("category", search.Code(pkbCategory, "LABORATORY")).
		Add("date", search.Ge(search.MustParseDate("2025")), search.Lt(search.MustParseDate("2026"))).Values()
	if err != nil {
		log.Fatal(err)
	}
	for obs, err := range pkb.Search[stu3.Observation](ctx, c.Facade, query) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(obs.Id, obs.EffectiveDateTime, obs.Code.Text)
	}
	// task 2 end

	// Output:
	// o1 2025-02-01 Haemoglobin
	// o2 2025-06-12 Haemoglobin
	// o3 2025-11-20 Haemoglobin
}

// Task 3: read a Patient and update it safely (Customer R4). Update sends
// If-Match with the version the read returned: had someone else changed
// the patient in between, the server would refuse with 412 instead of
// losing their change.
func ExampleUpdate() {
	srv, env := fakePKB()
	defer srv.Close()
	c := customerClient(env)
	ctx := context.Background()

	// task 3 begin
	p, err := pkb.Read[r4.Patient](ctx, c.CustomerR4, "p1")
	if err != nil {
		log.Fatal(err)
	}
	p.BirthDate = "1970-04-01"
	p, _, err = pkb.Update(ctx, c.CustomerR4, p)
	if err != nil {
		log.Fatal(err)
	}
	// task 3 end
	fmt.Println(p.Id, p.BirthDate, "version", p.Meta.VersionId)

	// The version read first is stale now: an update from it is refused.
	stale := *p
	stale.Meta = &r4.Meta{VersionId: "1"}
	_, _, err = pkb.Update(ctx, c.CustomerR4, &stale)
	var apiErr *wrappers.APIError
	fmt.Println(errors.As(err, &apiErr) && apiErr.StatusCode == 412)
	// Output:
	// p1 1970-04-01 version 2
	// true
}

// Task 4: create an Observation idempotently (Customer R4): the server
// creates it only if no Observation has its identifier, so a retry after
// a lost answer does not make a second one.
func ExampleCreateIfNoneExist() {
	srv, env := fakePKB()
	defer srv.Close()
	c := customerClient(env)
	ctx := context.Background()
	obs := r4.Observation{
		Identifier: []r4.Identifier{{System: "https://lab.example.org/result", Value: "r-123"}},
		Status:     r4.ObservationStatusFinal,
		Code:       &r4.CodeableConcept{Text: "Haemoglobin"},
		Subject:    &r4.Reference{Reference: "Patient/p1"},
	}

	// task 4 begin
	created, meta, err := pkb.CreateIfNoneExist(ctx, c.CustomerR4, &obs, url.Values{"identifier": {"https://lab.example.org/result|r-123"}})
	if err != nil {
		log.Fatal(err)
	}
	// task 4 end
	fmt.Println(meta.Status, created.Id)

	// A retry (after a timeout, say) finds the Observation the first call made.
	again, meta, err := pkb.CreateIfNoneExist(ctx, c.CustomerR4, &obs, url.Values{"identifier": {"https://lab.example.org/result|r-123"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(meta.Status, again.Id)
	// Output:
	// 201 n1
	// 200 n1
}

// Task 5: a transaction of a Patient and an Observation that refers to it
// (Customer R4). The Observation's subject is the Patient's urn:uuid
// fullUrl; the server rewrites it to the new id, and applies both entries
// or neither.
func ExampleNewTransaction() {
	srv, env := fakePKB()
	defer srv.Close()
	c := customerClient(env)
	ctx := context.Background()

	// task 5 begin
	tx := pkb.NewTransaction[r4.Version]()
	patient := pkb.CreateIn(tx, &r4.Patient{Name: []r4.HumanName{{Family: "Newpatient", Given: []string{"Bea"}}}})
	pkb.CreateIn(tx, &r4.Observation{Status: r4.ObservationStatusFinal,
		Code: &r4.CodeableConcept{Text: "Haemoglobin"}, Subject: patient.R4()})
	results, err := tx.Do(ctx, c.CustomerR4)
	if err != nil {
		log.Fatal(err)
	}
	obs, err := pkb.EntryAs[r4.Observation](results[1])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(results[0].Status, results[0].Location)
	fmt.Println(results[1].Status, obs.Subject.Reference)
	// task 5 end

	// Output:
	// 201 Patient/n1/_history/1
	// 201 Patient/n1
}

// Task 6: $process-message for a new patient (Messaging, System Client):
// package message builds the Patient with PKB's rules checked before
// anything is sent; the Messaging family sends it.
func Example_processMessage() {
	srv, env := fakePKB()
	defer srv.Close()
	c := systemClient(env)
	ctx := context.Background()

	p, err := message.NewPatient().Name("John", "Doe").
		BirthDate(time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC)).
		Gender(stu3.PatientGenderMale).NHSNumber("9434765919").
		Build()
	if err != nil {
		log.Fatal(err)
	}
	// task 6 begin
	stored, err := c.Messaging.PatientProcessMessage(ctx, &p)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stored.Patient.Id, stored.Patient.Name[0].Family)
	// task 6 end

	// Output: 9a1c Doe
}

// Task 7: a Customer R4 search with _include: the included Patient is
// reached by the reference the Observation holds.
func ExampleSearchPage() {
	srv, env := fakePKB()
	defer srv.Close()
	c := customerClient(env)
	ctx := context.Background()

	// task 7 begin
	page, err := pkb.SearchPage[r4.Observation](ctx, c.CustomerR4,
		url.Values{"subject": {"Patient/p1"}, "_include": {"Observation:subject"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, obs := range page.Matches {
		patient, err := wrappers.IncludedAs[r4.Patient](page, obs.Subject.Reference)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(*page.Total, obs.Id, obs.Code.Text, patient.Name[0].Family)
	}
	// task 7 end

	// Output: 1 o1 Haemoglobin Testpatient
}

// Task 8: a REST API measurement list (Tethered Client): the custom REST
// API is not FHIR, so its calls go through the REST family with the
// generated restapi types.
func Example_restMeasurements() {
	srv, env := fakePKB()
	defer srv.Close()
	src, err := authn.NewTetheredSource(authn.TetheredConfig{ClientID: "site-app", ClientSecret: "site-secret",
		Environment: env, RefreshToken: "token-from-the-team-coordinator"})
	if err != nil {
		log.Fatal(err)
	}
	c, err := wrappers.NewTetheredClient(src)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// task 8 begin
	list, err := c.REST.ListPatientMeasurements(ctx, "p1", &restapi.ListPatientMeasurementsParams{APIRefs: []string{"bloodPressureSystolic"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range list {
		fmt.Println(*m.APIRef, *m.Value, *m.Unit)
	}
	// task 8 end

	// Output:
	// bloodPressureSystolic 120 mmHg
	// bloodPressureSystolic 118 mmHg
}

// A call the family's document does not offer fails before any I/O.
func ExampleUnsupportedError() {
	srv, env := fakePKB()
	defer srv.Close()
	c := systemClient(env)

	_, _, err := pkb.Create(context.Background(), c.Facade, &stu3.Patient{})
	fmt.Println(errors.Is(err, pkb.ErrUnsupported))
	fmt.Println(err)
	// Output:
	// true
	// pkb: the facade API does not offer create Patient
}
