package wrappers

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pkbgo/pkb/authn"
)

func serve(t *testing.T, status int, contentType, body string, headers ...string) *SystemClient {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readPatient(c *SystemClient) error {
	_, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	return err
}

func TestAPIErrorFromOperationOutcome(t *testing.T) {
	c := serve(t, 403, "application/fhir+json;charset=UTF-8",
		`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","diagnostics":"Endpoint not permitted for user type","details":{"coding":[{"system":"`+ResponseCodeSystem+`","code":"USER_TYPE_NOT_PERM"}]}}]}`,
		"X-Request-Id", "req-42", "Set-Cookie", "session=SECRETCOOKIE")
	err := readPatient(c)
	var e *APIError
	if !errors.As(err, &e) {
		t.Fatalf("want *APIError, got %v", err)
	}
	if e.StatusCode != 403 || e.ResponseCode != CodeUserTypeNotPerm || e.RequestID != "req-42" || e.Operation != "facade.readPatient" || e.Route != "/Patient/{id}" {
		t.Errorf("fields: %+v", e)
	}
	if !IsPermissionDenied(err) || IsNotFound(err) || IsSessionExpired(err) {
		t.Error("helpers misclassify a 403 USER_TYPE_NOT_PERM")
	}
	if msg := err.Error(); msg != "pkb: GET /Patient/{id}: 403 Forbidden (USER_TYPE_NOT_PERM)" {
		t.Errorf("message %q: want the status, PKB's code and the route only", msg)
	}
	if e.Outcome == nil || e.Outcome.Issues[0].Diagnostics != "Endpoint not permitted for user type" {
		t.Errorf("the diagnostics are not in the outcome: %+v", e.Outcome)
	}
}

func TestAPIErrorFromHTMLPage(t *testing.T) {
	page := "<html><body><h1>502 Bad Gateway</h1>" + strings.Repeat("x", 5000) + "</body></html>"
	c := serve(t, 502, "text/html", page)
	err := readPatient(c)
	var e *APIError
	if !errors.As(err, &e) || e.StatusCode != 502 || e.Outcome != nil {
		t.Fatalf("want a 502 APIError without outcome, got %v", err)
	}
	if !strings.HasPrefix(e.Body, "502 Bad Gateway xxx") || len(e.Body) > excerptLimit {
		t.Errorf("body excerpt %d bytes: %.60q", len(e.Body), e.Body)
	}
}

func TestHTMLPageWithStatus200IsAnError(t *testing.T) {
	c := serve(t, 200, "text/html", "<html>Please log in</html>")
	err := readPatient(c)
	var e *APIError
	if !errors.As(err, &e) || e.StatusCode != 200 || !strings.Contains(e.Body, "Please log in") {
		t.Fatalf("a 200 HTML page must not pass as an empty result; got %v", err)
	}
}

func TestSessionAndRateLimitHelpers(t *testing.T) {
	c := serve(t, 401, "application/fhir+json",
		`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login","details":{"coding":[{"system":"`+ResponseCodeSystem+`","code":"API_SESSION_EXPIRED"}]}}]}`,
		"WWW-Authenticate", `Bearer error="invalid_token"`)
	err := readPatient(c)
	var e *APIError
	if !IsSessionExpired(err) || !errors.As(err, &e) || e.WWWAuthenticate != `Bearer error="invalid_token"` {
		t.Errorf("401 API_SESSION_EXPIRED: %v", err)
	}
	c = serve(t, 429, "", "", "Retry-After", "7")
	err = readPatient(c)
	if !IsRateLimited(err) || !errors.As(err, &e) || e.RetryAfter != 7*time.Second {
		t.Errorf("429: %v", err)
	}
	c = serve(t, 404, "application/json", `{"code":"NOT_FOUND","message":"no such user"}`)
	err = readPatient(c)
	if !IsNotFound(err) || !errors.As(err, &e) || e.Outcome == nil || e.Outcome.Issues[0].Diagnostics != "no such user" {
		t.Errorf("REST API error body: %v", err)
	}
}

func TestMalformedJSONIsAnError(t *testing.T) {
	c := serve(t, 200, "application/fhir+json", `{"resourceType":"Patient",`)
	if err := readPatient(c); err == nil {
		t.Error("a truncated body decoded without error")
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	body := `{"resourceType":"Patient","id":"` + strings.Repeat("a", 4096) + `"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID, WithMaxResponseBytes(1024))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("want ErrResponseTooLarge, got %v", err)
	}
	c, _ = NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID, WithMaxResponseBytes(int64(len(body))))
	if _, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1"); err != nil {
		t.Errorf("a body of exactly the limit: %v", err)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":    0,
		"120": 2 * time.Minute,
		"-1":  0,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		"soon": 0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRetryAfterNeverOverflows(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const longest = time.Duration(math.MaxInt64)
	for in, want := range map[string]time.Duration{
		"9223372036":                    9223372036 * time.Second, // the largest that fits
		"9223372037":                    longest,
		"9300000000":                    longest,
		"99999999999999999999":          longest,
		" 120 ":                         2 * time.Minute,
		"+5":                            0, // delay-seconds is digits only
		"0x10":                          0,
		"Fri, 31 Dec 9999 23:59:59 GMT": longest,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
