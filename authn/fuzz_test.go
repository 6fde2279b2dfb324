package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// cannedTransport answers every request in-process with one response, so
// that fuzzing exercises the real path (net/http's client, this package's
// transport, x/oauth2's parsers, error mapping, rotation) without sockets.
type cannedTransport struct {
	status int
	header http.Header
	body   []byte
}

func (c cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode:    c.status,
		Status:        fmt.Sprintf("%d %s", c.status, http.StatusText(c.status)),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        c.header.Clone(),
		Body:          io.NopCloser(strings.NewReader(string(c.body))),
		ContentLength: int64(len(c.body)),
		Request:       req,
	}, nil
}

// Values the fuzzed client holds; seeds put them in bodies so that the
// fuzzer mutates echoes of them.
const (
	fuzzID     = "fz-client"
	fuzzSecret = "fzSecret-4e1d9a77"
	fuzzRT     = "fzRefresh-0b5c3e21"
	fuzzCode   = "fzCode-6d2a90f4"
)

// fuzzClients obtain one token through each token path, and return the
// secrets that path holds.
var fuzzClients = []func(ctx context.Context, env Environment, opts Options, store TokenStore) (*oauth2.Token, []string, error){
	func(ctx context.Context, env Environment, opts Options, _ TokenStore) (*oauth2.Token, []string, error) {
		c, err := NewSystemSource(SystemConfig{ClientID: fuzzID, ClientSecret: fuzzSecret, Environment: env, Options: opts})
		if err != nil {
			return nil, nil, err
		}
		tok, err := c.Token(ctx)
		return tok, []string{fuzzSecret}, err
	},
	func(ctx context.Context, env Environment, opts Options, _ TokenStore) (*oauth2.Token, []string, error) {
		c, err := NewCustomerSource(CustomerConfig{ClientID: fuzzID, ClientSecret: fuzzSecret, Environment: env, Options: opts})
		if err != nil {
			return nil, nil, err
		}
		tok, err := c.Token(ctx)
		return tok, []string{fuzzSecret}, err
	},
	func(ctx context.Context, env Environment, opts Options, store TokenStore) (*oauth2.Token, []string, error) {
		c, err := NewTetheredSource(TetheredConfig{ClientID: fuzzID, ClientSecret: fuzzSecret, RefreshToken: fuzzRT, Environment: env, Store: store, Options: opts})
		if err != nil {
			return nil, nil, err
		}
		tok, err := c.Token(ctx)
		return tok, []string{fuzzSecret, fuzzRT}, err
	},
	func(ctx context.Context, env Environment, opts Options, store TokenStore) (*oauth2.Token, []string, error) {
		c, err := NewUserSource(UserConfig{ClientID: fuzzID, ClientSecret: fuzzSecret, Environment: env, RedirectURL: "https://app.example/cb", Store: store, Options: opts})
		if err != nil {
			return nil, nil, err
		}
		_, p := c.AuthCodeURL()
		tok, err := c.Exchange(ctx, p, url.Values{"code": {fuzzCode}, "state": {p.State}})
		return tok, []string{fuzzSecret, fuzzCode, p.Verifier}, err
	},
}

// fuzzEnv points every URL at a loopback address nothing listens on: the
// canned transport answers before any dial.
var fuzzEnv = func() Environment {
	e := Sandbox
	e.UserAuthorizeURL = "http://127.0.0.1:9/authorize"
	e.UserTokenURL, e.SystemTokenURL, e.CustomerTokenURL = "http://127.0.0.1:9/token", "http://127.0.0.1:9/token", "http://127.0.0.1:9/token"
	return e
}()

// secretLooking is what a token in a response looks like: long, no
// spaces, letters and digits.
var secretLooking = regexp.MustCompile(`^[A-Za-z0-9._~+/=-]{8,}$`)

// responseSecrets returns the token values a response body carries, as
// the JSON or form parser reads them.
func responseSecrets(ct string, body []byte) []string {
	var out []string
	add := func(k string, v any) {
		s, ok := v.(string)
		if !ok {
			return
		}
		switch strings.ToLower(k) {
		case "access_token", "refresh_token", "id_token":
			if secretLooking.MatchString(s) && strings.ContainsAny(s, "0123456789") && strings.IndexFunc(s, isLetter) >= 0 {
				out = append(out, s)
			}
		}
	}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for k, v := range m {
			add(k, v)
		}
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		if vals, err := url.ParseQuery(string(body)); err == nil {
			for k, vs := range vals {
				for _, v := range vs {
					add(k, v)
				}
			}
		}
	}
	return out
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

