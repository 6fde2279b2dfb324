package pkbtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oapi-codegen/runtime/types"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/aggregated"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	customerstu3 "github.com/pkbgo/pkb/gen/customer/stu3"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/messaging"
	"github.com/pkbgo/pkb/gen/restapi"
	"github.com/pkbgo/pkb/pkbtest"
)

func newPatient(nhs, given, extra string) string {
	return `{"resourceType":"Patient","identifier":[{"system":"` + nhsSystem + `","value":"` + nhs + `"}],
		"name":[{"family":"Testpatient","given":["` + given + `"]}],"birthDate":"1985-05-05","gender":"female",
		"telecom":[{"system":"email","value":"` + strings.ToLower(given) + `@example.invalid"}]` + extra + `}`
}

// TestMessaging creates and updates patients through both $process-message
// forms and checks PKB's validation rules.
func TestMessaging(t *testing.T) {
	s := newSim(t)
	sc := systemClient(t, s)
	mc := sc.Messaging.Gen
	c := ctx(t)

	const nhs = "9990001014" // valid checksum, not seeded
	m := ok(t)(mc.PatientProcessMessageWithBodyWithResponse(c, fhirJSON, body(newPatient(nhs, "Quinn",
		`,"extension":[{"url":"`+pkbtest.ExtTeamAlias+`","valueString":"`+pkbtest.SeedTeamAlias+`"},{"url":"`+pkbtest.ExtTeamAlias+`","valueString":"`+pkbtest.SeedSecondTeamAlias+`"}]`))))
	id, _ := get(m, "id").(string)
	if get(m, "resourceType") != "Patient" || id == "" {
		t.Fatalf("$process-message = %v", m)
	}
	m = ok(t)(mc.PatientProcessMessageWithBodyWithResponse(c, fhirJSON, body(newPatient(nhs, "Quincy", ""))))
	if get(m, "id") != id || get(list(m, "name")[0], "given").([]any)[0] != "Quincy" {
		t.Errorf("update did not update patient %s: %v", id, m)
	}
	m = ok(t)(sc.Facade.Gen.SearchPatientWithResponse(c, &facade.SearchPatientParams{Identifier: nhsSystem + "|" + nhs}))
	if len(entries(m)) != 1 {
		t.Errorf("the created patient is not on the Facade: %v", m)
	}

	for name, tc := range map[string]struct{ body, want string }{
		"missing fields": {`{"resourceType":"Patient","name":[{"family":"Testpatient"}]}`, "given"},
		"bad NHS number": {newPatient("9990001015", "Ray", ""), "Modulus 11"},
		"alias without default team": {newPatient("9990001022", "Ray", `,"extension":[{"url":"`+pkbtest.ExtTeamAlias+`","valueString":"`+pkbtest.SeedSecondTeamAlias+`"}]`),
			pkbtest.SeedTeamAlias},
		"unknown alias":      {newPatient("9990001022", "Ray", `,"extension":[{"url":"`+pkbtest.ExtTeamAlias+`","valueString":"nope"}]`), "nope"},
		"not even a Patient": {`{"resourceType":"Patient","name":"x"}`, "name"},
	} {
		t.Run(name, func(t *testing.T) {
			oo := expect(t, http.StatusBadRequest)(mc.PatientProcessMessageWithBodyWithResponse(c, fhirJSON, body(tc.body)))
			if !strings.Contains(diagnostics(oo), tc.want) {
				t.Errorf("diagnostics %q do not mention %q", diagnostics(oo), tc.want)
			}
		})
	}

	msg := func(ident string) string {
		return `{"resourceType":"Bundle","type":"message","identifier":{"system":"urn:ietf:rfc:3986","value":"` + ident + `"},"entry":[
			{"fullUrl":"urn:uuid:h1","resource":{"resourceType":"MessageHeader","id":"h1","timestamp":"2025-01-01T00:00:00Z",
			 "event":{"system":"http://fhir.patientsknowbest.com/codesystem/message-event","code":"create-or-update-patient"},
			 "source":{"endpoint":"https://client.example.invalid/$process-message"},"focus":[{"reference":"urn:uuid:p1"}]}},
			{"fullUrl":"urn:uuid:p1","resource":` + strings.Replace(newPatient("9990001030", "Sky", ""), `"resourceType":"Patient",`,
			`"resourceType":"Patient","meta":{"tag":[{"system":"`+pkbtest.SystemODSCode+`","code":"`+pkbtest.SeedOrgODSCode+`"}]},`, 1) + `}]}`
	}
	r, err := mc.ProcessMessageAsyncWithBodyWithResponse(c, &messaging.ProcessMessageAsyncParams{Async: true}, fhirJSON, body(msg("urn:uuid:11111111-1111-4111-8111-111111111111")))
	if err != nil || r.StatusCode() != http.StatusAccepted || len(r.Body) != 0 {
		t.Fatalf("async $process-message: %v %v %q", err, r, r.Body)
	}
	oo := expect(t, http.StatusBadRequest)(mc.ProcessMessageAsyncWithBodyWithResponse(c, &messaging.ProcessMessageAsyncParams{Async: true}, fhirJSON, body(msg("urn:uuid:11111111-1111-4111-8111-111111111111"))))
	if !strings.Contains(diagnostics(oo), "already received") {
		t.Errorf("duplicate message: %v", oo)
	}
	outs := s.MessageOutcomes()
	if len(outs) != 1 || outs[0].Code != "ok" || outs[0].PatientID == "" {
		t.Errorf("MessageOutcomes = %+v", outs)
	}
}

