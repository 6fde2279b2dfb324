package pkbtest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/pkbtest"
)

const (
	nhsSystem = pkbtest.SystemNHSNumber
	labCat    = pkbtest.SystemObservationCategory + "|LABORATORY"
	alice     = "Patient/" + pkbtest.SeedPatientID
)

func body(s string) *strings.Reader { return strings.NewReader(s) }

const fhirJSON = "application/fhir+json"

// follow makes a generated client request go to a Bundle's next link, as a
// client must: PKB says to follow it exactly, never to build page URLs. A
// relative link (the Aggregated endpoint's are server-relative) resolves
// against the request's URL, per RFC 3986.
func follow(next string) func(context.Context, *http.Request) error {
	return func(_ context.Context, req *http.Request) error {
		u, err := url.Parse(next)
		if err != nil {
			return err
		}
		req.URL = req.URL.ResolveReference(u)
		return nil
	}
}

func idParams(name string, pairs ...string) string {
	var ps []string
	for i := 0; i+1 < len(pairs); i += 2 {
		ps = append(ps, `{"name":"`+name+`","valueIdentifier":{"system":"`+pairs[i]+`","value":"`+pairs[i+1]+`"}}`)
	}
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ps, ",") + `]}`
}

// TestFacadeAsSystem calls every Facade operation open to a System Client
// through the real client library.
func TestFacadeAsSystem(t *testing.T) {
	s := newSim(t)
	fc := systemClient(t, s).Facade.Gen
	c := ctx(t)
	patients := s.Patients()
	bob := patients[1] // unregistered adult: gets invitation tokens

	m := ok(t)(fc.CapabilitiesWithResponse(c))
	if get(m, "url") != "http://fhir.patientsknowbest.com/capabilitystatement/facade" {
		t.Errorf("metadata url = %v", get(m, "url"))
	}
	m = ok(t)(fc.ReadOperationDefinitionWithResponse(c, "Patient-t-status-query", &facade.ReadOperationDefinitionParams{Format: ptr("json")}))
	if get(m, "code") != "status-query" {
		t.Errorf("OperationDefinition = %v", m)
	}
	r, err := fc.ReadOperationDefinitionWithResponse(c, "Patient-t-no-such-op", nil)
	want404(t, r, err)

	m = ok(t)(fc.PurviewWithResponse(c))
	if got := get(param(m, "purview")[0], "valueReference", "reference"); got != "Organization/"+pkbtest.SeedOrgPublicID {
		t.Errorf("system purview = %v", got)
	}
	ok(t)(fc.ConsentPurviewWithResponse(c))

	m = ok(t)(fc.SearchPatientWithResponse(c, &facade.SearchPatientParams{Identifier: nhsSystem + "|" + pkbtest.SeedPatientNHSNumber}))
	if pats := entries(m); len(pats) != 1 || get(pats[0], "id") != pkbtest.SeedPatientID {
		t.Fatalf("Patient search = %v", m)
	}
	ok(t)(fc.ReadPatientWithResponse(c, pkbtest.SeedPatientID))
	ok(t)(fc.ReadOrganizationWithResponse(c, pkbtest.SeedTeamID))
	ok(t)(fc.ReadPractitionerWithResponse(c, pkbtest.SeedClinicianID))
	ok(t)(fc.ReadProcedureRequestWithResponse(c, pkbtest.SeedProcedureRequestID))
	ok(t)(fc.ReadQuestionnaireWithResponse(c, pkbtest.SeedQuestionnaireID))

	for name, call := range map[string]func() (any, error){
		"Appointment": func() (any, error) {
			return fc.SearchAppointmentWithResponse(c, &facade.SearchAppointmentParams{Patient: alice, Date: []string{"ge2024-01-01"}})
		},
		"Communication": func() (any, error) {
			return fc.SearchCommunicationWithResponse(c, &facade.SearchCommunicationParams{Patient: alice, Sent: []string{"lt2030"}})
		},
		"Consent": func() (any, error) {
			return fc.SearchConsentWithResponse(c, &facade.SearchConsentParams{Patient: alice})
		},
		"DiagnosticReport": func() (any, error) {
			return fc.SearchDiagnosticReportWithResponse(c, &facade.SearchDiagnosticReportParams{Patient: alice, Category: "http://hl7.org/fhir/v2/0074|LAB"})
		},
		"Encounter": func() (any, error) {
			return fc.SearchEncounterWithResponse(c, &facade.SearchEncounterParams{Patient: pkbtest.SeedPatientID, Date: []string{"gt2024-01"}})
		},
		"DocumentReference": func() (any, error) {
			return fc.SearchDocumentReferenceWithResponse(c, &facade.SearchDocumentReferenceParams{Patient: ptr(alice), Created: []string{"ge2024"}, DocumentStatus: ptr("current")})
		},
		"NamingSystem": func() (any, error) {
			return fc.SearchNamingSystemWithResponse(c, &facade.SearchNamingSystemParams{Value: namingSystem(t, s)})
		},
		"Person": func() (any, error) {
			return fc.SearchPersonWithResponse(c, &facade.SearchPersonParams{Link: "Practitioner/" + pkbtest.SeedClinicianID})
		},
		"Questionnaire": func() (any, error) {
			return fc.SearchQuestionnaireWithResponse(c, &facade.SearchQuestionnaireParams{PublisherReference: ptr("Organization/" + pkbtest.SeedOrgPublicID)})
		},
		"QuestionnaireResponse": func() (any, error) {
			return fc.SearchQuestionnaireResponseWithResponse(c, &facade.SearchQuestionnaireResponseParams{Patient: ptr(alice),
				BasedOn: ptr("ProcedureRequest/" + pkbtest.SeedProcedureRequestID), Authored: []string{"ge2024-02-01"},
				Include: []facade.SearchQuestionnaireResponseParamsInclude{"QuestionnaireResponse:basedOn:ProcedureRequest", "QuestionnaireResponse:subject:Patient"}})
		},
	} {
		resp, err := call()
		m := want(t, resp, err, http.StatusOK)
		if n := len(entries(m)); n == 0 {
			t.Errorf("%s search found nothing: %v", name, m)
		}
		for _, e := range entries(m) {
			if get(e, "resourceType") != name && name != "QuestionnaireResponse" {
				t.Errorf("%s search returned a %v", name, get(e, "resourceType"))
			}
		}
	}

	// Observation search honours category, patient and AND-ed dates.
	m = ok(t)(fc.SearchObservationWithResponse(c, &facade.SearchObservationParams{Patient: alice, Category: labCat,
		Date: []string{"ge2024-02-01", "lt2024-03"}, Count: ptr[int32](100)}))
	obs := entries(m)
	if len(obs) == 0 {
		t.Fatal("no February lab results")
	}
	for _, o := range obs {
		eff := get(o, "effectiveDateTime").(string)
		if eff < "2024-02-01" || eff >= "2024-03" {
			t.Errorf("date filter let %s through", eff)
		}
		if got := get(list(list(o, "category")[0], "coding")[0], "code"); got != "LABORATORY" {
			t.Errorf("category filter let %v through", got)
		}
	}
	grouped := ok(t)(fc.ObservationGroupWithResponse(c, &facade.ObservationGroupParams{Patient: alice, Category: labCat, Count: ptr[int32](1000)}))
	all := ok(t)(fc.SearchObservationWithResponse(c, &facade.SearchObservationParams{Patient: alice, Category: labCat, Count: ptr[int32](1000)}))
	days := map[string]bool{}
	for _, o := range entries(grouped) {
		d := get(o, "effectiveDateTime").(string)[:10]
		if days[d] {
			t.Errorf("$group returned two results on %s", d)
		}
		days[d] = true
	}
	if len(entries(grouped)) >= len(entries(all)) {
		t.Errorf("$group returned %d of %d results; the seed has several lab results on some days", len(entries(grouped)), len(entries(all)))
	}

	// Operations.
	m = ok(t)(fc.PatientStatusQueryWithBodyWithResponse(c, fhirJSON, body(idParams("patientIdentifier",
		nhsSystem, pkbtest.SeedPatientNHSNumber, nhsSystem, "9990000026", nhsSystem, patients[6].NHSNumber))))
	st := param(m, "patientStatus")
	if len(st) != 3 || get(param(st[0], "registered")[0], "valueBoolean") != true || get(param(st[1], "diagnostics")[0], "valueString") != "Not found" ||
		get(param(st[2], "diagnostics")[0], "valueString") != "No access" {
		t.Errorf("$status-query = %v", m)
	}
	m = ok(t)(fc.OrganizationGenerateInvitationTokensWithBodyWithResponse(c, fhirJSON, body(idParams("patientIdentifier",
		nhsSystem, bob.NHSNumber, nhsSystem, pkbtest.SeedPatientNHSNumber))))
	if toks := param(m, "patientTokens"); len(toks) != 1 || len(get(param(toks[0], "token")[0], "valueString").(string)) != 10 {
		t.Errorf("$generate-invitation-tokens = %v (want tokens for the unregistered adult only)", m)
	}
	m = ok(t)(fc.DocumentReferenceReadReceiptQueryWithBodyWithResponse(c, fhirJSON, body(idParams("documentIdentifier",
		pkbtest.SeedDocumentIdentifierSystem, pkbtest.SeedReadDocumentIdentifier, pkbtest.SeedDocumentIdentifierSystem, pkbtest.SeedUnreadDocumentIdentifier,
		pkbtest.SeedDocumentIdentifierSystem, "urn:uuid:00000000-0000-4000-8000-000000000000"))))
	rr := param(m, "readReceipt")
	if len(rr) != 2 || get(param(rr[0], "read")[0], "valueBoolean") != true || get(param(rr[1], "read")[0], "valueBoolean") != false {
		t.Errorf("$read-receipt-query = %v", m)
	}
	m = ok(t)(fc.PatientDateOfLastDataPointWithBodyWithResponse(c, fhirJSON, body(idParams("patientIdentifier",
		pkbtest.SystemPKBPublicID, pkbtest.SeedPatientID, nhsSystem, bob.NHSNumber))))
	if res := param(m, "lastDataPointsResult"); len(res) != 2 || len(param(res[0], "lastRecordUpdate")) != 1 {
		t.Errorf("$date-of-last-data-point = %v", m)
	}
	m = ok(t)(fc.QuestionnaireSendQuestionnaireRequestWithBodyWithResponse(c, pkbtest.SeedQuestionnaireID, fhirJSON, body(`{"resourceType":"Parameters","parameter":[
		{"name":"requestor","valueReference":{"reference":"Practitioner/`+pkbtest.SeedClinicianID+`"}},
		{"name":"target","valueReference":{"reference":"`+alice+`"}},
		{"name":"target","valueIdentifier":{"system":"`+nhsSystem+`","value":"`+bob.NHSNumber+`"}},
		{"name":"notificationFlag","valueCode":"EMAIL_NOTIFICATION_DISABLED"}]}`)))
	reqs := param(m, "questionnaireRequest")
	if len(reqs) != 2 {
		t.Fatalf("$send-questionnaire-request = %v", m)
	}
	pr := get(reqs[0], "valueReference", "reference").(string)
	ok(t)(fc.ReadProcedureRequestWithResponse(c, strings.TrimPrefix(pr, "ProcedureRequest/")))

	// The Person operations (undocumented by PKB).
	m = ok(t)(fc.PersonDestroyWithBodyWithResponse(c, fhirJSON, body(`{"resourceType":"Parameters","parameter":[{"name":"person","valueReference":{"reference":"Person/`+pkbtest.SeedPersonID+`"}}]}`)))
	reqID := get(param(m, "deleteRequestId")[0], "valueString").(string)
	m = ok(t)(fc.PersonDeleteStatusWithBodyWithResponse(c, fhirJSON, body(`{"resourceType":"Parameters","parameter":[{"name":"deleteRequestId","valueString":"`+reqID+`"}]}`)))
	if get(param(m, "status")[0], "valueCode") != "COMPLETED" {
		t.Errorf("$delete_status = %v", m)
	}
	ok(t)(fc.PersonDestroyOrphanAccountsWithBodyWithResponse(c, fhirJSON, body(`{"resourceType":"Parameters"}`)))
	m = ok(t)(fc.SearchPersonWithResponse(c, &facade.SearchPersonParams{Link: "Practitioner/" + pkbtest.SeedClinicianID}))
	if len(entries(m)) != 0 {
		t.Errorf("the destroyed Person is still found")
	}
}

