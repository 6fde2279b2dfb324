package pkbtest

import (
	"net/http"
	"slices"
)

// actor is who a request acts as, in PKB's terms.
type actor struct {
	kind           string // system, patient, clinician, teamcoord, customer
	orgID          string // system: X-Org-Public-Id
	patientID      string // patient
	practitionerID string // clinician, teamcoord
	teamID         string // clinician, teamcoord
}

// actorFor maps a token's grant to a PKB user. The scope decides the user
// type; the user id picks the seeded user of that type, falling back to the
// well-known one, so that any approval works out of the box.
func (d *simData) actorFor(g Grant, org string) actor {
	d.mu.RLock()
	defer d.mu.RUnlock()
	switch g.ClientType {
	case ClientTypeSystem:
		return actor{kind: "system", orgID: org}
	case ClientTypeCustomer:
		return actor{kind: "customer"}
	case ClientTypeTethered:
		return actor{kind: "teamcoord", practitionerID: SeedCoordinatorID, teamID: SeedTeamID}
	}
	id := d.users[g.UserID]
	switch {
	case g.HasScope(ScopePatient):
		if d.byID[id] == nil {
			id = SeedPatientID
		}
		return actor{kind: "patient", patientID: id}
	case g.HasScope(ScopeTeamCoord):
		return actor{kind: "teamcoord", practitionerID: SeedCoordinatorID, teamID: SeedTeamID}
	default:
		if id == "" || d.byID[id] != nil || id == SeedCoordinatorID {
			id = SeedClinicianID
		}
		return actor{kind: "clinician", practitionerID: id, teamID: SeedTeamID}
	}
}

// access decides whether a can see patient id's Facade record: a system
// sees its organisation's patients, a patient sees only themself, a
// clinician sees patients who consent to the clinician's team and have not
// disabled sharing. The caller holds d.mu.
func (d *simData) access(a actor, patientID string) (int, ResponseCode, string) {
	p := d.byID[patientID]
	if p == nil {
		return http.StatusNotFound, "", "no such patient"
	}
	switch a.kind {
	case "system":
		if p.OrgID != a.orgID {
			return http.StatusForbidden, CodeNoAssociation, "the patient is not registered with the organisation in X-Org-Public-Id"
		}
	case "patient":
		if p.ID != a.patientID {
			return http.StatusForbidden, CodeNoConsent, "a patient may only see their own record"
		}
	default:
		if p.SharingDisabled {
			return http.StatusForbidden, CodeSharingDisabled, "the patient has disabled sharing"
		}
		if !d.consents(p.ID, a.teamID) {
			return http.StatusForbidden, CodeNoConsent, "the patient has not consented to share with this team and break-the-glass is not active"
		}
	}
	return http.StatusOK, "", ""
}

func (d *simData) canSee(a actor, patientID string) bool {
	st, _, _ := d.access(a, patientID)
	return st == http.StatusOK
}

// consents reports whether the patient has an active Consent naming team.
func (d *simData) consents(patientID, team string) bool {
	for _, c := range d.facade.list("Consent") {
		if refID(c, "patient", "Patient") != patientID || str(c, "status") != "active" {
			continue
		}
		for _, a := range list(c, "actor") {
			ao, _ := a.(obj)
			if refID(ao, "reference", "Organization") == team {
				return true
			}
		}
	}
	return false
}

// patientOf returns the Patient id a Facade resource belongs to, or "".
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

// visible keeps the resources of patients a may see: PKB silently omits
// what the caller has no consent for instead of failing the search.
func (d *simData) visible(a actor, in []obj) []obj {
	return slices.DeleteFunc(slices.Clone(in), func(r obj) bool {
		pid := patientOf(r)
		return pid == "" || !d.canSee(a, pid)
	})
}
