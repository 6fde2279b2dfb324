package message

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

const token = "pkb-token"

// responseBundle is a PKB response message as the FHIR STU3 spec shapes it.
func responseBundle(bundleID, headerID, requestID, code string) string {
	return fmt.Sprintf(`{"resourceType":"Bundle","type":"message",
 "identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:%s"},
 "entry":[
  {"fullUrl":"urn:uuid:%s","resource":{"resourceType":"MessageHeader","id":"%s",
    "event":{"system":"http://fhir.patientsknowbest.com/codesystem/message-event","code":"create-or-update-patient"},
    "timestamp":"2025-06-01T12:00:00Z","source":{"endpoint":"https://pkb.example/phr-fhir"},
    "response":{"identifier":"%s","code":"%s","details":{"reference":"urn:uuid:oo-1"}}}},
  {"fullUrl":"urn:uuid:oo-1","resource":{"resourceType":"OperationOutcome","id":"oo-1",
    "issue":[{"severity":"warning","code":"too-long","diagnostics":"address line truncated",
      "details":{"coding":[{"system":"http://fhir.patientsknowbest.com/codesystem/response-code","code":"TRUNCATED"}]}}]}},
  {"fullUrl":"urn:uuid:p-1","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}]}}
 ]}`, bundleID, headerID, headerID, requestID, code)
}

type harness struct {
	h     *Handler
	calls atomic.Int32
	mu    sync.Mutex
	got   []Response
	fail  atomic.Bool
	logs  *bytes.Buffer
}

