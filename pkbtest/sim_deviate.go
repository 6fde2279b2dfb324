package pkbtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/assumptions"
)

// WithDeviations makes the simulator behave as if the named assumptions
// were false: the x-pkb-assumption entries of the OpenAPI documents
// (internal/assumptions), e.g. "facade.purview.path". A deviation serves an
// operation at another route, refuses a client type, answers another
// status or another body shape, or names a parameter otherwise, in the way
// that entry's probe would notice, and, where the entry names an
// alternative, as that alternative. It exists to prove that pkb verify's
// probes can fail (pkb serve --deviate). NewSimulator refuses an unknown
// id and an untestable one.
//
// A deviated route is moved before routing: a request to the alternative
// is rewritten onto the documented route, so that it is still validated
// against the documents like any other request, and the documented route
// answers 404 (or 405 when only the method moved).
func WithDeviations(ids ...string) SimOption {
	return func(s *simSettings) { s.deviate = append(s.deviate, ids...) }
}

// Deviations lists the assumption ids the simulator can deviate from,
// sorted: every testable entry.
func Deviations() []string {
	var out []string
	for _, a := range assumptions.All() {
		if a.Testable() && deviationFor(a) != nil {
			out = append(out, a.ID)
		}
	}
	return out
}

// Deviating returns the ids the simulator deviates from, sorted.
func (s *Simulator) Deviating() []string {
	if s.dev == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.dev.ids))
}

// deviations is the combined behaviour of the deviations switched on.
type deviations struct {
	ids      map[string]bool
	rewrites []func(c *call) bool // before routing; true when the deviation answered
	opens    []func(c *call) bool // serve without credentials
	denials  []func(op access.Operation, g Grant) bool
	wrappers []wrapper
}

type wrapper struct {
	fam access.Family
	ops func(id string) bool
	fn  func(handlerFunc) handlerFunc
}

func newDeviations(ids []string) (*deviations, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	d := &deviations{ids: map[string]bool{}}
	for _, id := range ids {
		a, ok := assumptions.ByID(id)
		switch {
		case !ok:
			return nil, fmt.Errorf("pkbtest: no assumption %q to deviate from", id)
		case !a.Testable():
			return nil, fmt.Errorf("pkbtest: assumption %s is untestable, so no probe could notice a deviation", id)
		}
		dv := deviationFor(a)
		if dv == nil {
			return nil, fmt.Errorf("pkbtest: the simulator has no deviation for %s", id)
		}
		if !d.ids[id] {
			dv(a, d)
			d.ids[id] = true
		}
	}
	return d, nil
}

// before runs the rewrites; nil-safe.
func (d *deviations) before(c *call) bool {
	if d == nil {
		return false
	}
	for _, rw := range d.rewrites {
		if rw(c) {
			return true
		}
	}
	return false
}

// open reports whether a deviation serves the operation without
// credentials; nil-safe.
func (d *deviations) open(c *call) bool {
	if d == nil {
		return false
	}
	return slices.ContainsFunc(d.opens, func(f func(*call) bool) bool { return f(c) })
}

// denies reports whether a deviation refuses the grant; nil-safe.
func (d *deviations) denies(op access.Operation, g Grant) bool {
	if d == nil {
		return false
	}
	return slices.ContainsFunc(d.denials, func(f func(access.Operation, Grant) bool) bool { return f(op, g) })
}

// wrap replaces the handlers of deviated operations; nil-safe.
func (d *deviations) wrap(h map[access.Family]map[string]handlerFunc) {
	if d == nil {
		return
	}
	for _, w := range d.wrappers {
		for id, fn := range h[w.fam] {
			if w.ops(id) {
				h[w.fam][id] = w.fn(fn)
			}
		}
	}
}

func (d *deviations) wrapOp(f access.Family, fn func(handlerFunc) handlerFunc, ops ...string) {
	d.wrappers = append(d.wrappers, wrapper{fam: f, ops: func(id string) bool { return slices.Contains(ops, id) }, fn: fn})
}

