package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/assumptions"
	"github.com/pkbgo/pkb/internal/verify"
)

// valueFlags collects --value name=value; the values may be patient data,
// so they are recorded as secrets this invocation never prints.
type valueFlags struct {
	m       map[string]string
	secrets *secrets
}

func (v *valueFlags) String() string { return "" }

func (v *valueFlags) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	name, val = strings.TrimSpace(name), strings.TrimSpace(val)
	if !ok || name == "" || val == "" {
		return errors.New("want name=value")
	}
	known := false
	for _, x := range assumptions.Values() {
		if x.Name == name {
			if x.Generated != "" {
				return fmt.Errorf("%s is made fresh for each probe", name)
			}
			known = true
		}
	}
	if !known {
		return fmt.Errorf("unknown value %q ('pkb verify --list-values' prints the names)", name)
	}
	v.m[name] = val
	v.secrets.add(val)
	return nil
}

// cmdVerify runs the assumption probes for the configured client against
// the configured environment and reports what holds (internal/verify).
func (c *cli) cmdVerify(ctx context.Context, args []string) error {
	var (
		cf                     commonFlags
		junitFile, suggestFile string
		testPatient, only      string
		allowWrites, dryRun    bool
		verbose, listValues    bool
		budget                 time.Duration
	)
	values := &valueFlags{m: map[string]string{}, secrets: c.secrets}
	fs := c.newFlagSet("verify", "[flags]\n\n"+
		"Tests every documented ASSUMPTION about PKB (the x-pkb-assumption entries of the OpenAPI\n"+
		"documents) that the configured client type can test, against the configured environment,\n"+
		"and validates every answer against the documents (drift). Only reads run unless\n"+
		"--allow-writes is given with a named test patient; the writes are listed first.\n"+
		"Nothing printed or written holds a value from an answer: evidence is structure only.\n\n"+
		"Exit status: 0 nothing contradicted and every answer as the documents describe it; 1 an\n"+
		"assumption was contradicted or an answer drifted from the documents; 4 probes failed\n"+
		"to complete (network, time budget); 2 and 3 as for every command.")
	addCommon(fs, &cf)
	fs.StringVar(&junitFile, "junit", "", "also write the report as JUnit XML to this file, for CI")
	fs.StringVar(&suggestFile, "suggest", "", "write the patches (JSON Patch on the OpenAPI documents) that would make each\ncontradicted assumption match what PKB answered to this file; never applied")
	fs.BoolVar(&allowWrites, "allow-writes", false, "also run the probes that change data on PKB (needs --test-patient)")
	fs.StringVar(&testPatient, "test-patient", "", "NHS number of the named test patient the probes may read and, with\n--allow-writes, write (the value patient.nhsNumber)")
	fs.Var(values, "value", "a probe value, name=value (repeatable), e.g. teamId=..., practitionerId=...;\n--list-values prints the names")
	fs.StringVar(&only, "only", "", "comma-separated assumption ids or prefixes (e.g. facade.purview,restapi)")
	fs.DurationVar(&budget, "budget", verify.DefaultBudget, "total time the run may take; unfinished probes are reported as errors")
	fs.BoolVar(&dryRun, "dry-run", false, "print the probes this run would send, and what it would write, then stop")
	fs.BoolVar(&verbose, "v", false, "show each assumption's claim and the evidence of confirmed ones")
	fs.BoolVar(&listValues, "list-values", false, "print the probe values a team may supply, then stop")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if listValues {
		return c.printValues(cf.json)
	}
	if budget <= 0 {
		return usageErrorf("--budget must be positive")
	}
	if testPatient != "" {
		c.secrets.add(testPatient)
		values.m["patient.nhsNumber"] = testPatient
	}
	if allowWrites && values.m["patient.nhsNumber"] == "" {
		return usageErrorf("--allow-writes needs --test-patient: the NHS number of a test patient the probes may write to")
	}
	var onlyIDs []string
	if only != "" {
		onlyIDs = strings.Split(only, ",")
	}

	s, err := c.resolve(&cf)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, budget+s.timeout)
	defer cancel()
	sess, err := c.newSession(ctx, s)
	if err != nil {
		return err
	}
	caller, err := c.verifyCaller(ctx, sess)
	if err != nil {
		return err
	}
	opts := verify.Options{Values: values.m, AllowWrites: allowWrites, Only: onlyIDs, Budget: budget}

	plan := verify.Plan(caller.Info, opts)
	if dryRun {
		return c.printPlan(plan, cf.json)
	}
	if allowWrites {
		fmt.Fprintf(c.stderr, "pkb verify: with --allow-writes this run sends these calls that change data on %s, about the test patient ({patient.*} values):\n", s.envName)
		if err := verify.WriteWrites(c.stderr, plan); err != nil {
			return err
		}
		fmt.Fprintln(c.stderr)
	}
	if term := terminal(c.stderr); term != nil {
		// Straight to the terminal: the redacting writer strips the
		// carriage return and the erase-line sequence, and a line holds
		// only an assumption id and an outcome, from the table.
		var mu sync.Mutex
		opts.Progress = func(done, total int, r *verify.Result) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(term, "\r\x1b[Kpkb verify: %d/%d %s %s", done, total, r.ID, r.Outcome)
			if done == total {
				fmt.Fprint(term, "\r\x1b[K")
			}
		}
	}

	rep, err := verify.Run(ctx, caller, opts)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if cf.json {
		err = verify.WriteJSON(c.stdout, rep)
	} else {
		err = verify.WriteText(c.stdout, rep, verbose)
	}
	if err != nil {
		return err
	}
	if junitFile != "" {
		if err := writeFileWith(junitFile, func(w io.Writer) error { return verify.WriteJUnit(w, rep) }); err != nil {
			return err
		}
	}
	if suggestFile != "" {
		patches := verify.Suggest(rep)
		if err := writeFileWith(suggestFile, func(w io.Writer) error { return verify.WritePatches(w, patches) }); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "pkb verify: wrote %d proposed patch(es) to %s, for a person to review; nothing was applied\n", len(patches), suggestFile)
	}

	switch {
	case !rep.OK():
		return &exitError{code: exitFailed, silent: true}
	case rep.Summary.Errors > 0:
		return &exitError{code: exitNetwork, msg: fmt.Sprintf("%d probe(s) did not complete (network or --budget %s)", rep.Summary.Errors, budget)}
	}
	return nil
}

