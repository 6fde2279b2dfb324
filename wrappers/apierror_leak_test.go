package wrappers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/authn"
)

// seededIdentifiers are values a PKB server might echo in an error: every
// kind of identifier a patient has, and the parts of the bearer token.
var seededIdentifiers = []string{
	"9434765919",                           // NHS number
	"943 476 5919",                         // NHS number as printed
	"5f1c0b6e-3c1a-4d8e-9a61-0b7c2d9e8f10", // PKB/FHIR id
	"7329844",                              // PKB user id
	"Wilhelmina",                           // given name
	"Zwanenburg",                           // family name
	"1961-07-23",                           // date of birth
	"w.zwanenburg@example.org",             // email
	"SW1A 1AA",                             // postcode
}

// hostileText carries every seeded identifier, the token, terminal escape
// sequences and control characters.
func hostileText(token string) string {
	return "Patient " + strings.Join(seededIdentifiers, ", ") + " not found; token " + token +
		" \x1b]0;pwned\x07\x1b[2J\x1b[31mRED\r\n\x00\u202eevil\u009b31m"
}

func hostileServer(t *testing.T, status int, contentType string, body func(token string) string, headers func(token string) http.Header) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		for k, v := range headers(token) {
			w.Header()[k] = v
		}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body(token))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAPIErrorCarriesNoIdentifiers seeds error responses of every shape
// with identifiers, the bearer token, control characters and megabytes of
// text, then greps Error(), %v, %+v, RetryError wrapping and slog output.
func TestAPIErrorCarriesNoIdentifiers(t *testing.T) {
	big := strings.Repeat("lorem ipsum 9434765919 ", 5<<20/23) // 5 MiB
	outcome := func(token string) string {
		h := hostileText(token)
		oo := map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{
			"severity": "error", "code": "processing", "diagnostics": h + big,
			"details": map[string]any{"text": h, "coding": []any{
				map[string]any{"system": ResponseCodeSystem, "code": "9434765919 " + token + " \x1b[31m", "display": h},
			}},
		}}}
		b, _ := json.Marshal(oo)
		return string(b)
	}
	restError := func(token string) string {
		b, _ := json.Marshal(map[string]string{"code": "Zwanenburg-9434765919", "message": hostileText(token) + big})
		return string(b)
	}
	htmlPage := func(token string) string {
		return "<html><body><h1>" + hostileText(token) + "</h1><p>Bearer " + token + "</p>" + big + "</body></html>"
	}
	headers := func(token string) http.Header {
		return http.Header{
			// net/http refuses control characters in header values
			"Www-Authenticate": {`Bearer error="invalid_token", error_description="token ` + token + ` for 9434765919 Wilhelmina ` + strings.Repeat("x", 100<<10) + `"`},
			"X-Request-Id":     {"req-9434765919-Zwanenburg-" + strings.Repeat("9", 70<<10)},
			"Retry-After":      {"99999999999999999999"},
		}
	}
	cases := []struct {
		name, ct string
		status   int
		body     func(string) string
	}{
		{"OperationOutcome 401", "application/fhir+json", 401, outcome},
		{"OperationOutcome 500", "application/fhir+json", 500, outcome},
		{"REST API error", "application/json", 404, restError},
		{"HTML page 502", "text/html", 502, htmlPage},
		{"HTML page 200", "text/html", 200, htmlPage},
		{"plain text 429", "text/plain", 429, func(tok string) string { return hostileText(tok) + big }},
		{"JSON that is not an outcome", "application/json", 400, func(tok string) string { return `{"patient":"` + hostileText(tok) + `"}` }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := hostileServer(t, c.status, c.ct, c.body, headers)
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			src := &fakeSource{ct: authn.ClientSystem}
			cl, err := NewSystemClient(src.in(loopbackEnv(srv.URL)), orgID, WithLogger(logger),
				WithRetry(RetryPolicy{MaxAttempts: 2, MaxRetryAfter: 1}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1")
			var e *APIError
			if !errors.As(err, &e) {
				t.Fatalf("want an *APIError, got %v", err)
			}
			tok, _ := src.Token(context.Background())
			texts := map[string]string{
				"Error()": err.Error(), "%v": fmt.Sprintf("%v", err), "%+v": fmt.Sprintf("%+v", err), "%s": fmt.Sprintf("%s", e),
				"slog": logs.String(), "slog err": logged(err),
			}
			for what, s := range texts {
				for _, id := range append(seededIdentifiers, tok.AccessToken, "tok-SECRET", "pwned", "\x1b", "lorem", "RED", "evil", "\u202e") {
					if strings.Contains(s, id) {
						t.Errorf("%s contains %q: %.300q", what, id, s)
					}
				}
				if len(s) > 4<<10 {
					t.Errorf("%s is %d bytes", what, len(s))
				}
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprint(c.status)) || !strings.Contains(msg, "/Patient/{id}") {
				t.Errorf("message %q lacks the status or the route template", msg)
			}
			// Body and WWWAuthenticate are redacted and bounded; the
			// diagnostics stay in the fields, without the token.
			for what, s := range map[string]string{"Body": e.Body, "WWWAuthenticate": e.WWWAuthenticate} {
				if strings.Contains(s, tok.AccessToken) || strings.Contains(s, "\x1b") || len(s) > 4<<10 {
					t.Errorf("%s field: %d bytes, %.200q", what, len(s), s)
				}
			}
			if e.Outcome != nil {
				if d := e.Outcome.Issues[0].Diagnostics; !strings.Contains(d, "9434765919") || strings.Contains(d, tok.AccessToken) {
					t.Errorf("Outcome diagnostics: want the server's text without the token, got %.200q", d)
				}
			}
			if e.RetryAfter < 0 {
				t.Errorf("RetryAfter %v", e.RetryAfter)
			}
		})
	}
}

// logged is what a caller's slog line with the error says.
func logged(err error) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Error("call failed", "err", err)
	return b.String()
}

// TestAPIErrorMessageShape pins the message: status, PKB's code, route.
func TestAPIErrorMessageShape(t *testing.T) {
	e := &APIError{StatusCode: 403, Method: "GET", Route: "/Patient/{id}", ResponseCode: CodeUserTypeNotPerm,
		Outcome: &Outcome{Issues: []OutcomeIssue{{Diagnostics: "Patient 9434765919 is not yours"}}}}
	if got, want := e.Error(), "pkb: GET /Patient/{id}: 403 Forbidden (USER_TYPE_NOT_PERM)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.ResponseCode = "9434765919"
	if strings.Contains(e.Error(), "9434765919") {
		t.Errorf("an unknown response code reached the message: %q", e.Error())
	}
}

// TestLoggedRequestIDIsAPlainID: the request id of a success is logged
// too, and is the server's text like any other.
func TestLoggedRequestIDIsAPlainID(t *testing.T) {
	for _, id := range []string{"req 9434765919 Zwanenburg", "req-\u202e9434765919", strings.Repeat("9", 200)} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", id)
			w.Header().Set("Content-Type", "application/fhir+json")
			io.WriteString(w, `{"resourceType":"Patient","id":"p1"}`)
		}))
		var logs bytes.Buffer
		c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID,
			WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Facade.Gen.ReadPatientWithResponse(context.Background(), "p1"); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "9434765919") || strings.Contains(logs.String(), "999999999") {
			t.Errorf("log line: %s", logs.String())
		}
		srv.Close()
	}
}