// deviation switches on the behaviour of one assumption being false.
type deviation func(a assumptions.Assumption, d *deviations)

// deviationFor returns how the simulator deviates from an assumption: the
// hand-written deviations below, else one derived from the entry's kind
// and probe (a moved or missing route, a refused grant, another status, a
// mandatory Aggregated parameter).
func deviationFor(a assumptions.Assumption) deviation {
	if dv, ok := special[a.ID]; ok {
		return dv
	}
	if len(a.Probes) == 0 {
		return nil
	}
	p := a.Probes[0]
	switch a.Kind {
	case assumptions.KindPath:
		for _, alt := range p.Alternatives {
			if alt.Template != "" {
				return func(a assumptions.Assumption, d *deviations) {
					op, _ := access.Lookup(p.Request.Family, p.Request.Operation)
					d.moved(op, alt.Method, alt.Template, nil)
				}
			}
		}
		if p.Request.Operation == a.Operation {
			return func(a assumptions.Assumption, d *deviations) {
				op, _ := access.Lookup(p.Request.Family, p.Request.Operation)
				d.missing(op)
			}
		}
	case assumptions.KindAccess:
		if p.Request.Anonymous {
			return func(a assumptions.Assumption, d *deviations) {
				d.opens = append(d.opens, func(c *call) bool {
					return c.fam.id == p.Request.Family && c.op.ID == p.Request.Operation && c.r.Header.Get("Authorization") == ""
				})
			}
		}
		return func(a assumptions.Assumption, d *deviations) {
			d.denials = append(d.denials, func(op access.Operation, g Grant) bool {
				return op.Family == p.Request.Family && op.ID == p.Request.Operation && grantPermits(p.Clients, g)
			})
		}
	case assumptions.KindStatus:
		if len(p.Contradict) > 0 {
			return func(a assumptions.Assumption, d *deviations) {
				d.wrapOp(p.Request.Family, statusTo(p.Contradict[0]), p.Request.Operation)
			}
		}
	case assumptions.KindParameter, assumptions.KindRequired:
		// An Aggregated type whose mandatory parameter is the one the
		// entry's first alternative adds: a search without it is refused.
		if a.Family == access.FamilyAggregated && len(p.Alternatives) > 0 && p.Alternatives[0].Request != nil {
			var need []string
			for _, q := range p.Alternatives[0].Request.Query {
				if !slices.ContainsFunc(p.Request.Query, func(x assumptions.Param) bool { return x.Name == q.Name }) {
					need = append(need, q.Name)
				}
			}
			if len(need) > 0 {
				return func(a assumptions.Assumption, d *deviations) {
					d.wrapOp(a.Family, requireQuery(need), p.Request.Operation)
				}
			}
		}
	}
	return nil
}

