package pkbtest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/pkbgo/pkb/message"
	"github.com/pkbgo/pkb/nationalid"
)

// Well-known seeded identities. Everything else in the synthetic data is
// generated from the seed (WithSeed); these stay fixed so that tests and
// scripts can name them. All people are fictional ("Testpatient",
// "Testclinician") and NHS numbers are in the 999 test range.
const (
	// SeedOrgPublicID is the organisation the seeded System Client acts for
	// (DefaultSystemOrgID); send it as X-Org-Public-Id.
	SeedOrgPublicID = DefaultSystemOrgID
	// SeedOrgODSCode is the seeded organisation's (fake) ODS code.
	SeedOrgODSCode = "XPKB1"
	// SeedOtherOrgPublicID is an organisation that has not authorised the
	// seeded System Client; its patient shows as "No access".
	SeedOtherOrgPublicID = "5eed0a90-0000-4000-8000-000000000002"
	// SeedTeamID is the organisation's default team (an Organization on the
	// Facade), the grantee of the seeded Consents and the x-team-id for
	// Aggregated questionnaire requests.
	SeedTeamID = "5eed7ea0-0000-4000-8000-000000000001"
	// SeedTeamAlias is the default team's alias for the Messaging
	// team-alias extension.
	SeedTeamAlias = "pkbtest-default-team"
	// SeedSecondTeamID is a second team of the organisation.
	SeedSecondTeamID = "5eed7ea0-0000-4000-8000-000000000002"
	// SeedSecondTeamAlias is the second team's alias.
	SeedSecondTeamAlias = "pkbtest-second-team"

	// SeedPatientID is the PKB public id of the well-known patient, "Alice
	// Testpatient", who is registered and has the most data. The default
	// User Client approval (DefaultUserID) logs in as her.
	SeedPatientID = "5eed9a71-0000-4000-8000-000000000001"
	// SeedPatientNHSNumber is her (test-range, valid-checksum) NHS number.
	SeedPatientNHSNumber = "9990000018"
	// SeedPatientBSN is her Dutch BSN (valid elfproef), so that
	// $date-of-last-data-point can be asked by BSN as PKB's own example
	// does.
	SeedPatientBSN = "999990019"
	// SeedPatientRESTID is her numeric id on the REST API.
	SeedPatientRESTID = "7000001"

	// SeedClinicianID is the Practitioner id of the seeded team clinician.
	SeedClinicianID = "5eedc11e-0000-4000-8000-000000000001"
	// SeedClinicianUserID is the clinician's user id for Approval.UserID;
	// any CLINICIAN-scoped token whose user is unknown also acts as her.
	SeedClinicianUserID = "pkbtest-clinician-1"
	// SeedClinicianRESTID is the clinician's numeric REST API id.
	SeedClinicianRESTID = "7100001"
	// SeedCoordinatorID is the Practitioner id of the Team Coordinator
	// DefaultCoordinatorID (TEAMCOORD tokens and tethered SITE tokens).
	SeedCoordinatorID = "5eedc11e-0000-4000-8000-000000000002"
	// SeedCoordinatorRESTID is the coordinator's numeric REST API id.
	SeedCoordinatorRESTID = "7100002"
	// SeedSecondClinicianID is the Practitioner id of a clinician of the
	// second team (cardiology), which Alice has not consented to: it sees
	// only what it added to her record, unless it breaks the glass.
	SeedSecondClinicianID = "5eedc11e-0000-4000-8000-000000000003"
	// SeedSecondClinicianUserID is that clinician's user id for
	// Approval.UserID.
	SeedSecondClinicianUserID = "pkbtest-clinician-2"
	// SeedSecondClinicianRESTID is that clinician's numeric REST API id.
	SeedSecondClinicianRESTID = "7100003"
	// SeedPersonID is a Person linking the clinician to her second user.
	SeedPersonID = "5eed9e50-0000-4000-8000-000000000001"

	// SeedQuestionnaireID is a Facade Questionnaire to send.
	SeedQuestionnaireID = "5eed0e57-0000-4000-8000-000000000001"
	// SeedProcedureRequestID is the questionnaire request Alice answered.
	SeedProcedureRequestID = "5eed0e57-0000-4000-8000-00000000a001"
	// SeedAggregatedQuestionnaireID is an advanced questionnaire for the
	// Aggregated $send-questionnaire-request.
	SeedAggregatedQuestionnaireID = "5eed0e57-0000-4000-8000-000000000002"
	// SeedServiceRequestIdentifier is the identifier value of the Aggregated
	// ServiceRequest that Alice's seeded QuestionnaireResponses are based on:
	// as on PKB, the advanced Questionnaire's id, under identifier system
	// http://hl7.org/fhir/R4/questionnaire (docs/pkb-api.md §2.4).
	SeedServiceRequestIdentifier = SeedAggregatedQuestionnaireID
	// SeedCarerConsentID is the Aggregated Consent that makes the second
	// seeded patient Alice's carer (Consent/$carers).
	SeedCarerConsentID = "5eedca7e-0000-4000-8000-000000000001"

	// SeedSexualHealthObservationID is a Facade lab result of Alice's
	// labelled SEXUAL_HEALTH, which no team holds.
	SeedSexualHealthObservationID = "5eed0b50-0000-4000-8000-000000000001"
	// SeedUnlabelledObservationID is a Facade lab result of Alice's with no
	// privacy label (NOT_SET): only she and holders of all four labels see
	// it.
	SeedUnlabelledObservationID = "5eed0b50-0000-4000-8000-000000000002"
	// SeedSocialCareDocumentID is a SOCIAL_CARE DocumentReference the
	// default team added to Alice's record: the team lacks the label but
	// keeps seeing what it added.
	SeedSocialCareDocumentID = "5eed0b50-0000-4000-8000-000000000003"
	// SeedCardiologyReportID is a DiagnosticReport the second team added
	// to Alice's record without her consent to that team.
	SeedCardiologyReportID = "5eed0b50-0000-4000-8000-000000000004"
	// SeedUnlabelledConditionID is an Aggregated Condition of Alice's with
	// no privacy label, as PKB stores a diagnosis received without one.
	SeedUnlabelledConditionID = "5eed0b50-0000-4000-8000-000000000005"
	// SeedAggregatedSexualHealthObservationID is an Aggregated Observation
	// of Alice's labelled SEXUAL_HEALTH.
	SeedAggregatedSexualHealthObservationID = "5eed0b50-0000-4000-8000-000000000006"
	// SeedMentalHealthMedicationID is an Aggregated MedicationStatement of
	// Alice's labelled MENTAL_HEALTH, which the default team holds.
	SeedMentalHealthMedicationID = "5eed0b50-0000-4000-8000-000000000007"
	// SeedDuplicateNHSNumber is held by two patient accounts of the seeded
	// organisation, as PKB allows several accounts per national id
	// (docs/pkb-api.md §8): a search by it returns both.
	SeedDuplicateNHSNumber = "9990000042"

	// SeedDocumentIdentifierSystem is the system of seeded document
	// identifiers (the identifier $read-receipt-query takes).
	SeedDocumentIdentifierSystem = "urn:ietf:rfc:3986"
	// SeedReadDocumentIdentifier is a document of Alice's that she has read.
	SeedReadDocumentIdentifier = "urn:uuid:5eedd0c0-0000-4000-8000-000000000001"
	// SeedUnreadDocumentIdentifier is a document of Alice's not yet read.
	SeedUnreadDocumentIdentifier = "urn:uuid:5eedd0c0-0000-4000-8000-000000000002"
)

