package authn

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// tokenBodyLimit is how much of a token response x/oauth2 reads.
const tokenBodyLimit = 1 << 20

// normalizeTokenResponse reads the lifetime a successful token response
// grants and returns the body x/oauth2 should parse instead.
//
// x/oauth2 refuses a whole JSON token response whose expires_in is a
// fraction, a non-numeric string, a boolean or an object, or a number beyond
// int64; for a refresh, refusing the response loses the only copy of the new
// refresh token. So every member whose name matches expires_in the way
// encoding/json matches it (any case) is replaced by one integer
// "expires_in" holding the lenient reading, or dropped when the lifetime is
// unknown. Bodies that are not one JSON object, and form-encoded bodies
// (which x/oauth2 parses leniently), are returned unchanged.
func normalizeTokenResponse(contentType string, body []byte) ([]byte, time.Duration, bool) {
	if len(body) > tokenBodyLimit {
		return body, 0, false
	}
	// The same decision x/oauth2 makes between its two parsers.
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		vals, err := url.ParseQuery(string(body))
		if err != nil || !vals.Has("expires_in") {
			return body, 0, false
		}
		d, ok := lifetime(vals.Get("expires_in"))
		return body, d, ok
	}
	members, ok := objectMembers(body)
	if !ok {
		return body, 0, false
	}
	var (
		found bool
		last  json.RawMessage
	)
	for _, m := range members {
		if strings.EqualFold(m.name, "expires_in") {
			found, last = true, m.value
		}
	}
	if !found {
		return body, 0, false
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(last))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return body, 0, false
	}
	d, known := lifetime(v)

	var b bytes.Buffer
	b.Grow(len(body))
	b.WriteByte('{')
	for _, m := range members {
		if strings.EqualFold(m.name, "expires_in") {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(m.name)
		b.Write(name)
		b.WriteByte(':')
		b.Write(m.value)
	}
	if known {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`"expires_in":`)
		b.WriteString(strconv.FormatInt(int64(d/time.Second), 10))
	}
	b.WriteByte('}')
	return b.Bytes(), d, known
}

type member struct {
	name  string
	value json.RawMessage
}

// objectMembers returns the members of body in order if body is exactly
// one JSON object (as json.Unmarshal would accept it), duplicates included.
func objectMembers(body []byte) ([]member, bool) {
	if !json.Valid(body) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var ms []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, ok := t.(string)
		if !ok {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		ms = append(ms, member{name, v})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data: x/oauth2 refuses the body anyway
	}
	return ms, true
}

// withOrigin returns tok with its extra fields rebuilt from the response
// x/oauth2 parsed, the way x/oauth2 builds them, and OriginExtra set to
// origin (or removed when origin is empty). oauth2.Token cannot list its
// extras, so they are read again from the body.
func withOrigin(tok *oauth2.Token, cp *capture, origin string) *oauth2.Token {
	cp.mu.Lock()
	ct, body := cp.ct, cp.full
	cp.mu.Unlock()
	mt, _, _ := mime.ParseMediaType(ct)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		vals, _ := url.ParseQuery(string(body))
		if vals == nil {
			vals = url.Values{}
		}
		vals.Del(OriginExtra)
		if origin != "" {
			vals.Set(OriginExtra, origin)
		}
		return tok.WithExtra(vals)
	}
	m := map[string]any{}
	json.Unmarshal(body, &m) // no error check, as in x/oauth2: extras are optional
	delete(m, OriginExtra)
	if origin != "" {
		m[OriginExtra] = origin
	}
	return tok.WithExtra(m)
}

// responseTokens returns the token values a response body carries (under
// any spelling of the member names encoding/json would match), so that
// an error built from the rest of the response never quotes them.
func responseTokens(contentType string, body []byte) []string {
	isToken := func(name string) bool {
		return strings.EqualFold(name, "access_token") || strings.EqualFold(name, "refresh_token") || strings.EqualFold(name, "id_token")
	}
	var out []string
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		if vals, err := url.ParseQuery(string(body)); err == nil {
			for k, vs := range vals {
				if isToken(k) {
					out = append(out, vs...)
				}
			}
		}
	}
	if len(body) > tokenBodyLimit {
		return out
	}
	members, _ := objectMembers(body)
	for _, m := range members {
		var s string
		if isToken(m.name) && json.Unmarshal(m.value, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}
