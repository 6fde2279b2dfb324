package search

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// unescapedCount counts the occurrences of c that FHIR escaping does not
// neutralise, i.e. those a server reads as syntax.
func unescapedCount(s string, c byte) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case c:
			n++
		}
	}
	return n
}

// checkWire sends value under name through the request editor's encoding
// and checks that a server decodes exactly one parameter with exactly that
// name and value: nothing the value contains can add a parameter ("&"),
// split name from value ("="), cut the query ("#") or be decoded differently
// ("+", "%").
func checkWire(t *testing.T, name, value string) {
	t.Helper()
	enc := encode(url.Values{name: {value}})
	if strings.ContainsAny(enc, "#& ") || strings.Count(enc, "=") != 1 {
		t.Fatalf("encoded %q carries raw syntax", enc)
	}
	q, err := url.ParseQuery(enc)
	if err != nil {
		t.Fatalf("a server cannot parse %q: %v", enc, err)
	}
	if len(q) != 1 || len(q[name]) != 1 || q[name][0] != value {
		t.Fatalf("sent %q=%q, a server reads %v", name, value, q)
	}
}

// checkEscaped reports a formatted value whose "," (FHIR's OR), "$"
// (composite separator) or "\" would change its meaning.
func checkEscaped(t *testing.T, s string) {
	t.Helper()
	if badEscape(s) {
		t.Fatalf("%q has a dangling or unknown escape", s)
	}
	if n := unescapedCount(s, ','); n != 0 {
		t.Fatalf("%q has %d unescaped ',' (OR)", s, n)
	}
	if n := unescapedCount(s, '$'); n != 0 {
		t.Fatalf("%q has %d unescaped '$'", s, n)
	}
}

// FuzzToken: every valid token formats to a string that parses back to the
// same token, has exactly the "|" its form calls for, and survives the wire.
func FuzzToken(f *testing.F) {
	f.Add(uint8(0), NHSNumberSystem, "9434765919")
	f.Add(uint8(0), "urn:a|b", "c,d$e\\f")
	f.Add(uint8(1), "", `a\|b`)
	f.Add(uint8(2), "", "|")
	f.Add(uint8(3), "http://loinc.org", "")
	f.Add(uint8(0), "s", "x&identifier=y#z")
	f.Fuzz(func(t *testing.T, form uint8, system, code string) {
		var tok Token
		switch form % 4 {
		case 0:
			tok = Code(system, code)
		case 1:
			tok = AnySystem(code)
		case 2:
			tok = NoSystem(code)
		case 3:
			tok = System(system)
		}
		if tok.Validate() != nil {
			return
		}
		s := tok.String()
		back, err := ParseToken(s)
		if err != nil {
			t.Fatalf("%#v formats to %q, which does not parse: %v", tok, s, err)
		}
		if back != tok {
			t.Fatalf("%#v formats to %q, which parses to %#v", tok, s, back)
		}
		wantBars := 1
		if tok.form == formAnySystem {
			wantBars = 0
		}
		if n := unescapedCount(s, '|'); n != wantBars {
			t.Fatalf("%q has %d unescaped '|', want %d", s, n, wantBars)
		}
		checkEscaped(t, s)
		var p Params
		v, err := p.Add("identifier", tok).Values()
		if err != nil || v.Get("identifier") != s {
			t.Fatalf("Params: %v %v", v, err)
		}
		checkWire(t, "identifier", s)
	})
}

// FuzzDate: every valid date built from a time formats to a FHIR date that
// parses back to the same value, with every prefix, and carries no query
// syntax.
func FuzzDate(f *testing.F) {
	f.Add(int64(1530403200), int32(0), int32(3600), uint8(3), uint8(4))
	f.Add(int64(-62135596800), int32(0), int32(0), uint8(2), uint8(0))
	f.Add(int64(253402300800), int32(5), int32(0), uint8(5), uint8(1))    // year 10000
	f.Add(int64(0), int32(999999999), int32(15*3600), uint8(4), uint8(2)) // +15:00
	f.Add(int64(0), int32(0), int32(3600+30*60+17), uint8(4), uint8(9))   // seconds in the offset
	f.Fuzz(func(t *testing.T, sec int64, nsec, offset int32, precision, prefix uint8) {
		ts := time.Unix(sec, int64(nsec)).In(time.FixedZone("Z", int(offset)))
		v := DateAt(ts, Precision(precision%6))
		if v.Validate() != nil {
			return
		}
		back, err := ParseDate(v.String())
		if err != nil {
			t.Fatalf("DateAt(%v, %v) = %q, which does not parse: %v", ts, Precision(precision%6), v, err)
		}
		if back != v {
			t.Fatalf("%q parses to %#v, want %#v", v, back, v)
		}
		d := On(v)
		if i := int(prefix) % (len(Prefixes) + 1); i < len(Prefixes) {
			d = Date{Prefixes[i], v}
		}
		pd, err := ParseDateParam(d.String())
		if err != nil || pd != d {
			t.Fatalf("%q parses to %#v, %v; want %#v", d, pd, err, d)
		}
		if strings.ContainsAny(d.String(), "&=#,|$\\ ") {
			t.Fatalf("date %q carries search syntax", d)
		}
		checkWire(t, "date", d.String())
	})
}