// Identifier and code systems the simulator uses.
const (
	// SystemNHSNumber is the NHS number identifier system.
	SystemNHSNumber = string(nationalid.NHSNumber)
	// SystemCHINumber is the Scottish CHI number system, PKB's URI
	// (docs/pkb-api.md §2.1).
	SystemCHINumber = string(nationalid.CHINumber)
	// SystemHCNumber is the Northern Irish Health and Care Number system,
	// PKB's URI (docs/pkb-api.md §2.1).
	SystemHCNumber = string(nationalid.HealthAndCareNumber)
	// SystemBSN is the Dutch BSN system, which PKB's own
	// $date-of-last-data-point examples use.
	SystemBSN = string(nationalid.BSN)
	// SystemPKBPublicID is the identifier system of PKB public ids in
	// $date-of-last-data-point (docs/pkb-api.md §2.1).
	SystemPKBPublicID = "urn:uuid:cd97da65-0aa4-43a6-b695-cfd0c6f3267d"
	// SystemAggregatedPublicID is the PKB public id system on Aggregated
	// Patients.
	SystemAggregatedPublicID = "http://fhir.patientsknowbest.com/id/public-id"
	// SystemObservationCategory is PKB's Observation category CodeSystem
	// (codes LABORATORY, MEASUREMENT, SYMPTOM).
	SystemObservationCategory = "http://fhir.patientsknowbest.com/codesystem/observation-category"
	// SystemPrivacyLabel is PKB's privacy-label CodeSystem.
	SystemPrivacyLabel = "http://fhir.patientsknowbest.com/codesystem/privacy-label"
	// SystemODSCode is the ODS organisation code system.
	SystemODSCode = "https://fhir.nhs.uk/Id/ods-organization-code"
	// ExtTeamAlias is the Messaging team-alias extension.
	ExtTeamAlias = "http://fhir.patientsknowbest.com/structuredefinition/team-alias"
	// ExtSharingDisabled is the Facade Patient sharing-disabled extension.
	ExtSharingDisabled = "http://fhir.patientsknowbest.com/structuredefinition/sharing-disabled"
)

// seedEpoch anchors every generated date, so the data does not move with
// the clock.
var seedEpoch = time.Date(2024, 1, 3, 8, 0, 0, 0, time.UTC)

// SeedPatient describes one synthetic patient of the simulator.
type SeedPatient struct {
	// ID is the PKB public id (Facade and Aggregated logical id).
	ID string
	// NHSNumber is a valid-checksum number in the 999 test range.
	NHSNumber string
	// BSN is a Dutch BSN (valid elfproef), for the patients seeded with
	// one; empty otherwise.
	BSN string
	// RESTID is the numeric REST API user id.
	RESTID string
	// Given and Family name the patient; Family is always "Testpatient".
	Given, Family string
	// Gender is the FHIR administrative gender.
	Gender string
	// BirthDate is YYYY-MM-DD, empty when unknown.
	BirthDate string
	// Registered means the patient has activated their PKB account.
	Registered bool
	// Deceased means PKB knows a date of death.
	Deceased bool
	// SharingDisabled means the patient turned sharing off, so clinicians
	// cannot see the record.
	SharingDisabled bool
	// OrgID is the organisation holding the record.
	OrgID string
	// Email is a (reserved .invalid) email, empty when none.
	Email string
}

// Patients lists the synthetic patients, the well-known SeedPatientID
// first, including those created through Messaging since.
func (s *Simulator) Patients() []SeedPatient {
	s.data.mu.RLock()
	defer s.data.mu.RUnlock()
	out := make([]SeedPatient, 0, len(s.data.patients))
	for _, p := range s.data.patients {
		out = append(out, *p)
	}
	return out
}

// seedOrg is an organisation or team.
type seedOrg struct {
	id, name, alias, parent, ods string
}

