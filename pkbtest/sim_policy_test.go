package pkbtest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/pkbtest"
)

// searchIDs runs a search (raw HTTP) through all its pages and returns the
// ids it found and its total; it fails the test on an error status.
func searchIDs(t *testing.T, u, tok string, header map[string]string) ([]string, int) {
	t.Helper()
	if !strings.Contains(u, "_count=") {
		if strings.Contains(u, "/aggregated/") {
			u += "&_count=10" // PKB's maximum there
		} else {
			u += "&_count=1000"
		}
	}
	var ids []string
	var total float64
	for page := 0; u != ""; page++ {
		resp, b := raw(t, http.MethodGet, u, tok, header, "")
		if resp.StatusCode != http.StatusOK || page > 100 {
			t.Fatalf("GET %s: %s %v", u, resp.Status, b)
		}
		for _, e := range entries(b) {
			if get(e, "resourceType") == "OperationOutcome" {
				t.Errorf("GET %s: the Bundle carries an OperationOutcome: PKB omits silently", u)
			}
			ids = append(ids, get(e, "id").(string))
		}
		total, _ = get(b, "total").(float64)
		next, _ := url.Parse(nextLink(b))
		cur, _ := url.Parse(u)
		if u = ""; next.String() != "" {
			u = cur.ResolveReference(next).String()
		}
	}
	if int(total) != len(ids) {
		t.Errorf("total %v for %d entries", total, len(ids))
	}
	return ids, int(total)
}

// userTokenAs logs in through the User Client as userID with scope.
func userTokenAs(t *testing.T, s *pkbtest.Simulator, scope, userID string) string {
	t.Helper()
	s.Auth().SetApproval(pkbtest.Approval{UserID: userID})
	defer s.Auth().SetApproval(pkbtest.Approval{})
	return token(t, userSource(t, s, scope))
}

func has(ids []string, id string) bool { return slices.Contains(ids, id) }

