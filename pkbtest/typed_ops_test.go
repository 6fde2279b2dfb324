package pkbtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/aggregated"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	customerstu3 "github.com/pkbgo/pkb/gen/customer/stu3"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/messaging"
	"github.com/pkbgo/pkb/gen/restapi"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

// typedEnv is one simulator and a client of every client type, shared by
// the typed exercises.
type typedEnv struct {
	s                         *pkbtest.Simulator
	sys                       *wrappers.SystemClient
	cust3, cust4              *wrappers.CustomerSystemClient
	patient, clinician, coord *wrappers.UserClient
	teth                      *wrappers.TetheredClient
	deleteRequestID           string // of the seeded Person's $destroy, once
}

// destroy deletes the seeded Person with the typed $destroy call, once,
// and returns the delete request's id.
func (e *typedEnv) destroy(t *testing.T, c context.Context) string {
	t.Helper()
	if e.deleteRequestID == "" {
		p := got(e.sys.Facade.PersonDestroy(c, fromJSON[stu3.Parameters](t, `{"resourceType":"Parameters","parameter":[{"name":"person","valueReference":{"reference":"Person/`+pkbtest.SeedPersonID+`"}}]}`))).resource(t, "-")
		if id := params3(p, "deleteRequestId"); len(id) == 1 {
			e.deleteRequestID = id[0].ValueString
		}
	}
	return e.deleteRequestID
}

// typedCase calls one operation through its generated typed call
// (wrappers/operations_gen.go) and checks the typed value it returns.
type typedCase func(t *testing.T, c context.Context, e *typedEnv)

// TestTypedEveryOperation calls every operation of the access table through
// its typed call against the simulator, with a client type the operation
// grants, and checks the value: an operation without a typed exercise here
// fails the test, so a new operation cannot go untested.
func TestTypedEveryOperation(t *testing.T) {
	s := newSim(t)
	e := &typedEnv{s: s, sys: systemClient(t, s),
		cust3: customerClient(t, s, pkbtest.CustomerSTU3), cust4: customerClient(t, s, pkbtest.CustomerR4),
		patient: userClient(t, s, "PATIENT"), clinician: userClient(t, s, "CLINICIAN"), coord: userClient(t, s, "TEAMCOORD"),
		teth: tetheredClient(t, s)}
	cases := typedCases()
	ops := access.Operations()
	for _, op := range ops {
		key := string(op.Family) + "." + op.ID
		tc, ok := cases[key]
		if !ok {
			t.Errorf("%s (%s %s) has no typed exercise in typedCases", key, op.Method, op.Path)
			continue
		}
		t.Run(key, func(t *testing.T) { tc(t, ctx(t), e) })
	}
	for key := range cases {
		if !slices.ContainsFunc(ops, func(op access.Operation) bool { return string(op.Family)+"."+op.ID == key }) {
			t.Errorf("typedCases has %s, which is no operation of the access table", key)
		}
	}
}

// fromJSON decodes a FHIR body written as JSON into its model.
func fromJSON[T any](t *testing.T, s string) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("test body: %v", err)
	}
	return v
}

// must fails the test on err, or on a nil value.
func must[T any](t *testing.T, v *T, err error) *T {
	t.Helper()
	if err != nil {
		t.Fatalf("typed call: %v", err)
	}
	if v == nil {
		t.Fatal("typed call: nil value and nil error")
	}
	return v
}

// typedResource is a FHIR model as the checks see it.
type typedResource interface {
	DeclaredType() string
	Identity() (string, string)
}

// wantResource checks a typed resource: the resourceType of its Go type,
// and an id when wantID is not "-".
func wantResource[T any](t *testing.T, v *T, err error, wantID string) *T {
	t.Helper()
	v = must(t, v, err)
	r, ok := any(v).(typedResource)
	if !ok {
		t.Fatalf("%T is not a FHIR model", v)
	}
	want := any(*new(T)).(interface{ FHIRType() string }).FHIRType()
	if got := r.DeclaredType(); got != want {
		t.Errorf("resourceType %q, want %q", got, want)
	}
	if id, _ := r.Identity(); wantID != "-" && (id == "" || wantID != "" && id != wantID) {
		t.Errorf("id %q, want %q", id, wantID)
	}
	return v
}

// wantPage checks a typed search page: at least min matches, each of the
// page's type.
func wantPage[T any](t *testing.T, p *wrappers.Page[T], err error, min int) *wrappers.Page[T] {
	t.Helper()
	p = must(t, p, err)
	if len(p.Matches) < min {
		t.Fatalf("%d matches, want at least %d", len(p.Matches), min)
	}
	for _, m := range p.Matches {
		wantResource(t, m, nil, "")
	}
	return p
}

// param returns the named parameters of a typed STU3 Parameters.
func params3(p *stu3.Parameters, name string) []stu3.ParametersParameter {
	var out []stu3.ParametersParameter
	for _, q := range p.Parameter {
		if q.Name == name {
			out = append(out, q)
		}
	}
	return out
}