// namingSystem returns the system of the seeded patient's local identifier.
func namingSystem(t *testing.T, s *pkbtest.Simulator) string {
	t.Helper()
	resp, m := raw(t, "GET", s.Environment().FacadeURL+"/Patient/"+pkbtest.SeedPatientID, token(t, systemSource(t, s)),
		map[string]string{"X-Org-Public-Id": pkbtest.SeedOrgPublicID}, "")
	if resp.StatusCode != 200 {
		t.Fatalf("read patient: %d %v", resp.StatusCode, m)
	}
	for _, id := range list(m, "identifier") {
		if sys, _ := get(id, "system").(string); strings.HasPrefix(sys, "urn:uuid:") {
			return sys
		}
	}
	t.Fatal("no local identifier on the seeded patient")
	return ""
}

// ok checks a generated client call answered 200: ok(t)(client.Op(ctx, ...)).
func ok(t *testing.T) func(any, error) obj { return expect(t, http.StatusOK) }

// expect checks a generated client call answered status.
func expect(t *testing.T, status int) func(any, error) obj {
	return func(r any, err error) obj {
		t.Helper()
		return want(t, r, err, status)
	}
}

func want404(t *testing.T, r any, err error) {
	t.Helper()
	want(t, r, err, http.StatusNotFound)
}

