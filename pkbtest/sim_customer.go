package pkbtest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func customerHandlers() map[string]handlerFunc {
	return map[string]handlerFunc{
		"capabilities":    customerCapabilities,
		"transaction":     customerTransaction,
		"search":          customerSearch,
		"searchPost":      customerSearch,
		"create":          customerCreate,
		"read":            customerRead,
		"vread":           customerVread,
		"update":          customerUpdate,
		"delete":          customerDelete,
		"historyType":     customerHistory,
		"historyInstance": customerHistory,
	}
}

func (c *call) customerStore() *store { return c.s.data.customer[c.fam.fhir] }

// goneCode is the OperationOutcome issue code of a 410 for a deleted
// resource: R4's "deleted"; STU3's IssueType has no such code, so the
// generic "processing".
func (c *call) goneCode() string {
	if c.fam.fhir == "stu3" {
		return "processing"
	}
	return "deleted"
}

// knownType answers 404 for a resource type the FHIR version lacks, as
// HAPI does.
func (c *call) knownType(typ string) bool {
	if !c.fam.types[typ] {
		c.fail(http.StatusNotFound, "not-supported", "", fmt.Sprintf("unknown resource type %q for FHIR %s", typ, strings.ToUpper(c.fam.fhir)))
		return false
	}
	return true
}

func fhirVersion(v string) string {
	if v == "r4" {
		return "4.0.1"
	}
	return "3.0.2"
}

func customerCapabilities(c *call) {
	var types []string
	for t := range c.fam.types {
		types = append(types, t)
	}
	sort.Strings(types)
	var res []any
	for _, t := range types {
		var ia []any
		for _, code := range []string{"read", "vread", "update", "delete", "history-instance", "history-type", "create", "search-type"} {
			ia = append(ia, obj{"code": code})
		}
		res = append(res, obj{"type": t, "interaction": ia, "versioning": "versioned", "readHistory": true, "updateCreate": true, "conditionalCreate": true})
	}
	cs := obj{"resourceType": "CapabilityStatement", "status": "active", "date": day(seedEpoch), "kind": "instance",
		"publisher": "pkbtest (synthetic)", "fhirVersion": fhirVersion(c.fam.fhir), "format": []any{"application/fhir+json", "json"},
		"software": obj{"name": "pkbtest simulator"}, "implementation": obj{"description": "PKB Customer FHIR endpoint (offline simulator)", "url": c.baseURL()},
		"rest": []any{obj{"mode": "server", "resource": res, "interaction": []any{obj{"code": "batch"}, obj{"code": "transaction"}, obj{"code": "history-system"}}}}}
	if c.fam.fhir == "stu3" {
		cs["acceptUnknown"] = "no"
	}
	c.ok(cs)
}

// result is the outcome of one interaction, shared by the REST handlers and
// batch/transaction entries.
type result struct {
	status   int
	res      obj
	location string
	etag     string
	modified string
	oo       obj
}

func failed(status int, code, diag string) result {
	return result{status: status, oo: outcome("error", code, "", diag)}
}

func etagOf(res obj) string {
	return `W/"` + str(objAt(res, "meta"), "versionId") + `"`
}

func (c *call) stored(status int, st *store, res obj) result {
	typ, id := str(res, "resourceType"), str(res, "id")
	lu := str(objAt(res, "meta"), "lastUpdated")
	mod := ""
	if t, err := time.Parse(time.RFC3339Nano, lu); err == nil {
		mod = t.UTC().Format(http.TimeFormat)
	}
	return result{status: status, res: res, etag: etagOf(res), modified: mod,
		location: c.baseURL() + "/" + typ + "/" + id + "/_history/" + str(objAt(res, "meta"), "versionId")}
}

func versionOf(etag string) string {
	etag = strings.TrimPrefix(strings.TrimSpace(etag), "W/")
	return strings.Trim(etag, `"`)
}

