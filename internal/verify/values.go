package verify

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pkbgo/pkb/internal/assumptions"
)

// missingValue is a placeholder no one supplied and no discovery found.
type missingValue struct {
	name, description, why string
}

func (m *missingValue) Error() string {
	s := fmt.Sprintf("needs the value %s (%s)", m.name, m.description)
	if m.why != "" {
		s += ": " + m.why
	}
	return s
}

// valueStore resolves placeholder names: supplied values first, then the
// discoveries that pick them, each call made at most once per run.
type valueStore struct {
	e       *engine
	catalog map[string]assumptions.Value
	discs   []assumptions.Discovery

	mu       sync.Mutex
	known    map[string]string
	why      map[string]string // why a discovery did not find a name
	ran      map[int]*sync.Once
	scrubSet map[string]bool
}

func newValueStore(e *engine, supplied map[string]string) *valueStore {
	vs := &valueStore{e: e, catalog: map[string]assumptions.Value{}, discs: assumptions.Discoveries(),
		known: map[string]string{}, why: map[string]string{}, ran: map[int]*sync.Once{}, scrubSet: map[string]bool{}}
	for _, v := range assumptions.Values() {
		vs.catalog[v.Name] = v
	}
	for k, v := range supplied {
		if v != "" {
			vs.known[k] = v
			vs.scrubSet[v] = true
		}
	}
	for i := range vs.discs {
		vs.ran[i] = &sync.Once{}
	}
	return vs
}

// generated holds the values made fresh for one probe.
type generated map[string]string

func newGenerated() generated { return generated{} }

// get resolves a name for one probe.
func (vs *valueStore) get(ctx context.Context, name string, gen generated, depth int) (string, error) {
	def, declared := vs.catalog[name]
	switch {
	case !declared:
		return "", fmt.Errorf("verify: the table names an undeclared value %s", name)
	case def.Generated != "":
		if v, ok := gen[name]; ok {
			return v, nil
		}
		v := ""
		switch def.Generated {
		case "uuid":
			var b [16]byte
			_, _ = rand.Read(b[:])
			b[6] = b[6]&0x0f | 0x40
			b[8] = b[8]&0x3f | 0x80
			v = fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		case "now":
			v = time.Now().UTC().Format(time.RFC3339)
		}
		gen[name] = v
		return v, nil
	}
	vs.mu.Lock()
	v, ok := vs.known[name]
	vs.mu.Unlock()
	if ok {
		return v, nil
	}
	if depth > 4 {
		return "", &missingValue{name: name, description: def.Description, why: "its discoveries depend on each other"}
	}
	for i, d := range vs.discs {
		if !picks(d, name) {
			continue
		}
		if !vs.e.client.can(d.Clients) || !vs.e.client.reaches(d.Request.Family) {
			continue
		}
		vs.ran[i].Do(func() { vs.discover(ctx, d, depth) })
		vs.mu.Lock()
		v, ok := vs.known[name]
		vs.mu.Unlock()
		if ok {
			return v, nil
		}
	}
	vs.mu.Lock()
	why := vs.why[name]
	vs.mu.Unlock()
	if why == "" {
		why = fmt.Sprintf("supply it; no call a %s client can make finds it", vs.e.client)
	}
	return "", &missingValue{name: name, description: def.Description, why: why}
}

func picks(d assumptions.Discovery, name string) bool {
	for _, p := range d.Pick {
		if p.Name == name {
			return true
		}
	}
	return false
}

// discover makes one discovery call and records what it picks.
func (vs *valueStore) discover(ctx context.Context, d assumptions.Discovery, depth int) {
	fail := func(why string) {
		vs.mu.Lock()
		defer vs.mu.Unlock()
		for _, p := range d.Pick {
			if vs.why[p.Name] == "" {
				vs.why[p.Name] = why
			}
		}
	}
	req, err := vs.e.buildDepth(ctx, d.Request, newGenerated(), depth+1)
	if err != nil {
		fail("finding it needs " + strings.TrimPrefix(err.Error(), "needs "))
		return
	}
	ans, err := vs.e.call(ctx, req, nil, false)
	if err != nil {
		_, reason := vs.e.failure(err)
		fail(fmt.Sprintf("%s.%s, which finds it, failed: %s", d.Request.Family, d.Request.Operation, reason))
		return
	}
	if ans.status/100 != 2 {
		fail(fmt.Sprintf("%s.%s, which finds it, answered %d", d.Request.Family, d.Request.Operation, ans.status))
		return
	}
	body, err := ans.json()
	if err != nil {
		fail(fmt.Sprintf("%s.%s, which finds it, did not answer JSON", d.Request.Family, d.Request.Operation))
		return
	}
	for _, p := range d.Pick {
		path, err := parsePath(p.Path)
		if err != nil {
			continue
		}
		found := ""
		for _, l := range locate(body, path) {
			if !l.present {
				continue
			}
			switch v := l.value.(type) {
			case string:
				found = v
			case json.Number:
				found = v.String()
			}
		}
		vs.mu.Lock()
		if found != "" {
			vs.known[p.Name] = found
			vs.scrubSet[found] = true
		} else if vs.why[p.Name] == "" {
			vs.why[p.Name] = fmt.Sprintf("%s.%s, which finds it, answered without one", d.Request.Family, d.Request.Operation)
		}
		vs.mu.Unlock()
	}
}

