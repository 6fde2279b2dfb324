package pkbtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pkbgo/pkb"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

// typed holds the typed-layer calls of one resource type, so that a table
// of types can be walked by name.
type typed[V any] struct {
	search func(ctx context.Context, f pkb.Family[V], q url.Values, opts ...wrappers.CallOption) ([]string, error)
	read   func(ctx context.Context, f pkb.Family[V], id string) (string, error)
}

func typedOf[T any, PT pkb.Resource[T, V], V any]() typed[V] {
	want := PT(new(T)).FHIRType()
	return typed[V]{
		search: func(ctx context.Context, f pkb.Family[V], q url.Values, opts ...wrappers.CallOption) ([]string, error) {
			var ids []string
			for r, err := range pkb.Search[T, PT](ctx, f, q, opts...) {
				if err != nil {
					return ids, err
				}
				if got := PT(r).DeclaredType(); got != want {
					return ids, fmt.Errorf("a match of type %q", got)
				}
				id, _ := PT(r).Identity()
				ids = append(ids, id)
			}
			return ids, nil
		},
		read: func(ctx context.Context, f pkb.Family[V], id string) (string, error) {
			r, err := pkb.Read[T, PT](ctx, f, id)
			if err != nil {
				return "", err
			}
			got, _ := PT(r).Identity()
			return got, nil
		},
	}
}

func s3[T any, PT pkb.Resource[T, stu3.Version]]() typed[stu3.Version] {
	return typedOf[T, PT, stu3.Version]()
}

func r4t[T any, PT pkb.Resource[T, r4.Version]]() typed[r4.Version] {
	return typedOf[T, PT, r4.Version]()
}

// facadeTypes are the Facade's types with a typed read or search.
var facadeTypes = map[string]typed[stu3.Version]{
	"Appointment": s3[stu3.Appointment](), "Communication": s3[stu3.Communication](), "Consent": s3[stu3.Consent](),
	"DiagnosticReport": s3[stu3.DiagnosticReport](), "DocumentReference": s3[stu3.DocumentReference](),
	"Encounter": s3[stu3.Encounter](), "NamingSystem": s3[stu3.NamingSystem](), "Observation": s3[stu3.Observation](),
	"OperationDefinition": s3[stu3.OperationDefinition](), "Organization": s3[stu3.Organization](),
	"Patient": s3[stu3.Patient](), "Person": s3[stu3.Person](), "Practitioner": s3[stu3.Practitioner](),
	"ProcedureRequest": s3[stu3.ProcedureRequest](), "Questionnaire": s3[stu3.Questionnaire](),
	"QuestionnaireResponse": s3[stu3.QuestionnaireResponse](),
}

// aggregatedTypes are the Aggregated API's types (read and search each).
var aggregatedTypes = map[string]typed[r4.Version]{
	"AllergyIntolerance": r4t[r4.AllergyIntolerance](), "Appointment": r4t[r4.Appointment](), "CarePlan": r4t[r4.CarePlan](),
	"CareTeam": r4t[r4.CareTeam](), "ChargeItem": r4t[r4.ChargeItem](), "ChargeItemDefinition": r4t[r4.ChargeItemDefinition](),
	"CodeSystem": r4t[r4.CodeSystem](), "Communication": r4t[r4.Communication](), "Composition": r4t[r4.Composition](),
	"Condition": r4t[r4.Condition](), "Consent": r4t[r4.Consent](), "Device": r4t[r4.Device](),
	"DeviceRequest": r4t[r4.DeviceRequest](), "DeviceUseStatement": r4t[r4.DeviceUseStatement](),
	"DiagnosticReport": r4t[r4.DiagnosticReport](), "DocumentReference": r4t[r4.DocumentReference](),
	"Encounter": r4t[r4.Encounter](), "EpisodeOfCare": r4t[r4.EpisodeOfCare](), "Flag": r4t[r4.Flag](),
	"HealthcareService": r4t[r4.HealthcareService](), "Immunization": r4t[r4.Immunization](),
	"ImmunizationRecommendation": r4t[r4.ImmunizationRecommendation](), "Invoice": r4t[r4.Invoice](),
	"Location": r4t[r4.Location](), "Medication": r4t[r4.Medication](), "MedicationAdministration": r4t[r4.MedicationAdministration](),
	"MedicationDispense": r4t[r4.MedicationDispense](), "MedicationRequest": r4t[r4.MedicationRequest](),
	"MedicationStatement": r4t[r4.MedicationStatement](), "NutritionOrder": r4t[r4.NutritionOrder](),
	"Observation": r4t[r4.Observation](), "Organization": r4t[r4.Organization](), "Patient": r4t[r4.Patient](),
	"Person": r4t[r4.Person](), "Practitioner": r4t[r4.Practitioner](), "Questionnaire": r4t[r4.Questionnaire](),
	"QuestionnaireResponse": r4t[r4.QuestionnaireResponse](),
}