// special are the deviations that cannot be derived from the entry.
var special = map[string]deviation{
	"facade.documentreference.none-refused": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, func(h handlerFunc) handlerFunc {
			return func(c *call) {
				if c.query.Get("patient") == "" && len(c.query["created"]) == 0 && c.query.Get("indexed") == "" {
					c.writeSearch(nil, nil) // answered, not refused
					return
				}
				h(c)
			}
		}, "searchDocumentReference")
	},
	"facade.documentreference.indexed-alone": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, requireQuery([]string{"patient"}), "searchDocumentReference")
	},
	"facade.person.link-single": func(a assumptions.Assumption, d *deviations) {
		d.rewrites = append(d.rewrites, func(c *call) bool {
			if c.fam.id == access.FamilyFacade && strings.TrimPrefix(c.r.URL.Path, c.fam.prefix) == "/Person" && len(c.query["link"]) > 1 {
				q := c.r.URL.Query()
				q["link"] = q["link"][:1] // a repeated link is taken, not refused
				c.setQuery(q)
			}
			return false
		})
	},
	"facade.person-destroy.definition":                 instanceDefinition("destroy"),
	"facade.person-destroy-orphan-accounts.definition": instanceDefinition("destroy-orphan-accounts"),
	"facade.person-delete-status.definition":           instanceDefinition("delete_status"),
	"facade.count.accepted": func(a assumptions.Assumption, d *deviations) {
		d.wrappers = append(d.wrappers, wrapper{fam: access.FamilyFacade,
			ops: func(id string) bool { return strings.HasPrefix(id, "search") || id == "observationGroup" },
			fn: func(h handlerFunc) handlerFunc {
				return func(c *call) {
					if _, ok := c.query["_count"]; ok {
						c.fail(http.StatusBadRequest, "not-supported", "", "unknown search parameter _count", "_count")
						return
					}
					h(c)
				}
			}})
	},
	"facade.date-of-last-data-point.instance-path": func(a assumptions.Assumption, d *deviations) {
		op, _ := access.Lookup(access.FamilyFacade, "patientInstanceDateOfLastDataPoint")
		// The type-level route carries no id: the caller's own record.
		d.moved(op, http.MethodGet, "/Patient/$date-of-last-data-point", []string{"_self"})
		d.wrapOp(a.Family, func(h handlerFunc) handlerFunc {
			return func(c *call) {
				if c.params["id"] == "_self" {
					c.params["id"] = c.actor.patientID
				}
				h(c)
			}
		}, op.ID)
	},
	"messaging.process-message.body": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, transformJSON(func(v any) any {
			return obj{"resourceType": "Parameters", "parameter": []any{obj{"name": "return", "resource": v}}}
		}), "patientProcessMessage")
	},
	"messaging.process-message-async.response-url": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, refuseQuery("response-url"), "processMessageAsync")
	},
	"customer-stu3.id.single": commaOR(access.FamilyCustomerSTU3),
	"customer-r4.id.single":   commaOR(access.FamilyCustomerR4),
	"aggregated.questionnaire-response.include": func(a assumptions.Assumption, d *deviations) {
		// PKB's value would be the typed include; the untyped one is refused.
		d.rewrites = append(d.rewrites, func(c *call) bool {
			if c.fam.id != access.FamilyAggregated || strings.TrimPrefix(c.r.URL.Path, c.fam.prefix) != "/QuestionnaireResponse" {
				return false
			}
			q := c.r.URL.Query()
			switch q.Get("_include") {
			case "QuestionnaireResponse:based-on":
				c.fail(http.StatusBadRequest, "not-supported", "", "unknown _include value", "_include")
				return true
			case "QuestionnaireResponse:based-on:ServiceRequest":
				q.Set("_include", "QuestionnaireResponse:based-on")
				c.setQuery(q)
			}
			return false
		})
	},
	"restapi.measurements-by-type.path": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, transformJSON(func(v any) any { return obj{"measurements": v} }), "listMeasurementsByType")
	},
	"restapi.measurements.apiRefs-repeat":         commaOnly("listMeasurements"),
	"restapi.patient-measurements.apiRefs-repeat": commaOnly("listPatientMeasurements"),
	"restapi.measurements.array": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, transformJSON(func(v any) any { return obj{"measurements": v} }), "listMeasurements")
	},
	"restapi.patient-measurements.array": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, transformJSON(func(v any) any { return obj{"measurements": v} }), "listPatientMeasurements")
	},
	"restapi.btg.user-id": func(a assumptions.Assumption, d *deviations) {
		// PKB's name would be userID, as its page spells it.
		d.rewrites = append(d.rewrites, func(c *call) bool {
			if c.fam.id != access.FamilyRESTAPI || !strings.HasPrefix(strings.TrimPrefix(c.r.URL.Path, c.fam.prefix), "/v2/consents/BTG/") {
				return false
			}
			q := c.r.URL.Query()
			if _, ok := q["userId"]; ok {
				c.fail(http.StatusBadRequest, "invalid", "", "unknown query parameter userId")
				return true
			}
			if v, ok := q["userID"]; ok {
				delete(q, "userID")
				q["userId"] = v
				c.setQuery(q)
			}
			return false
		})
	},
	"restapi.error.json": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, func(h handlerFunc) handlerFunc {
			return func(c *call) {
				status, hdr, body := capture(h, c)
				if status >= 400 {
					hdr = http.Header{"Content-Type": {"text/html;charset=UTF-8"}}
					body = []byte("<html><body><h1>Error</h1><p>The request could not be served.</p></body></html>")
				}
				emit(c, status, hdr, body)
			}
		}, "listPatientMeasurements")
	},
	"restapi.measurement.object": measurements(func(m obj) any {
		return fmt.Sprintf("%v:%v %v", m["apiRef"], m["value"], m["unit"])
	}),
	"restapi.measurement.id":        measurements(func(m obj) any { return toNumber(m, "id") }),
	"restapi.measurement.apiRef":    measurements(func(m obj) any { return renamed(m, "apiRef", "type") }),
	"restapi.measurement.value":     measurements(func(m obj) any { return toNumber(m, "value") }),
	"restapi.measurement.unit":      measurements(func(m obj) any { return renamed(m, "unit", "units") }),
	"restapi.measurement.timestamp": measurements(func(m obj) any { return renamed(m, "timestamp", "date") }),
	"restapi.measurement.comment": measurements(func(m obj) any {
		if c, ok := m["comment"]; ok {
			m = cloneObj(m)
			m["comment"] = obj{"text": c}
		}
		return m
	}),
	"restapi.measurement-api-ref.units": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, transformJSON(eachObject(func(m obj) any {
			var units []string
			for _, u := range list(m, "units") {
				units = append(units, fmt.Sprint(u))
			}
			m = cloneObj(m)
			m["units"] = strings.Join(units, ",")
			return m
		})), "listMeasurementApiRefs")
	},
	"restapi.btg-token.shape":                     textBody("breakTheGlass", "message"),
	"restapi.btg-token.token":                     renameField("breakTheGlass", "token", "btgToken"),
	"restapi.btg-token.validUntil":                renameField("breakTheGlass", "validUntil", "validTo"),
	"restapi.btg-token.message":                   renameField("breakTheGlass", "message", "detail"),
	"restapi.record-access-token.shape":           textBody("createRecordAccessToken", "invitationCode"),
	"restapi.record-access-token.invitationCode":  renameField("createRecordAccessToken", "invitationCode", "code"),
	"restapi.record-access-token.decryptionToken": renameField("createRecordAccessToken", "decryptionToken", "token"),
	"restapi.record-access-token.expiry": func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(a.Family, transformJSON(func(v any) any {
			m, _ := v.(obj)
			if m == nil {
				return v
			}
			m = cloneObj(m)
			m["expiry"] = 1767225600000 // epoch milliseconds, not a string
			return m
		}), "createRecordAccessToken")
	},
}