// doCreate stores a new resource; the caller holds d.mu.
func (c *call) doCreate(st *store, typ string, body obj, ifNoneExist string) result {
	if str(body, "resourceType") != typ {
		return failed(http.StatusBadRequest, "invalid", fmt.Sprintf("resourceType %q does not match the URL's %q", str(body, "resourceType"), typ))
	}
	if ifNoneExist != "" {
		q, err := url.ParseQuery(strings.TrimPrefix(ifNoneExist, "?"))
		if err != nil {
			return failed(http.StatusBadRequest, "invalid", "If-None-Exist is not a query: "+err.Error())
		}
		found, r := c.customerMatches(st, typ, q)
		if r.status != 0 {
			return r
		}
		switch len(found) {
		case 0:
		case 1:
			return c.stored(http.StatusOK, st, found[0])
		default:
			return failed(http.StatusPreconditionFailed, "duplicate", fmt.Sprintf("If-None-Exist matches %d resources", len(found)))
		}
	}
	res := cloneObj(body)
	res["id"] = st.newID()
	return c.stored(http.StatusCreated, st, st.put(res, time.Now(), "POST", c.actor.orgID))
}

// doUpdate replaces (or creates with the client's id) a resource; the
// caller holds d.mu.
func (c *call) doUpdate(st *store, typ, id string, body obj, ifMatch string) result {
	if str(body, "resourceType") != typ {
		return failed(http.StatusBadRequest, "invalid", fmt.Sprintf("resourceType %q does not match the URL's %q", str(body, "resourceType"), typ))
	}
	if str(body, "id") != id {
		return failed(http.StatusBadRequest, "invalid", fmt.Sprintf("the body's id %q must equal the URL's id %q", str(body, "id"), id))
	}
	cur, _ := st.get(typ, id)
	if ifMatch != "" && (cur == nil || str(objAt(cur, "meta"), "versionId") != versionOf(ifMatch)) {
		return failed(http.StatusPreconditionFailed, "conflict", "If-Match does not match the current version")
	}
	status := http.StatusOK
	if cur == nil {
		status = http.StatusCreated
	}
	return c.stored(status, st, st.put(body, time.Now(), "PUT", c.actor.orgID))
}

func (c *call) doDelete(st *store, typ, id, ifMatch string) result {
	cur, _ := st.get(typ, id)
	if ifMatch != "" && (cur == nil || str(objAt(cur, "meta"), "versionId") != versionOf(ifMatch)) {
		return failed(http.StatusPreconditionFailed, "conflict", "If-Match does not match the current version")
	}
	st.remove(typ, id, time.Now())
	return result{status: http.StatusOK, oo: outcome("information", "informational", "", fmt.Sprintf("deleted %s/%s", typ, id))}
}

func (c *call) doRead(st *store, typ, id string) result {
	res, gone := st.get(typ, id)
	switch {
	case gone:
		return failed(http.StatusGone, c.goneCode(), fmt.Sprintf("%s/%s was deleted", typ, id))
	case res == nil:
		return failed(http.StatusNotFound, "not-found", fmt.Sprintf("%s/%s is not known", typ, id))
	}
	return c.stored(http.StatusOK, st, res)
}

// write sends r to the client, honouring Prefer.
func (c *call) write(r result) {
	if r.status >= 400 {
		c.fhirJSON(r.status, r.oo)
		return
	}
	h := c.w.Header()
	if r.etag != "" {
		h.Set("ETag", r.etag)
	}
	if r.modified != "" {
		h.Set("Last-Modified", r.modified)
	}
	if r.location != "" && (r.status == http.StatusCreated || c.r.Method != http.MethodGet) {
		h.Set("Location", r.location)
		h.Set("Content-Location", r.location)
	}
	body := r.res
	if body == nil {
		body = r.oo
	}
	switch c.r.Header.Get("Prefer") {
	case "return=minimal":
		if c.r.Method != http.MethodGet {
			c.status = r.status
			c.w.WriteHeader(r.status)
			return
		}
	case "return=OperationOutcome":
		if c.r.Method != http.MethodGet {
			body = outcome("information", "informational", "", fmt.Sprintf("%s %s", c.r.Method, r.location))
		}
	}
	c.fhirJSON(r.status, body)
}

