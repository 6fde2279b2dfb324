package pkbtest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// measureMeta is what the privacy rules need of a REST measurement, which
// carries neither in its JSON: its label and who added it ("" for the
// patient).
type measureMeta struct {
	label PrivacyLabel
	by    string
}

// restUser renders a patient as the REST API's User in the shape of PKB's
// real /users/self sample (docs/pkb-api.md §2.5): userType null even for a
// patient, gender "M"/"F", genderMF lower case, the national id named "NHS
// number" for GB-ENG and GB-WLS, a boolean patient, null for what is not
// known and "" for empty text. The caller holds d.mu.
//
// The address and phone are the patient's Facade record's: a patient created
// through Messaging without them has none here either.
func (d *simData) restUser(p *SeedPatient) obj {
	sex := map[string]string{"male": "M", "female": "F", "other": "I", "unknown": "U"}[p.Gender]
	var line []any
	var city, state, postal, phone string
	if res, _ := d.facade.get("Patient", p.ID); res != nil {
		if addrs := list(res, "address"); len(addrs) > 0 {
			a, _ := addrs[0].(obj)
			line = list(a, "line")
			city, state, postal = str(a, "city"), str(a, "state"), str(a, "postalCode")
		}
		for _, t := range list(res, "telecom") {
			if to, _ := t.(obj); str(to, "system") == "phone" && phone == "" {
				phone = str(to, "value")
			}
		}
	}
	lineAt := func(i int) string {
		if i < len(line) {
			v, _ := line[i].(string)
			return v
		}
		return ""
	}
	u := obj{"id": p.RESTID, "userType": nil, "title": "", "firstName": p.Given, "lastName": p.Family,
		"dateDeceased": nil, "gender": sex, "genderMF": strings.ToLower(sex),
		"email": "", "phone": phone, "address1": lineAt(0), "address2": lineAt(1), "city": city, "state": state,
		"postalCode": postal, "country": "GB-ENG", "jobTitle": nil, "organizationName": nil, "teamName": nil,
		"nationalIds": []any{obj{"value": p.NHSNumber, "name": "NHS number", "countryCodes": []any{"GB-ENG", "GB-WLS"}}},
		"orgLevelIds": nil, "teamLevelIds": nil, "contacts": []any{}, "patient": true}
	if p.BirthDate != "" {
		u["dob"] = p.BirthDate
	}
	if p.Deceased {
		u["dateDeceased"] = "2023-11-05"
	}
	if p.Email != "" {
		u["email"] = p.Email
		u["contacts"] = []any{obj{"id": "1" + p.RESTID, "contactType": "EMAIL", "contactValue": p.Email, "phoneUseType": nil, "primary": true, "confirmed": p.Registered}}
	}
	return u
}

// restBreakTheGlass breaks the glass for the calling professional on a
// patient of their organisation for BreakTheGlassDuration and returns the
// (assumed) BTG token. Later calls about that patient that send the token
// in a breaktheglass header see every privacy label but Conditions,
// Medications and Appointments (docs/pkb-api.md §2.5, §3.7).
func restBreakTheGlass(c *call) {
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.btgOff[c.actor.practitionerID] {
		// PKB's words for a user who may not break the glass (docs/pkb-api.md
		// §2.5); the user type shown is the caller's. INFERRED: that a
		// clinician without BTG enabled gets the same 401 as a patient.
		c.w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		c.status = http.StatusUnauthorized
		c.w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(c.w, "Login context is null. Error opening authorization request with supplied tokenHeader. Method requires a user within scope(s) CLINICIAN and BTG functionality enabled but current user is of UserType %s",
			strings.ToUpper(c.actor.kind))
		return
	}
	p := d.byREST[c.params["patientId"]]
	if p == nil || p.OrgID != d.orgOf(c.actor.teamID) {
		c.fail(http.StatusNotFound, "not-found", "", "Patient not found")
		return
	}
	until := time.Now().UTC().Add(BreakTheGlassDuration)
	token := rand.Text()
	d.btg[token] = btgGrant{practitioner: c.actor.practitionerID, team: c.actor.teamID, patient: p.ID, until: until}
	c.ok(obj{"token": token, "validUntil": until.Format(time.RFC3339),
		"message": fmt.Sprintf("Consent levels set to BTG against patient (%s) for requestor (%s) valid until %s", p.RESTID, c.query.Get("userId"), until.Format("02:15:04:05"))})
}

func restGetSelf(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	switch c.actor.kind {
	case "patient":
		c.ok(d.restUser(d.byID[c.actor.patientID]))
	case "teamcoord":
		c.ok(d.restUsers[SeedCoordinatorRESTID])
	default:
		c.ok(d.restUsers[d.practREST[c.actor.practitionerID]])
	}
}

