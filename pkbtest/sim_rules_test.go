package pkbtest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

var orgHeader = map[string]string{"X-Org-Public-Id": pkbtest.SeedOrgPublicID}

// TestRequestsViolatingTheSpec sends requests the OpenAPI documents do not
// allow and expects 400 with an OperationOutcome naming the problem.
func TestRequestsViolatingTheSpec(t *testing.T) {
	s := newSim(t)
	env := s.Environment()
	sys := token(t, systemSource(t, s))
	obsURL := env.FacadeURL + "/Observation?patient=" + url.QueryEscape(alice) + "&category=" + url.QueryEscape(labCat)
	for name, tc := range map[string]struct {
		method, url, tok, body string
		header                 map[string]string
		want                   string
	}{
		"wrong parameter type":      {"GET", obsURL + "&_count=lots", sys, "", orgHeader, "_count"},
		"missing required param":    {"GET", env.FacadeURL + "/Observation?patient=" + url.QueryEscape(alice), sys, "", orgHeader, "category"},
		"unsupported date prefix":   {"GET", env.FacadeURL + "/Encounter?patient=" + url.QueryEscape(alice) + "&date=ge2024", sys, "", orgHeader, "prefix"},
		"malformed date":            {"GET", obsURL + "&date=ge2024-13-45", sys, "", orgHeader, "date"},
		"repeated single param":     {"GET", obsURL + "&category=x", sys, "", orgHeader, "category"},
		"unknown body property":     {"POST", env.FacadeURL + "/Patient/$status-query", sys, `{"resourceType":"Parameters","parameter":[{"name":"patientIdentifier","valueIdentifer":{}}]}`, orgHeader, "valueIdentifer"},
		"missing body":              {"POST", env.FacadeURL + "/Patient/$status-query", sys, "", orgHeader, "body"},
		"wrong resource in body":    {"POST", env.MessagingURL + "/Patient/$process-message", sys, `{"resourceType":"Bundle","type":"message"}`, orgHeader, "resourceType"},
		"async must be true":        {"POST", env.MessagingURL + "/$process-message?async=false", sys, `{"resourceType":"Bundle","type":"message"}`, orgHeader, "async"},
		"unsupported system":        {"POST", env.FacadeURL + "/Patient/$status-query", sys, idParams("patientIdentifier", "urn:example:nope", "1"), orgHeader, "not supported"},
		"DocumentReference rule":    {"GET", env.FacadeURL + "/DocumentReference?document-status=current", sys, "", orgHeader, "patient"},
		"Patient identifier system": {"GET", env.FacadeURL + "/Patient?identifier=urn:x|1", sys, "", orgHeader, "nhs-number"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, oo := raw(t, tc.method, tc.url, tc.tok, tc.header, tc.body)
			if resp.StatusCode != http.StatusBadRequest || get(oo, "resourceType") != "OperationOutcome" {
				t.Fatalf("status %d, body %v; want 400 OperationOutcome", resp.StatusCode, oo)
			}
			if d := diagnostics(oo); !strings.Contains(d, tc.want) {
				t.Errorf("diagnostics %q do not name %q", d, tc.want)
			}
		})
	}
	// The REST API answers with its JSON error body instead.
	pat := token(t, userSource(t, s, "PATIENT"))
	resp, m := raw(t, "GET", env.RESTURL+"/v2-beta/measurements", pat, nil, "")
	if resp.StatusCode != http.StatusBadRequest || get(m, "code") != "INVALID_REQUEST" || !strings.Contains(get(m, "message").(string), "apiRefs") {
		t.Errorf("REST validation error: %d %v", resp.StatusCode, m)
	}
	// A wrong user type is 401 with PKB's text message, not 403 (docs/pkb-api.md §2.5).
	resp, _ = raw(t, "GET", env.RESTURL+"/beta/users/byNationalId/9990000018/NHS_NUMBER", pat, nil, "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("patient on byNationalId: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	resp, oo := raw(t, "GET", env.FacadeURL+"/NoSuchThing", sys, orgHeader, "")
	if resp.StatusCode != http.StatusNotFound || get(oo, "resourceType") != "OperationOutcome" {
		t.Errorf("unknown path: %d %v", resp.StatusCode, oo)
	}
	resp, _ = raw(t, "DELETE", env.FacadeURL+"/Patient/"+pkbtest.SeedPatientID, sys, orgHeader, "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE on the read-only Facade: %d", resp.StatusCode)
	}
}

