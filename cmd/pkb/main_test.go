package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/pkbtest"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout:\n" + r.stdout + "\n--- stderr:\n" + r.stderr
}

// runner runs the command in-process with a controlled environment.
type runner struct {
	t   *testing.T
	env map[string]string
	// openURL, when set, plays the browser for pkb login.
	openURL func(ctx context.Context, url string) error
	stdin   string
}

func newRunner(t *testing.T, env map[string]string) *runner {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	return &runner{t: t, env: env}
}

func (r *runner) run(args ...string) result {
	r.t.Helper()
	var out, errb syncBuffer
	c := &cli{
		stdin:   strings.NewReader(r.stdin),
		stdout:  &out,
		stderr:  &errb,
		getenv:  func(k string) string { return r.env[k] },
		openURL: r.openURL,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := c.run(ctx, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (r *runner) want(code int, args ...string) result {
	r.t.Helper()
	res := r.run(args...)
	if res.code != code {
		r.t.Fatalf("pkb %s: want exit %d, got\n%s", strings.Join(args, " "), code, res)
	}
	return res
}

func TestUsageErrorsExit2(t *testing.T) {
	r := newRunner(t, nil)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"get"},
		{"get", "Patient/1", "Patient/2"},
		{"get", "../api/oauth/token"},
		{"get", "--no-such-flag", "Patient/1"},
		{"search"},
		{"search", "Observation", "patient"},
		{"op"},
		{"demo", "extra"},
		{"serve", "--addr", "no-port"},
		{"serve", "--latency", "fhir=1s"},
		{"get", "--client-type", "robot", "Patient/1"},
		{"get", "--env", "mars", "Patient/1"},
		{"token", "--timeout", "soon"},
		{"token", "--base-url", "http://pkb.example.com"}, // plain http would expose the secret
		{"ops", "extra"},
	} {
		res := r.run(args...)
		if res.code != exitUsage {
			t.Errorf("pkb %s: want exit 2, got\n%s", strings.Join(args, " "), res)
		}
		if res.stderr == "" {
			t.Errorf("pkb %s: no message on stderr", strings.Join(args, " "))
		}
	}
	if res := r.run("help"); res.code != 0 || !strings.Contains(res.stdout, "Exit status") {
		t.Errorf("pkb help:\n%s", res)
	}
	if res := r.run("get", "-h"); res.code != 0 {
		t.Errorf("pkb get -h:\n%s", res)
	}
}

func TestMissingCredentialsExit3NamingTheVariable(t *testing.T) {
	store := filepath.Join(t.TempDir(), "tok.json")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"client id", map[string]string{"PKB_CLIENT_TYPE": "system"}, []string{"get", "Patient/1"}, "PKB_CLIENT_ID"},
		{"system secret", map[string]string{"PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": "x"}, []string{"get", "Patient/1"}, "PKB_CLIENT_SECRET"},
		{"org id", map[string]string{"PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": "x", "PKB_CLIENT_SECRET": "y"}, []string{"search", "Patient"}, "PKB_ORG_ID"},
		{"customer", map[string]string{"PKB_CLIENT_TYPE": "customer", "PKB_CLIENT_ID": "x", "PKB_CLIENT_SECRET": "y"}, []string{"get", "Patient/1"}, "PKB_CUSTOMER"},
		{"customer secret", map[string]string{"PKB_CLIENT_TYPE": "customer", "PKB_CLIENT_ID": "x"}, []string{"token"}, "PKB_CLIENT_SECRET"},
		{"tethered refresh token", map[string]string{"PKB_CLIENT_TYPE": "tethered", "PKB_CLIENT_ID": "x", "PKB_CLIENT_SECRET": "y", "PKB_TOKEN_STORE": store}, []string{"get", "users/self"}, "PKB_REFRESH_TOKEN"},
		{"user login", map[string]string{"PKB_CLIENT_ID": "x", "PKB_TOKEN_STORE": store}, []string{"token"}, "pkb login"},
		{"user id for login", map[string]string{"PKB_TOKEN_STORE": store}, []string{"login"}, "PKB_CLIENT_ID"},
		{"bad env value", map[string]string{"PKB_CLIENT_TYPE": "robot"}, []string{"token"}, "PKB_CLIENT_TYPE"},
		{"login as system", map[string]string{"PKB_CLIENT_TYPE": "system"}, []string{"login"}, "User Client"},
		{"plain http base URL", map[string]string{"PKB_BASE_URL": "http://10.1.2.3:8080", "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": "x", "PKB_CLIENT_SECRET": "y", "PKB_ORG_ID": "o"}, []string{"token"}, "PKB_BASE_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := newRunner(t, tc.env).want(exitAuth, tc.args...)
			if !strings.Contains(res.stderr, tc.want) {
				t.Errorf("message does not name %s:\n%s", tc.want, res)
			}
		})
	}
}

