package pkbtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// teamsOf returns the aliases of an organisation's teams and its default
// team's alias (the first team seeded); the caller holds d.mu.
func (d *simData) teamsOf(org string) (aliases map[string]string, def string) {
	aliases = map[string]string{}
	for _, o := range d.orgs {
		if o.parent == org {
			aliases[o.alias] = o.id
		}
	}
	if org == SeedOrgPublicID {
		def = SeedTeamAlias
	}
	return aliases, def
}

// patientProcessMessage is PKB's custom create-or-update of one Patient.
func patientProcessMessage(c *call) {
	p, ok := c.parseBody()
	if !ok {
		return
	}
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	res, errs := d.upsertPatient(p, c.actor.orgID)
	if len(errs) > 0 {
		c.invalid(errs)
		return
	}
	c.ok(res)
}

// upsertPatient applies PKB's Messaging rules to a Patient and creates or
// updates the Facade (and Aggregated) patient; the caller holds d.mu.
func (d *simData) upsertPatient(p obj, org string) (obj, []validationIssue) {
	var errs []validationIssue
	bad := func(where, what string) { errs = append(errs, validationIssue{where: where, what: what}) }
	names := list(p, "name")
	var name obj
	if len(names) > 0 {
		name, _ = names[0].(obj)
	}
	given := ""
	if g := list(name, "given"); len(g) > 0 {
		given, _ = g[0].(string)
	}
	given = strings.TrimSpace(given)
	family := strings.TrimSpace(str(name, "family"))
	if given == "" {
		bad("Patient.name[0].given[0]", "the given name is required")
	}
	if family == "" {
		bad("Patient.name[0].family", "the family name is required")
	}
	birth := str(p, "birthDate")
	if birth == "" {
		bad("Patient.birthDate", "the date of birth is required")
	} else if _, err := time.Parse("2006-01-02", birth); err != nil {
		bad("Patient.birthDate", "the date of birth must be a full date (YYYY-MM-DD)")
	}
	gender := str(p, "gender")
	if !slices.Contains([]string{"male", "female", "other", "unknown"}, gender) {
		bad("Patient.gender", "gender is required (male, female, other or unknown)")
	}
	nhs := ""
	for _, i := range list(p, "identifier") {
		io, _ := i.(obj)
		if str(io, "system") == SystemNHSNumber {
			nhs = strings.ReplaceAll(str(io, "value"), " ", "")
			if !ValidNHSNumber(nhs) {
				bad("Patient.identifier", fmt.Sprintf("%q is not a valid NHS number (Modulus 11)", nhs))
			}
		}
	}
	aliases, def := d.teamsOf(org)
	var teams []string
	for _, e := range list(p, "extension") {
		eo, _ := e.(obj)
		if str(eo, "url") != ExtTeamAlias {
			continue
		}
		a := str(eo, "valueString")
		if aliases[a] == "" {
			bad("Patient.extension", fmt.Sprintf("team alias %q is not a team of the sending organisation", a))
			continue
		}
		teams = append(teams, a)
	}
	if len(teams) > 0 && !slices.Contains(teams, def) {
		bad("Patient.extension", fmt.Sprintf("when team-alias is given, one must be the sender's default team %q", def))
	}
	if len(errs) > 0 {
		return nil, errs
	}

	email := ""
	for _, t := range list(p, "telecom") {
		to, _ := t.(obj)
		if str(to, "system") == "email" && email == "" {
			email = strings.TrimSpace(str(to, "value"))
		}
	}
	// Update the sender's own account with the number; another
	// organisation's account is not the sender's to change, so a new one
	// is created beside it (PKB allows several accounts per national id).
	pat := d.accountOf(nhs, org)
	if pat != nil && pat.OrgID != org {
		pat = nil
	}
	if nhs == "" || pat == nil {
		d.nextREST++
		if nhs == "" {
			nhs = testNHSNumber(d.rng, d.byNHS)
		}
		pat = &SeedPatient{ID: uuidFrom(d.rng), NHSNumber: nhs, RESTID: fmt.Sprint(d.nextREST), OrgID: org}
		d.addPatient(pat)
	}
	pat.Given, pat.Family, pat.BirthDate, pat.Gender = given, family, birth, gender
	if email != "" {
		pat.Email = email
	}
	if dt := str(p, "deceasedDateTime"); dt != "" {
		pat.Deceased = true
	} else if b, ok := p["deceasedBoolean"].(bool); ok {
		pat.Deceased = b
	}
	now := time.Now()
	cur, _ := d.facade.get("Patient", pat.ID)
	stored := d.facade.put(messagedPatient(cur, p, pat), now, "PUT", "")
	d.aggregated.put(aggregatedPatient(pat), now, "PUT", "")
	// Join the default team when no alias is given: the patient becomes
	// visible to its clinicians through a consent.
	if !d.consents(pat.ID, SeedTeamID) && org == SeedOrgPublicID {
		team := ref("Organization", SeedTeamID)
		d.facade.put(obj{"resourceType": "Consent", "id": uuidFrom(d.rng), "status": "active", "patient": ref("Patient", pat.ID),
			"dateTime": ts(now), "policyRule": "http://fhir.patientsknowbest.com/policy/opt-in",
			"actor":  []any{obj{"role": concept("", coding("http://hl7.org/fhir/v3/RoleCode", "CONSENTER", "")), "reference": team}},
			"except": []any{obj{"type": "permit", "securityLabel": []any{coding(SystemPrivacyLabel, "GENERAL_HEALTH", "")}}}}, now, "POST", "")
	}
	return stored, nil
}

