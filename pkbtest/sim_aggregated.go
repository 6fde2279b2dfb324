package pkbtest

import (
	"fmt"
	"net/http"
	"sort"
	"time"
)

// aggregatedTypes are the types PKB aggregates; their Customer R4 data is
// visible on the Aggregated endpoint too (upstream to downstream).
var aggregatedTypes = []string{"Patient", "Appointment", "AllergyIntolerance", "Condition", "Encounter", "MedicationStatement", "MedicationRequest", "Observation", "QuestionnaireResponse"}

func aggregatedHandlers() map[string]handlerFunc {
	m := map[string]handlerFunc{
		"capabilities":             aggregatedCapabilities,
		"sendQuestionnaireRequest": aggregatedSendQuestionnaireRequest,
	}
	dateOf := map[string]func(obj) string{
		"Appointment": func(r obj) string { return str(r, "start") },
		"Encounter":   func(r obj) string { return str(objAt(r, "period"), "start") },
		"Observation": func(r obj) string { return str(r, "effectiveDateTime") },
	}
	for _, t := range aggregatedTypes {
		m["search"+t] = aggregatedSearch(t, dateOf[t])
		m["read"+t] = aggregatedRead(t)
	}
	return m
}

// aggregatedList is the seeded Aggregated data plus what customers posted
// to the Customer R4 endpoint; the caller holds d.mu.
func (d *simData) aggregatedList(typ string) []obj {
	return append(d.aggregated.list(typ), d.customer["r4"].list(typ)...)
}

func (d *simData) aggregatedGet(typ, id string) obj {
	if r, _ := d.aggregated.get(typ, id); r != nil {
		return r
	}
	r, _ := d.customer["r4"].get(typ, id)
	return r
}

func aggregatedCapabilities(c *call) {
	var res []any
	types := append([]string(nil), aggregatedTypes...)
	sort.Strings(types)
	for _, t := range types {
		res = append(res, obj{"type": t, "interaction": []any{obj{"code": "read"}, obj{"code": "search-type"}}})
	}
	c.ok(obj{"resourceType": "CapabilityStatement", "url": "http://fhir.patientsknowbest.com/capabilitystatement/aggregated",
		"status": "active", "date": day(seedEpoch), "kind": "instance", "fhirVersion": "4.0.1", "format": []any{"application/fhir+json", "json"},
		"publisher": "pkbtest (synthetic)", "rest": []any{obj{"mode": "server", "resource": res,
			"operation": []any{obj{"name": "send-questionnaire-request", "definition": "http://fhir.patientsknowbest.com/OperationDefinition/Questionnaire-i-send-questionnaire-request"}}}}})
}

func aggregatedRead(typ string) handlerFunc {
	return func(c *call) {
		d := c.s.data
		d.mu.RLock()
		res := d.aggregatedGet(typ, c.params["id"])
		d.mu.RUnlock()
		if res == nil {
			c.fail(http.StatusNotFound, "not-found", "", fmt.Sprintf("%s/%s is not known", typ, c.params["id"]))
			return
		}
		c.ok(res)
	}
}

// patientsWith returns the ids of aggregated Patients with an identifier
// matching the token value v; the caller holds d.mu.
func (d *simData) patientsWith(v string) map[string]bool {
	t := parseToken(v)
	out := map[string]bool{}
	for _, p := range d.aggregatedList("Patient") {
		if hasIdentifier(p, t) {
			out[str(p, "id")] = true
		}
	}
	return out
}

