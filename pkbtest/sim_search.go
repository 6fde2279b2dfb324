package pkbtest

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/access"
)

// dateParam is a FHIR date search value: a prefix and the range of instants
// its (possibly partial) date covers, [lo, hi).
type dateParam struct {
	prefix string
	lo, hi time.Time
}

var allPrefixes = []string{"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"}

// parseDateParam parses "ge2018-07-01", "2018", "lt2018-07-31T10:00:00Z" and
// so on. allowed lists the prefixes PKB supports for the parameter; an empty
// list allows only eq (written or implied).
func parseDateParam(v string, allowed []string) (dateParam, error) {
	p := dateParam{prefix: "eq"}
	rest := v
	if len(v) >= 2 && slices.Contains(allPrefixes, v[:2]) {
		p.prefix, rest = v[:2], v[2:]
	}
	if len(allowed) == 0 {
		allowed = []string{"eq"}
	}
	if !slices.Contains(allowed, p.prefix) {
		return p, fmt.Errorf("prefix %q is not supported here (supported: %s)", p.prefix, strings.Join(allowed, ", "))
	}
	lo, hi, err := dateRange(rest)
	if err != nil {
		return p, fmt.Errorf("%q is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][Z|±hh:mm]) after an optional prefix", v)
	}
	p.lo, p.hi = lo, hi
	return p, nil
}

// dateRange returns the instants a FHIR date, partial date or dateTime
// covers. Dates without a zone are taken as UTC.
func dateRange(s string) (lo, hi time.Time, err error) {
	switch len(s) {
	case 4:
		t, err := time.Parse("2006", s)
		return t, t.AddDate(1, 0, 0), err
	case 7:
		t, err := time.Parse("2006-01", s)
		return t, t.AddDate(0, 1, 0), err
	case 10:
		t, err := time.Parse("2006-01-02", s)
		return t, t.AddDate(0, 0, 1), err
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			prec := time.Second
			if !strings.Contains(s[11:], ":") || strings.Count(s[11:], ":") == 1 && !strings.ContainsAny(s[16:], "+-Z") {
				prec = time.Minute
			}
			return t, t.Add(prec), nil
		}
	}
	return time.Time{}, time.Time{}, fmt.Errorf("bad date %q", s)
}

// matches reports whether a resource's date value (itself possibly partial)
// satisfies the parameter. Following FHIR, the resource value is a range too;
// the comparisons below use its start for gt/ge/lt/le and the whole range
// for eq.
func (p dateParam) matches(value string) bool {
	rlo, rhi, err := dateRange(value)
	if err != nil {
		return false
	}
	switch p.prefix {
	case "eq":
		return !rlo.Before(p.lo) && !rhi.After(p.hi)
	case "ne":
		return rlo.Before(p.lo) || rhi.After(p.hi)
	case "gt", "sa":
		return !rlo.Before(p.hi)
	case "ge":
		return !rlo.Before(p.lo)
	case "lt", "eb":
		return rlo.Before(p.lo)
	case "le":
		return rlo.Before(p.hi)
	case "ap":
		return rlo.Before(p.hi.AddDate(0, 0, 1)) && rhi.After(p.lo.AddDate(0, 0, -1))
	}
	return false
}

// allDates reports whether value satisfies every (AND-ed) date parameter.
func allDates(params []dateParam, value string) bool {
	if len(params) > 0 && value == "" {
		return false
	}
	for _, p := range params {
		if !p.matches(value) {
			return false
		}
	}
	return true
}

