package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkbgo/pkb/internal/verify"
	"github.com/pkbgo/pkb/pkbtest"
)

// verifyClient is one configured client of the simulator for pkb verify.
type verifyClient struct {
	name string
	r    *runner
	// args are the client's probe values: what a team would pass.
	args []string
}

// verifyClients configures, against sim, the four client types (the User
// Client once per user type it may log in as) and, for the Customer
// System Client, stores a Patient as a customer feed would have.
func verifyClients(t *testing.T, sim *pkbtest.Simulator) []verifyClient {
	t.Helper()
	dir := t.TempDir()
	common := []string{"--test-patient", pkbtest.SeedPatientNHSNumber, "--allow-writes"}
	out := []verifyClient{{
		name: "system",
		r: newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": pkbtest.DefaultSystemClientID,
			"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_ORG_ID": pkbtest.SeedOrgPublicID}),
		args: append(slices.Clone(common), "--value", "odsCode="+pkbtest.SeedOrgODSCode, "--value", "sourceEndpoint=https://example.invalid/pkb-verify/inbound",
			"--value", "practitionerId="+pkbtest.SeedClinicianID),
	}}
	cust := newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "customer", "PKB_CLIENT_ID": pkbtest.DefaultCustomerClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_CUSTOMER": pkbtest.CustomerR4})
	cust.stdin = `{"resourceType":"Patient","name":[{"family":"Testcustomerpatient","given":["Uma"]}],"gender":"female"}`
	cust.want(0, "op", "create", "resourceType=Patient", "--body", "-")
	cust.stdin = ""
	out = append(out, verifyClient{name: "customer", r: cust, args: common})
	for _, scope := range []string{"PATIENT", "CLINICIAN"} {
		u := newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_ID": pkbtest.DefaultUserClientID,
			"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_TOKEN_STORE": filepath.Join(dir, scope+".json"), "PKB_SCOPE": scope})
		u.openURL = browse
		u.want(0, "login")
		args := slices.Clone(common)
		if scope == "CLINICIAN" {
			args = append(args, "--value", "patient.restId="+pkbtest.SeedPatientRESTID, "--value", "teamId="+pkbtest.SeedTeamID,
				"--value", "practitionerId="+pkbtest.SeedClinicianID)
		}
		out = append(out, verifyClient{name: "user:" + scope, r: u, args: args})
	}
	rt, err := sim.IssueTetheredRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, verifyClient{name: "tethered", r: newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "tethered",
		"PKB_CLIENT_ID": pkbtest.DefaultTetheredClientID, "PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret,
		"PKB_TOKEN_STORE": filepath.Join(dir, "tethered.json"), "PKB_REFRESH_TOKEN": rt}), args: common})
	return out
}

// seededPHI is every seeded identifier and name of the simulator.
func seededPHI(sim *pkbtest.Simulator) []string {
	out := []string{pkbtest.SeedPatientID, pkbtest.SeedPatientNHSNumber, pkbtest.SeedPatientBSN, pkbtest.SeedPatientRESTID,
		pkbtest.SeedClinicianID, pkbtest.SeedClinicianRESTID, pkbtest.SeedCoordinatorID, pkbtest.SeedCoordinatorRESTID,
		pkbtest.SeedPersonID, pkbtest.SeedQuestionnaireID, pkbtest.SeedProcedureRequestID, pkbtest.SeedAggregatedQuestionnaireID,
		pkbtest.SeedCarerConsentID, pkbtest.SeedReadDocumentIdentifier, pkbtest.SeedUnreadDocumentIdentifier,
		pkbtest.SeedOrgPublicID, pkbtest.SeedOtherOrgPublicID, pkbtest.SeedTeamID, pkbtest.SeedSecondTeamID,
		pkbtest.SeedOrgODSCode, pkbtest.SeedTeamAlias, pkbtest.SeedSecondTeamAlias,
		"Testclinician", "Testcoordinator", "Testnurse", "Testcustomerpatient", "Uma", "Testtown", "TE5 7AA", "Test Street"}
	for _, p := range sim.Patients() {
		out = append(out, p.ID, p.NHSNumber, p.RESTID, p.Given, p.Family, p.BirthDate, p.BSN, p.Email)
	}
	slices.Sort(out)
	return slices.DeleteFunc(slices.Compact(out), func(s string) bool { return s == "" })
}

func phiHits(text string, phi []string) []string {
	var hits []string
	for _, v := range phi {
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(text) {
			hits = append(hits, v)
		}
	}
	return hits
}

