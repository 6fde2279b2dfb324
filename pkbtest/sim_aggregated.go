package pkbtest

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/access"
)

// aggregatedTypes are the types the Aggregated document declares (a search
// and a read each, generated from PKB's "Aggregated Endpoint API
// Requirements" table); their Customer R4 data is visible on the Aggregated
// endpoint too (upstream to downstream).
var aggregatedTypes = func() []string {
	var out []string
	for _, op := range access.Operations() {
		if op.Family == access.FamilyAggregated && op.Method == http.MethodGet && op.ID == "search"+strings.TrimPrefix(op.Path, "/") {
			out = append(out, strings.TrimPrefix(op.Path, "/"))
		}
	}
	return out
}()

// questionnaireRequestSystem is the identifier system of the ServiceRequest
// an advanced questionnaire request creates (PKB's example ServiceRequest,
// docs/pkb-api.md §2.4); its value is the Questionnaire id.
const questionnaireRequestSystem = "http://hl7.org/fhir/R4/questionnaire"

func aggregatedHandlers() map[string]handlerFunc {
	m := map[string]handlerFunc{
		"capabilities":             aggregatedCapabilities,
		"sendQuestionnaireRequest": aggregatedSendQuestionnaireRequest,
		"consentCarers":            aggregatedCarers,
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

// aggregatedAuthor is who added an Aggregated resource; the caller holds
// d.mu.
func (d *simData) aggregatedAuthor(typ, id string) string {
	if d.aggregated.rec(typ, id) != nil {
		return d.aggregated.author(typ, id)
	}
	return d.customer["r4"].author(typ, id)
}

// mayAgg is may for an Aggregated resource; the caller holds d.mu.
func (c *call) mayAgg(res obj) bool {
	return c.may(res, c.s.data.aggregatedAuthor(str(res, "resourceType"), str(res, "id")))
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
		defer d.mu.RUnlock()
		res := d.aggregatedGet(typ, c.params["id"])
		if res == nil {
			c.fail(http.StatusNotFound, "not-found", "", fmt.Sprintf("%s/%s is not known", typ, c.params["id"]))
			return
		}
		// The organisation's patients only, through the union of its
		// teams' labels (docs/pkb-api.md §2.4, §3.7).
		if c.refuseRead(res, d.aggregatedAuthor(typ, c.params["id"])) {
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
		if typ == "Questionnaire" {
			if !c.teamHeader() {
				return
			}
		}
		d.mu.RLock()
		defer d.mu.RUnlock()
		var patientSet map[string]bool
		for name, vs := range q {
			if strings.HasSuffix(name, ":Patient.identifier") && len(vs) > 0 {
				patientSet = d.patientsWith(vs[0])
			}
		}
		ids := q["_id"]
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
			// Patients outside the organisation, and data points its teams
			// hold no label for, are silently left out.
			if patientSet != nil && !patientSet[patientOf(r)] || !c.mayAgg(r) {
				continue
			}
			if len(ids) > 0 && !slices.Contains(ids, str(r, "id")) {
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
		var included []obj
		if typ == "QuestionnaireResponse" && q.Get("_include") == "QuestionnaireResponse:based-on" {
			// The only way to read an advanced-questionnaire ServiceRequest.
			seen := map[string]bool{}
			for _, r := range out {
				for _, b := range list(r, "basedOn") {
					bo, _ := b.(obj)
					id := refTo(str(bo, "reference"), "ServiceRequest")
					if sr := d.aggregatedGet("ServiceRequest", id); sr != nil && !seen[id] && c.mayAgg(sr) {
						seen[id] = true
						included = append(included, sr)
					}
				}
			}
		}
		c.writeSearch(out, included)
	}
}

// teamHeader checks x-team-id names a team (not an organisation) this
// Customer client may act for; it writes the refusal otherwise.
func (c *call) teamHeader() bool {
	team := c.r.Header.Get("x-team-id")
	d := c.s.data
	d.mu.RLock()
	o := d.orgs[team]
	d.mu.RUnlock()
	if o == nil || o.parent == "" {
		c.fail(http.StatusForbidden, "forbidden", CodeNoAssociation, "x-team-id is not a team this client may act for")
		return false
	}
	return true
}

// aggregatedCarers serves Consent/$carers: per carer of the selected
// patient, the Consent naming the carer and the carer's Patient.
func aggregatedCarers(c *call) {
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	patients := d.patientsWith(c.query.Get("patient:Patient.identifier"))
	for pid := range patients {
		if !c.rightsOn(pid).record {
			delete(patients, pid)
		}
	}
	if len(patients) == 0 {
		c.fail(http.StatusNotFound, "not-found", "", "no patient with that identifier is in your organisation")
		return
	}
	var out, included []obj
	for _, cs := range d.aggregated.list("Consent") {
		pid := refID(cs, "patient", "Patient")
		if !patients[pid] || str(cs, "status") != "active" {
			continue
		}
		// The carer's labels that the organisation also holds; no overlap,
		// no carer (docs/pkb-api.md §2.4).
		held := c.rightsOn(pid).labels
		var shared []any
		for _, l := range list(objAt(cs, "provision"), "securityLabel") {
			if lo, _ := l.(obj); str(lo, "system") == SystemPrivacyLabel && held[PrivacyLabel(str(lo, "code"))] {
				shared = append(shared, l)
			}
		}
		if len(shared) == 0 {
			continue
		}
		cs = cloneObj(cs)
		objAt(cs, "provision")["securityLabel"] = shared
		out = append(out, cs)
		for _, a := range list(objAt(cs, "provision"), "actor") {
			ao, _ := a.(obj)
			if carer := d.aggregatedGet("Patient", refID(ao, "reference", "Patient")); carer != nil {
				included = append(included, carer)
			}
		}
	}
	c.writeSearch(append(out, included...), nil)
}

func aggregatedSendQuestionnaireRequest(c *call) {
	if !c.teamHeader() {
		return
	}
	team := c.r.Header.Get("x-team-id")
	body, ok := c.parseBody()
	if !ok {
		return
	}
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	if c.params["id"] != SeedAggregatedQuestionnaireID {
		c.fail(http.StatusNotFound, "not-found", "", "Questionnaire/"+c.params["id"]+" is not an advanced questionnaire known to this team")
		return
	}
	var targets []string
	var additional obj
	nTargets, nAdditional := 0, 0
	for _, p := range list(body, "parameter") {
		po, _ := p.(obj)
		switch str(po, "name") {
		case "target":
			nTargets++
			pid := ""
			if r := objAt(po, "valueReference"); r != nil {
				if id := objAt(r, "identifier"); id != nil {
					if pt := d.patientByIdentifier(id, c.actor.orgID); pt != nil {
						pid = pt.ID
					}
				} else {
					pid = refTo(str(r, "reference"), "Patient")
				}
			}
			if pid == "" || d.aggregatedGet("Patient", pid) == nil || !c.rightsOn(pid).record {
				c.fail(http.StatusBadRequest, "not-found", "", "a target is not a known patient", "Parameters.parameter")
				return
			}
			if !slices.Contains(targets, pid) { // "If a target is represented twice, only one request will be created"
				targets = append(targets, pid)
			}
		case "additionalIdentifier":
			nAdditional++
			additional = objAt(po, "valueIdentifier")
			if additional == nil || str(additional, "system") == "" || str(additional, "value") == "" {
				c.fail(http.StatusBadRequest, "invalid", "", "additionalIdentifier needs a valueIdentifier with system and value", "Parameters.parameter")
				return
			}
		}
	}
	switch {
	case nTargets < 1 || nTargets > 500:
		c.fail(http.StatusBadRequest, "invalid", "", fmt.Sprintf("target takes 1..500 values, got %d", nTargets), "Parameters.parameter")
		return
	case nAdditional > 1:
		c.fail(http.StatusBadRequest, "invalid", "", "additionalIdentifier takes 0..1 values", "Parameters.parameter")
		return
	}
	var out []obj
	now := time.Now()
	for _, pid := range targets {
		id := uuidFrom(d.rng)
		ids := []any{obj{"system": questionnaireRequestSystem, "value": c.params["id"]}}
		if additional != nil {
			ids = append(ids, additional)
		}
		d.aggregated.put(obj{"resourceType": "ServiceRequest", "id": id, "status": "active", "intent": "order",
			"subject": ref("Patient", pid), "requester": ref("Organization", team), "authoredOn": ts(now),
			"identifier": ids, "code": obj{"text": "Questionnaire"},
			"extension": []any{obj{"url": "http://hl7.org/fhir/StructureDefinition/servicerequest-questionnaireRequest",
				"valueReference": ref("Questionnaire", c.params["id"])}}}, now, "POST", team)
		out = append(out, obj{"name": "request", "valueReference": ref("ServiceRequest", id)})
	}
	c.ok(parameters(out...))
}
