package pkbtest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pkbgo/pkb/api/openapi"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/nationalid"
)

// routes maps every operation of every family to its handler. NewSimulator
// refuses to start if an operation of gen/access has none.
func (s *Simulator) routes() map[access.Family]map[string]handlerFunc {
	return map[access.Family]map[string]handlerFunc{
		access.FamilyFacade: {
			"capabilities":                          facadeCapabilities,
			"readOperationDefinition":               readOperationDefinition,
			"purview":                               purview,
			"consentPurview":                        purview,
			"searchAppointment":                     patientSearch("Appointment", "date", func(r obj) string { return str(r, "start") }, nil),
			"searchCommunication":                   patientSearch("Communication", "sent", func(r obj) string { return str(r, "sent") }, nil),
			"searchConsent":                         patientSearch("Consent", "", nil, nil),
			"searchDiagnosticReport":                patientSearch("DiagnosticReport", "date", func(r obj) string { return str(r, "effectiveDateTime") }, categoryFilter),
			"searchEncounter":                       patientSearch("Encounter", "date", func(r obj) string { return str(objAt(r, "period"), "start") }, nil),
			"searchObservation":                     patientSearch("Observation", "date", func(r obj) string { return str(r, "effectiveDateTime") }, categoryFilter),
			"observationGroup":                      observationGroup,
			"searchDocumentReference":               searchDocumentReference,
			"documentReferenceReadReceiptQuery":     readReceiptQuery,
			"searchNamingSystem":                    searchNamingSystem,
			"organizationGenerateInvitationTokens":  generateInvitationTokens,
			"readOrganization":                      readPlain("Organization"),
			"readPractitioner":                      readPlain("Practitioner"),
			"readQuestionnaire":                     readPlain("Questionnaire"),
			"readPatient":                           readPatientScoped("Patient"),
			"readProcedureRequest":                  readPatientScoped("ProcedureRequest"),
			"searchPatient":                         searchFacadePatient,
			"patientStatusQuery":                    statusQuery,
			"patientDateOfLastDataPoint":            dateOfLastDataPoint,
			"patientInstanceDateOfLastDataPoint":    instanceDateOfLastDataPoint,
			"searchPerson":                          searchPerson,
			"personDestroy":                         personDestroy,
			"personDeleteStatus":                    personDeleteStatus,
			"personDestroyOrphanAccounts":           personDestroyOrphanAccounts,
			"searchQuestionnaire":                   searchQuestionnaire,
			"questionnaireSendQuestionnaireRequest": facadeSendQuestionnaireRequest,
			"searchQuestionnaireResponse":           searchFacadeQuestionnaireResponse,
		},
		access.FamilyMessaging: {
			"patientProcessMessage": patientProcessMessage,
			"processMessageAsync":   processMessageAsync,
		},
		access.FamilyCustomerSTU3: customerHandlers(),
		access.FamilyCustomerR4:   customerHandlers(),
		access.FamilyAggregated:   aggregatedHandlers(),
		access.FamilyRESTAPI: {
			"getSelf":                 restGetSelf,
			"getUserByNhsNumber":      restUserByNHS,
			"createRecordAccessToken": restRecordAccessToken,
			"createMeasurement":       restCreateMeasurement,
			"listMeasurementsByType":  restMeasurementsByType,
			"listMeasurements":        restListMeasurements,
			"listMeasurementApiRefs":  restAPIRefs,
			"listPatientMeasurements": restPatientMeasurements,
			"breakTheGlass":           restBreakTheGlass,
		},
	}
}

func facadeCapabilities(c *call) {
	b, err := openapi.FS.ReadFile("source/facade-capabilitystatement.json")
	if err != nil {
		c.fail(http.StatusInternalServerError, "exception", "", err.Error())
		return
	}
	c.w.Header().Set("Content-Type", "application/fhir+json;charset=UTF-8")
	c.status = http.StatusOK
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(b)
}

