package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/samber/lo"

	"github.com/pkbgo/pkb"
	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/aggregated"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/restapi"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/search"
	"github.com/pkbgo/pkb/wrappers"
)

// demoStep is one row of the demo's table.
type demoStep struct {
	ClientType string  `json:"client_type"`
	Client     string  `json:"client"`
	Operation  string  `json:"operation"`
	OK         bool    `json:"ok"`
	Result     string  `json:"result"`
	LatencyMS  float64 `json:"latency_ms"`
	Requests   int64   `json:"http_requests"`

	latency time.Duration
}

// demoReport is the demo's --json output.
type demoReport struct {
	OK           bool       `json:"ok"`
	SimulatorURL string     `json:"simulator_url"`
	Seed         int64      `json:"seed"`
	StartupMS    float64    `json:"simulator_startup_ms"`
	TotalMS      float64    `json:"total_ms"`
	Steps        []demoStep `json:"steps"`
}

// countingTransport counts the HTTP requests the demo's clients send, so
// that the refused call can show it sent none.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.base.RoundTrip(r)
}

// demo runs the steps and keeps the rows.
type demo struct {
	progress io.Writer
	counter  *countingTransport
	hc       *http.Client
	sim      *pkbtest.Simulator
	env      authn.Environment
	steps    []demoStep
}

var clientLabels = map[authn.ClientType]string{
	authn.ClientSystem:   "System Client",
	authn.ClientCustomer: "Customer System Client",
	authn.ClientUser:     "User Client",
	authn.ClientTethered: "Tethered client",
}

// errSkipped marks a step that could not run because one it depends on
// failed.
var errSkipped = errors.New("skipped: an earlier step of this client failed")

// step runs fn, timing it and counting its HTTP requests, and records the
// row; it reports whether the step succeeded.
func (d *demo) step(ctx context.Context, ct authn.ClientType, op string, fn func(ctx context.Context) (string, error)) bool {
	before := d.counter.n.Load()
	start := time.Now()
	detail, err := fn(ctx)
	lat := time.Since(start)
	st := demoStep{ClientType: string(ct), Client: clientLabels[ct], Operation: op, OK: err == nil, Requests: d.counter.n.Load() - before,
		latency: lat, LatencyMS: float64(lat.Microseconds()) / 1000}
	if err != nil {
		_, msg := classify(err)
		st.Result = "FAIL: " + msg
	} else {
		st.Result = "OK"
		if detail != "" {
			st.Result += ": " + detail
		}
	}
	d.steps = append(d.steps, st)
	fmt.Fprintf(d.progress, "  %-60s %s (%s, %d HTTP)\n", op, map[bool]string{true: "ok", false: "FAILED"}[st.OK], fmtLatency(lat), st.Requests)
	if err != nil {
		fmt.Fprintf(d.progress, "      %s\n", st.Result)
	}
	return err == nil
}

func fmtLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return d.Round(time.Millisecond).String()
}