// FuzzParseDateParam: whatever a hostile string is, a date parameter parsed
// from it formats back to exactly that string, is a real date, and carries no
// query syntax.
func FuzzParseDateParam(f *testing.F) {
	for _, s := range []string{"ge2018-07-01", "2018", "eq2018-07-01T10:00:00.123456789+14:00", "xx2018", "ge2018-07-01&date=lt2019", "2016-02-30", "le2018-07-01T24:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDateParam(s)
		if err != nil {
			return
		}
		if d.String() != s {
			t.Fatalf("%q parses to %#v, which formats as %q", s, d, d.String())
		}
		if d.Validate() != nil {
			t.Fatalf("%q parses to an invalid %#v", s, d)
		}
		if strings.ContainsAny(s, "&=#,|$\\ ") {
			t.Fatalf("date %q carries search syntax", s)
		}
		if _, err := time.Parse("2006-01-02T15:04:05.999999999Z07:00", d.value.s); d.value.p >= PrecisionSecond && err != nil {
			t.Fatalf("%q is not a time: %v", s, err)
		}
	})
}

// FuzzStringValues: string and :text values unescape to exactly what was
// given and never carry an unescaped ",", "$" or "|".
func FuzzStringValues(f *testing.F) {
	for _, s := range []string{"Smith", "a,b", `a\,b`, "x|y$z", "é\\", "a&b=c#d"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, kind uint8) {
		var v Value
		switch kind % 4 {
		case 0:
			v = StartsWith(s)
		case 1:
			v = Exact(s)
		case 2:
			v = Contains(s)
		case 3:
			v = TokenText(s)
		}
		if v.Validate() != nil {
			return
		}
		out := v.String()
		if got := unescape(out); got != s {
			t.Fatalf("%q formats to %q, which reads as %q", s, out, got)
		}
		checkEscaped(t, out)
		if n := unescapedCount(out, '|'); n != 0 {
			t.Fatalf("%q has %d unescaped '|'", out, n)
		}
		name := "name"
		if m := v.Modifier(); m != "" {
			name += ":" + m
		}
		checkWire(t, name, out)
	})
}

// FuzzReference: a valid reference formats to "Type/id" or "id" that parses
// back to the same reference and cannot point anywhere else.
func FuzzReference(f *testing.F) {
	f.Add("Patient", "3d8afd18-0844-459a-b3c2-355d02e54c0a", false)
	f.Add("Patient", "../Observation/1", true)
	f.Add("", "a/b", false)
	f.Add("patient", "1", false)
	f.Add("Patient", "1?x=y", false)
	f.Fuzz(func(t *testing.T, typ, id string, typed bool) {
		r := Ref(typ, id)
		if typed {
			r = r.Typed()
		}
		if r.Validate() != nil {
			return
		}
		s := r.String()
		if strings.ContainsAny(s, "&=#?,|$\\%: ") {
			t.Fatalf("reference %q carries syntax", s)
		}
		if r.typed {
			if s != id || r.Modifier() != typ {
				t.Fatalf("typed %#v formats to %q with modifier %q", r, s, r.Modifier())
			}
			checkWire(t, "patient:"+typ, s)
			return
		}
		back, err := ParseReference(s)
		if err != nil || back != r {
			t.Fatalf("%#v formats to %q, which parses to %#v, %v", r, s, back, err)
		}
		if strings.Count(s, "/") > 1 {
			t.Fatalf("%q has more than one segment", s)
		}
		checkWire(t, "patient", s)
	})
}

// FuzzValidateFor: a hostile raw value that ValidateFor accepts for any
// declared parameter is well formed for the parameter's type, cannot widen
// the search into an OR list, and reaches the server unchanged.
func FuzzValidateFor(f *testing.F) {
	f.Add(uint16(0), "10")
	f.Add(uint16(1), "ge2018-07-01")
	f.Add(uint16(2), NHSNumberSystem+"|9434765919")
	f.Add(uint16(2), "a|b,c|d")
	f.Add(uint16(3), "Patient/1")
	f.Add(uint16(30), "blood pressure")
	f.Fuzz(func(t *testing.T, i uint16, v string) {
		s := specs[int(i)%len(specs)]
		if ValidateFor(s.Family, s.Operation, s.Name, v) != nil {
			return
		}
		checkWire(t, s.Name, v)
		if len(s.Enum) > 0 || s.Kind == KindSpecial || s.Kind == KindURI || s.Kind == KindQuantity || s.Kind == KindComposite {
			return
		}
		if n := unescapedCount(v, ','); n != 0 {
			t.Fatalf("%s accepted %q with an unescaped ','", s.Name, v)
		}
		switch {
		case s.Kind == KindDate:
			if d, err := ParseDateParam(v); err != nil || d.String() != v {
				t.Fatalf("%s accepted %q: %#v, %v", s.Name, v, d, err)
			}
		case strings.HasSuffix(s.Name, ".identifier") || (s.Kind == KindToken && !strings.HasSuffix(s.Name, ":text")):
			tok, err := ParseToken(v)
			if err != nil {
				t.Fatalf("%s accepted %q, which is not a token: %v", s.Name, v, err)
			}
			if back, err := ParseToken(tok.String()); err != nil || back != tok {
				t.Fatalf("%s: %q parses to %#v, whose form %q parses to %#v, %v", s.Name, v, tok, tok.String(), back, err)
			}
		case s.Kind == KindReference:
			if strings.ContainsAny(v, "&=#?,|$\\%: ") || strings.Count(v, "/") > 1 {
				t.Fatalf("%s accepted reference %q", s.Name, v)
			}
		}
	})
}

// FuzzEditor: whatever name and value go through the Params escape hatch,
// the request editor's encoding delivers exactly that one parameter.
func FuzzEditor(f *testing.F) {
	f.Add("subject:Patient.identifier", "a|b")
	f.Add("a=b&c", "d#e")
	f.Add("%3A", "%3A+ ;")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, name, value string) {
		if name == "" {
			return
		}
		checkWire(t, name, value)
	})
}
