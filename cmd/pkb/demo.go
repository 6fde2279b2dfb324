package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/aggregated"
	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/restapi"
	"github.com/pkbgo/pkb/pkbtest"
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

func nhsIdentifier(n string) string { return nhsNumberSystem + "|" + n }

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
	ready := func() error {
		if err != nil {
			return err
		}
		return nil
	}

	var patientID string
	d.step(ctx, ct, "facade.searchPatient identifier=<NHS number>", func(ctx context.Context) (string, error) {
		if err := ready(); err != nil {
			return "", err
		}
		r, err := sys.Facade.Gen.SearchPatientWithResponse(ctx, &facade.SearchPatientParams{Identifier: nhsIdentifier(pkbtest.SeedPatientNHSNumber)})
		if err != nil {
			return "", err
		}
		b := r.ApplicationfhirJSON200
		if b == nil || len(b.Entry) == 0 || b.Entry[0].Resource == nil {
			return "", errors.New("no patient found for the seeded NHS number")
		}
		p, err := b.Entry[0].Resource.AsPatient()
		if err != nil {
			return "", fmt.Errorf("first entry is not a Patient: %w", err)
		}
		patientID = p.Id
		return fmt.Sprintf("%d match: Patient/%s", len(b.Entry), p.Id), nil
	})

	d.step(ctx, ct, "facade.readPatient", func(ctx context.Context) (string, error) {
		if patientID == "" {
			return "", errSkipped
		}
		r, err := sys.Facade.Gen.ReadPatientWithResponse(ctx, patientID)
		if err != nil {
			return "", err
		}
		p := r.ApplicationfhirJSON200
		if p == nil || p.Id != patientID {
			return "", errors.New("the response is not the patient asked for")
		}
		return fmt.Sprintf("%s, %s, born %s", stu3Name(p.Name), p.Gender, p.BirthDate), nil
	})

	d.step(ctx, ct, "facade.searchObservation category=… date=ge…&date=le…", func(ctx context.Context) (string, error) {
		if patientID == "" {
			return "", errSkipped
		}
		r, err := sys.Facade.Gen.SearchObservationWithResponse(ctx, &facade.SearchObservationParams{
			Patient:  "Patient/" + patientID,
			Category: demoObservationCategory,
			Date:     []string{"ge" + demoDateFrom, "le" + demoDateTo},
		})
		if err != nil {
			return "", err
		}
		b := r.ApplicationfhirJSON200
		if b == nil || len(b.Entry) == 0 {
			return "", errors.New("no observations in the date range")
		}
		more := ""
		for _, l := range b.Link {
			if l.Relation == "next" {
				more = ", more pages"
			}
		}
		return fmt.Sprintf("%d observations %s..%s%s", len(b.Entry), demoDateFrom, demoDateTo, more), nil
	})

	d.step(ctx, ct, "facade.patientStatusQuery ($status-query)", func(ctx context.Context) (string, error) {
		if err := ready(); err != nil {
			return "", err
		}
		in := stu3.Parameters{ResourceType: stu3.ParametersResourceTypeParameters, Parameter: []stu3.ParametersParameter{{
			Name: "patientIdentifier", ValueIdentifier: &stu3.Identifier{System: nhsNumberSystem, Value: pkbtest.SeedPatientNHSNumber},
		}}}
		r, err := sys.Facade.Gen.PatientStatusQueryWithApplicationFhirPlusJSONBodyWithResponse(ctx, in)
		if err != nil {
			return "", err
		}
		out := r.ApplicationfhirJSON200
		if out == nil || len(out.Parameter) == 0 {
			return "", errors.New("no patientStatus returned")
		}
		return "patientStatus " + partsSummary(out.Parameter[0].Part, "registered", "deceased", "dateOfBirth", "diagnostics"), nil
	})

	d.step(ctx, ct, "facade.documentReferenceReadReceiptQuery", func(ctx context.Context) (string, error) {
		if err := ready(); err != nil {
			return "", err
		}
		in := stu3.Parameters{ResourceType: stu3.ParametersResourceTypeParameters}
		for _, id := range demoDocumentIdentifiers() {
			in.Parameter = append(in.Parameter, stu3.ParametersParameter{Name: "documentIdentifier", ValueIdentifier: &id})
		}
		r, err := sys.Facade.Gen.DocumentReferenceReadReceiptQueryWithApplicationFhirPlusJSONBodyWithResponse(ctx, in)
		if err != nil {
			return "", err
		}
		n := 0
		if r.ApplicationfhirJSON200 != nil {
			n = len(r.ApplicationfhirJSON200.Parameter)
		}
		if n == 0 {
			return "", errors.New("no read receipts for the seeded documents")
		}
		return fmt.Sprintf("%d read receipts for %d documents", n, len(in.Parameter)), nil
	})

	d.step(ctx, ct, "messaging.patientProcessMessage (create patient)", func(ctx context.Context) (string, error) {
		if err := ready(); err != nil {
			return "", err
		}
		p := stu3.Patient{
			ResourceType: stu3.PatientResourceTypePatient,
			Name:         []stu3.HumanName{{Given: []string{"Demo"}, Family: "Patient"}},
			BirthDate:    "1980-02-29",
			Gender:       stu3.PatientGenderFemale,
			Identifier:   []stu3.Identifier{{System: nhsNumberSystem, Value: demoNewNHSNumber}},
		}
		r, err := sys.Messaging.Gen.PatientProcessMessageWithApplicationFhirPlusJSONBodyWithResponse(ctx, p)
		if err != nil {
			return "", err
		}
		var out struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(r.Body, &out); err != nil {
			return "", fmt.Errorf("decoding the response: %w", err)
		}
		if out.ResourceType == "Patient" {
			return "stored Patient/" + out.ID, nil
		}
		return "answered " + out.ResourceType, nil
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
		r, err := cust.CustomerR4.Gen.TransactionWithBodyWithResponse(ctx, &customerr4.TransactionParams{}, mediaFHIR, bytes.NewReader(demoBatch()))
		if err != nil {
			return "", err
		}
		var out struct {
			Type  string `json:"type"`
			Entry []struct {
				Response struct {
					Status string `json:"status"`
				} `json:"response"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(r.Body, &out); err != nil {
			return "", fmt.Errorf("decoding the batch response: %w", err)
		}
		var statuses []string
		for _, e := range out.Entry {
			statuses = append(statuses, e.Response.Status)
			if !strings.HasPrefix(e.Response.Status, "2") {
				return "", fmt.Errorf("batch entry failed: %s", e.Response.Status)
			}
		}
		return fmt.Sprintf("%s: %s", out.Type, strings.Join(statuses, ", ")), nil
	})

	d.step(ctx, ct, "customer-r4.read Patient/{id}", func(ctx context.Context) (string, error) {
		if !batchOK {
			return "", errSkipped
		}
		r, err := cust.CustomerR4.Gen.ReadWithResponse(ctx, "Patient", demoCustomerPatientID, &customerr4.ReadParams{})
		if err != nil {
			return "", err
		}
		var p struct {
			ID   string `json:"id"`
			Meta struct {
				VersionID string `json:"versionId"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil || p.ID != demoCustomerPatientID {
			return "", errors.New("the response is not the patient just written")
		}
		return fmt.Sprintf("Patient/%s version %s", p.ID, p.Meta.VersionID), nil
	})

	d.step(ctx, ct, "customer-r4.search Observation?_id=…", func(ctx context.Context) (string, error) {
		if !batchOK {
			return "", errSkipped
		}
		id := demoCustomerObservationID
		r, err := cust.CustomerR4.Gen.SearchWithResponse(ctx, "Observation", &customerr4.SearchParams{ID: &id})
		if err != nil {
			return "", err
		}
		n, err := bundleCount(r.Body)
		if err != nil {
			return "", err
		}
		if n != 1 {
			return "", fmt.Errorf("%d matches, want the 1 observation just written", n)
		}
		return "1 match", nil
	})

	d.step(ctx, ct, "aggregated.searchObservation subject:Patient.identifier=…", func(ctx context.Context) (string, error) {
		if err != nil {
			return "", err
		}
		chained := nhsIdentifier(pkbtest.SeedPatientNHSNumber)
		r, err := cust.Aggregated.Gen.SearchObservationWithResponse(ctx, &aggregated.SearchObservationParams{SubjectPatientIdentifier: &chained})
		if err != nil {
			return "", err
		}
		n, err := bundleCount(r.Body)
		if err != nil {
			return "", err
		}
		if n == 0 {
			return "", errors.New("no observations for the seeded patient")
		}
		return fmt.Sprintf("%d observations on the first page", n), nil
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
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
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
		r, err := user.Facade.Gen.PurviewWithResponse(ctx)
		if err != nil {
			return "", err
		}
		if p := r.ApplicationfhirJSON200; p != nil {
			for _, prm := range p.Parameter {
				if prm.Name == "purview" && prm.ValueReference != nil {
					return "purview " + prm.ValueReference.Reference, nil
				}
			}
		}
		return "", errors.New("no purview parameter in the response")
	})

	d.step(ctx, ct, "restapi.getSelf (users/self)", func(ctx context.Context) (string, error) {
		if !loggedIn {
			return "", errSkipped
		}
		r, err := user.REST.Gen.GetSelfWithResponse(ctx)
		if err != nil {
			return "", err
		}
		u := r.JSON200
		if u == nil || u.ID == nil {
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
		r, err := teth.REST.Gen.GetUserByNhsNumberWithResponse(ctx, pkbtest.SeedPatientNHSNumber)
		if err != nil {
			return "", err
		}
		if r.JSON200 == nil || r.JSON200.ID == nil {
			return "", errors.New("no user in the response")
		}
		userID = *r.JSON200.ID
		return "user " + userID, nil
	})

	var refs []string
	d.step(ctx, ct, "restapi.listMeasurementApiRefs (public, no token)", func(ctx context.Context) (string, error) {
		if setupErr != nil {
			return "", setupErr
		}
		r, err := teth.REST.Gen.ListMeasurementApiRefsWithResponse(ctx)
		if err != nil {
			return "", err
		}
		if r.JSON200 != nil {
			for _, ref := range *r.JSON200 {
				if ref.Ref != nil {
					refs = append(refs, *ref.Ref)
				}
			}
		}
		if len(refs) == 0 {
			return "", errors.New("no measurement API refs")
		}
		return fmt.Sprintf("%d measurement types", len(refs)), nil
	})

	d.step(ctx, ct, "restapi.listPatientMeasurements", func(ctx context.Context) (string, error) {
		if userID == "" || len(refs) == 0 {
			return "", errSkipped
		}
		r, err := teth.REST.Gen.ListPatientMeasurementsWithResponse(ctx, userID, &restapi.ListPatientMeasurementsParams{APIRefs: refs})
		if err != nil {
			return "", err
		}
		n := 0
		if r.JSON200 != nil {
			n = len(*r.JSON200)
		}
		if n == 0 {
			return "", errors.New("no measurements for the patient")
		}
		return fmt.Sprintf("%d measurements", n), nil
	})

	d.step(ctx, ct, "restapi.createMeasurement: forbidden (PATIENT only)", func(ctx context.Context) (string, error) {
		if setupErr != nil {
			return "", setupErr
		}
		before := d.counter.n.Load()
		_, err := teth.REST.Gen.CreateMeasurementWithResponse(ctx, restapi.Measurement{})
		sent := d.counter.n.Load() - before
		switch {
		case err == nil:
			return "", errors.New("the forbidden call was not refused")
		case !errors.Is(err, wrappers.ErrNotPermitted):
			return "", fmt.Errorf("refused for the wrong reason: %w", err)
		case sent != 0:
			return "", fmt.Errorf("refused, but only after %d HTTP requests", sent)
		}
		return "refused with ErrNotPermitted before any network I/O", nil
	})
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

// bundleCount is the number of entries of a Bundle.
func bundleCount(body []byte) (int, error) {
	var b struct {
		ResourceType string            `json:"resourceType"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		return 0, errors.New("the response is not a Bundle")
	}
	return len(b.Entry), nil
}