// TestAuthenticationAndAccess checks PKB's token, client-type, user-type
// and organisation rules.
func TestAuthenticationAndAccess(t *testing.T) {
	s := newSim(t)
	env := s.Environment()
	patientURL := env.FacadeURL + "/Patient/" + pkbtest.SeedPatientID

	resp, oo := raw(t, "GET", patientURL, "", orgHeader, "")
	wantOutcome(t, resp, oo, http.StatusUnauthorized, "BAD_AUTHENTICATION")
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
		t.Errorf("WWW-Authenticate = %q", ch)
	}
	resp, oo = raw(t, "GET", patientURL, "not-a-token", orgHeader, "")
	wantOutcome(t, resp, oo, http.StatusUnauthorized, "BAD_AUTHENTICATION")
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", ch)
	}

	sysSrc := systemSource(t, s)
	tok := token(t, sysSrc)
	if err := s.Auth().ExpireAccessToken(tok); err != nil {
		t.Fatal(err)
	}
	resp, oo = raw(t, "GET", patientURL, tok, orgHeader, "")
	wantOutcome(t, resp, oo, http.StatusUnauthorized, "ACC_TOKEN_EXPIRED")
	// The client library drops the rejected token, fetches a new one and
	// replays the request.
	fc, err := wrappers.NewSystemClient(sysSrc, pkbtest.SeedOrgPublicID)
	if err != nil {
		t.Fatal(err)
	}
	ok(t)(fc.Facade.Gen.ReadPatientWithResponse(ctx(t), pkbtest.SeedPatientID))

	tok = token(t, systemSource(t, s))
	if err := s.Auth().RevokeToken(tok); err != nil {
		t.Fatal(err)
	}
	resp, oo = raw(t, "GET", patientURL, tok, orgHeader, "")
	wantOutcome(t, resp, oo, http.StatusUnauthorized, "BAD_AUTHENTICATION")

	userTok := token(t, userSource(t, s, "PATIENT"))
	if err := s.Auth().RevokeSession(userTok); err != nil {
		t.Fatal(err)
	}
	resp, oo = raw(t, "GET", patientURL, userTok, nil, "")
	wantOutcome(t, resp, oo, http.StatusUnauthorized, "API_SESSION_INVALID")

	sys := token(t, systemSource(t, s))
	resp, oo = raw(t, "GET", patientURL, sys, nil, "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(diagnostics(oo), "X-Org-Public-Id") {
		t.Errorf("missing X-Org-Public-Id: %d %v", resp.StatusCode, oo)
	}
	resp, oo = raw(t, "GET", patientURL, sys, map[string]string{"X-Org-Public-Id": pkbtest.SeedOtherOrgPublicID}, "")
	wantOutcome(t, resp, oo, http.StatusForbidden, "NO_ASSOCIATION")

	cust := token(t, customerSource(t, s))
	resp, oo = raw(t, "GET", patientURL, cust, nil, "")
	wantOutcome(t, resp, oo, http.StatusUnauthorized, "BAD_AUTHENTICATION")
	customerR4, _ := env.CustomerURL(pkbtest.CustomerR4)
	resp, oo = raw(t, "GET", customerR4+"/Patient/1", sys, orgHeader, "")
	wantOutcome(t, resp, oo, http.StatusUnauthorized, "BAD_AUTHENTICATION")
	resp, oo = raw(t, "GET", env.AggregatedURL+"/Patient/"+pkbtest.SeedPatientID, sys, orgHeader, "")
	wantOutcome(t, resp, oo, http.StatusUnauthorized, "BAD_AUTHENTICATION")
	resp, _ = raw(t, "GET", env.RESTURL+"/users/self", cust, nil, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("customer token on the REST API: %d", resp.StatusCode)
	}

	// User types the operation's x-pkb-access does not list.
	pat := token(t, userSource(t, s, "PATIENT"))
	resp, oo = raw(t, "POST", env.FacadeURL+"/Organization/$generate-invitation-tokens", pat, nil, idParams("patientIdentifier", nhsSystem, pkbtest.SeedPatientNHSNumber))
	wantOutcome(t, resp, oo, http.StatusForbidden, "USER_TYPE_NOT_PERM")
	resp, oo = raw(t, "GET", env.FacadeURL+"/Practitioner/"+pkbtest.SeedClinicianID, pat, nil, "")
	wantOutcome(t, resp, oo, http.StatusForbidden, "USER_TYPE_NOT_PERM")
	resp, oo = raw(t, "POST", env.MessagingURL+"/Patient/$process-message", pat, nil, newPatient("9990001014", "Wes", ""))
	wantOutcome(t, resp, oo, http.StatusForbidden, "USER_TYPE_NOT_PERM")
	teth := token(t, tetheredSource(t, s))
	resp, oo = raw(t, "GET", patientURL, teth, nil, "")
	wantOutcome(t, resp, oo, http.StatusForbidden, "USER_TYPE_NOT_PERM")
	// Public operations need no token at all.
	resp, _ = raw(t, "GET", env.FacadeURL+"/metadata", "", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("metadata without a token: %d", resp.StatusCode)
	}
	resp, _ = raw(t, "GET", env.RESTURL+"/v2-beta/measurements/apiRefs", "", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("apiRefs without a token: %d", resp.StatusCode)
	}
}

