// Package redact removes secrets from text that came from a server, a token
// store or a caller before the text reaches an error message, a log or a
// terminal.
//
// Two kinds of secret are removed. Known secrets (a client secret, the
// access and refresh tokens of the request that failed) are removed in every
// encoding a server may echo them in: raw, percent-encoded with upper- or
// lower-case hex, with spaces as + or %20, JSON \u escapes, HTML character
// references, any mix of those, and Base64 (alone or inside HTTP Basic
// credentials). Unknown secrets are removed by shape: values of token-like
// keys, Bearer and Basic credentials, JWTs and long opaque letter-and-digit
// runs. Host names, URL paths and PKB's upper-case response codes are kept,
// so a network error still says which host failed.
//
// A *Redactor is immutable and safe for concurrent use; the nil *Redactor
// knows no secrets and removes secrets by shape only.
package redact

import (
	"encoding/base64"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Marker replaces every secret removed.
const Marker = "[REDACTED]"

// minSecret is the shortest known secret that is redacted: replacing two or
// three letters everywhere would mangle ordinary text and protects nothing.
const minSecret = 4

// minPartial is the shortest tail (or head) of a known secret that counts
// as the secret cut in two by a caller's truncation.
const minPartial = 6

// Redactor removes a fixed set of known secrets and anything secret-shaped.
type Redactor struct {
	// forms holds every literal encoding of every known secret (raw,
	// Base64), longest first, for the cut-off checks at the text's edges.
	forms []string
	// known matches the known secrets in any mix of per-character
	// encodings, and their Base64 forms. It is compiled on first use:
	// token sources build a Redactor per request, and only failed
	// requests need one.
	once  sync.Once
	known *regexp.Regexp
}

// New returns a Redactor for the given secrets. Empty and very short values
// are ignored.
func New(secrets ...string) *Redactor {
	return (*Redactor)(nil).With(secrets...)
}

// With returns a Redactor that also removes secrets.
func (r *Redactor) With(secrets ...string) *Redactor {
	var forms []string
	if r != nil {
		forms = slices.Clone(r.forms)
	}
	for _, s := range secrets {
		if len(s) < minSecret {
			continue
		}
		forms = append(forms, s,
			base64.StdEncoding.EncodeToString([]byte(s)),
			base64.RawStdEncoding.EncodeToString([]byte(s)),
			base64.URLEncoding.EncodeToString([]byte(s)),
			base64.RawURLEncoding.EncodeToString([]byte(s)),
		)
	}
	return build(forms)
}

// WithBasic returns a Redactor that also removes the client secret and the
// HTTP Basic credentials built from id and secret, in both the RFC 6749
// form (form-encoded parts, as x/oauth2 sends them) and the plain form.
func (r *Redactor) WithBasic(id, secret string) *Redactor {
	if secret == "" {
		return r.With()
	}
	out := r.With(secret)
	forms := slices.Clone(out.forms)
	for _, cred := range []string{url.QueryEscape(id) + ":" + url.QueryEscape(secret), id + ":" + secret} {
		forms = append(forms, base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	return build(forms)
}

func build(forms []string) *Redactor {
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	forms = slices.Compact(forms)
	return &Redactor{forms: forms}
}

// matcher returns the compiled pattern of the known secrets, or nil.
func (r *Redactor) matcher() *regexp.Regexp {
	r.once.Do(func() {
		if len(r.forms) == 0 {
			return
		}
		alts := make([]string, len(r.forms))
		for i, f := range r.forms {
			alts[i] = anyEncoding(f)
		}
		r.known = regexp.MustCompile(strings.Join(alts, "|"))
	})
	return r.known
}

// anyEncoding is a pattern matching s with each character written raw or
// in any encoding a server might echo it in.
func anyEncoding(s string) string {
	var b strings.Builder
	for _, c := range s {
		b.WriteString("(?:")
		b.WriteString(regexp.QuoteMeta(string(c)))
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], c)
		// percent-encoding of each UTF-8 byte, either case of hex
		b.WriteString("|")
		for _, x := range buf[:n] {
			fmt.Fprintf(&b, "%%(?i:%02x)", x)
		}
		if c == ' ' {
			b.WriteString(`|\+`)
		}
		// JSON \u escape and HTML character references
		fmt.Fprintf(&b, `|\\u(?i:%04x)|&#0*%d;|&#(?i:x)0*(?i:%x);`, c, c, c)
		switch c {
		case '&':
			b.WriteString("|&amp;")
		case '<':
			b.WriteString("|&lt;")
		case '>':
			b.WriteString("|&gt;")
		case '"':
			b.WriteString(`|&quot;|\\"`)
		case '\'':
			b.WriteString("|&apos;")
		case '/':
			b.WriteString(`|\\/`)
		case '\\':
			b.WriteString(`|\\\\`)
		}
		b.WriteString(")")
	}
	return b.String()
}

var (
	// Values of keys that name a credential, in query strings, form
	// bodies, JSON and headers. "code" counts only as a query or form key:
	// as a JSON key it is an OperationOutcome issue code.
	sensitiveKV = regexp.MustCompile(`(?i)(\b(?:access|refresh|id)[_-]?token|\bclient[_-]?secret|\bcode[_-]?verifier|\bsecret|\bpassword|\bpasswd|\bassertion|\bauthorization|\bapi[_-]?key|\bbreaktheglass|[?&]code)(["']?\s*[:=]\s*["']?)(?:(?:basic|bearer)\s+)?[^"'&\s,;}<]+`)
	authScheme  = regexp.MustCompile(`(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}`)
	jwtLike     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?`)
	// Opaque runs exclude dots and colons, so host names and URLs survive
	// as separate short words.
	opaqueRun = regexp.MustCompile(`[A-Za-z0-9_~+/=-]{20,}`)
)

// Known returns s with every known secret (in any encoding) replaced by
// Marker, and nothing else changed: for data a user asked to see, such as a
// FHIR resource printed by the CLI, where identifiers are the point and
// removing secret-shaped text would blank every resource id.
func (r *Redactor) Known(s string) string {
	if r == nil || len(r.forms) == 0 {
		return s
	}
	// The pattern is slow (about 1 MB/s), and the CLI runs every line it
	// prints through here. Without a character that starts an encoding, a
	// match can only be a form written literally, which strings.Contains
	// finds far faster.
	if !strings.ContainsAny(s, encodingStarts) && !slices.ContainsFunc(r.forms, func(f string) bool { return strings.Contains(s, f) }) {
		return r.edges(s)
	}
	return r.knownByPattern(s)
}

// encodingStarts are the characters anyEncoding's non-literal alternatives
// begin with: percent-encoding, JSON escapes, HTML references, "+" for space.
const encodingStarts = `%\&+`

// knownByPattern is Known without the fast path.
func (r *Redactor) knownByPattern(s string) string {
	if known := r.matcher(); known != nil {
		s = r.edges(known.ReplaceAllString(s, Marker))
	}
	return s
}

// String returns s with every known secret (in any encoding) and anything
// secret-shaped replaced by Marker. It does not shorten s or remove
// control characters; see Line for text bound for one line of output.
func (r *Redactor) String(s string) string {
	s = r.Known(s)
	s = sensitiveKV.ReplaceAllString(s, "${1}${2}"+Marker)
	s = authScheme.ReplaceAllString(s, "${1}${2}"+Marker)
	s = jwtLike.ReplaceAllString(s, Marker)
	return opaqueRun.ReplaceAllStringFunc(s, func(w string) string {
		if opaque(w) {
			return Marker
		}
		return w
	})
}

// opaque reports whether a long run looks like a token or key rather than
// a path or a word: it mixes letters and digits and is not a path whose
// segments are ordinary words.
func opaque(w string) bool {
	if !strings.ContainsAny(w, "0123456789") || strings.IndexFunc(w, unicode.IsLetter) < 0 {
		return false
	}
	if strings.Contains(w, "/") {
		for seg := range strings.SplitSeq(w, "/") {
			if len(seg) >= 16 && opaque(seg) {
				return true
			}
		}
		return false
	}
	return true
}

// edges removes the head or tail of a known secret left at either end of s
// when a caller cut the text it read in the middle of the secret.
func (r *Redactor) edges(s string) string {
	for _, f := range r.forms {
		for k := len(f) - 1; k >= minPartial; k-- {
			if strings.HasSuffix(s, f[:k]) {
				s = s[:len(s)-k] + Marker
				break
			}
		}
		for k := len(f) - 1; k >= minPartial; k-- {
			if strings.HasPrefix(s, f[len(f)-k:]) {
				s = Marker + s[k:]
				break
			}
		}
	}
	return s
}

// Line returns s redacted, with control characters and escape sequences
// removed, whitespace folded to single spaces, and cut to at most max
// bytes (an ellipsis marks a cut). max <= 0 means no limit.
func (r *Redactor) Line(s string, max int) string {
	// Remove controls and fold space first: dropping a character can join
	// the two halves of a secret that String would otherwise not see.
	s = strings.Join(strings.Fields(StripControls(s)), " ")
	return cut(r.String(s), max)
}

var htmlTag = regexp.MustCompile(`(?is)<(script|style)\b.*?</(?:script|style)\s*>|<!--.*?-->|<[^>]*>`)

// Excerpt returns the visible text of a response body (tags, scripts and
// comments of an HTML page removed, character references decoded) as one
// redacted line of at most max bytes. The whole body is redacted before it
// is cut, so a secret straddling the cut does not survive in part.
func (r *Redactor) Excerpt(body []byte, max int) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	// Redact before and after decoding: a secret may be written with
	// character references, or be split by a tag.
	s = r.String(s)
	s = html.UnescapeString(htmlTag.ReplaceAllString(s, " "))
	return r.Line(s, max)
}

func cut(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	const ellipsis = "…"
	n := max - len(ellipsis)
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// StripControls removes terminal escape sequences (CSI, OSC, and other ESC
// sequences), C0 and C1 control characters except newline and tab, DEL,
// and the Unicode bidirectional controls that can make text read
// differently from what it is. Invalid UTF-8 becomes U+FFFD.
func StripControls(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == 0x1b || c == 0x9b || c == 0x9d || c == 0x90 || c == 0x9e || c == 0x9f:
			i += escapeLen(s[i:])
			continue
		case c == '\n' || c == '\t':
			b.WriteRune(c)
		case unicode.IsControl(c), bidi(c):
			// dropped
		default:
			b.WriteRune(c)
		}
		i += size
	}
	return b.String()
}

func bidi(c rune) bool {
	return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f || c == 0x061c
}

// escapeLen returns the length of the escape sequence at the start of s,
// which starts with ESC or a C1 introducer: the whole of a CSI or a
// string-type sequence (OSC, DCS, PM, APC) up to its terminator, or ESC
// and the one character after it.
func escapeLen(s string) int {
	c, n := utf8.DecodeRuneInString(s)
	kind := c
	if c == 0x1b {
		if len(s) < 2 {
			return n
		}
		switch s[1] {
		case '[':
			kind = 0x9b
		case ']':
			kind = 0x9d
		case 'P':
			kind = 0x90
		case '^':
			kind = 0x9e
		case '_':
			kind = 0x9f
		default:
			_, m := utf8.DecodeRuneInString(s[1:])
			return 1 + m
		}
		n = 2
	}
	rest := s[n:]
	if kind == 0x9b { // CSI: parameter and intermediate bytes, then a final byte
		for i := 0; i < len(rest); i++ {
			switch c := rest[i]; {
			case c >= 0x40 && c <= 0x7e:
				return n + i + 1
			case c < 0x20 || c > 0x7e:
				return n + i // malformed: drop what was read
			}
		}
		return len(s)
	}
	// string-type: up to BEL, ESC \ or ST (U+009C)
	for i := 0; i < len(rest); i++ {
		switch {
		case rest[i] == 0x07:
			return n + i + 1
		case rest[i] == 0x1b && i+1 < len(rest) && rest[i+1] == '\\':
			return n + i + 2
		case strings.HasPrefix(rest[i:], "\u009c"):
			return n + i + len("\u009c")
		}
	}
	return len(s)
}