func customerCreate(c *call) {
	c.customerWrite(true, func(st *store, typ string, body obj) result {
		return c.doCreate(st, typ, body, c.r.Header.Get("If-None-Exist"))
	})
}

func customerUpdate(c *call) {
	c.customerWrite(true, func(st *store, typ string, body obj) result {
		return c.doUpdate(st, typ, c.params["id"], body, c.r.Header.Get("If-Match"))
	})
}

func customerDelete(c *call) {
	c.customerWrite(false, func(st *store, typ string, _ obj) result {
		return c.doDelete(st, typ, c.params["id"], c.r.Header.Get("If-Match"))
	})
}

// customerWrite runs one write interaction on the customer's store under the
// data lock, after checking the type and (for create and update) the body.
func (c *call) customerWrite(withBody bool, do func(st *store, typ string, body obj) result) {
	typ := c.params["resourceType"]
	if !c.knownType(typ) {
		return
	}
	var body obj
	if withBody {
		var ok bool
		if body, ok = c.parseBody(); !ok {
			return
		}
	}
	d := c.s.data
	d.mu.Lock()
	r := do(c.customerStore(), typ, body)
	d.mu.Unlock()
	c.write(r)
}

func customerRead(c *call) {
	typ := c.params["resourceType"]
	if !c.knownType(typ) {
		return
	}
	d := c.s.data
	d.mu.RLock()
	r := c.doRead(c.customerStore(), typ, c.params["id"])
	d.mu.RUnlock()
	if r.status == http.StatusOK {
		if inm := c.r.Header.Get("If-None-Match"); inm != "" && versionOf(inm) == versionOf(r.etag) {
			c.w.Header().Set("ETag", r.etag)
			c.status = http.StatusNotModified
			c.w.WriteHeader(http.StatusNotModified)
			return
		}
		r.res = elements(r.res, c.query.Get("_elements"))
	}
	c.write(r)
}

// elements keeps only the named top-level elements (and the mandatory
// resourceType, id and meta), as _elements asks.
func elements(res obj, spec string) obj {
	if spec == "" || res == nil {
		return res
	}
	keep := map[string]bool{"resourceType": true, "id": true, "meta": true}
	for _, e := range strings.Split(spec, ",") {
		keep[strings.TrimSpace(e)] = true
	}
	out := obj{}
	for k, v := range res {
		if keep[k] {
			out[k] = v
		}
	}
	return out
}

func customerVread(c *call) {
	typ := c.params["resourceType"]
	if !c.knownType(typ) {
		return
	}
	d := c.s.data
	d.mu.RLock()
	rec := c.customerStore().rec(typ, c.params["id"])
	var r result
	n, err := strconv.Atoi(c.params["vid"])
	switch {
	case rec == nil:
		r = failed(http.StatusNotFound, "not-found", fmt.Sprintf("%s/%s is not known", typ, c.params["id"]))
	case err != nil || n < 1 || n > len(rec.versions):
		r = failed(http.StatusNotFound, "not-found", fmt.Sprintf("%s/%s has no version %s", typ, c.params["id"], c.params["vid"]))
	case rec.versions[n-1].res == nil:
		r = failed(http.StatusGone, c.goneCode(), fmt.Sprintf("version %d of %s/%s is a deletion", n, typ, c.params["id"]))
	default:
		r = c.stored(http.StatusOK, c.customerStore(), rec.versions[n-1].res)
	}
	d.mu.RUnlock()
	c.write(r)
}