// TestFacadePaging pages a Facade search through its next links and checks
// the pages add up to total with no duplicates.
func TestFacadePaging(t *testing.T) {
	s := newSim(t, pkbtest.WithPageSize(7))
	fc := systemClient(t, s).Facade.Gen
	c := ctx(t)
	params := &facade.SearchObservationParams{Patient: pkbtest.SeedPatientID, Category: labCat}
	m := ok(t)(fc.SearchObservationWithResponse(c, params))
	total := int(get(m, "total").(float64))
	if total <= 14 {
		t.Fatalf("total %d: the seed should need several pages of 7", total)
	}
	seen := map[string]bool{}
	pages := 0
	for {
		pages++
		if n := len(entries(m)); n > 7 {
			t.Fatalf("page %d has %d entries, page size is 7", pages, n)
		}
		for _, e := range entries(m) {
			id := get(e, "id").(string)
			if seen[id] {
				t.Fatalf("%s on two pages", id)
			}
			seen[id] = true
		}
		next := nextLink(m)
		if next == "" {
			break
		}
		if !strings.HasPrefix(next, s.URL()+"/fhir/Observation?") {
			t.Fatalf("next link %s is not on the simulator", next)
		}
		m = ok(t)(fc.SearchObservationWithResponse(c, params, follow(next)))
	}
	if len(seen) != total || pages != (total+6)/7 {
		t.Errorf("%d pages, %d distinct results, total %d", pages, len(seen), total)
	}

	// Partial dates and eq: one month of results, each inside it.
	m = ok(t)(fc.SearchObservationWithResponse(c, &facade.SearchObservationParams{Patient: alice, Category: labCat, Date: []string{"2024-03"}, Count: ptr[int32](100)}))
	for _, e := range entries(m) {
		if d := get(e, "effectiveDateTime").(string); !strings.HasPrefix(d, "2024-03") {
			t.Errorf("date=2024-03 matched %s", d)
		}
	}
	if len(entries(m)) == 0 {
		t.Error("no results in March 2024")
	}
	// gt on a day excludes the whole day.
	m = ok(t)(fc.SearchObservationWithResponse(c, &facade.SearchObservationParams{Patient: alice, Category: labCat, Date: []string{"gt2024-06-01"}, Count: ptr[int32](1000)}))
	for _, e := range entries(m) {
		if d := get(e, "effectiveDateTime").(string); d < "2024-06-02" {
			t.Errorf("gt2024-06-01 matched %s", d)
		}
	}
}

