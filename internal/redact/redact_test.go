package redact

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

const secret = "s3cr3t+Value/With Space&Co=1"

// encodings lists the ways servers have been seen echoing a value.
var encodings = map[string]func(string) string{
	"raw":          func(s string) string { return s },
	"query":        url.QueryEscape,
	"query lower":  func(s string) string { return lowerHex(url.QueryEscape(s)) },
	"path":         url.PathEscape,
	"path lower":   func(s string) string { return lowerHex(url.PathEscape(s)) },
	"all percent":  percentAll,
	"json":         func(s string) string { b, _ := json.Marshal(s); return string(b[1 : len(b)-1]) },
	"json unicode": jsonUnicode,
	"html":         html.EscapeString,
	"html numeric": htmlNumeric,
	"base64":       func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"base64 url":   func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
}

func lowerHex(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b.WriteString("%" + strings.ToLower(s[i+1:i+3]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02x", s[i])
	}
	return b.String()
}

func jsonUnicode(s string) string {
	var b strings.Builder
	for _, c := range s {
		fmt.Fprintf(&b, `\u%04X`, c)
	}
	return b.String()
}

func htmlNumeric(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i%2 == 0 {
			fmt.Fprintf(&b, "&#%d;", c)
		} else {
			fmt.Fprintf(&b, "&#x%X;", c)
		}
	}
	return b.String()
}

func TestKnownSecretInEveryEncoding(t *testing.T) {
	r := New(secret)
	for name, enc := range encodings {
		in := `{"error":"bad","echo":"` + enc(secret) + `"} tail`
		out := r.String(in)
		if !strings.Contains(out, Marker) || strings.Contains(out, enc(secret)) {
			t.Errorf("%s: %q -> %q", name, in, out)
		}
		if !strings.HasSuffix(out, " tail") {
			t.Errorf("%s: surrounding text lost: %q", name, out)
		}
	}
}

func TestBasicCredentials(t *testing.T) {
	r := New().WithBasic("client id", "p@ss word")
	for _, cred := range []string{url.QueryEscape("client id") + ":" + url.QueryEscape("p@ss word"), "client id:p@ss word"} {
		in := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
		if out := r.String(in); strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(cred))) {
			t.Errorf("%q -> %q", in, out)
		}
	}
	if out := r.String("x p@ss word y"); strings.Contains(out, "p@ss word") {
		t.Errorf("secret itself survived: %q", out)
	}
}

func TestSecretCutAtEitherEdge(t *testing.T) {
	r := New("0123456789abcdefXYZ")
	for _, in := range []string{"prefix 0123456789ab", "cdefXYZ suffix"} {
		out := r.String(in)
		if strings.Contains(out, "0123456789") || strings.Contains(out, "cdefXYZ") {
			t.Errorf("partial secret survived: %q -> %q", in, out)
		}
	}
	// a short coincidental overlap is not a secret
	if out := r.String("item 0123"); out != "item 0123" {
		t.Errorf("over-redacted: %q", out)
	}
}

func TestSecretsByShape(t *testing.T) {
	cases := []string{
		"access_token=abc.def-ghi",
		`{"refresh_token": "whatever-it-is"}`,
		"client_secret=xyz",
		"?code=authcode123&state=1",
		"Authorization: Bearer abcdefgh12345678",
		"bearer abcdefgh1234",
		"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
		"opaque Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
		"id 1479257a-ce8f-482a-89fa-429ac066c158",
	}
	for _, in := range cases {
		out := New().String(in)
		if !strings.Contains(out, Marker) {
			t.Errorf("%q kept: %q", in, out)
		}
	}
}

func TestKeepsHostsPathsAndCodes(t *testing.T) {
	cases := []string{
		`Post "https://oauth2.sandbox.patientsknowbest.com/api/oauth/token": dial tcp: lookup oauth2.sandbox.patientsknowbest.com: no such host`,
		"https://iam.sandbox.patientsknowbest.com/auth/realms/pkb/protocol/openid-connect/token",
		"API_SESSION_INVALID: the session is no longer valid",
		`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`,
		"GET /Patient/{id}/$date-of-last-data-point",
	}
	for _, in := range cases {
		if out := New().String(in); out != in {
			t.Errorf("changed:\n in  %q\n out %q", in, out)
		}
	}
}

func TestLine(t *testing.T) {
	in := "line one\n\x1b[31mred\x1b[0m\ttab \x1b]8;;http://evil/\x07link\x1b]8;;\x07 \u202eevil\u202c bell\a end"
	out := New().Line(in, 0)
	if want := "line one red tab link evil bell end"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	long := strings.Repeat("é", 100)
	got := New().Line(long, 21)
	if len(got) > 21 || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("cut %q (%d bytes)", got, len(got))
	}
}

