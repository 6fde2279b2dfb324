package pkbtest_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/pkbgo/pkb/pkbtest"
)

// TestAggregatedAccessControl: an organisation sees its own patients
// only, through the union of its teams' labels (docs/pkb-api.md §2.4,
// §3.7); what it may not see is silently left out of searches and refused
// on reads.
func TestAggregatedAccessControl(t *testing.T) {
	s := newSim(t)
	base := s.Environment().AggregatedURL
	cust := token(t, customerSource(t, s))
	nhs := url.QueryEscape(nhsSystem + "|" + pkbtest.SeedPatientNHSNumber)

	conds, _ := searchIDs(t, base+"/Condition?subject:Patient.identifier="+nhs, cust, nil)
	obs, _ := searchIDs(t, base+"/Observation?subject:Patient.identifier="+nhs+"&_count=10", cust, nil)
	meds, _ := searchIDs(t, base+"/MedicationStatement?subject:Patient.identifier="+nhs, cust, nil)
	if len(conds) == 0 || has(conds, pkbtest.SeedUnlabelledConditionID) {
		t.Errorf("conditions %v: the unlabelled one needs all four labels", conds)
	}
	if has(obs, pkbtest.SeedAggregatedSexualHealthObservationID) {
		t.Error("an observation labelled SEXUAL_HEALTH, which no team holds, is visible")
	}
	if !has(meds, pkbtest.SeedMentalHealthMedicationID) {
		t.Error("a MENTAL_HEALTH medication, which the default team holds, is missing")
	}
	resp, oo := raw(t, http.MethodGet, base+"/Condition/"+pkbtest.SeedUnlabelledConditionID, cust, nil, "")
	wantOutcome(t, resp, oo, http.StatusForbidden, "NO_CONSENT")

	// The second team's labels join the organisation's: with SEXUAL_HEALTH
	// and SOCIAL_CARE there, the organisation holds all four.
	if err := s.SetConsent(pkbtest.SeedPatientID, pkbtest.SeedSecondTeamID, pkbtest.LabelSexualHealth, pkbtest.LabelSocialCare); err != nil {
		t.Fatal(err)
	}
	if got := s.Policy().OrgLabels(pkbtest.SeedOrgPublicID, pkbtest.SeedPatientID); len(got) != 4 {
		t.Fatalf("OrgLabels = %v", got)
	}
	conds, _ = searchIDs(t, base+"/Condition?subject:Patient.identifier="+nhs, cust, nil)
	if !has(conds, pkbtest.SeedUnlabelledConditionID) {
		t.Error("with all four labels across its teams the organisation does not see the unlabelled condition")
	}
	resp, _ = raw(t, http.MethodGet, base+"/Observation/"+pkbtest.SeedAggregatedSexualHealthObservationID, cust, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("read of the SEXUAL_HEALTH observation after the second team's consent: %s", resp.Status)
	}

	// Another organisation's patient: not found by search, refused on read.
	var other pkbtest.SeedPatient
	for _, p := range s.Patients() {
		if p.OrgID == pkbtest.SeedOtherOrgPublicID {
			other = p
		}
	}
	if ids, _ := searchIDs(t, base+"/Patient?identifier="+url.QueryEscape(nhsSystem+"|"+other.NHSNumber), cust, nil); len(ids) != 0 {
		t.Errorf("another organisation's patient found: %v", ids)
	}
	resp, oo = raw(t, http.MethodGet, base+"/Patient/"+other.ID, cust, nil, "")
	wantOutcome(t, resp, oo, http.StatusForbidden, "NO_ASSOCIATION")
	// ...whom a Customer client of that organisation does see, and not Alice.
	if err := s.Auth().RegisterClient(pkbtest.Client{ID: "other-customer", Secret: "s", Type: pkbtest.ClientTypeCustomer, OrgID: pkbtest.SeedOtherOrgPublicID}); err != nil {
		t.Fatal(err)
	}
	otherTok, err := (&clientcredentials.Config{ClientID: "other-customer", ClientSecret: "s", TokenURL: s.Environment().CustomerTokenURL, AuthStyle: oauth2.AuthStyleInParams}).Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := searchIDs(t, base+"/Patient?identifier="+url.QueryEscape(nhsSystem+"|"+other.NHSNumber), otherTok.AccessToken, nil); len(ids) != 1 {
		t.Errorf("the other organisation's client finds %v", ids)
	}
	if ids, _ := searchIDs(t, base+"/Condition?subject:Patient.identifier="+nhs, otherTok.AccessToken, nil); len(ids) != 0 {
		t.Errorf("the other organisation sees Alice's conditions: %v", ids)
	}
	// A selector naming no patient of the organisation finds nothing.
	if ids, _ := searchIDs(t, base+"/Condition?subject:Patient.identifier="+url.QueryEscape(nhsSystem+"|9990001014"), cust, nil); len(ids) != 0 {
		t.Errorf("an unknown patient's conditions: %v", ids)
	}
}