func (c *cli) cmdDemo(ctx context.Context, args []string) error {
	var (
		asJSON  bool
		seed    int64
		timeout time.Duration
	)
	fs := c.newFlagSet("demo", "[--json] [--seed N]\n\nStarts the offline PKB simulator on a free loopback port and runs each of the\n"+
		"four client types end to end through the library, then prints a table.\nProgress goes to stderr; the table (or JSON) to stdout.")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.Int64Var(&seed, "seed", pkbtest.DefaultSeed, "seed of the simulator's synthetic data")
	fs.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	t0 := time.Now()
	fmt.Fprintln(c.stderr, "pkb demo: starting the offline PKB simulator...")
	sim, err := pkbtest.NewSimulator(pkbtest.WithSeed(seed))
	if err != nil {
		return fmt.Errorf("starting the simulator: %w", err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return &exitError{code: exitNetwork, msg: "starting the simulator", err: err}
	}
	defer sim.Close()
	startup := time.Since(t0)
	fmt.Fprintf(c.stderr, "pkb demo: simulator at %s (ready in %s)\n", sim.URL(), fmtLatency(startup))

	counter := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	defer counter.base.(*http.Transport).CloseIdleConnections()
	d := &demo{
		progress: c.stderr,
		counter:  counter,
		hc:       &http.Client{Transport: counter, Timeout: 30 * time.Second},
		sim:      sim,
		env:      sim.Environment(),
	}
	d.runSystem(ctx)
	d.runCustomer(ctx)
	d.runUser(ctx)
	d.runTethered(ctx)
	total := time.Since(t0)

	failed := 0
	for _, s := range d.steps {
		if !s.OK {
			failed++
		}
	}
	if asJSON {
		rep := demoReport{OK: failed == 0, SimulatorURL: sim.URL(), Seed: seed, Steps: d.steps,
			StartupMS: float64(startup.Microseconds()) / 1000, TotalMS: float64(total.Microseconds()) / 1000}
		if err := writeJSON(c.stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(c.stdout)
		t := newTable("CLIENT TYPE", "OPERATION", "RESULT", "LATENCY", "HTTP")
		for _, s := range d.steps {
			t.add(s.Client, s.Operation, s.Result, fmtLatency(s.latency), fmt.Sprint(s.Requests))
		}
		t.write(c.stdout)
		fmt.Fprintf(c.stdout, "\n%d/%d steps OK; %s in all, of which simulator startup %s. HTTP counts include token requests.\n",
			len(d.steps)-failed, len(d.steps), fmtLatency(total), fmtLatency(startup))
	}
	if failed > 0 {
		return &exitError{code: exitFailed, msg: fmt.Sprintf("%d of %d demo steps failed", failed, len(d.steps))}
	}
	return nil
}

func (d *demo) authnOptions() authn.Options { return authn.Options{HTTPClient: d.hc} }

func (d *demo) wrapperOptions() []wrappers.Option {
	return []wrappers.Option{wrappers.WithHTTPClient(d.hc)}
}

// runSystem: client credentials; Facade and Messaging.
func (d *demo) runSystem(ctx context.Context) {
	ct := authn.ClientSystem
	fmt.Fprintf(d.progress, "%s (client credentials, X-Org-Public-Id):\n", clientLabels[ct])
	src, err := authn.NewSystemSource(authn.SystemConfig{ClientID: pkbtest.DefaultSystemClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: d.env, Options: d.authnOptions()})
	var sys *wrappers.SystemClient
	if err == nil {
		sys, err = wrappers.NewSystemClient(src, pkbtest.SeedOrgPublicID, d.wrapperOptions()...)
	}

	var patientID string
	d.step(ctx, ct, "facade.searchPatient identifier=<NHS number>", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		// SearchOne: several accounts under one NHS number are ErrAmbiguous,
		// never a guess.
		p, err := pkb.SearchOne[stu3.Patient](ctx, sys.Facade,
			url.Values{"identifier": {search.NHSNumber(pkbtest.SeedPatientNHSNumber).String()}})
		if err != nil {
			return "", err
		}
		patientID = p.Id
		return "1 match: Patient/" + p.Id, nil
	})

	d.step(ctx, ct, "facade.readPatient", func(ctx context.Context) (string, error) {
		if patientID == "" {
			return "", errSkipped
		}
		p, err := pkb.Read[stu3.Patient](ctx, sys.Facade, patientID)
		if err != nil {
			return "", err
		}
		if p.Id != patientID {
			return "", errors.New("the response is not the patient asked for")
		}
		return fmt.Sprintf("%s, %s, born %s", stu3Name(p.Name), p.Gender, p.BirthDate), nil
	})

	d.step(ctx, ct, "facade.searchObservation category=… date=ge…&date=le…", func(ctx context.Context) (string, error) {
		if patientID == "" {
			return "", errSkipped
		}
		page, err := sys.Facade.SearchObservation(ctx, &facade.SearchObservationParams{
			Patient:  "Patient/" + patientID,
			Category: demoObservationCategory,
			Date:     []string{"ge" + demoDateFrom, "le" + demoDateTo},
		})
		if err != nil {
			return "", err
		}
		if len(page.Matches) == 0 {
			return "", errors.New("no observations in the date range")
		}
		more := ""
		if page.NextLink != "" {
			more = ", more pages"
		}
		return fmt.Sprintf("%d observations %s..%s%s", len(page.Matches), demoDateFrom, demoDateTo, more), nil
	})

	d.step(ctx, ct, "facade.patientStatusQuery ($status-query)", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		in := stu3.Parameters{Parameter: []stu3.ParametersParameter{{
			Name: "patientIdentifier", ValueIdentifier: &stu3.Identifier{System: nhsNumberSystem, Value: pkbtest.SeedPatientNHSNumber},
		}}}
		out, err := sys.Facade.PatientStatusQuery(ctx, &in)
		if err != nil {
			return "", err
		}
		if len(out.Parameter) == 0 {
			return "", errors.New("no patientStatus returned")
		}
		return "patientStatus " + partsSummary(out.Parameter[0].Part, "registered", "deceased", "dateOfBirth", "diagnostics"), nil
	})

	d.step(ctx, ct, "facade.documentReferenceReadReceiptQuery", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		var in stu3.Parameters
		for _, id := range demoDocumentIdentifiers() {
			in.Parameter = append(in.Parameter, stu3.ParametersParameter{Name: "documentIdentifier", ValueIdentifier: &id})
		}
		out, err := sys.Facade.DocumentReferenceReadReceiptQuery(ctx, &in)
		if err != nil {
			return "", err
		}
		if len(out.Parameter) == 0 {
			return "", errors.New("no read receipts for the seeded documents")
		}
		return fmt.Sprintf("%d read receipts for %d documents", len(out.Parameter), len(in.Parameter)), nil
	})

	d.step(ctx, ct, "messaging.patientProcessMessage (create patient)", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		out, err := sys.Messaging.PatientProcessMessage(ctx, demoNewPatient())
		if err != nil {
			return "", err
		}
		switch {
		case out.Patient != nil:
			return "stored Patient/" + out.Patient.Id, nil
		case out.OperationOutcome != nil:
			return "answered OperationOutcome", nil
		}
		return "", errors.New("no Patient or OperationOutcome in the answer")
	})

	d.step(ctx, ct, "pkb.Create Observation on the Facade: unsupported (read-only)", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		return d.refused(pkb.ErrUnsupported, "ErrUnsupported", func() error {
			_, _, err := pkb.Create(ctx, sys.Facade, &stu3.Observation{Status: stu3.ObservationStatusFinal})
			return err
		})
	})
}