// operationDefs describes PKB's operations for the synthesised
// OperationDefinitions: in-parameters and out-parameters as docs/pkb-api.md §2.1
// documents them (part names PKB does not document are the simulator's).
var operationDefs = map[string]struct {
	code, resource string
	instance       bool
	in, out        [][3]string // name, type, max
}{
	"status-query":               {"status-query", "Patient", false, [][3]string{{"patientIdentifier", "Identifier", "5000"}}, [][3]string{{"patientStatus", "", "5000"}}},
	"generate-invitation-tokens": {"generate-invitation-tokens", "Organization", false, [][3]string{{"patientIdentifier", "Identifier", "500"}}, [][3]string{{"patientTokens", "", "500"}}},
	"read-receipt-query":         {"read-receipt-query", "DocumentReference", false, [][3]string{{"documentIdentifier", "Identifier", "5000"}}, [][3]string{{"readReceipt", "", "5000"}}},
	"date-of-last-data-point":    {"date-of-last-data-point", "Patient", false, [][3]string{{"patientIdentifier", "Identifier", "100"}}, [][3]string{{"lastDataPointsResult", "", "*"}}},
	"purview":                    {"purview", "Consent", false, nil, [][3]string{{"purview", "Reference", "1"}}},
	"group":                      {"group", "Observation", false, nil, [][3]string{{"return", "Bundle", "1"}}},
	"send-questionnaire-request": {"send-questionnaire-request", "Questionnaire", true, [][3]string{{"requestor", "Reference", "1"}, {"target", "Reference", "500"}, {"notificationFlag", "code", "1"}, {"amendableBy", "code", "1"}}, [][3]string{{"questionnaireRequest", "Reference", "*"}}},
	"destroy":                    {"destroy", "Person", false, [][3]string{{"person", "Reference", "1"}}, [][3]string{{"deleteRequestId", "string", "1"}, {"status", "code", "1"}}},
	"destroy-orphan-accounts":    {"destroy-orphan-accounts", "Person", false, nil, [][3]string{{"destroyedCount", "integer", "1"}}},
	"delete_status":              {"delete_status", "Person", false, [][3]string{{"deleteRequestId", "string", "1"}}, [][3]string{{"status", "code", "1"}}},
}

func readOperationDefinition(c *call) {
	id := c.params["id"]
	if f := c.query.Get("_format"); f != "" && !slices.Contains([]string{"json", "application/json", "application/fhir+json"}, f) {
		c.fail(http.StatusNotAcceptable, "not-supported", "", "the simulator serves JSON only (_format=json)")
		return
	}
	typ, rest, ok := strings.Cut(id, "-")
	if !ok {
		c.fail(http.StatusNotFound, "not-found", "", "no OperationDefinition "+id)
		return
	}
	level, name, ok := strings.Cut(rest, "-")
	def, known := operationDefs[name]
	if !ok || !known || def.resource != typ || (level == "i") != def.instance || (level != "i" && level != "t") {
		c.fail(http.StatusNotFound, "not-found", "", "no OperationDefinition "+id)
		return
	}
	var params []any
	add := func(use string, list [][3]string) {
		for _, p := range list {
			po := obj{"name": p[0], "use": use, "min": 0, "max": p[2]}
			if p[1] != "" {
				po["type"] = p[1]
			}
			params = append(params, po)
		}
	}
	add("in", def.in)
	add("out", def.out)
	res := obj{"resourceType": "OperationDefinition", "id": id, "url": "http://fhir.patientsknowbest.com/operation/" + def.code,
		"name": def.code, "status": "active", "kind": "operation", "code": def.code, "resource": []any{def.resource},
		"system": false, "type": !def.instance, "instance": def.instance,
		"description": "Synthesised by pkbtest from docs/pkb-api.md; PKB's own definition may differ."}
	if len(params) > 0 {
		res["parameter"] = params
	}
	c.ok(res)
}

