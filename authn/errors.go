package authn

import (
	"errors"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/internal/redact"
)

// Sentinel errors. They classify failures by what the caller should do about
// them, which is what a retry loop or a CLI needs to decide; use errors.Is.
var (
	// ErrReauthorize means the grant behind this client is gone (invalid_grant,
	// API_SESSION_INVALID, API_SESSION_EXPIRED, or no refresh token left):
	// retrying cannot help, a person has to authorise the client again.
	ErrReauthorize = errors.New("authn: authorisation must be granted again")
	// ErrInvalidClient means the token endpoint rejected the client
	// credentials. Retrying cannot help until the configuration is fixed.
	ErrInvalidClient = errors.New("authn: client authentication failed")
	// ErrInvalidScope means a scope was rejected, either locally when the
	// client was configured or by the token endpoint.
	ErrInvalidScope = errors.New("authn: invalid scope")
	// ErrTokenEndpoint means the token endpoint could not be reached or did
	// not answer with a usable token response (5xx, 429, HTML, timeouts).
	// These failures are usually transient and worth retrying with backoff.
	ErrTokenEndpoint = errors.New("authn: token endpoint unavailable")
	// ErrStateMismatch means the authorization callback did not carry the
	// state this process generated: a forged, replayed or crossed login.
	ErrStateMismatch = errors.New("authn: authorization callback state mismatch")
	// ErrAccessDenied means the user refused access on PKB's consent page.
	ErrAccessDenied = errors.New("authn: access denied by the user")
	// ErrInvalidConfig means a constructor rejected its configuration, before
	// any I/O.
	ErrInvalidConfig = errors.New("authn: invalid configuration")
	// ErrNotPersisted means a new refresh token could not be saved to the
	// TokenStore. The session is still alive in memory, but it will be lost
	// if the process exits before a later Save succeeds.
	ErrNotPersisted = errors.New("authn: new refresh token could not be persisted")
)

// TokenError describes a failed request to a token endpoint.
//
// It deliberately does not wrap [oauth2.RetrieveError]: that type prints the
// raw response body, which may echo credentials. Every string field here has
// been sanitised and truncated, so a TokenError is safe to log.
type TokenError struct {
	// StatusCode is the HTTP status, or 0 if no response was received.
	StatusCode int
	// Code is the OAuth 2.0 "error" value, e.g. invalid_grant.
	Code string
	// Description is the sanitised "error_description".
	Description string
	// PKBCode is a PKB response code such as API_SESSION_INVALID, when the
	// endpoint mentioned one; PKB uses these to say why a session ended.
	PKBCode string
	// ContentType is the media type of a response that was not a token
	// response, e.g. text/html from a proxy.
	ContentType string
	// Excerpt is a short, sanitised excerpt of a response that was not a
	// token response, so that "the proxy returned a login page" is visible
	// without logging the body.
	Excerpt string
	// Hint says what to do next, in words meant for an operator.
	Hint string

	kind  error
	cause error
}