func typedCases() map[string]typedCase {
	nhsIdent := nhsSystem + "|" + pkbtest.SeedPatientNHSNumber
	m := map[string]typedCase{
		// Facade (STU3), as the System Client unless only users may call.
		"facade.capabilities": func(t *testing.T, c context.Context, e *typedEnv) {
			cs := got(e.sys.Facade.Capabilities(c)).resource(t, "-")
			if cs.Url != "http://fhir.patientsknowbest.com/capabilitystatement/facade" {
				t.Errorf("url %v", cs.Url)
			}
		},
		"facade.readOperationDefinition": func(t *testing.T, c context.Context, e *typedEnv) {
			od := got(e.sys.Facade.ReadOperationDefinition(c, "Patient-t-status-query", &facade.ReadOperationDefinitionParams{Format: ptr("json")})).resource(t, "Patient-t-status-query")
			if od.Code != "status-query" {
				t.Errorf("code %q", od.Code)
			}
		},
		"facade.purview": func(t *testing.T, c context.Context, e *typedEnv) {
			p := got(e.sys.Facade.Purview(c)).resource(t, "-")
			if pv := params3(p, "purview"); len(pv) == 0 || pv[0].ValueReference == nil || pv[0].ValueReference.Reference != "Organization/"+pkbtest.SeedOrgPublicID {
				t.Errorf("purview %+v", p.Parameter)
			}
		},
		"facade.consentPurview": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.sys.Facade.ConsentPurview(c)).resource(t, "-")
		},
		"facade.searchPatient": func(t *testing.T, c context.Context, e *typedEnv) {
			p := gotPage(e.sys.Facade.SearchPatient(c, &facade.SearchPatientParams{Identifier: nhsIdent})).matches(t, 1)
			if p.Matches[0].Id != pkbtest.SeedPatientID {
				t.Errorf("matched %s", p.Matches[0].Id)
			}
		},
		"facade.readPatient": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.sys.Facade.ReadPatient(c, pkbtest.SeedPatientID)).resource(t, pkbtest.SeedPatientID)
		},
		"facade.readOrganization": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.sys.Facade.ReadOrganization(c, pkbtest.SeedTeamID)).resource(t, pkbtest.SeedTeamID)
		},
		"facade.readPractitioner": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.sys.Facade.ReadPractitioner(c, pkbtest.SeedClinicianID)).resource(t, pkbtest.SeedClinicianID)
		},
		"facade.readProcedureRequest": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.sys.Facade.ReadProcedureRequest(c, pkbtest.SeedProcedureRequestID)).resource(t, pkbtest.SeedProcedureRequestID)
		},
		"facade.readQuestionnaire": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.sys.Facade.ReadQuestionnaire(c, pkbtest.SeedQuestionnaireID)).resource(t, pkbtest.SeedQuestionnaireID)
		},
		"facade.searchAppointment": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchAppointment(c, &facade.SearchAppointmentParams{Patient: alice, Date: []string{"ge2024-01-01"}})).matches(t, 1)
		},
		"facade.searchCommunication": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchCommunication(c, &facade.SearchCommunicationParams{Patient: alice, Sent: []string{"lt2030"}})).matches(t, 1)
		},
		"facade.searchConsent": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchConsent(c, &facade.SearchConsentParams{Patient: alice})).matches(t, 1)
		},
		"facade.searchDiagnosticReport": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchDiagnosticReport(c, &facade.SearchDiagnosticReportParams{Patient: alice, Category: "http://hl7.org/fhir/v2/0074|LAB"})).matches(t, 1)
		},
		"facade.searchEncounter": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchEncounter(c, &facade.SearchEncounterParams{Patient: pkbtest.SeedPatientID, Date: []string{"gt2024-01"}})).matches(t, 1)
		},
		"facade.searchDocumentReference": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchDocumentReference(c, &facade.SearchDocumentReferenceParams{Patient: ptr(alice), Created: []string{"ge2024"}, DocumentStatus: ptr("current")})).matches(t, 1)
		},
		"facade.searchNamingSystem": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchNamingSystem(c, &facade.SearchNamingSystemParams{Value: namingSystem(t, e.s)})).matches(t, 1)
		},
		"facade.searchPerson": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchPerson(c, &facade.SearchPersonParams{Link: "Practitioner/" + pkbtest.SeedClinicianID})).matches(t, 1)
		},
		"facade.searchQuestionnaire": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchQuestionnaire(c, &facade.SearchQuestionnaireParams{PublisherReference: ptr("Organization/" + pkbtest.SeedOrgPublicID)})).matches(t, 1)
		},
		"facade.searchQuestionnaireResponse": func(t *testing.T, c context.Context, e *typedEnv) {
			gotPage(e.sys.Facade.SearchQuestionnaireResponse(c, &facade.SearchQuestionnaireResponseParams{Patient: ptr(alice)})).matches(t, 1)
		},
		"facade.searchObservation": func(t *testing.T, c context.Context, e *typedEnv) {
			// The first page, then the rest through page.All: typed
			// Observations across pages.
			p := gotPage(e.sys.Facade.SearchObservation(c, &facade.SearchObservationParams{Patient: alice, Category: labCat, Count: ptr[int32](5)})).matches(t, 5)
			if p.NextLink == "" {
				t.Fatal("want several pages")
			}
			n := 0
			for o, err := range p.All(c) {
				if err != nil {
					t.Fatal(err)
				}
				if o.Category[0].Coding[0].Code != "LABORATORY" {
					t.Errorf("category %+v", o.Category)
				}
				n++
			}
			if p.Total == nil || n != *p.Total || n <= 5 {
				t.Errorf("All yielded %d, total %v", n, p.Total)
			}
		},
		"facade.observationGroup": func(t *testing.T, c context.Context, e *typedEnv) {
			b := got(e.sys.Facade.ObservationGroup(c, &facade.ObservationGroupParams{Patient: alice, Category: labCat, Count: ptr[int32](1000)})).resource(t, "-")
			if b.Type != stu3.BundleTypeSearchset || len(b.Entry) == 0 {
				t.Errorf("$group: type %s, %d entries", b.Type, len(b.Entry))
			}
		},
		"facade.patientStatusQuery": func(t *testing.T, c context.Context, e *typedEnv) {
			in := fromJSON[stu3.Parameters](t, idParams("patientIdentifier", nhsSystem, pkbtest.SeedPatientNHSNumber))
			in.ResourceType = "" // the typed call sets it
			p := got(e.sys.Facade.PatientStatusQuery(c, in)).resource(t, "-")
			if st := params3(p, "patientStatus"); len(st) != 1 {
				t.Errorf("$status-query %+v", p.Parameter)
			}
			if in.ResourceType != "" {
				t.Error("the typed call changed the caller's body")
			}
		},
		"facade.organizationGenerateInvitationTokens": func(t *testing.T, c context.Context, e *typedEnv) {
			bob := e.s.Patients()[1]
			p := got(e.sys.Facade.OrganizationGenerateInvitationTokens(c, fromJSON[stu3.Parameters](t, idParams("patientIdentifier", nhsSystem, bob.NHSNumber)))).resource(t, "-")
			if len(params3(p, "patientTokens")) != 1 {
				t.Errorf("tokens %+v", p.Parameter)
			}
		},
		"facade.documentReferenceReadReceiptQuery": func(t *testing.T, c context.Context, e *typedEnv) {
			p := got(e.sys.Facade.DocumentReferenceReadReceiptQuery(c, fromJSON[stu3.Parameters](t, idParams("documentIdentifier",
				pkbtest.SeedDocumentIdentifierSystem, pkbtest.SeedReadDocumentIdentifier)))).resource(t, "-")
			if len(params3(p, "readReceipt")) != 1 {
				t.Errorf("read receipts %+v", p.Parameter)
			}
		},
		"facade.patientDateOfLastDataPoint": func(t *testing.T, c context.Context, e *typedEnv) {
			p := got(e.sys.Facade.PatientDateOfLastDataPoint(c, fromJSON[stu3.Parameters](t, idParams("patientIdentifier",
				pkbtest.SystemPKBPublicID, pkbtest.SeedPatientID)))).resource(t, "-")
			if len(params3(p, "lastDataPointsResult")) != 1 {
				t.Errorf("result %+v", p.Parameter)
			}
		},
		"facade.patientInstanceDateOfLastDataPoint": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.patient.Facade.PatientInstanceDateOfLastDataPoint(c, pkbtest.SeedPatientID)).resource(t, "-")
		},
		"facade.questionnaireSendQuestionnaireRequest": func(t *testing.T, c context.Context, e *typedEnv) {
			r := got(e.sys.Facade.QuestionnaireSendQuestionnaireRequest(c, pkbtest.SeedQuestionnaireID, fromJSON[stu3.Parameters](t, `{"resourceType":"Parameters","parameter":[
				{"name":"requestor","valueReference":{"reference":"Practitioner/`+pkbtest.SeedClinicianID+`"}},
				{"name":"target","valueReference":{"reference":"`+alice+`"}}]}`))).value(t)
			if r.Parameters == nil || r.OperationOutcome != nil || len(params3(r.Parameters, "questionnaireRequest")) != 1 {
				t.Errorf("answer %+v", r)
			}
		},
		"facade.personDestroy": func(t *testing.T, c context.Context, e *typedEnv) {
			if e.destroy(t, c) == "" {
				t.Fatal("no deleteRequestId")
			}
		},
		"facade.personDeleteStatus": func(t *testing.T, c context.Context, e *typedEnv) {
			p := got(e.sys.Facade.PersonDeleteStatus(c, fromJSON[stu3.Parameters](t, `{"resourceType":"Parameters","parameter":[{"name":"deleteRequestId","valueString":"`+e.destroy(t, c)+`"}]}`))).resource(t, "-")
			if st := params3(p, "status"); len(st) != 1 || st[0].ValueCode == "" {
				t.Errorf("status %+v", p.Parameter)
			}
		},
		"facade.personDestroyOrphanAccounts": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.sys.Facade.PersonDestroyOrphanAccounts(c, &stu3.Parameters{})).resource(t, "-")
		},

		// Messaging (STU3).
		"messaging.patientProcessMessage": func(t *testing.T, c context.Context, e *typedEnv) {
			r := got(e.sys.Messaging.PatientProcessMessage(c, fromJSON[stu3.Patient](t, newPatient("9990001014", "Quinn", "")))).value(t)
			if r.Patient == nil || r.Patient.Id == "" || r.Patient.Name[0].Given[0] != "Quinn" {
				t.Errorf("answer %+v", r)
			}
		},
		"messaging.processMessageAsync": func(t *testing.T, c context.Context, e *typedEnv) {
			msg := `{"resourceType":"Bundle","type":"message","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:22222222-2222-4222-8222-222222222222"},"entry":[
				{"fullUrl":"urn:uuid:h1","resource":{"resourceType":"MessageHeader","id":"h1","timestamp":"2025-01-01T00:00:00Z",
				 "event":{"system":"http://fhir.patientsknowbest.com/codesystem/message-event","code":"create-or-update-patient"},
				 "source":{"endpoint":"https://client.example.invalid/$process-message"},"focus":[{"reference":"urn:uuid:p1"}]}},
				{"fullUrl":"urn:uuid:p1","resource":` + strings.Replace(newPatient("9990001030", "Sky", ""), `"resourceType":"Patient",`,
				`"resourceType":"Patient","meta":{"tag":[{"system":"`+pkbtest.SystemODSCode+`","code":"`+pkbtest.SeedOrgODSCode+`"}]},`, 1) + `}]}`
			meta, err := e.sys.Messaging.ProcessMessageAsync(c, fromJSON[stu3.Bundle](t, msg), &messaging.ProcessMessageAsyncParams{Async: true})
			if err != nil || meta == nil || meta.Status != 202 {
				t.Errorf("async $process-message: %+v, %v", meta, err)
			}
		},

		// Customer STU3 and R4: the generic functions, typed by T.
		"customer-stu3.capabilities": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.cust3.CustomerSTU3.Capabilities(c)).resource(t, "-")
		},
		"customer-r4.capabilities": func(t *testing.T, c context.Context, e *typedEnv) {
			got(e.cust4.CustomerR4.Capabilities(c)).resource(t, "-")
		},
		"customer-stu3.transaction": func(t *testing.T, c context.Context, e *typedEnv) {
			b := got(e.cust3.CustomerSTU3.Transaction(c, fromJSON[stu3.Bundle](t, `{"resourceType":"Bundle","type":"batch","entry":[
				{"resource":{"resourceType":"Observation","status":"final","code":{"text":"weight"}},"request":{"method":"POST","url":"Observation"}}]}`), nil)).resource(t, "-")
			if b.Type != stu3.BundleTypeBatchResponse || len(b.Entry) != 1 {
				t.Errorf("batch-response %s with %d entries", b.Type, len(b.Entry))
			}
		},
		"customer-r4.transaction": func(t *testing.T, c context.Context, e *typedEnv) {
			b := got(e.cust4.CustomerR4.Transaction(c, fromJSON[r4.Bundle](t, `{"resourceType":"Bundle","type":"transaction","entry":[
				{"fullUrl":"urn:uuid:aaaaaaaa-0000-4000-8000-000000000009","resource":{"resourceType":"Patient","name":[{"family":"Testpatient","given":["Vic"]}]},"request":{"method":"POST","url":"Patient"}},
				{"resource":{"resourceType":"Observation","status":"final","code":{"text":"blood pressure"},"subject":{"reference":"urn:uuid:aaaaaaaa-0000-4000-8000-000000000009"}},"request":{"method":"POST","url":"Observation"}}]}`), nil)).resource(t, "-")
			if b.Type != r4.BundleTypeTransactionResponse || len(b.Entry) != 2 {
				t.Errorf("transaction-response %s with %d entries", b.Type, len(b.Entry))
			}
		},
	}
	addCustomerSTU3(m)
	addCustomerR4(m)
	addAggregated(m, nhsIdent)
	addREST(m)
	return m
}

