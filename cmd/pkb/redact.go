package main

import (
	"io"
	"strings"
)

const redactedText = "[REDACTED]"

// redactor is an io.Writer that replaces known secret values before they
// reach the terminal. The command never prints secrets on purpose; this is
// the second line of defence, e.g. against a server that echoes a secret in
// an error description that ends up in a message.
type redactor struct {
	w       io.Writer
	secrets []string
}

// newRedactor wraps w; empty and very short values are ignored, since
// replacing them would mangle ordinary output.
func newRedactor(w io.Writer, secrets ...string) io.Writer {
	var keep []string
	for _, s := range secrets {
		if len(s) >= 6 {
			keep = append(keep, s)
		}
	}
	if len(keep) == 0 {
		return w
	}
	return &redactor{w: w, secrets: keep}
}

func (r *redactor) Write(p []byte) (int, error) {
	s := string(p)
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redactedText)
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