// runCustomer: Keycloak client credentials; Customer R4 and Aggregated.
func (d *demo) runCustomer(ctx context.Context) {
	ct := authn.ClientCustomer
	fmt.Fprintf(d.progress, "%s (client credentials at the Keycloak realm):\n", clientLabels[ct])
	src, err := authn.NewCustomerSource(authn.CustomerConfig{ClientID: pkbtest.DefaultCustomerClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: d.env, Options: d.authnOptions()})
	var cust *wrappers.CustomerSystemClient
	if err == nil {
		cust, err = wrappers.NewCustomerSystemClient(src, pkbtest.CustomerR4, d.wrapperOptions()...)
	}

	batchOK := d.step(ctx, ct, "customer-r4.transaction (batch: Patient + Observation)", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		// PUT (UpdateIn) with fixed ids, so that the demo can run repeatedly.
		batch := pkb.NewBatch[r4.Version]()
		patient := pkb.UpdateIn(batch, demoCustomerPatient())
		pkb.UpdateIn(batch, demoCustomerObservation(patient.R4()))
		results, err := batch.Do(ctx, cust.CustomerR4)
		if err != nil {
			return "", err
		}
		statuses := lo.Map(results, func(r pkb.EntryResult, _ int) string {
			return fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status))
		})
		return "batch-response: " + strings.Join(statuses, ", "), nil
	})

	d.step(ctx, ct, "customer-r4.read Patient/{id}", func(ctx context.Context) (string, error) {
		if !batchOK {
			return "", errSkipped
		}
		p, err := pkb.Read[r4.Patient](ctx, cust.CustomerR4, demoCustomerPatientID)
		if err != nil {
			return "", err
		}
		if p.Id != demoCustomerPatientID || p.Meta == nil {
			return "", errors.New("the response is not the patient just written")
		}
		return fmt.Sprintf("Patient/%s version %s", p.Id, p.Meta.VersionId), nil
	})

	d.step(ctx, ct, "customer-r4.search Observation?_id=…", func(ctx context.Context) (string, error) {
		if !batchOK {
			return "", errSkipped
		}
		id := demoCustomerObservationID
		page, err := wrappers.CustomerR4Search[r4.Observation](ctx, cust.CustomerR4, &customerr4.SearchParams{ID: &id})
		if err != nil {
			return "", err
		}
		if n := len(page.Matches); n != 1 {
			return "", fmt.Errorf("%d matches, want the 1 observation just written", n)
		}
		return "1 match", nil
	})

	d.step(ctx, ct, "aggregated.searchObservation subject:Patient.identifier=…", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		chained := search.NHSNumber(pkbtest.SeedPatientNHSNumber).String()
		page, err := cust.Aggregated.SearchObservation(ctx, &aggregated.SearchObservationParams{SubjectPatientIdentifier: &chained})
		if err != nil {
			return "", err
		}
		if len(page.Matches) == 0 {
			return "", errors.New("no observations for the seeded patient")
		}
		return fmt.Sprintf("%d observations on the first page", len(page.Matches)), nil
	})
}