// TestMessagingStoresWhatWasSent: a patient created through
// $process-message has the demographics the message sent, trimmed, and
// nothing invented; an update leaves what it omits unchanged (docs/pkb-api.md
// §2.2, §5.2).
func TestMessagingStoresWhatWasSent(t *testing.T) {
	s := newSim(t)
	tok := token(t, systemSource(t, s))
	env := s.Environment()
	send := func(p string) obj {
		t.Helper()
		resp, m := raw(t, http.MethodPost, env.MessagingURL+"/Patient/$process-message", tok, orgHeader, p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("$process-message: %s %v", resp.Status, m)
		}
		resp, m = raw(t, http.MethodGet, env.FacadeURL+"/Patient/"+get(m, "id").(string), tok, orgHeader, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("read: %s %v", resp.Status, m)
		}
		return m
	}
	const nhs = "9990001049"
	pat := func(extra string) string {
		return `{"resourceType":"Patient","identifier":[{"system":"` + nhsSystem + `","value":"` + nhs + `"}],
			"name":[{"family":"Testpatient","given":[" Wren "]}],"birthDate":"1985-05-05","gender":"female"` + extra + `}`
	}
	// The REST API's view of the same patient (User JSON, docs/pkb-api.md
	// §2.5) shows what the record holds, nothing invented either.
	coord := token(t, tetheredSource(t, s))
	restUser := func() obj {
		t.Helper()
		resp, u := raw(t, http.MethodGet, env.RESTURL+"/beta/users/byNationalId/"+nhs+"/NHS_NUMBER", coord, nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("REST user: %s %v", resp.Status, u)
		}
		return u
	}
	m := send(pat(`,"telecom":[{"system":"email","value":"wren@example.invalid "}]`))
	if m["address"] != nil {
		t.Errorf("an address was invented: %v", m["address"])
	}
	if u := restUser(); u["city"] != "" || u["postalCode"] != "" || u["address1"] != "" || u["phone"] != "" {
		t.Errorf("the REST API invented an address or phone: city %v, postcode %v, line %v, phone %v", u["city"], u["postalCode"], u["address1"], u["phone"])
	}
	if tel := list(m, "telecom"); len(tel) != 1 || get(tel[0], "system") != "email" || get(tel[0], "value") != "wren@example.invalid" {
		t.Errorf("telecom = %v, want the one email sent, trimmed", tel)
	}
	if g := list(m, "name")[0].(obj)["given"].([]any); len(g) != 1 || g[0] != "Wren" {
		t.Errorf("given = %v, want the trimmed name sent", g)
	}
	m = send(pat(`,"address":[{"line":["1 Synthetic Street"],"city":"Testcity","postalCode":"TE1 1ST"}],
		"telecom":[{"system":"phone","value":"07700 900999"},{"system":"email","value":"a@example.invalid"},{"system":"email","value":"b@example.invalid"}]`))
	if get(list(m, "address")[0], "city") != "Testcity" {
		t.Errorf("address = %v", m["address"])
	}
	if u := restUser(); u["city"] != "Testcity" || u["postalCode"] != "TE1 1ST" || u["address1"] != "1 Synthetic Street" || u["phone"] != "07700 900999" {
		t.Errorf("REST user: city %v, postcode %v, line %v, phone %v; want the record's", u["city"], u["postalCode"], u["address1"], u["phone"])
	}
	if tel := list(m, "telecom"); len(tel) != 2 || get(tel[0], "value") != "07700 900999" || get(tel[1], "value") != "a@example.invalid" {
		t.Errorf("telecom = %v, want the phone and only the first email", tel)
	}
	// An update without address or telecom keeps them.
	m = send(pat(""))
	if get(list(m, "address")[0], "city") != "Testcity" || len(list(m, "telecom")) != 2 {
		t.Errorf("an update without address and telecom changed them: %v %v", m["address"], m["telecom"])
	}
}

func resourceBody(typ, id, extra string) string {
	s := `{"resourceType":"` + typ + `"`
	if id != "" {
		s += `,"id":"` + id + `"`
	}
	return s + extra + `}`
}

