package main

import (
	"context"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/internal/redact"
)

// secrets is what this invocation must never print: the client secret and
// refresh token from the environment, the userinfo of a base URL, and every
// access or refresh token seen (from the token store or a token endpoint),
// so that a server echoing the caller's own token does not get it printed.
// It only grows; the Redactor is rebuilt when it does.
type secrets struct {
	mu   sync.Mutex
	list []string
	red  *redact.Redactor
}

func (s *secrets) add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var added []string
	for _, v := range values {
		if v != "" && !slices.Contains(s.list, v) {
			s.list = append(s.list, v)
			added = append(added, v)
		}
	}
	if len(added) > 0 {
		s.red = s.red.With(added...)
	}
}

// redactor returns the Redactor for the secrets known so far; except, if
// given, leaves those values alone (pkb token --show-token prints the token
// it was asked for).
func (s *secrets) redactor(except ...string) *redact.Redactor {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(except) == 0 {
		return s.red
	}
	var keep []string
	for _, v := range s.list {
		if !slices.Contains(except, v) {
			keep = append(keep, v)
		}
	}
	return redact.New(keep...)
}

// addToken records the secrets of a token.
func (s *secrets) addToken(tok *oauth2.Token) {
	if tok != nil {
		s.add(tok.AccessToken, tok.RefreshToken)
	}
}

// userinfoRE finds the userinfo of anything URL-shaped, even in a string
// url.Parse rejects.
var userinfoRE = regexp.MustCompile(`//([^/?#@]*)@`)

// addUserinfo records the user name and password of a URL, raw and decoded.
func (s *secrets) addUserinfo(raw string) {
	for _, m := range userinfoRE.FindAllStringSubmatch(raw, -1) {
		user, pass, _ := strings.Cut(m[1], ":")
		for _, v := range []string{m[1], user, pass} {
			s.add(v)
			if d, err := url.PathUnescape(v); err == nil {
				s.add(d)
			}
		}
	}
}

// termWriter is the last line of defence in front of stdout and stderr:
// known secrets are replaced and terminal escape sequences, control
// characters (but newline and tab), bidi controls and invalid UTF-8 are
// removed from everything written. Server text is sanitised where it is
// formatted too; this catches what a code path forgets.
type termWriter struct {
	w       io.Writer
	secrets *secrets
}

func (t *termWriter) Write(p []byte) (int, error) {
	// Line by line: no secret spans a newline, and Known is fast on lines
	// without a character that starts an encoding, which most are.
	lines := strings.SplitAfter(redact.StripControls(string(p)), "\n")
	red := t.secrets.redactor()
	for i, l := range lines {
		lines[i] = red.Known(l)
	}
	if _, err := io.WriteString(t.w, strings.Join(lines, "")); err != nil {
		return 0, err
	}
	return len(p), nil
}

// redactorOf returns the Redactor behind w, if w is a termWriter.
func redactorOf(w io.Writer) *redact.Redactor {
	if t, ok := w.(*termWriter); ok {
		return t.secrets.redactor()
	}
	return nil
}

// recordingSource records every token its Source hands out as a secret.
type recordingSource struct {
	authn.Source
	secrets *secrets
}

func (r recordingSource) Token(ctx context.Context) (*oauth2.Token, error) {
	tok, err := r.Source.Token(ctx)
	r.secrets.addToken(tok)
	return tok, err
}