// processMessageAsync is the roadmap FHIR-standard $process-message: light
// validation answers at once (202, no body); the patient is then created or
// updated, as PKB would do later. Failures of the later stage are kept for
// MessageOutcomes, since the simulator cannot call back a client endpoint.
func processMessageAsync(c *call) {
	b, ok := c.parseBody()
	if !ok {
		return
	}
	if str(b, "type") != "message" {
		c.fail(http.StatusBadRequest, "invalid", "", "the Bundle must have type message", "Bundle.type")
		return
	}
	ident := str(objAt(b, "identifier"), "value")
	if ident == "" {
		c.fail(http.StatusBadRequest, "required", "", "Bundle.identifier.value is required (PKB detects duplicates by it)", "Bundle.identifier")
		return
	}
	entries := list(b, "entry")
	var header, patient obj
	for i, e := range entries {
		eo, _ := e.(obj)
		r := objAt(eo, "resource")
		switch {
		case i == 0 && str(r, "resourceType") == "MessageHeader":
			header = r
		case str(r, "resourceType") == "Patient" && patient == nil:
			patient = r
		}
	}
	if header == nil {
		c.fail(http.StatusBadRequest, "invalid", "", "entry[0] must be a MessageHeader", "Bundle.entry[0].resource")
		return
	}
	event := objAt(header, "event")
	if str(event, "code") != "create-or-update-patient" {
		c.fail(http.StatusBadRequest, "not-supported", "", "only the event create-or-update-patient is supported", "Bundle.entry[0].resource.event")
		return
	}
	key := c.grant.ClientID + "|" + ident
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.messageIDs[key] {
		c.fail(http.StatusBadRequest, "duplicate", "", "a message with this Bundle.identifier was already received from this sender", "Bundle.identifier")
		return
	}
	d.messageIDs[key] = true
	outcome := MessageOutcome{BundleIdentifier: ident, Code: "ok"}
	switch {
	case patient == nil:
		outcome.Code, outcome.Issues = "fatal-error", []string{"the message has no Patient"}
	case !hasODS(patient, c.s.data.orgs[c.actor.orgID]):
		outcome.Code, outcome.Issues = "fatal-error", []string{"Patient.meta.tag must carry the sending organisation's ODS code (system " + SystemODSCode + ")"}
	default:
		if res, errs := d.upsertPatient(patient, c.actor.orgID); len(errs) > 0 {
			outcome.Code = "fatal-error"
			for _, e := range errs {
				outcome.Issues = append(outcome.Issues, e.where+": "+e.what)
			}
		} else {
			outcome.PatientID = str(res, "id")
		}
	}
	c.s.mu.Lock()
	c.s.outcomes = append(c.s.outcomes, outcome)
	c.s.mu.Unlock()
	c.status = http.StatusAccepted
	c.w.WriteHeader(http.StatusAccepted)
}