func customerHistory(c *call) {
	typ := c.params["resourceType"]
	if !c.knownType(typ) {
		return
	}
	id := c.params["id"]
	var since time.Time
	if v := c.query.Get("_since"); v != "" {
		lo, _, err := dateRange(v)
		if err != nil {
			c.fail(http.StatusBadRequest, "invalid", "", "_since must be a FHIR instant", "_since")
			return
		}
		since = lo
	}
	d := c.s.data
	d.mu.RLock()
	st := c.customerStore()
	if id != "" && st.rec(typ, id) == nil {
		d.mu.RUnlock()
		c.fail(http.StatusNotFound, "not-found", "", fmt.Sprintf("%s/%s is not known", typ, id))
		return
	}
	var entries []obj
	for i := len(st.hist) - 1; i >= 0; i-- {
		h := st.hist[i]
		if h.rec.typ != typ || (id != "" && h.rec.id != id) {
			continue
		}
		v := h.rec.versions[h.idx]
		if !since.IsZero() && v.at.Before(since) {
			continue
		}
		e := obj{"fullUrl": c.baseURL() + "/" + typ + "/" + h.rec.id,
			"request": obj{"method": v.method, "url": typ + "/" + h.rec.id}}
		status := map[string]string{"POST": "201 Created", "PUT": "200 OK", "DELETE": "204 No Content"}[v.method]
		resp := obj{"status": status, "lastModified": v.at.UTC().Format(time.RFC3339Nano)}
		if v.res != nil {
			e["resource"] = v.res
			resp["etag"] = etagOf(v.res)
		}
		e["response"] = resp
		entries = append(entries, e)
	}
	d.mu.RUnlock()
	b := c.searchset(entries, nil, 0)
	b["type"] = "history"
	// searchset wraps each match as a resource entry; history entries are
	// already complete, so unwrap them.
	var list []any
	for _, e := range listOf(b["entry"]) {
		eo, _ := e.(obj)
		list = append(list, objAt(eo, "resource"))
	}
	if len(list) > 0 {
		b["entry"] = list
	}
	c.ok(b)
}

func listOf(v any) []any { l, _ := v.([]any); return l }

// customerParams are the search parameters the generic Customer search
// understands beyond the declared common ones; anything else is refused,
// as HAPI refuses unknown parameters.
var customerParams = []string{"identifier", "patient", "subject", "code", "status", "name", "family", "given", "birthdate", "gender", "date", "_id", "_lastUpdated", "_count", "_offset", "_sort", "_include", "_revinclude", "_summary", "_elements", "_format", "_total"}

func customerSearch(c *call) {
	typ := c.params["resourceType"]
	if !c.knownType(typ) {
		return
	}
	q := cloneValues(c.query)
	if c.op.ID == "searchPost" {
		form, err := url.ParseQuery(string(c.body))
		if err != nil {
			c.fail(http.StatusBadRequest, "invalid", "", "the form body is not application/x-www-form-urlencoded: "+err.Error())
			return
		}
		for k, v := range form {
			q[k] = append(q[k], v...)
		}
		c.query = q
		c.linkPath = "/" + typ // the next links are GET searches
	}
	d := c.s.data
	d.mu.RLock()
	found, r := c.customerMatches(c.customerStore(), typ, q)
	d.mu.RUnlock()
	if r.status != 0 {
		c.write(r)
		return
	}
	if el := q.Get("_elements"); el != "" {
		for i, m := range found {
			found[i] = elements(m, el)
		}
	}
	c.writeSearch(found, nil)
}

// customerMatches runs a generic search; the caller holds d.mu.
func (c *call) customerMatches(st *store, typ string, q url.Values) ([]obj, result) {
	for k := range q {
		if !slices.Contains(customerParams, k) {
			return nil, failed(http.StatusBadRequest, "not-supported", fmt.Sprintf("unknown search parameter %q for %s (supported: %s)", k, typ, strings.Join(customerParams, ", ")))
		}
	}
	// One id per value: the documents do not allow a comma-separated OR
	// (assumption customer-*.id.single; the deviation restores HAPI's OR).
	ids := q["_id"]
	lastUpdated := dateParams(q, "_lastUpdated")
	dates := dateParams(q, "date")
	var out []obj
	for _, r := range st.list(typ) {
		if len(ids) > 0 && !slices.Contains(ids, str(r, "id")) {
			continue
		}
		if !allDates(lastUpdated, str(objAt(r, "meta"), "lastUpdated")) || !allDates(dates, clinicalDate(r)) {
			continue
		}
		if !matchGeneric(r, q) {
			continue
		}
		out = append(out, r)
	}
	if s := q.Get("_sort"); s == "-_lastUpdated" {
		slices.Reverse(out)
	}
	return out, result{}
}

