package pkbtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

type obj = map[string]any

// sims records every simulator the suite starts, so that TestMain can check
// that the suite as a whole called every operation.
var (
	simsMu sync.Mutex
	sims   []*pkbtest.Simulator
)

// TestMain runs the suite and then, when the whole suite ran (no -run or
// -skip filter) and passed, fails if any operation of gen/access was never
// served: every generated client operation must be exercised against the
// simulator.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	full := flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == ""
	if code == 0 && full && !testing.Short() {
		if missing := unservedOperations(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d of %d operations were never called by the test suite:\n  %s\n",
				len(missing), len(access.Operations()), strings.Join(missing, "\n  "))
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "pkbtest: the suite called all %d operations\n", len(access.Operations()))
		}
	}
	os.Exit(code)
}

func unservedOperations() []string {
	served := map[string]int{}
	simsMu.Lock()
	for _, s := range sims {
		for k, v := range s.ServedOperations() {
			served[k] += v
		}
	}
	simsMu.Unlock()
	var missing []string
	for _, op := range access.Operations() {
		if served[string(op.Family)+"."+op.ID] == 0 {
			missing = append(missing, fmt.Sprintf("%s.%s (%s %s)", op.Family, op.ID, op.Method, op.Path))
		}
	}
	sort.Strings(missing)
	return missing
}

