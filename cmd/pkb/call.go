package main

import (
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

	"golang.org/x/oauth2"

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

// setupPublic is setup for a command that may call a public operation
// (capabilities, readOperationDefinition, listMeasurementApiRefs), which
// 'pkb ops' lists for a client type whatever its credentials: when the
// credentials are missing or not logged in, the session it returns makes
// only public calls, and answers any other with that credentials error.
func (c *cli) setupPublic(ctx context.Context, cf *commonFlags) (*session, context.Context, context.CancelFunc, error) {
	sess, ctx2, cancel, err := c.setup(ctx, cf)
	var ee *exitError
	if err == nil || !errors.As(err, &ee) || ee.code != exitAuth {
		return sess, ctx2, cancel, err
	}
	s, rerr := c.resolve(cf)
	if rerr != nil {
		return nil, nil, nil, err
	}
	offline := *s
	if offline.orgID == "" {
		offline.orgID = "public" // sent only with a token: never here
	}
	if offline.customer == "" {
		offline.customer = "public" // no public operation on the Customer API
	}
	fams, ferr := c.families(grantOnly{ct: s.clientType, env: s.env}, &offline)
	if ferr != nil {
		return nil, nil, nil, err
	}
	ctx, cancel = context.WithTimeout(ctx, s.timeout)
	return &session{s: s, families: fams, credErr: err}, ctx, cancel, nil
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
	sess, ctx, cancel, err := c.setupPublic(ctx, &cf)
	if err != nil {
		return err
	}
	defer cancel()
	f, err := sess.family(cf.family)
	if err != nil {
		return err
	}
	op, values, err := getOperation(f, strings.Split(path, "/"))
	if err != nil {
		return err
	}
	if op.Interaction == access.InteractionSearchType || op.Interaction == access.InteractionSearchSystem {
		// A get never becomes a search: "pkb get Patient" is a forgotten
		// id far more often than a wish to list every patient.
		return usageErrorf("%q names no resource: 'pkb get' reads one, such as Patient/<id>; to search, run 'pkb search %s [param=value ...]'", pos[0], path)
	}
	resp, err := sess.call(ctx, f, &wrappers.Call{Operation: op.ID, Path: values})
	return c.show(resp, err, cf.json)
}

// getOperation finds the GET operation of f's family whose route template
// the path segments fill, a literal segment beating a parameter (so
// metadata is capabilities, not a search of a type "metadata"), and the
// values of its path parameters. Family.Do checks the values.
func getOperation(f *wrappers.Family, segs []string) (access.Operation, []string, error) {
	id := f.Info().ID
	var best access.Operation
	var bestValues []string
	bestLiterals := -1
	for _, op := range access.Operations() {
		if op.Family != id || op.Method != http.MethodGet {
			continue
		}
		tpl := strings.Split(strings.Trim(op.Path, "/"), "/")
		if len(tpl) != len(segs) {
			continue
		}
		literals, fits := 0, true
		var values []string
		for i, t := range tpl {
			if strings.HasPrefix(t, "{") {
				values = append(values, segs[i])
			} else if t == segs[i] {
				literals++
			} else {
				fits = false
				break
			}
		}
		if fits && literals > bestLiterals {
			best, bestValues, bestLiterals = op, values, literals
		}
	}
	if bestLiterals < 0 {
		return access.Operation{}, nil, usageErrorf("%s: no GET operation of the %s API has this path; 'pkb ops' lists them", wrappers.ErrUnknownOperation, id)
	}
	return best, bestValues, nil
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
	op, ok := findGet(f.Info().ID, access.InteractionSearchType, typ)
	if !ok {
		return usageErrorf("the %s API has no search of %s; 'pkb ops' lists the operations", f.Info().ID, typ)
	}
	call := &wrappers.Call{Operation: op.ID, Query: q}
	if op.ResourceType == "" { // the generic /{resourceType}
		call.Path = []string{typ}
	}
	resp, err := sess.call(ctx, f, call)
	if err == nil && all {
		resp, err = c.allPages(ctx, sess, f, resp, maxPages)
	}
	return c.show(resp, err, cf.json)
}

// findGet is access.Find restricted to GET operations: a search by POST
// (_search) performs the same interaction.
func findGet(f access.Family, interaction, typ string) (access.Operation, bool) {
	if op, ok := access.Find(f, interaction, typ); ok && op.Method == http.MethodGet {
		return op, true
	}
	var generic access.Operation
	found := false
	for _, op := range access.Operations() {
		if op.Family != f || op.Interaction != interaction || op.Method != http.MethodGet {
			continue
		}
		switch op.ResourceType {
		case typ:
			return op, true
		case "":
			if !found && strings.HasPrefix(op.Path, "/{resourceType}") {
				generic, found = op, true
			}
		}
	}
	return generic, found
}

// allPages follows next links from the first page, through the family's
// checkpoint (Family.Follow), and merges the entries into the first
// Bundle. The pages stay raw JSON: only their link and entry members are
// read.
func (c *cli) allPages(ctx context.Context, sess *session, f *wrappers.Family, first *response, maxPages int) (*response, error) {
	var b map[string]json.RawMessage
	if err := json.Unmarshal(first.body, &b); err != nil || string(b["resourceType"]) != `"Bundle"` {
		return first, nil
	}
	entries, next, err := bundleParts(b)
	if err != nil {
		return nil, fmt.Errorf("page 1 is not a valid Bundle")
	}
	base := f.BaseURL()
	base.Path += "/"
	seen := map[string]bool{}
	for pages := 1; next != ""; pages++ {
		if pages >= maxPages {
			fmt.Fprintf(c.stderr, "pkb search: stopped after %d pages (--max-pages); there are more\n", pages)
			break
		}
		// Next links come from the server and carry identifiers: errors
		// say what is wrong with one, never what it is.
		u, err := url.Parse(next)
		if err != nil {
			return nil, fmt.Errorf("page %d's next link is not a valid URL", pages)
		}
		if key := base.ResolveReference(u).String(); seen[key] {
			return nil, fmt.Errorf("page %d's next link repeats an earlier page's; stopped", pages)
		} else {
			seen[key] = true
		}
		r, err := sess.follow(ctx, f, next)
		if err != nil {
			return nil, fmt.Errorf("following page %d's next link: %w", pages, err)
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &page); err != nil || string(page["resourceType"]) != `"Bundle"` {
			return nil, fmt.Errorf("page %d is not a Bundle", pages+1)
		}
		more, n, err := bundleParts(page)
		if err != nil {
			return nil, fmt.Errorf("page %d is not a valid Bundle", pages+1)
		}
		entries, next = append(entries, more...), n
	}
	delete(b, "link")
	if len(entries) > 0 {
		raw, err := json.Marshal(entries)
		if err != nil {
			return nil, err
		}
		b["entry"] = raw
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return &response{status: first.status, contentType: first.contentType, body: body}, nil
}

// bundleParts returns a Bundle's entries, undecoded, and its next link.
func bundleParts(b map[string]json.RawMessage) ([]json.RawMessage, string, error) {
	var entries []json.RawMessage
	if raw, ok := b["entry"]; ok {
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, "", err
		}
	}
	var links []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	}
	if raw, ok := b["link"]; ok {
		if err := json.Unmarshal(raw, &links); err != nil {
			return nil, "", err
		}
	}
	for _, l := range links {
		if l.Relation == "next" {
			return entries, l.URL, nil
		}
	}
	return entries, "", nil
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
	sess, ctx, cancel, err := c.setupPublic(ctx, &cf)
	if err != nil {
		return err
	}
	defer cancel()
	op, f, err := sess.findOperation(pos[0], cf.family)
	if err != nil {
		return err
	}
	values, query, err := expandPath(op, params)
	if err != nil {
		return err
	}
	resp, err := sess.call(ctx, f, &wrappers.Call{Operation: op.ID, Path: values, Query: query, Body: body})
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
	permitted := func(access.Operation) bool { return true }
	if !all {
		if permitted, err = c.permitter(s); err != nil {
			return err
		}
	}
	var rows []row
	for _, op := range access.Operations() {
		if permitted(op) {
			rows = append(rows, row{string(op.Family), op.ID, op.Method, op.Path, op.Grants})
		}
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

// permitter reports whether a client of s's type, holding s's scope (any
// scope of the type when none is set), may call an operation. It asks the
// wrappers' checkpoints (Family.Permit) of a client built on a source that
// only reports that grant: nothing is sent, no token is fetched.
func (c *cli) permitter(s *settings) (func(access.Operation) bool, error) {
	grants := [][]string{nil}
	switch {
	case s.scope != "":
		grants = [][]string{{s.scope}}
	case s.clientType == authn.ClientUser:
		grants = [][]string{{authn.ScopePatient}, {authn.ScopeClinician}, {authn.ScopeTeamCoord}}
	case s.clientType == authn.ClientTethered:
		grants = [][]string{{authn.ScopeSite}}
	}
	offline := *s
	if offline.orgID == "" {
		offline.orgID = "ops" // never sent
	}
	if offline.customer == "" {
		offline.customer = "ops" // never resolved to a request
	}
	var fams []*wrappers.Family
	for _, scopes := range grants {
		// A session uses the Customer family of one FHIR version; ops
		// lists both.
		for _, v := range []string{"r4", "stu3"} {
			offline.fhirVersion = v
			fs, err := c.families(grantOnly{ct: s.clientType, scopes: scopes, env: s.env}, &offline)
			if err != nil {
				return nil, err
			}
			fams = append(fams, fs...)
		}
	}
	return func(op access.Operation) bool {
		for _, f := range fams {
			if f.Info().ID == op.Family && f.Permit(op.ID) == nil {
				return true
			}
		}
		return false
	}, nil
}

// grantOnly is a token source that holds a grant and no token: enough for
// Family.Permit, which never fetches one.
type grantOnly struct {
	ct     authn.ClientType
	scopes []string
	env    authn.Environment
}

func (g grantOnly) Token(context.Context) (*oauth2.Token, error) {
	return nil, errors.New("pkb ops: no token here")
}
func (g grantOnly) Invalidate(string) bool              { return false }
func (g grantOnly) Grant() (authn.ClientType, []string) { return g.ct, slices.Clone(g.scopes) }
func (g grantOnly) Environment() authn.Environment      { return g.env }

// findOperation resolves an operationId (optionally family-qualified) among
// the session's families.
func (sess *session) findOperation(name, famFlag string) (access.Operation, *wrappers.Family, error) {
	famName, id, qualified := strings.Cut(name, ".")
	if !qualified {
		famName, id = famFlag, name
	} else if famFlag != "" && !strings.EqualFold(famFlag, famName) {
		return access.Operation{}, nil, usageErrorf("%s names family %s but --family is %s", name, famName, famFlag)
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
		return access.Operation{}, nil, usageErrorf("operation %q is in several APIs; name one of: %s", id, strings.Join(q, ", "))
	case len(elsewhere) > 0:
		return access.Operation{}, nil, configErrorf("operation %q is in the %s API, which a %s client cannot use",
			id, strings.Join(slices.Compact(elsewhere), ", "), sess.s.clientType)
	}
	return access.Operation{}, nil, usageErrorf("unknown operation %q; 'pkb ops' lists them", name)
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

// expandPath takes the operation's path parameters, in template order,
// from params; the rest become the query. Family.Do checks the values.
func expandPath(op access.Operation, params url.Values) ([]string, url.Values, error) {
	q := url.Values{}
	for k, v := range params {
		q[k] = slices.Clone(v)
	}
	var values []string
	for _, seg := range strings.Split(strings.Trim(op.Path, "/"), "/") {
		name, ok := strings.CutPrefix(seg, "{")
		if !ok || !strings.HasSuffix(name, "}") {
			continue
		}
		name = strings.TrimSuffix(name, "}")
		v := q[name]
		if len(v) != 1 || v[0] == "" {
			return nil, nil, usageErrorf("%s needs exactly one path parameter %s=<value> (%s %s)", op.ID, name, op.Method, op.Path)
		}
		delete(q, name)
		values = append(values, v[0])
	}
	return values, q, nil
}

// call sends one operation through the family's checkpoint: grant, URL
// built from the route template, token, headers. A non-2xx answer
// becomes a *wrappers.APIError there.
func (sess *session) call(ctx context.Context, f *wrappers.Family, call *wrappers.Call) (*response, error) {
	if sess.credErr != nil {
		if op, ok := access.Lookup(f.Info().ID, call.Operation); !ok || !slices.Contains(op.Grants, "public") {
			return nil, sess.credErr
		}
	}
	resp, err := f.Do(ctx, call)
	if err != nil {
		return nil, err
	}
	return readResponse(resp)
}

// follow GETs a link a response gave through the family's checkpoint,
// which refuses any URL outside the family's base URL.
func (sess *session) follow(ctx context.Context, f *wrappers.Family, link string) (*response, error) {
	if sess.credErr != nil {
		return nil, sess.credErr
	}
	resp, err := f.Follow(ctx, link)
	if err != nil {
		return nil, err
	}
	return readResponse(resp)
}

func readResponse(resp *http.Response) (*response, error) {
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
