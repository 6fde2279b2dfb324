package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/wrappers"
)

// maxBody bounds what is read of a response.
const maxBody = 64 << 20

// response is a 2xx answer.
type response struct {
	status      int
	contentType string
	body        []byte
}

// setup parses the common flags and builds the session.
func (c *cli) setup(ctx context.Context, cf *commonFlags) (*session, context.Context, context.CancelFunc, error) {
	s, err := c.resolve(cf)
	if err != nil {
		return nil, nil, nil, err
	}
	sess, err := c.newSession(ctx, s)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	return sess, ctx, cancel, nil
}

func (c *cli) cmdGet(ctx context.Context, args []string) error {
	var cf commonFlags
	fs := c.newFlagSet("get", "<Type>/<id> | <path> [flags]")
	addCommon(fs, &cf)
	addFamily(fs, &cf)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageErrorf("want exactly one argument, such as Patient/<id>, got %d", len(pos))
	}
	path := strings.Trim(pos[0], "/")
	if path == "" || strings.ContainsAny(path, "?#") || slices.ContainsFunc(strings.Split(path, "/"), func(s string) bool { return s == "" || s == "." || s == ".." }) {
		return usageErrorf("%q is not a path such as Patient/<id>; use 'pkb search' for queries", pos[0])
	}
	sess, ctx, cancel, err := c.setup(ctx, &cf)
	if err != nil {
		return err
	}
	defer cancel()
	f, err := sess.family(cf.family)
	if err != nil {
		return err
	}
	resp, err := sess.call(ctx, f, http.MethodGet, escapePath(path), nil, nil)
	return c.show(resp, err, cf.json)
}

func (c *cli) cmdSearch(ctx context.Context, args []string) error {
	var cf commonFlags
	var all bool
	var maxPages int
	fs := c.newFlagSet("search", "<Type> [param=value ...] [flags]\n\nRepeat a parameter to AND it, e.g. date=ge2024-01-01 date=lt2024-02-01.")
	addCommon(fs, &cf)
	addFamily(fs, &cf)
	fs.BoolVar(&all, "all", false, "follow the Bundle's next links and return every page as one Bundle")
	fs.IntVar(&maxPages, "max-pages", 100, "with --all, stop after this many pages")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageErrorf("want a resource type, such as Observation")
	}
	typ := strings.Trim(pos[0], "/")
	if typ == "" || strings.ContainsAny(typ, "/?#=") {
		return usageErrorf("%q is not a resource type", pos[0])
	}
	q, err := parseParams(pos[1:])
	if err != nil {
		return err
	}
	sess, ctx, cancel, err := c.setup(ctx, &cf)
	if err != nil {
		return err
	}
	defer cancel()
	f, err := sess.family(cf.family)
	if err != nil {
		return err
	}
	resp, err := sess.call(ctx, f, http.MethodGet, url.PathEscape(typ), q, nil)
	if err == nil && all {
		resp, err = c.allPages(ctx, sess, f, resp, maxPages)
	}
	return c.show(resp, err, cf.json)
}

// allPages follows next links from the first page, through the same
// choke point, and merges the entries into the first Bundle.
func (c *cli) allPages(ctx context.Context, sess *session, f family, first *response, maxPages int) (*response, error) {
	var b map[string]any
	if err := json.Unmarshal(first.body, &b); err != nil || b["resourceType"] != "Bundle" {
		return first, nil
	}
	entries := asSlice(b["entry"])
	page := b
	seen := map[string]bool{}
	for pages := 1; ; pages++ {
		next := nextLink(page)
		if next == "" {
			break
		}
		if pages >= maxPages {
			fmt.Fprintf(c.stderr, "pkb search: stopped after %d pages (--max-pages); there are more\n", pages)
			break
		}
		// Next links come from the server and carry identifiers: errors
		// say what is wrong with one, never what it is.
		u, err := url.Parse(next)
		if err != nil || !u.IsAbs() {
			return nil, fmt.Errorf("page %d's next link is not a valid absolute URL", pages)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("page %d's next link repeats an earlier page's; stopped", pages)
		}
		seen[u.String()] = true
		r, err := sess.send(ctx, f, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("following page %d's next link: %w", pages, err)
		}
		page = nil
		if err := json.Unmarshal(r.body, &page); err != nil || page["resourceType"] != "Bundle" {
			return nil, fmt.Errorf("page %d is not a Bundle", pages+1)
		}
		entries = append(entries, asSlice(page["entry"])...)
	}
	b["entry"] = entries
	delete(b, "link")
	body, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return &response{status: first.status, contentType: first.contentType, body: body}, nil
}

