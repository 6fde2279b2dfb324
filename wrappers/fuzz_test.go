package wrappers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/pkbgo/pkb/gen/access"
)

// fuzzDoers are one doer per family (in a fixed order, so corpus entries
// keep their meaning: 0 facade and 1 messaging as a System Client; 2
// aggregated, 3 customer-r4 and 4 customer-stu3 as a Customer System
// Client; 5 facade and 6 restapi as a PATIENT user), on a transport that must never be
// used: resolving a request and building a next link's request do no I/O.
func fuzzDoers(f *testing.F) []*Family {
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		panic("network call to " + r.URL.String())
	})
	var out []*Family
	for _, p := range []principal{principals[0], principals[1], principals[2]} {
		byFamily := buildDoers(f, p, &fakeSource{ct: p.ct, scopes: p.scopes}, rt)
		for _, fam := range slices.Sorted(maps.Keys(byFamily)) {
			out = append(out, byFamily[fam])
		}
	}
	if len(out) != 7 {
		f.Fatalf("%d doers, want one per family of three client types", len(out))
	}
	return out
}

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}

// FuzzRoute sends arbitrary paths through a family's resolve. Property:
// whatever it accepts as an operation, every way a server might normalise
// the path (oracle below, written without the matcher's code) still
// stays under the base path and matches that operation's template.
func FuzzRoute(f *testing.F) {
	for _, p := range []string{
		"/Patient/p1", "/Patient/$status-query", "/Patient/..%2F..%2Fjson", "/Patient/%2e%2e", "/Patient/..;",
		"/Patient/1;jsessionid=x", "/Patient/", "//Patient/1", "/Patient/a%5Cb", "/Patient/%252e%252e",
		"/Patient/_history", "/Observation", "/$purview", "/Patient/p1/$date-of-last-data-point",
		"/v2-beta/measurements/apiRefs", "/v2-beta/measurements/7329844", "/Patient/1/_history/2", "/", "",
		"/users/self", "/beta/users/byNationalId/9434765919/NHS_NUMBER", "/Patient/%C0%AE", "/Patient/.%2e/x",
	} {
		for i := range 3 {
			f.Add(uint8(i), uint8(0), p)
		}
	}
	doers := fuzzDoers(f)
	f.Fuzz(func(t *testing.T, family, method uint8, rel string) {
		d := doers[int(family)%len(doers)]
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		u, err := url.Parse(d.ep.base.String() + rel)
		if err != nil {
			return
		}
		req := &http.Request{Method: m, URL: u, Header: http.Header{}}
		op, err := d.resolve(req)
		if err != nil {
			return
		}
		checkAccepted(t, d, m, u, op)
	})
}

// FuzzNextLink resolves arbitrary next links against a family's base URL.
// Property: a link accepted is the same scheme, host and base path, with
// no user information, and its path matches the operation it resolved to
// in every server normalisation (or is the service base, for HAPI-style
// paging links).
func FuzzNextLink(f *testing.F) {
	for _, l := range []string{
		"Observation?patient=p1&page=2", "https://sandbox.patientsknowbest.com/fhir/Observation?page=2",
		"https://evil.example.org/fhir/Observation", "//evil.example.org/fhir/Observation", "../json/users/self",
		"Patient/..%2F..%2Fjson%2Fusers%2Fself", "Patient/$status-query", "?_getpages=abc", "/fhir?_getpages=abc",
		"https://user:pw@sandbox.patientsknowbest.com/fhir/Patient", "Patient;x=1", "Patient/1%3B", "%2e%2e/json",
		"https://acme.fhir-api.sandbox.patientsknowbest.com/Observation?page=2", "HTTPS://SANDBOX.patientsknowbest.com/fhir/Patient",
		"https://sandbox.patientsknowbest.com:443/fhir/Patient", "https://sandbox.patientsknowbest.com/fhir//?x", "\\\\evil/x",
	} {
		for i := range 3 {
			f.Add(uint8(i), l)
		}
	}
	doers := fuzzDoers(f)
	f.Fuzz(func(t *testing.T, family uint8, link string) {
		d := doers[int(family)%len(doers)]
		req, op, err := d.nextRequest(context.Background(), link)
		if err != nil {
			for _, id := range []string{"9434765919"} {
				if strings.Contains(link, id) && strings.Contains(err.Error(), id) {
					t.Fatalf("the error quotes the link: %v", err)
				}
			}
			return
		}
		if op.ID == "page" {
			rel := strings.TrimPrefix(req.URL.EscapedPath(), d.ep.base.EscapedPath())
			if !strings.EqualFold(req.URL.Scheme, d.ep.base.Scheme) || !strings.EqualFold(req.URL.Host, d.ep.base.Host) ||
				req.URL.User != nil || (rel != "" && rel != "/") || !strings.HasPrefix(req.URL.EscapedPath(), d.ep.base.EscapedPath()) {
				t.Fatalf("paging link %q accepted as %s", link, req.URL)
			}
			return
		}
		checkAccepted(t, d, http.MethodGet, req.URL, op)
	})
}