// Error returns a one-line, secret-free description.
func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("authn: token endpoint")
	if e.StatusCode != 0 {
		b.WriteString(": HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.PKBCode != "" && e.PKBCode != e.Code {
		b.WriteString(" (")
		b.WriteString(e.PKBCode)
		b.WriteString(")")
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.Excerpt != "" || e.ContentType != "" {
		b.WriteString(": unexpected response")
		if e.ContentType != "" {
			b.WriteString(" of type ")
			b.WriteString(e.ContentType)
		}
		if e.Excerpt != "" {
			b.WriteString(": ")
			b.WriteString(strconv.Quote(e.Excerpt))
		}
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.causeText())
	}
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// causeText is computed once at construction; see newTransportError.
func (e *TokenError) causeText() string {
	if c, ok := e.cause.(*redactedError); ok {
		return c.msg
	}
	return "request failed"
}

// Unwrap exposes the classification sentinel and any transport error, so
// that errors.Is(err, ErrReauthorize) and errors.Is(err, context.Canceled)
// both work.
func (e *TokenError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// redactedError keeps a transport error reachable for errors.Is/As while its
// message is replaced by a sanitised copy.
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }

// CallbackError reports an authorization callback that cannot be exchanged
// for a token: a state mismatch, an OAuth error such as access_denied, or a
// missing code.
type CallbackError struct {
	// Code is the OAuth "error" value from the redirect, or "state_mismatch"
	// or "missing_code" for problems detected locally.
	Code string
	// Description is the sanitised "error_description", if any.
	Description string

	kind error
}

// Error returns a one-line, secret-free description.
func (e *CallbackError) Error() string {
	s := "authn: authorization callback: " + e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	switch {
	case errors.Is(e.kind, ErrStateMismatch):
		s += "; start the login again from this application, and do not reuse links"
	case errors.Is(e.kind, ErrAccessDenied):
		s += "; the user declined access or could not log in"
	}
	return s
}

// Unwrap returns ErrStateMismatch or ErrAccessDenied where they apply.
func (e *CallbackError) Unwrap() error { return e.kind }

// ConfigError reports a constructor argument that cannot work. It never
// carries secret values.
type ConfigError struct {
	// Field names the offending configuration field or argument.
	Field string
	// Reason says what is wrong with it.
	Reason string
	// Err is ErrInvalidConfig or ErrInvalidScope, for errors.Is.
	Err error
}

// Error returns a one-line description naming the field.
func (e *ConfigError) Error() string {
	return "authn: " + e.Field + " " + e.Reason
}

// Unwrap returns ErrInvalidConfig or ErrInvalidScope.
func (e *ConfigError) Unwrap() error { return e.Err }

// PersistError reports that a new refresh token could not be saved. The old
// refresh token has already been spent, so the new one is kept in memory and
// Save is retried on the next Token call; no access token is handed out until
// it succeeds, so that a crash cannot lose the session silently.
//
// With a shared store ([Coordinator]) other replicas cannot use the session
// until the save succeeds, so the error also wraps [ErrReauthorize]: if the
// save does not succeed before the lease ends, someone must authorise again,
// as the message says.
type PersistError struct {
	msg    string
	err    error
	shared bool
}

// Error says that the refresh token could not be persisted, with the
// store's (sanitised) reason.
func (e *PersistError) Error() string {
	return "authn: new refresh token could not be persisted; the session is kept in memory only: " + e.msg
}

// Unwrap returns ErrNotPersisted and the store's error, and for a shared
// store also ErrStoreUnavailable and ErrReauthorize.
func (e *PersistError) Unwrap() []error {
	if e.shared {
		return []error{ErrNotPersisted, ErrStoreUnavailable, ErrReauthorize, e.err}
	}
	return []error{ErrNotPersisted, e.err}
}

func newPersistError(err error, red *redact.Redactor) *PersistError {
	return &PersistError{msg: line(red, err.Error()), err: err}
}

// lineLimit bounds every sanitised string copied into an error.
const lineLimit = 240

// lineInput bounds how much of a server's or store's text is redacted for
// one line: redaction costs time in proportion to its input, and a token
// endpoint can send a megabyte of error_description. The redactor also
// removes a secret cut in two at this boundary.
const lineInput = 4 << 10

// line is red.Line for text of any length.
func line(red *redact.Redactor, s string) string {
	if len(s) > lineInput {
		s = s[:lineInput]
	}
	return red.Line(s, lineLimit)
}

var pkbCodeRe = regexp.MustCompile(`\b(API_SESSION_INVALID|API_SESSION_EXPIRED|ACC_TOKEN_EXPIRED|BAD_AUTHENTICATION|USER_TYPE_NOT_PERM)\b`)

// excerptLimit bounds how much of a body is searched for visible text,
// for the reason lineInput does.
const excerptLimit = 16 << 10

// excerpt turns an arbitrary body (often an HTML error page from a proxy)
// into a short single line of visible, redacted text.
func excerpt(red *redact.Redactor, body []byte) string {
	if len(body) > excerptLimit {
		body = body[:excerptLimit]
	}
	return red.Excerpt(body, 160)
}

// mediaType returns the media type of a Content-Type header, or a redacted,
// bounded copy of a header too malformed to parse.
func mediaType(red *redact.Redactor, ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return red.Line(ct[:min(len(ct), lineInput)], 40)
	}
	return red.Line(mt, 80)
}

// looksJSON goes by the body, not the Content-Type, because proxies and
// error pages routinely label HTML as JSON and vice versa.
func looksJSON(body []byte) bool {
	t := strings.TrimSpace(string(body))
	return strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")
}

func findPKBCode(texts ...string) string {
	for _, t := range texts {
		if m := pkbCodeRe.FindString(t); m != "" {
			return m
		}
	}
	return ""
}

// classify turns what the endpoint said into a sentinel and advice. reauth
// names who must authorise again, which differs between user and tethered
// clients.
func classify(status int, code, pkbCode, reauth string) (error, string) {
	switch {
	case code == "invalid_grant" || pkbCode == "API_SESSION_INVALID" || pkbCode == "API_SESSION_EXPIRED":
		return ErrReauthorize, reauth
	case code == "invalid_client":
		return ErrInvalidClient, "check the client ID and secret, and that they belong to this environment and token endpoint"
	case code == "unauthorized" || (code == "" && status == 401):
		// Spring Security's shape: the Basic credentials were missing or wrong.
		return ErrInvalidClient, "check the client ID and secret (sent as HTTP Basic), and that they belong to this environment and token endpoint"
	case code == "unauthorized_client":
		return ErrInvalidClient, "this client is not allowed to use this grant; ask PKB to enable it for the client ID"
	case code == "invalid_scope":
		return ErrInvalidScope, "request only a scope that PKB has enabled for this client ID"
	case status >= 500 || status == 429:
		return ErrTokenEndpoint, "PKB's token endpoint is failing; retry later with backoff"
	case code == "":
		return ErrTokenEndpoint, "check the token URL; the response was not an OAuth 2.0 token response"
	}
	return nil, "the token request was rejected; check the client configuration"
}