func nextLink(b map[string]any) string {
	for _, l := range asSlice(b["link"]) {
		if m := asMap(l); str(m["relation"]) == "next" {
			return str(m["url"])
		}
	}
	return ""
}

func (c *cli) cmdOp(ctx context.Context, args []string) error {
	var cf commonFlags
	var bodyFile string
	fs := c.newFlagSet("op", "<operationId> [param=value ...] [--body file|-] [flags]\n\n"+
		"Path parameters ({id}, {resourceType}, ...) and query parameters are both given as\n"+
		"param=value. Name an operation that several APIs share as <family>.<operationId>,\n"+
		"e.g. aggregated.searchObservation. 'pkb ops' lists them.")
	addCommon(fs, &cf)
	addFamily(fs, &cf)
	fs.StringVar(&bodyFile, "body", "", "request body file, '-' for stdin")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usageErrorf("want an operationId; 'pkb ops' lists them")
	}
	params, err := parseParams(pos[1:])
	if err != nil {
		return err
	}
	var body []byte
	if bodyFile != "" {
		if bodyFile == "-" {
			body, err = io.ReadAll(io.LimitReader(c.stdin, maxBody))
		} else {
			body, err = os.ReadFile(bodyFile)
		}
		if err != nil {
			return usageErrorf("--body: %v", err)
		}
	}
	sess, ctx, cancel, err := c.setup(ctx, &cf)
	if err != nil {
		return err
	}
	defer cancel()
	op, f, err := sess.findOperation(pos[0], cf.family)
	if err != nil {
		return err
	}
	path, query, err := expandPath(op, params)
	if err != nil {
		return err
	}
	resp, err := sess.call(ctx, f, op.Method, path, query, body)
	return c.show(resp, err, cf.json)
}

// show prints a response, or reports why there is none.
func (c *cli) show(resp *response, err error, asJSON bool) error {
	if err != nil {
		return c.reportFailure(asJSON, err)
	}
	return c.printResponse(resp, asJSON)
}

func (c *cli) cmdOps(ctx context.Context, args []string) error {
	var cf commonFlags
	var all bool
	fs := c.newFlagSet("ops", "[--all] [flags]")
	fs.StringVar(&cf.clientType, "client-type", "", "client type: user | system | customer | tethered ("+envClientType+", default user)")
	fs.StringVar(&cf.scope, "scope", "", "only operations this user type may call ("+envScope+")")
	fs.BoolVar(&all, "all", false, "every operation of every API, whoever may call it")
	fs.BoolVar(&cf.json, "json", false, "print JSON on stdout")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	s, err := c.resolve(&cf)
	if err != nil {
		return err
	}
	type row struct {
		Family    string   `json:"family"`
		Operation string   `json:"operation"`
		Method    string   `json:"method"`
		Path      string   `json:"path"`
		Grants    []string `json:"grants"`
	}
	var rows []row
	for _, op := range access.Operations() {
		if !all && !grantsAllow(op.Grants, s.clientType, s.scope) {
			continue
		}
		rows = append(rows, row{string(op.Family), op.ID, op.Method, op.Path, op.Grants})
	}
	if cf.json {
		return writeJSON(c.stdout, rows)
	}
	t := newTable("FAMILY", "OPERATION", "METHOD", "PATH", "WHO MAY CALL")
	for _, r := range rows {
		t.add(r.Family, r.Operation, r.Method, r.Path, strings.Join(r.Grants, " "))
	}
	t.write(c.stdout)
	return nil
}

// grantsAllow reports whether a client of type ct (holding scope, if not
// empty) appears in an operation's grants.
func grantsAllow(grants []string, ct authn.ClientType, scope string) bool {
	for _, g := range grants {
		kind, sc, scoped := strings.Cut(g, ":")
		switch {
		case g == "public":
			return true
		case authn.ClientType(kind) != ct:
		case !scoped || scope == "" || sc == scope:
			return true
		}
	}
	return false
}