// TestPrivacyLabelsFacade: the Facade shows each caller only the data
// points its labels, authorship or break-the-glass allow, and silently
// omits the rest (docs/pkb-api.md §3.7, §4).
func TestPrivacyLabelsFacade(t *testing.T) {
	s := newSim(t)
	env := s.Environment()
	pol := s.Policy()
	alice := pkbtest.SeedPatientID
	if got := pol.Labels(pkbtest.SeedTeamID, alice); !reflect.DeepEqual(got, []pkbtest.PrivacyLabel{pkbtest.LabelGeneralHealth, pkbtest.LabelMentalHealth}) {
		t.Fatalf("the default team holds %v on Alice's record", got)
	}
	if got := pol.Labels(pkbtest.SeedSecondTeamID, alice); len(got) != 0 {
		t.Fatalf("the second team holds %v", got)
	}
	if pol.Authors["DocumentReference/"+pkbtest.SeedSocialCareDocumentID] != pkbtest.SeedTeamID ||
		pol.Authors["DiagnosticReport/"+pkbtest.SeedCardiologyReportID] != pkbtest.SeedSecondTeamID ||
		pol.Teams[pkbtest.SeedSecondTeamID] != pkbtest.SeedOrgPublicID {
		t.Fatalf("policy = %+v", pol)
	}

	lab := env.FacadeURL + "/Observation?patient=" + url.QueryEscape(alicePatientRef) + "&category=" + url.QueryEscape(labCat)
	symptoms := env.FacadeURL + "/Observation?patient=" + url.QueryEscape(alicePatientRef) + "&category=" + url.QueryEscape(pkbtest.SystemObservationCategory+"|SYMPTOM")
	docs := env.FacadeURL + "/DocumentReference?patient=" + url.QueryEscape(alicePatientRef)
	reportsOf := func(tok string, header map[string]string) []string {
		var all []string
		for _, cat := range []string{"LAB", "RAD", "EC"} {
			ids, _ := searchIDs(t, env.FacadeURL+"/DiagnosticReport?patient="+url.QueryEscape(alicePatientRef)+"&category="+url.QueryEscape("http://hl7.org/fhir/v2/0074|"+cat), tok, header)
			all = append(all, ids...)
		}
		return all
	}

	// The patient sees her whole record, and every data point has one label
	// at most.
	pat := userTokenAs(t, s, "PATIENT", pkbtest.DefaultUserID)
	ids, _ := searchIDs(t, lab, pat, nil)
	if !has(ids, pkbtest.SeedSexualHealthObservationID) || !has(ids, pkbtest.SeedUnlabelledObservationID) {
		t.Errorf("the patient does not see all her lab results")
	}
	for _, u := range []string{lab, symptoms, docs, env.FacadeURL + "/DiagnosticReport?patient=" + url.QueryEscape(alicePatientRef) + "&category=" + url.QueryEscape("http://hl7.org/fhir/v2/0074|EC")} {
		_, b := raw(t, http.MethodGet, u+"&_count=1000", pat, nil, "")
		for _, e := range entries(b) {
			n := 0
			for _, sec := range list(e, "meta", "security") {
				if get(sec, "system") == pkbtest.SystemPrivacyLabel {
					n++
				}
			}
			if n > 1 {
				t.Errorf("%v/%v has %d privacy labels", get(e, "resourceType"), get(e, "id"), n)
			}
		}
	}
	patLab := len(ids)

	// The default team: GENERAL_HEALTH and MENTAL_HEALTH, plus what it added.
	clin := userTokenAs(t, s, "CLINICIAN", pkbtest.SeedClinicianUserID)
	ids, total := searchIDs(t, lab, clin, nil)
	if has(ids, pkbtest.SeedSexualHealthObservationID) || has(ids, pkbtest.SeedUnlabelledObservationID) || total != patLab-2 {
		t.Errorf("the default team's lab results: %d of the patient's %d, sexual health %v, unlabelled %v", total, patLab,
			has(ids, pkbtest.SeedSexualHealthObservationID), has(ids, pkbtest.SeedUnlabelledObservationID))
	}
	_, b := raw(t, http.MethodGet, symptoms+"&_count=1000", clin, nil, "")
	mental := false
	for _, e := range entries(b) {
		mental = mental || get(list(e, "meta", "security")[0], "code") == "MENTAL_HEALTH"
	}
	if !mental {
		t.Error("the default team does not see MENTAL_HEALTH symptoms it was granted")
	}
	if ids, _ := searchIDs(t, docs, clin, nil); !has(ids, pkbtest.SeedSocialCareDocumentID) {
		t.Error("the default team lost the SOCIAL_CARE letter it added")
	}
	// Who added a data point does not restrict it: the team holds
	// GENERAL_HEALTH, so it sees the second team's report too.
	if ids := reportsOf(clin, nil); !has(ids, pkbtest.SeedCardiologyReportID) {
		t.Errorf("the default team's reports: %v", ids)
	}

	// The organisation (System Client): the union of its teams' labels and
	// what its teams added.
	sys := token(t, systemSource(t, s))
	ids, _ = searchIDs(t, lab, sys, orgHeader)
	if has(ids, pkbtest.SeedSexualHealthObservationID) || has(ids, pkbtest.SeedUnlabelledObservationID) {
		t.Error("the organisation sees labels none of its teams holds")
	}
	if ids := reportsOf(sys, orgHeader); !has(ids, pkbtest.SeedCardiologyReportID) {
		t.Error("the organisation does not see what its second team added")
	}

	// The second team has no consent: it opens the record only through the
	// report it added, and sees that report alone.
	cardio := userTokenAs(t, s, "CLINICIAN", pkbtest.SeedSecondClinicianUserID)
	if ids, _ := searchIDs(t, lab, cardio, nil); len(ids) != 0 {
		t.Errorf("a team without consent sees %d lab results", len(ids))
	}
	if ids := reportsOf(cardio, nil); !reflect.DeepEqual(ids, []string{pkbtest.SeedCardiologyReportID}) {
		t.Errorf("the second team's reports: %v, want only the one it added", ids)
	}
	// Without anything it added, no record at all.
	bob := s.Patients()[1]
	resp, oo := raw(t, http.MethodGet, env.FacadeURL+"/Patient/"+bob.ID, cardio, nil, "")
	wantOutcome(t, resp, oo, http.StatusForbidden, "NO_CONSENT")

	// Consent decides: all four labels show the unlabelled result too; no
	// labels leave the team with what it added.
	if err := s.SetConsent(alice, pkbtest.SeedTeamID, pkbtest.AllLabels()...); err != nil {
		t.Fatal(err)
	}
	if ids, _ := searchIDs(t, lab, clin, nil); len(ids) != patLab {
		t.Errorf("with all four labels the default team sees %d of %d lab results", len(ids), patLab)
	}
	if err := s.SetConsent(alice, pkbtest.SeedTeamID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := searchIDs(t, lab, clin, nil); len(ids) != 0 {
		t.Errorf("after sharing stopped the default team sees %d lab results", len(ids))
	}
	if ids, _ := searchIDs(t, docs, clin, nil); !reflect.DeepEqual(ids, []string{pkbtest.SeedSocialCareDocumentID}) {
		t.Errorf("after sharing stopped the default team sees documents %v, want only the one it added", ids)
	}
	resp, _ = raw(t, http.MethodGet, env.FacadeURL+"/ProcedureRequest/"+pkbtest.SeedProcedureRequestID, clin, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the questionnaire request the team added: %s", resp.Status)
	}
	if err := s.SetConsent(alice, pkbtest.SeedTeamID, "PRIVATE"); err == nil {
		t.Error("SetConsent accepted an unknown label")
	}
	if err := s.SetConsent(alice, pkbtest.SeedOrgPublicID, pkbtest.LabelGeneralHealth); err == nil {
		t.Error("SetConsent accepted an organisation as a team")
	}
}

// alicePatientRef is Alice as a reference search value.
const alicePatientRef = "Patient/" + pkbtest.SeedPatientID

// TestBreakTheGlass: POST /json/v2/consents/BTG/{patientId} gives the
// professional every label on that patient for 30 minutes, on calls that
// send the token in a breaktheglass header, except Conditions, Medications
// and Appointments (docs/pkb-api.md §2.5, §3.7).
func TestBreakTheGlass(t *testing.T) {
	s := newSim(t)
	env := s.Environment()
	cardio := userTokenAs(t, s, "CLINICIAN", pkbtest.SeedSecondClinicianUserID)
	lab := env.FacadeURL + "/Observation?patient=" + url.QueryEscape(alicePatientRef) + "&category=" + url.QueryEscape(labCat)
	appts := env.FacadeURL + "/Appointment?patient=" + url.QueryEscape(alicePatientRef)
	measures := env.RESTURL + "/v2-beta/measurements/" + pkbtest.SeedPatientRESTID + "?apiRefs=WEIGHT&apiRefs=HEART_RATE"

	if ids, _ := searchIDs(t, lab, cardio, nil); len(ids) != 0 {
		t.Fatalf("before break-the-glass: %d lab results", len(ids))
	}
	resp, m := raw(t, http.MethodPost, env.RESTURL+"/v2/consents/BTG/"+pkbtest.SeedPatientRESTID+"?userId="+pkbtest.SeedSecondClinicianRESTID, cardio, nil, "")
	btg, _ := get(m, "token").(string)
	if resp.StatusCode != http.StatusOK || btg == "" {
		t.Fatalf("break the glass: %s %v", resp.Status, m)
	}
	withBTG := map[string]string{"breaktheglass": btg}
	ids, _ := searchIDs(t, lab, cardio, withBTG)
	if !has(ids, pkbtest.SeedSexualHealthObservationID) || !has(ids, pkbtest.SeedUnlabelledObservationID) {
		t.Errorf("break-the-glass does not show every label: %d results", len(ids))
	}
	if ids, _ := searchIDs(t, appts, cardio, withBTG); len(ids) != 0 {
		t.Errorf("break-the-glass shows %d appointments; PKB hides them", len(ids))
	}
	if ids, _ := searchIDs(t, lab, cardio, nil); len(ids) != 0 {
		t.Errorf("without the breaktheglass header: %d lab results", len(ids))
	}
	// The REST API's measurements follow the same rules.
	if _, arr := rawArray(t, measures, cardio, nil); len(arr) != 0 {
		t.Errorf("REST measurements without break-the-glass: %d", len(arr))
	}
	if _, arr := rawArray(t, measures, cardio, withBTG); len(arr) == 0 {
		t.Error("REST measurements with break-the-glass: none")
	}

	// Another professional cannot use the token.
	clin := userTokenAs(t, s, "CLINICIAN", pkbtest.SeedClinicianUserID)
	if ids, _ := searchIDs(t, lab, clin, withBTG); has(ids, pkbtest.SeedUnlabelledObservationID) {
		t.Error("another professional's break-the-glass token worked")
	}
	// It ends.
	s.ExpireBreakTheGlass()
	if ids, _ := searchIDs(t, lab, cardio, withBTG); len(ids) != 0 {
		t.Errorf("after break-the-glass ended: %d lab results", len(ids))
	}
	// Only on the organisation's patients.
	var other pkbtest.SeedPatient
	for _, p := range s.Patients() {
		if p.OrgID == pkbtest.SeedOtherOrgPublicID {
			other = p
		}
	}
	resp, _ = raw(t, http.MethodPost, env.RESTURL+"/v2/consents/BTG/"+other.RESTID, cardio, nil, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("break the glass on another organisation's patient: %s", resp.Status)
	}
}

// rawArray GETs a JSON array.
func rawArray(t *testing.T, u, tok string, header map[string]string) (*http.Response, []any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var arr []any
	_ = json.NewDecoder(resp.Body).Decode(&arr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return resp, arr
}
