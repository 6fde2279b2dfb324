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

// restUser renders a patient as the REST API's User in the shape of PKB's
// real /users/self sample (docs/pkb-api.md §2.5): userType null even for a
// patient, gender "M"/"F", genderMF lower case, the national id named "NHS
// number" for GB-ENG and GB-WLS, a boolean patient, null for what is not
// known and "" for empty text. The caller holds d.mu.
func restUser(p *SeedPatient) obj {
	sex := map[string]string{"male": "M", "female": "F", "other": "I", "unknown": "U"}[p.Gender]
	u := obj{"id": p.RESTID, "userType": nil, "title": "", "firstName": p.Given, "lastName": p.Family,
		"dateDeceased": nil, "gender": sex, "genderMF": strings.ToLower(sex),
		"email": "", "phone": "", "address1": "", "address2": "", "city": "Testtown", "state": "",
		"postalCode": "TE5 7AA", "country": "GB-ENG", "jobTitle": nil, "organizationName": nil, "teamName": nil,
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

// restBreakTheGlass grants the calling clinician's team break-the-glass on
// a patient for 30 minutes and returns the (assumed) BTG token.
func restBreakTheGlass(c *call) {
	d := c.s.data
	d.mu.RLock()
	p := d.byREST[c.params["patientId"]]
	d.mu.RUnlock()
	if p == nil {
		c.fail(http.StatusNotFound, "not-found", "", "Patient not found")
		return
	}
	until := time.Now().UTC().Add(30 * time.Minute)
	c.ok(obj{"token": rand.Text(), "validUntil": until.Format(time.RFC3339),
		"message": fmt.Sprintf("Consent levels set to BTG against patient (%s) for requestor (%s) valid until %s", p.RESTID, c.query.Get("userId"), until.Format("02:15:04:05"))})
}

func restGetSelf(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	switch c.actor.kind {
	case "patient":
		c.ok(restUser(d.byID[c.actor.patientID]))
	case "teamcoord":
		c.ok(d.restUsers[SeedCoordinatorRESTID])
	default:
		u := d.restUsers[SeedClinicianRESTID]
		if c.actor.practitionerID != SeedClinicianID {
			u = cloneObj(u)
			u["id"] = c.actor.practitionerID
		}
		c.ok(u)
	}
}

func restUserByNHS(c *call) {
	nhs := c.params["nationalId"]
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	p := d.byNHS[nhs]
	if !ValidNHSNumber(nhs) {
		c.fail(http.StatusBadRequest, "invalid", "", "not a valid NHS number (Modulus 11 check digit)")
		return
	}
	if p == nil || p.OrgID != SeedOrgPublicID {
		c.fail(http.StatusNotFound, "not-found", "", "no patient with that NHS number is visible to you")
		return
	}
	c.ok(restUser(p))
}

// restPatient resolves a numeric REST patient id that the professional
// caller may see; it writes the error otherwise. The caller holds d.mu.
func (c *call) restPatient(id string) *SeedPatient {
	d := c.s.data
	p := d.byREST[id]
	if p == nil {
		c.fail(http.StatusNotFound, "not-found", "", "no patient with id "+id)
		return nil
	}
	if status, code, why := d.access(actor{kind: c.actor.kind, teamID: SeedTeamID}, p.ID); status != http.StatusOK {
		c.fail(status, "forbidden", code, why)
		return nil
	}
	return p
}

func restRecordAccessToken(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	if c.restPatient(c.params["userId"]) == nil {
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
	c.ok(stored)
}

func (c *call) measurementsOf(restID string, refs []string) []any {
	out := []any{}
	for _, m := range c.s.data.measures[restID] {
		if len(refs) == 0 || slices.Contains(refs, str(m, "apiRef")) {
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
	c.ok(c.measurementsOf(d.byID[c.actor.patientID].RESTID, []string{c.params["type"]}))
}

func restListMeasurements(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	c.ok(c.measurementsOf(d.byID[c.actor.patientID].RESTID, c.query["apiRefs"]))
}

func restPatientMeasurements(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	p := c.restPatient(c.params["patientId"])
	if p == nil {
		return
	}
	c.ok(c.measurementsOf(p.RESTID, c.query["apiRefs"]))
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