func TestUnreachableHostExit4(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	r := newRunner(t, map[string]string{"PKB_BASE_URL": dead, "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": "x",
		"PKB_CLIENT_SECRET": "secret-never-printed-1", "PKB_ORG_ID": "org"})
	res := r.want(exitNetwork, "get", "Patient/1", "--timeout", "10s")
	if !strings.Contains(res.stderr, l.Addr().String()) {
		t.Errorf("message does not say what was unreachable:\n%s", res)
	}
	assertNoSecret(t, res, "secret-never-printed-1")
}

func TestRedactorMasksSecretsEvenIfPrinted(t *testing.T) {
	var b bytes.Buffer
	sec := &secrets{}
	sec.add("s3cr3t-value", "")
	w := &termWriter{w: &b, secrets: sec}
	w.Write([]byte("a s3cr3t-value b s3cr3t%2Dvalue c\n"))
	sec.add("later-token-1234")
	w.Write([]byte("\x1b[31mlater-token-1234\x1b[0m\n"))
	if strings.Contains(b.String(), "s3cr3t") || strings.Contains(b.String(), "later") || strings.Contains(b.String(), "\x1b") {
		t.Fatal(b.String())
	}
}

func TestParseArgsInterspersed(t *testing.T) {
	var cf commonFlags
	c := &cli{stderr: &bytes.Buffer{}}
	fs := c.newFlagSet("x", "")
	addCommon(fs, &cf)
	pos, err := parseArgs(fs, []string{"Observation", "--json", "patient=1", "--env", "sandbox", "--", "--literal"})
	if err != nil {
		t.Fatal(err)
	}
	if !cf.json || cf.env != "sandbox" || strings.Join(pos, " ") != "Observation patient=1 --literal" {
		t.Fatalf("json=%v env=%q pos=%q", cf.json, cf.env, pos)
	}
}

func TestNHSNumbersAreValid(t *testing.T) {
	for _, n := range []string{demoNewNHSNumber, demoCustomerNHSNumber, nhsNumber("943476591")} {
		if len(n) != 10 {
			t.Fatalf("%q", n)
		}
	}
	if nhsNumber("943476591") != "9434765919" { // NHS Digital's published example
		t.Fatal(nhsNumber("943476591"))
	}
}

func assertNoSecret(t *testing.T, res result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && (strings.Contains(res.stdout, s) || strings.Contains(res.stderr, s)) {
			t.Errorf("secret %q printed:\n%s", s, res)
		}
	}
}

// startSim starts an in-process simulator for the real-use commands.
func startSim(t *testing.T) *pkbtest.Simulator {
	t.Helper()
	sim, err := pkbtest.NewSimulator()
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	// Serve a request before the test may close the simulator.
	resp, err := http.Get(sim.URL() + "/fhir/metadata")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return sim
}

