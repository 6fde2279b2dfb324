package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/pkbgo/pkb/internal/redact"
)

// table is a human-readable, column-aligned table.
type table struct {
	head []string
	rows [][]string
}

func newTable(head ...string) *table { return &table{head: head} }

func (t *table) add(cells ...string) {
	t.rows = append(t.rows, cells)
}

// write prints the table; cells are cleaned here, where the writer's
// secrets are known, and redacted before they are cut, so that a cut can
// never leave part of a token.
func (t *table) write(w io.Writer) {
	red := redactorOf(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.head, "\t"))
	for _, r := range t.rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = truncate(oneLine(red, c), 100)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// clean removes from server text what could drive a terminal (escape
// sequences, control and bidi characters, invalid UTF-8) and the secrets red
// knows. Control characters go first, so that one cannot split a secret.
func clean(red *redact.Redactor, s string) string {
	return red.Known(redact.StripControls(s))
}

// oneLine is clean with all whitespace folded to single spaces, so that
// server text cannot start a line of its own and pass for the command's.
func oneLine(red *redact.Redactor, s string) string {
	return strings.Join(strings.Fields(clean(red, s)), " ")
}

func truncate(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}

// writeJSON prints v as indented JSON with every string cleaned.
func writeJSON(w io.Writer, v any) error {
	return writeJSONWith(w, v, redactorOf(w))
}

// writeJSONWith is writeJSON with an explicit Redactor, for output that
// bypasses the terminal writer's (pkb token --show-token).
func writeJSONWith(w io.Writer, v any, red *redact.Redactor) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	out, err := safeJSON(b, red, true)
	if err != nil {
		return err
	}
	_, err = past(w).Write(out)
	return err
}

// past returns the writer behind a terminal writer, for output that is
// already clean (safeJSON's): cleaning it twice costs as much again.
func past(w io.Writer) io.Writer {
	if t, ok := w.(*termWriter); ok {
		return t.w
	}
	return w
}

// safeJSON re-encodes one JSON document, indented or on one line, keeping
// its member order and number literals, with every string (member names
// too) cleaned and then escaped by encoding/json. The result is safe for a
// terminal, and its decoded strings are too, so "pkb ... --json | jq -r"
// cannot be made to print an escape sequence either.
func safeJSON(doc []byte, red *redact.Redactor, indent bool) ([]byte, error) {
	if !json.Valid(doc) {
		return nil, errors.New("not a JSON value")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type level struct {
		object, afterName bool
		n                 int
	}
	var (
		out   bytes.Buffer
		stack []level
		done  bool
	)
	str := json.NewEncoder(&out)
	str.SetEscapeHTML(false)
	newline := func() {
		if indent {
			out.WriteByte('\n')
			out.WriteString(strings.Repeat("  ", len(stack)))
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !done {
				return nil, io.ErrUnexpectedEOF
			}
			if indent {
				out.WriteByte('\n')
			}
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
		if done {
			return nil, errors.New("data after the JSON value")
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if top.n > 0 {
				newline()
			}
			out.WriteByte(byte(d))
			done = len(stack) == 0
			continue
		}
		// Everything else is a value or, in an object, a member name.
		name := false
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			switch {
			case top.object && top.afterName:
				top.afterName = false
			default:
				if top.n > 0 {
					out.WriteByte(',')
				}
				newline()
				top.n++
				name = top.object
				top.afterName = name
			}
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(v))
			stack = append(stack, level{object: v == '{'})
		case string:
			if err := str.Encode(clean(red, v)); err != nil {
				return nil, err
			}
			out.Truncate(out.Len() - 1) // Encode's newline
			if name && indent {
				out.WriteString(": ")
			} else if name {
				out.WriteByte(':')
			}
		case json.Number:
			out.WriteString(v.String())
		case bool:
			fmt.Fprint(&out, v)
		case nil:
			out.WriteString("null")
		}
		done = len(stack) == 0
	}
}