// scrubList returns every value supplied or found, longest first.
func (vs *valueStore) scrubList() []string {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var out []string
	for v := range vs.scrubSet {
		if len(v) >= 3 {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) || len(out[i]) == len(out[j]) && out[i] < out[j] })
	return out
}

var rePlaceholder = regexp.MustCompile(`\{([a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)*)\}`)

// build fills a request template.
func (e *engine) build(ctx context.Context, t assumptions.Request, gen generated) (*Request, error) {
	return e.buildDepth(ctx, t, gen, 0)
}

func (e *engine) buildDepth(ctx context.Context, t assumptions.Request, gen generated, depth int) (*Request, error) {
	fill := func(s string) (string, error) {
		var ferr error
		out := rePlaceholder.ReplaceAllStringFunc(s, func(m string) string {
			if ferr != nil {
				return m
			}
			name := m[1 : len(m)-1]
			if _, ok := e.values.catalog[name]; !ok {
				return m // not a placeholder the catalogue declares
			}
			v, err := e.values.get(ctx, name, gen, depth)
			if err != nil {
				ferr = err
				return m
			}
			return v
		})
		return out, ferr
	}
	r := &Request{Family: t.Family, Operation: t.Operation, Anonymous: t.Anonymous, Query: url.Values{}, Header: http.Header{}}
	for _, p := range t.Path {
		v, err := fill(p)
		if err != nil {
			return nil, err
		}
		r.Path = append(r.Path, v)
	}
	for _, q := range t.Query {
		for _, qv := range q.Values {
			v, err := fill(qv)
			if err != nil {
				return nil, err
			}
			r.Query.Add(q.Name, v)
		}
	}
	for _, h := range t.Header {
		for _, hv := range h.Values {
			v, err := fill(hv)
			if err != nil {
				return nil, err
			}
			r.Header.Add(h.Name, v)
		}
	}
	if t.Body != "" {
		tmpl, err := decodeJSON([]byte(t.Body))
		if err != nil {
			return nil, fmt.Errorf("verify: the table's body of %s is not JSON: %w", t.Operation, err)
		}
		filled, err := fillJSON(tmpl, fill)
		if err != nil {
			return nil, err
		}
		if r.Body, err = json.Marshal(filled); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// fillJSON fills the placeholders of every string of a JSON value.
func fillJSON(v any, fill func(string) (string, error)) (any, error) {
	switch x := v.(type) {
	case string:
		return fill(x)
	case map[string]any:
		for k, e := range x {
			f, err := fillJSON(e, fill)
			if err != nil {
				return nil, err
			}
			x[k] = f
		}
	case []any:
		for i, e := range x {
			f, err := fillJSON(e, fill)
			if err != nil {
				return nil, err
			}
			x[i] = f
		}
	}
	return v, nil
}

var reURL = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://\S*`)

// cleanError renders an error without URLs (they carry identifiers) and
// without quoted text.
func cleanError(err error) string {
	s := reURL.ReplaceAllString(err.Error(), "<url>")
	s = regexp.MustCompile(`"[^"]*"`).ReplaceAllString(s, `"…"`)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// scrubReport removes, as a second line of defence, every value a probe
// sent or found from every string of the report.
func (e *engine) scrubReport(r *Report) {
	sc := newScrubber(e.values.scrubList())
	if sc == nil {
		return
	}
	clean := sc.clean
	for i := range r.Results {
		res := &r.Results[i]
		res.Reason = clean(res.Reason)
		res.Alternative = clean(res.Alternative)
		if ev := res.Evidence; ev != nil {
			ev.Body = clean(ev.Body)
			for j := range ev.Checks {
				c := &ev.Checks[j]
				c.Got = clean(c.Got)
				for k := range c.Siblings {
					c.Siblings[k] = clean(c.Siblings[k])
				}
			}
		}
	}
	for i := range r.Drift {
		r.Drift[i].Path = clean(r.Drift[i].Path)
		r.Drift[i].Detail = clean(r.Drift[i].Detail)
	}
}

// scrubber replaces known values; a value that starts and ends with a word
// character is matched as a whole word, so that a short one ("Dan") does
// not eat ordinary words ("Dangerous").
type scrubber struct{ re *regexp.Regexp }

func newScrubber(values []string) *scrubber {
	if len(values) == 0 {
		return nil
	}
	alts := make([]string, len(values))
	for i, v := range values {
		q := regexp.QuoteMeta(v)
		if reWordEdges.MatchString(v) {
			q = `\b` + q + `\b`
		}
		alts[i] = q
	}
	return &scrubber{re: regexp.MustCompile(strings.Join(alts, "|"))}
}

var reWordEdges = regexp.MustCompile(`^\w.*\w$|^\w$`)

func (s *scrubber) clean(in string) string {
	if s == nil {
		return in
	}
	return s.re.ReplaceAllString(in, "[redacted]")
}