// moved serves op at another route: the alternative is rewritten onto the
// documented route (its parameters carried over in order, then fill), and
// the documented route answers 404, or 405 when only the method differs.
func (d *deviations) moved(op access.Operation, method, template string, fill []string) {
	method = strings.ToUpper(method)
	d.rewrites = append(d.rewrites, func(c *call) bool {
		if c.fam.id != op.Family {
			return false
		}
		rel := strings.TrimPrefix(c.r.URL.Path, c.fam.prefix)
		if _, ok := matchTemplate(op.Path, rel); ok && c.r.Method == op.Method {
			if template == op.Path {
				c.fail(http.StatusMethodNotAllowed, "not-supported", "", c.r.Method+" is not allowed here")
			} else {
				c.fail(http.StatusNotFound, "not-supported", "", "no operation matches "+c.r.Method+" "+rel)
			}
			return true
		}
		if vals, ok := matchTemplate(template, rel); ok && c.r.Method == method {
			r := c.r.Clone(c.r.Context())
			r.Method = op.Method
			r.URL.Path = c.fam.prefix + fillPath(op.Path, append(vals, fill...))
			r.URL.RawPath = ""
			c.r = r
		}
		return false
	})
}

// missing answers 404 on op's route.
func (d *deviations) missing(op access.Operation) {
	d.rewrites = append(d.rewrites, func(c *call) bool {
		if c.fam.id != op.Family || c.r.Method != op.Method {
			return false
		}
		if _, ok := matchTemplate(op.Path, strings.TrimPrefix(c.r.URL.Path, c.fam.prefix)); !ok {
			return false
		}
		c.fail(http.StatusNotFound, "not-supported", "", "this server does not serve "+op.Method+" "+op.Path)
		return true
	})
}