func TestExcerpt(t *testing.T) {
	body := []byte(`<html><head><style>p{}</style><script>var t="` + secret + `";</script></head>` +
		`<body><!-- ` + secret + ` --><h1>502 Bad&nbsp;Gateway</h1><p>token: ` + html.EscapeString(secret) + `</p></body></html>`)
	out := New(secret).Excerpt(body, 200)
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, "<") {
		t.Errorf("excerpt %q", out)
	}
	if !strings.Contains(out, "502 Bad") {
		t.Errorf("visible text lost: %q", out)
	}
}

func TestStripControls(t *testing.T) {
	cases := map[string]string{
		"a\x1b[2Jb":              "ab",
		"a\x1b]0;title\x1b\\b":   "ab",
		"a\u009b31mb":            "ab",
		"a\u009d0;t\u009cb":      "ab",
		"a\rb\x08c\x7fd":         "abcd",
		"keep\nnew\tlines":       "keep\nnew\tlines",
		"bad\xffutf8":            "bad\uFFFDutf8",
		"trailing escape \x1b":   "trailing escape ",
		"unterminated \x1b]osc…": "unterminated ",
	}
	for in, want := range cases {
		if got := StripControls(in); got != want {
			t.Errorf("StripControls(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNilRedactor(t *testing.T) {
	var r *Redactor
	if got := r.String("plain text"); got != "plain text" {
		t.Errorf("nil redactor changed text: %q", got)
	}
	if got := r.With("abcdefgh").String("x abcdefgh y"); got != "x "+Marker+" y" {
		t.Errorf("With on nil: %q", got)
	}
}

// FuzzKnownSecret checks the package's promise: a known secret, written
// in any of the encodings servers use and placed anywhere in any text,
// never survives String, Line or Excerpt, and decoding what is left does
// not bring it back.
func FuzzKnownSecret(f *testing.F) {
	f.Add("s3cr3t+Value/With Space", "before ", " after", uint8(0))
	f.Add("0123456789abcdef", `{"a":"`, `"}`, uint8(5))
	f.Add("ünïcødé-sécret", "<p>", "</p>", uint8(8))
	f.Add("abc&def<ghi>", "x=", "&y=1", uint8(9))
	names := make([]string, 0, len(encodings))
	for name := range encodings {
		names = append(names, name)
	}
	// map order is random: fix it so a corpus entry means the same thing
	slices.Sort(names)
	f.Fuzz(func(t *testing.T, sec, before, after string, which uint8) {
		// Real secrets are short, and callers bound the text they redact.
		if len(sec) < 8 || len(sec) > 128 || len(before)+len(after) > 4096 ||
			!utf8.ValidString(sec) || strings.TrimSpace(sec) != sec {
			t.Skip()
		}
		enc := encodings[names[int(which)%len(names)]]
		text := before + enc(sec) + after
		r := New(sec)
		for _, s := range []string{text, before + after, before + sec[:len(sec)/2] + after} {
			if fast, slow := r.Known(s), r.knownByPattern(s); fast != slow {
				t.Fatalf("Known(%q) = %q, but the pattern gives %q", s, fast, slow)
			}
		}
		for _, out := range []string{r.String(text), r.Known(text), r.Line(text, 0), r.Excerpt([]byte(text), 0)} {
			for _, dec := range decoders {
				if strings.Contains(dec(out), sec) {
					t.Fatalf("secret %q survived %s encoding in %q -> %q", sec, names[int(which)%len(names)], text, out)
				}
			}
		}
	})
}

var decoders = []func(string) string{
	func(s string) string { return s },
	func(s string) string { u, _ := url.QueryUnescape(s); return u },
	func(s string) string { u, _ := url.PathUnescape(s); return u },
	html.UnescapeString,
}

// Known removes the known secret in every encoding and keeps secret-shaped
// data, such as resource ids, that String would blank.
func TestKnownOnly(t *testing.T) {
	id := "3d8afd18-0844-459a-b3c2-355d02e54c0a"
	r := New(secret)
	for name, enc := range encodings {
		in := `{"id":"` + id + `","echo":"` + enc(secret) + `"}`
		out := r.Known(in)
		if strings.Contains(out, enc(secret)) || !strings.Contains(out, Marker) || !strings.Contains(out, id) {
			t.Errorf("%s: %q -> %q", name, in, out)
		}
	}
	if out := (*Redactor)(nil).Known(id); out != id {
		t.Errorf("nil Redactor changed %q to %q", id, out)
	}
	if out := New().String(id); out == id {
		t.Errorf("String is expected to blank the opaque id %q", id)
	}
}