func purview(c *call) {
	var r obj
	switch c.actor.kind {
	case "patient":
		r = ref("Patient", c.actor.patientID)
	case "system":
		r = ref("Organization", c.actor.orgID)
	default:
		r = ref("Organization", c.actor.teamID)
	}
	c.ok(parameters(obj{"name": "purview", "valueReference": r}))
}

func parameters(ps ...obj) obj {
	out := obj{"resourceType": "Parameters"}
	if len(ps) > 0 {
		l := make([]any, len(ps))
		for i, p := range ps {
			l[i] = p
		}
		out["parameter"] = l
	}
	return out
}

func categoryFilter(c *call) func(obj) bool {
	t := parseToken(c.query.Get("category"))
	return func(r obj) bool { return hasCoding(r["category"], t) }
}

// patientSearch is a Facade search whose required patient parameter scopes
// the results, optionally narrowed by one AND-able date parameter and a
// resource-specific filter.
func patientSearch(typ, dateName string, dateOf func(obj) string, filter func(*call) func(obj) bool) handlerFunc {
	return func(c *call) {
		c.writeSearch(c.patientMatches(typ, dateName, dateOf, filter), nil)
	}
}

func (c *call) patientMatches(typ, dateName string, dateOf func(obj) string, filter func(*call) func(obj) bool) []obj {
	pid := refTo(c.query.Get("patient"), "Patient")
	dates := dateParams(c.query, dateName)
	var keep func(obj) bool
	if filter != nil {
		keep = filter(c)
	}
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	if pid == "" {
		return nil
	}
	var out []obj
	for _, r := range d.facade.list(typ) {
		// What the caller may not see is silently left out, as PKB does
		// (docs/pkb-api.md §3.7, §4).
		if patientOf(r) != pid || !c.mayFacade(r) {
			continue
		}
		if dateOf != nil && !allDates(dates, dateOf(r)) {
			continue
		}
		if keep != nil && !keep(r) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// writeSearch answers a search with one page of matches. The Aggregated
// endpoint pages by at most 10; the Facade first cuts the matches to its
// per-type cap, silently, as PKB's does (docs/pkb-api.md §2.1, §8).
func (c *call) writeSearch(matches, included []obj) {
	max := 0
	switch c.fam.id {
	case access.FamilyAggregated:
		max = 10
	case access.FamilyFacade:
		if len(matches) > 0 {
			if n := c.s.resultCap(str(matches[0], "resourceType")); len(matches) > n {
				matches = matches[:n]
			}
		}
	}
	c.ok(c.searchset(matches, included, max))
}

// observationGroup returns one Observation per day (the latest), PKB's
// documented default grouping.
func observationGroup(c *call) {
	all := c.patientMatches("Observation", "date", func(r obj) string { return str(r, "effectiveDateTime") }, categoryFilter)
	var out []obj
	seen := map[string]int{}
	for _, r := range all {
		eff := str(r, "effectiveDateTime")
		if len(eff) < 10 {
			continue
		}
		k := eff[:10]
		if i, ok := seen[k]; ok {
			if eff > str(out[i], "effectiveDateTime") {
				out[i] = r
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, r)
	}
	c.writeSearch(out, nil)
}

func searchDocumentReference(c *call) {
	q := c.query
	if q.Get("patient") == "" && len(q["created"]) == 0 && q.Get("indexed") == "" {
		c.fail(http.StatusBadRequest, "required", "", "DocumentReference search needs at least one of patient, created or indexed (PKB marks them Conditional)", "patient", "created", "indexed")
		return
	}
	pid := ""
	if v := q.Get("patient"); v != "" {
		if pid = refTo(v, "Patient"); pid == "" {
			c.fail(http.StatusBadRequest, "invalid", "", "patient must reference a Patient", "patient")
			return
		}
	}
	created := dateParams(q, "created")
	indexed := dateParams(q, "indexed")
	status := q.Get("document-status")
	source := ""
	if v := q.Get("source-organisation"); v != "" {
		source = refTo(v, "Organization")
	}
	d := c.s.data
	d.mu.RLock()
	var out []obj
	for _, r := range d.facade.list("DocumentReference") {
		owner := patientOf(r)
		if (pid != "" && owner != pid) || !c.mayFacade(r) {
			continue
		}
		if !allDates(created, str(r, "created")) || !allDates(indexed, str(r, "indexed")) {
			continue
		}
		if status != "" && str(r, "status") != status && str(r, "docStatus") != status {
			continue
		}
		if source != "" && refID(r, "custodian", "Organization") != source {
			continue
		}
		out = append(out, r)
	}
	d.mu.RUnlock()
	c.writeSearch(out, nil)
}

// paramIdentifiers collects the valueIdentifier of every parameter called
// name, enforcing PKB's cardinality.
func (c *call) paramIdentifiers(name string, min, max int) ([]obj, bool) {
	body, ok := c.parseBody()
	if !ok {
		return nil, false
	}
	var out []obj
	for _, p := range list(body, "parameter") {
		po, _ := p.(obj)
		if str(po, "name") != name {
			continue
		}
		id := objAt(po, "valueIdentifier")
		if id == nil || str(id, "value") == "" {
			c.fail(http.StatusBadRequest, "invalid", "", fmt.Sprintf("parameter %s needs a valueIdentifier with system and value", name), "Parameters.parameter")
			return nil, false
		}
		out = append(out, id)
	}
	if len(out) < min || len(out) > max {
		c.fail(http.StatusBadRequest, "invalid", "", fmt.Sprintf("%s takes %d..%d %s parameters, got %d", c.op.ID, min, max, name, len(out)), "Parameters.parameter")
		return nil, false
	}
	return out, true
}

// nhsStyleSystems are the only systems $status-query and
// $generate-invitation-tokens take (NHS, CHI, Health and Care numbers).
var nhsStyleSystems = systemStrings(nationalid.NHSStyle())

// nationalSystems are every national identifier system PKB supports;
// $date-of-last-data-point takes them all (PKB's example uses a BSN).
var nationalSystems = systemStrings(nationalid.Systems())

func systemStrings(ss []nationalid.System) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// checkSystems rejects the whole request when one identifier has a system
// PKB does not support, as PKB does.
func (c *call) checkSystems(ids []obj, allowed []string) bool {
	for _, id := range ids {
		if !slices.Contains(allowed, str(id, "system")) {
			c.fail(http.StatusBadRequest, "not-supported", "", fmt.Sprintf("identifier system %q is not supported (supported: %s); the whole request is rejected", str(id, "system"), strings.Join(allowed, ", ")), "Parameters.parameter.valueIdentifier.system")
			return false
		}
	}
	return true
}

// patientByIdentifier finds a patient by national id or PKB public id,
// preferring, of several accounts with one NHS number, the first of
// organisation org; the caller holds d.mu.
func (d *simData) patientByIdentifier(id obj, org string) *SeedPatient {
	switch str(id, "system") {
	case SystemPKBPublicID, SystemAggregatedPublicID:
		return d.byID[str(id, "value")]
	case SystemNHSNumber:
		return d.accountOf(str(id, "value"), org)
	case SystemBSN:
		return d.byBSN[str(id, "value")]
	}
	return nil
}

// accountOf returns the first account with an NHS number, preferring one
// of org (PKB allows several accounts per national id); the caller holds
// d.mu.
func (d *simData) accountOf(nhs, org string) *SeedPatient {
	accounts := d.byNHS[nhs]
	for _, p := range accounts {
		if p.OrgID == org {
			return p
		}
	}
	if len(accounts) > 0 {
		return accounts[0]
	}
	return nil
}

func statusQuery(c *call) {
	ids, ok := c.paramIdentifiers("patientIdentifier", 1, 5000)
	if !ok || !c.checkSystems(ids, nhsStyleSystems) {
		return
	}
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []obj
	for _, id := range ids {
		parts := []any{obj{"name": "patientIdentifier", "valueIdentifier": id}}
		switch p := d.patientByIdentifier(id, c.actor.orgID); {
		case p == nil:
			parts = append(parts, obj{"name": "diagnostics", "valueString": "Not found"})
		case p.OrgID != c.actor.orgID:
			parts = append(parts, obj{"name": "deceased", "valueBoolean": p.Deceased}, obj{"name": "registered", "valueBoolean": p.Registered},
				obj{"name": "diagnostics", "valueString": "No access"})
		default:
			parts = append(parts, obj{"name": "deceased", "valueBoolean": p.Deceased}, obj{"name": "registered", "valueBoolean": p.Registered})
			if p.BirthDate != "" {
				parts = append(parts, obj{"name": "dateOfBirth", "valueDate": p.BirthDate})
			}
		}
		out = append(out, obj{"name": "patientStatus", "part": parts})
	}
	c.ok(parameters(out...))
}

// age returns whole years from birth (YYYY-MM-DD) to now.
func age(birth string, now time.Time) int {
	b, err := time.Parse("2006-01-02", birth)
	if err != nil {
		return -1
	}
	years := now.Year() - b.Year()
	if now.YearDay() < b.YearDay() {
		years--
	}
	return years
}

func generateInvitationTokens(c *call) {
	ids, ok := c.paramIdentifiers("patientIdentifier", 1, 500)
	if !ok || !c.checkSystems(ids, nhsStyleSystems) {
		return
	}
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []obj
	now := time.Now().UTC()
	for _, id := range ids {
		p := d.patientByIdentifier(id, c.actor.orgID)
		// No tokens for deceased, unknown, registered, undated or under-16
		// patients (docs/pkb-api.md §2.1).
		if p == nil || p.OrgID != c.actor.orgID || p.Deceased || p.Registered || p.BirthDate == "" || age(p.BirthDate, now) < 16 {
			continue
		}
		out = append(out, obj{"name": "patientTokens", "part": []any{
			obj{"name": "patientIdentifier", "valueIdentifier": id},
			obj{"name": "code", "valueString": randomCode()},
			obj{"name": "token", "valueString": randomCode()},
			obj{"name": "expiry", "valueDateTime": now.AddDate(0, 0, 70).Format(time.RFC3339)},
		}})
	}
	c.ok(parameters(out...))
}

// randomCode is a 10-character invitation code or access token, PKB's
// default size.
func randomCode() string { return rand.Text()[:10] }

func readReceiptQuery(c *call) {
	ids, ok := c.paramIdentifiers("documentIdentifier", 1, 5000)
	if !ok {
		return
	}
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []obj
	for _, id := range ids {
		v := str(id, "value")
		read, known := d.receipts[v]
		if !known || d.docOrg[v] != c.actor.orgID {
			continue // unknown, or created by another organisation: nothing returned
		}
		parts := []any{obj{"name": "documentIdentifier", "valueIdentifier": id}, obj{"name": "read", "valueBoolean": read != ""}}
		if read != "" {
			parts = append(parts, obj{"name": "readDateTime", "valueDateTime": read})
		}
		out = append(out, obj{"name": "readReceipt", "part": parts})
	}
	c.ok(parameters(out...))
}

// lastDataPoint is the newest clinical date of a patient's record; the
// caller holds d.mu.
func (d *simData) lastDataPoint(pid string) string {
	last := ""
	for typ, field := range map[string]string{"Observation": "effectiveDateTime", "DocumentReference": "indexed", "DiagnosticReport": "issued", "Communication": "sent"} {
		for _, r := range d.facade.list(typ) {
			if patientOf(r) == pid && str(r, field) > last {
				last = str(r, field)
			}
		}
	}
	return last
}

func lastDataPart(id obj, last string) obj {
	parts := []any{obj{"name": "patientIdentifier", "valueIdentifier": id}}
	if last != "" {
		parts = append(parts, obj{"name": "lastRecordUpdate", "valueDateTime": last})
	}
	return obj{"name": "lastDataPointsResult", "part": parts}
}

func dateOfLastDataPoint(c *call) {
	ids, ok := c.paramIdentifiers("patientIdentifier", 1, 100)
	if !ok || !c.checkSystems(ids, append(slices.Clone(nationalSystems), SystemPKBPublicID)) {
		return
	}
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []obj
	for _, id := range ids {
		p := d.patientByIdentifier(id, c.actor.orgID)
		if p == nil || p.OrgID != c.actor.orgID {
			continue // outside the organisation: ignored
		}
		out = append(out, lastDataPart(id, d.lastDataPoint(p.ID)))
	}
	c.ok(parameters(out...))
}

func instanceDateOfLastDataPoint(c *call) {
	id := c.params["id"]
	if id != c.actor.patientID {
		c.fail(http.StatusForbidden, "forbidden", CodeNoConsent, "a patient may only ask about their own record")
		return
	}
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	c.ok(parameters(lastDataPart(obj{"system": SystemPKBPublicID, "value": id}, d.lastDataPoint(id))))
}

func readPlain(typ string) handlerFunc {
	return func(c *call) {
		d := c.s.data
		d.mu.RLock()
		res, _ := d.facade.get(typ, c.params["id"])
		d.mu.RUnlock()
		if res == nil {
			c.fail(http.StatusNotFound, "not-found", "", fmt.Sprintf("%s/%s is not known", typ, c.params["id"]))
			return
		}
		c.ok(res)
	}
}

// readPatientScoped reads a resource of a patient's record, subject to the
// caller's access to that patient.
func readPatientScoped(typ string) handlerFunc {
	return func(c *call) {
		d := c.s.data
		d.mu.RLock()
		defer d.mu.RUnlock()
		res, _ := d.facade.get(typ, c.params["id"])
		if res == nil {
			c.fail(http.StatusNotFound, "not-found", "", fmt.Sprintf("%s/%s is not known", typ, c.params["id"]))
			return
		}
		if c.refuseRead(res, d.facade.author(typ, c.params["id"])) {
			return
		}
		c.ok(res)
	}
}

func searchFacadePatient(c *call) {
	t := parseToken(c.query.Get("identifier"))
	if !t.hasSystem || t.system != SystemNHSNumber || t.code == "" {
		c.fail(http.StatusBadRequest, "not-supported", "", "identifier must be "+SystemNHSNumber+"|<NHS number> (the only supported system)", "identifier")
		return
	}
	d := c.s.data
	d.mu.RLock()
	var out []obj
	// Every account with the number that the caller may see: PKB allows
	// several accounts per national id (docs/pkb-api.md §8).
	for _, p := range d.byNHS[t.code] {
		if res, _ := d.facade.get("Patient", p.ID); res != nil && c.rightsOn(p.ID).record {
			out = append(out, res)
		}
	}
	d.mu.RUnlock()
	c.writeSearch(out, nil)
}

func searchNamingSystem(c *call) {
	v := c.query.Get("value")
	d := c.s.data
	d.mu.RLock()
	var out []obj
	for _, ns := range d.facade.list("NamingSystem") {
		for _, u := range list(ns, "uniqueId") {
			if uo, _ := u.(obj); str(uo, "value") == v {
				out = append(out, ns)
				break
			}
		}
	}
	d.mu.RUnlock()
	c.writeSearch(out, nil)
}

func searchPerson(c *call) {
	typ, id, _ := parseRef(c.query.Get("link"))
	d := c.s.data
	d.mu.RLock()
	var out []obj
	for _, p := range d.facade.list("Person") {
		for _, l := range list(p, "link") {
			lo, _ := l.(obj)
			lt, lid, _ := parseRef(str(objAt(lo, "target"), "reference"))
			if lid == id && (typ == "" || typ == lt) {
				out = append(out, p)
				break
			}
		}
	}
	d.mu.RUnlock()
	c.writeSearch(out, nil)
}

// The Person operations are undocumented by PKB (docs/pkb-api.md §6.21); the
// simulator gives them a plausible, harmless shape: $destroy removes a
// Person and returns a request id whose $delete_status is COMPLETED.
func personDestroy(c *call) {
	body, ok := c.parseBody()
	if !ok {
		return
	}
	var pid string
	for _, p := range list(body, "parameter") {
		po, _ := p.(obj)
		if str(po, "name") == "person" {
			pid = refID(po, "valueReference", "Person")
		}
	}
	if pid == "" {
		c.fail(http.StatusBadRequest, "required", "", "parameter person (valueReference Person/{id}) is required", "Parameters.parameter")
		return
	}
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	if res, _ := d.facade.get("Person", pid); res == nil {
		c.fail(http.StatusNotFound, "not-found", "", "Person/"+pid+" is not known")
		return
	}
	d.facade.remove("Person", pid, time.Now())
	reqID := "delete-" + pid
	d.deletions[reqID] = "COMPLETED"
	c.ok(parameters(obj{"name": "deleteRequestId", "valueString": reqID}, obj{"name": "status", "valueCode": "IN_PROGRESS"}))
}

func personDeleteStatus(c *call) {
	body, ok := c.parseBody()
	if !ok {
		return
	}
	var reqID string
	for _, p := range list(body, "parameter") {
		po, _ := p.(obj)
		if str(po, "name") == "deleteRequestId" {
			reqID = str(po, "valueString")
		}
	}
	d := c.s.data
	d.mu.RLock()
	status, known := d.deletions[reqID]
	d.mu.RUnlock()
	if !known {
		status = "NOT_FOUND"
	}
	c.ok(parameters(obj{"name": "status", "valueCode": status}))
}

func personDestroyOrphanAccounts(c *call) {
	c.ok(parameters(obj{"name": "destroyedCount", "valueInteger": 0}))
}

func searchQuestionnaire(c *call) {
	pub := ""
	if v := c.query.Get("publisher-reference"); v != "" {
		if pub = refTo(v, "Organization"); pub == "" {
			c.fail(http.StatusBadRequest, "invalid", "", "publisher-reference must reference an Organization", "publisher-reference")
			return
		}
	}
	d := c.s.data
	d.mu.RLock()
	var out []obj
	for _, q := range d.facade.list("Questionnaire") {
		if pub != "" {
			match := false
			for _, e := range list(q, "extension") {
				eo, _ := e.(obj)
				if refID(eo, "valueReference", "Organization") == pub {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		out = append(out, q)
	}
	d.mu.RUnlock()
	c.writeSearch(out, nil)
}

func searchFacadeQuestionnaireResponse(c *call) {
	q := c.query
	pid, basedOn, quest := "", "", ""
	for name, dst := range map[string]*string{"patient": &pid, "based-on": &basedOn, "questionnaire": &quest} {
		if v := q.Get(name); v != "" {
			_, id, _ := parseRef(v)
			*dst = id
		}
	}
	authored := dateParams(q, "authored")
	d := c.s.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out, inc []obj
	seen := map[string]bool{}
	for _, r := range d.facade.list("QuestionnaireResponse") {
		owner := patientOf(r)
		if (pid != "" && owner != pid) || !c.mayFacade(r) || !allDates(authored, str(r, "authored")) {
			continue
		}
		if quest != "" && refID(r, "questionnaire", "Questionnaire") != quest {
			continue
		}
		if basedOn != "" {
			found := false
			for _, b := range list(r, "basedOn") {
				bo, _ := b.(obj)
				if refTo(str(bo, "reference"), "ProcedureRequest") == basedOn {
					found = true
				}
			}
			if !found {
				continue
			}
		}
		out = append(out, r)
		for _, include := range q["_include"] {
			var key string
			switch include {
			case "QuestionnaireResponse:basedOn:ProcedureRequest":
				for _, b := range list(r, "basedOn") {
					bo, _ := b.(obj)
					if id := refTo(str(bo, "reference"), "ProcedureRequest"); id != "" {
						key = "ProcedureRequest/" + id
					}
				}
			case "QuestionnaireResponse:subject:Patient":
				key = "Patient/" + owner
			}
			if key == "" || seen[key] {
				continue
			}
			seen[key] = true
			typ, id, _ := strings.Cut(key, "/")
			if res, _ := d.facade.get(typ, id); res != nil && c.mayFacade(res) {
				inc = append(inc, res)
			}
		}
	}
	c.writeSearch(out, inc)
}

func facadeSendQuestionnaireRequest(c *call) {
	body, ok := c.parseBody()
	if !ok {
		return
	}
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	qres, _ := d.facade.get("Questionnaire", c.params["id"])
	if qres == nil {
		c.fail(http.StatusNotFound, "not-found", "", "Questionnaire/"+c.params["id"]+" is not known")
		return
	}
	var requestor string
	var patients []*SeedPatient
	var team string
	for _, p := range list(body, "parameter") {
		po, _ := p.(obj)
		switch str(po, "name") {
		case "requestor":
			requestor = refID(po, "valueReference", "Practitioner")
		case "target":
			if id := objAt(po, "valueIdentifier"); id != nil {
				if pt := d.patientByIdentifier(id, c.actor.orgID); pt != nil {
					patients = append(patients, pt)
				} else {
					c.fail(http.StatusBadRequest, "not-found", "", "target identifier "+str(id, "value")+" is not a known patient", "Parameters.parameter")
					return
				}
				continue
			}
			r := str(objAt(po, "valueReference"), "reference")
			typ, id, err := parseRef(r)
			switch {
			case err == nil && typ == "Patient" && d.byID[id] != nil:
				patients = append(patients, d.byID[id])
			case err == nil && typ == "Organization" && d.orgs[id] != nil && d.orgs[id].parent != "":
				team = id
			default:
				c.fail(http.StatusBadRequest, "invalid", "", fmt.Sprintf("target %q is neither a known Patient nor a team Organization", r), "Parameters.parameter")
				return
			}
		case "notificationFlag":
			if v := str(po, "valueCode"); v != "EMAIL_NOTIFICATION_ENABLED" && v != "EMAIL_NOTIFICATION_DISABLED" {
				c.fail(http.StatusBadRequest, "code-invalid", "", "notificationFlag must be EMAIL_NOTIFICATION_ENABLED or EMAIL_NOTIFICATION_DISABLED", "Parameters.parameter")
				return
			}
		}
	}
	if res, _ := d.facade.get("Practitioner", requestor); res == nil {
		c.fail(http.StatusBadRequest, "required", "", "requestor (valueReference Practitioner/{id} of a known clinician) is required", "Parameters.parameter")
		return
	}
	switch {
	case team != "" && len(patients) > 0:
		c.fail(http.StatusBadRequest, "invalid", "", "target is either patients or a single team, not both", "Parameters.parameter")
		return
	case team != "":
		for _, p := range d.patients {
			if p.OrgID == SeedOrgPublicID && !p.SharingDisabled && !p.Deceased && d.consents(p.ID, team) {
				patients = append(patients, p)
			}
		}
	case len(patients) == 0 || len(patients) > 500:
		c.fail(http.StatusBadRequest, "invalid", "", "target takes 1..500 patients or one team", "Parameters.parameter")
		return
	}
	var out []obj
	now := time.Now()
	by := c.actor.teamID // the requesting team keeps access to the request
	if c.actor.kind == "system" {
		by = c.actor.orgID
	}
	for _, p := range patients {
		id := uuidFrom(d.rng)
		d.facade.put(obj{"resourceType": "ProcedureRequest", "id": id, "status": "active", "intent": "order",
			"code": concept("Questionnaire request: " + str(qres, "title")), "subject": ref("Patient", p.ID),
			"authoredOn": ts(now), "requester": obj{"agent": ref("Practitioner", requestor)}}, now, "POST", by)
		out = append(out, obj{"name": "questionnaireRequest", "valueReference": ref("ProcedureRequest", id)})
	}
	c.ok(parameters(out...))
}
