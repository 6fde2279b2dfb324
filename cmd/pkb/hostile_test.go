package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

const (
	hostileToken  = "hostile-access-token-7f3a9c1e"
	hostileSecret = "client-secret-value-1234"
	hostileNHS    = "9434765919"
)

// terminalAttack is what a hostile server puts in any string it returns:
// clear screen, a window-title OSC, an OSC 8 hyperlink, an 8-bit CSI (C1),
// backspaces, a carriage return and DEL to overwrite what was printed, and a
// bidi override.
const terminalAttack = "\x1b[2J\x1b]0;pwned-title\x07\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\" +
	"\u009b31m\x08\x08\rFAKE\x7f\u202eOK"

// hostilePKB is a loopback server playing PKB for a System Client: its
// token endpoint works, and its API answers with terminal escape sequences,
// the caller's own access token echoed back, malformed next links and
// unparseable redirects.
func hostilePKB(t *testing.T, tokenType string) *httptest.Server {
	t.Helper()
	str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		switch r.URL.Path {
		case "/api/oauth/token", "/auth/realms/pkb/protocol/openid-connect/token":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"` + hostileToken + `","token_type":` + str(tokenType) + `,"expires_in":3600,"scope":` + str(terminalAttack) + `}`))
		case "/fhir/Patient/ansi":
			// JSON escapes (\u001b), raw C1 in UTF-8, and a raw 0x9b byte
			// (invalid UTF-8, an 8-bit CSI on some terminals).
			w.Write([]byte(`{"resourceType":"Patient","id":"p1","gender":"male` + "\x9b" + `[31m",` +
				`"name":[{"text":` + str(terminalAttack+" token "+hostileToken) + `}],` +
				`"birthDate":` + str("1990-01-01\r\x1b[1A") + `,` + str("key\x1b[5m") + `:"v"}`))
		case "/fhir/Patient/fail":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid",` +
				`"diagnostics":` + str(terminalAttack+" Bearer "+hostileToken+" "+hostileToken) + `}]}`))
		case "/fhir/Patient/redirect":
			w.Header().Set("Location", "http://[::1%zz]/fhir/Patient?identifier="+hostileNHS)
			w.WriteHeader(http.StatusFound)
		case "/fhir/Observation":
			if r.URL.Query().Get("page") == "" {
				w.Write([]byte(`{"resourceType":"Bundle","type":` + str("searchset\r\x1b[1A\x1b[2K") + `,"total":1,` +
					`"link":[{"relation":"next","url":"http://[::1%zz]/fhir/Observation?page=2&patient=` + hostileNHS + `"}],` +
					`"entry":[{"resource":{"resourceType":"Observation","id":"o1","status":` + str(terminalAttack) + `}}]}`))
				return
			}
		case "/fhir/Patient":
			// a next link that points back at the page itself
			w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next",` +
				`"url":"http://` + r.Host + `/fhir/Patient?page=2&patient=` + hostileNHS + `"}],"entry":[{"resource":{"resourceType":"Patient","id":"c1"}}]}`))
		case "/fhir/Encounter":
			// a next link whose URL parses but points at another host
			w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next",` +
				`"url":"https://other.example/fhir/Encounter?patient=` + hostileNHS + `"}],"entry":[]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// assertTerminalSafe fails if out could drive a terminal: escape sequences,
// C0 controls other than newline and tab, DEL, C1 controls, bidi controls or
// invalid UTF-8; and if it carries the payload of a stripped sequence.
func assertTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: invalid UTF-8 reaches the terminal: %q", what, out)
	}
	for _, r := range out {
		if (unicode.IsControl(r) && r != '\n' && r != '\t') || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Errorf("%s: control character %U reaches the terminal: %q", what, r, out)
			return
		}
	}
	if strings.Contains(out, "pwned-title") || strings.Contains(out, "evil.example") {
		t.Errorf("%s: an escape sequence's payload survived: %q", what, out)
	}
}

func assertClean(t *testing.T, res result, forbidden ...string) {
	t.Helper()
	assertTerminalSafe(t, "stdout", res.stdout)
	assertTerminalSafe(t, "stderr", res.stderr)
	for _, s := range append([]string{hostileToken, hostileSecret}, forbidden...) {
		if strings.Contains(res.stdout, s) || strings.Contains(res.stderr, s) {
			t.Errorf("%q printed:\n%s", s, res)
		}
	}
}

// assertJSONSafe checks that --json output is JSON whose decoded strings are
// terminal-safe too (jq -r would print them raw).
func assertJSONSafe(t *testing.T, out string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			for _, r := range x {
				if r == 0x1b || r == 0x07 || r == 0x08 || r == '\r' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) {
					t.Errorf("decoded JSON string carries %U: %q", r, x)
					return
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				walk(k)
				walk(e)
			}
		}
	}
	walk(v)
}

func hostileRunner(t *testing.T) *runner {
	srv := hostilePKB(t, "Bearer")
	return newRunner(t, map[string]string{"PKB_BASE_URL": srv.URL, "PKB_CLIENT_TYPE": "system",
		"PKB_CLIENT_ID": "cli", "PKB_CLIENT_SECRET": hostileSecret, "PKB_ORG_ID": "org"})
}

func TestHostileServerTextIsStripped(t *testing.T) {
	r := hostileRunner(t)
	res := r.want(0, "get", "Patient/ansi")
	assertClean(t, res)
	if !strings.Contains(res.stdout, "p1") || !strings.Contains(res.stdout, "click") {
		t.Errorf("the readable text was lost too:\n%s", res)
	}
	res = r.want(0, "get", "Patient/ansi", "--json")
	assertClean(t, res)
	assertJSONSafe(t, res.stdout)
	if !strings.Contains(res.stdout, `"resourceType": "Patient"`) || strings.Index(res.stdout, "resourceType") > strings.Index(res.stdout, `"id"`) {
		t.Errorf("--json changed the resource's field order:\n%s", res.stdout)
	}

	res = r.want(exitFailed, "get", "Patient/fail")
	assertClean(t, res)
	res = r.want(exitFailed, "get", "Patient/fail", "--json")
	assertClean(t, res)
	assertJSONSafe(t, res.stdout)

	res = r.want(0, "search", "Observation", "patient=Patient/1", "category=vital-signs")
	assertClean(t, res)
	if strings.Count(res.stdout, "\n") != 3 { // the Bundle line, the header and one row
		t.Errorf("server text added or removed lines:\n%s", res.stdout)
	}
	res = r.want(0, "search", "Observation", "patient=Patient/1", "category=vital-signs", "--json")
	assertClean(t, res)
	assertJSONSafe(t, res.stdout)
}

// The token endpoint's text (token_type, scope) reaches pkb token's output
// clean, and the token itself only with --show-token.
func TestHostileTokenEndpoint(t *testing.T) {
	srv := hostilePKB(t, "Bearer"+terminalAttack)
	for _, ct := range []string{"system", "customer"} {
		r := newRunner(t, map[string]string{"PKB_BASE_URL": srv.URL, "PKB_CLIENT_TYPE": ct,
			"PKB_CLIENT_ID": "cli", "PKB_CLIENT_SECRET": hostileSecret, "PKB_ORG_ID": "org"})
		res := r.run("token")
		assertClean(t, res)
		res = r.run("token", "--json")
		assertClean(t, res)
		if res.code == 0 {
			assertJSONSafe(t, res.stdout)
		}
		for _, args := range [][]string{{"token", "--show-token"}, {"token", "--show-token", "--json"}} {
			res = r.run(args...)
			if res.code != 0 {
				continue // a client that refuses the token type is fine too
			}
			assertTerminalSafe(t, "stdout", res.stdout)
			if strings.Count(res.stdout, hostileToken) != 1 || strings.Contains(res.stderr, hostileToken) {
				t.Errorf("pkb %s: want the token once on stdout:\n%s", strings.Join(args, " "), res)
			}
		}
	}
}

// Malformed next links, next links to another host and unparseable
// Location headers are reported without quoting them: they carry
// identifiers.
func TestHostileURLsAreNotQuoted(t *testing.T) {
	r := hostileRunner(t)
	for _, args := range [][]string{
		{"search", "Observation", "patient=Patient/1", "category=vital-signs", "--all"},
		{"search", "Observation", "patient=Patient/1", "category=vital-signs", "--all", "--json"},
		{"search", "Encounter", "patient=Patient/1", "--all"},
		{"search", "Patient", "identifier=urn:example|1", "--all"},
		{"get", "Patient/redirect"},
		{"get", "Patient/redirect", "--json"},
	} {
		res := r.run(args...)
		if res.code == 0 {
			t.Errorf("pkb %s succeeded:\n%s", strings.Join(args, " "), res)
		}
		assertClean(t, res, hostileNHS, "%zz", "other.example/fhir")
		if !strings.Contains(res.stderr, "next link") && !strings.Contains(res.stderr, "Location") {
			t.Errorf("pkb %s: the message does not say what was wrong:\n%s", strings.Join(args, " "), res)
		}
	}
}

// The userinfo of PKB_BASE_URL (or --base-url) is never echoed, whether
// the URL parses or not.
func TestBaseURLPasswordNeverEchoed(t *testing.T) {
	const pass = "hunter2-base-password"
	for _, base := range []string{
		"https://alice:" + pass + "@127.0.0.1:1/",
		"http://alice:" + pass + "@pkb.example.com",
		"https://alice:" + pass + "@[::1%zz]:443/",
		"https://alice:" + strings.ReplaceAll(pass, "-", "%2D") + "@127.0.0.1:1",
		"ftp://alice:" + pass + "@127.0.0.1",
		"https://alice:" + pass + "@127.0.0.1/?q=1",
	} {
		env := map[string]string{"PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": "x", "PKB_CLIENT_SECRET": "y", "PKB_ORG_ID": "o"}
		for _, viaFlag := range []bool{false, true} {
			args := []string{"token"}
			if viaFlag {
				args = append(args, "--base-url", base)
			} else {
				env["PKB_BASE_URL"] = base
			}
			for _, extra := range [][]string{nil, {"--json"}} {
				res := newRunner(t, env).run(append(append([]string{}, args...), extra...)...)
				if res.code == 0 {
					t.Fatalf("%s accepted:\n%s", base, res)
				}
				for _, leak := range []string{pass, "%2D", "alice"} {
					if strings.Contains(res.stdout, leak) || strings.Contains(res.stderr, leak) {
						t.Errorf("base URL %q (flag %v): %q printed:\n%s", base, viaFlag, leak, res)
					}
				}
				if !strings.Contains(res.stderr, "base-url") && !strings.Contains(res.stderr, "PKB_BASE_URL") {
					t.Errorf("message does not name the setting:\n%s", res)
				}
			}
		}
	}
}