// result is a typed call's answer, for the checks.
type result[T any] struct {
	v   *T
	err error
}

func got[T any](v *T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) value(t *testing.T) *T {
	t.Helper()
	return must(t, r.v, r.err)
}

func (r result[T]) resource(t *testing.T, id string) *T {
	t.Helper()
	return wantResource(t, r.v, r.err, id)
}

type pageResult[T any] struct {
	p   *wrappers.Page[T]
	err error
}

func gotPage[T any](p *wrappers.Page[T], err error) pageResult[T] { return pageResult[T]{p, err} }

func (r pageResult[T]) matches(t *testing.T, min int) *wrappers.Page[T] {
	t.Helper()
	return wantPage(t, r.p, r.err, min)
}

// wantStatus checks that err is an *APIError with the HTTP status.
func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	var ae *wrappers.APIError
	if !errors.As(err, &ae) || ae.StatusCode != status {
		t.Errorf("got %v, want an *APIError with status %d", err, status)
	}
}

func addCustomerR4(m map[string]typedCase) {
	h := func(e *typedEnv) *wrappers.CustomerR4 { return e.cust4.CustomerR4 }
	create := func(t *testing.T, c context.Context, e *typedEnv) *r4.Patient {
		t.Helper()
		in := fromJSON[r4.Patient](t, `{"name":[{"family":"Testpatient","given":["Uma"]}],"managingOrganization":{"reference":"Organization/`+pkbtest.SeedOrgPublicID+`"}}`)
		p := got(wrappers.CustomerR4Create(c, h(e), in, nil)).resource(t, "")
		if p.Name[0].Given[0] != "Uma" {
			t.Errorf("created %+v", p.Name)
		}
		return p
	}
	m["customer-r4.create"] = func(t *testing.T, c context.Context, e *typedEnv) { create(t, c, e) }
	m["customer-r4.read"] = func(t *testing.T, c context.Context, e *typedEnv) {
		p := create(t, c, e)
		got(wrappers.CustomerR4Read[r4.Patient](c, h(e), p.Id, nil)).resource(t, p.Id)
	}
	m["customer-r4.vread"] = func(t *testing.T, c context.Context, e *typedEnv) {
		p := create(t, c, e)
		v := got(wrappers.CustomerR4Vread[r4.Patient](c, h(e), p.Id, "1")).resource(t, p.Id)
		if _, vid := v.Identity(); vid != "1" {
			t.Errorf("versionId %q", vid)
		}
	}
	m["customer-r4.update"] = func(t *testing.T, c context.Context, e *typedEnv) {
		p := create(t, c, e)
		_, vid := p.Identity()
		u := got(wrappers.CustomerR4Update(c, h(e), p.Id, p, nil, wrappers.IfMatch(vid))).resource(t, p.Id)
		if _, v2 := u.Identity(); v2 == vid {
			t.Errorf("version still %q", v2)
		}
		_, err := wrappers.CustomerR4Update(c, h(e), p.Id, p, nil, wrappers.IfMatch(vid))
		wantStatus(t, err, 412)
	}
	m["customer-r4.delete"] = func(t *testing.T, c context.Context, e *typedEnv) {
		p := create(t, c, e)
		if _, err := wrappers.CustomerR4Delete[r4.Patient](c, h(e), p.Id, nil); err != nil {
			t.Fatal(err)
		}
		_, err := wrappers.CustomerR4Read[r4.Patient](c, h(e), p.Id, nil)
		wantStatus(t, err, 410)
	}
	m["customer-r4.search"] = func(t *testing.T, c context.Context, e *typedEnv) {
		p := create(t, c, e)
		page := gotPage(wrappers.CustomerR4Search[r4.Patient](c, h(e), &customerr4.SearchParams{ID: &p.Id})).matches(t, 1)
		if len(page.Matches) != 1 || page.Matches[0].Id != p.Id {
			t.Errorf("matches %d", len(page.Matches))
		}
	}
	m["customer-r4.searchPost"] = func(t *testing.T, c context.Context, e *typedEnv) {
		p := create(t, c, e)
		page := gotPage(wrappers.CustomerR4SearchPost[r4.Patient](c, h(e), &customerr4.SearchForm{ID: &p.Id})).matches(t, 1)
		if len(page.Matches) != 1 || page.Matches[0].Id != p.Id {
			t.Errorf("matches %d", len(page.Matches))
		}
	}
	m["customer-r4.historyType"] = func(t *testing.T, c context.Context, e *typedEnv) {
		create(t, c, e)
		gotPage(wrappers.CustomerR4HistoryType[r4.Patient](c, h(e), nil)).matches(t, 1)
	}
	m["customer-r4.historyInstance"] = func(t *testing.T, c context.Context, e *typedEnv) {
		p := create(t, c, e)
		_, vid := p.Identity()
		got(wrappers.CustomerR4Update(c, h(e), p.Id, p, nil, wrappers.IfMatch(vid))).resource(t, p.Id)
		page := gotPage(wrappers.CustomerR4HistoryInstance[r4.Patient](c, h(e), p.Id, nil)).matches(t, 2)
		if len(page.Matches) != 2 {
			t.Errorf("%d versions", len(page.Matches))
		}
	}
}

