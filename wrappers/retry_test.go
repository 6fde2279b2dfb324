package wrappers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/messaging"
)

// fastRetry retries everything retryable, ambiguous answers included, so
// that these tests exercise the retry mechanics; retry_load_test.go tests
// what the default policy leaves alone.
var fastRetry = RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxRetryAfter: time.Second, RetryAmbiguous: true}

// flaky answers with the given statuses in turn, then 200.
func flaky(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		io.Copy(io.Discard, r.Body)
		if i < len(statuses) {
			if statuses[i] == 429 {
				w.Header().Set("Retry-After", "0")
			}
			w.WriteHeader(statuses[i])
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, `{"resourceType":"Parameters"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func retryClient(t *testing.T, url string, opts ...Option) *SystemClient {
	t.Helper()
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(url)}, orgID, append([]Option{WithRetry(fastRetry)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetriesIdempotentRequests(t *testing.T) {
	srv, n := flaky(t, 503, 429)
	c := retryClient(t, srv.URL)
	if _, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1"); err != nil {
		t.Fatalf("GET after 503, 429: %v", err)
	}
	if n.Load() != 3 {
		t.Errorf("%d attempts, want 3", n.Load())
	}
	// A read-only POST operation ($status-query) is retried, body and all.
	srv, n = flaky(t, 502)
	c = retryClient(t, srv.URL)
	p := stu3.Parameters{ResourceType: stu3.ParametersResourceTypeParameters}
	if _, err := c.Facade.Gen.PatientStatusQueryWithApplicationFhirPlusJSONBodyWithResponse(context.Background(), p); err != nil || n.Load() != 2 {
		t.Errorf("$status-query after a 502: %v after %d attempts", err, n.Load())
	}
}

func TestNeverRetriesWrites(t *testing.T) {
	srv, n := flaky(t, 503, 503)
	c := retryClient(t, srv.URL)
	pat := stu3.Patient{ResourceType: stu3.PatientResourceTypePatient}
	_, err := c.Messaging.Gen.PatientProcessMessageWithApplicationFhirPlusJSONBodyWithResponse(context.Background(), messaging.PatientProcessMessageApplicationFhirPlusJSONRequestBody(pat))
	if !IsAPIStatus(err, 503) || n.Load() != 1 {
		t.Errorf("$process-message: %v after %d attempts; want one attempt", err, n.Load())
	}
	for _, status := range []int{409, 412, 400} {
		srv, n = flaky(t, status)
		c = retryClient(t, srv.URL)
		if _, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1"); err == nil || n.Load() != 1 {
			t.Errorf("GET answered %d was retried (%d attempts)", status, n.Load())
		}
	}
}

func TestRetryKeepsThePreviousError(t *testing.T) {
	srv, n := flaky(t, 502, 503, 504, 504)
	c := retryClient(t, srv.URL)
	_, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 3 || n.Load() != 3 {
		t.Fatalf("want a RetryError after 3 attempts, got %v (%d requests)", err, n.Load())
	}
	var last, prev *APIError
	if !errors.As(re.Err, &last) || last.StatusCode != 504 || !errors.As(re.Previous, &prev) || prev.StatusCode != 503 {
		t.Errorf("last %v, previous %v", re.Err, re.Previous)
	}
}

func TestRetryAfterBeyondTheCapIsNotWaited(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(429)
	}))
	defer srv.Close()
	c := retryClient(t, srv.URL)
	start := time.Now()
	_, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	if !IsRateLimited(err) || time.Since(start) > 2*time.Second {
		t.Errorf("a one-hour Retry-After: %v after %v", err, time.Since(start))
	}
}

func TestRetriesTransportErrorsWithinTheCallersDeadline(t *testing.T) {
	var n atomic.Int32
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		if n.Add(1) == 1 {
			return nil, errors.New("connection reset by peer")
		}
		return ok200(r), nil
	})
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithHTTPClient(&http.Client{Transport: rt}), WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Facade.Gen.SearchPatientWithResponse(context.Background(), &facade.SearchPatientParams{Identifier: "s|v"}); err != nil || n.Load() != 2 {
		t.Errorf("after a reset: %v (%d attempts)", err, n.Load())
	}
	// A caller whose deadline passes during an attempt gets its error at
	// once: no backoff, no further attempt.
	var slowN atomic.Int32
	slowRT := transportFunc(func(r *http.Request) (*http.Response, error) {
		slowN.Add(1)
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-time.After(time.Second):
			return nil, errors.New("connection reset by peer")
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	c, _ = NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithHTTPClient(&http.Client{Transport: slowRT}), WithRetry(fastRetry))
	start := time.Now()
	_, err = c.Facade.Gen.SearchPatientWithResponse(ctx, &facade.SearchPatientParams{Identifier: "s|v"})
	if !errors.Is(err, context.DeadlineExceeded) || slowN.Load() != 1 || time.Since(start) > 500*time.Millisecond {
		t.Errorf("deadline: %v after %v and %d attempts; want the deadline error after one attempt", err, time.Since(start), slowN.Load())
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, `{"resourceType":"Patient","id":"p1"}`)
	}))
	defer srv.Close()
	p := fastRetry
	p.PerAttemptTimeout = 100 * time.Millisecond
	c := retryClient(t, srv.URL, WithRetry(p))
	resp, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	if err != nil || resp.ApplicationfhirJSON200.Id != "p1" || n.Load() != 2 {
		t.Errorf("slow first attempt: %v (%d attempts)", err, n.Load())
	}
}

func TestLoggerAllowlist(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-7")
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(404)
		io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"No patient with NHS number 9434765919"}]}`)
	}))
	defer srv.Close()
	c := retryClient(t, srv.URL, WithLogger(logger))
	_, _ = c.Facade.Gen.SearchPatientWithResponse(context.Background(), &facade.SearchPatientParams{Identifier: "https://fhir.nhs.uk/Id/nhs-number|9434765919"})
	_, _ = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "9434765919")
	out := buf.String()
	for _, want := range []string{`"route":"/Patient"`, `"route":"/Patient/{id}"`, `"status":404`, `"request_id":"req-7"`, `"operation":"searchPatient"`, `"attempt":1`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"9434765919", secretToken, "nhs-number", "diagnostics"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

// IsAPIStatus is a test helper: err is an APIError with the status.
func IsAPIStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}