// clinicalDate is the date a generic date search compares against.
func clinicalDate(r obj) string {
	for _, k := range []string{"effectiveDateTime", "start", "authored", "recordedDate", "authoredOn", "date", "issued", "created", "occurrenceDateTime"} {
		if v := str(r, k); v != "" {
			return v
		}
	}
	return str(objAt(r, "period"), "start")
}

func matchGeneric(r obj, q url.Values) bool {
	for _, v := range q["identifier"] {
		if !hasIdentifier(r, parseToken(v)) {
			return false
		}
	}
	for _, name := range []string{"patient", "subject"} {
		for _, v := range q[name] {
			if _, id, err := parseRef(v); err != nil || patientOf(r) != id {
				return false
			}
		}
	}
	for _, v := range q["code"] {
		if !hasCoding(r["code"], parseToken(v)) {
			return false
		}
	}
	for _, v := range q["status"] {
		if str(r, "status") != v {
			return false
		}
	}
	for _, v := range q["gender"] {
		if str(r, "gender") != v {
			return false
		}
	}
	for _, v := range q["birthdate"] {
		p, err := parseDateParam(v, allPrefixes)
		if err != nil || !p.matches(str(r, "birthDate")) {
			return false
		}
	}
	for _, name := range []string{"name", "family", "given"} {
		for _, v := range q[name] {
			if !nameMatches(r, name, v) {
				return false
			}
		}
	}
	return true
}

// nameMatches is FHIR's default string search: case-insensitive
// starts-with on any name part.
func nameMatches(r obj, part, v string) bool {
	v = strings.ToLower(v)
	for _, n := range list(r, "name") {
		switch no := n.(type) {
		case obj:
			var parts []string
			if part != "given" {
				parts = append(parts, str(no, "family"), str(no, "text"))
			}
			if part != "family" {
				for _, g := range list(no, "given") {
					s, _ := g.(string)
					parts = append(parts, s)
				}
			}
			for _, p := range parts {
				if strings.HasPrefix(strings.ToLower(p), v) {
					return true
				}
			}
		case string: // Organization.name
			if strings.HasPrefix(strings.ToLower(no), v) {
				return true
			}
		}
	}
	if s, ok := r["name"].(string); ok && strings.HasPrefix(strings.ToLower(s), v) {
		return true
	}
	return false
}

// customerTransaction processes a batch (entries independent) or a
// transaction (all or nothing, urn:uuid references rewritten).
func customerTransaction(c *call) {
	b, ok := c.parseBody()
	if !ok {
		return
	}
	kind := str(b, "type")
	if kind != "batch" && kind != "transaction" {
		c.fail(http.StatusBadRequest, "invalid", "", "POST to the base takes a Bundle of type batch or transaction; a Bundle to store goes to /Bundle", "Bundle.type")
		return
	}
	entries := list(b, "entry")
	d := c.s.data
	d.mu.Lock()
	defer d.mu.Unlock()
	st := c.customerStore()
	if kind == "transaction" {
		st = st.clone()
		rewriteTransactionRefs(entries, st)
	}
	var out []any
	for i, e := range entries {
		eo, _ := e.(obj)
		r := c.entry(st, eo)
		if kind == "transaction" && r.status >= 400 {
			oo := r.oo
			if oo == nil {
				oo = outcome("error", "processing", "", "failed")
			}
			issues := list(oo, "issue")
			if len(issues) > 0 {
				is, _ := issues[0].(obj)
				is["diagnostics"] = fmt.Sprintf("transaction entry %d: %s (nothing was stored)", i, str(is, "diagnostics"))
			}
			c.fhirJSON(r.status, oo)
			return
		}
		resp := obj{"status": fmt.Sprintf("%d %s", r.status, http.StatusText(r.status))}
		if r.location != "" {
			resp["location"] = r.location
		}
		if r.etag != "" {
			resp["etag"] = r.etag
		}
		if r.modified != "" {
			resp["lastModified"] = str(objAt(r.res, "meta"), "lastUpdated")
		}
		if r.status >= 400 || (r.res == nil && r.oo != nil) {
			resp["outcome"] = r.oo
		}
		entry := obj{"response": resp}
		if r.res != nil {
			entry["resource"] = r.res
			entry["fullUrl"] = c.baseURL() + "/" + str(r.res, "resourceType") + "/" + str(r.res, "id")
		}
		out = append(out, entry)
	}
	if kind == "transaction" {
		c.s.data.customer[c.fam.fhir] = st
	}
	resp := obj{"resourceType": "Bundle", "type": kind + "-response"}
	if len(out) > 0 {
		resp["entry"] = out
	}
	c.ok(resp)
}