// TestAPIFaults injects each kind of API fault and checks what the client
// library sees.
func TestAPIFaults(t *testing.T) {
	s := newSim(t)
	fc := systemClient(t, s).Facade.Gen
	c := ctx(t)
	read := func(opts ...facade.RequestEditorFn) (*facade.ReadPatientResponse, error) {
		return fc.ReadPatientWithResponse(c, pkbtest.SeedPatientID, opts...)
	}
	ok(t)(read()) // warm the token cache

	s.InjectAPIFault(pkbtest.APIFault{Kind: pkbtest.APIFaultRateLimited, Family: access.FamilyFacade, Operation: "readPatient", RetryAfter: "2", Times: 1})
	_, err := read()
	var ae *wrappers.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusTooManyRequests || ae.RetryAfter != 2*time.Second {
		t.Errorf("429: %v", err)
	}
	ok(t)(read()) // Times: 1 cleared it

	s.InjectAPIFault(pkbtest.APIFault{Kind: pkbtest.APIFaultUnavailable, Times: 1})
	if _, err := read(); !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("503: %v", err)
	}
	// With retries enabled the client rides out a transient 503 that says
	// when to come back (one without Retry-After may come from a gateway
	// whose backend still runs the request: not retried by default).
	retrying, err := wrappers.NewSystemClient(systemSource(t, s), pkbtest.SeedOrgPublicID,
		wrappers.WithRetry(wrappers.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRetryAfter: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	s.InjectAPIFault(pkbtest.APIFault{Kind: pkbtest.APIFaultUnavailable, RetryAfter: "0", Times: 1})
	ok(t)(retrying.Facade.Gen.ReadPatientWithResponse(c, pkbtest.SeedPatientID))

	s.InjectAPIFault(pkbtest.APIFault{Kind: pkbtest.APIFaultHTML, Family: access.FamilyFacade, Times: 1})
	if _, err := read(); !errors.As(err, &ae) || ae.StatusCode != http.StatusBadGateway || !strings.Contains(ae.Body, "502 Bad Gateway nginx") {
		t.Errorf("HTML page: %v", err)
	}

	s.InjectAPIFault(pkbtest.APIFault{Kind: pkbtest.APIFaultSlow, Delay: 2 * time.Second, Times: 1})
	short, cancel := context.WithTimeout(c, 200*time.Millisecond)
	start := time.Now()
	_, err = fc.ReadPatientWithResponse(short, pkbtest.SeedPatientID)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("slow response with a 200ms deadline: %v after %v", err, time.Since(start))
	}
	s.ClearAPIFaults()

	s.InjectAPIFault(pkbtest.APIFault{Kind: pkbtest.APIFaultTruncated, Family: access.FamilyFacade, Operation: "searchObservation", Times: 1})
	_, err = fc.SearchObservationWithResponse(c, &facade.SearchObservationParams{Patient: alice, Category: labCat})
	if err == nil || !(errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "EOF")) {
		t.Errorf("truncated body: %v", err)
	}
	ok(t)(fc.SearchObservationWithResponse(c, &facade.SearchObservationParams{Patient: alice, Category: labCat}))

	// Token endpoint down: a fresh client cannot get a token.
	s.Auth().InjectFault(pkbtest.EndpointSystemToken, pkbtest.Fault{Kind: pkbtest.FaultDown, Times: 1})
	if _, err := systemClient(t, s).Facade.Gen.ReadPatientWithResponse(c, pkbtest.SeedPatientID); err == nil {
		t.Error("no error with the token endpoint down")
	}
}

