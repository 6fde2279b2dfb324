package pkbtest

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"time"
)

// PrivacyLabel is one of PKB's four privacy labels (docs/pkb-api.md §2.1,
// §3.7), carried in meta.security with system SystemPrivacyLabel.
type PrivacyLabel string

// The privacy labels.
const (
	LabelGeneralHealth PrivacyLabel = "GENERAL_HEALTH"
	LabelMentalHealth  PrivacyLabel = "MENTAL_HEALTH"
	LabelSexualHealth  PrivacyLabel = "SEXUAL_HEALTH"
	LabelSocialCare    PrivacyLabel = "SOCIAL_CARE"
	// LabelNotSet is the label of a data point without one (PKB's
	// NOT_SET): only the patient and holders of all four labels see it.
	LabelNotSet PrivacyLabel = "NOT_SET"
)

// AllLabels returns the four privacy labels.
func AllLabels() []PrivacyLabel {
	return []PrivacyLabel{LabelGeneralHealth, LabelMentalHealth, LabelSexualHealth, LabelSocialCare}
}

// LabelOf returns the privacy label of a resource's meta.security, or
// LabelNotSet when it carries none (or NOT_SET). A data point has at most
// one label; the first one wins.
func LabelOf(res map[string]any) PrivacyLabel {
	for _, s := range list(objAt(res, "meta"), "security") {
		so, _ := s.(obj)
		if str(so, "system") == SystemPrivacyLabel && str(so, "code") != "" {
			return PrivacyLabel(str(so, "code"))
		}
	}
	return LabelNotSet
}

// BreakTheGlassDuration is how long break-the-glass lasts (docs/pkb-api.md
// §2.5).
const BreakTheGlassDuration = 30 * time.Minute

// btgHidden are the types break-the-glass does not show: "Diagnoses
// (Conditions), Medications and Appointments are not visible to
// professionals after using 'Break the glass'" (docs/pkb-api.md §3.7).
var btgHidden = map[string]bool{
	"Condition": true, "Appointment": true, "Medication": true, "MedicationStatement": true,
	"MedicationRequest": true, "MedicationAdministration": true, "MedicationDispense": true,
}

// Policy is the privacy model the simulator enforces on every family that
// returns clinical data (Facade searches and reads, Aggregated, the REST
// API's measurements), read from its data at one moment. The rules
// (docs/pkb-api.md §2.4, §3.7):
//
//   - A data point is any resource of a patient's record other than the
//     Patient and its Consents (and, on the REST API, a measurement). It has
//     at most one label (LabelOf); one without a label is LabelNotSet.
//   - The patient sees their whole record.
//   - A team sees the labels the patient granted it (Grants, from the
//     patient's active Consent naming the team: one except entry per label)
//     and sees a LabelNotSet data point only when it holds all four.
//   - A team keeps seeing what it added (Authors), with or without consent.
//   - An organisation (a System Client's X-Org-Public-Id, a Customer
//     client's organisation) holds the union of its teams' labels, sees
//     what it or its teams added, and sees only patients of the
//     organisation.
//   - Break-the-glass (POST /json/v2/consents/BTG/{patientId}, then the
//     breaktheglass header on later calls) gives the professional every
//     label on that patient for BreakTheGlassDuration, except Conditions,
//     Medications and Appointments.
//   - A patient who disabled sharing is seen by no professional.
//
// What the caller may not see is silently left out of searches, as PKB
// does; a read of it is refused with 403 (NO_CONSENT, NO_ASSOCIATION or
// SHARING_DISABLED).
type Policy struct {
	// Grants are the labels each patient shares with each team: patient id
	// -> team id -> labels, sorted.
	Grants map[string]map[string][]PrivacyLabel
	// Teams maps each team id to its organisation id.
	Teams map[string]string
	// Authors maps each data point a team or organisation added, as
	// "Type/id" (REST measurements as "Measurement/id"), to that team or
	// organisation id. Data points not listed came from elsewhere.
	Authors map[string]string
}