// setQuery replaces the request's query, for routing and handlers alike.
func (c *call) setQuery(q map[string][]string) {
	r := c.r.Clone(c.r.Context())
	r.URL.RawQuery = url.Values(q).Encode()
	c.r = r
	c.query = r.URL.Query()
}

// matchTemplate matches a path (relative to the family's prefix) against a
// route template and returns the values of its parameters.
func matchTemplate(template, path string) ([]string, bool) {
	ts := strings.Split(strings.Trim(template, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	var vals []string
	for i, t := range ts {
		switch {
		case strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}"):
			if ps[i] == "" {
				return nil, false
			}
			vals = append(vals, ps[i])
		case t != ps[i]:
			return nil, false
		}
	}
	return vals, true
}

func fillPath(template string, vals []string) string {
	ts := strings.Split(strings.Trim(template, "/"), "/")
	i := 0
	for j, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") && i < len(vals) {
			ts[j] = vals[i]
			i++
		}
	}
	return "/" + strings.Join(ts, "/")
}

// capture runs a handler into a recorder.
func capture(h handlerFunc, c *call) (int, http.Header, []byte) {
	orig := c.w
	rec := httptest.NewRecorder()
	c.w = rec
	h(c)
	c.w = orig
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

// emit writes a captured (and changed) answer.
func emit(c *call, status int, hdr http.Header, body []byte) {
	for k, v := range hdr {
		if k != "Content-Length" {
			c.w.Header()[k] = v
		}
	}
	c.status = status
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// statusTo answers a success with another status.
func statusTo(code int) func(handlerFunc) handlerFunc {
	return func(h handlerFunc) handlerFunc {
		return func(c *call) {
			status, hdr, body := capture(h, c)
			if status/100 == 2 {
				status = code
			}
			emit(c, status, hdr, body)
		}
	}
}

// transformJSON changes a successful JSON answer.
func transformJSON(fn func(any) any) func(handlerFunc) handlerFunc {
	return func(h handlerFunc) handlerFunc {
		return func(c *call) {
			status, hdr, body := capture(h, c)
			if status/100 == 2 && len(body) > 0 {
				var v any
				if json.Unmarshal(body, &v) == nil {
					if b, err := json.Marshal(fn(v)); err == nil {
						body = b
					}
				}
			}
			emit(c, status, hdr, body)
		}
	}
}

// eachObject applies fn to every object of a JSON array.
func eachObject(fn func(obj) any) func(any) any {
	return func(v any) any {
		arr, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			if m, ok := e.(obj); ok {
				out[i] = fn(m)
			} else {
				out[i] = e
			}
		}
		return out
	}
}

// measurements changes every measurement both list operations answer.
func measurements(fn func(obj) any) deviation {
	return func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(access.FamilyRESTAPI, transformJSON(eachObject(fn)), "listMeasurements", "listPatientMeasurements")
	}
}

func renamed(m obj, from, to string) obj {
	m = cloneObj(m)
	if v, ok := m[from]; ok {
		delete(m, from)
		m[to] = v
	}
	return m
}