// runUser: authorization code + PKCE over a loopback redirect.
func (d *demo) runUser(ctx context.Context) {
	ct := authn.ClientUser
	fmt.Fprintf(d.progress, "%s (authorization code + PKCE, loopback redirect):\n", clientLabels[ct])
	src, err := authn.NewUserSource(authn.UserConfig{ClientID: pkbtest.DefaultUserClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: d.env, Scope: authn.ScopePatient, Store: authn.NewMemoryStore(nil), Options: d.authnOptions()})
	var user *wrappers.UserClient
	if err == nil {
		user, err = wrappers.NewUserClient(src, d.wrapperOptions()...)
	}
	loggedIn := d.step(ctx, ct, "login (browser GET of the authorize URL)", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		// The "browser": the simulator approves without a UI and redirects
		// to the loopback callback, which this client follows.
		tok, err := src.LoginLoopback(ctx, func(authURL string) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
			if err != nil {
				return err
			}
			resp, err := d.hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("the login callback answered %s", resp.Status)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		return "granted " + strings.Join(authn.GrantedScopes(tok), " "), nil
	})

	d.step(ctx, ct, "facade.purview ($purview)", func(ctx context.Context) (string, error) {
		if !loggedIn {
			return "", errSkipped
		}
		p, err := user.Facade.Purview(ctx)
		if err != nil {
			return "", err
		}
		prm, ok := lo.Find(p.Parameter, func(prm stu3.ParametersParameter) bool {
			return prm.Name == "purview" && prm.ValueReference != nil
		})
		if !ok {
			return "", errors.New("no purview parameter in the response")
		}
		return "purview " + prm.ValueReference.Reference, nil
	})

	d.step(ctx, ct, "restapi.getSelf (users/self)", func(ctx context.Context) (string, error) {
		if !loggedIn {
			return "", errSkipped
		}
		u, err := user.REST.GetSelf(ctx)
		if err != nil {
			return "", err
		}
		if u.ID == nil {
			return "", errors.New("no user in the response")
		}
		return fmt.Sprintf("user %s (%s %s)", *u.ID, deref(u.FirstName), deref(u.LastName)), nil
	})
}