func addCustomerSTU3(m map[string]typedCase) {
	h := func(e *typedEnv) *wrappers.CustomerSTU3 { return e.cust3.CustomerSTU3 }
	create := func(t *testing.T, c context.Context, e *typedEnv) *stu3.Observation {
		t.Helper()
		in := fromJSON[stu3.Observation](t, `{"status":"final","code":{"text":"weight"}}`)
		o := got(wrappers.CustomerSTU3Create(c, h(e), in, nil)).resource(t, "")
		if o.Code.Text != "weight" {
			t.Errorf("created %+v", o.Code)
		}
		return o
	}
	m["customer-stu3.create"] = func(t *testing.T, c context.Context, e *typedEnv) { create(t, c, e) }
	m["customer-stu3.read"] = func(t *testing.T, c context.Context, e *typedEnv) {
		o := create(t, c, e)
		got(wrappers.CustomerSTU3Read[stu3.Observation](c, h(e), o.Id, nil)).resource(t, o.Id)
	}
	m["customer-stu3.vread"] = func(t *testing.T, c context.Context, e *typedEnv) {
		o := create(t, c, e)
		got(wrappers.CustomerSTU3Vread[stu3.Observation](c, h(e), o.Id, "1")).resource(t, o.Id)
	}
	m["customer-stu3.update"] = func(t *testing.T, c context.Context, e *typedEnv) {
		o := create(t, c, e)
		o.Status = stu3.ObservationStatusAmended
		u := got(wrappers.CustomerSTU3Update(c, h(e), o.Id, o, nil)).resource(t, o.Id)
		if u.Status != stu3.ObservationStatusAmended {
			t.Errorf("status %s", u.Status)
		}
	}
	m["customer-stu3.delete"] = func(t *testing.T, c context.Context, e *typedEnv) {
		o := create(t, c, e)
		if _, err := wrappers.CustomerSTU3Delete[stu3.Observation](c, h(e), o.Id, nil); err != nil {
			t.Fatal(err)
		}
		_, err := wrappers.CustomerSTU3Read[stu3.Observation](c, h(e), o.Id, nil)
		wantStatus(t, err, 410)
	}
	m["customer-stu3.search"] = func(t *testing.T, c context.Context, e *typedEnv) {
		o := create(t, c, e)
		gotPage(wrappers.CustomerSTU3Search[stu3.Observation](c, h(e), &customerstu3.SearchParams{ID: &o.Id})).matches(t, 1)
	}
	m["customer-stu3.searchPost"] = func(t *testing.T, c context.Context, e *typedEnv) {
		o := create(t, c, e)
		gotPage(wrappers.CustomerSTU3SearchPost[stu3.Observation](c, h(e), &customerstu3.SearchForm{ID: &o.Id})).matches(t, 1)
	}
	m["customer-stu3.historyType"] = func(t *testing.T, c context.Context, e *typedEnv) {
		create(t, c, e)
		gotPage(wrappers.CustomerSTU3HistoryType[stu3.Observation](c, h(e), nil)).matches(t, 1)
	}
	m["customer-stu3.historyInstance"] = func(t *testing.T, c context.Context, e *typedEnv) {
		o := create(t, c, e)
		gotPage(wrappers.CustomerSTU3HistoryInstance[stu3.Observation](c, h(e), o.Id, nil)).matches(t, 1)
	}
}