func newHarness(t *testing.T, mutate func(*HandlerConfig)) *harness {
	t.Helper()
	hs := &harness{logs: &bytes.Buffer{}}
	var logMu sync.Mutex
	cfg := HandlerConfig{
		Verifier: StaticTokens(token),
		Callback: func(_ context.Context, r Response) error {
			hs.calls.Add(1)
			if hs.fail.Load() {
				return errors.New("downstream failed for NHS 9434765919")
			}
			hs.mu.Lock()
			hs.got = append(hs.got, r)
			hs.mu.Unlock()
			return nil
		},
		Logger:       slog.New(slog.NewJSONHandler(&lockedWriter{w: hs.logs, mu: &logMu}, nil)),
		MaxBodyBytes: 4096,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs.h = h
	return hs
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (hs *harness) post(body, ctype, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/fhir/$process-message", strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerRejects(t *testing.T) {
	good := responseBundle("b-1", "h-1", "req-1", "ok")
	tests := []struct {
		name, body, ctype, auth string
		status                  int
		wwwAuth                 string
		mutate                  func(*HandlerConfig)
	}{
		{"no token", good, "application/fhir+json", "", 401, `Bearer realm="pkb-inbound"`, nil},
		{"basic auth", good, "application/fhir+json", "Basic dXNlcjpwYXNz", 401, `Bearer realm="pkb-inbound"`, nil},
		{"wrong token", good, "application/fhir+json", "Bearer nope", 401, `Bearer realm="pkb-inbound", error="invalid_token"`, nil},
		{"verifier down", good, "application/fhir+json", "Bearer " + token, 503, "", func(c *HandlerConfig) {
			c.Verifier = TokenVerifierFunc(func(context.Context, string) error { return fmt.Errorf("introspection: %w", ErrVerifierUnavailable) })
		}},
		{"content type", good, "text/plain", "Bearer " + token, 415, "", nil},
		{"too large", good + strings.Repeat(" ", 5000), "application/fhir+json", "Bearer " + token, 413, "", nil},
		{"malformed json", `{"resourceType":"Bundle","type":"message","entry":[{"resource":9434765919`, "application/fhir+json", "bearer " + token, 400, "", nil},
		{"not a message", `{"resourceType":"Bundle","type":"searchset"}`, "application/json", "Bearer " + token, 400, "", nil},
		{"header not first", strings.Replace(good, `"resourceType":"MessageHeader"`, `"resourceType":"Basic"`, 1), "application/fhir+json", "Bearer " + token, 400, "", nil},
		{"not a response", strings.Replace(good, `"response":`, `"ignored":`, 1), "application/fhir+json", "Bearer " + token, 400, "", nil},
		{"bad response code", responseBundle("b", "h", "r", "maybe"), "application/fhir+json", "Bearer " + token, 400, "", nil},
		{"dangling details", strings.Replace(good, `"reference":"urn:uuid:oo-1"`, `"reference":"urn:uuid:missing"`, 1), "application/fhir+json", "Bearer " + token, 400, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, tt.mutate)
			rec := hs.post(tt.body, tt.ctype, tt.auth)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wwwAuth {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.wwwAuth)
			}
			var oo stu3.OperationOutcome
			if err := json.Unmarshal(rec.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) != 1 {
				t.Fatalf("body is not an OperationOutcome: %s", rec.Body)
			}
			if strings.Contains(rec.Body.String(), "9434765919") || strings.Contains(hs.logs.String(), "9434765919") {
				t.Fatal("patient data reflected in the reply or the log")
			}
			if hs.calls.Load() != 0 {
				t.Fatal("callback called for a rejected delivery")
			}
		})
	}
	hs := newHarness(t, nil)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Fatalf("GET: %d %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestHandlerDeliversOnce(t *testing.T) {
	hs := newHarness(t, nil)
	body := responseBundle("b-1", "h-1", "req-1", "transient-error")
	for i := range 3 {
		rec := hs.post(body, "application/fhir+json; charset=utf-8", "Bearer "+token)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Fatalf("delivery %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if hs.calls.Load() != 1 {
		t.Fatalf("callback called %d times", hs.calls.Load())
	}
	r := hs.got[0]
	if r.RequestID != "req-1" || r.MessageID != "h-1" || r.Code != stu3.MessageHeaderResponseCodeTransientError ||
		!r.Retryable() || r.OK() || r.Event.Code != EventCreateOrUpdatePatient {
		t.Fatalf("response %+v", r)
	}
	if r.Outcome == nil || len(r.Outcome.Issue) != 1 || r.Outcome.Issue[0].Code != "too-long" ||
		r.Outcome.Issue[0].Details.Coding[0].Code != "TRUNCATED" {
		t.Fatalf("outcome %+v", r.Outcome)
	}
	if len(r.Bundle.Entry) != 3 || r.Key == "" {
		t.Fatalf("bundle/key %+v", r)
	}
	if strings.Contains(hs.logs.String(), "9434765919") || !strings.Contains(hs.logs.String(), `"response_code":"transient-error"`) {
		t.Fatalf("log: %s", hs.logs)
	}

	// A different message is a different key.
	if rec := hs.post(responseBundle("b-2", "h-2", "req-2", "ok"), "application/fhir+json", "Bearer "+token); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if hs.calls.Load() != 2 || !hs.got[1].OK() {
		t.Fatal("second message not delivered")
	}
}

func TestHandlerCallbackFailureAllowsRedelivery(t *testing.T) {
	hs := newHarness(t, nil)
	body := responseBundle("b-1", "h-1", "req-1", "fatal-error")
	hs.fail.Store(true)
	rec := hs.post(body, "application/fhir+json", "Bearer "+token)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "9434765919") || strings.Contains(rec.Body.String(), "downstream") {
		t.Fatalf("callback error reflected: %s", rec.Body)
	}
	hs.fail.Store(false)
	if rec := hs.post(body, "application/fhir+json", "Bearer "+token); rec.Code != http.StatusOK {
		t.Fatalf("redelivery: %d", rec.Code)
	}
	if hs.calls.Load() != 2 || len(hs.got) != 1 {
		t.Fatalf("calls %d, delivered %d", hs.calls.Load(), len(hs.got))
	}
}

func TestHandlerConcurrentDuplicates(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	hs := newHarness(t, func(c *HandlerConfig) {
		c.Callback = func(context.Context, Response) error {
			calls.Add(1)
			<-release
			return nil
		}
	})
	body := responseBundle("b-1", "h-1", "req-1", "ok")
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		codes <- hs.post(body, "application/fhir+json", "Bearer "+token).Code
	}()
	for calls.Load() == 0 { // wait until the first delivery is inside the callback
		runtime.Gosched()
	}
	for range n - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- hs.post(body, "application/fhir+json", "Bearer "+token).Code
		}()
	}
	// The in-flight duplicates are told to retry shortly.
	got := map[int]int{}
	for range n - 1 {
		got[<-codes]++
	}
	close(release)
	wg.Wait()
	got[<-codes]++
	if calls.Load() != 1 || got[http.StatusOK] != 1 || got[http.StatusServiceUnavailable] != n-1 {
		t.Fatalf("calls %d, statuses %v", calls.Load(), got)
	}
	if rec := hs.post(body, "application/fhir+json", "Bearer "+token); rec.Code != http.StatusOK || calls.Load() != 1 {
		t.Fatalf("after completion: %d, calls %d", rec.Code, calls.Load())
	}
}