func toNumber(m obj, key string) obj {
	m = cloneObj(m)
	if s, ok := m[key].(string); ok {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			m[key] = f
		}
	}
	return m
}

// renameField renames a field of an operation's JSON object answer.
func renameField(op, from, to string) deviation {
	return func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(access.FamilyRESTAPI, transformJSON(func(v any) any {
			if m, ok := v.(obj); ok {
				return renamed(m, from, to)
			}
			return v
		}), op)
	}
}

// textBody answers an operation's success with one field of its JSON
// object as plain text.
func textBody(op, field string) deviation {
	return func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(access.FamilyRESTAPI, func(h handlerFunc) handlerFunc {
			return func(c *call) {
				status, hdr, body := capture(h, c)
				if status/100 == 2 {
					var m obj
					if json.Unmarshal(body, &m) == nil {
						hdr = http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}
						body = []byte(fmt.Sprint(m[field]))
					}
				}
				emit(c, status, hdr, body)
			}
		}, op)
	}
}

// instanceDefinition serves PKB's OperationDefinition of a Person
// operation as instance-level (Person-i-name) instead of type-level.
func instanceDefinition(name string) deviation {
	return func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(access.FamilyFacade, func(h handlerFunc) handlerFunc {
			return func(c *call) {
				switch c.params["id"] {
				case "Person-t-" + name:
					c.fail(http.StatusNotFound, "not-found", "", "no OperationDefinition "+c.params["id"])
					return
				case "Person-i-" + name:
					c.params["id"] = "Person-t-" + name
					transformJSON(func(v any) any {
						m, _ := v.(obj)
						if m == nil {
							return v
						}
						m = cloneObj(m)
						m["id"], m["type"], m["instance"] = "Person-i-"+name, false, true
						return m
					})(h)(c)
					return
				}
				h(c)
			}
		}, "readOperationDefinition")
	}
}

// requireQuery refuses a request without each named query parameter.
func requireQuery(names []string) func(handlerFunc) handlerFunc {
	return func(h handlerFunc) handlerFunc {
		return func(c *call) {
			for _, n := range names {
				if c.query.Get(n) == "" {
					c.fail(http.StatusBadRequest, "required", "", "this search needs the parameter "+n, n)
					return
				}
			}
			h(c)
		}
	}
}

// refuseQuery refuses a request with the named query parameter.
func refuseQuery(name string) func(handlerFunc) handlerFunc {
	return func(h handlerFunc) handlerFunc {
		return func(c *call) {
			if _, ok := c.query[name]; ok {
				c.fail(http.StatusBadRequest, "not-supported", "", "unknown query parameter "+name, name)
				return
			}
			h(c)
		}
	}
}

// commaOR reads a comma-separated _id as an OR of ids, as HAPI does.
func commaOR(f access.Family) deviation {
	return func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(f, func(h handlerFunc) handlerFunc {
			return func(c *call) {
				var ids []string
				for _, v := range c.query["_id"] {
					ids = append(ids, strings.Split(v, ",")...)
				}
				if ids != nil {
					c.query["_id"] = ids
				}
				h(c)
			}
		}, "search", "searchPost")
	}
}

// commaOnly takes apiRefs as one comma-separated value and refuses it
// repeated.
func commaOnly(op string) deviation {
	return func(a assumptions.Assumption, d *deviations) {
		d.wrapOp(access.FamilyRESTAPI, func(h handlerFunc) handlerFunc {
			return func(c *call) {
				refs := c.query["apiRefs"]
				if len(refs) > 1 {
					c.fail(http.StatusBadRequest, "invalid", "", "apiRefs takes one comma-separated value")
					return
				}
				if len(refs) == 1 {
					c.query["apiRefs"] = strings.Split(refs[0], ",")
				}
				h(c)
			}
		}, op)
	}
}