// aggregatedParams fills the parameters an Aggregated search requires
// (by their form tags): the seeded patient's NHS number as system|value,
// and the team header.
func aggregatedParams[P any](t *testing.T, op, nhsIdent string) *P {
	t.Helper()
	o, ok := access.Lookup(access.FamilyAggregated, op)
	if !ok {
		t.Fatalf("no operation %s", op)
	}
	p := new(P)
	v := reflect.ValueOf(p).Elem()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("form"), ",")
		switch {
		case sf.Name == "TeamID":
			if err := f.Addr().Interface().(interface{ UnmarshalText([]byte) error }).UnmarshalText([]byte(pkbtest.SeedTeamID)); err != nil {
				t.Fatal(err)
			}
		case slices.Contains(o.RequiredQuery, name) && f.Kind() == reflect.String:
			f.SetString(nhsIdent)
		case slices.Contains(o.RequiredQuery, name) && f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf(&nhsIdent))
		case slices.Contains(o.RequiredQuery, name):
			t.Fatalf("%s: cannot fill the required %s (%s)", op, name, f.Type())
		}
	}
	return p
}

type (
	aggSearch[T, P any] func(*wrappers.Aggregated, context.Context, *P, ...wrappers.CallOption) (*wrappers.Page[T], error)
	aggRead[T any]      func(*wrappers.Aggregated, context.Context, string, ...wrappers.CallOption) (*T, error)
)