// mapError converts whatever x/oauth2 or net/http returned into a
// secret-free error. cp holds what the capturing transport saw, which is the
// only way to describe a 2xx response that was not a token.
func mapError(err error, cp *capture, red *redact.Redactor, reauth string) error {
	if err == nil {
		return nil
	}
	var te *TokenError
	if errors.As(err, &te) {
		return err
	}
	// A response that carries tokens next to an error (or that is an error
	// by status) must not have them quoted back.
	if _, ct, body, ok := cp.get(); ok {
		red = withTokens(red, responseTokens(ct, body))
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil {
			red = withTokens(red, responseTokens(re.Response.Header.Get("Content-Type"), re.Body))
		}
		e := &TokenError{
			Code:        line(red, re.ErrorCode),
			Description: line(red, re.ErrorDescription),
			PKBCode:     findPKBCode(re.ErrorCode, re.ErrorDescription, string(re.Body)),
		}
		ct := ""
		if re.Response != nil {
			e.StatusCode = re.Response.StatusCode
			ct = re.Response.Header.Get("Content-Type")
		}
		if e.Code == "" && len(strings.TrimSpace(string(re.Body))) > 0 && !looksJSON(re.Body) {
			e.ContentType = mediaType(red, ct)
			e.Excerpt = excerpt(red, re.Body)
		}
		if e.StatusCode >= 300 && e.StatusCode < 400 {
			return redirectError(e.StatusCode, re.Response, red)
		}
		e.kind, e.Hint = classify(e.StatusCode, re.ErrorCode, e.PKBCode, reauth)
		return e
	}
	if status, ct, body, ok := cp.get(); ok {
		// A response arrived but x/oauth2 could not use it: a 2xx that is not
		// JSON, or JSON without access_token.
		e := &TokenError{StatusCode: status, kind: ErrTokenEndpoint}
		if looksJSON(body) {
			e.Description = "the response is not a usable token response"
			if strings.Contains(err.Error(), "missing access_token") {
				e.Description = "the response has no access_token"
			}
		} else {
			e.ContentType = mediaType(red, ct)
			e.Excerpt = excerpt(red, body)
		}
		e.PKBCode = findPKBCode(string(body))
		e.Hint = "check the token URL; something other than PKB's token endpoint may have answered"
		return e
	}
	hint := "check network access to the token endpoint, then retry"
	if errors.Is(err, errAnswerElsewhere) {
		hint = "token requests must not follow redirects; use an HTTP client whose transport does not follow them, and the token URL that answers without one"
	}
	return &TokenError{
		kind:  ErrTokenEndpoint,
		cause: &redactedError{msg: line(red, err.Error()), err: err},
		Hint:  hint,
	}
}

// withTokens adds tokens to red; a new Redactor compiles its patterns
// again, so none is made when there is nothing to add.
func withTokens(red *redact.Redactor, tokens []string) *redact.Redactor {
	if len(tokens) == 0 {
		return red
	}
	return red.With(tokens...)
}

// redirectError reports a 3xx from a token endpoint. The redirect was not
// followed, and its target is named by host only: the rest of a Location
// is the server's to fill with anything, including what it was sent.
func redirectError(status int, resp *http.Response, red *redact.Redactor) *TokenError {
	e := &TokenError{
		StatusCode:  status,
		Description: "redirect not followed (token requests never follow one: the credentials would go with it)",
		Hint:        "set the token URL to PKB's final https URL for this environment; a redirect from a token endpoint is a misconfiguration or an attack",
		kind:        ErrTokenEndpoint,
	}
	if resp != nil {
		if loc, err := resp.Location(); err == nil && loc.Host != "" {
			e.Description += "; it pointed to host " + red.Line(loc.Host, 100)
		}
	}
	return e
}

// errNoSession is returned without I/O when there is nothing left to redeem.
func errNoSession(reauth string) error {
	return &reauthError{msg: "authn: no session to refresh (no login yet, or the last refresh token was spent); " + reauth}
}

// reauthError is a locally detected dead session.
type reauthError struct{ msg string }

func (e *reauthError) Error() string { return e.msg }
func (e *reauthError) Unwrap() error { return ErrReauthorize }