// TestCustomerR4 runs every Customer interaction on the R4 endpoint.
func TestCustomerR4(t *testing.T) {
	s := newSim(t)
	cc := customerClient(t, s, pkbtest.CustomerR4).CustomerR4.Gen
	c := ctx(t)
	ok(t)(cc.CapabilitiesWithResponse(c))

	created, err := cc.CreateWithBodyWithResponse(c, "Patient", &customerr4.CreateParams{}, fhirJSON,
		body(resourceBody("Patient", "", `,"identifier":[{"system":"https://example.invalid/mrn","value":"A1"}],"name":[{"family":"Testpatient","given":["Uma"]}],"managingOrganization":{"reference":"Organization/`+pkbtest.SeedOrgPublicID+`"}`)))
	m := want(t, created, err, http.StatusCreated)
	id := get(m, "id").(string)
	if loc := created.HTTPResponse.Header.Get("Location"); !strings.HasSuffix(loc, "/Patient/"+id+"/_history/1") || created.HTTPResponse.Header.Get("ETag") != `W/"1"` {
		t.Errorf("create headers: Location %q ETag %q", loc, created.HTTPResponse.Header.Get("ETag"))
	}
	// Conditional create finds the existing one.
	again, err := cc.CreateWithBodyWithResponse(c, "Patient", &customerr4.CreateParams{IfNoneExist: ptr("identifier=https://example.invalid/mrn|A1")}, fhirJSON, body(resourceBody("Patient", "", "")))
	if get(want(t, again, err, http.StatusOK), "id") != id {
		t.Error("conditional create made a second patient")
	}
	ok(t)(cc.ReadWithResponse(c, "Patient", id, &customerr4.ReadParams{}))
	upd := resourceBody("Patient", id, `,"identifier":[{"system":"https://example.invalid/mrn","value":"A1"}],"name":[{"family":"Testpatient","given":["Uma","Lou"]}]`)
	ok(t)(cc.UpdateWithBodyWithResponse(c, "Patient", id, &customerr4.UpdateParams{IfMatch: ptr(`W/"1"`)}, fhirJSON, body(upd)))
	expect(t, http.StatusPreconditionFailed)(cc.UpdateWithBodyWithResponse(c, "Patient", id, &customerr4.UpdateParams{IfMatch: ptr(`W/"1"`)}, fhirJSON, body(upd)))
	expect(t, http.StatusBadRequest)(cc.UpdateWithBodyWithResponse(c, "Patient", id, &customerr4.UpdateParams{}, fhirJSON, body(resourceBody("Patient", "other", ""))))
	m = ok(t)(cc.VreadWithResponse(c, "Patient", id, "1"))
	if len(list(m, "name")[0].(obj)["given"].([]any)) != 1 {
		t.Errorf("vread 1 returned the new version: %v", m)
	}
	m = ok(t)(cc.SearchWithResponse(c, "Patient", &customerr4.SearchParams{Count: ptr[int32](5)}, func(_ context.Context, r *http.Request) error {
		q := r.URL.Query()
		q.Set("identifier", "https://example.invalid/mrn|A1")
		r.URL.RawQuery = q.Encode()
		return nil
	}))
	if len(entries(m)) != 1 {
		t.Errorf("search by identifier = %v", m)
	}
	form := url.Values{"_id": {id}, "name": {"uma"}}
	m = ok(t)(cc.SearchPostWithBodyWithResponse(c, "Patient", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())))
	if len(entries(m)) != 1 {
		t.Errorf("POST _search = %v", m)
	}
	expect(t, http.StatusBadRequest)(cc.SearchPostWithBodyWithResponse(c, "Patient", "application/x-www-form-urlencoded", strings.NewReader("bogus=1")))
	m = ok(t)(cc.HistoryInstanceWithResponse(c, "Patient", id, &customerr4.HistoryInstanceParams{}))
	if get(m, "type") != "history" || len(list(m, "entry")) != 2 {
		t.Errorf("history = %v", m)
	}
	ok(t)(cc.HistoryTypeWithResponse(c, "Patient", &customerr4.HistoryTypeParams{}))
	ok(t)(cc.DeleteWithResponse(c, "Patient", id, &customerr4.DeleteParams{}))
	expect(t, http.StatusGone)(cc.ReadWithResponse(c, "Patient", id, &customerr4.ReadParams{}))
	expect(t, http.StatusNotFound)(cc.ReadWithResponse(c, "Nonsense", "1", &customerr4.ReadParams{}))

	// A transaction resolves urn:uuid references; a failing one stores nothing.
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:aaaaaaaa-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","name":[{"family":"Testpatient","given":["Vic"]}]},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Observation","status":"final","code":{"text":"blood pressure"},"subject":{"reference":"urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"}},"request":{"method":"POST","url":"Observation"}}]}`
	m = ok(t)(cc.TransactionWithBodyWithResponse(c, &customerr4.TransactionParams{}, fhirJSON, body(tx)))
	es := list(m, "entry")
	if get(m, "type") != "transaction-response" || len(es) != 2 {
		t.Fatalf("transaction = %v", m)
	}
	pid := get(es[0], "resource", "id").(string)
	if get(es[1], "resource", "subject", "reference") != "Patient/"+pid {
		t.Errorf("the urn:uuid reference was not rewritten: %v", get(es[1], "resource"))
	}
	bad := strings.Replace(tx, `"url":"Observation"`, `"url":"Observation/x/y"`, 1)
	expect(t, http.StatusBadRequest)(cc.TransactionWithBodyWithResponse(c, &customerr4.TransactionParams{}, fhirJSON, body(bad)))

	// Upstream data shows on the Aggregated endpoint.
	ag := customerClient(t, s, pkbtest.CustomerR4).Aggregated.Gen
	m = ok(t)(ag.SearchObservationWithResponse(c, &aggregated.SearchObservationParams{CodeText: ptr("blood pressure")}))
	found := false
	for _, o := range entries(m) {
		if get(o, "subject", "reference") == "Patient/"+pid {
			found = true
		}
	}
	if !found && nextLink(m) == "" {
		t.Errorf("the posted Observation is not aggregated")
	}
}

// TestCustomerSTU3 runs every Customer interaction on the STU3 endpoint.
func TestCustomerSTU3(t *testing.T) {
	s := newSim(t)
	cc := customerClient(t, s, pkbtest.CustomerSTU3).CustomerSTU3.Gen
	c := ctx(t)
	m := ok(t)(cc.CapabilitiesWithResponse(c))
	if get(m, "fhirVersion") != "3.0.2" {
		t.Errorf("STU3 metadata = %v", get(m, "fhirVersion"))
	}
	m = expect(t, http.StatusCreated)(cc.CreateWithBodyWithResponse(c, "Observation", &customerstu3.CreateParams{}, fhirJSON,
		body(resourceBody("Observation", "", `,"status":"final","code":{"text":"weight"}`))))
	id := get(m, "id").(string)
	ok(t)(cc.ReadWithResponse(c, "Observation", id, &customerstu3.ReadParams{}))
	ok(t)(cc.UpdateWithBodyWithResponse(c, "Observation", id, &customerstu3.UpdateParams{}, fhirJSON, body(resourceBody("Observation", id, `,"status":"amended","code":{"text":"weight"}`))))
	ok(t)(cc.VreadWithResponse(c, "Observation", id, "2"))
	ok(t)(cc.SearchWithResponse(c, "Observation", &customerstu3.SearchParams{ID: ptr(id)}))
	ok(t)(cc.SearchPostWithBodyWithResponse(c, "Observation", "application/x-www-form-urlencoded", strings.NewReader("status=amended")))
	ok(t)(cc.HistoryInstanceWithResponse(c, "Observation", id, &customerstu3.HistoryInstanceParams{}))
	ok(t)(cc.HistoryTypeWithResponse(c, "Observation", &customerstu3.HistoryTypeParams{}))
	ok(t)(cc.TransactionWithBodyWithResponse(c, &customerstu3.TransactionParams{}, fhirJSON, body(`{"resourceType":"Bundle","type":"batch","entry":[
		{"request":{"method":"GET","url":"Observation/`+id+`"}},{"request":{"method":"DELETE","url":"Observation/`+id+`"}}]}`)))
	r, err := cc.DeleteWithResponse(c, "Observation", id, &customerstu3.DeleteParams{})
	want(t, r, err, http.StatusOK)
	// An R4-only type does not exist in STU3.
	expect(t, http.StatusNotFound)(cc.SearchWithResponse(c, "ServiceRequest", &customerstu3.SearchParams{}))
}

// TestFhirgateBundles posts PKB's fhirgate bundles to the Customer R4
// endpoint as batches, then finds their patients on the Aggregated endpoint.
func TestFhirgateBundles(t *testing.T) {
	s := newSim(t)
	cs := customerClient(t, s, pkbtest.CustomerR4)
	c := ctx(t)
	bundles := pkbtest.FhirgateBundles()
	if len(bundles) != 10 {
		t.Fatalf("%d fhirgate bundles, want 10", len(bundles))
	}
	for _, b := range bundles {
		t.Run(b.Name, func(t *testing.T) {
			m := ok(t)(cs.CustomerR4.Gen.TransactionWithBodyWithResponse(c, &customerr4.TransactionParams{}, fhirJSON, strings.NewReader(string(b.JSON))))
			if get(m, "type") != "batch-response" {
				t.Fatalf("response = %v", m)
			}
			for i, e := range list(m, "entry") {
				if st, _ := get(e, "response", "status").(string); !strings.HasPrefix(st, "201") {
					t.Errorf("entry %d: %v", i, get(e, "response"))
				}
			}
		})
	}
	m := ok(t)(cs.CustomerR4.Gen.ReadWithResponse(c, "Patient", "8c455d7a-fe6b-4e4f-9144-66fbc945b5de", &customerr4.ReadParams{}))
	if get(list(m, "name")[0], "family") != "Walker" {
		t.Errorf("Carol Walker = %v", m)
	}
	m = ok(t)(cs.Aggregated.Gen.ReadPatientWithResponse(c, "8c455d7a-fe6b-4e4f-9144-66fbc945b5de"))
	if get(m, "id") == nil {
		t.Errorf("fhirgate patient not aggregated: %v", m)
	}
}

// TestAggregated covers every Aggregated operation, chained searches and
// PKB's paging rules (_count ≤ 10, follow next links).
func TestAggregated(t *testing.T) {
	s := newSim(t)
	ag := customerClient(t, s, pkbtest.CustomerR4).Aggregated.Gen
	c := ctx(t)
	nhs := nhsSystem + "|" + pkbtest.SeedPatientNHSNumber
	ok(t)(ag.CapabilitiesWithResponse(c))

	m := ok(t)(ag.SearchPatientWithResponse(c, &aggregated.SearchPatientParams{Identifier: ptr(nhs)}))
	if pats := entries(m); len(pats) != 1 || get(pats[0], "id") != pkbtest.SeedPatientID {
		t.Fatalf("Patient by NHS number = %v", m)
	}
	m = ok(t)(ag.SearchPatientWithResponse(c, &aggregated.SearchPatientParams{Identifier: ptr(pkbtest.SystemAggregatedPublicID + "|" + pkbtest.SeedPatientID)}))
	if len(entries(m)) != 1 {
		t.Errorf("Patient by public id = %v", m)
	}
	ok(t)(ag.ReadPatientWithResponse(c, pkbtest.SeedPatientID))

	type search func() (any, error)
	firstID := map[string]string{}
	for typ, call := range map[string]search{
		"Appointment": func() (any, error) {
			return ag.SearchAppointmentWithResponse(c, &aggregated.SearchAppointmentParams{ActorPatientIdentifier: nhs, Date: []string{"ge2024-01-10"}})
		},
		"AllergyIntolerance": func() (any, error) {
			return ag.SearchAllergyIntoleranceWithResponse(c, &aggregated.SearchAllergyIntoleranceParams{PatientPatientIdentifier: nhs})
		},
		"Condition": func() (any, error) {
			return ag.SearchConditionWithResponse(c, &aggregated.SearchConditionParams{SubjectPatientIdentifier: nhs})
		},
		"Encounter": func() (any, error) {
			return ag.SearchEncounterWithResponse(c, &aggregated.SearchEncounterParams{SubjectPatientIdentifier: nhs, Date: []string{"ge2024", "lt2025"}})
		},
		"MedicationStatement": func() (any, error) {
			return ag.SearchMedicationStatementWithResponse(c, &aggregated.SearchMedicationStatementParams{SubjectPatientIdentifier: ptr(nhs)})
		},
		"MedicationRequest": func() (any, error) {
			return ag.SearchMedicationRequestWithResponse(c, &aggregated.SearchMedicationRequestParams{SubjectPatientIdentifier: ptr(nhs)})
		},
		"Observation": func() (any, error) {
			return ag.SearchObservationWithResponse(c, &aggregated.SearchObservationParams{SubjectPatientIdentifier: ptr(nhs), CodeText: ptr("blood pressure")})
		},
		"QuestionnaireResponse": func() (any, error) {
			return ag.SearchQuestionnaireResponseWithResponse(c, &aggregated.SearchQuestionnaireResponseParams{BasedOnServiceRequestIdentifier: ptr(pkbtest.SeedServiceRequestIdentifier), Count: ptr[int32](10)})
		},
	} {
		r, err := call()
		m := want(t, r, err, http.StatusOK)
		es := entries(m)
		if len(es) == 0 {
			t.Errorf("%s search found nothing", typ)
			continue
		}
		for _, e := range es {
			if get(e, "resourceType") != typ {
				t.Errorf("%s search returned %v", typ, get(e, "resourceType"))
			}
			if typ == "Observation" && !strings.Contains(fmt.Sprint(get(e, "code", "text")), "blood pressure") {
				t.Errorf("code:text let %v through", get(e, "code", "text"))
			}
		}
		firstID[typ] = get(es[0], "id").(string)
	}
	ok(t)(ag.ReadAppointmentWithResponse(c, firstID["Appointment"]))
	ok(t)(ag.ReadAllergyIntoleranceWithResponse(c, firstID["AllergyIntolerance"]))
	ok(t)(ag.ReadConditionWithResponse(c, firstID["Condition"]))
	ok(t)(ag.ReadEncounterWithResponse(c, firstID["Encounter"]))
	ok(t)(ag.ReadMedicationStatementWithResponse(c, firstID["MedicationStatement"]))
	ok(t)(ag.ReadMedicationRequestWithResponse(c, firstID["MedicationRequest"]))
	ok(t)(ag.ReadObservationWithResponse(c, firstID["Observation"]))
	ok(t)(ag.ReadQuestionnaireResponseWithResponse(c, firstID["QuestionnaireResponse"]))
	expect(t, http.StatusNotFound)(ag.ReadObservationWithResponse(c, "no-such-id"))

	// Paging: at most 10 per page, next links followed exactly.
	expect(t, http.StatusBadRequest)(ag.SearchObservationWithResponse(c, &aggregated.SearchObservationParams{SubjectPatientIdentifier: ptr(nhs), Count: ptr[int32](11)}))
	seen := map[string]bool{}
	params := &aggregated.SearchObservationParams{SubjectPatientIdentifier: ptr(nhs), Count: ptr[int32](10)}
	m = ok(t)(ag.SearchObservationWithResponse(c, params))
	total := int(get(m, "total").(float64))
	for pages := 1; ; pages++ {
		if n := len(entries(m)); n > 10 {
			t.Fatalf("page of %d", n)
		}
		for _, e := range entries(m) {
			seen[get(e, "id").(string)] = true
		}
		next := nextLink(m)
		if next == "" {
			if pages < 3 {
				t.Errorf("only %d pages for %d results", pages, total)
			}
			break
		}
		m = ok(t)(ag.SearchObservationWithResponse(c, params, follow(next)))
	}
	if len(seen) != total || total < 20 {
		t.Errorf("paged through %d distinct of total %d", len(seen), total)
	}

	team := types.UUID{}
	_ = team.UnmarshalText([]byte(pkbtest.SeedTeamID))
	send := func(params string) (*aggregated.SendQuestionnaireRequestResponse, error) {
		return ag.SendQuestionnaireRequestWithBodyWithResponse(c, pkbtest.SeedAggregatedQuestionnaireID, &aggregated.SendQuestionnaireRequestParams{TeamID: team}, fhirJSON,
			body(`{"resourceType":"Parameters","parameter":[`+params+`]}`))
	}
	// target 1..500, duplicates collapse (by reference or by NHS number);
	// additionalIdentifier 0..1; output `request` 0..* Reference(ServiceRequest).
	m = ok(t)(send(`{"name":"target","valueReference":{"reference":"` + alice + `"}},
		{"name":"target","valueReference":{"identifier":{"system":"` + nhsSystem + `","value":"` + pkbtest.SeedPatientNHSNumber + `"}}},
		{"name":"additionalIdentifier","valueIdentifier":{"system":"https://example.invalid/ext","value":"EXT-1"}}`))
	reqs := param(m, "request")
	if len(reqs) != 1 || !strings.HasPrefix(get(reqs[0], "valueReference", "reference").(string), "ServiceRequest/") {
		t.Errorf("$send-questionnaire-request with a duplicate target = %v, want one request", m)
	}
	expect(t, http.StatusBadRequest)(send(`{"name":"additionalIdentifier","valueIdentifier":{"system":"s","value":"v"}}`)) // no target
	expect(t, http.StatusBadRequest)(send(`{"name":"target","valueReference":{"reference":"` + alice + `"}},
		{"name":"additionalIdentifier","valueIdentifier":{"system":"s","value":"1"}},{"name":"additionalIdentifier","valueIdentifier":{"system":"s","value":"2"}}`))
	many := make([]string, 501)
	for i := range many {
		many[i] = `{"name":"target","valueReference":{"reference":"` + alice + `"}}`
	}
	expect(t, http.StatusBadRequest)(send(strings.Join(many, ",")))
	other := types.UUID{}
	_ = other.UnmarshalText([]byte(pkbtest.SeedOrgPublicID))
	expect(t, http.StatusForbidden)(ag.SendQuestionnaireRequestWithBodyWithResponse(c, pkbtest.SeedAggregatedQuestionnaireID, &aggregated.SendQuestionnaireRequestParams{TeamID: other}, fhirJSON,
		body(`{"resourceType":"Parameters","parameter":[{"name":"target","valueReference":{"reference":"`+alice+`"}}]}`)))

	// The ServiceRequests are reachable only through _include on a
	// QuestionnaireResponse search; their identifier system is
	// http://hl7.org/fhir/R4/questionnaire.
	inc := aggregated.SearchQuestionnaireResponseParamsIncludeQuestionnaireResponseBasedOn
	m = ok(t)(ag.SearchQuestionnaireResponseWithResponse(c, &aggregated.SearchQuestionnaireResponseParams{
		BasedOnServiceRequestIdentifier: ptr(pkbtest.SeedServiceRequestIdentifier), Include: &inc}))
	var srs []obj
	for _, e := range entries(m) {
		if get(e, "resourceType") == "ServiceRequest" {
			srs = append(srs, e)
		}
	}
	if len(srs) != 1 || get(list(srs[0], "identifier")[0], "system") != "http://hl7.org/fhir/R4/questionnaire" {
		t.Errorf("_include=QuestionnaireResponse:based-on included %v", srs)
	}

	// Questionnaire templates are searched with x-team-id.
	m = ok(t)(ag.SearchQuestionnaireWithResponse(c, &aggregated.SearchQuestionnaireParams{TeamID: team}))
	if qs := entries(m); len(qs) != 1 || get(qs[0], "id") != pkbtest.SeedAggregatedQuestionnaireID {
		t.Errorf("Questionnaire search = %v", m)
	}
	expect(t, http.StatusForbidden)(ag.SearchQuestionnaireWithResponse(c, &aggregated.SearchQuestionnaireParams{TeamID: other}))

	// Consent/$carers: the carer's Consent and Patient.
	m = ok(t)(ag.ConsentCarersWithResponse(c, &aggregated.ConsentCarersParams{PatientPatientIdentifier: nhs}))
	var kinds []string
	for _, e := range entries(m) {
		kinds = append(kinds, get(e, "resourceType").(string))
	}
	if strings.Join(kinds, ",") != "Consent,Patient" || get(entries(m)[0], "id") != pkbtest.SeedCarerConsentID {
		t.Errorf("$carers = %v", kinds)
	}
	expect(t, http.StatusNotFound)(ag.ConsentCarersWithResponse(c, &aggregated.ConsentCarersParams{PatientPatientIdentifier: nhsSystem + "|9990000026"}))
}

// TestAggregatedEveryType calls the search (with PKB's mandatory selector
// where there is one) and the read of every type the generated Aggregated
// document declares, and checks that the simulator, like PKB, refuses a
// search without a mandatory selector (the client refuses it before I/O;
// this sends it raw).
func TestAggregatedEveryType(t *testing.T) {
	s := newSim(t)
	tok := token(t, customerSource(t, s))
	base := s.Environment().AggregatedURL
	nhs := url.QueryEscape(nhsSystem + "|" + pkbtest.SeedPatientNHSNumber)
	types := 0
	for _, op := range access.Operations() {
		if op.Family != access.FamilyAggregated || op.Method != http.MethodGet || op.ID != "search"+strings.TrimPrefix(op.Path, "/") {
			continue
		}
		types++
		header := map[string]string{"x-team-id": pkbtest.SeedTeamID}
		q := ""
		for _, name := range op.RequiredQuery {
			q += "&" + url.QueryEscape(name) + "=" + nhs
		}
		if resp, b := raw(t, http.MethodGet, base+op.Path+"?_count=10"+q, tok, header, ""); resp.StatusCode != http.StatusOK || get(b, "type") != "searchset" {
			t.Errorf("%s: %s %v", op.ID, resp.Status, b)
		}
		if resp, _ := raw(t, http.MethodGet, base+op.Path+"/no-such-id", tok, header, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("read%s: %s", strings.TrimPrefix(op.Path, "/"), resp.Status)
		}
		if len(op.RequiredQuery) > 0 {
			resp, oo := raw(t, http.MethodGet, base+op.Path+"?_count=10", tok, header, "")
			wantOutcome(t, resp, oo, http.StatusBadRequest, "")
			resp, oo = raw(t, http.MethodGet, base+op.Path+"?"+url.QueryEscape(op.RequiredQuery[0])+"=", tok, header, "")
			wantOutcome(t, resp, oo, http.StatusBadRequest, "")
		}
	}
	if types < 35 {
		t.Errorf("only %d aggregated types declared", types)
	}
}

// TestRESTAPI covers the REST API as a patient, a clinician and a tethered
// (SITE) client.
func TestRESTAPI(t *testing.T) {
	s := newSim(t)
	c := ctx(t)
	pat := userClient(t, s, "PATIENT").REST.Gen
	m := ok(t)(pat.GetSelfWithResponse(c))
	// PKB's real sample: userType null even for a patient, "M"/"m", the
	// national id named "NHS number" for GB-ENG and GB-WLS, boolean patient.
	if v, present := m["userType"]; get(m, "id") != pkbtest.SeedPatientRESTID || !present || v != nil || get(m, "patient") != true ||
		get(m, "gender") != "F" || get(m, "genderMF") != "f" || get(m, "country") != "GB-ENG" ||
		get(list(m, "nationalIds")[0], "name") != "NHS number" || fmt.Sprint(get(list(m, "nationalIds")[0], "countryCodes")) != "[GB-ENG GB-WLS]" {
		t.Errorf("users/self = %v", m)
	}
	if self, err := pat.GetSelfWithResponse(c); err != nil || self.JSON200 == nil || self.JSON200.UserType != nil || self.JSON200.Patient == nil || !*self.JSON200.Patient {
		t.Errorf("users/self decoded = %+v, %v", self, err)
	}
	r, err := pat.ListMeasurementApiRefsWithResponse(c)
	if err != nil || r.JSON200 == nil || len(*r.JSON200) == 0 {
		t.Fatalf("apiRefs: %v %v", err, r)
	}
	ref := *(*r.JSON200)[0].Ref
	cm, err := pat.CreateMeasurementWithResponse(c, restapi.Measurement{APIRef: ptr(ref), Value: ptr("72.5")})
	m = want(t, cm, err, http.StatusOK)
	if get(m, "id") == nil {
		t.Errorf("created measurement = %v", m)
	}
	expect(t, http.StatusBadRequest)(pat.CreateMeasurementWithResponse(c, restapi.Measurement{APIRef: ptr("NOPE"), Value: ptr("1")}))
	bt, err := pat.ListMeasurementsByTypeWithResponse(c, ref)
	if err != nil || bt.JSON200 == nil || len(*bt.JSON200) < 2 {
		t.Errorf("byType: %v %v", err, bt)
	}
	lm, err := pat.ListMeasurementsWithResponse(c, &restapi.ListMeasurementsParams{APIRefs: []string{ref, "HEART_RATE"}})
	if err != nil || lm.JSON200 == nil || len(*lm.JSON200) <= len(*bt.JSON200) {
		t.Errorf("v2-beta measurements: %v %v", err, lm)
	}

	clin := userClient(t, s, "CLINICIAN").REST.Gen
	pm, err := clin.ListPatientMeasurementsWithResponse(c, pkbtest.SeedPatientRESTID, &restapi.ListPatientMeasurementsParams{APIRefs: []string{ref}})
	if err != nil || pm.JSON200 == nil || len(*pm.JSON200) != len(*bt.JSON200) {
		t.Errorf("clinician view: %v %v", err, pm)
	}
	ok(t)(clin.CreateRecordAccessTokenWithResponse(c, pkbtest.SeedPatientRESTID))

	teth := tetheredClient(t, s).REST.Gen
	m = ok(t)(teth.GetSelfWithResponse(c))
	if get(m, "userType") != "TEAMCOORD" {
		t.Errorf("tethered users/self = %v", m)
	}
	m = ok(t)(teth.GetUserByNhsNumberWithResponse(c, pkbtest.SeedPatientNHSNumber))
	if get(m, "id") != pkbtest.SeedPatientRESTID {
		t.Errorf("byNationalId = %v", m)
	}
	expect(t, http.StatusNotFound)(teth.GetUserByNhsNumberWithResponse(c, "9990001014"))
	m = ok(t)(teth.CreateRecordAccessTokenWithResponse(c, pkbtest.SeedPatientRESTID))
	if len(fmt.Sprint(get(m, "invitationCode"))) != 10 {
		t.Errorf("recordAccessToken = %v", m)
	}
	ok(t)(teth.ListPatientMeasurementsWithResponse(c, pkbtest.SeedPatientRESTID, &restapi.ListPatientMeasurementsParams{APIRefs: []string{ref}}))

	// listPatientMeasurements is open to a Coordinator too (PKB's measurements FAQ).
	coord := userClient(t, s, "TEAMCOORD").REST.Gen
	ok(t)(coord.ListPatientMeasurementsWithResponse(c, pkbtest.SeedPatientRESTID, &restapi.ListPatientMeasurementsParams{APIRefs: []string{ref}}))

	// Break the glass: 30 minutes, a token; 404 for an unknown patient.
	btg, err := clin.BreakTheGlassWithResponse(c, pkbtest.SeedPatientRESTID, &restapi.BreakTheGlassParams{UserID: ptr(pkbtest.SeedClinicianRESTID)})
	if err != nil || btg.JSON200 == nil || btg.JSON200.Token == nil || btg.JSON200.ValidUntil == nil {
		t.Fatalf("break the glass: %v %+v", err, btg)
	}
	if until, perr := time.Parse(time.RFC3339, *btg.JSON200.ValidUntil); perr != nil || time.Until(until) < 29*time.Minute || time.Until(until) > 31*time.Minute {
		t.Errorf("BTG valid until %v (%v), want 30 minutes from now", *btg.JSON200.ValidUntil, perr)
	}
	expect(t, http.StatusNotFound)(clin.BreakTheGlassWithResponse(c, "1", &restapi.BreakTheGlassParams{}))
}

// TestRESTWrongUserType: PKB's REST API answers a token of the wrong user
// type with 401 and a text message, not 403 (PKB's Break The Glass page).
// The wrappers refuse such a call before I/O, so this sends it raw.
func TestRESTWrongUserType(t *testing.T) {
	s := newSim(t)
	tok := token(t, userSource(t, s, "PATIENT"))
	req, _ := http.NewRequest(http.MethodPost, s.Environment().RESTURL+"/v2/consents/BTG/"+pkbtest.SeedPatientRESTID, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(string(b), "Method requires a user within scope(s) CLINICIAN") || !strings.Contains(string(b), "UserType PATIENT") {
		t.Errorf("wrong user type: %s %q %q", resp.Status, resp.Header.Get("Content-Type"), b)
	}
}

// TestCustomerBasePath: the Customer endpoints end in /fhir as PKB's
// https://{customer}.fhir-api.{env}/fhir does (docs/pkb-api.md §1.2), and the
// bare mount without /fhir serves nothing.
func TestCustomerBasePath(t *testing.T) {
	s := newSim(t)
	tok := token(t, customerSource(t, s))
	for _, v := range []string{pkbtest.CustomerSTU3, pkbtest.CustomerR4} {
		base, err := s.Environment().CustomerURL(v)
		if err != nil || !strings.HasSuffix(base, "/customer/"+v+"/fhir") {
			t.Fatalf("CustomerURL(%q) = %s, %v; want it to end in /fhir", v, base, err)
		}
		if resp, _ := raw(t, http.MethodGet, base+"/metadata", tok, nil, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s/metadata: %s", base, resp.Status)
		}
		bare := strings.TrimSuffix(base, "/fhir")
		if resp, _ := raw(t, http.MethodGet, bare+"/metadata", tok, nil, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s/metadata (no /fhir): %s, want 404", bare, resp.Status)
		}
	}
}