func TestHandlerKeys(t *testing.T) {
	// Without Bundle.identifier the MessageHeader.id is the key.
	hs := newHarness(t, nil)
	body := strings.Replace(responseBundle("b-1", "h-1", "req-1", "ok"), `"identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:b-1"},`, "", 1)
	for range 2 {
		if rec := hs.post(body, "application/fhir+json", "Bearer "+token); rec.Code != 200 {
			t.Fatal(rec.Code, rec.Body)
		}
	}
	if hs.calls.Load() != 1 || hs.got[0].Key != dedupeKey("header", "h-1") {
		t.Fatalf("calls %d key %q", hs.calls.Load(), hs.got[0].Key)
	}
	// Without details, a lone OperationOutcome is taken.
	hs = newHarness(t, nil)
	body = strings.Replace(responseBundle("b-9", "h-9", "req-9", "ok"), `,"details":{"reference":"urn:uuid:oo-1"}`, "", 1)
	if rec := hs.post(body, "application/fhir+json", "Bearer "+token); rec.Code != 200 || hs.got[0].Outcome == nil {
		t.Fatal(rec.Code, rec.Body)
	}
}

type brokenStore struct{ *MemoryStore }

func (*brokenStore) Claim(context.Context, string) (State, error) { return 0, errors.New("db down") }

func TestHandlerStoreDown(t *testing.T) {
	hs := newHarness(t, func(c *HandlerConfig) { c.Store = &brokenStore{NewMemoryStore(1)} })
	rec := hs.post(responseBundle("b", "h", "r", "ok"), "application/fhir+json", "Bearer "+token)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || hs.calls.Load() != 0 {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
}

func TestNewHandlerNeedsVerifierAndCallback(t *testing.T) {
	if _, err := NewHandler(HandlerConfig{Callback: func(context.Context, Response) error { return nil }}); err == nil {
		t.Error("no verifier accepted")
	}
	if _, err := NewHandler(HandlerConfig{Verifier: StaticTokens("x")}); err == nil {
		t.Error("no callback accepted")
	}
}

func TestStaticTokens(t *testing.T) {
	v := StaticTokens("a", "b")
	for tok, ok := range map[string]bool{"a": true, "b": true, "c": false, "": false, "ab": false} {
		if err := v.Verify(context.Background(), tok); (err == nil) != ok {
			t.Errorf("Verify(%q) = %v", tok, err)
		}
	}
	if StaticTokens().Verify(context.Background(), "") == nil {
		t.Error("empty set accepted the empty token")
	}
}

func TestMemoryStoreBounded(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(3)
	for i := range 5 {
		k := fmt.Sprint(i)
		if st, _ := s.Claim(ctx, k); st != StateNew {
			t.Fatalf("%s: %v", k, st)
		}
		if st, _ := s.Claim(ctx, k); st != StateInProgress {
			t.Fatalf("%s: %v", k, st)
		}
		_ = s.Done(ctx, k)
	}
	if s.Len() != 3 {
		t.Fatalf("Len %d", s.Len())
	}
	if st, _ := s.Claim(ctx, "0"); st != StateNew {
		t.Fatal("oldest key should have been evicted")
	}
	if st, _ := s.Claim(ctx, "4"); st != StateDone {
		t.Fatal("newest key should be remembered")
	}
	_ = s.Release(ctx, "0")
	if st, _ := s.Claim(ctx, "0"); st != StateNew {
		t.Fatal("released key should be claimable")
	}
	if NewMemoryStore(0).max != 1 {
		t.Fatal("bound floor")
	}
}

// A panicking callback must not wedge its message: the handler recovers,
// answers 500 without the panic value, releases the key so the redelivery is
// processed, and logs only allowlisted fields.
func TestHandlerCallbackPanicReleasesKey(t *testing.T) {
	var panicked atomic.Bool
	hs := newHarness(t, func(c *HandlerConfig) {
		inner := c.Callback
		c.Callback = func(ctx context.Context, r Response) error {
			if !panicked.Swap(true) {
				panic("downstream exploded for NHS 9434765919")
			}
			return inner(ctx, r)
		}
	})
	body := responseBundle("b-1", "h-1", "req-1", "ok")
	rec := hs.post(body, "application/fhir+json", "Bearer "+token)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("panicking callback: status %d, want 500", rec.Code)
	}
	var oo stu3.OperationOutcome
	if err := json.Unmarshal(rec.Body.Bytes(), &oo); err != nil || len(oo.Issue) != 1 {
		t.Fatalf("body is not an OperationOutcome: %s", rec.Body)
	}
	for _, leak := range []string{"9434765919", "exploded", "goroutine", ".go:"} {
		if strings.Contains(rec.Body.String(), leak) {
			t.Errorf("reply carries %q: %s", leak, rec.Body)
		}
		if leak != ".go:" && strings.Contains(hs.logs.String(), leak) {
			t.Errorf("log carries %q: %s", leak, hs.logs)
		}
	}
	if !strings.Contains(hs.logs.String(), `"panic_at":"github.com/pkbgo/pkb/message.TestHandlerCallbackPanicReleasesKey`) ||
		!strings.Contains(hs.logs.String(), "panicked") || !strings.Contains(hs.logs.String(), `"status":500`) {
		t.Errorf("log does not record the panic and the 500: %s", hs.logs)
	}
	// The redelivery is processed, not told "in progress" forever.
	if rec := hs.post(body, "application/fhir+json", "Bearer "+token); rec.Code != http.StatusOK {
		t.Fatalf("redelivery after a panic: %d %s", rec.Code, rec.Body)
	}
	if len(hs.got) != 1 {
		t.Fatalf("delivered %d times", len(hs.got))
	}
}