// messagedPatient is the Facade Patient after a create-or-update: what the
// message sent, trimmed, and nothing more (docs/pkb-api.md §2.2, §5.2):
// fields the message omits keep their stored value (none for a new
// patient), only the first email is kept, and the simulator invents
// nothing. The profile, the sharing-disabled extension and the identifiers
// are PKB's own (not settable by a message).
func messagedPatient(cur, sent obj, pat *SeedPatient) obj {
	res := cloneObj(cur)
	if res == nil {
		res = obj{"resourceType": "Patient", "id": pat.ID,
			"meta":       obj{"profile": []any{"http://fhir.patientsknowbest.com/structuredefinition/facade-patient"}},
			"extension":  []any{obj{"url": ExtSharingDisabled, "valueBoolean": false}},
			"identifier": nationalIdentifiers(pat)}
	}
	res["meta"] = obj{"profile": []any{"http://fhir.patientsknowbest.com/structuredefinition/facade-patient"}}
	if names := list(sent, "name"); len(names) > 0 {
		n, _ := trimmed(names[0]).(obj)
		name := obj{}
		for _, k := range []string{"family", "given", "prefix"} {
			if v, ok := n[k]; ok {
				name[k] = v
			}
		}
		res["name"] = []any{name}
	}
	for _, k := range []string{"gender", "birthDate"} {
		if v, ok := sent[k]; ok {
			res[k] = trimmed(v)
		}
	}
	if a := list(sent, "address"); len(a) > 0 {
		res["address"] = trimmed(a)
	}
	if tel := list(sent, "telecom"); len(tel) > 0 {
		var keep []any
		email := false
		for _, t := range trimmed(tel).([]any) {
			if to, _ := t.(obj); str(to, "system") == "email" {
				if email {
					continue // "Only one email address is processed"
				}
				email = true
			}
			keep = append(keep, t)
		}
		res["telecom"] = keep
	}
	switch {
	case sent["deceasedDateTime"] != nil:
		delete(res, "deceasedBoolean")
		res["deceasedDateTime"] = sent["deceasedDateTime"]
	case sent["deceasedBoolean"] != nil:
		delete(res, "deceasedDateTime")
		res["deceasedBoolean"] = sent["deceasedBoolean"]
	case res["deceasedDateTime"] == nil && res["deceasedBoolean"] == nil:
		res["deceasedBoolean"] = false // PKB: deceasedDateTime when known, else deceasedBoolean
	}
	return res
}

// trimmed copies JSON with leading and trailing whitespace removed from
// every string, as PKB does to what a message sends.
func trimmed(v any) any {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = trimmed(e)
		}
		return out
	case obj:
		out := make(obj, len(x))
		for k, e := range x {
			out[k] = trimmed(e)
		}
		return out
	}
	return v
}

func hasODS(p obj, org *seedOrg) bool {
	if org == nil {
		return false
	}
	for _, t := range list(objAt(p, "meta"), "tag") {
		to, _ := t.(obj)
		if str(to, "system") == SystemODSCode && str(to, "code") == org.ods {
			return true
		}
	}
	return false
}

// MessageOutcome is the application-level result of one asynchronous
// $process-message, which PKB would send to the client's own inbound
// endpoint.
type MessageOutcome struct {
	// BundleIdentifier is the message's Bundle.identifier.value.
	BundleIdentifier string
	// Code is ok or fatal-error (FHIR response-code).
	Code string
	// Issues explains a fatal-error.
	Issues []string
	// PatientID is the created or updated patient, on success.
	PatientID string
}

// MessageOutcomes returns the outcomes of the asynchronous messages
// accepted so far, oldest first.
func (s *Simulator) MessageOutcomes() []MessageOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.outcomes)
}