// TestFacadeAsPatient uses a PATIENT User Client: own record only.
func TestFacadeAsPatient(t *testing.T) {
	s := newSim(t)
	uc := userClient(t, s, "PATIENT")
	c := ctx(t)
	m := ok(t)(uc.Facade.Gen.PurviewWithResponse(c))
	if got := get(param(m, "purview")[0], "valueReference", "reference"); got != alice {
		t.Fatalf("patient purview = %v, want %s", got, alice)
	}
	ok(t)(uc.Facade.Gen.ReadPatientWithResponse(c, pkbtest.SeedPatientID))
	m = ok(t)(uc.Facade.Gen.PatientInstanceDateOfLastDataPointWithResponse(c, pkbtest.SeedPatientID))
	if len(param(param(m, "lastDataPointsResult")[0], "lastRecordUpdate")) != 1 {
		t.Errorf("instance $date-of-last-data-point = %v", m)
	}
	m = ok(t)(uc.Facade.Gen.SearchObservationWithResponse(c, &facade.SearchObservationParams{Patient: alice, Category: pkbtest.SystemObservationCategory + "|SYMPTOM"}))
	if len(entries(m)) == 0 {
		t.Error("a patient sees no symptoms of her own")
	}

	other := s.Patients()[1]
	r, err := uc.Facade.Gen.ReadPatientWithResponse(c, other.ID)
	m = want(t, r, err, http.StatusForbidden)
	if pkbCode(m) != "NO_CONSENT" {
		t.Errorf("reading another patient: %v", m)
	}
	m = ok(t)(uc.Facade.Gen.SearchObservationWithResponse(c, &facade.SearchObservationParams{Patient: "Patient/" + other.ID, Category: labCat}))
	if len(entries(m)) != 0 || get(m, "total") != float64(0) {
		t.Errorf("another patient's observations were not silently omitted: %v", m)
	}
	r2, err := uc.Facade.Gen.PatientInstanceDateOfLastDataPointWithResponse(c, other.ID)
	want(t, r2, err, http.StatusForbidden)

	// The wrappers refuse a system-only operation before any I/O; sent raw,
	// PKB refuses it for the user type.
	src := userSource(t, s, "PATIENT")
	resp, oo := raw(t, "POST", s.Environment().FacadeURL+"/Patient/$status-query", token(t, src), nil, idParams("patientIdentifier", nhsSystem, pkbtest.SeedPatientNHSNumber))
	wantOutcome(t, resp, oo, http.StatusForbidden, "USER_TYPE_NOT_PERM")
}