// http.ErrAbortHandler keeps its meaning (abort the response quietly), but
// the key is still released.
func TestHandlerCallbackAbortReleasesKey(t *testing.T) {
	store := NewMemoryStore(10)
	hs := newHarness(t, func(c *HandlerConfig) {
		c.Store = store
		c.Callback = func(context.Context, Response) error { panic(http.ErrAbortHandler) }
	})
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("recovered %v, want http.ErrAbortHandler re-panicked", v)
			}
		}()
		hs.post(responseBundle("b-1", "h-1", "req-1", "ok"), "application/fhir+json", "Bearer "+token)
	}()
	if len(store.inProgress) != 0 {
		t.Fatal("aborted delivery left its key in progress")
	}
}

// Bundle.identifier is a (system, value) pair: two different pairs must
// never share a deduplication key, however their text lines up.
func TestHandlerKeysUnambiguous(t *testing.T) {
	pairs := [][2]string{
		{"urn:a|b", "c"}, {"urn:a", "b|c"}, // the old separator inside a part
		{"urn:a", "bc"}, {"urn:ab", "c"},
		{"", "x"}, {"x", "x"},
	}
	hs := newHarness(t, nil)
	for i, p := range pairs {
		body := strings.Replace(responseBundle("x", fmt.Sprintf("h-%d", i), fmt.Sprintf("req-%d", i), "ok"),
			`"identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:x"}`,
			`"identifier":{"system":`+strconv.Quote(p[0])+`,"value":`+strconv.Quote(p[1])+`}`, 1)
		if rec := hs.post(body, "application/fhir+json", "Bearer "+token); rec.Code != http.StatusOK {
			t.Fatalf("%q: %d %s", p, rec.Code, rec.Body)
		}
		if int(hs.calls.Load()) != i+1 {
			t.Fatalf("message with identifier %q was acknowledged but never delivered (its key collided)", p)
		}
	}
	keys := map[string]bool{}
	for _, r := range hs.got {
		keys[r.Key] = true
		if len(r.Key) != len(hs.got[0].Key) {
			t.Errorf("key length varies with the identifier: %q", r.Key)
		}
	}
	if len(keys) != len(pairs) {
		t.Fatalf("%d distinct keys for %d identifiers", len(keys), len(pairs))
	}
}