// Labels returns the labels team holds on patient's record.
func (p Policy) Labels(team, patient string) []PrivacyLabel {
	return slices.Clone(p.Grants[patient][team])
}

// OrgLabels returns the union of the labels org's teams hold on patient's
// record.
func (p Policy) OrgLabels(org, patient string) []PrivacyLabel {
	set := map[PrivacyLabel]bool{}
	for team, o := range p.Teams {
		if o == org {
			for _, l := range p.Grants[patient][team] {
				set[l] = true
			}
		}
	}
	return sortedLabels(set)
}

func sortedLabels(set map[PrivacyLabel]bool) []PrivacyLabel {
	out := make([]PrivacyLabel, 0, len(set))
	for l, ok := range set {
		if ok {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Policy returns the privacy model as it stands (see Policy).
func (s *Simulator) Policy() Policy {
	d := s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	p := Policy{Grants: map[string]map[string][]PrivacyLabel{}, Teams: map[string]string{}, Authors: map[string]string{}}
	for id, o := range d.orgs {
		if o.parent != "" {
			p.Teams[id] = o.parent
		}
	}
	for _, c := range d.facade.list("Consent") {
		pid := refID(c, "patient", "Patient")
		for _, team := range consentTeams(c) {
			if labels := consentLabels(c); len(labels) > 0 {
				if p.Grants[pid] == nil {
					p.Grants[pid] = map[string][]PrivacyLabel{}
				}
				p.Grants[pid][team] = sortedLabels(labels)
			}
		}
	}
	for _, st := range []*store{d.facade, d.aggregated, d.customer["r4"], d.customer["stu3"]} {
		for typ, recs := range st.records {
			for id, r := range recs {
				if v := r.current(); v.res != nil && v.by != "" && isDataPoint(typ, v.res) {
					p.Authors[typ+"/"+id] = v.by
				}
			}
		}
	}
	for id, m := range d.measureMeta {
		if m.by != "" {
			p.Authors["Measurement/"+id] = m.by
		}
	}
	return p
}

// isDataPoint reports whether a resource is a labelled data point of a
// patient's record.
func isDataPoint(typ string, res obj) bool {
	return typ != "Patient" && typ != "Consent" && patientOf(res) != ""
}

// consentTeams are the teams an active Consent grants to.
func consentTeams(c obj) []string {
	if str(c, "status") != "active" {
		return nil
	}
	var out []string
	for _, a := range list(c, "actor") {
		ao, _ := a.(obj)
		if id := refID(ao, "reference", "Organization"); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// consentLabels are the labels of a Facade Consent's except entries.
func consentLabels(c obj) map[PrivacyLabel]bool {
	out := map[PrivacyLabel]bool{}
	for _, e := range list(c, "except") {
		eo, _ := e.(obj)
		if str(eo, "type") != "permit" {
			continue
		}
		for _, l := range list(eo, "securityLabel") {
			lo, _ := l.(obj)
			if str(lo, "system") == SystemPrivacyLabel {
				out[PrivacyLabel(str(lo, "code"))] = true
			}
		}
	}
	return out
}

// teamLabels are the labels a team holds on a patient's record; the caller
// holds d.mu.
func (d *simData) teamLabels(team, pid string) map[PrivacyLabel]bool {
	out := map[PrivacyLabel]bool{}
	for _, c := range d.facade.list("Consent") {
		if refID(c, "patient", "Patient") == pid && slices.Contains(consentTeams(c), team) {
			maps.Copy(out, consentLabels(c))
		}
	}
	return out
}

// teamsOfOrg lists an organisation's teams; the caller holds d.mu.
func (d *simData) teamsOfOrg(org string) []string {
	var out []string
	for id, o := range d.orgs {
		if o.parent == org {
			out = append(out, id)
		}
	}
	return out
}

// orgOf is the organisation of a team, or the id itself for an
// organisation; the caller holds d.mu.
func (d *simData) orgOf(id string) string {
	if o := d.orgs[id]; o != nil && o.parent != "" {
		return o.parent
	}
	return id
}

// patientOrg is the organisation holding a patient's record: a seeded
// patient's, or for a Patient a customer posted, the organisation that
// posted it; "" when unknown. The caller holds d.mu.
func (d *simData) patientOrg(pid string) string {
	if p := d.byID[pid]; p != nil {
		return p.OrgID
	}
	if r, _ := d.customer["r4"].get("Patient", pid); r != nil {
		return d.orgOf(d.customer["r4"].author("Patient", pid))
	}
	return ""
}

// knownPatient reports whether pid names a patient anywhere; the caller
// holds d.mu.
func (d *simData) knownPatient(pid string) bool {
	return d.patientOrg(pid) != ""
}

// authoredAny reports whether team added anything to a patient's Facade
// record; the caller holds d.mu.
func (d *simData) authoredAny(team, pid string) bool {
	for typ, recs := range d.facade.records {
		for _, r := range recs {
			if v := r.current(); v.res != nil && v.by == team && isDataPoint(typ, v.res) && patientOf(v.res) == pid {
				return true
			}
		}
	}
	return false
}

// btgGrant is one break-the-glass: a professional's access to a patient's
// record until a time, presented with its token.
type btgGrant struct {
	practitioner, team, patient string
	until                       time.Time
}

// ExpireBreakTheGlass ends every break-the-glass now, as 30 minutes
// passing would.
func (s *Simulator) ExpireBreakTheGlass() {
	d := s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.btg)
}

// SetBreakTheGlassEnabled turns PKB's "BTG functionality" on or off for a
// professional (a Practitioner id such as SeedClinicianID, or
// SeedCoordinatorID for the tethered team coordinator); it is on for every
// seeded professional. Without it, POST /json/v2/consents/BTG/{patientId}
// is answered as PKB answers a user who may not break the glass: 401 with a
// plain-text message "… Method requires a user within scope(s) CLINICIAN
// and BTG functionality enabled but current user is of UserType …"
// (docs/pkb-api.md §2.5), a 401 that is not about the token.
func (s *Simulator) SetBreakTheGlassEnabled(practitionerID string, enabled bool) {
	d := s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.btgOff == nil {
		d.btgOff = map[string]bool{}
	}
	if enabled {
		delete(d.btgOff, practitionerID)
	} else {
		d.btgOff[practitionerID] = true
	}
}

// SetConsent sets the privacy labels a patient shares with a team, as the
// patient does on PKB's Sharing page: the patient's Facade Consent naming
// the team gets one except entry per label, and is created if missing. No
// labels makes it inactive (sharing stopped); the team then sees only what
// it added. Use it to set up a test's own access scenario.
func (s *Simulator) SetConsent(patientID, teamID string, labels ...PrivacyLabel) error {
	for _, l := range labels {
		if !slices.Contains(AllLabels(), l) {
			return fmt.Errorf("pkbtest: SetConsent: %q is not a privacy label", l)
		}
	}
	d := s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.byID[patientID]
	team := d.orgs[teamID]
	switch {
	case p == nil:
		return fmt.Errorf("pkbtest: SetConsent: unknown patient %q", patientID)
	case team == nil || team.parent == "":
		return fmt.Errorf("pkbtest: SetConsent: %q is not a team", teamID)
	}
	var cur obj
	for _, c := range d.facade.list("Consent") {
		if refID(c, "patient", "Patient") != patientID {
			continue
		}
		for _, a := range list(c, "actor") {
			ao, _ := a.(obj)
			if refID(ao, "reference", "Organization") == teamID {
				cur = c
			}
		}
	}
	now := time.Now()
	c := cloneObj(cur)
	if c == nil {
		teamRef := ref("Organization", teamID)
		teamRef["display"] = team.name
		pat := ref("Patient", patientID)
		pat["display"] = displayName(p)
		c = obj{"resourceType": "Consent", "id": uuidFrom(d.rng), "patient": pat,
			"policyRule": "http://fhir.patientsknowbest.com/policy/opt-in",
			"actor":      []any{obj{"role": concept("", coding("http://hl7.org/fhir/v3/RoleCode", "CONSENTER", "")), "reference": teamRef}}}
	}
	c["dateTime"] = ts(now)
	c["status"] = "active"
	delete(c, "except")
	if len(labels) == 0 {
		c["status"] = "inactive"
	}
	var except []any
	for _, l := range labels {
		except = append(except, obj{"type": "permit", "securityLabel": []any{coding(SystemPrivacyLabel, string(l), "")}})
	}
	if len(except) > 0 {
		c["except"] = except
	}
	d.facade.put(c, now, "PUT", "")
	return nil
}

// rights is what one caller may see of one patient's record.
type rights struct {
	record  bool                  // may open the record (Patient, Consents)
	whole   bool                  // the patient: every data point
	labels  map[PrivacyLabel]bool // labels held
	authors map[string]bool       // what these teams or organisations added stays visible
	btg     bool                  // break-the-glass active
	// why the record is closed, for a refused read
	status int
	code   ResponseCode
	reason string
}

func (r rights) allLabels() bool {
	for _, l := range AllLabels() {
		if !r.labels[l] {
			return false
		}
	}
	return true
}

// sees reports whether the caller may see a resource of the record, of
// type typ with label, added by author.
func (r rights) sees(typ string, res obj, author string) bool {
	switch {
	case r.whole:
		return true
	case !isDataPoint(typ, res):
		return r.record
	case author != "" && r.authors[author]:
		return true
	case !r.record:
		return false
	}
	label := LabelOf(res)
	if label == LabelNotSet && r.allLabels() || label != LabelNotSet && r.labels[label] {
		return true
	}
	return r.btg && !btgHidden[typ]
}

// rightsOf works out a's rights on patient pid's record at now; the caller
// holds d.mu.
func (d *simData) rightsOf(a actor, pid string, now time.Time) rights {
	r := rights{labels: map[PrivacyLabel]bool{}, authors: map[string]bool{}}
	deny := func(status int, code ResponseCode, why string) rights {
		r.record, r.status, r.code, r.reason = false, status, code, why
		return r
	}
	org := d.patientOrg(pid)
	if org == "" {
		return deny(http.StatusNotFound, "", "no such patient")
	}
	switch a.kind {
	case "patient":
		if pid != a.patientID {
			return deny(http.StatusForbidden, CodeNoConsent, "a patient may only see their own record")
		}
		r.record, r.whole = true, true
	case "system", "customer":
		r.authors[a.orgID] = true
		for _, team := range d.teamsOfOrg(a.orgID) {
			r.authors[team] = true
			maps.Copy(r.labels, d.teamLabels(team, pid))
		}
		if org != a.orgID {
			r.authors = map[string]bool{}
			return deny(http.StatusForbidden, CodeNoAssociation, "the patient is not registered with the caller's organisation")
		}
		r.record = true
	default: // professionals: clinician, team coordinator, tethered
		if p := d.byID[pid]; p != nil && p.SharingDisabled {
			return deny(http.StatusForbidden, CodeSharingDisabled, "the patient has disabled sharing")
		}
		r.authors[a.teamID] = true
		r.labels = d.teamLabels(a.teamID, pid)
		if g, ok := d.btg[a.btgToken]; ok && a.btgToken != "" && g.practitioner == a.practitionerID && g.patient == pid && now.Before(g.until) {
			r.btg = true
		}
		r.record = len(r.labels) > 0 || r.btg || d.authoredAny(a.teamID, pid)
		if !r.record {
			return deny(http.StatusForbidden, CodeNoConsent, "the patient has not consented to share with this team and break-the-glass is not active")
		}
	}
	return r
}