func TestDemoInProcess(t *testing.T) {
	r := newRunner(t, nil)
	res := r.run("demo")
	if res.code != 0 {
		t.Fatalf("demo failed:\n%s", res)
	}
	for _, label := range clientLabels {
		if !strings.Contains(res.stdout, label) {
			t.Errorf("table has no %s row:\n%s", label, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "FAIL") {
		t.Errorf("a row failed:\n%s", res.stdout)
	}
	if !strings.Contains(res.stderr, "simulator at http://127.0.0.1:") {
		t.Errorf("no progress on stderr:\n%s", res.stderr)
	}
	assertNoSecret(t, res, pkbtest.DefaultClientSecret)

	res = r.run("demo", "--json")
	if res.code != 0 {
		t.Fatalf("demo --json failed:\n%s", res)
	}
	var rep demoReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("demo --json output does not parse: %v\n%s", err, res.stdout)
	}
	if !rep.OK || len(rep.Steps) == 0 {
		t.Fatalf("report: %+v", rep)
	}
	seen := map[string]bool{}
	refusals := 0
	for _, s := range rep.Steps {
		seen[s.ClientType] = true
		if !s.OK {
			t.Errorf("step failed: %+v", s)
		}
		if s.LatencyMS <= 0 {
			t.Errorf("no latency: %+v", s)
		}
		if strings.Contains(s.Operation, "forbidden") && (s.Requests != 0 || !strings.Contains(s.Result, "ErrNotPermitted")) {
			t.Errorf("forbidden step: %+v", s)
		}
		if strings.Contains(s.Operation, "unsupported") && (s.Requests != 0 || !strings.Contains(s.Result, "ErrUnsupported")) {
			t.Errorf("unsupported step: %+v", s)
		}
		if strings.Contains(s.Result, "before any network I/O") {
			refusals++
		}
	}
	for _, ct := range []authn.ClientType{authn.ClientSystem, authn.ClientCustomer, authn.ClientUser, authn.ClientTethered} {
		if !seen[string(ct)] {
			t.Errorf("no %s steps in %+v", ct, rep.Steps)
		}
	}
	if len(rep.Steps) < 18 || refusals != 2 {
		t.Errorf("%d steps, %d refused before I/O; want at least 18 and 2", len(rep.Steps), refusals)
	}
}

// browse plays the browser: the simulator approves and redirects to the
// loopback callback.
func browse(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestSystemClientAgainstSimulator(t *testing.T) {
	sim := startSim(t)
	env := map[string]string{
		"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": pkbtest.DefaultSystemClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_ORG_ID": pkbtest.SeedOrgPublicID,
	}
	r := newRunner(t, env)
	ident := "identifier=" + nhsNumberSystem + "|" + pkbtest.SeedPatientNHSNumber

	res := r.want(0, "search", "Patient", ident)
	if !strings.Contains(res.stdout, "Patient/"+pkbtest.SeedPatientID) {
		t.Errorf("search table lacks the patient:\n%s", res)
	}
	res = r.want(0, "search", "Patient", ident, "--json")
	var b map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &b); err != nil || b["resourceType"] != "Bundle" {
		t.Fatalf("search --json: %v\n%s", err, res)
	}
	res = r.want(0, "get", "Patient/"+pkbtest.SeedPatientID, "--json")
	if err := json.Unmarshal([]byte(res.stdout), &b); err != nil || b["id"] != pkbtest.SeedPatientID {
		t.Fatalf("get --json: %v\n%s", err, res)
	}
	r.want(0, "get", "Patient/"+pkbtest.SeedPatientID)
	r.want(0, "search", "Observation", "patient=Patient/"+pkbtest.SeedPatientID, "category="+demoObservationCategory,
		"date=ge"+demoDateFrom, "date=le"+demoDateTo)

	// op with a body from stdin, and the resolution of operation names
	r.stdin = `{"resourceType":"Parameters","parameter":[{"name":"patientIdentifier","valueIdentifier":{"system":"` +
		nhsNumberSystem + `","value":"` + pkbtest.SeedPatientNHSNumber + `"}}]}`
	res = r.want(0, "op", "patientStatusQuery", "--body", "-", "--json")
	if err := json.Unmarshal([]byte(res.stdout), &b); err != nil || b["resourceType"] != "Parameters" {
		t.Fatalf("op --json: %v\n%s", err, res)
	}
	r.want(0, "op", "facade.readPatient", "id="+pkbtest.SeedPatientID)
	r.want(exitUsage, "op", "readPatient")              // missing path parameter
	r.want(exitUsage, "op", "noSuchOperation")          // unknown
	r.want(exitAuth, "op", "getSelf")                   // REST API: not for System Clients
	r.want(exitUsage, "get", "Nonsense/1/2/3")          // matches no documented operation
	r.want(exitUsage, "get", "metadata/%2e%2e")         // no route: refused by the choke point
	r.want(exitFailed, "get", "Patient/does-not-exist") // 404
	res = r.want(0, "token", "--json")
	var info tokenInfo
	if err := json.Unmarshal([]byte(res.stdout), &info); err != nil || info.ClientType != "system" || info.AccessToken != "" {
		t.Fatalf("token --json: %v %+v", err, info)
	}
	res = r.want(0, "ops", "--json")
	var ops []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &ops); err != nil || len(ops) == 0 {
		t.Fatalf("ops --json: %v\n%s", err, res)
	}
	// an error with --json is still JSON on stdout
	res = r.want(exitFailed, "get", "Patient/does-not-exist", "--json")
	if err := json.Unmarshal([]byte(res.stdout), &b); err != nil || b["error"] == nil {
		t.Fatalf("error --json: %v\n%s", err, res)
	}
	// wrong secret: exit 3
	r2 := newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": pkbtest.DefaultSystemClientID,
		"PKB_CLIENT_SECRET": "wrong-secret-value-77", "PKB_ORG_ID": pkbtest.SeedOrgPublicID})
	res = r2.want(exitAuth, "get", "Patient/"+pkbtest.SeedPatientID)
	assertNoSecret(t, res, "wrong-secret-value-77")
}