// aggregatedPair registers the search and read of one Aggregated type: a
// typed search for the seeded patient, then a typed read of a match, or,
// for a type the seed has no data of, of a resource created through the
// Customer R4 endpoint (which the Aggregated endpoint serves too).
func aggregatedPair[T any, P any](m map[string]typedCase, nhsIdent string, search aggSearch[T, P], read aggRead[T]) {
	typ := any(*new(T)).(interface{ FHIRType() string }).FHIRType()
	m["aggregated.search"+typ] = func(t *testing.T, c context.Context, e *typedEnv) {
		p := gotPage(search(e.cust4.Aggregated, c, aggregatedParams[P](t, "search"+typ, nhsIdent))).matches(t, 0)
		if p.Total == nil {
			t.Error("no Bundle.total")
		}
	}
	m["aggregated.read"+typ] = func(t *testing.T, c context.Context, e *typedEnv) {
		p, err := search(e.cust4.Aggregated, c, aggregatedParams[P](t, "search"+typ, nhsIdent))
		if err != nil {
			t.Fatal(err)
		}
		id := ""
		if len(p.Matches) > 0 {
			id, _ = any(p.Matches[0]).(typedResource).Identity()
		} else {
			id = createR4(t, c, e, typ)
		}
		got(read(e.cust4.Aggregated, c, id)).resource(t, id)
	}
}