// TestVerifyEveryClientType runs pkb verify, writes allowed for the seeded
// test patient, with each client type against the plain simulator: it
// exits 0, contradicts nothing, finds no drift, and none of its text,
// JSON, JUnit or patch outputs (nor stderr) holds a seeded identifier or
// name.
func TestVerifyEveryClientType(t *testing.T) {
	sim := startSim(t)
	phi := seededPHI(sim)
	if hits := phiHits("NHS number "+pkbtest.SeedPatientNHSNumber+".", phi); len(hits) == 0 {
		t.Fatalf("the PHI grep finds %q in a line holding the NHS number", hits)
	}
	dir := t.TempDir()
	for _, vc := range verifyClients(t, sim) {
		junit := filepath.Join(dir, vc.name+".xml")
		patches := filepath.Join(dir, vc.name+".patch.json")
		start := time.Now()
		res := vc.r.want(0, append([]string{"verify", "--json", "--junit", junit, "--suggest", patches}, vc.args...)...)
		wall := time.Since(start)
		var rep verify.Report
		if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
			t.Fatalf("%s: --json: %v\n%s", vc.name, err, res)
		}
		s := rep.Summary
		if s.Contradicted != 0 || s.Drift != 0 || s.Errors != 0 || s.Inconclusive != 0 || s.Confirmed == 0 {
			t.Errorf("%s: summary %+v", vc.name, s)
		}
		t.Logf("%-15s %3d calls, %4d ms wall (run %d ms): %d confirmed, %d not testable", vc.name, rep.Calls, wall.Milliseconds(),
			rep.DurationMS, s.Confirmed, s.NotTestable)
		if strings.Contains(res.stderr, "\r") || strings.Contains(res.stderr, "pkb verify: 1/") {
			t.Errorf("%s: a progress display on a stderr that is not a terminal:\n%q", vc.name, res.stderr)
		}
		if !strings.Contains(res.stderr, "this run sends these calls that change data") {
			t.Errorf("%s: --allow-writes did not list the writes first:\n%s", vc.name, res.stderr)
		}
		// The list is exactly what the run wrote.
		var listed, wrote []string
		for _, l := range strings.Split(res.stderr, "\n") {
			if f := strings.Fields(l); len(f) > 1 && !strings.HasPrefix(l, " ") && strings.Contains(f[0], ".") && strings.HasSuffix(f[1], ":") {
				listed = append(listed, f[0])
			}
		}
		for _, r := range rep.Results {
			if r.Writes && r.Outcome != verify.NotTestable {
				wrote = append(wrote, r.ID)
			}
		}
		if !slices.Equal(listed, wrote) {
			t.Errorf("%s: listed the writes %q, wrote %q", vc.name, listed, wrote)
		}
		text := vc.r.want(0, append([]string{"verify", "-v"}, vc.args...)...)
		outputs := map[string]string{"text": text.stdout + text.stderr, "json": res.stdout + res.stderr}
		for name, file := range map[string]string{"junit": junit, "patches": patches} {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			outputs[name] = string(b)
		}
		if !strings.Contains(outputs["junit"], "<testsuites") || strings.TrimSpace(outputs["patches"]) != "[]" {
			t.Errorf("%s: junit or patches file:\n%s\n%s", vc.name, outputs["junit"], outputs["patches"])
		}
		for name, out := range outputs {
			if hits := phiHits(out, phi); len(hits) > 0 {
				t.Errorf("%s: the %s output holds seeded values %q", vc.name, name, hits)
			}
		}
	}
}

// TestVerifyDeviationSuggests: against a simulator deviating from one
// assumption, pkb verify exits 1, reports that assumption contradicted in
// the table and the JUnit file, and --suggest writes the patch that makes
// the document match, without touching the document.
func TestVerifyDeviationSuggests(t *testing.T) {
	const id = "restapi.measurement.value"
	sim, err := pkbtest.NewSimulator(pkbtest.WithDeviations(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	doc := "../../api/openapi/restapi.yaml"
	before, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := sim.IssueTetheredRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "tethered",
		"PKB_CLIENT_ID": pkbtest.DefaultTetheredClientID, "PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret,
		"PKB_TOKEN_STORE": filepath.Join(t.TempDir(), "tethered.json"), "PKB_REFRESH_TOKEN": rt})
	dir := t.TempDir()
	patchFile, junit := filepath.Join(dir, "patch.json"), filepath.Join(dir, "junit.xml")
	res := r.want(exitFailed, "verify", "--test-patient", pkbtest.SeedPatientNHSNumber, "--suggest", patchFile, "--junit", junit)
	if !regexp.MustCompile(`(?m)^contradicted +` + regexp.QuoteMeta(id) + ` `).MatchString(res.stdout) {
		t.Errorf("the table does not report %s contradicted:\n%s", id, res.stdout)
	}
	if n := strings.Count(res.stdout, "\ncontradicted "); n != 1 {
		t.Errorf("%d contradicted rows, want 1:\n%s", n, res.stdout)
	}
	b, err := os.ReadFile(patchFile)
	if err != nil {
		t.Fatal(err)
	}
	var patches []verify.Patch
	if err := json.Unmarshal(b, &patches); err != nil {
		t.Fatal(err)
	}
	if len(patches) != 1 || patches[0].Assumption != id || patches[0].File != "api/openapi/restapi.yaml" || len(patches[0].Edits) != 1 {
		t.Fatalf("patches: %s", b)
	}
	e := patches[0].Edits[0]
	if e.Op != "add" || e.Path != "/components/schemas/Measurement/properties/value/type" || string(e.Value) != `"number"` {
		t.Errorf("patch edit %+v", e)
	}
	if _, err := verify.ApplyPatch(before, patches[0].Edits); err != nil {
		t.Errorf("the patch does not apply: %v", err)
	}
	if j, _ := os.ReadFile(junit); !strings.Contains(string(j), `type="contradicted"`) {
		t.Errorf("the JUnit file has no failure:\n%s", j)
	}
	after, _ := os.ReadFile(doc)
	if string(after) != string(before) {
		t.Error("pkb verify --suggest changed the document")
	}
}

func TestVerifyUsage(t *testing.T) {
	r := newRunner(t, nil)
	r.want(exitUsage, "verify", "--allow-writes")                   // no test patient
	r.want(exitUsage, "verify", "--value", "nonsense=1")            // unknown value
	r.want(exitUsage, "verify", "--value", "new.uuid=1")            // generated
	r.want(exitUsage, "serve", "--deviate", "facade.no-such-thing") // unknown deviation
	if res := r.want(0, "serve", "--deviate", "list"); !strings.Contains(res.stdout, "facade.purview.path\n") {
		t.Errorf("serve --deviate list:\n%s", res)
	}
	if res := r.want(0, "verify", "--list-values"); !strings.Contains(res.stdout, "--test-patient") {
		t.Errorf("verify --list-values:\n%s", res)
	}
}