// checkAccepted is the oracle: u, accepted as op for method by d, must be
// d's scheme, host and base path, carry no user information or opaque
// part, and every server normalisation of its path must match op's template.
func checkAccepted(t *testing.T, d *Family, method string, u *url.URL, op access.Operation) {
	t.Helper()
	if op.Method != method || op.Family != d.ep.family {
		t.Fatalf("%s %s accepted as %s %s of %s", method, u, op.Method, op.ID, op.Family)
	}
	if !strings.EqualFold(u.Scheme, d.ep.base.Scheme) || !strings.EqualFold(u.Host, d.ep.base.Host) || u.User != nil || u.Opaque != "" {
		t.Fatalf("%s accepted for base %s", u, d.ep.base)
	}
	wire := u.EscapedPath() // what net/http sends
	basePath := d.ep.base.EscapedPath()
	rel, ok := strings.CutPrefix(wire, basePath)
	if !ok || (rel != "" && rel[0] != '/') {
		t.Fatalf("%s accepted outside the base path %s", wire, basePath)
	}
	tpl := splitTemplate(op.Path)
	for name, norm := range serverNormalisations {
		segs, err := norm(rel)
		if errors.Is(err, errAboveBase) {
			t.Fatalf("%s %s accepted as %s (%s), but a %s server reads a path above the base path", method, wire, op.ID, op.Path, name)
		}
		if err != nil {
			continue // that server refuses the path: nothing is run
		}
		if !templateMatches(tpl, segs) {
			t.Fatalf("%s %s accepted as %s (%s), but a %s server reads %q", method, wire, op.ID, op.Path, name, "/"+strings.Join(segs, "/"))
		}
	}
}

func splitTemplate(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// templateMatches: literal segments equal, parameter segments non-empty
// and not something a FHIR server routes on its own ($operation,
// _keyword, a dot segment).
func templateMatches(tpl, segs []string) bool {
	if len(tpl) != len(segs) {
		return false
	}
	for i, s := range segs {
		if strings.HasPrefix(tpl[i], "{") {
			if s == "" || s == "." || s == ".." || strings.HasPrefix(s, "$") || strings.HasPrefix(s, "_") {
				return false
			}
		} else if s != tpl[i] {
			return false
		}
	}
	return true
}

// strictUnescape is an RFC 3986 percent-decoding: "%" and two hex digits.
func strictUnescape(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

var (
	errAboveBase = errors.New("above the base path")
	errRefused   = errors.New("refused")
)

// resolveDots merges empty segments and resolves "." and ".." as a server
// normalising the decoded path would; errAboveBase if ".." climbs out of
// the base path, where the server would serve another family or page.
func resolveDots(path string) ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(path, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(out) == 0 {
				return nil, errAboveBase
			}
			out = out[:len(out)-1]
		default:
			out = append(out, s)
		}
	}
	return out, nil
}