// verifyCaller adapts the session to the verify engine: the base URLs are
// those of the families the wrappers built for the client type (their
// checks of host and scheme done), the token comes from the session's
// token source, and the grants are the token's.
func (c *cli) verifyCaller(ctx context.Context, sess *session) (*verify.HTTPCaller, error) {
	// A token first: credentials that do not work stop here (exit 3), and
	// the grant is then the token's rather than the configured one.
	tok, err := sess.src.Token(ctx)
	if err != nil {
		return nil, err
	}
	c.secrets.addToken(tok)
	ct, scopes := sess.src.Grant()
	var grants []string
	switch ct {
	case authn.ClientSystem, authn.ClientCustomer:
		grants = []string{string(ct)}
	case authn.ClientUser, authn.ClientTethered:
		for _, sc := range scopes {
			grants = append(grants, string(ct)+":"+sc)
		}
	}
	base := map[access.Family]string{}
	var fams []access.Family
	for _, f := range sess.families {
		id := f.Info().ID
		base[id] = f.BaseURL().String()
		fams = append(fams, id)
	}
	header := http.Header{}
	if ct == authn.ClientSystem {
		header.Set("X-Org-Public-Id", sess.s.orgID)
	}
	src := sess.src
	return &verify.HTTPCaller{
		Info:     verify.Client{Type: string(ct), Grants: grants, Families: fams},
		BaseURLs: base,
		Token: func(ctx context.Context) (string, error) {
			t, err := src.Token(ctx)
			if err != nil {
				return "", err
			}
			c.secrets.addToken(t)
			return t.AccessToken, nil
		},
		Header: header,
		HTTP:   c.httpClient,
	}, nil
}

// printValues lists the probe values and where each comes from.
func (c *cli) printValues(asJSON bool) error {
	vs := slices.DeleteFunc(assumptions.Values(), func(v assumptions.Value) bool { return v.Generated != "" })
	if asJSON {
		return writeJSON(c.stdout, vs)
	}
	for _, v := range vs {
		flag := "--value " + v.Name + "=..."
		if v.Name == "patient.nhsNumber" {
			flag = "--test-patient ..."
		}
		fmt.Fprintf(c.stdout, "%s\n    %s\n", flag, v.Description)
	}
	return nil
}

// printPlan prints the probes a run would send.
func (c *cli) printPlan(plan []verify.Planned, asJSON bool) error {
	if asJSON {
		return writeJSON(c.stdout, plan)
	}
	for _, p := range plan {
		if !p.Runs {
			fmt.Fprintf(c.stdout, "skip  %s: %s\n", p.ID, p.Reason)
			continue
		}
		kind := "read "
		if p.Writes {
			kind = "WRITE"
		}
		line := fmt.Sprintf("%s %s: %s.%s %s %s", kind, p.ID, p.Family, p.Operation, p.Method, p.Route)
		if len(p.Path) > 0 {
			line += " with " + strings.Join(p.Path, ", ")
		}
		if p.Query != "" {
			line += "?" + p.Query
		}
		fmt.Fprintln(c.stdout, line)
		if p.Writes && p.Body != "" {
			fmt.Fprintf(c.stdout, "      body: %s\n", p.Body)
		}
	}
	return nil
}

// writeFileWith writes a report file whole or not at all.
func writeFileWith(name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(dirOf(name), ".pkb-verify-*")
	if err != nil {
		return &exitError{code: exitFailed, msg: "cannot write " + name, err: err}
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return &exitError{code: exitFailed, msg: "cannot write " + name, err: err}
	}
	if err := tmp.Close(); err != nil {
		return &exitError{code: exitFailed, msg: "cannot write " + name, err: err}
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return &exitError{code: exitFailed, msg: "cannot write " + name, err: err}
	}
	return nil
}

func dirOf(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		return name[:i+1]
	}
	return "."
}

// terminal returns the terminal w writes to (through the redacting
// writer), or nil when it is not one: the progress display is for people,
// never for logs or CI.
func terminal(w io.Writer) *os.File {
	if tw, ok := w.(*termWriter); ok {
		w = tw.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}

var _ flag.Value = (*valueFlags)(nil)