// createR4 stores a minimal resource of type typ through the Customer R4
// endpoint, for the patient of the seed, and returns its id.
func createR4(t *testing.T, c context.Context, e *typedEnv, typ string) string {
	t.Helper()
	resp, err := e.cust4.CustomerR4.Gen.CreateWithBodyWithResponse(c, typ, &customerr4.CreateParams{}, fhirJSON,
		body(`{"resourceType":"`+typ+`"}`))
	m := want(t, resp, err, 201)
	id, _ := get(m, "id").(string)
	if id == "" {
		t.Fatalf("created %v", m)
	}
	return id
}

func addAggregated(m map[string]typedCase, nhs string) {
	type A = wrappers.Aggregated
	aggregatedPair(m, nhs, (*A).SearchAllergyIntolerance, (*A).ReadAllergyIntolerance)
	aggregatedPair(m, nhs, (*A).SearchAppointment, (*A).ReadAppointment)
	aggregatedPair(m, nhs, (*A).SearchCarePlan, (*A).ReadCarePlan)
	aggregatedPair(m, nhs, (*A).SearchCareTeam, (*A).ReadCareTeam)
	aggregatedPair(m, nhs, (*A).SearchChargeItem, (*A).ReadChargeItem)
	aggregatedPair(m, nhs, (*A).SearchChargeItemDefinition, (*A).ReadChargeItemDefinition)
	aggregatedPair(m, nhs, (*A).SearchCodeSystem, (*A).ReadCodeSystem)
	aggregatedPair(m, nhs, (*A).SearchCommunication, (*A).ReadCommunication)
	aggregatedPair(m, nhs, (*A).SearchComposition, (*A).ReadComposition)
	aggregatedPair(m, nhs, (*A).SearchCondition, (*A).ReadCondition)
	aggregatedPair(m, nhs, (*A).SearchConsent, (*A).ReadConsent)
	aggregatedPair(m, nhs, (*A).SearchDevice, (*A).ReadDevice)
	aggregatedPair(m, nhs, (*A).SearchDeviceRequest, (*A).ReadDeviceRequest)
	aggregatedPair(m, nhs, (*A).SearchDeviceUseStatement, (*A).ReadDeviceUseStatement)
	aggregatedPair(m, nhs, (*A).SearchDiagnosticReport, (*A).ReadDiagnosticReport)
	aggregatedPair(m, nhs, (*A).SearchDocumentReference, (*A).ReadDocumentReference)
	aggregatedPair(m, nhs, (*A).SearchEncounter, (*A).ReadEncounter)
	aggregatedPair(m, nhs, (*A).SearchEpisodeOfCare, (*A).ReadEpisodeOfCare)
	aggregatedPair(m, nhs, (*A).SearchFlag, (*A).ReadFlag)
	aggregatedPair(m, nhs, (*A).SearchHealthcareService, (*A).ReadHealthcareService)
	aggregatedPair(m, nhs, (*A).SearchImmunization, (*A).ReadImmunization)
	aggregatedPair(m, nhs, (*A).SearchImmunizationRecommendation, (*A).ReadImmunizationRecommendation)
	aggregatedPair(m, nhs, (*A).SearchInvoice, (*A).ReadInvoice)
	aggregatedPair(m, nhs, (*A).SearchLocation, (*A).ReadLocation)
	aggregatedPair(m, nhs, (*A).SearchMedication, (*A).ReadMedication)
	aggregatedPair(m, nhs, (*A).SearchMedicationAdministration, (*A).ReadMedicationAdministration)
	aggregatedPair(m, nhs, (*A).SearchMedicationDispense, (*A).ReadMedicationDispense)
	aggregatedPair(m, nhs, (*A).SearchMedicationRequest, (*A).ReadMedicationRequest)
	aggregatedPair(m, nhs, (*A).SearchMedicationStatement, (*A).ReadMedicationStatement)
	aggregatedPair(m, nhs, (*A).SearchNutritionOrder, (*A).ReadNutritionOrder)
	aggregatedPair(m, nhs, (*A).SearchObservation, (*A).ReadObservation)
	aggregatedPair(m, nhs, (*A).SearchOrganization, (*A).ReadOrganization)
	aggregatedPair(m, nhs, (*A).SearchPatient, (*A).ReadPatient)
	aggregatedPair(m, nhs, (*A).SearchPerson, (*A).ReadPerson)
	aggregatedPair(m, nhs, (*A).SearchPractitioner, (*A).ReadPractitioner)
	aggregatedPair(m, nhs, (*A).SearchQuestionnaire, (*A).ReadQuestionnaire)
	aggregatedPair(m, nhs, (*A).SearchQuestionnaireResponse, (*A).ReadQuestionnaireResponse)

	m["aggregated.capabilities"] = func(t *testing.T, c context.Context, e *typedEnv) {
		got(e.cust4.Aggregated.Capabilities(c)).resource(t, "-")
	}
	m["aggregated.consentCarers"] = func(t *testing.T, c context.Context, e *typedEnv) {
		b := got(e.cust4.Aggregated.ConsentCarers(c, &aggregated.ConsentCarersParams{PatientPatientIdentifier: nhs})).resource(t, "-")
		if b.Type != r4.BundleTypeSearchset || len(b.Entry) == 0 {
			t.Errorf("$carers: %s with %d entries", b.Type, len(b.Entry))
		}
	}
	m["aggregated.sendQuestionnaireRequest"] = func(t *testing.T, c context.Context, e *typedEnv) {
		r := got(e.cust4.Aggregated.SendQuestionnaireRequest(c, pkbtest.SeedAggregatedQuestionnaireID,
			fromJSON[r4.Parameters](t, `{"resourceType":"Parameters","parameter":[{"name":"target","valueReference":{"reference":"`+alice+`"}}]}`),
			aggregatedParams[aggregated.SendQuestionnaireRequestParams](t, "sendQuestionnaireRequest", nhs))).value(t)
		if r.Parameters == nil || len(r.Parameters.Parameter) != 1 || r.Parameters.Parameter[0].Name != "request" {
			t.Errorf("answer %+v", r)
		}
	}
}

