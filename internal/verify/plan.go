package verify

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/assumptions"
)

// Planned is a probe a run would send for one assumption, as the table
// writes it: placeholders are named ({patient.nhsNumber}), never filled.
type Planned struct {
	ID string `json:"id"`
	// Runs is false when the client cannot run the probe, or it writes and
	// writes are not allowed; Reason says why.
	Runs   bool   `json:"runs"`
	Reason string `json:"reason,omitempty"`
	// Writes marks a probe that changes data on PKB.
	Writes bool          `json:"writes"`
	Family access.Family `json:"family"`
	// Operation, Method and Route name the call, e.g. POST
	// /Questionnaire/{id}/$send-questionnaire-request.
	Operation string `json:"operation"`
	Method    string `json:"method"`
	Route     string `json:"route"`
	// Path, Query and Body are the templates of the call.
	Path  []string `json:"path,omitempty"`
	Query string   `json:"query,omitempty"`
	Body  string   `json:"body,omitempty"`
}

// Plan lists, before anything is sent, the probe each assumption would run
// for this client and options, so that pkb verify can say exactly what a
// run with --allow-writes will write.
func Plan(c Client, opts Options) []Planned {
	table := opts.Table
	if table == nil {
		table = assumptions.All()
	}
	e := &engine{client: c}
	ob := newObtainable(c, opts.Values)
	var out []Planned
	for _, a := range selectIDs(table, opts.Only) {
		pl := Planned{ID: a.ID, Family: a.Family}
		if a.Untestable != "" {
			pl.Reason = "untestable: " + a.Untestable
			out = append(out, pl)
			continue
		}
		p, why := e.choose(a)
		if p == nil {
			pl.Reason = why
			out = append(out, pl)
			continue
		}
		r := p.Request
		pl.Writes, pl.Family, pl.Operation, pl.Path, pl.Body = p.Writes, r.Family, r.Operation, r.Path, r.Body
		if op, ok := access.Lookup(r.Family, r.Operation); ok {
			pl.Method, pl.Route = op.Method, op.Path
		}
		q := url.Values{}
		for _, qp := range r.Query {
			q[qp.Name] = qp.Values
		}
		if len(q) > 0 {
			if s, err := url.QueryUnescape(q.Encode()); err == nil {
				pl.Query = s
			}
		}
		pl.Runs = !p.Writes || opts.AllowWrites
		if !pl.Runs {
			pl.Reason = "writes: needs --allow-writes and a named test patient"
		} else if missing := ob.missing(r); missing != "" {
			// Not sent: the plan says exactly what a run writes.
			pl.Runs, pl.Reason = false, "needs the value "+missing+": supply it"
		}
		out = append(out, pl)
	}
	return out
}

// WriteWrites writes, for a person to read before a run with
// --allow-writes, every call of the plan that changes data on PKB.
func WriteWrites(w io.Writer, plan []Planned) error {
	n := 0
	for _, p := range plan {
		if !p.Runs || !p.Writes {
			continue
		}
		n++
		line := fmt.Sprintf("%s %s.%s: %s %s", p.ID, p.Family, p.Operation, p.Method, p.Route)
		if len(p.Path) > 0 {
			line += " with " + strings.Join(p.Path, ", ")
		}
		if p.Query != "" {
			line += "?" + p.Query
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
		if p.Body != "" {
			if _, err := fmt.Fprintf(w, "    body: %s\n", p.Body); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		_, err := fmt.Fprintln(w, "No probe of this run writes.")
		return err
	}
	return nil
}

// obtainable says, without any I/O, which values a run could have: those
// supplied, those made fresh, and those a discovery the client can run
// picks when its own values can be had. A discovery may still find
// nothing; a plan errs on the side of listing a call.
type obtainable struct {
	client   Client
	supplied map[string]string
	catalog  map[string]assumptions.Value
	discs    []assumptions.Discovery
}

func newObtainable(c Client, supplied map[string]string) *obtainable {
	ob := &obtainable{client: c, supplied: supplied, catalog: map[string]assumptions.Value{}, discs: assumptions.Discoveries()}
	for _, v := range assumptions.Values() {
		ob.catalog[v.Name] = v
	}
	return ob
}

// missing returns the first value the request needs that no run could
// have, or "".
func (ob *obtainable) missing(r assumptions.Request) string {
	for _, name := range placeholders(r) {
		if !ob.has(name, 0) {
			return name
		}
	}
	return ""
}

func (ob *obtainable) has(name string, depth int) bool {
	def, ok := ob.catalog[name]
	switch {
	case !ok:
		return true // not a placeholder: sent as written
	case def.Generated != "" || ob.supplied[name] != "":
		return true
	case depth > 4:
		return false
	}
	for _, d := range ob.discs {
		if !picks(d, name) || !ob.client.can(d.Clients) || !ob.client.reaches(d.Request.Family) {
			continue
		}
		all := true
		for _, n := range placeholders(d.Request) {
			if !ob.has(n, depth+1) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// placeholders lists the {name}s of a request template.
func placeholders(r assumptions.Request) []string {
	var texts []string
	texts = append(texts, r.Path...)
	for _, q := range r.Query {
		texts = append(texts, q.Values...)
	}
	for _, h := range r.Header {
		texts = append(texts, h.Values...)
	}
	texts = append(texts, r.Body)
	var out []string
	for _, t := range texts {
		for _, m := range rePlaceholder.FindAllString(t, -1) {
			out = append(out, m[1:len(m)-1])
		}
	}
	return out
}