// runTethered: a coordinator-issued refresh token, rotated on use.
func (d *demo) runTethered(ctx context.Context) {
	ct := authn.ClientTethered
	fmt.Fprintf(d.progress, "%s (Team Coordinator's refresh token, scope SITE):\n", clientLabels[ct])
	var teth *wrappers.TetheredClient
	setupErr := func() error {
		rt, err := d.sim.IssueTetheredRefreshToken()
		if err != nil {
			return fmt.Errorf("the simulated coordinator could not issue a refresh token: %w", err)
		}
		src, err := authn.NewTetheredSource(authn.TetheredConfig{ClientID: pkbtest.DefaultTetheredClientID, ClientSecret: pkbtest.DefaultClientSecret,
			Environment: d.env, RefreshToken: rt, Store: authn.NewMemoryStore(nil), Options: d.authnOptions()})
		if err != nil {
			return err
		}
		teth, err = wrappers.NewTetheredClient(src, d.wrapperOptions()...)
		return err
	}()

	var userID string
	d.step(ctx, ct, "restapi.getUserByNhsNumber (byNationalId)", func(ctx context.Context) (string, error) {
		if setupErr != nil {
			return "", setupErr
		}
		u, err := teth.REST.GetUserByNhsNumber(ctx, pkbtest.SeedPatientNHSNumber)
		if err != nil {
			return "", err
		}
		if u.ID == nil {
			return "", errors.New("no user in the response")
		}
		userID = *u.ID
		return "user " + userID, nil
	})

	var refs []string
	d.step(ctx, ct, "restapi.listMeasurementApiRefs (public, no token)", func(ctx context.Context) (string, error) {
		if setupErr != nil {
			return "", setupErr
		}
		all, err := teth.REST.ListMeasurementApiRefs(ctx)
		if err != nil {
			return "", err
		}
		refs = lo.FilterMap(all, func(ref restapi.MeasurementApiRef, _ int) (string, bool) {
			return deref(ref.Ref), ref.Ref != nil
		})
		if len(refs) == 0 {
			return "", errors.New("no measurement API refs")
		}
		return fmt.Sprintf("%d measurement types", len(refs)), nil
	})

	d.step(ctx, ct, "restapi.listPatientMeasurements", func(ctx context.Context) (string, error) {
		if userID == "" || len(refs) == 0 {
			return "", errSkipped
		}
		ms, err := teth.REST.ListPatientMeasurements(ctx, userID, &restapi.ListPatientMeasurementsParams{APIRefs: refs})
		if err != nil {
			return "", err
		}
		if len(ms) == 0 {
			return "", errors.New("no measurements for the patient")
		}
		return fmt.Sprintf("%d measurements", len(ms)), nil
	})

	d.step(ctx, ct, "restapi.createMeasurement: forbidden (PATIENT only)", func(ctx context.Context) (string, error) {
		if setupErr != nil {
			return "", setupErr
		}
		return d.refused(wrappers.ErrNotPermitted, "ErrNotPermitted", func() error {
			_, err := teth.REST.CreateMeasurement(ctx, &restapi.Measurement{})
			return err
		})
	})
}

// refused runs a call that must be refused before any I/O with want, and
// says so.
func (d *demo) refused(want error, name string, call func() error) (string, error) {
	before := d.counter.n.Load()
	err := call()
	sent := d.counter.n.Load() - before
	switch {
	case err == nil:
		return "", errors.New("the call was not refused")
	case !errors.Is(err, want):
		return "", fmt.Errorf("refused for the wrong reason: %w", err)
	case sent != 0:
		return "", fmt.Errorf("refused, but only after %d HTTP requests", sent)
	}
	return "refused with " + name + " before any network I/O", nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func stu3Name(names []stu3.HumanName) string {
	if len(names) == 0 {
		return "(no name)"
	}
	return strings.TrimSpace(strings.Join(names[0].Given, " ") + " " + names[0].Family)
}

// partsSummary renders the named parts of a Parameters parameter.
func partsSummary(parts []stu3.ParametersParameter, names ...string) string {
	var out []string
	for _, n := range names {
		for _, p := range parts {
			if p.Name != n {
				continue
			}
			switch {
			case p.ValueBoolean != nil:
				out = append(out, fmt.Sprintf("%s=%t", n, *p.ValueBoolean))
			case p.ValueDate != "":
				out = append(out, n+"="+p.ValueDate)
			case p.ValueString != "":
				out = append(out, n+"="+p.ValueString)
			}
		}
	}
	if len(out) == 0 {
		return "(no parts)"
	}
	return strings.Join(out, " ")
}