func aggregatedSearch(typ string, dateOf func(obj) string) handlerFunc {
	return func(c *call) {
		q := c.query
		d := c.s.data
		d.mu.RLock()
		defer d.mu.RUnlock()
		var patientSet map[string]bool
		for _, name := range []string{"subject:Patient.identifier", "actor:Patient.identifier", "patient:Patient.identifier"} {
			if v := q.Get(name); v != "" {
				patientSet = d.patientsWith(v)
			}
		}
		var basedOn map[string]bool
		if v := q.Get("based-on:ServiceRequest.identifier"); v != "" {
			t := parseToken(v)
			basedOn = map[string]bool{}
			for _, sr := range d.aggregatedList("ServiceRequest") {
				if hasIdentifier(sr, t) {
					basedOn[str(sr, "id")] = true
				}
			}
		}
		ident := q.Get("identifier")
		codeTextQ := q.Get("code:text")
		dates := dateParams(q, "date")
		updated := dateParams(q, "_lastUpdated")
		var out []obj
		for _, r := range d.aggregatedList(typ) {
			if patientSet != nil && !patientSet[patientOf(r)] {
				continue
			}
			if ident != "" && !hasIdentifier(r, parseToken(ident)) {
				continue
			}
			if codeTextQ != "" && !codeText(objAt(r, "code"), codeTextQ) {
				continue
			}
			if dateOf != nil && !allDates(dates, dateOf(r)) {
				continue
			}
			if !allDates(updated, str(objAt(r, "meta"), "lastUpdated")) {
				continue
			}
			if basedOn != nil {
				found := false
				for _, b := range list(r, "basedOn") {
					bo, _ := b.(obj)
					if basedOn[refTo(str(bo, "reference"), "ServiceRequest")] {
						found = true
					}
				}
				if !found {
					continue
				}
			}
			out = append(out, r)
		}
		c.writeSearch(out, nil)
	}
}

func aggregatedSendQuestionnaireRequest(c *call) {
	team := c.r.Header.Get("x-team-id")
	body, ok := c.parseBody()
	if !ok {
		return
	}
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	if o := d.orgs[team]; o == nil || o.parent == "" {
		c.fail(http.StatusForbidden, "forbidden", CodeNoAssociation, "x-team-id is not a team this client may act for")
		return
	}
	if c.params["id"] != SeedAggregatedQuestionnaireID {
		c.fail(http.StatusNotFound, "not-found", "", "Questionnaire/"+c.params["id"]+" is not an advanced questionnaire known to this team")
		return
	}
	var targets []string
	flag := ""
	for _, p := range list(body, "parameter") {
		po, _ := p.(obj)
		switch str(po, "name") {
		case "target":
			var pid string
			if id := objAt(po, "valueIdentifier"); id != nil {
				if pt := d.patientByIdentifier(id); pt != nil {
					pid = pt.ID
				}
			} else if r := objAt(po, "valueReference"); r != nil {
				if id := objAt(r, "identifier"); id != nil {
					if pt := d.patientByIdentifier(id); pt != nil {
						pid = pt.ID
					}
				} else {
					pid = refTo(str(r, "reference"), "Patient")
				}
			}
			if pid == "" || d.aggregatedGet("Patient", pid) == nil {
				c.fail(http.StatusBadRequest, "not-found", "", "a target is not a known patient", "Parameters.parameter")
				return
			}
			targets = append(targets, pid)
		case "notificationFlag":
			flag = str(po, "valueCode")
			if flag == "" {
				if b, ok := po["valueBoolean"].(bool); ok {
					flag = fmt.Sprint(b)
				}
			}
		}
	}
	if len(targets) == 0 {
		c.fail(http.StatusBadRequest, "required", "", "at least one target is required", "Parameters.parameter")
		return
	}
	if flag != "true" && flag != "false" {
		c.fail(http.StatusBadRequest, "required", "", "notificationFlag (valueCode true|false) is currently mandatory", "Parameters.parameter")
		return
	}
	var out []obj
	now := time.Now()
	for _, pid := range targets {
		id := uuidFrom(d.rng)
		d.aggregated.put(obj{"resourceType": "ServiceRequest", "id": id, "status": "active", "intent": "order",
			"subject": ref("Patient", pid), "requester": ref("Organization", team), "authoredOn": ts(now),
			"identifier": []any{obj{"system": "http://fhir.patientsknowbest.com/id/questionnaire-request", "value": id}},
			"code":       concept("Advanced questionnaire request: " + c.params["id"])}, now, "POST")
		out = append(out, obj{"name": "serviceRequest", "valueReference": ref("ServiceRequest", id)})
	}
	c.ok(parameters(out...))
}