// simData is everything the simulator knows. One lock guards it all; the
// simulator is for tests and demos, where contention does not matter.
type simData struct {
	mu sync.RWMutex

	facade     *store            // Facade (STU3) resources
	aggregated *store            // Aggregated (R4) resources
	customer   map[string]*store // Customer endpoint per FHIR version

	orgs        map[string]*seedOrg
	patients    []*SeedPatient
	byID        map[string]*SeedPatient
	byNHS       map[string][]*SeedPatient // several accounts may share one
	byBSN       map[string]*SeedPatient
	byREST      map[string]*SeedPatient
	users       map[string]string // auth user id -> Practitioner or Patient id
	practTeam   map[string]string // Practitioner id -> team id
	practREST   map[string]string // Practitioner id -> REST id
	btg         map[string]btgGrant
	btgOff      map[string]bool        // Practitioner id -> break-the-glass not enabled
	measureMeta map[string]measureMeta // measurement id -> label and author
	restUsers   map[string]obj         // REST id -> non-patient user JSON
	receipts    map[string]string      // document identifier -> read time ("" unread)
	docOrg      map[string]string      // document identifier -> creating organisation
	measures    map[string][]obj       // patient REST id -> measurements
	messageIDs  map[string]bool        // sender client id + "|" + Bundle.identifier
	deletions   map[string]string      // $destroy request id -> status
	rng         *rand.Rand
	nextREST    int
	nextMeasure int
}

func (d *simData) org(id string) *seedOrg {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.orgs[id]
}

// ValidNHSNumber reports whether s is ten digits with a valid Modulus 11
// check digit (message.ValidNHSNumber, the client's own check).
func ValidNHSNumber(s string) bool { return message.ValidNHSNumber(s) }

// testNHSNumber draws a valid NHS number in the 999 test range: nine random
// digits and the one check digit that makes them valid, if any.
func testNHSNumber(rng *rand.Rand, taken map[string][]*SeedPatient) string {
	for {
		nine := fmt.Sprintf("999%06d", rng.IntN(1000000))
		for d := '0'; d <= '9'; d++ {
			if n := nine + string(d); message.ValidNHSNumber(n) && taken[n] == nil && n != SeedDuplicateNHSNumber && n != SeedPatientNHSNumber {
				return n
			}
		}
	}
}