// findOperation resolves an operationId (optionally family-qualified) among
// the session's families.
func (sess *session) findOperation(name, famFlag string) (access.Operation, family, error) {
	famName, id, qualified := strings.Cut(name, ".")
	if !qualified {
		famName, id = famFlag, name
	} else if famFlag != "" && !strings.EqualFold(famFlag, famName) {
		return access.Operation{}, family{}, usageErrorf("%s names family %s but --family is %s", name, famName, famFlag)
	}
	var matches []access.Operation
	var elsewhere []string
	for _, op := range access.Operations() {
		if !strings.EqualFold(op.ID, id) || (famName != "" && !strings.EqualFold(string(op.Family), famName)) {
			continue
		}
		if _, err := sess.family(string(op.Family)); err != nil {
			elsewhere = append(elsewhere, string(op.Family))
			continue
		}
		matches = append(matches, op)
	}
	switch {
	case len(matches) == 1:
		f, _ := sess.family(string(matches[0].Family))
		return matches[0], f, nil
	case len(matches) > 1:
		var q []string
		for _, m := range matches {
			q = append(q, string(m.Family)+"."+m.ID)
		}
		return access.Operation{}, family{}, usageErrorf("operation %q is in several APIs; name one of: %s", id, strings.Join(q, ", "))
	case len(elsewhere) > 0:
		return access.Operation{}, family{}, configErrorf("operation %q is in the %s API, which a %s client cannot use",
			id, strings.Join(slices.Compact(elsewhere), ", "), sess.s.clientType)
	}
	return access.Operation{}, family{}, usageErrorf("unknown operation %q; 'pkb ops' lists them", name)
}

// parseParams turns param=value arguments into url.Values, keeping
// repetitions.
func parseParams(args []string) (url.Values, error) {
	q := url.Values{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, usageErrorf("%q is not param=value", a)
		}
		q.Add(k, v)
	}
	return q, nil
}

// expandPath fills the operation's path parameters from params; the rest
// become the query.
func expandPath(op access.Operation, params url.Values) (string, url.Values, error) {
	q := url.Values{}
	for k, v := range params {
		q[k] = slices.Clone(v)
	}
	var segs []string
	for _, seg := range strings.Split(strings.Trim(op.Path, "/"), "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok && strings.HasSuffix(name, "}") {
			name = strings.TrimSuffix(name, "}")
			v := q[name]
			if len(v) != 1 || v[0] == "" {
				return "", nil, usageErrorf("%s needs exactly one path parameter %s=<value> (%s %s)", op.ID, name, op.Method, op.Path)
			}
			delete(q, name)
			seg = url.PathEscape(v[0])
		}
		segs = append(segs, seg)
	}
	return strings.Join(segs, "/"), q, nil
}

// escapePath escapes each segment of a relative path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// call sends one request through the family's doer, which is the wrappers'
// choke point: host check, access check, token, headers. A non-2xx answer
// becomes a *wrappers.APIError there.
func (sess *session) call(ctx context.Context, f family, method, relPath string, query url.Values, body []byte) (*response, error) {
	u := f.server + strings.TrimPrefix(relPath, "/")
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return sess.send(ctx, f, method, u, body)
}

// send sends one request to an absolute URL through the family's doer,
// which refuses any URL outside the family's base URL.
func (sess *session) send(ctx context.Context, f family, method, u string, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		// The error would quote the URL.
		return nil, usageErrorf("cannot build the request: its URL is not valid")
	}
	if body != nil {
		req.Header.Set("Content-Type", f.media)
	}
	resp, err := f.doer.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The wrappers turn 4xx/5xx into *wrappers.APIError; what is left
		// here is an unexpected 1xx or 3xx.
		return nil, fmt.Errorf("unexpected HTTP status %d", resp.StatusCode)
	}
	return &response{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: b}, nil
}

// reportFailure prints, with --json, a machine-readable error object on
// stdout; the human message goes to stderr via finish either way.
func (c *cli) reportFailure(asJSON bool, err error) error {
	if asJSON {
		code, msg := c.describe(err)
		obj := map[string]any{"error": map[string]any{"message": msg, "exit_status": code}}
		var ae *wrappers.APIError
		if errors.As(err, &ae) {
			obj["error"].(map[string]any)["http_status"] = ae.StatusCode
			if ae.ResponseCode != "" {
				obj["error"].(map[string]any)["pkb_code"] = truncate(oneLine(nil, ae.ResponseCode), 100)
			}
		}
		writeJSON(c.stdout, obj)
	}
	return err
}
