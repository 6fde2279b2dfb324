package wrappers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/redact"
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

// knownCodes are PKB's documented response codes (API.md §4): the only
// ones an error message or a log line names. Any other code is the
// server's text, which could be anything, and stays in the field.
var knownCodes = map[string]bool{
	CodeAccessTokenExpired: true, CodeSessionExpired: true, CodeSessionInvalid: true,
	CodeBadAuthentication: true, CodeUserTypeNotPerm: true, CodeAccessFrozenOut: true,
	CodeAccessFrozenIn: true, CodeNoConsent: true, CodeNoAssociation: true,
	CodeNoDecryptKey: true, CodeSharingDisabled: true,
}

// excerptLimit bounds the body text kept on an APIError: enough to see what
// a proxy's HTML page says, small enough to log.
const excerptLimit = 2 << 10

// headerLimit bounds the WWW-Authenticate challenge kept on an APIError.
const headerLimit = 512

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

// APIError is a response PKB answered with a status of 400 or more, a
// redirect that was not followed, or a success whose body is not the JSON
// the operation promises (an HTML page from a proxy, a body without a
// Content-Type, no body where data was due). Use errors.As to get it, or
// the Is* helpers.
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
	// Body is the visible text of a body that is not an OperationOutcome or
	// a REST API error (e.g. a proxy's HTML error page or a plain-text
	// 502): tags and control characters removed, the access token and
	// anything secret-shaped redacted, at most 2 KiB on one line.
	Body string
	// WWWAuthenticate is the challenge of a 401, redacted like Body and at
	// most 512 bytes.
	WWWAuthenticate string
	// RetryAfter is the server's Retry-After, when it sent one; a value
	// too large for a time.Duration is clamped to the largest.
	RetryAfter time.Duration
	// RequestID is the server's X-Request-Id, for support tickets, when it
	// is a plain identifier of at most 128 letters, digits and "-._:".
	RequestID string
	// WrongUserType marks a 401 that refused the caller, not the token:
	// PKB's REST API answers a valid token whose user may not make the
	// call (the wrong user type, or break-the-glass not enabled) with 401
	// and a text message (docs/pkb-api.md §2.5). It is set when the body
	// is that message, or when a token issued after the first 401 was
	// refused too without a sign that the token is at fault. The client
	// did not refresh for it, and will not for the same token again: see
	// IsPermissionDenied.
	WrongUserType bool

	// retryAfterSet records that the server sent a Retry-After, even "0".
	retryAfterSet bool
}

// Error gives the status, PKB's response code and the route template,
// never text from the server: diagnostics quote NHS numbers, names, ids
// and sometimes the token. The server's words are in Outcome and Body.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pkb: %s %s: %d %s", e.Method, e.Route, e.StatusCode, http.StatusText(e.StatusCode))
	if knownCodes[e.ResponseCode] {
		b.WriteString(" (" + e.ResponseCode + ")")
	}
	switch {
	case e.StatusCode < 300:
		b.WriteString(": the response is not the JSON the operation promises")
	case e.StatusCode < 400:
		b.WriteString(": redirect not followed")
	case e.WrongUserType:
		b.WriteString(": the user may not make this call (the token is valid)")
	}
	return b.String()
}

// IsNotFound reports whether err is a 404 or 410 from PKB.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone)
}

// IsPermissionDenied reports whether PKB refused the caller (403, a 401
// refusing a valid token (APIError.WrongUserType), or one of its access
// codes such as USER_TYPE_NOT_PERM or NO_CONSENT), or the client
// refused the call before sending it (ErrNotPermitted).
func IsPermissionDenied(err error) bool {
	if errors.Is(err, ErrNotPermitted) {
		return true
	}
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	if e.WrongUserType {
		return true
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

// newAPIError reads (a bounded part of) resp's body and closes it. tokens
// are the access tokens the request was sent with, removed wherever the
// server echoes them.
func newAPIError(resp *http.Response, method string, op access.Operation, tokens ...string) *APIError {
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	// The limits of a success body, scaled to this one: a longer body is
	// cut, and one with too many JSON values too, so it is not decoded.
	body, _ := io.ReadAll(newLimitedBody(resp.Body, errorBodyLimit, isJSON(mt)))
	rd := redact.New(tokens...)
	e := &APIError{
		StatusCode:      resp.StatusCode,
		Method:          method,
		Route:           op.Path,
		Operation:       string(op.Family) + "." + op.ID,
		ContentType:     mt,
		WWWAuthenticate: rd.Line(string(head([]byte(resp.Header.Get("WWW-Authenticate")), 2*headerLimit)), headerLimit),
		RetryAfter:      retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		retryAfterSet:   strings.TrimSpace(resp.Header.Get("Retry-After")) != "",
		RequestID:       requestID(resp.Header.Get("X-Request-Id")),
	}
	if isJSON(mt) && decodeOutcome(body, e) {
		e.Outcome.withoutTokens(tokens)
		return e
	}
	if len(bytes.TrimSpace(body)) > 0 {
		e.Body = rd.Excerpt(head(body, 4*excerptLimit), excerptLimit)
	}
	return e
}

// withoutTokens replaces the access tokens wherever the outcome's text
// echoes them. The rest is the server's own words, kept as sent: they are
// what a person needs to understand the error.
func (o *Outcome) withoutTokens(tokens []string) {
	clean := func(s *string) {
		for _, t := range tokens {
			if t != "" {
				*s = strings.ReplaceAll(*s, t, redact.Marker)
			}
		}
	}
	for i := range o.Issues {
		is := &o.Issues[i]
		clean(&is.Diagnostics)
		clean(&is.Details.Text)
		for j := range is.Details.Coding {
			clean(&is.Details.Coding[j].Code)
			clean(&is.Details.Coding[j].Display)
		}
	}
}

// head returns at most the first n bytes of b, ending before the last
// word that the cut would split: redacting the whole of a large body costs
// milliseconds per kilobyte, and the part of a secret left at a cut would
// no longer look like one.
func head(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	if i := bytes.LastIndexAny(b, " \t\r\n<>\"'"); i >= 0 {
		b = b[:i]
	}
	return b
}

// requestID keeps an X-Request-Id that is a plain identifier; anything
// else (long, spaced, with controls) is the server's text, not an id.
func requestID(v string) string {
	if len(v) == 0 || len(v) > 128 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == ':':
		default:
			return ""
		}
	}
	return v
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

// retryAfter parses Retry-After as delay-seconds (digits only) or an HTTP
// date. A delay too long for a time.Duration is the longest Duration, never
// a negative one (time.Time.Sub saturates the same way for dates).
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil || s > uint64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