// FuzzTokenResponse sends arbitrary token-endpoint answers through every
// client type. Properties: no panic; every failure is a *TokenError (or a
// store error) whose message holds none of the client's secrets in any
// common encoding and none of the tokens the response carried; every
// success has a sane expiry, and a rotating client saved what it handed
// out.
func FuzzTokenResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"access_token":"at-1","token_type":"Bearer","expires_in":600,"refresh_token":"rt-2","scope":"SITE"}`},
		{200, "application/json;charset=UTF-8", `{"access_token":"at-1","expires_in":"9300000000"}`},
		{200, "application/json", `{"access_token":"at-1","expires_in":1e400,"EXPIRES_IN":"x"}`},
		{200, "application/json", `{"access_token":"at-1","expires_in":-1,"pkbgo_origin":"v1:00"}`},
		{200, "application/x-www-form-urlencoded", `access_token=at-1&expires_in=99999999999999999999&refresh_token=rt-2`},
		{200, "text/plain", `access_token=at-1&expires_in=1.5`},
		{400, "application/json", `{"error":"invalid_grant","error_description":"API_SESSION_INVALID refresh_token=` + fuzzRT + ` secret ` + fuzzSecret + `"}`},
		{401, "application/json", `{"error":"invalid_client","error_description":"Basic ` + base64.StdEncoding.EncodeToString([]byte(fuzzID+":"+fuzzSecret)) + `"}`},
		{200, "application/json", `{"error":"ab12cd34ef","access_token":"ab12cd34ef"}`},
		{200, "text/html", `<html><body>Login ` + url.QueryEscape(fuzzSecret) + ` code=` + fuzzCode + `</body></html>`},
		{502, "text/html; charset=\x1b[31m", `<h1>Bad Gateway</h1>` + strings.Repeat("x", 5000) + fuzzSecret},
		{307, "application/json", `{"access_token":"at-evil"}`},
		{200, "", ``},
		{200, "application/json", `{"access_token":"at-1"} trailing`},
		{200, "application/json", `[{"access_token":"at-1"}]`},
	} {
		for which := range fuzzClients {
			f.Add(s.status, s.ct, []byte(s.body), uint8(which))
		}
	}
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte, which uint8) {
		if status < 100 || status > 999 {
			status = 100 + int(uint(status)%900)
		}
		if len(body) > 64<<10 || len(ct) > 256 {
			t.Skip()
		}
		hdr := http.Header{}
		if ct != "" {
			hdr.Set("Content-Type", ct)
		}
		clock := newFakeClock()
		start := clock.Now()
		opts := Options{Now: clock.Now, HTTPClient: &http.Client{Transport: cannedTransport{status, hdr, body}, Timeout: 10 * time.Second}}
		store := &recordingStore{TokenStore: NewMemoryStore(nil)}
		tok, held, err := fuzzClients[int(which)%len(fuzzClients)](context.Background(), fuzzEnv, opts, store)
		if err != nil {
			var te *TokenError
			var pe *PersistError
			if !errors.As(err, &te) && !errors.As(err, &pe) && !errors.Is(err, ErrReauthorize) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			msg := err.Error()
			for _, s := range append(encodedForms(held...), responseSecrets(ct, body)...) {
				if strings.Contains(msg, s) {
					t.Fatalf("error message holds %q: %s", s, msg)
				}
			}
			if !utf8.ValidString(msg) || strings.ContainsAny(msg, "\x1b\r\n\x00") {
				t.Fatalf("error message is not one clean line: %q", msg)
			}
			return
		}
		if tok == nil || tok.AccessToken == "" {
			t.Fatalf("success without an access token: %+v", tok)
		}
		if !tok.Expiry.IsZero() && (!tok.Expiry.After(start) || tok.Expiry.Sub(start) > maxTokenLifetime) {
			t.Fatalf("expiry %v is not in (start, start+%v]", tok.Expiry, maxTokenLifetime)
		}
		if tok.ExpiresIn < 0 || tok.ExpiresIn > int64(maxTokenLifetime/time.Second) {
			t.Fatalf("ExpiresIn = %d", tok.ExpiresIn)
		}
		if which%uint8(len(fuzzClients)) >= 2 {
			saves := store.saved()
			if len(saves) != 1 || saves[0].AccessToken != tok.AccessToken {
				t.Fatalf("handed out %q, saved %+v", tok.AccessToken, saves)
			}
		}
	})
}

// encodedForms lists secrets as a careless message would spell them.
func encodedForms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s), html.EscapeString(s),
			base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)))
	}
	out = append(out, base64.StdEncoding.EncodeToString([]byte(fuzzID+":"+fuzzSecret)))
	return out
}

// echoEncodings are the ways servers have been seen echoing what they were
// sent, in a fixed order so that a corpus entry keeps its meaning.
var echoEncodings = []func(string) string{
	func(s string) string { return s },
	url.QueryEscape,
	func(s string) string { return strings.ToLower(url.QueryEscape(s)) },
	url.PathEscape,
	func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") },
	func(s string) string { b, _ := json.Marshal(s); return string(b[1 : len(b)-1]) },
	func(s string) string {
		var b strings.Builder
		for _, c := range s {
			fmt.Fprintf(&b, `\u%04x`, c)
		}
		return b.String()
	},
	html.EscapeString,
	func(s string) string {
		var b strings.Builder
		for _, c := range s {
			fmt.Fprintf(&b, "&#%d;", c)
		}
		return b.String()
	},
	func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
	func(s string) string {
		return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(fuzzID) + ":" + url.QueryEscape(s)))
	},
}

// echoShapes wrap an echo in the kinds of response a token endpoint or a
// proxy in front of it sends.
var echoShapes = []struct {
	status int
	ct     string
	body   func(echo string) string
}{
	{400, "application/json", func(e string) string {
		b, _ := json.Marshal(map[string]string{"error": "invalid_grant", "error_description": e})
		return string(b)
	}},
	{400, "application/json", func(e string) string { return `{"error":"` + e + `"}` }},
	{401, "application/json", func(e string) string { return `{"error":"unauthorized","error_description":"` + e + `"}` }},
	{502, "text/html", func(e string) string { return "<html><body><h1>Bad Gateway</h1><p>" + e + "</p></body></html>" }},
	{404, "text/plain", func(e string) string { return "no such page " + e }},
	{200, "application/json", func(e string) string { return `{"note":"` + e + `"}` }},
	{200, "text/html; charset=utf-8", func(e string) string { return "<p>Please sign in</p><!-- " + e + " -->" + e }},
	{400, "application/x-www-form-urlencoded", func(e string) string { return "error=invalid_request&error_description=" + e }},
	{503, "application/json", func(e string) string { return "<html>" + e + "</html>" }},
}

// FuzzEchoedSecret is the redactor's property as authn uses it: a secret
// the client sent (its client secret, or the refresh token it redeemed),
// echoed by the server in any encoding inside any kind of error response,
// never survives into the error, in any decoding of the message.
func FuzzEchoedSecret(f *testing.F) {
	f.Add("s3cr3t+Value/With Space&Co=1", "before ", " after", uint8(0), uint8(0), false)
	f.Add("0123456789abcdef", `{"a":"`, `"}`, uint8(5), uint8(1), true)
	f.Add("ünïcødé-sécret-42", "<p>", "</p>", uint8(8), uint8(3), false)
	f.Add("abc&def<ghi>99", "x=", "&y=1", uint8(7), uint8(6), true)
	f.Add("Zm9vYmFy-secret-1", "Basic ", "", uint8(11), uint8(2), false)
	f.Add("tok%41en-123456", "", "", uint8(2), uint8(4), true)
	f.Fuzz(func(t *testing.T, secret, before, after string, enc, shape uint8, asRefreshToken bool) {
		// Real secrets are printable, without spaces at either end, and
		// short; callers and servers bound the text around them.
		if len(secret) < 8 || len(secret) > 128 || len(before)+len(after) > 4096 ||
			!utf8.ValidString(secret) || strings.TrimSpace(secret) != secret || strings.ContainsFunc(secret, isControl) ||
			!strings.ContainsAny(secret, "0123456789") {
			t.Skip()
		}
		sh := echoShapes[int(shape)%len(echoShapes)]
		echo := before + echoEncodings[int(enc)%len(echoEncodings)](secret) + after
		hdr := http.Header{"Content-Type": {sh.ct}}
		opts := Options{HTTPClient: &http.Client{Transport: cannedTransport{sh.status, hdr, []byte(sh.body(echo))}}}
		var err error
		if asRefreshToken {
			c, cerr := NewTetheredSource(TetheredConfig{ClientID: fuzzID, ClientSecret: fuzzSecret, RefreshToken: secret, Environment: fuzzEnv, Options: opts})
			if cerr != nil {
				t.Fatal(cerr)
			}
			_, err = c.Token(context.Background())
		} else {
			c, cerr := NewSystemSource(SystemConfig{ClientID: fuzzID, ClientSecret: secret, Environment: fuzzEnv, Options: opts})
			if cerr != nil {
				t.Fatal(cerr)
			}
			_, err = c.Token(context.Background())
		}
		if err == nil {
			t.Fatalf("an error response was accepted: %s", sh.body(echo))
		}
		msg := err.Error()
		for _, dec := range []func(string) string{
			func(s string) string { return s },
			func(s string) string { u, _ := url.QueryUnescape(s); return u },
			func(s string) string { u, _ := url.PathUnescape(s); return u },
			html.UnescapeString,
		} {
			if strings.Contains(dec(msg), secret) {
				t.Fatalf("secret %q survived in %q\nbody: %q", secret, msg, sh.body(echo))
			}
		}
	})
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