// failingSource fails every token fetch after the first.
type failingSource struct {
	*fakeSource
	calls atomic.Int32
}

func (f *failingSource) Token(ctx context.Context) (*oauth2.Token, error) {
	if f.calls.Add(1) > 1 {
		return nil, errors.New("token endpoint refused the client")
	}
	return f.fakeSource.Token(ctx)
}

func TestARefusalAfterARetryableErrorStops(t *testing.T) {
	srv, n := flaky(t, 503, 503, 503)
	src := &failingSource{fakeSource: &fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}}
	c, err := NewSystemClient(src, orgID, WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	// Attempt 1: 503 (retryable). Attempt 2: the token fetch fails, which is
	// not retryable even though the previous attempt's 503 was.
	_, err = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 2 || n.Load() != 1 {
		t.Errorf("want a RetryError after 2 attempts and 1 request, got %v (%d requests)", err, n.Load())
	}
}

// TestHugeRetryAfterIsNotWaitedFor: a server's Retry-After of 300 years
// (or one too large for a Duration) must not make a policy without a
// MaxRetryAfter wait, or wait a negative time and hammer the server.
func TestHugeRetryAfterIsNotWaitedFor(t *testing.T) {
	for _, ra := range []time.Duration{31 * time.Second, 200 * 365 * 24 * time.Hour, time.Duration(1<<63 - 1)} {
		if d, ok := (RetryPolicy{MaxAttempts: 3}).delay(1, &APIError{StatusCode: 429, RetryAfter: ra}); ok {
			t.Errorf("Retry-After %v with no MaxRetryAfter: waits %v", ra, d)
		}
	}
	for _, v := range []string{"9300000000", "99999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Retry-After", v)
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID,
			WithRetry(RetryPolicy{MaxAttempts: 3})) // no MaxRetryAfter, no deadline
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1"); done <- err }()
		select {
		case err := <-done:
			var e *APIError
			if !errors.As(err, &e) || e.RetryAfter <= 0 || n.Load() != 1 {
				t.Errorf("Retry-After %s: %d attempts, error %v", v, n.Load(), err)
			}
		case <-time.After(30 * time.Second): // a hang guard, not a timing
			t.Fatalf("Retry-After %s: still waiting", v)
		}
		srv.Close()
	}
}