// decoded is strictUnescape for the normalisations: an invalid escape is
// refused by the server.
func decoded(s string) (string, error) {
	d, ok := strictUnescape(s)
	if !ok {
		return "", errRefused
	}
	return d, nil
}

// serverNormalisations are the ways servers and proxies in front of them
// have been seen to read a path, each from the escaped path relative to
// the base URL to the segments they route on.
var serverNormalisations = map[string]func(rel string) ([]string, error){
	// A strict server: split, then decode each segment; keeps empty ones.
	"strict": func(rel string) ([]string, error) {
		rel = strings.TrimPrefix(rel, "/")
		if rel == "" {
			return nil, nil
		}
		var out []string
		for s := range strings.SplitSeq(rel, "/") {
			d, err := decoded(s)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	},
	// nginx and many proxies: decode the whole path (%2F included), merge
	// slashes, resolve dot segments.
	"decoding proxy": func(rel string) ([]string, error) {
		d, err := decoded(rel)
		if err != nil {
			return nil, err
		}
		return resolveDots(d)
	},
	// A second decoding, as a proxy and a server behind it might do.
	"double-decoding": func(rel string) ([]string, error) {
		d, err := decoded(rel)
		if err == nil {
			d, err = decoded(d)
		}
		if err != nil {
			return nil, err
		}
		return resolveDots(d)
	},
	// Tomcat and Spring: path parameters (";...") removed from each
	// segment before decoding and routing; an encoded slash allowed.
	"Tomcat": func(rel string) ([]string, error) {
		var parts []string
		for s := range strings.SplitSeq(rel, "/") {
			s, _, _ = strings.Cut(s, ";")
			d, err := decoded(s)
			if err != nil {
				return nil, err
			}
			parts = append(parts, d)
		}
		return resolveDots(strings.Join(parts, "/"))
	},
	// IIS and Windows file systems: backslash is a separator, trailing
	// dots and spaces go.
	"Windows": func(rel string) ([]string, error) {
		d, err := decoded(rel)
		if err != nil {
			return nil, err
		}
		var parts []string
		for s := range strings.SplitSeq(strings.ReplaceAll(d, "\\", "/"), "/") {
			switch t := strings.TrimRight(s, ". "); {
			case t != "" || s == "":
				parts = append(parts, t)
			case strings.Count(s, ".") >= 2: // "...", ".. " read as ".."
				parts = append(parts, "..")
			default:
				parts = append(parts, ".")
			}
		}
		return resolveDots(strings.Join(parts, "/"))
	},
	// Spring before 6 and many frameworks: a trailing slash is ignored.
	"trailing-slash-tolerant": func(rel string) ([]string, error) {
		d, err := decoded(strings.TrimSuffix(rel, "/"))
		if err != nil {
			return nil, err
		}
		return resolveDots(d)
	},
}

// FuzzAPIError builds APIErrors from hostile responses: the body, media
// type and challenge are fuzzed, with the bearer token and identifiers
// spliced in where the input says TOKEN, NHS or NAME. Property: Error()
// (and so %v and logs) holds none of them and no control character, and
// the Body and WWWAuthenticate fields hold no raw token, no control
// character, and are bounded.
func FuzzAPIError(f *testing.F) {
	oo := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"NHS NAME TOKEN","details":{"text":"NAME","coding":[{"system":"` + ResponseCodeSystem + `","code":"NHS","display":"TOKEN"}]}}]}`
	for _, s := range []struct {
		status      uint16
		ct, body, h string
	}{
		{401, "application/fhir+json", oo, `Bearer error="invalid_token", error_description="TOKEN NHS"`},
		{403, "application/fhir+json;charset=UTF-8", strings.Replace(oo, `"code":"NHS"`, `"code":"USER_TYPE_NOT_PERM"`, 1), ""},
		{404, "application/json", `{"code":"NHS","message":"NAME TOKEN"}`, ""},
		{502, "text/html", "<html><h1>NAME</h1><p>Bearer TOKEN</p>\x1b[31mNHS<script>TOKEN</script></html>", "Basic realm=NAME"},
		{200, "text/plain", "TOKEN\r\nNHS\x00NAME\u202e", ""},
		{200, "", "NHS", ""},
		{302, "", "", ""},
		{500, "application/problem+json", `{"detail":"NHS","token":"TOKEN"}`, "TOKEN"},
	} {
		f.Add(s.status, s.ct, s.body, s.h)
	}
	const token = "tok-SECRET-0123456789-fuzz"
	ids := map[string]string{"TOKEN": token, "NHS": "9434765919", "NAME": "Zwanenburg"}
	op := access.Operation{Family: access.FamilyFacade, ID: "readPatient", Method: http.MethodGet, Path: "/Patient/{id}"}
	f.Fuzz(func(t *testing.T, status uint16, ct, body, challenge string) {
		for k, v := range ids {
			body = strings.ReplaceAll(body, k, v)
			challenge = strings.ReplaceAll(challenge, k, v)
			ct = strings.ReplaceAll(ct, k, v)
		}
		resp := &http.Response{StatusCode: int(status%600) + 1, Header: http.Header{
			"Content-Type": {ct}, "Www-Authenticate": {challenge}, "Retry-After": {challenge}, "X-Request-Id": {ct},
		}, Body: io.NopCloser(strings.NewReader(body))}
		e := newAPIError(resp, http.MethodGet, op, token)
		for what, s := range map[string]string{"Error()": e.Error(), "%+v": fmt.Sprintf("%+v", error(e)), "log class": errorClass(e)} {
			for _, v := range ids {
				if strings.Contains(s, v) {
					t.Fatalf("%s holds %q: %q", what, v, s)
				}
			}
			if strings.ContainsFunc(s, unicode.IsControl) {
				t.Fatalf("%s holds a control character: %q", what, s)
			}
		}
		for what, s := range map[string]string{"Body": e.Body, "WWWAuthenticate": e.WWWAuthenticate, "RequestID": e.RequestID} {
			if strings.Contains(s, token) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) || len(s) > excerptLimit+8 {
				t.Fatalf("%s field: %q", what, s)
			}
		}
		if e.RetryAfter < 0 {
			t.Fatalf("RetryAfter %v from %q", e.RetryAfter, challenge)
		}
		if e.Outcome != nil {
			for _, is := range e.Outcome.Issues {
				if strings.Contains(is.Diagnostics, token) || strings.Contains(is.Details.Text, token) {
					t.Fatalf("the outcome keeps the token: %+v", is)
				}
			}
		}
	})
}

// FuzzValueCounter compares the streaming value counter with a count made
// by decoding: for valid JSON, objects plus array elements, however the
// text is cut into reads. An undercount would let a body past the budget.
func FuzzValueCounter(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `[1,[2,{"a":[]}],"x"]`, `{"s":"[{\"}]"}`, `["\\\\",{}]`, " [ null ,\t{ } ] "} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, s string, step uint8) {
		if !json.Valid([]byte(s)) {
			return
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return
		}
		want := referenceCount(v)
		c := &valueCounter{budget: 1 << 62}
		n := max(int(step), 1)
		for i := 0; i < len(s); i += n {
			if err := c.scan([]byte(s[i:min(i+n, len(s))])); err != nil {
				if bytes.Count([]byte(s), []byte("[")) < maxDepth {
					t.Fatal(err)
				}
				return
			}
		}
		if c.n != want {
			t.Fatalf("%q: counted %d, want %d", s, c.n, want)
		}
	})
}

func referenceCount(v any) int64 {
	switch v := v.(type) {
	case map[string]any:
		n := int64(1)
		for _, x := range v {
			n += referenceCount(x)
		}
		return n
	case []any:
		n := int64(len(v))
		for _, x := range v {
			n += referenceCount(x)
		}
		return n
	}
	return 0
}