// printResponse writes a 2xx response: the JSON body (indented) with
// --json, otherwise a table suited to its shape.
func (c *cli) printResponse(r *response, asJSON bool) error {
	body := bytes.TrimSpace(r.body)
	if asJSON {
		if len(body) == 0 {
			return writeJSON(c.stdout, map[string]any{"http_status": r.status})
		}
		out, err := safeJSON(body, redactorOf(c.stdout), true)
		if err != nil {
			return fmt.Errorf("the response (%s) is not JSON", oneLine(nil, r.contentType))
		}
		_, err = past(c.stdout).Write(out)
		return err
	}
	if len(body) == 0 {
		fmt.Fprintf(c.stdout, "HTTP %d (no body)\n", r.status)
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return fmt.Errorf("the response (%s) is not JSON", oneLine(nil, r.contentType))
	}
	renderHuman(c.stdout, v)
	return nil
}

// renderHuman prints a FHIR resource or REST API JSON value as tables.
func renderHuman(w io.Writer, v any) {
	switch x := v.(type) {
	case map[string]any:
		switch x["resourceType"] {
		case "Bundle":
			renderBundle(w, x)
		case "OperationOutcome":
			t := newTable("SEVERITY", "ISSUE")
			for _, is := range asSlice(x["issue"]) {
				m := asMap(is)
				t.add(str(m["severity"]), strings.TrimSpace(strings.TrimPrefix(issueText(m), str(m["severity"]))))
			}
			t.write(w)
		case "Parameters":
			t := newTable("PARAMETER", "VALUE")
			for _, p := range asSlice(x["parameter"]) {
				addParameter(t, "", asMap(p))
			}
			t.write(w)
		default:
			renderFields(w, x)
		}
	case []any:
		renderList(w, x)
	default:
		fmt.Fprintln(w, oneLine(redactorOf(w), compact(v)))
	}
}

func renderBundle(w io.Writer, b map[string]any) {
	entries := asSlice(b["entry"])
	noun := "entries"
	if len(entries) == 1 {
		noun = "entry"
	}
	red := redactorOf(w)
	fmt.Fprintf(w, "Bundle %s: %d %s", truncate(oneLine(red, str(b["type"])), 40), len(entries), noun)
	if t := str(b["total"]); t != "" {
		fmt.Fprintf(w, " of %s", truncate(oneLine(red, t), 40))
	}
	if nextLink(b) != "" {
		fmt.Fprint(w, " (more pages: add --all, or narrow the search)")
	}
	fmt.Fprintln(w)
	if len(entries) == 0 {
		return
	}
	t := newTable("RESOURCE", "SUMMARY", "STATUS")
	for _, e := range entries {
		em := asMap(e)
		res := asMap(em["resource"])
		ref := str(res["resourceType"]) + "/" + str(res["id"])
		status := str(res["status"])
		if rr := asMap(em["response"]); len(rr) > 0 {
			if ref == "/" {
				ref = str(rr["location"])
			}
			status = str(rr["status"])
		}
		t.add(ref, summarize(res), status)
	}
	t.write(w)
}

// summarize picks a few telling fields of a FHIR resource.
func summarize(r map[string]any) string {
	var parts []string
	if n := humanName(r["name"]); n != "" {
		parts = append(parts, n)
	}
	for _, k := range []string{"code", "type", "category"} {
		if s := concept(r[k]); s != "" {
			parts = append(parts, s)
			break
		}
	}
	for _, k := range []string{"valueQuantity"} {
		if q := asMap(r[k]); len(q) > 0 {
			parts = append(parts, strings.TrimSpace(str(q["value"])+" "+str(q["unit"])))
		}
	}
	for _, k := range []string{"effectiveDateTime", "birthDate", "date", "authored", "start", "issued"} {
		if s := str(r[k]); s != "" {
			parts = append(parts, s)
			break
		}
	}
	return strings.Join(parts, ", ")
}