// typedInteractions are the interactions package pkb performs.
var typedInteractions = []string{access.InteractionRead, access.InteractionVRead, access.InteractionUpdate,
	access.InteractionDelete, access.InteractionHistoryInstance, access.InteractionHistoryType,
	access.InteractionCreate, access.InteractionSearchType, access.InteractionBatchTransaction}

// typedReachable lists, as "family.operationId", every operation of the
// access table that package pkb sends for some resource type: the one
// access.Find picks for its family, interaction and type (the generic
// /{resourceType} operations stand for every type). A POST _search, which
// Find never picks, is not among them.
func typedReachable() []string {
	var out []string
	for _, op := range access.Operations() {
		if !slices.Contains(typedInteractions, op.Interaction) {
			continue
		}
		typ := op.ResourceType
		if typ == "" && op.Interaction != access.InteractionBatchTransaction {
			typ = "Patient"
		}
		if found, ok := access.Find(op.Family, op.Interaction, typ); ok && found.ID == op.ID {
			out = append(out, string(op.Family)+"."+op.ID)
		}
	}
	return out
}

// TestTypedLayerEveryOperation calls, through package pkb and on a
// simulator of its own, every operation of the access table the typed
// layer can send, and then checks the simulator served each one: a
// family/type pair the table offers but the typed layer cannot reach (or
// that fails validation against the OpenAPI documents) fails the test.
func TestTypedLayerEveryOperation(t *testing.T) {
	s := newSim(t)
	c := ctx(t)
	alice := "Patient/" + pkbtest.SeedPatientID
	nhs := nhsSystem + "|" + pkbtest.SeedPatientNHSNumber

	// Facade: every read and search, each search finding something.
	facade := systemClient(t, s).Facade
	facadeQueries := map[string]url.Values{
		"Appointment":           {"patient": {alice}, "date": {"ge2024-01-01"}},
		"Communication":         {"patient": {alice}, "sent": {"lt2030"}},
		"Consent":               {"patient": {alice}},
		"DiagnosticReport":      {"patient": {alice}, "category": {"http://hl7.org/fhir/v2/0074|LAB"}},
		"DocumentReference":     {"patient": {alice}, "created": {"ge2024"}},
		"Encounter":             {"patient": {pkbtest.SeedPatientID}, "date": {"gt2024-01"}},
		"NamingSystem":          {"value": {namingSystem(t, s)}},
		"Observation":           {"patient": {alice}, "category": {pkbtest.SystemObservationCategory + "|LABORATORY"}},
		"Patient":               {"identifier": {nhs}},
		"Person":                {"link": {"Practitioner/" + pkbtest.SeedClinicianID}},
		"Questionnaire":         {"publisher-reference": {"Organization/" + pkbtest.SeedOrgPublicID}},
		"QuestionnaireResponse": {"patient": {alice}},
	}
	facadeReads := map[string]string{
		"OperationDefinition": "Patient-t-status-query", "Organization": pkbtest.SeedTeamID, "Patient": pkbtest.SeedPatientID,
		"Practitioner": pkbtest.SeedClinicianID, "ProcedureRequest": pkbtest.SeedProcedureRequestID, "Questionnaire": pkbtest.SeedQuestionnaireID,
	}
	for typ, q := range facadeQueries {
		ids, err := facadeTypes[typ].search(c, facade, q)
		if err != nil || len(ids) == 0 {
			t.Errorf("Facade search %s: %v (%d matches)", typ, err, len(ids))
		}
	}
	for typ, id := range facadeReads {
		if got, err := facadeTypes[typ].read(c, facade, id); err != nil || got != id {
			t.Errorf("Facade read %s: %q %v", typ, got, err)
		}
	}

	// Aggregated: every type searched for the seeded patient (or, with no
	// patient selector, as the document requires), then each first match
	// read back by its id.
	agg := customerClient(t, s, pkbtest.CustomerR4).Aggregated
	found := 0
	for typ, calls := range aggregatedTypes {
		op, ok := access.Find(access.FamilyAggregated, access.InteractionSearchType, typ)
		if !ok {
			t.Errorf("no Aggregated search for %s", typ)
			continue
		}
		q := url.Values{}
		for _, name := range op.RequiredQuery {
			if strings.HasSuffix(name, ":Patient.identifier") {
				q.Set(name, nhs)
			} else {
				q.Set(name, "x") // e.g. a ChargeItemDefinition identifier: nothing matches
			}
		}
		var opts []wrappers.CallOption
		if typ == "Questionnaire" { // templates are searched per team
			opts = append(opts, wrappers.Header("x-team-id", pkbtest.SeedTeamID))
		}
		ids, err := calls.search(c, agg, q, opts...)
		if err != nil {
			t.Errorf("Aggregated search %s: %v", typ, err)
			continue
		}
		id := "no-such-id"
		if len(ids) > 0 {
			id, found = ids[0], found+1
		}
		got, err := calls.read(c, agg, id)
		switch {
		case len(ids) > 0 && (err != nil || got != id):
			t.Errorf("Aggregated read %s/%s: %q %v", typ, id, got, err)
		case len(ids) == 0 && !wrappers.IsNotFound(err):
			t.Errorf("Aggregated read of an unknown %s: %v", typ, err)
		}
	}
	if found < 5 {
		t.Errorf("only %d Aggregated types had a match for the seeded patient", found)
	}

	// Messaging has no generic interaction: refused before any I/O.
	if _, err := pkb.Read[stu3.Patient](c, systemClient(t, s).Messaging, pkbtest.SeedPatientID); !errors.Is(err, pkb.ErrUnsupported) {
		t.Errorf("Messaging read: %v", err)
	}

	// Customer STU3 and R4: the whole life of a resource.
	customerLifecycle[stu3.Patient](t, s, customerClient(t, s, pkbtest.CustomerSTU3).CustomerSTU3,
		func(p *stu3.Patient, family string) { p.Name = []stu3.HumanName{{Family: family}} })
	customerLifecycle[r4.Patient](t, s, customerClient(t, s, pkbtest.CustomerR4).CustomerR4,
		func(p *r4.Patient, family string) { p.Name = []r4.HumanName{{Family: family}} })

	served := s.ServedOperations()
	reachable := typedReachable()
	if len(reachable) < 100 {
		t.Errorf("only %d operations reachable through the typed layer", len(reachable))
	}
	t.Logf("the typed layer called all %d operations it can reach", len(reachable))
	for _, op := range reachable {
		if served[op] == 0 {
			t.Errorf("%s: the typed layer never called it", op)
		}
	}
}