// TestFacadeAsClinician uses a CLINICIAN User Client: consented patients of
// the team only.
func TestFacadeAsClinician(t *testing.T) {
	s := newSim(t)
	uc := userClient(t, s, "CLINICIAN")
	c := ctx(t)
	m := ok(t)(uc.Facade.Gen.ReadPractitionerWithResponse(c, pkbtest.SeedClinicianID))
	if get(m, "id") != pkbtest.SeedClinicianID {
		t.Errorf("practitioner = %v", m)
	}
	m = ok(t)(uc.Facade.Gen.PurviewWithResponse(c))
	if got := get(param(m, "purview")[0], "valueReference", "reference"); got != "Organization/"+pkbtest.SeedTeamID {
		t.Errorf("clinician purview = %v", got)
	}
	ok(t)(uc.Facade.Gen.QuestionnaireSendQuestionnaireRequestWithBodyWithResponse(c, pkbtest.SeedQuestionnaireID, fhirJSON, body(`{"resourceType":"Parameters","parameter":[
		{"name":"requestor","valueReference":{"reference":"Practitioner/`+pkbtest.SeedClinicianID+`"}},
		{"name":"target","valueReference":{"reference":"Organization/`+pkbtest.SeedTeamID+`"}}]}`)))

	var off pkbtest.SeedPatient
	for _, p := range s.Patients() {
		if p.SharingDisabled {
			off = p
		}
	}
	r, err := uc.Facade.Gen.ReadPatientWithResponse(c, off.ID)
	m = want(t, r, err, http.StatusForbidden)
	if pkbCode(m) != "SHARING_DISABLED" {
		t.Errorf("sharing-disabled patient: %v", m)
	}
}