func TestUserAndTetheredAgainstSimulator(t *testing.T) {
	sim := startSim(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "user.json")
	r := newRunner(t, map[string]string{
		"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_ID": pkbtest.DefaultUserClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_TOKEN_STORE": store, "PKB_SCOPE": "PATIENT",
	})
	r.openURL = browse
	res := r.want(0, "login")
	if !strings.Contains(res.stdout, "PATIENT") {
		t.Errorf("login output:\n%s", res)
	}
	if fi, err := os.Stat(store); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token store: %v %v", fi, err)
	}
	saved, err := authn.NewFileStore(store).Load(context.Background())
	if err != nil || saved == nil {
		t.Fatal(err)
	}

	var outputs []result
	outputs = append(outputs, r.want(0, "token"))
	outputs = append(outputs, r.want(0, "get", "--family", "restapi", "users/self"))
	outputs = append(outputs, r.want(0, "op", "purview", "--json"))
	res = r.want(exitAuth, "op", "patientStatusQuery") // System only: refused before any I/O
	if !strings.Contains(res.stderr, "may not call") {
		t.Errorf("not-permitted message:\n%s", res)
	}
	outputs = append(outputs, res)
	for _, o := range outputs {
		assertNoSecret(t, o, pkbtest.DefaultClientSecret, saved.AccessToken, saved.RefreshToken)
	}
	res = r.want(0, "token", "--show-token", "--json")
	var info tokenInfo
	if err := json.Unmarshal([]byte(res.stdout), &info); err != nil || info.AccessToken == "" || !info.HasRefreshToken {
		t.Fatalf("token --show-token: %v %+v", err, info)
	}
	if strings.Contains(res.stderr, info.AccessToken) {
		t.Error("--show-token printed the token on stderr")
	}

	// Tethered: the coordinator's refresh token from the environment, then
	// from the rotated token store.
	rt, err := sim.IssueTetheredRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	tstore := filepath.Join(dir, "tethered.json")
	tr := newRunner(t, map[string]string{
		"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "tethered", "PKB_CLIENT_ID": pkbtest.DefaultTetheredClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_TOKEN_STORE": tstore, "PKB_REFRESH_TOKEN": rt,
	})
	res = tr.want(0, "op", "getUserByNhsNumber", "nationalId="+pkbtest.SeedPatientNHSNumber)
	assertNoSecret(t, res, rt, pkbtest.DefaultClientSecret)
	delete(tr.env, "PKB_REFRESH_TOKEN")
	res = tr.want(0, "token")
	assertNoSecret(t, res, rt)
	tr.want(exitAuth, "op", "createMeasurement")
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	ready := make(chan string, 1)
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		serveReady: func(u string) { ready <- u }}
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--seed", "7"}) }()
	var base string
	select {
	case base = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d early:\n%s\n%s", code, out.String(), errb.String())
	case <-time.After(time.Minute):
		t.Fatal("serve did not start")
	}
	if !strings.Contains(out.String(), base) || !strings.Contains(out.String(), pkbtest.DefaultSystemClientID) {
		t.Errorf("serve output lacks URL or credentials:\n%s", out.String())
	}
	r := newRunner(t, map[string]string{"PKB_BASE_URL": base, "PKB_CLIENT_TYPE": "customer", "PKB_CLIENT_ID": pkbtest.DefaultCustomerClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret})
	r.want(0, "search", "--family", "aggregated", "Patient", "identifier="+nhsNumberSystem+"|"+pkbtest.SeedPatientNHSNumber)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestOpsListsWhatTheCheckpointPermits: pkb ops lists, offline, exactly the
// operations whose grants name the client type (and the scope, when one is
// given), restated here independently of the wrappers' check.
func TestOpsListsWhatTheCheckpointPermits(t *testing.T) {
	for _, tc := range []struct {
		clientType, scope string
		scopes            []string
	}{
		{"system", "", nil},
		{"customer", "", nil},
		{"tethered", "", []string{"SITE"}},
		{"user", "PATIENT", []string{"PATIENT"}},
		{"user", "CLINICIAN", []string{"CLINICIAN"}},
		{"user", "", []string{"PATIENT", "CLINICIAN", "TEAMCOORD"}},
	} {
		args := []string{"ops", "--json", "--client-type", tc.clientType}
		if tc.scope != "" {
			args = append(args, "--scope", tc.scope)
		}
		res := newRunner(t, nil).want(0, args...)
		var rows []struct{ Family, Operation string }
		if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range rows {
			got[r.Family+"."+r.Operation] = true
		}
		want := 0
		for _, op := range access.Operations() {
			ok := false
			for _, g := range op.Grants {
				kind, scope, scoped := strings.Cut(g, ":")
				if g == "public" || kind == tc.clientType && (!scoped || slices.Contains(tc.scopes, scope)) {
					ok = true
				}
			}
			// a family the client type holds no handle for is not listed
			info, _ := access.FamilyByID(op.Family)
			if ok && !slices.Contains(info.ClientTypes, tc.clientType) {
				ok = false
			}
			if ok {
				want++
			}
			if got[string(op.Family)+"."+op.ID] != ok {
				t.Errorf("%s %s: %s.%s listed %t, want %t", tc.clientType, tc.scope, op.Family, op.ID, got[string(op.Family)+"."+op.ID], ok)
			}
		}
		if want == 0 || len(rows) != want {
			t.Errorf("%s %s: %d rows, want %d", tc.clientType, tc.scope, len(rows), want)
		}
	}
}