// customerLifecycle runs every generic interaction of a Customer family on
// Patients: create, conditional create, read, vread, update (with If-Match,
// refused when stale, accepted with NoIfMatch), search, history of the
// instance and of the type, a transaction, a batch, delete.
func customerLifecycle[T any, PT pkb.Resource[T, V], V any](t *testing.T, s *pkbtest.Simulator, f pkb.Family[V], name func(*T, string)) {
	t.Helper()
	c := ctx(t)
	fam := f.Family().Info().ID
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s %s: %v", fam, step, err)
		}
	}
	p := PT(new(T))
	name(p, "Lifecycle")
	created, meta, err := pkb.Create[T, PT](c, f, (*T)(p))
	fail("create", err)
	id, v1 := PT(created).Identity()
	if meta.Status != 201 || id == "" || v1 == "" || !strings.Contains(meta.Location, "/Patient/"+id) {
		t.Fatalf("%s create: %d %q %q %q", fam, meta.Status, id, v1, meta.Location)
	}
	read, err := pkb.Read[T, PT](c, f, id)
	fail("read", err)
	if got, _ := PT(read).Identity(); got != id {
		t.Errorf("%s read: id %q", fam, got)
	}

	// Update from the version read: If-Match W/"v1" is sent and accepted.
	name(read, "Renamed")
	updated, meta, err := pkb.Update[T, PT](c, f, read)
	fail("update", err)
	_, v2 := PT(updated).Identity()
	if meta.Status != 200 || v2 == v1 {
		t.Errorf("%s update: %d, version %q after %q", fam, meta.Status, v2, v1)
	}
	// The same stale copy again: the simulator refuses If-Match W/"v1".
	_, _, err = pkb.Update[T, PT](c, f, read)
	var ae *wrappers.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 412 {
		t.Errorf("%s stale update: %v, want a 412 APIError", fam, err)
	}
	// NoIfMatch: last writer wins.
	if _, _, err := pkb.Update[T, PT](c, f, read, wrappers.NoIfMatch()); err != nil {
		t.Errorf("%s update without If-Match: %v", fam, err)
	}

	old, err := pkb.VRead[T, PT](c, f, id, v1)
	fail("vread", err)
	if _, v := PT(old).Identity(); v != v1 {
		t.Errorf("%s vread: version %q", fam, v)
	}
	hist, err := pkb.History[T, PT](c, f, id, nil)
	fail("history", err)
	if len(hist.Matches) != 3 {
		t.Errorf("%s history: %d versions, want 3", fam, len(hist.Matches))
	}
	typeHist, err := pkb.History[T, PT](c, f, "", nil)
	fail("type history", err)
	if len(typeHist.Matches) < 3 {
		t.Errorf("%s type history: %d entries", fam, len(typeHist.Matches))
	}
	n := 0
	for r, err := range pkb.Search[T, PT](c, f, url.Values{"_id": {id}}) {
		fail("search", err)
		if got, _ := PT(r).Identity(); got == id {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s search by _id: %d", fam, n)
	}

	fail("delete", pkb.Delete[T, PT](c, f, id))
	if _, err := pkb.Read[T, PT](c, f, id); !wrappers.IsNotFound(err) {
		t.Errorf("%s read after delete: %v", fam, err)
	}

	// A transaction and a batch through the family's transaction operation.
	tx := pkb.NewTransaction[V]()
	q := PT(new(T))
	name(q, "Transacted")
	pkb.CreateIn[T, PT](tx, (*T)(q))
	res, err := tx.Do(c, f)
	fail("transaction", err)
	if len(res) != 1 || res[0].Status != 201 {
		t.Errorf("%s transaction: %+v", fam, res)
	}
	b := pkb.NewBatch[V]()
	pkb.ReadIn[T, PT](b, pkbtest.SeedPatientID+"-none")
	res, err = b.Do(c, f)
	var be *pkb.BatchError
	if len(res) != 1 || !errors.As(err, &be) || be.Failed[0].Index != 0 || !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Errorf("%s batch read of an unknown patient: %+v %v", fam, res, err)
	}
}

