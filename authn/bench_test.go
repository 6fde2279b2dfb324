package authn

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkTokenErrorHugeBody measures the error path of a token endpoint
// that answers with a megabyte of error_description or HTML: what a
// hostile or broken endpoint can make each failed token request cost.
func BenchmarkTokenErrorHugeBody(b *testing.B) {
	desc := strings.Repeat("x", 1<<20-100)
	js, _ := json.Marshal(map[string]string{"error": "invalid_grant", "error_description": desc})
	for _, bc := range []struct {
		name   string
		status int
		ct     string
		body   []byte
	}{
		{"json description", 400, "application/json", js},
		{"html page", 502, "text/html", []byte(desc)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hdr := http.Header{"Content-Type": {bc.ct}}
			c, err := NewSystemSource(SystemConfig{ClientID: fuzzID, ClientSecret: fuzzSecret, Environment: fuzzEnv,
				Options: Options{HTTPClient: &http.Client{Transport: cannedTransport{bc.status, hdr, bc.body}}}})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := c.Token(context.Background()); err == nil {
					b.Fatal("no error")
				}
			}
		})
	}
}
