package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"syscall"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/pgstore"
	"github.com/pkbgo/pkb/wrappers"
)

// Exit statuses; documented in usageText and relied on by scripts.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitAuth    = 3
	exitNetwork = 4
)

// exitError carries an explicit exit status and message.
type exitError struct {
	code int
	msg  string
	err  error
	// silent: the message was already printed (e.g. the demo's table).
	silent bool
}

func (e *exitError) Error() string {
	switch {
	case e.msg != "" && e.err != nil:
		return e.msg + ": " + e.err.Error()
	case e.msg != "":
		return e.msg
	case e.err != nil:
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func configErrorf(format string, args ...any) error {
	return &exitError{code: exitAuth, msg: fmt.Sprintf(format, args...)}
}

// missingEnv is the error for a required setting that is not configured.
func missingEnv(what, env, flagName string) error {
	if flagName == "" {
		return configErrorf("missing %s: set the environment variable %s", what, env)
	}
	return configErrorf("missing %s: set the environment variable %s (or --%s)", what, env, flagName)
}

// classify maps an error to an exit status and a one-line message with,
// where it helps, what to do next. Every message it builds comes from
// errors that are secret-free by construction (authn and wrappers redact).
func classify(err error) (int, string) {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.Error()
	}
	var ae *wrappers.APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case 401:
			return exitAuth, err.Error() + " (the API refused the token; for a User Client run 'pkb login' again)"
		case 403:
			return exitAuth, err.Error() + " (the API says this client or user may not do this)"
		case 429, 502, 503, 504:
			return exitNetwork, err.Error() + " (PKB is busy or unavailable; retry later)"
		}
		return exitFailed, err.Error()
	}
	switch {
	case errors.Is(err, wrappers.ErrNotPermitted):
		return exitAuth, err.Error()
	case errors.Is(err, wrappers.ErrUnknownOperation):
		return exitUsage, err.Error() + " (run 'pkb ops' to list the operations)"
	case errors.Is(err, wrappers.ErrInvalidCall), errors.Is(err, wrappers.ErrMissingParameter):
		return exitUsage, err.Error()
	case errors.Is(err, wrappers.ErrUnsafeURL):
		return exitAuth, err.Error()
	case errors.Is(err, authn.ErrReauthorize):
		return exitAuth, err.Error()
	case errors.Is(err, authn.ErrInvalidClient), errors.Is(err, authn.ErrInvalidScope),
		errors.Is(err, authn.ErrInvalidConfig), errors.Is(err, authn.ErrStateMismatch),
		errors.Is(err, authn.ErrAccessDenied), errors.Is(err, authn.ErrNotPersisted):
		return exitAuth, err.Error()
	case errors.Is(err, authn.ErrTokenEndpoint):
		return exitNetwork, err.Error()
	case errors.Is(err, pgstore.ErrNoTable):
		return exitAuth, err.Error() + " (run 'pkb migrate')"
	case errors.Is(err, authn.ErrStoreUnavailable):
		return exitNetwork, err.Error() + " (the shared token store " + envTokenStore + " is unreachable; retry when it is back)"
	case errors.Is(err, context.Canceled):
		return exitFailed, "interrupted"
	case isNetworkError(err):
		return exitNetwork, "network error: " + err.Error() + " (check the network, and PKB_ENV or --base-url)"
	}
	return exitFailed, err.Error()
}

// isNetworkError reports transport failures: DNS, refused or reset
// connections, timeouts and TLS problems.
func isNetworkError(err error) bool {
	var (
		ne   net.Error
		dns  *net.DNSError
		op   *net.OpError
		cert *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		host x509.HostnameError
	)
	return errors.As(err, &dns) || errors.As(err, &op) || errors.As(err, &ne) ||
		errors.As(err, &cert) || errors.As(err, &ua) || errors.As(err, &host) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET)
}

// maxMessage bounds an error message: server text inside one could
// otherwise flood the terminal.
const maxMessage = 2000

// describe is classify with the message made safe to print: URLs withheld
// (see withholdURLs), secrets this invocation knows redacted, escape
// sequences and control characters removed, on one bounded line.
func (c *cli) describe(err error) (int, string) {
	code, msg := classify(err)
	return code, truncate(oneLine(c.secrets.redactor(), withholdURLs(msg)), maxMessage)
}

var (
	// net/http quotes an unparseable Location header, and the parse error
	// after it quotes parts of it again.
	locationRE = regexp.MustCompile(`(?s)failed to parse Location header ".*`)
	// Go-quoted absolute URLs, as url.Error and url.Parse errors print them.
	quotedURLRE = regexp.MustCompile(`"[A-Za-z][A-Za-z0-9+.-]*://(?:[^"\\]|\\.)*"`)
)

// withholdURLs replaces URLs quoted in an error message by their scheme and
// host: a server's URLs (next links, redirects) carry identifiers in their
// paths and queries, and a configured one may carry a password.
func withholdURLs(msg string) string {
	msg = locationRE.ReplaceAllString(msg, "failed to parse the Location header of a redirect (not shown)")
	return quotedURLRE.ReplaceAllStringFunc(msg, func(q string) string {
		s, err := strconv.Unquote(q)
		if u, perr := url.Parse(s); err == nil && perr == nil && u.Host != "" {
			return `"` + u.Scheme + "://" + u.Host + `/…"`
		}
		return "(URL not shown)"
	})
}