// CreateIfNoneExist twice creates one resource: the second call finds the
// first one's (200, same id), and a search finds exactly one.
func TestTypedCreateIfNoneExistTwice(t *testing.T) {
	s := newSim(t)
	c := ctx(t)
	f := customerClient(t, s, pkbtest.CustomerR4).CustomerR4
	ident := url.Values{"identifier": {"https://lab.example.org/result|r-42"}}
	obs := func() *r4.Observation {
		return &r4.Observation{Status: r4.ObservationStatusFinal, Code: &r4.CodeableConcept{Text: "Haemoglobin"},
			Identifier: []r4.Identifier{{System: "https://lab.example.org/result", Value: "r-42"}}}
	}
	first, m1, err := pkb.CreateIfNoneExist(c, f, obs(), ident)
	if err != nil {
		t.Fatal(err)
	}
	second, m2, err := pkb.CreateIfNoneExist(c, f, obs(), ident)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Status != 201 || m2.Status != 200 || first.Id == "" || second.Id != first.Id {
		t.Errorf("first %d %q, second %d %q", m1.Status, first.Id, m2.Status, second.Id)
	}
	n := 0
	for _, err := range pkb.Search[r4.Observation](c, f, ident) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d Observations with the identifier, want 1", n)
	}
}

// A transaction of a Patient and an Observation that refers to it by the
// Patient's urn:uuid: both stored, the reference rewritten to the new id.
// A failing transaction stores nothing; a batch with failing entries
// stores the others and names the failed entries.
func TestTypedTransactionAndBatch(t *testing.T) {
	s := newSim(t)
	c := ctx(t)
	f := customerClient(t, s, pkbtest.CustomerR4).CustomerR4

	tx := pkb.NewTransaction[r4.Version]()
	patient := pkb.CreateIn(tx, &r4.Patient{Name: []r4.HumanName{{Family: "Newpatient"}}})
	pkb.CreateIn(tx, &r4.Observation{Status: r4.ObservationStatusFinal, Code: &r4.CodeableConcept{Text: "Haemoglobin"}, Subject: patient.R4()})
	res, err := tx.Do(c, f)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pkb.EntryAs[r4.Patient](res[0])
	if err != nil || p == nil || p.Id == "" {
		t.Fatalf("patient entry: %+v %v", p, err)
	}
	o, err := pkb.EntryAs[r4.Observation](res[1])
	if err != nil || o == nil || o.Subject == nil || o.Subject.Reference != "Patient/"+p.Id {
		t.Fatalf("observation entry: %+v %v", o, err)
	}
	stored, err := pkb.Read[r4.Observation](c, f, o.Id)
	if err != nil || stored.Subject.Reference != "Patient/"+p.Id {
		t.Errorf("stored observation: %+v %v", stored, err)
	}
	if _, err := pkb.EntryAs[r4.Observation](res[0]); err == nil {
		t.Error("EntryAs[Observation] of the Patient entry succeeded")
	}

	// All or nothing: the stale update fails the transaction, the create
	// before it is not stored.
	tx = pkb.NewTransaction[r4.Version]()
	pkb.CreateIn(tx, &r4.Patient{Name: []r4.HumanName{{Family: "Nevercreated"}}})
	pkb.UpdateIn(tx, &r4.Patient{Id: p.Id, Meta: &r4.Meta{VersionId: "99"}})
	res, err = tx.Do(c, f)
	var ae *wrappers.APIError
	if res != nil || !errors.As(err, &ae) || ae.StatusCode != 412 {
		t.Errorf("failed transaction: %+v %v", res, err)
	}
	for _, err := range pkb.Search[r4.Patient](c, f, url.Values{"family": {"Nevercreated"}}) {
		if err == nil {
			t.Error("a failed transaction stored its create")
		}
	}

	// A batch: entry 1 (stale If-Match) and entry 2 (unknown id) fail, the
	// others succeed; the error names both.
	b := pkb.NewBatch[r4.Version]()
	pkb.CreateIn(b, &r4.Patient{Name: []r4.HumanName{{Family: "Batched"}}})
	pkb.UpdateIn(b, &r4.Patient{Id: p.Id, Meta: &r4.Meta{VersionId: "99"}})
	pkb.ReadIn[r4.Patient](b, "no-such-patient")
	pkb.ReadIn[r4.Patient](b, p.Id)
	res, err = b.Do(c, f)
	var be *pkb.BatchError
	if len(res) != 4 || !errors.As(err, &be) || len(be.Failed) != 2 || be.Failed[0].Index != 1 || be.Failed[1].Index != 2 {
		t.Fatalf("batch: %+v %v", res, err)
	}
	if !strings.Contains(err.Error(), "entry 1: pkb: PUT Patient/{id}: 412") || strings.Contains(err.Error(), "Patient/"+p.Id) {
		t.Errorf("batch error %q", err)
	}
	if errors.As(be.Failed[0], &ae); ae.StatusCode != 412 || ae.Outcome == nil {
		t.Errorf("entry 1: %+v", ae)
	}
	if errors.As(be.Failed[1], &ae); ae.StatusCode != 404 {
		t.Errorf("entry 2: %+v", ae)
	}
	if res[0].Status != 201 || res[3].Status != 200 || res[0].Err != nil || res[3].Err != nil {
		t.Errorf("good entries: %+v %+v", res[0], res[3])
	}
	if got, err := pkb.EntryAs[r4.Patient](res[3]); err != nil || got.Id != p.Id {
		t.Errorf("read entry: %+v %v", got, err)
	}
	if _, err := pkb.EntryAs[r4.Patient](res[2]); !errors.As(err, &ae) {
		t.Errorf("EntryAs of a failed entry: %v", err)
	}
}

// SearchOne by NHS number: the seeded patient; an NHS number two accounts
// share is ErrAmbiguous, never one of them; an unknown one ErrNoMatch.
func TestTypedSearchOneByNHSNumber(t *testing.T) {
	s := newSim(t, pkbtest.WithPageSize(1))
	c := ctx(t)
	f := systemClient(t, s).Facade
	byNHS := func(n string) url.Values { return url.Values{"identifier": {nhsSystem + "|" + n}} }
	p, err := pkb.SearchOne[stu3.Patient](c, f, byNHS(pkbtest.SeedPatientNHSNumber))
	if err != nil || p.Id != pkbtest.SeedPatientID {
		t.Errorf("seeded patient: %+v %v", p, err)
	}
	if p, err := pkb.SearchOne[stu3.Patient](c, f, byNHS(pkbtest.SeedDuplicateNHSNumber)); p != nil || !errors.Is(err, pkb.ErrAmbiguous) {
		t.Errorf("shared NHS number: %+v %v", p, err)
	}
	if p, err := pkb.SearchOne[stu3.Patient](c, f, byNHS("9434765919")); p != nil || !errors.Is(err, pkb.ErrNoMatch) {
		t.Errorf("unknown NHS number: %+v %v", p, err)
	}
}