// TestAggregatedPaging: PKB's Aggregated links are server-relative, carry
// page=, and include first (docs/pkb-api.md §2.4); _count is at most 10.
func TestAggregatedPaging(t *testing.T) {
	s := newSim(t)
	base := s.Environment().AggregatedURL
	cust := token(t, customerSource(t, s))
	nhs := url.QueryEscape(nhsSystem + "|" + pkbtest.SeedPatientNHSNumber)
	links := func(b obj) map[string]string {
		out := map[string]string{}
		for _, l := range list(b, "link") {
			out[get(l, "relation").(string)] = get(l, "url").(string)
		}
		return out
	}
	u := base + "/Observation?subject:Patient.identifier=" + nhs + "&_count=10"
	seen := map[string]bool{}
	var total float64
	for page := 1; ; page++ {
		resp, b := raw(t, http.MethodGet, u, cust, nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: %s %v", page, resp.Status, b)
		}
		total = get(b, "total").(float64)
		l := links(b)
		for rel, link := range l {
			if !strings.HasPrefix(link, "/aggregated/fhir/Observation?") {
				t.Errorf("page %d: %s link %q is not server-relative", page, rel, link)
			}
		}
		if !strings.Contains(l["first"], "page=1") || !strings.Contains(l["self"], "page="+itoa(page)) {
			t.Errorf("page %d: links %v", page, l)
		}
		if page > 1 && !strings.Contains(l["previous"], "page="+itoa(page-1)) {
			t.Errorf("page %d: previous %q", page, l["previous"])
		}
		for _, e := range entries(b) {
			seen[get(e, "id").(string)] = true
		}
		if l["next"] == "" {
			break
		}
		if !strings.Contains(l["next"], "page="+itoa(page+1)) || !strings.Contains(l["next"], "_count=10") {
			t.Fatalf("page %d: next %q", page, l["next"])
		}
		next, _ := url.Parse(l["next"])
		u = strings.TrimSuffix(s.URL(), "/") + next.String()
	}
	if len(seen) != int(total) || total < 20 {
		t.Errorf("paged through %d of total %v", len(seen), total)
	}
	resp, oo := raw(t, http.MethodGet, base+"/Observation?subject:Patient.identifier="+nhs+"&_count=11", cust, nil, "")
	wantOutcome(t, resp, oo, http.StatusBadRequest, "")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSeveralPatientsPerNHSNumber: PKB allows several accounts for one
// national id (docs/pkb-api.md §8); a search by it returns each one the
// caller may see.
func TestSeveralPatientsPerNHSNumber(t *testing.T) {
	s := newSim(t)
	q := "/Patient?identifier=" + url.QueryEscape(nhsSystem+"|"+pkbtest.SeedDuplicateNHSNumber)
	ids, _ := searchIDs(t, s.Environment().FacadeURL+q, token(t, systemSource(t, s)), orgHeader)
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("Facade: %v, want two accounts", ids)
	}
	ids, _ = searchIDs(t, s.Environment().AggregatedURL+q, token(t, customerSource(t, s)), nil)
	if len(ids) != 2 {
		t.Errorf("Aggregated: %v, want two accounts", ids)
	}
	n := 0
	for _, p := range s.Patients() {
		if p.NHSNumber == pkbtest.SeedDuplicateNHSNumber {
			n++
		}
	}
	if n != 2 {
		t.Errorf("Patients() lists %d accounts with the duplicate number", n)
	}
}

// TestFacadeResultCaps: the Facade cuts a search to its per-type cap
// silently, as PKB does (docs/pkb-api.md §2.1, §8); WithResultCap makes the
// cap small enough to see.
func TestFacadeResultCaps(t *testing.T) {
	if pkbtest.DefaultResultCap("Observation") != 60000 || pkbtest.DefaultResultCap("DocumentReference") != 10000 || pkbtest.DefaultResultCap("Encounter") != 1000 {
		t.Fatal("default caps differ from PKB's")
	}
	s := newSim(t, pkbtest.WithResultCap("Observation", 5), pkbtest.WithResultCap("", 3), pkbtest.WithPageSize(2))
	sys := token(t, systemSource(t, s))
	lab := s.Environment().FacadeURL + "/Observation?patient=" + url.QueryEscape(alicePatientRef) + "&category=" + url.QueryEscape(labCat)
	seen := map[string]bool{}
	u := lab
	for {
		resp, b := raw(t, http.MethodGet, u, sys, orgHeader, "")
		if resp.StatusCode != http.StatusOK || get(b, "total") != float64(5) {
			t.Fatalf("capped search: %s total %v", resp.Status, get(b, "total"))
		}
		for _, e := range entries(b) {
			if get(e, "resourceType") != "Observation" {
				t.Errorf("the truncated search carries a %v", get(e, "resourceType"))
			}
			seen[get(e, "id").(string)] = true
		}
		if u = nextLink(b); u == "" {
			break
		}
	}
	if len(seen) != 5 {
		t.Errorf("paged through %d results, want the cap of 5", len(seen))
	}
	ids, _ := searchIDs(t, s.Environment().FacadeURL+"/Encounter?patient="+url.QueryEscape(alicePatientRef), sys, orgHeader)
	if len(ids) != 3 {
		t.Errorf("Encounter under the default cap of 3: %d", len(ids))
	}
}
