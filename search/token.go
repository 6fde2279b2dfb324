package search

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pkbgo/pkb/nationalid"
)

// NHSNumberSystem is the identifier system of NHS numbers, the only system
// PKB's Facade Patient search supports. It is [nationalid.NHSNumber] as a
// string; the other national systems are the constants of package
// nationalid, used with [NationalID].
const NHSNumberSystem = string(nationalid.NHSNumber)

// escape applies FHIR search escaping: "\" before "\", ",", "$" and "|", so a
// code or identifier containing them is not split into an OR list or a
// system/code pair by the server. It works on bytes: the four are ASCII, and
// decoding runes would turn invalid UTF-8 into U+FFFD, changing the value.
func escape(s string) string {
	if !strings.ContainsAny(s, `\,$|`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', ',', '$', '|':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// splitUnescaped splits s at unescaped sep characters.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// badEscape reports a "\" that escapes nothing FHIR defines, which servers
// treat inconsistently.
func badEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+1 >= len(s) || !strings.ContainsRune(`\,$|`, rune(s[i+1])) {
				return true
			}
			i++
		}
	}
	return false
}

type tokenForm int

const (
	formSystemCode tokenForm = iota + 1 // system|code
	formAnySystem                       // code
	formNoSystem                        // |code
	formSystemOnly                      // system|
)

// Token is a token search value (codes and identifiers). The four FHIR forms
// differ only by where a "|" goes and mean very different things, so each has
// its own constructor.
type Token struct {
	system, code string
	form         tokenForm
	// national is set by NationalID: Validate then also applies the
	// national check-digit rule to code.
	national nationalid.System
}

// Code matches code in system ("system|code"), the form PKB's category and
// identifier parameters use. When system is one of PKB's national identifier
// systems, Validate also applies its check-digit rule, as NationalID does.
func Code(system, code string) Token {
	t := Token{system: system, code: code, form: formSystemCode}
	if sys := nationalid.System(system); sys.Known() {
		t.national = sys
	}
	return t
}

// Identifier is Code under the name that reads right for identifiers.
func Identifier(system, value string) Token { return Code(system, value) }

// NHSNumber is the identifier token for an NHS number; Validate checks its
// Modulus 11 check digit.
func NHSNumber(n string) Token { return NationalID(nationalid.NHSNumber, n) }

// NationalID is the identifier token for a national identifier of one of the
// systems PKB supports (nationalid.CHINumber, nationalid.BSN, ...). Validate
// rejects an unknown system and a value that fails the national rule (a
// mistyped number is often someone else's), before anything is sent.
func NationalID(system nationalid.System, value string) Token {
	return Token{system: string(system), code: value, form: formSystemCode, national: system}
}

// AnySystem matches code in any system ("code").
func AnySystem(code string) Token { return Token{code: code, form: formAnySystem} }

// NoSystem matches code only where no system is recorded ("|code").
func NoSystem(code string) Token { return Token{code: code, form: formNoSystem} }

// System matches any code in system ("system|").
func System(system string) Token { return Token{system: system, form: formSystemOnly} }

// String is the wire form with FHIR escaping applied.
func (t Token) String() string {
	switch t.form {
	case formSystemCode:
		return escape(t.system) + "|" + escape(t.code)
	case formAnySystem:
		return escape(t.code)
	case formNoSystem:
		return "|" + escape(t.code)
	case formSystemOnly:
		return escape(t.system) + "|"
	}
	return ""
}

// System is the token's system, empty when the form has none.
func (t Token) System() string { return t.system }

// Code is the token's code or identifier value.
func (t Token) Code() string { return t.code }

// Modifier is empty; use TokenText for ":text".
func (t Token) Modifier() string { return "" }

var uriRE = regexp.MustCompile(`^\S+$`)

// Validate reports an empty part (a Token{} or Code("", x) would otherwise go
// out as "|" or "x|" and silently change meaning) and a system with spaces.
func (t Token) Validate() error {
	needSystem := t.form == formSystemCode || t.form == formSystemOnly
	needCode := t.form != formSystemOnly
	switch {
	case t.form == 0:
		return fmt.Errorf("%w: empty token", ErrSyntax)
	case needSystem && !uriRE.MatchString(t.system):
		return fmt.Errorf("%w: token system empty or not a URI", ErrSyntax)
	case needCode && strings.TrimSpace(t.code) == "":
		return fmt.Errorf("%w: token code empty", ErrSyntax)
	case t.national != "":
		if err := t.national.Validate(t.code); err != nil {
			return fmt.Errorf("%w: %w", ErrSyntax, err)
		}
	}
	return nil
}

// ParseToken parses a token parameter value, undoing FHIR escaping, so a raw
// string can be checked (and its system compared) before it is sent.
func ParseToken(s string) (Token, error) {
	if badEscape(s) {
		return Token{}, fmt.Errorf("%w: bad escape", ErrSyntax)
	}
	parts := splitUnescaped(s, '|')
	var t Token
	switch {
	case len(parts) == 1:
		t = AnySystem(unescape(parts[0]))
	case len(parts) > 2:
		return Token{}, fmt.Errorf("%w: more than one unescaped '|'", ErrSyntax)
	case parts[0] == "":
		t = NoSystem(unescape(parts[1]))
	case parts[1] == "":
		t = System(unescape(parts[0]))
	default:
		t = Code(unescape(parts[0]), unescape(parts[1]))
	}
	return t, t.Validate()
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Text is a ":text" token search (matching the code's display or text, as
// Aggregated's "code:text" does).
type Text struct{ s string }

// TokenText builds a ":text" value; the modifier goes on the parameter name.
func TokenText(s string) Text { return Text{s} }

// String is the escaped text.
func (t Text) String() string { return escape(t.s) }

// Modifier is "text".
func (t Text) Modifier() string { return "text" }

// Validate rejects empty text, which would match everything or nothing
// depending on the server.
func (t Text) Validate() error {
	if strings.TrimSpace(t.s) == "" {
		return fmt.Errorf("%w: empty text", ErrSyntax)
	}
	return nil
}