func restUserByNHS(c *call) {
	nhs := c.params["nationalId"]
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	if !ValidNHSNumber(nhs) {
		c.fail(http.StatusBadRequest, "invalid", "", "not a valid NHS number (Modulus 11 check digit)")
		return
	}
	// The first account of the caller's organisation: the REST call
	// returns one user although PKB allows several per national id.
	org := d.orgOf(c.actor.teamID)
	p := d.accountOf(nhs, org)
	if p == nil || p.OrgID != org {
		c.fail(http.StatusNotFound, "not-found", "", "no patient with that NHS number is visible to you")
		return
	}
	c.ok(d.restUser(p))
}

// restPatient resolves a numeric REST patient id whose record the
// professional caller may open (consent, break-the-glass or data its team
// added, docs/pkb-api.md §3.7); it writes the error otherwise. The caller
// holds d.mu.
func (c *call) restPatient(id string) (*SeedPatient, rights) {
	d := c.s.data
	p := d.byREST[id]
	if p == nil {
		c.fail(http.StatusNotFound, "not-found", "", "no patient with id "+id)
		return nil, rights{}
	}
	r := c.rightsOn(p.ID)
	if !r.record {
		c.fail(r.status, "forbidden", r.code, r.reason)
		return nil, r
	}
	return p, r
}

func restRecordAccessToken(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	if p, _ := c.restPatient(c.params["userId"]); p == nil {
		return
	}
	c.ok(obj{"invitationCode": randomCode(), "decryptionToken": randomCode(), "expiry": time.Now().UTC().AddDate(0, 0, 30).Format(time.RFC3339)})
}

func apiRef(ref string) *measurementRef {
	for i := range measurementRefs {
		if measurementRefs[i].ref == ref {
			return &measurementRefs[i]
		}
	}
	return nil
}

func restCreateMeasurement(c *call) {
	m, ok := c.parseBody()
	if !ok {
		return
	}
	ar := apiRef(str(m, "apiRef"))
	if ar == nil {
		c.fail(http.StatusBadRequest, "invalid", "", "apiRef must be one of the types listed by /v2-beta/measurements/apiRefs")
		return
	}
	if _, err := strconv.ParseFloat(str(m, "value"), 64); err != nil {
		c.fail(http.StatusBadRequest, "invalid", "", "value must be a number (as a string)")
		return
	}
	if u := str(m, "unit"); u != "" && !slices.Contains(ar.units, u) {
		c.fail(http.StatusBadRequest, "invalid", "", "unit must be one of "+strings.Join(ar.units, ", "))
		return
	}
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.byID[c.actor.patientID]
	d.nextMeasure++
	stored := cloneObj(m)
	stored["id"] = strconv.Itoa(8000000 + d.nextMeasure)
	if str(stored, "unit") == "" {
		stored["unit"] = ar.units[0]
	}
	if str(stored, "timestamp") == "" {
		stored["timestamp"] = ts(time.Now())
	}
	d.measures[p.RESTID] = append(d.measures[p.RESTID], stored)
	d.measureMeta[str(stored, "id")] = measureMeta{label: LabelGeneralHealth} // PKB's default label; the patient added it
	c.ok(stored)
}

// measurementsOf lists a patient's measurements of the given types that
// viewer may see (labels and authorship as for FHIR data points); the
// caller holds d.mu.
func (c *call) measurementsOf(restID string, refs []string, viewer rights) []any {
	out := []any{}
	for _, m := range c.s.data.measures[restID] {
		meta := c.s.data.measureMeta[str(m, "id")]
		dp := obj{"resourceType": "Measurement", "subject": obj{"reference": "Patient/" + c.s.data.byREST[restID].ID}}
		if meta.label != LabelNotSet && meta.label != "" {
			dp["meta"] = privacy(string(meta.label))
		}
		if (len(refs) == 0 || slices.Contains(refs, str(m, "apiRef"))) && viewer.sees("Measurement", dp, meta.by) {
			out = append(out, m)
		}
	}
	return out
}

func restMeasurementsByType(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	if apiRef(c.params["type"]) == nil {
		c.fail(http.StatusNotFound, "not-found", "", "unknown measurement type "+c.params["type"])
		return
	}
	c.ok(c.measurementsOf(d.byID[c.actor.patientID].RESTID, []string{c.params["type"]}, c.rightsOn(c.actor.patientID)))
}

func restListMeasurements(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	c.ok(c.measurementsOf(d.byID[c.actor.patientID].RESTID, c.query["apiRefs"], c.rightsOn(c.actor.patientID)))
}

func restPatientMeasurements(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	p, r := c.restPatient(c.params["patientId"])
	if p == nil {
		return
	}
	c.ok(c.measurementsOf(p.RESTID, c.query["apiRefs"], r))
}

func restAPIRefs(c *call) {
	var out []any
	for _, m := range measurementRefs {
		var units []any
		for _, u := range m.units {
			units = append(units, u)
		}
		out = append(out, obj{"name": m.name, "ref": m.ref, "category": m.category, "units": units})
	}
	c.ok(out)
}