// entry runs one batch/transaction entry against st; the caller holds d.mu.
func (c *call) entry(st *store, e obj) result {
	req := objAt(e, "request")
	method, raw := str(req, "method"), str(req, "url")
	u, err := url.Parse(raw)
	if err != nil || method == "" || raw == "" {
		return failed(http.StatusBadRequest, "invalid", "entry.request needs method and a relative url")
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	typ := segs[0]
	if !c.fam.types[typ] {
		return failed(http.StatusNotFound, "not-supported", fmt.Sprintf("unknown resource type %q", typ))
	}
	res := objAt(e, "resource")
	switch {
	case method == "POST" && len(segs) == 1:
		return c.doCreate(st, typ, res, str(req, "ifNoneExist"))
	case method == "PUT" && len(segs) == 2:
		return c.doUpdate(st, typ, segs[1], res, str(req, "ifMatch"))
	case method == "DELETE" && len(segs) == 2:
		return c.doDelete(st, typ, segs[1], str(req, "ifMatch"))
	case method == "GET" && len(segs) == 2:
		return c.doRead(st, typ, segs[1])
	case method == "GET" && len(segs) == 1:
		found, r := c.customerMatches(st, typ, u.Query())
		if r.status != 0 {
			return r
		}
		var l []any
		for _, f := range found {
			l = append(l, obj{"fullUrl": c.baseURL() + "/" + typ + "/" + str(f, "id"), "resource": f, "search": obj{"mode": "match"}})
		}
		bundle := obj{"resourceType": "Bundle", "type": "searchset", "total": len(found)}
		if len(l) > 0 {
			bundle["entry"] = l
		}
		return result{status: http.StatusOK, res: bundle}
	}
	return failed(http.StatusBadRequest, "not-supported", fmt.Sprintf("%s %s is not supported in a bundle (conditional update/delete is not simulated)", method, raw))
}

// rewriteTransactionRefs gives every POST entry with a urn:uuid fullUrl its
// server id up front and rewrites references to it, as a transaction must.
func rewriteTransactionRefs(entries []any, st *store) {
	ids := map[string]string{}
	for _, e := range entries {
		eo, _ := e.(obj)
		full := str(eo, "fullUrl")
		req := objAt(eo, "request")
		if !strings.HasPrefix(full, "urn:uuid:") || str(req, "method") != "POST" {
			continue
		}
		typ := strings.Trim(str(req, "url"), "/")
		ids[full] = typ + "/" + st.newID()
	}
	if len(ids) == 0 {
		return
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case obj:
			if r, ok := x["reference"].(string); ok && ids[r] != "" {
				x["reference"] = ids[r]
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	for _, e := range entries {
		eo, _ := e.(obj)
		walk(objAt(eo, "resource"))
		if id, ok := ids[str(eo, "fullUrl")]; ok {
			// The create takes this id instead of a fresh one.
			req := objAt(eo, "request")
			req["method"] = "PUT"
			req["url"] = id
			objAt(eo, "resource")["id"] = strings.SplitN(id, "/", 2)[1]
		}
	}
}