// newSim starts a simulator that also validates its own responses against
// the OpenAPI documents, and records it for the coverage check.
func newSim(t *testing.T, opts ...pkbtest.SimOption) *pkbtest.Simulator {
	t.Helper()
	s := pkbtest.NewServer(t, append([]pkbtest.SimOption{pkbtest.WithResponseValidation()}, opts...)...)
	simsMu.Lock()
	sims = append(sims, s)
	simsMu.Unlock()
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func systemSource(t *testing.T, s *pkbtest.Simulator) *authn.SystemSource {
	t.Helper()
	src, err := authn.NewSystemSource(authn.SystemConfig{ClientID: pkbtest.DefaultSystemClientID, ClientSecret: pkbtest.DefaultClientSecret, Environment: s.Environment()})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func systemClient(t *testing.T, s *pkbtest.Simulator) *wrappers.SystemClient {
	t.Helper()
	c, err := wrappers.NewSystemClient(systemSource(t, s), pkbtest.SeedOrgPublicID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func customerSource(t *testing.T, s *pkbtest.Simulator) *authn.CustomerSource {
	t.Helper()
	src, err := authn.NewCustomerSource(authn.CustomerConfig{ClientID: pkbtest.DefaultCustomerClientID, ClientSecret: pkbtest.DefaultClientSecret, Environment: s.Environment()})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// customerClient addresses one of the simulator's customers
// (pkbtest.CustomerSTU3 or pkbtest.CustomerR4): the wrappers give both
// views one URL, so each FHIR version needs its own client.
func customerClient(t *testing.T, s *pkbtest.Simulator, customer string) *wrappers.CustomerSystemClient {
	t.Helper()
	c, err := wrappers.NewCustomerSystemClient(customerSource(t, s), customer)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// userSource logs in through the simulator's authorize endpoint, with
// Browse playing the browser.
func userSource(t *testing.T, s *pkbtest.Simulator, scope string) *authn.UserSource {
	t.Helper()
	src, err := authn.NewUserSource(authn.UserConfig{ClientID: pkbtest.DefaultUserClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: s.Environment(), Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.LoginLoopback(ctx(t), s.Browse); err != nil {
		t.Fatalf("login as %s: %v", scope, err)
	}
	return src
}

func userClient(t *testing.T, s *pkbtest.Simulator, scope string) *wrappers.UserClient {
	t.Helper()
	c, err := wrappers.NewUserClient(userSource(t, s, scope))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tetheredSource redeems a refresh token the simulated Team Coordinator
// issued.
func tetheredSource(t *testing.T, s *pkbtest.Simulator) *authn.TetheredSource {
	t.Helper()
	rt, err := s.IssueTetheredRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	src, err := authn.NewTetheredSource(authn.TetheredConfig{ClientID: pkbtest.DefaultTetheredClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: s.Environment(), RefreshToken: rt})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func tetheredClient(t *testing.T, s *pkbtest.Simulator) *wrappers.TetheredClient {
	t.Helper()
	c, err := wrappers.NewTetheredClient(tetheredSource(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func token(t *testing.T, src authn.TokenSource) string {
	t.Helper()
	tok, err := src.Token(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// want checks a generated client's response (any *XxxResponse) for the
// status, checks that the generated model decoded a success body, and
// returns the body as generic JSON for assertions.
func want(t *testing.T, resp any, err error, status int) obj {
	t.Helper()
	if err != nil {
		// The wrappers turn every status of 400 or more into an APIError.
		var ae *wrappers.APIError
		if !errors.As(err, &ae) || ae.StatusCode != status {
			t.Fatalf("request failed: %v (want status %d)", err, status)
		}
		return apiErrorOutcome(ae)
	}
	v := reflect.ValueOf(resp).Elem()
	hr := v.FieldByName("HTTPResponse").Interface().(*http.Response)
	body := v.FieldByName("Body").Bytes()
	if hr.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", hr.Request.Method, hr.Request.URL.Path, hr.StatusCode, status, body)
	}
	if status < 300 && len(body) > 0 {
		decoded := false
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if strings.HasSuffix(f.Name, fmt.Sprint(status)) && !v.Field(i).IsNil() {
				decoded = true
			}
		}
		if !decoded {
			t.Errorf("%s %s: the generated model did not decode the %d body", hr.Request.Method, hr.Request.URL.Path, status)
		}
	}
	var m obj
	if len(body) > 0 && body[0] == '{' {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, body)
		}
	}
	return m
}

// apiErrorOutcome renders an APIError as the OperationOutcome it came from,
// so tests inspect client errors and raw responses alike.
func apiErrorOutcome(ae *wrappers.APIError) obj {
	var issues []any
	if ae.Outcome != nil {
		for _, is := range ae.Outcome.Issues {
			var coding []any
			for _, c := range is.Details.Coding {
				coding = append(coding, obj{"system": c.System, "code": c.Code})
			}
			issues = append(issues, obj{"severity": is.Severity, "code": is.Code, "diagnostics": is.Diagnostics, "details": obj{"coding": coding}})
		}
	}
	if len(issues) == 0 && ae.ResponseCode != "" {
		issues = append(issues, obj{"details": obj{"coding": []any{obj{"system": pkbtest.ResponseCodeSystem, "code": ae.ResponseCode}}}})
	}
	return obj{"resourceType": "OperationOutcome", "issue": issues, "status": float64(ae.StatusCode)}
}

// raw sends a request without the client library, for what the wrappers
// refuse before any I/O.
func raw(t *testing.T, method, url, tok string, header map[string]string, body string) (*http.Response, obj) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx(t), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m obj
	_ = json.Unmarshal(b, &m)
	return resp, m
}

// pkbCode returns the PKB response code of an OperationOutcome ("" if none).
func pkbCode(oo obj) string {
	for _, is := range list(oo, "issue") {
		for _, c := range list(get(is, "details"), "coding") {
			if get(c, "system") == pkbtest.ResponseCodeSystem {
				s, _ := get(c, "code").(string)
				return s
			}
		}
	}
	return ""
}

// diagnostics joins every issue's diagnostics.
func diagnostics(oo obj) string {
	var out []string
	for _, is := range list(oo, "issue") {
		s, _ := get(is, "diagnostics").(string)
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func wantOutcome(t *testing.T, resp *http.Response, oo obj, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %v", resp.StatusCode, status, oo)
	}
	if get(oo, "resourceType") != "OperationOutcome" {
		t.Fatalf("body is not an OperationOutcome: %v", oo)
	}
	if got := pkbCode(oo); got != code {
		t.Fatalf("PKB code %q, want %q; body %v", got, code, oo)
	}
}

// get walks generic JSON: get(m, "a", "b") is m["a"]["b"].
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(obj)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func list(v any, keys ...string) []any {
	l, _ := get(v, keys...).([]any)
	return l
}

// entries returns the resources of a Bundle's entries.
func entries(b obj) []obj {
	var out []obj
	for _, e := range list(b, "entry") {
		if r, ok := get(e, "resource").(obj); ok {
			out = append(out, r)
		}
	}
	return out
}

// nextLink returns a Bundle's next link, or "".
func nextLink(b obj) string {
	for _, l := range list(b, "link") {
		if get(l, "relation") == "next" {
			s, _ := get(l, "url").(string)
			return s
		}
	}
	return ""
}

// param returns the parameters (or parts) called name.
func param(p any, name string) []obj {
	var out []obj
	key := "parameter"
	if list(p, key) == nil {
		key = "part"
	}
	for _, x := range list(p, key) {
		if get(x, "name") == name {
			out = append(out, x.(obj))
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