func humanName(v any) string {
	names := asSlice(v)
	if len(names) == 0 {
		if s, ok := v.(string); ok {
			return s
		}
		return ""
	}
	n := asMap(names[0])
	if t := str(n["text"]); t != "" {
		return t
	}
	var given []string
	for _, g := range asSlice(n["given"]) {
		given = append(given, str(g))
	}
	return strings.TrimSpace(strings.Join(given, " ") + " " + str(n["family"]))
}

func concept(v any) string {
	if s := asSlice(v); len(s) > 0 {
		v = s[0]
	}
	c := asMap(v)
	if t := str(c["text"]); t != "" {
		return t
	}
	for _, cd := range asSlice(c["coding"]) {
		m := asMap(cd)
		if d := str(m["display"]); d != "" {
			return d
		}
		if code := str(m["code"]); code != "" {
			return code
		}
	}
	return ""
}

func addParameter(t *table, prefix string, p map[string]any) {
	name := prefix + str(p["name"])
	val := ""
	for k, v := range p {
		if strings.HasPrefix(k, "value") || k == "resource" {
			val = compact(v)
		}
	}
	if val != "" || len(asSlice(p["part"])) == 0 {
		t.add(name, val)
	}
	for _, part := range asSlice(p["part"]) {
		addParameter(t, name+".", asMap(part))
	}
}

// renderFields prints the top-level fields of an object.
func renderFields(w io.Writer, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		// resourceType and id first, the rest alphabetically
		rank := func(k string) int {
			switch k {
			case "resourceType":
				return 0
			case "id":
				return 1
			}
			return 2
		}
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	t := newTable("FIELD", "VALUE")
	for _, k := range keys {
		t.add(k, compact(m[k]))
	}
	t.write(w)
}

// renderList prints a JSON array: objects as rows with their scalar fields
// as columns.
func renderList(w io.Writer, list []any) {
	if len(list) == 0 {
		fmt.Fprintln(w, "(empty list)")
		return
	}
	var cols []string
	seen := map[string]bool{}
	for _, it := range list {
		for k, v := range asMap(it) {
			if _, nested := v.(map[string]any); nested || seen[k] {
				continue
			}
			if _, nested := v.([]any); nested {
				continue
			}
			seen[k] = true
			cols = append(cols, k)
		}
	}
	sort.Strings(cols)
	if len(cols) > 8 {
		cols = cols[:8]
	}
	if len(cols) == 0 {
		for _, it := range list {
			fmt.Fprintln(w, oneLine(redactorOf(w), compact(it)))
		}
		return
	}
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(c)
	}
	t := newTable(head...)
	for _, it := range list {
		m := asMap(it)
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = compact(m[c])
		}
		t.add(row...)
	}
	t.write(w)
	fmt.Fprintf(w, "%d items\n", len(list))
}

// compact renders a JSON value on one line.
func compact(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	// Escape sequences would survive marshalling as \u001b text.
	if b, err = safeJSON(b, nil, false); err != nil {
		return ""
	}
	return string(b)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// str renders scalars; objects and arrays give "".
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64, bool, int, int64:
		return fmt.Sprint(x)
	}
	return ""
}

// issueText renders one OperationOutcome issue, with PKB's response code
// when there is one.
func issueText(is map[string]any) string {
	var b strings.Builder
	if s := str(is["severity"]); s != "" {
		b.WriteString(s)
	}
	if s := str(is["code"]); s != "" {
		b.WriteString(" " + s)
	}
	det := asMap(is["details"])
	for _, cd := range asSlice(det["coding"]) {
		if code := str(asMap(cd)["code"]); code != "" {
			b.WriteString(" [" + code + "]")
			break
		}
	}
	text := str(is["diagnostics"])
	if text == "" {
		text = str(det["text"])
	}
	if text != "" {
		b.WriteString(": " + text)
	}
	return strings.TrimSpace(b.String())
}

// nextLink is the URL of a decoded Bundle's link[relation=next].
func nextLink(b map[string]any) string {
	for _, l := range asSlice(b["link"]) {
		if m := asMap(l); str(m["relation"]) == "next" {
			return str(m["url"])
		}
	}
	return ""
}