// TestNationalIdentifierSystems: the simulator uses PKB's identifier-system
// URIs (docs/pkb-api.md §2.1): CHI and Health and Care numbers by their real
// URIs on $status-query (an invented CHI URI rejects the whole request, as
// PKB does for an unsupported system), and a BSN on
// $date-of-last-data-point as PKB's own example does.
func TestNationalIdentifierSystems(t *testing.T) {
	s := newSim(t)
	fc := systemClient(t, s).Facade.Gen
	c := ctx(t)
	m := ok(t)(fc.PatientStatusQueryWithBodyWithResponse(c, fhirJSON, body(idParams("patientIdentifier",
		"urn:oid:2.16.840.1.113883.2.1.3.2.4.16.53", "0101011234", "urn:uuid:1479257a-ce8f-482a-89fa-429ac066c158", "3200000015"))))
	if st := param(m, "patientStatus"); len(st) != 2 || get(param(st[0], "diagnostics")[0], "valueString") != "Not found" {
		t.Errorf("$status-query by CHI and H&C = %v", m)
	}
	expect(t, http.StatusBadRequest)(fc.PatientStatusQueryWithBodyWithResponse(c, fhirJSON, body(idParams("patientIdentifier",
		nhsSystem, pkbtest.SeedPatientNHSNumber, "https://fhir.nhs.scot/Id/chi-number", "0101011234"))))
	// BSN is not an NHS-style number: $status-query refuses it.
	expect(t, http.StatusBadRequest)(fc.PatientStatusQueryWithBodyWithResponse(c, fhirJSON, body(idParams("patientIdentifier",
		pkbtest.SystemBSN, pkbtest.SeedPatientBSN))))
	m = ok(t)(fc.PatientDateOfLastDataPointWithBodyWithResponse(c, fhirJSON, body(idParams("patientIdentifier",
		"http://fhir.nl/fhir/NamingSystem/bsn", pkbtest.SeedPatientBSN))))
	res := param(m, "lastDataPointsResult")
	if len(res) != 1 || get(param(res[0], "patientIdentifier")[0], "valueIdentifier", "system") != "http://fhir.nl/fhir/NamingSystem/bsn" ||
		len(param(res[0], "lastRecordUpdate")) != 1 {
		t.Errorf("$date-of-last-data-point by BSN = %v", m)
	}
}