// uuidFrom draws a version-4-shaped UUID from rng, so generated ids are
// deterministic per seed.
func uuidFrom(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var givenNames = []string{"Bob", "Carol", "Dan", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter"}

func ts(t time.Time) string  { return t.UTC().Format(time.RFC3339) }
func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func ref(typ, id string) obj { return obj{"reference": typ + "/" + id} }

func coding(system, code, display string) obj {
	c := obj{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return c
}

func concept(text string, codings ...obj) obj {
	cc := obj{}
	if text != "" {
		cc["text"] = text
	}
	if len(codings) > 0 {
		var l []any
		for _, c := range codings {
			l = append(l, c)
		}
		cc["coding"] = l
	}
	return cc
}

func privacy(label string) obj {
	return obj{"security": []any{coding(SystemPrivacyLabel, label, "")}}
}

// seed builds the synthetic data set for a seed.
func seed(seedValue int64) *simData {
	rng := rand.New(rand.NewPCG(uint64(seedValue), 0x706b6274657374)) // "pkbtest"
	d := &simData{
		facade:     newStore(),
		aggregated: newStore(),
		customer:   map[string]*store{"stu3": newStore(), "r4": newStore()},
		orgs:       map[string]*seedOrg{},
		byID:       map[string]*SeedPatient{},
		byNHS:      map[string][]*SeedPatient{},
		byBSN:      map[string]*SeedPatient{},
		byREST:     map[string]*SeedPatient{},
		users: map[string]string{DefaultUserID: SeedPatientID, SeedClinicianUserID: SeedClinicianID, SeedSecondClinicianUserID: SeedSecondClinicianID,
			DefaultCoordinatorID: SeedCoordinatorID},
		practTeam:   map[string]string{SeedClinicianID: SeedTeamID, SeedCoordinatorID: SeedTeamID, SeedSecondClinicianID: SeedSecondTeamID},
		practREST:   map[string]string{SeedClinicianID: SeedClinicianRESTID, SeedCoordinatorID: SeedCoordinatorRESTID, SeedSecondClinicianID: SeedSecondClinicianRESTID},
		btg:         map[string]btgGrant{},
		measureMeta: map[string]measureMeta{},
		restUsers:   map[string]obj{},
		receipts:    map[string]string{},
		docOrg:      map[string]string{},
		measures:    map[string][]obj{},
		messageIDs:  map[string]bool{},
		deletions:   map[string]string{},
		rng:         rng,
		nextREST:    7000100,
	}
	at := seedEpoch.AddDate(0, 0, -2)
	put := func(res obj) { d.facade.put(res, at, "PUT", "") }
	putAgg := func(res obj) { d.aggregated.put(res, at, "PUT", "") }

	// Organisations and teams.
	for _, o := range []*seedOrg{
		{id: SeedOrgPublicID, name: "Testorg NHS Trust (synthetic)", ods: SeedOrgODSCode},
		{id: SeedTeamID, name: "Testteam Diabetes (synthetic)", alias: SeedTeamAlias, parent: SeedOrgPublicID},
		{id: SeedSecondTeamID, name: "Testteam Cardiology (synthetic)", alias: SeedSecondTeamAlias, parent: SeedOrgPublicID},
		{id: SeedOtherOrgPublicID, name: "Otherorg Health Board (synthetic)", ods: "XPKB2"},
	} {
		d.orgs[o.id] = o
		res := obj{"resourceType": "Organization", "id": o.id, "active": true, "name": o.name}
		if o.ods != "" {
			res["identifier"] = []any{obj{"system": SystemODSCode, "value": o.ods}}
		}
		if o.parent != "" {
			res["partOf"] = ref("Organization", o.parent)
			res["alias"] = []any{o.alias}
		}
		put(res)
	}

	// Practitioners, Person and the non-patient REST users.
	for _, p := range []struct{ id, given, family, prefix, restID, userType string }{
		{SeedClinicianID, "Pat", "Testclinician", "Dr", SeedClinicianRESTID, "CLINICIAN"},
		{SeedCoordinatorID, "Sam", "Testcoordinator", "", SeedCoordinatorRESTID, "TEAMCOORD"},
		{uuidFrom(rng), "Pat", "Testclinician", "Dr", "", ""},
		{uuidFrom(rng), "Lee", "Testnurse", "", "", ""},
		{SeedSecondClinicianID, "Kim", "Testcardiologist", "Dr", SeedSecondClinicianRESTID, "CLINICIAN"},
	} {
		name := obj{"family": p.family, "given": []any{p.given}}
		if p.prefix != "" {
			name["prefix"] = []any{p.prefix}
		}
		put(obj{"resourceType": "Practitioner", "id": p.id, "active": true, "name": []any{name},
			"telecom": []any{obj{"system": "email", "value": fmt.Sprintf("%s.%s@example.invalid", p.given, p.family)}}})
		if p.restID != "" {
			d.restUsers[p.restID] = obj{"id": p.restID, "userType": p.userType, "patient": false, "firstName": p.given, "lastName": p.family,
				"title": p.prefix, "email": fmt.Sprintf("%s.%s@example.invalid", p.given, p.family),
				"organizationName": d.orgs[SeedOrgPublicID].name, "teamName": d.orgs[d.practTeam[p.id]].name, "jobTitle": map[string]string{"CLINICIAN": "Consultant (synthetic)", "TEAMCOORD": "Team coordinator (synthetic)"}[p.userType]}
		}
	}
	second := d.facade.order["Practitioner"][2]
	put(obj{"resourceType": "Person", "id": SeedPersonID, "active": true,
		"name": []any{obj{"family": "Testclinician", "given": []any{"Pat"}}},
		"link": []any{obj{"target": ref("Practitioner", SeedClinicianID)}, obj{"target": ref("Practitioner", second)}}})

	// Naming systems of local identifiers.
	hospitalNS := uuidFrom(rng)
	for i, ns := range []struct{ id, name string }{{hospitalNS, "Testorg hospital number"}, {uuidFrom(rng), "Testteam clinic number"}} {
		put(obj{"resourceType": "NamingSystem", "id": fmt.Sprintf("naming-%d", i+1), "name": ns.name, "status": "active", "kind": "identifier",
			"date": day(seedEpoch), "uniqueId": []any{obj{"type": "uri", "value": "urn:uuid:" + ns.id, "preferred": true}}})
	}

	// Questionnaires.
	put(obj{"resourceType": "Questionnaire", "id": SeedQuestionnaireID, "status": "active", "name": "TestMoodQuestionnaire",
		"title": "Testquestionnaire: mood (synthetic)", "publisher": d.orgs[SeedOrgPublicID].name,
		"extension": []any{obj{"url": "http://fhir.patientsknowbest.com/structuredefinition/publisher-reference", "valueReference": ref("Organization", SeedOrgPublicID)}},
		"item":      []any{obj{"linkId": "1", "text": "How is your mood today?", "type": "string"}, obj{"linkId": "2", "text": "Hours of sleep last night", "type": "integer"}}})
	put(obj{"resourceType": "Questionnaire", "id": uuidFrom(rng), "status": "active", "name": "TestSleepQuestionnaire",
		"title": "Testquestionnaire: sleep (synthetic)", "publisher": d.orgs[SeedTeamID].name,
		"extension": []any{obj{"url": "http://fhir.patientsknowbest.com/structuredefinition/publisher-reference", "valueReference": ref("Organization", SeedTeamID)}},
		"item":      []any{obj{"linkId": "1", "text": "Did you sleep well?", "type": "boolean"}}})

	// Patients.
	type patSpec struct {
		registered, deceased, sharingOff bool
		birth                            string
		org                              string
		email                            bool
		gender                           string
	}
	specs := []patSpec{
		{registered: true, birth: "1980-04-12", org: SeedOrgPublicID, email: true, gender: "female"},
		{birth: "1975-09-30", org: SeedOrgPublicID, email: true, gender: "male"},
		{registered: true, deceased: true, birth: "1938-02-14", org: SeedOrgPublicID, gender: "female"},
		{birth: "2015-06-01", org: SeedOrgPublicID, gender: "male"},
		{birth: "1990-12-24", org: SeedOrgPublicID, gender: "other"},
		{registered: true, sharingOff: true, birth: "1966-03-03", org: SeedOrgPublicID, email: true, gender: "male"},
		{registered: true, birth: "1971-07-07", org: SeedOtherOrgPublicID, gender: "female"},
		// Two accounts for one NHS number (SeedDuplicateNHSNumber).
		{registered: true, birth: "1958-01-20", org: SeedOrgPublicID, gender: "male"},
		{birth: "1958-01-20", org: SeedOrgPublicID, gender: "male"},
	}
	perm := rng.Perm(len(givenNames))
	for i, sp := range specs {
		p := &SeedPatient{Family: "Testpatient", Gender: sp.gender, BirthDate: sp.birth, Registered: sp.registered,
			Deceased: sp.deceased, SharingDisabled: sp.sharingOff, OrgID: sp.org}
		if i == 0 {
			p.ID, p.NHSNumber, p.RESTID, p.Given, p.BSN = SeedPatientID, SeedPatientNHSNumber, SeedPatientRESTID, "Alice", SeedPatientBSN
		} else {
			p.ID, p.NHSNumber, p.RESTID, p.Given = uuidFrom(rng), testNHSNumber(rng, d.byNHS), strconv.Itoa(7000001+i), givenNames[perm[i]]
		}
		if i >= len(specs)-2 {
			p.NHSNumber = SeedDuplicateNHSNumber
		}
		if sp.email {
			p.Email = fmt.Sprintf("%s.testpatient@example.invalid", lower(p.Given))
		}
		d.addPatient(p)
		put(d.facadePatient(p, hospitalNS, i))
		putAgg(aggregatedPatient(p))
	}

	// Clinical data per patient.
	for i, p := range d.patients {
		big := i == 0
		d.seedClinical(p, big, func(r obj, by string) { d.facade.put(r, at, "PUT", by) }, func(r obj, by string) { d.aggregated.put(r, at, "PUT", by) })
	}

	// The second patient is Alice's carer, with the general-health label.
	putAgg(obj{"resourceType": "Consent", "id": SeedCarerConsentID, "status": "active",
		"scope":    obj{"coding": []any{obj{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category": []any{obj{"text": "Carer (synthetic)"}},
		"patient":  ref("Patient", SeedPatientID),
		"provision": obj{"type": "permit", "actor": []any{obj{
			"role":      obj{"text": "Carer"},
			"reference": ref("Patient", d.patients[1].ID)}},
			"securityLabel": []any{obj{"system": SystemPrivacyLabel, "code": "GENERAL_HEALTH"}}}})
	return d
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// addPatient indexes p; the caller holds d.mu or is seeding.
func (d *simData) addPatient(p *SeedPatient) {
	d.patients = append(d.patients, p)
	d.byID[p.ID] = p
	d.byNHS[p.NHSNumber] = append(d.byNHS[p.NHSNumber], p)
	if p.BSN != "" {
		d.byBSN[p.BSN] = p
	}
	d.byREST[p.RESTID] = p
}

// nationalIdentifiers are p's national identifiers as FHIR Identifiers.
func nationalIdentifiers(p *SeedPatient) []any {
	ids := []any{obj{"system": SystemNHSNumber, "value": p.NHSNumber}}
	if p.BSN != "" {
		ids = append(ids, obj{"system": SystemBSN, "value": p.BSN})
	}
	return ids
}

func displayName(p *SeedPatient) string { return p.Given + " " + p.Family }

func (d *simData) facadePatient(p *SeedPatient, hospitalNS string, n int) obj {
	res := obj{
		"resourceType": "Patient", "id": p.ID,
		"meta":       obj{"profile": []any{"http://fhir.patientsknowbest.com/structuredefinition/facade-patient"}},
		"extension":  []any{obj{"url": ExtSharingDisabled, "valueBoolean": p.SharingDisabled}},
		"identifier": nationalIdentifiers(p),
		"name":       []any{obj{"use": "official", "family": p.Family, "given": []any{p.Given}}},
		"gender":     p.Gender,
		"address":    []any{obj{"line": []any{fmt.Sprintf("%d Test Street", n+1)}, "city": "Testtown", "postalCode": "TE5 7AA", "country": "GB"}},
		"telecom":    []any{obj{"system": "phone", "value": fmt.Sprintf("07700 900%03d", n+1)}},
	}
	if hospitalNS != "" {
		res["identifier"] = append(list(res, "identifier"), obj{"system": "urn:uuid:" + hospitalNS, "value": fmt.Sprintf("TEST%05d", n+1)})
	}
	if p.Email != "" {
		res["telecom"] = append(list(res, "telecom"), obj{"system": "email", "value": p.Email})
	}
	if p.BirthDate != "" {
		res["birthDate"] = p.BirthDate
	}
	if p.Deceased {
		res["deceasedDateTime"] = "2023-11-05T14:30:00Z"
	} else {
		res["deceasedBoolean"] = false
	}
	return res
}

func aggregatedPatient(p *SeedPatient) obj {
	res := obj{
		"resourceType": "Patient", "id": p.ID,
		"identifier":           append(nationalIdentifiers(p), obj{"system": SystemAggregatedPublicID, "value": p.ID}),
		"name":                 []any{obj{"use": "official", "family": p.Family, "given": []any{p.Given}}},
		"gender":               p.Gender,
		"managingOrganization": ref("Organization", p.OrgID),
	}
	if p.BirthDate != "" {
		res["birthDate"] = p.BirthDate
	}
	if p.Deceased {
		res["deceasedDateTime"] = "2023-11-05T14:30:00Z"
	}
	return res
}

type obsKind struct {
	category, label string
	code, display   string
	unit            string
	lo, hi          float64
	text            bool
}

var facadeObsKinds = []obsKind{
	{"LABORATORY", "GENERAL_HEALTH", "4548-4", "Haemoglobin A1c", "%", 5.2, 8.9, false},
	{"LABORATORY", "GENERAL_HEALTH", "2345-7", "Glucose", "mmol/L", 4.0, 11.0, false},
	{"MEASUREMENT", "GENERAL_HEALTH", "29463-7", "Body weight", "kg", 60, 95, false},
	{"MEASUREMENT", "GENERAL_HEALTH", "8867-4", "Heart rate", "/min", 55, 95, false},
	{"SYMPTOM", "GENERAL_HEALTH", "25064002", "Headache", "", 0, 0, true},
	{"SYMPTOM", "MENTAL_HEALTH", "84229001", "Fatigue", "", 0, 0, true},
}

// seedClinical seeds a patient's clinical data. put and putAgg store a
// Facade or Aggregated resource added by a team or organisation ("" for
// none of them); data points get the GENERAL_HEALTH label unless seeded
// otherwise on purpose.
func (d *simData) seedClinical(p *SeedPatient, big bool, putBy, putAggBy func(obj, string)) {
	put := func(r obj) { putBy(generalByDefault(r), "") }
	putAgg := func(r obj) { putAggBy(generalByDefault(r), "") }
	rng := d.rng
	subj := func() obj { r := ref("Patient", p.ID); r["display"] = displayName(p); return r }
	perCategory := 3
	if big {
		perCategory = 25
	}
	// Facade Observations: lab results, measurements, symptoms, weekly,
	// with a second lab result on some days (for $group).
	for ci, cat := range []string{"LABORATORY", "MEASUREMENT", "SYMPTOM"} {
		for k := 0; k < perCategory; k++ {
			kind := facadeObsKinds[ci*2+k%2]
			t := seedEpoch.AddDate(0, 0, 7*k+ci).Add(time.Duration(rng.IntN(600)) * time.Minute)
			times := []time.Time{t}
			if cat == "LABORATORY" && k%5 == 0 {
				times = append(times, t.Add(2*time.Hour))
			}
			for _, when := range times {
				o := obj{"resourceType": "Observation", "id": uuidFrom(rng), "meta": privacy(kind.label), "status": "unknown",
					"category":          []any{concept("", coding(SystemObservationCategory, cat, ""))},
					"subject":           subj(),
					"effectiveDateTime": ts(when),
				}
				if kind.text {
					o["code"] = concept(kind.display, coding("http://snomed.info/sct", kind.code, kind.display))
					o["valueString"] = []string{"mild", "moderate", "severe"}[rng.IntN(3)]
				} else {
					o["code"] = concept(kind.display, coding("http://loinc.org", kind.code, kind.display))
					v := kind.lo + rng.Float64()*(kind.hi-kind.lo)
					o["valueQuantity"] = obj{"value": float64(int(v*10)) / 10, "unit": kind.unit, "system": "http://unitsofmeasure.org", "code": kind.unit}
				}
				put(o)
			}
		}
	}
	// DiagnosticReports.
	for k := 0; k < map[bool]int{true: 6, false: 1}[big]; k++ {
		t := seedEpoch.AddDate(0, 0, 30*k+3)
		cat := []string{"LAB", "RAD"}[k%2]
		put(obj{"resourceType": "DiagnosticReport", "id": uuidFrom(rng), "meta": privacy("GENERAL_HEALTH"), "status": "final",
			"category": concept("", coding("http://hl7.org/fhir/v2/0074", cat, "")),
			"code":     concept(map[string]string{"LAB": "Full blood count", "RAD": "Chest X-ray"}[cat]),
			"subject":  subj(), "effectiveDateTime": ts(t), "issued": ts(t.Add(26 * time.Hour))})
	}
	// Documents with read receipts.
	ndocs := map[bool]int{true: 12, false: 2}[big]
	for k := 0; k < ndocs; k++ {
		ident := "urn:uuid:" + uuidFrom(rng)
		if big && k == 0 {
			ident = SeedReadDocumentIdentifier
		} else if big && k == 1 {
			ident = SeedUnreadDocumentIdentifier
		}
		created := seedEpoch.AddDate(0, 0, 17*k+5).Add(time.Duration(rng.IntN(480)) * time.Minute)
		author := SeedOrgPublicID
		if p.OrgID != SeedOrgPublicID || (big && k == ndocs-1) {
			author = SeedOtherOrgPublicID
		}
		status := "current"
		if k%4 == 3 {
			status = "superseded"
		}
		putBy(obj{"resourceType": "DocumentReference", "id": uuidFrom(rng), "meta": privacy("GENERAL_HEALTH"),
			"identifier": []any{obj{"system": SeedDocumentIdentifierSystem, "value": ident}},
			"status":     status, "docStatus": "final",
			"type":    concept("Clinic letter", coding("http://loinc.org", "11488-4", "Consult note")),
			"subject": subj(), "created": ts(created), "indexed": ts(created.Add(time.Hour)),
			"author":      []any{ref("Organization", author)},
			"custodian":   ref("Organization", author),
			"description": fmt.Sprintf("Synthetic clinic letter %d for %s", k+1, displayName(p)),
			"content": []any{obj{"attachment": obj{"contentType": "application/pdf", "title": fmt.Sprintf("letter-%d.pdf", k+1),
				"url": "Binary/" + uuidFrom(rng), "creation": ts(created)}}}}, author)
		d.docOrg[ident] = author
		read := ""
		if ident == SeedReadDocumentIdentifier || (ident != SeedUnreadDocumentIdentifier && rng.IntN(2) == 0) {
			read = ts(created.Add(time.Duration(24+rng.IntN(72)) * time.Hour))
		}
		d.receipts[ident] = read
	}
	if big {
		d.seedLabelled(p, subj, putBy)
	}
	// Consent to the default team unless sharing is off.
	if p.OrgID == SeedOrgPublicID && !p.SharingDisabled {
		team := ref("Organization", SeedTeamID)
		team["display"] = d.orgs[SeedTeamID].name
		except := []any{obj{"type": "permit", "securityLabel": []any{coding(SystemPrivacyLabel, "GENERAL_HEALTH", "")}}}
		if big {
			except = append(except, obj{"type": "permit", "securityLabel": []any{coding(SystemPrivacyLabel, "MENTAL_HEALTH", "")}})
		}
		put(obj{"resourceType": "Consent", "id": uuidFrom(rng), "status": "active", "patient": subj(), "dateTime": ts(seedEpoch),
			"policyRule": "http://fhir.patientsknowbest.com/policy/opt-in",
			"actor":      []any{obj{"role": concept("", coding("http://hl7.org/fhir/v3/RoleCode", "CONSENTER", "")), "reference": team}},
			"except":     except})
	}
	// Appointments, Encounters, Communications.
	n := map[bool]int{true: 6, false: 1}[big]
	for k := 0; k < n; k++ {
		start := seedEpoch.AddDate(0, 0, 21*k+10).Add(time.Duration(rng.IntN(8)) * time.Hour)
		status := "fulfilled"
		if k >= n-2 {
			status = "booked"
		}
		put(obj{"resourceType": "Appointment", "id": uuidFrom(rng), "status": status, "description": "Synthetic outpatient appointment",
			"start": ts(start), "end": ts(start.Add(30 * time.Minute)),
			"participant": []any{obj{"actor": subj(), "status": "accepted"}, obj{"actor": ref("Practitioner", SeedClinicianID), "status": "accepted"}}})
		put(obj{"resourceType": "Encounter", "id": uuidFrom(rng), "status": "finished",
			"class": coding("http://hl7.org/fhir/v3/ActCode", "AMB", "ambulatory"), "subject": subj(),
			"period": obj{"start": ts(start), "end": ts(start.Add(30 * time.Minute))}, "serviceProvider": ref("Organization", SeedTeamID)})
		put(obj{"resourceType": "Communication", "id": uuidFrom(rng), "status": "completed", "subject": subj(),
			"sender": ref("Practitioner", SeedClinicianID), "recipient": []any{subj()}, "sent": ts(start.Add(-48 * time.Hour)),
			"payload": []any{obj{"contentString": "Reminder (synthetic): your appointment is in two days."}}})
	}
	// A questionnaire request and its response.
	if big {
		// Questionnaire requests carry no privacy label (PKB's NOT_SET);
		// the requesting team added it.
		putBy(obj{"resourceType": "ProcedureRequest", "id": SeedProcedureRequestID, "status": "completed", "intent": "order",
			"code": concept("Questionnaire request: Testquestionnaire: mood (synthetic)"), "subject": subj(),
			"authoredOn": ts(seedEpoch.AddDate(0, 1, 0)), "requester": obj{"agent": ref("Practitioner", SeedClinicianID)}}, SeedTeamID)
		for k := 0; k < 3; k++ {
			put(obj{"resourceType": "QuestionnaireResponse", "id": uuidFrom(rng), "status": "completed",
				"questionnaire": ref("Questionnaire", SeedQuestionnaireID), "basedOn": []any{ref("ProcedureRequest", SeedProcedureRequestID)},
				"subject": subj(), "authored": ts(seedEpoch.AddDate(0, 1, 2+7*k)),
				"item": []any{obj{"linkId": "1", "answer": []any{obj{"valueString": []string{"good", "fine", "low"}[rng.IntN(3)]}}},
					obj{"linkId": "2", "answer": []any{obj{"valueInteger": 5 + rng.IntN(4)}}}}})
		}
	}
	// REST API measurements.
	if big {
		for k := 0; k < 30; k++ {
			ar := measurementRefs[k%len(measurementRefs)]
			d.nextMeasure++
			v := ar.lo + rng.Float64()*(ar.hi-ar.lo)
			m := obj{"id": strconv.Itoa(8000000 + d.nextMeasure), "apiRef": ar.ref,
				"value": strconv.FormatFloat(float64(int(v*10))/10, 'f', -1, 64), "unit": ar.units[0],
				"timestamp": ts(seedEpoch.AddDate(0, 0, 3*k))}
			if k%3 == 0 {
				m["comment"] = "Synthetic note" // some measurements carry a comment, as PKB's may
			}
			d.measures[p.RESTID] = append(d.measures[p.RESTID], m)
			// Measurements the patient entered: PKB's default label.
			d.measureMeta[strconv.Itoa(8000000+d.nextMeasure)] = measureMeta{label: LabelGeneralHealth}
		}
	}

	if p.OrgID != SeedOrgPublicID {
		return
	}
	// Aggregated (R4) data.
	aggSubj := func() obj { return ref("Patient", p.ID) }
	nobs := map[bool]int{true: 24, false: 3}[big]
	for k := 0; k < nobs; k++ {
		t := seedEpoch.AddDate(0, 0, 5*k).Add(time.Duration(rng.IntN(300)) * time.Minute)
		o := obj{"resourceType": "Observation", "id": uuidFrom(rng), "status": "final", "subject": aggSubj(), "effectiveDateTime": ts(t),
			"category": []any{concept("", coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs"))}}
		if k%2 == 0 {
			o["code"] = concept("blood pressure", coding("http://loinc.org", "85354-9", "Blood pressure panel"))
			o["component"] = []any{
				obj{"code": concept("systolic", coding("http://loinc.org", "8480-6", "Systolic blood pressure")), "valueQuantity": obj{"value": 110 + rng.IntN(40), "unit": "mmHg"}},
				obj{"code": concept("diastolic", coding("http://loinc.org", "8462-4", "Diastolic blood pressure")), "valueQuantity": obj{"value": 65 + rng.IntN(25), "unit": "mmHg"}},
			}
		} else {
			o["code"] = concept("body weight", coding("http://loinc.org", "29463-7", "Body weight"))
			o["valueQuantity"] = obj{"value": 60 + rng.IntN(35), "unit": "kg"}
		}
		putAgg(o)
	}
	for k := 0; k < map[bool]int{true: 12, false: 1}[big]; k++ {
		start := seedEpoch.AddDate(0, 0, 14*k+2)
		putAgg(obj{"resourceType": "Appointment", "id": uuidFrom(rng), "status": "booked", "start": ts(start), "end": ts(start.Add(20 * time.Minute)),
			"participant": []any{obj{"actor": aggSubj(), "status": "accepted"}}})
		if k < 3 {
			putAgg(obj{"resourceType": "Encounter", "id": uuidFrom(rng), "status": "finished",
				"class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory"), "subject": aggSubj(),
				"period": obj{"start": ts(start), "end": ts(start.Add(20 * time.Minute))}})
			putAgg(obj{"resourceType": "Condition", "id": uuidFrom(rng), "subject": aggSubj(), "recordedDate": ts(start),
				"code": concept([]string{"Type 2 diabetes (synthetic)", "Hypertension (synthetic)", "Asthma (synthetic)"}[k])})
			putAgg(obj{"resourceType": "MedicationStatement", "id": uuidFrom(rng), "status": "active", "subject": aggSubj(),
				"medicationCodeableConcept": concept([]string{"Metformin 500mg tablets", "Ramipril 5mg capsules", "Salbutamol inhaler"}[k]), "effectiveDateTime": ts(start)})
		}
		if k < 2 {
			putAgg(obj{"resourceType": "AllergyIntolerance", "id": uuidFrom(rng), "patient": aggSubj(), "recordedDate": ts(start),
				"code": concept([]string{"Penicillin (synthetic)", "Peanut (synthetic)"}[k])})
			putAgg(obj{"resourceType": "MedicationRequest", "id": uuidFrom(rng), "status": "active", "intent": "order", "subject": aggSubj(),
				"medicationCodeableConcept": concept([]string{"Metformin 500mg tablets", "Ramipril 5mg capsules"}[k]), "authoredOn": ts(start)})
		}
	}
	if big {
		srID := uuidFrom(rng)
		putAggBy(obj{"resourceType": "ServiceRequest", "id": srID, "status": "completed", "intent": "order", "subject": aggSubj(),
			"identifier": []any{obj{"system": questionnaireRequestSystem, "value": SeedServiceRequestIdentifier}},
			"code":       obj{"text": "Questionnaire"},
			"extension": []any{
				obj{"url": "http://hl7.org/fhir/StructureDefinition/servicerequest-questionnaireRequest", "valueReference": ref("Questionnaire", SeedAggregatedQuestionnaireID)},
				obj{"url": "http://fhir.patientsknowbest.com/structuredefinition/amendable-by", "valueCode": "patient"}}}, SeedTeamID)
		putAgg(obj{"resourceType": "Questionnaire", "id": SeedAggregatedQuestionnaireID, "status": "active", "name": "TestAdvancedQuestionnaire",
			"title": "Testquestionnaire: wellbeing (synthetic)", "item": []any{obj{"linkId": "1", "text": "How are you? (synthetic)", "type": "string"}}})
		for k := 0; k < 2; k++ {
			putAgg(obj{"resourceType": "QuestionnaireResponse", "id": uuidFrom(rng), "status": "completed", "subject": aggSubj(),
				"questionnaire": "Questionnaire/" + SeedAggregatedQuestionnaireID, "basedOn": []any{ref("ServiceRequest", srID)},
				"authored": ts(seedEpoch.AddDate(0, 2, 7*k)),
				"item":     []any{obj{"linkId": "1", "answer": []any{obj{"valueString": "synthetic answer"}}}}})
		}
		d.seedAggregatedLabelled(p, putAggBy)
	}
}

// generalByDefault labels a data point GENERAL_HEALTH, PKB's default
// (docs/pkb-api.md §3.7), unless it carries a label.
func generalByDefault(r obj) obj {
	if isDataPoint(str(r, "resourceType"), r) && LabelOf(r) == LabelNotSet {
		meta := objAt(r, "meta")
		if meta == nil {
			meta = obj{}
			r["meta"] = meta
		}
		meta["security"] = []any{coding(SystemPrivacyLabel, string(LabelGeneralHealth), "")}
	}
	return r
}

// seedLabelled adds the Facade data points that show the privacy rules on
// Alice's record (see the Seed*ID constants).
func (d *simData) seedLabelled(p *SeedPatient, subj func() obj, putBy func(obj, string)) {
	lab := func(id, code, display string, label PrivacyLabel, value float64, unit string, day int) obj {
		o := obj{"resourceType": "Observation", "id": id, "status": "unknown",
			"category":          []any{concept("", coding(SystemObservationCategory, "LABORATORY", ""))},
			"code":              concept(display, coding("http://loinc.org", code, display)),
			"subject":           subj(),
			"effectiveDateTime": ts(seedEpoch.AddDate(0, 0, day).Add(9 * time.Hour)),
			"valueQuantity":     obj{"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}
		if label != LabelNotSet {
			o["meta"] = privacy(string(label))
		}
		return o
	}
	putBy(lab(SeedSexualHealthObservationID, "43304-5", "Chlamydia trachomatis rRNA (synthetic)", LabelSexualHealth, 0, "{index}", 40), "")
	putBy(lab(SeedUnlabelledObservationID, "1989-3", "Vitamin D (synthetic)", LabelNotSet, 62, "nmol/L", 41), "")
	created := seedEpoch.AddDate(0, 2, 0)
	putBy(obj{"resourceType": "DocumentReference", "id": SeedSocialCareDocumentID, "meta": privacy(string(LabelSocialCare)),
		"status": "current", "docStatus": "final", "type": concept("Care package letter (synthetic)"),
		"subject": subj(), "created": ts(created), "indexed": ts(created.Add(time.Hour)),
		"author": []any{ref("Organization", SeedTeamID)}, "custodian": ref("Organization", SeedOrgPublicID),
		"description": "Synthetic social care letter the default team added",
		"content":     []any{obj{"attachment": obj{"contentType": "application/pdf", "title": "care-package.pdf", "creation": ts(created)}}}}, SeedTeamID)
	putBy(obj{"resourceType": "DiagnosticReport", "id": SeedCardiologyReportID, "meta": privacy(string(LabelGeneralHealth)), "status": "final",
		"category": concept("", coding("http://hl7.org/fhir/v2/0074", "EC", "")), "code": concept("ECG (synthetic)"),
		"subject": subj(), "effectiveDateTime": ts(created), "issued": ts(created.Add(2 * time.Hour))}, SeedSecondTeamID)
}

// seedAggregatedLabelled adds the Aggregated data points that show the
// privacy rules on Alice's record.
func (d *simData) seedAggregatedLabelled(p *SeedPatient, putAggBy func(obj, string)) {
	subj := ref("Patient", p.ID)
	at := ts(seedEpoch.AddDate(0, 3, 0))
	// A diagnosis received without a label stays NOT_SET.
	putAggBy(obj{"resourceType": "Condition", "id": SeedUnlabelledConditionID, "subject": subj, "recordedDate": at,
		"code": concept("Unlabelled diagnosis (synthetic)")}, "")
	putAggBy(obj{"resourceType": "Observation", "id": SeedAggregatedSexualHealthObservationID, "meta": privacy(string(LabelSexualHealth)),
		"status": "final", "subject": subj, "effectiveDateTime": at,
		"code": concept("sexual health screen", coding("http://loinc.org", "43304-5", "Chlamydia trachomatis rRNA (synthetic)"))}, "")
	putAggBy(obj{"resourceType": "MedicationStatement", "id": SeedMentalHealthMedicationID, "meta": privacy(string(LabelMentalHealth)),
		"status": "active", "subject": subj, "effectiveDateTime": at, "medicationCodeableConcept": concept("Sertraline 50mg tablets (synthetic)")}, "")
}

// measurementRef is one REST API measurement type.
type measurementRef struct {
	name, ref, category string
	units               []string
	lo, hi              float64
}

var measurementRefs = []measurementRef{
	{"Weight", "WEIGHT", "Body measurements", []string{"kg", "lb"}, 60, 95},
	{"Systolic blood pressure", "BP_SYSTOLIC", "Blood pressure", []string{"mmHg"}, 105, 150},
	{"Heart rate", "HEART_RATE", "Vital signs", []string{"bpm"}, 55, 95},
	{"Blood glucose", "BLOOD_GLUCOSE", "Diabetes", []string{"mmol/L"}, 4, 11},
}
