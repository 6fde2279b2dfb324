package pkbtest

import (
	"net/http"
	"time"
)

// actor is who a request acts as, in PKB's terms.
type actor struct {
	kind           string // system, patient, clinician, teamcoord, customer
	orgID          string // system: X-Org-Public-Id; customer: the client's organisation
	patientID      string // patient
	practitionerID string // clinician, teamcoord
	teamID         string // clinician, teamcoord
	btgToken       string // the breaktheglass header, if any
}

// actorFor maps a token's grant to a PKB user. The scope decides the user
// type; the user id picks the seeded user of that type, falling back to the
// well-known one, so that any approval works out of the box. org is the
// organisation a System Client acts for (X-Org-Public-Id) or a Customer
// client belongs to.
func (d *simData) actorFor(g Grant, org string) actor {
	d.mu.RLock()
	defer d.mu.RUnlock()
	switch g.ClientType {
	case ClientTypeSystem:
		return actor{kind: "system", orgID: org}
	case ClientTypeCustomer:
		return actor{kind: "customer", orgID: org}
	case ClientTypeTethered:
		return actor{kind: "teamcoord", practitionerID: SeedCoordinatorID, teamID: d.practTeam[SeedCoordinatorID]}
	}
	id := d.users[g.UserID]
	switch {
	case g.HasScope(ScopePatient):
		if d.byID[id] == nil {
			id = SeedPatientID
		}
		return actor{kind: "patient", patientID: id}
	case g.HasScope(ScopeTeamCoord):
		return actor{kind: "teamcoord", practitionerID: SeedCoordinatorID, teamID: d.practTeam[SeedCoordinatorID]}
	default:
		if d.practTeam[id] == "" || id == SeedCoordinatorID {
			id = SeedClinicianID
		}
		return actor{kind: "clinician", practitionerID: id, teamID: d.practTeam[id]}
	}
}

// consents reports whether the patient has an active Consent naming team;
// the caller holds d.mu.
func (d *simData) consents(patientID, team string) bool {
	return len(d.teamLabels(team, patientID)) > 0
}

// patientOf returns the Patient id a resource belongs to, or "".
func patientOf(res obj) string {
	switch str(res, "resourceType") {
	case "Patient":
		return str(res, "id")
	case "Consent":
		return refID(res, "patient", "Patient")
	case "Appointment":
		for _, p := range list(res, "participant") {
			po, _ := p.(obj)
			if id := refID(po, "actor", "Patient"); id != "" {
				return id
			}
		}
		return ""
	case "AllergyIntolerance":
		return refID(res, "patient", "Patient")
	}
	if id := refID(res, "subject", "Patient"); id != "" {
		return id
	}
	return refID(res, "patient", "Patient") // Device, Immunization, EpisodeOfCare, ...
}

// rightsOn returns the caller's rights on a patient's record, worked out
// once per request; the caller holds d.mu.
func (c *call) rightsOn(pid string) rights {
	if r, ok := c.rights[pid]; ok {
		return r
	}
	if c.rights == nil {
		c.rights = map[string]rights{}
	}
	r := c.s.data.rightsOf(c.actor, pid, time.Now())
	c.rights[pid] = r
	return r
}

// may reports whether the caller may see res, added by author; a resource
// of no patient's record (an Organization, a Questionnaire) is open to
// all. The caller holds d.mu.
func (c *call) may(res obj, author string) bool {
	pid := patientOf(res)
	if pid == "" {
		return true
	}
	return c.rightsOn(pid).sees(str(res, "resourceType"), res, author)
}

// mayFacade is may for a Facade resource.
func (c *call) mayFacade(res obj) bool {
	return c.may(res, c.s.data.facade.author(str(res, "resourceType"), str(res, "id")))
}

// refuseRead answers a read of res that the caller may not see with 403
// and PKB's code and reports true; it reports false when the read may go
// ahead. The caller holds d.mu.
func (c *call) refuseRead(res obj, author string) bool {
	if c.may(res, author) {
		return false
	}
	r := c.rightsOn(patientOf(res))
	switch {
	case r.status != 0 && !r.record:
		if r.status == http.StatusNotFound {
			c.fail(http.StatusNotFound, "not-found", "", str(res, "resourceType")+"/"+str(res, "id")+" is not known")
			return true
		}
		c.fail(r.status, "forbidden", r.code, r.reason)
	default:
		c.fail(http.StatusForbidden, "forbidden", CodeNoConsent, "the caller holds no privacy label that shows this data point, and break-the-glass is not active")
	}
	return true
}
