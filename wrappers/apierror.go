package wrappers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/access"
)

// ResponseCodeSystem is PKB's code system for the error codes it puts in
// OperationOutcome.issue.details.coding (docs/pkb-api.md §4).
const ResponseCodeSystem = "http://fhir.patientsknowbest.com/codesystem/response-code"

// PKB response codes (docs/pkb-api.md §4).
const (
	CodeAccessTokenExpired = "ACC_TOKEN_EXPIRED"
	CodeSessionExpired     = "API_SESSION_EXPIRED"
	CodeSessionInvalid     = "API_SESSION_INVALID"
	CodeBadAuthentication  = "BAD_AUTHENTICATION"
	CodeUserTypeNotPerm    = "USER_TYPE_NOT_PERM"
	CodeAccessFrozenOut    = "ACCESS_FROZEN_OUTWARD"
	CodeAccessFrozenIn     = "ACCESS_FROZEN_INWARD"
	CodeNoConsent          = "NO_CONSENT"
	CodeNoAssociation      = "NO_ASSOCIATION"
	CodeNoDecryptKey       = "NO_DECRYPT_KEY"
	CodeSharingDisabled    = "SHARING_DISABLED"
)

// excerptLimit bounds the raw body kept on an APIError: enough to see what
// a proxy's HTML page says, small enough to log.
const excerptLimit = 2 << 10

// errorBodyLimit bounds how much of an error response is read at all.
const errorBodyLimit = 1 << 20

// Outcome is the part of a FHIR OperationOutcome (STU3 and R4 alike) that an
// error needs. It is decoded leniently: unknown fields are ignored.
type Outcome struct {
	Issues []OutcomeIssue `json:"issue"`
}

// OutcomeIssue is one OperationOutcome.issue.
type OutcomeIssue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
	Details     struct {
		Coding []struct {
			System  string `json:"system,omitempty"`
			Code    string `json:"code,omitempty"`
			Display string `json:"display,omitempty"`
		} `json:"coding,omitempty"`
		Text string `json:"text,omitempty"`
	} `json:"details"`
}

// APIError is a response PKB answered with a status of 400 or more, or a
// success whose body is not the JSON the operation promises (an HTML page
// from a proxy, say). Use errors.As to get it, or the Is* helpers.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Method and Route name the request by its route template.
	Method, Route string
	// Operation is "<family>.<operationId>".
	Operation string
	// Outcome is the decoded OperationOutcome (or REST API error), if any.
	Outcome *Outcome
	// ResponseCode is PKB's response code (e.g. API_SESSION_EXPIRED), if any.
	ResponseCode string
	// ContentType is the response's media type.
	ContentType string
	// Body is the start of a body that is not FHIR or JSON (at most 2 KiB),
	// e.g. a proxy's HTML error page or a plain-text 502.
	Body string
	// WWWAuthenticate is the challenge of a 401.
	WWWAuthenticate string
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// RequestID is the server's X-Request-Id, for support tickets.
	RequestID string
}

// Error builds the message from the status, PKB's code and the outcome's
// diagnostics; never from headers, which may echo credentials.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pkb: %s %s: %d %s", e.Method, e.Route, e.StatusCode, http.StatusText(e.StatusCode))
	if e.ResponseCode != "" {
		b.WriteString(" (" + e.ResponseCode + ")")
	}
	if d := e.diagnostics(); d != "" {
		b.WriteString(": " + d)
	} else if e.StatusCode < 400 {
		fmt.Fprintf(&b, ": unexpected %s body", e.ContentType)
	}
	return b.String()
}

func (e *APIError) diagnostics() string {
	if e.Outcome == nil {
		return ""
	}
	var parts []string
	for _, is := range e.Outcome.Issues {
		switch {
		case is.Diagnostics != "":
			parts = append(parts, is.Diagnostics)
		case is.Details.Text != "":
			parts = append(parts, is.Details.Text)
		}
	}
	return strings.Join(parts, "; ")
}

// IsNotFound reports whether err is a 404 or 410 from PKB.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone)
}

// IsPermissionDenied reports whether PKB refused the caller (403, or one of
// its access codes such as USER_TYPE_NOT_PERM or NO_CONSENT), or the client
// refused the call before sending it (ErrNotPermitted).
func IsPermissionDenied(err error) bool {
	if errors.Is(err, ErrNotPermitted) {
		return true
	}
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	switch e.ResponseCode {
	case CodeUserTypeNotPerm, CodeAccessFrozenOut, CodeAccessFrozenIn, CodeNoConsent,
		CodeNoAssociation, CodeNoDecryptKey, CodeSharingDisabled:
		return true
	}
	return e.StatusCode == http.StatusForbidden
}

// IsSessionExpired reports whether the user's (or team coordinator's) API
// session is over, so only a new authorisation helps: PKB's
// API_SESSION_EXPIRED or API_SESSION_INVALID.
func IsSessionExpired(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.ResponseCode == CodeSessionExpired || e.ResponseCode == CodeSessionInvalid)
}

// IsRateLimited reports whether PKB answered 429; see APIError.RetryAfter.
func IsRateLimited(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusTooManyRequests
}

// newAPIError reads (a bounded part of) resp's body and closes it.
func newAPIError(resp *http.Response, method string, op access.Operation) *APIError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	e := &APIError{
		StatusCode:      resp.StatusCode,
		Method:          method,
		Route:           op.Path,
		Operation:       string(op.Family) + "." + op.ID,
		ContentType:     mt,
		WWWAuthenticate: resp.Header.Get("WWW-Authenticate"),
		RetryAfter:      retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		RequestID:       resp.Header.Get("X-Request-Id"),
	}
	if isJSON(mt) && decodeOutcome(body, e) {
		return e
	}
	if len(bytes.TrimSpace(body)) > 0 {
		e.Body = excerpt(body)
	}
	return e
}

// decodeOutcome fills the outcome from a FHIR OperationOutcome or the REST
// API's {"code","message"} body, reporting whether the body was either.
func decodeOutcome(body []byte, e *APIError) bool {
	var probe struct {
		ResourceType string `json:"resourceType"`
		Code         string `json:"code"`
		Message      string `json:"message"`
		Error        string `json:"error"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return false
	}
	if probe.ResourceType == "OperationOutcome" {
		var oo Outcome
		if json.Unmarshal(body, &oo) != nil {
			return false
		}
		e.Outcome = &oo
		for _, is := range oo.Issues {
			for _, c := range is.Details.Coding {
				if c.System == ResponseCodeSystem && e.ResponseCode == "" {
					e.ResponseCode = c.Code
				}
			}
		}
		return true
	}
	if probe.ResourceType == "" && (probe.Code != "" || probe.Message != "") {
		is := OutcomeIssue{Severity: "error", Code: "processing", Diagnostics: probe.Message}
		e.Outcome = &Outcome{Issues: []OutcomeIssue{is}}
		e.ResponseCode = probe.Code
		return true
	}
	return false
}

func isJSON(mediaType string) bool {
	return mediaType == mediaJSON || mediaType == mediaFHIR || strings.HasSuffix(mediaType, "+json")
}

// excerpt keeps the start of a body as valid UTF-8 text.
func excerpt(body []byte) string {
	truncated := len(body) > excerptLimit
	if truncated {
		body = body[:excerptLimit]
	}
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	if truncated {
		s += "…"
	}
	return s
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