func addREST(m map[string]typedCase) {
	apiRef := func(t *testing.T, c context.Context, e *typedEnv) string {
		t.Helper()
		refs, err := e.patient.REST.ListMeasurementApiRefs(c)
		if err != nil || len(refs) == 0 || refs[0].Ref == nil {
			t.Fatalf("apiRefs: %v %v", refs, err)
		}
		return *refs[0].Ref
	}
	measure := func(t *testing.T, c context.Context, e *typedEnv) string {
		t.Helper()
		ref := apiRef(t, c, e)
		got(e.patient.REST.CreateMeasurement(c, &restapi.Measurement{APIRef: &ref, Value: ptr("72.5")})).value(t)
		return ref
	}
	m["restapi.listMeasurementApiRefs"] = func(t *testing.T, c context.Context, e *typedEnv) { apiRef(t, c, e) }
	m["restapi.createMeasurement"] = func(t *testing.T, c context.Context, e *typedEnv) {
		ref := apiRef(t, c, e)
		ms := got(e.patient.REST.CreateMeasurement(c, &restapi.Measurement{APIRef: &ref, Value: ptr("72.5")})).value(t)
		if ms.Value == nil || *ms.Value != "72.5" {
			t.Errorf("created %+v", ms)
		}
	}
	m["restapi.getSelf"] = func(t *testing.T, c context.Context, e *typedEnv) {
		u := got(e.patient.REST.GetSelf(c)).value(t)
		if u.Patient == nil || !*u.Patient {
			t.Errorf("self %+v", u)
		}
		if u := got(e.teth.REST.GetSelf(c)).value(t); u.UserType == nil {
			t.Errorf("tethered self %+v", u)
		}
	}
	m["restapi.getUserByNhsNumber"] = func(t *testing.T, c context.Context, e *typedEnv) {
		got(e.teth.REST.GetUserByNhsNumber(c, pkbtest.SeedPatientNHSNumber)).value(t)
	}
	m["restapi.listMeasurementsByType"] = func(t *testing.T, c context.Context, e *typedEnv) {
		ref := measure(t, c, e)
		if ms, err := e.patient.REST.ListMeasurementsByType(c, ref); err != nil || len(ms) == 0 || ms[0].Value == nil {
			t.Errorf("byType %v %v", ms, err)
		}
	}
	m["restapi.listMeasurements"] = func(t *testing.T, c context.Context, e *typedEnv) {
		ref := measure(t, c, e)
		if ms, err := e.patient.REST.ListMeasurements(c, &restapi.ListMeasurementsParams{APIRefs: []string{ref}}); err != nil || len(ms) == 0 {
			t.Errorf("measurements %v %v", ms, err)
		}
	}
	m["restapi.listPatientMeasurements"] = func(t *testing.T, c context.Context, e *typedEnv) {
		ref := measure(t, c, e)
		if ms, err := e.clinician.REST.ListPatientMeasurements(c, pkbtest.SeedPatientRESTID, &restapi.ListPatientMeasurementsParams{APIRefs: []string{ref}}); err != nil || len(ms) == 0 {
			t.Errorf("patient measurements %v %v", ms, err)
		}
	}
	m["restapi.createRecordAccessToken"] = func(t *testing.T, c context.Context, e *typedEnv) {
		tok := got(e.teth.REST.CreateRecordAccessToken(c, pkbtest.SeedPatientRESTID)).value(t)
		if tok.InvitationCode == nil || len(*tok.InvitationCode) != 10 {
			t.Errorf("token %+v", tok)
		}
	}
	m["restapi.breakTheGlass"] = func(t *testing.T, c context.Context, e *typedEnv) {
		btg := got(e.clinician.REST.BreakTheGlass(c, pkbtest.SeedPatientRESTID, pkbtest.SeedClinicianRESTID)).value(t)
		if btg.Token() == "" || btg.ValidUntil.IsZero() {
			t.Errorf("btg %+v", btg)
		}
	}
}