// dateParams parses every value of a (validated) date parameter.
func dateParams(q url.Values, name string) []dateParam {
	var out []dateParam
	for _, v := range q[name] {
		if p, err := parseDateParam(v, allPrefixes); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// token is a FHIR token search value: system|code, |code, code or system|.
type token struct {
	system, code string
	hasSystem    bool
}

func parseToken(v string) token {
	sys, code, ok := strings.Cut(v, "|")
	if !ok {
		return token{code: v}
	}
	return token{system: sys, code: code, hasSystem: true}
}

// matchCoding reports whether a Coding/Identifier-like pair matches.
func (t token) match(system, code string) bool {
	if t.hasSystem && t.system != system {
		return false
	}
	return t.code == "" || t.code == code
}

// parseRef parses a reference search value: "Type/id", a bare id, or an
// absolute URL ending in Type/id.
func parseRef(v string) (typ, id string, err error) {
	if v == "" {
		return "", "", fmt.Errorf("empty reference")
	}
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil {
			return "", "", fmt.Errorf("bad reference URL %q", v)
		}
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(segs) < 2 {
			return "", "", fmt.Errorf("reference %q does not end in Type/id", v)
		}
		return segs[len(segs)-2], segs[len(segs)-1], nil
	}
	parts := strings.Split(v, "/")
	switch len(parts) {
	case 1:
		return "", parts[0], nil
	case 2:
		if parts[0] == "" || parts[1] == "" || parts[0][0] < 'A' || parts[0][0] > 'Z' {
			return "", "", fmt.Errorf("reference %q is not Type/id", v)
		}
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("reference %q is not Type/id", v)
}

// refTo returns the id of a reference search value of type want, or ""
// when it names another type.
func refTo(v, want string) string {
	typ, id, err := parseRef(v)
	if err != nil || (typ != "" && typ != want) {
		return ""
	}
	return id
}

// --- generic JSON access ---

func str(m obj, key string) string {
	s, _ := m[key].(string)
	return s
}

func objAt(m obj, key string) obj {
	o, _ := m[key].(obj)
	return o
}

func list(m obj, key string) []any {
	l, _ := m[key].([]any)
	return l
}

// refID returns the id of the reference in m[key] when it points at typ.
func refID(m obj, key, typ string) string {
	r := objAt(m, key)
	if r == nil {
		return ""
	}
	return refTo(str(r, "reference"), typ)
}

// hasCoding reports whether a CodeableConcept (or a list of them) has a
// coding matching t.
func hasCoding(v any, t token) bool {
	switch cc := v.(type) {
	case []any:
		for _, x := range cc {
			if hasCoding(x, t) {
				return true
			}
		}
	case obj:
		for _, c := range list(cc, "coding") {
			co, _ := c.(obj)
			if t.match(str(co, "system"), str(co, "code")) {
				return true
			}
		}
	}
	return false
}

// hasIdentifier reports whether resource m has an identifier matching t.
func hasIdentifier(m obj, t token) bool {
	ids := list(m, "identifier")
	if one := objAt(m, "identifier"); one != nil { // STU3 DocumentReference.masterIdentifier-style singletons
		ids = append(ids, one)
	}
	if mi := objAt(m, "masterIdentifier"); mi != nil {
		ids = append(ids, mi)
	}
	for _, x := range ids {
		io, _ := x.(obj)
		if t.match(str(io, "system"), str(io, "value")) {
			return true
		}
	}
	return false
}

// codeText reports whether a CodeableConcept's text or a coding display
// contains s, case-insensitively (the :text modifier).
func codeText(cc obj, s string) bool {
	s = strings.ToLower(s)
	if strings.Contains(strings.ToLower(str(cc, "text")), s) {
		return true
	}
	for _, c := range list(cc, "coding") {
		co, _ := c.(obj)
		if strings.Contains(strings.ToLower(str(co, "display")), s) {
			return true
		}
	}
	return false
}

// --- searchset Bundles and paging ---

// searchset is one page of a search: the Bundle with total and its links.
// Paging is stateless, so links stay valid for the life of the simulator.
// The Aggregated endpoint pages as PKB documents (docs/pkb-api.md §2.4):
// `page=` numbers, at most 10 per page, and server-relative links with
// `first`; the other families repeat the query with `_offset` in absolute
// links.
func (c *call) searchset(matches []obj, included []obj, maxCount int) obj {
	count := c.s.pageSize
	if maxCount > 0 && count > maxCount {
		count = maxCount
	}
	if v := c.query.Get("_count"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			count = n
		}
	}
	if maxCount > 0 && count > maxCount {
		count = maxCount
	}
	byPage := c.fam.id == access.FamilyAggregated
	offset, page := 0, 1
	if byPage {
		if n, err := strconv.Atoi(c.query.Get("page")); err == nil && n > 1 {
			page = n
		}
		offset = (page - 1) * count
	} else if v := c.query.Get("_offset"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			offset = n
		}
	}
	total := len(matches)
	end := min(offset+count, total)
	start := min(offset, total)
	base := c.baseURL()
	path := c.r.URL.Path
	if c.linkPath != "" {
		path = c.fam.prefix + c.linkPath
	}
	link := func(rel string, to int) obj {
		q := cloneValues(c.query)
		q.Del("_offset")
		q.Del("page")
		u := base + strings.TrimPrefix(path, c.fam.prefix)
		switch {
		case byPage:
			q.Set("page", strconv.Itoa(to))
			u = path // server-relative, as PKB's
		case to > 0:
			q.Set("_offset", strconv.Itoa(to))
		}
		if enc := q.Encode(); enc != "" {
			u += "?" + enc
		}
		return obj{"relation": rel, "url": u}
	}
	var links []any
	if byPage {
		links = append(links, link("self", page), link("first", 1))
		if end < total && count > 0 {
			links = append(links, link("next", page+1))
		}
		if page > 1 && count > 0 {
			links = append(links, link("previous", page-1))
		}
	} else {
		links = append(links, link("self", offset))
		if end < total && count > 0 {
			links = append(links, link("next", end))
		}
		if start > 0 && count > 0 {
			links = append(links, link("previous", max(0, start-count)))
		}
	}
	var entries []any
	if c.query.Get("_summary") != "count" {
		for _, m := range matches[start:end] {
			entries = append(entries, obj{"fullUrl": base + "/" + str(m, "resourceType") + "/" + str(m, "id"), "resource": m, "search": obj{"mode": "match"}})
		}
		for _, m := range included {
			entries = append(entries, obj{"fullUrl": base + "/" + str(m, "resourceType") + "/" + str(m, "id"), "resource": m, "search": obj{"mode": "include"}})
		}
	}
	b := obj{"resourceType": "Bundle", "id": bundleID(c), "type": "searchset", "total": total, "link": links}
	if len(entries) > 0 {
		b["entry"] = entries
	}
	meta := obj{"lastUpdated": time.Now().UTC().Format(time.RFC3339)}
	b["meta"] = meta
	return b
}

func bundleID(c *call) string {
	return fmt.Sprintf("pkbtest-%d", c.s.bundles.Add(1))
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}