// TestSeedIsDeterministic checks that the synthetic data is a function of
// the seed and that every NHS number is a valid test-range number.
func TestSeedIsDeterministic(t *testing.T) {
	a, err := pkbtest.NewSimulator()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pkbtest.NewSimulator()
	c, _ := pkbtest.NewSimulator(pkbtest.WithSeed(7))
	if !reflect.DeepEqual(a.Patients(), b.Patients()) {
		t.Error("two simulators with the default seed differ")
	}
	if reflect.DeepEqual(a.Patients(), c.Patients()) {
		t.Error("a different seed gave the same patients")
	}
	if a.Patients()[0].ID != pkbtest.SeedPatientID || c.Patients()[0].NHSNumber != pkbtest.SeedPatientNHSNumber {
		t.Error("the well-known patient moved with the seed")
	}
	for _, p := range append(a.Patients(), c.Patients()...) {
		if !pkbtest.ValidNHSNumber(p.NHSNumber) || !strings.HasPrefix(p.NHSNumber, "999") {
			t.Errorf("%s %s: NHS number %s", p.Given, p.Family, p.NHSNumber)
		}
		if p.Family != "Testpatient" {
			t.Errorf("patient %s %s does not look synthetic", p.Given, p.Family)
		}
	}
	for _, n := range []string{"9434765919", "9990000018"} {
		if !pkbtest.ValidNHSNumber(n) {
			t.Errorf("%s should be valid", n)
		}
	}
	if pkbtest.ValidNHSNumber("9990000019") {
		t.Error("bad check digit accepted")
	}
}

// TestStartup reports how long building a simulator takes (the first one
// in a process loads the OpenAPI documents) and checks the request log: one
// Info line per request, token endpoints and /_sim included, naming route
// templates, never URLs with identifiers, tokens or secrets.
func TestStartup(t *testing.T) {
	start := time.Now()
	var logBuf safeBuffer
	// The default handler level is Info, as in pkb serve.
	s, err := pkbtest.NewSimulator(pkbtest.WithLogger(slog.New(slog.NewTextHandler(&logBuf, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NewSimulator: %v (documents already loaded if another test ran first)", time.Since(start))
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(""); err == nil {
		t.Error("second Start succeeded")
	}
	resp, _ := raw(t, "GET", s.Environment().FacadeURL+"/Patient?identifier="+url.QueryEscape(nhsSystem+"|"+pkbtest.SeedPatientNHSNumber), "", nil, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	tok := token(t, systemSource(t, s))
	resp, _ = raw(t, "GET", s.Environment().FacadeURL+"/Patient/"+pkbtest.SeedPatientID, tok, orgHeader, "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("read patient: %d", resp.StatusCode)
	}
	resp, _ = raw(t, "GET", s.URL()+"/_sim/stats", "", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("stats: %d", resp.StatusCode)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	lines := strings.Split(strings.TrimSpace(logBuf.String()), "\n")
	want := []string{
		"method=GET route=/fhir/Patient status=401",
		"method=POST route=/api/oauth/token status=200",
		"method=GET route=/fhir/Patient/{id} status=200",
		"method=GET route=/_sim/stats status=200",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines for %d requests:\n%s", len(lines), len(want), logBuf.String())
	}
	for _, w := range want {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, "level=INFO") && strings.Contains(l, w) && strings.Contains(l, "duration=") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d INFO lines with %q and a duration, want 1:\n%s", n, w, logBuf.String())
		}
	}
	for _, secret := range []string{pkbtest.SeedPatientNHSNumber, pkbtest.SeedPatientID, tok, pkbtest.DefaultClientSecret} {
		if strings.Contains(logBuf.String(), secret) {
			t.Errorf("the request log contains %q", secret)
		}
	}
}

// safeBuffer is a bytes.Buffer safe for the server's goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
