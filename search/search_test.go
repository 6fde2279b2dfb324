package search

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkbgo/pkb/nationalid"
)

func TestDateAt(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	nyc := time.FixedZone("EST", -5*3600)
	ts := time.Date(2018, 7, 1, 23, 30, 5, 123456789, ist)
	tests := []struct {
		name string
		got  DateValue
		want string
		p    Precision
	}{
		{"year", Year(ts), "2018", PrecisionYear},
		{"month", Month(ts), "2018-07", PrecisionMonth},
		{"day keeps the caller's calendar date", Day(ts), "2018-07-01", PrecisionDay},
		{"instant with positive offset", Instant(ts), "2018-07-01T23:30:05+05:30", PrecisionSecond},
		{"instant negative offset", Instant(time.Date(2020, 1, 2, 3, 4, 5, 0, nyc)), "2020-01-02T03:04:05-05:00", PrecisionSecond},
		{"instant UTC is Z", Instant(ts.UTC()), "2018-07-01T18:00:05Z", PrecisionSecond},
		{"millisecond", DateAt(ts, PrecisionMillisecond), "2018-07-01T23:30:05.123+05:30", PrecisionMillisecond},
		{"unknown precision is the invalid zero value", DateAt(ts, Precision(42)), "", 0},
		{"year 10000 is the invalid zero value", DateAt(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), PrecisionMillisecond), "", 0},
		{"a negative year is the invalid zero value", Day(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)), "", 0},
		{"an offset with seconds is written in UTC", Instant(time.Date(1840, 1, 1, 0, 0, 0, 0, time.FixedZone("LMT", -75))), "1840-01-01T00:01:15Z", PrecisionSecond},
		{"an offset beyond +14:00 is written in UTC", Instant(time.Date(2020, 1, 1, 15, 0, 0, 0, time.FixedZone("X", 15*3600))), "2020-01-01T00:00:00Z", PrecisionSecond},
		{"the day keeps its calendar date whatever the offset", Day(time.Date(2020, 1, 1, 15, 0, 0, 0, time.FixedZone("X", 15*3600))), "2020-01-01", PrecisionDay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.String() != tt.want || tt.got.Precision() != tt.p {
				t.Fatalf("got %q/%v, want %q/%v", tt.got, tt.got.Precision(), tt.want, tt.p)
			}
			if tt.want != "" {
				back, err := ParseDate(tt.want)
				if err != nil || back != tt.got {
					t.Fatalf("ParseDate(%q) = %v, %v; want round trip", tt.want, back, err)
				}
			} else if err := tt.got.Validate(); !errors.Is(err, ErrSyntax) {
				t.Fatalf("Validate() = %v, want ErrSyntax", err)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	valid := map[string]Precision{
		"2018":                          PrecisionYear,
		"2018-07":                       PrecisionMonth,
		"2016-02-29":                    PrecisionDay,
		"2018-07-01T10:00:00Z":          PrecisionSecond,
		"2018-07-01T10:00:00+14:00":     PrecisionSecond,
		"2018-07-01T10:00:00.5-03:30":   PrecisionMillisecond,
		"2018-07-01T23:59:59.999999Z":   PrecisionMillisecond,
		"0001-01-01":                    PrecisionDay,
		"2018-12-31T00:00:00.000+00:00": PrecisionMillisecond,
	}
	for s, p := range valid {
		d, err := ParseDate(s)
		if err != nil || d.Precision() != p || d.String() != s {
			t.Errorf("ParseDate(%q) = %v %v, %v; want precision %v", s, d, d.Precision(), err, p)
		}
	}
	invalid := []string{
		"", "18", "2018-7", "2018-13", "2018-00", "2018-02-30", "2017-02-29", "2018-07-32",
		"2018-07-01T10:00Z",    // FHIR has no minute precision
		"2018-07-01T10:00:00",  // a time needs a zone
		"2018-07-01T24:00:00Z", // hour out of range
		"2018-07-01T10:00:00+15:00",
		"2018-07-01 10:00:00Z",
		"ge2018", // a prefix is not part of a date
		"2018-07-01T10:00:00.Z",
	}
	for _, s := range invalid {
		if _, err := ParseDate(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseDate(%q) err = %v, want ErrSyntax", s, err)
		}
	}
}

func TestDatePrefixes(t *testing.T) {
	v := MustParseDate("2018-07-01")
	ctors := map[Prefix]func(DateValue) Date{
		PrefixEq: Eq, PrefixNe: Ne, PrefixGt: Gt, PrefixLt: Lt, PrefixGe: Ge, PrefixLe: Le,
		PrefixSa: Sa, PrefixEb: Eb, PrefixAp: Ap,
	}
	if len(ctors) != len(Prefixes) {
		t.Fatalf("a constructor per FHIR prefix: %d constructors, %d prefixes", len(ctors), len(Prefixes))
	}
	for p, f := range ctors {
		d := f(v)
		if d.String() != string(p)+"2018-07-01" || d.Prefix() != p || d.Value() != v || d.Validate() != nil {
			t.Errorf("%s: got %q", p, d)
		}
		back, err := ParseDateParam(d.String())
		if err != nil || back != d {
			t.Errorf("ParseDateParam(%q) = %v, %v", d, back, err)
		}
	}
	if On(v).String() != "2018-07-01" || On(v).Prefix() != "" {
		t.Errorf("On: %q", On(v))
	}
	if _, err := ParseDateParam("xx2018"); !errors.Is(err, ErrPrefix) {
		t.Errorf("unknown prefix: %v", err)
	}
	if err := (Date{prefix: "zz", value: v}).Validate(); !errors.Is(err, ErrPrefix) {
		t.Errorf("Validate unknown prefix: %v", err)
	}
	if err := Ge(DateValue{}).Validate(); !errors.Is(err, ErrSyntax) {
		t.Errorf("Validate zero date: %v", err)
	}
	if Prefix("gE").Valid() || !PrefixGe.Valid() {
		t.Error("Prefix.Valid is case sensitive and knows ge")
	}
}

func TestRanges(t *testing.T) {
	from, to := MustParseDate("2018-07-01"), MustParseDate("2018-08-01")
	if got := Between(from, to); !slices.Equal(got, []string{"ge2018-07-01", "lt2018-08-01"}) {
		t.Errorf("Between = %v", got)
	}
	if got := Inclusive(from, MustParseDate("2018-07-31")); !slices.Equal(got, []string{"ge2018-07-01", "le2018-07-31"}) {
		t.Errorf("Inclusive = %v", got)
	}
	if got := Dates(Gt(from), Ne(to)); !slices.Equal(got, []string{"gt2018-07-01", "ne2018-08-01"}) {
		t.Errorf("Dates = %v", got)
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		name string
		tok  Token
		want string
	}{
		{"system|code", Code("http://loinc.org", "1234-5"), "http://loinc.org|1234-5"},
		{"identifier", Identifier("urn:oid:1.2", "A1"), "urn:oid:1.2|A1"},
		{"nhs number", NHSNumber("9434765919"), "https://fhir.nhs.uk/Id/nhs-number|9434765919"},
		{"any system", AnySystem("LABORATORY"), "LABORATORY"},
		{"no system", NoSystem("x"), "|x"},
		{"system only", System("http://s"), "http://s|"},
		{"escapes | , $ and \\", Code("http://s", `a|b,c$d\e`), `http://s|a\|b\,c\$d\\e`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tok.String() != tt.want {
				t.Fatalf("String() = %q, want %q", tt.tok, tt.want)
			}
			if err := tt.tok.Validate(); err != nil {
				t.Fatal(err)
			}
			back, err := ParseToken(tt.want)
			if err != nil || back != tt.tok {
				t.Fatalf("ParseToken(%q) = %#v, %v; want %#v", tt.want, back, err, tt.tok)
			}
		})
	}
	for _, bad := range []Token{{}, Code("", "x"), Code("http://s", ""), Code("has space", "x"), System(""), NoSystem(" ")} {
		if err := bad.Validate(); !errors.Is(err, ErrSyntax) {
			t.Errorf("Validate(%#v) = %v, want ErrSyntax", bad, err)
		}
	}
	for _, bad := range []string{"a|b|c", "|", `a\x`, `a\`, "s|"[:0]} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
		}
	}
	if tx := TokenText("blood, pressure"); tx.String() != `blood\, pressure` || tx.Modifier() != "text" || tx.Validate() != nil {
		t.Errorf("TokenText: %q %q", tx, tx.Modifier())
	}
	if TokenText(" ").Validate() == nil {
		t.Error("empty text accepted")
	}
}

func TestReferenceAndChain(t *testing.T) {
	r := Ref("Patient", "3d8afd18-0844-459a-b3c2-355d02e54c0a")
	if r.String() != "Patient/3d8afd18-0844-459a-b3c2-355d02e54c0a" || r.Modifier() != "" || r.Type() != "Patient" {
		t.Errorf("Ref: %q %q", r, r.Modifier())
	}
	typed := r.Typed()
	if typed.String() != "3d8afd18-0844-459a-b3c2-355d02e54c0a" || typed.Modifier() != "Patient" {
		t.Errorf("Typed: %q %q", typed, typed.Modifier())
	}
	if ID("123").Typed().Modifier() != "" || ID("123").String() != "123" {
		t.Error("Typed on an untyped reference must stay untyped")
	}
	for _, bad := range []Reference{Ref("patient", "1"), Ref("Patient", "a/b"), Ref("Patient", ""), ID(strings.Repeat("a", 65)), Ref("Patient", "1 2")} {
		if err := bad.Validate(); !errors.Is(err, ErrSyntax) {
			t.Errorf("Validate(%#v) = %v", bad, err)
		}
	}
	if got, err := ParseReference("Practitioner/77"); err != nil || got != Ref("Practitioner", "77") {
		t.Errorf("ParseReference = %#v, %v", got, err)
	}
	if _, err := ParseReference("http://x/Patient/1"); err == nil {
		t.Error("absolute reference accepted")
	}

	c := Chain("Patient", "identifier", NHSNumber("9434765919"))
	if c.Modifier() != "Patient.identifier" || c.String() != "https://fhir.nhs.uk/Id/nhs-number|9434765919" || c.Validate() != nil {
		t.Errorf("Chain: %q %q %v", c.Modifier(), c, c.Validate())
	}
	for _, bad := range []Chained{Chain("patient", "identifier", AnySystem("x")), Chain("Patient", "a b", AnySystem("x")),
		Chain("Patient", "identifier", nil), Chain("Patient", "name", Exact("x"))} {
		if bad.Validate() == nil {
			t.Errorf("Chain %#v accepted", bad)
		}
	}
}

func TestString(t *testing.T) {
	for _, tt := range []struct {
		s        String
		mod, val string
	}{
		{StartsWith("Smi"), "", "Smi"},
		{Exact("urn:uuid:1,2"), "exact", `urn:uuid:1\,2`},
		{Contains("ith"), "contains", "ith"},
	} {
		if tt.s.Modifier() != tt.mod || tt.s.String() != tt.val || tt.s.Validate() != nil {
			t.Errorf("%#v: %q %q", tt.s, tt.s.Modifier(), tt.s)
		}
	}
	if Exact("").Validate() == nil {
		t.Error("empty string accepted")
	}
}

func TestParams(t *testing.T) {
	var p Params
	p.Add("value", Exact("urn:uuid:cd97da65-0aa4-43a6-b695-cfd0c6f3267d")).
		Add("patient", Ref("Patient", "p1").Typed()).
		Add("subject", Chain("Patient", "identifier", NHSNumber("9434765919"))).
		Add("date", Ge(MustParseDate("2018-07-01")), Lt(MustParseDate("2018-08-01"))).
		Raw("_elements", "id,meta")
	v, err := p.Values()
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"value:exact":                {"urn:uuid:cd97da65-0aa4-43a6-b695-cfd0c6f3267d"},
		"patient:Patient":            {"p1"},
		"subject:Patient.identifier": {"https://fhir.nhs.uk/Id/nhs-number|9434765919"},
		"date":                       {"ge2018-07-01", "lt2018-08-01"},
		"_elements":                  {"id,meta"},
	}
	if v.Encode() != want.Encode() {
		t.Fatalf("Values = %v, want %v", v, want)
	}
	v["date"][0] = "mutated"
	if again, _ := p.Values(); again["date"][0] != "ge2018-07-01" {
		t.Error("Values must return a copy")
	}

	req, _ := http.NewRequest(http.MethodGet, "https://pkb.example/fhir/Observation?category=x", nil)
	if err := p.Editor()(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.URL.RawQuery, "category=x&") || !strings.Contains(req.URL.RawQuery, "subject:Patient.identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919") {
		t.Errorf("RawQuery = %s", req.URL.RawQuery)
	}
	if got := req.URL.Query()["date"]; !slices.Equal(got, []string{"ge2018-07-01", "lt2018-08-01"}) {
		t.Errorf("date = %v", got)
	}

	empty, _ := http.NewRequest(http.MethodGet, "https://pkb.example/fhir/Patient", nil)
	if err := Editor(url.Values{"a": {"1 +2"}})(context.Background(), empty); err != nil || empty.URL.RawQuery != "a=1+%2B2" {
		t.Errorf("Editor on empty query: %q %v", empty.URL.RawQuery, err)
	}
}

func TestParamsErrors(t *testing.T) {
	nhs := "9434765919"
	tests := []struct {
		name string
		p    *Params
		want error
	}{
		{"invalid value", new(Params).Add("patient", Ref("Patient", "a/b")), ErrSyntax},
		{"mixed modifiers", new(Params).Add("value", Exact("a"), Contains("b")), ErrModifier},
		{"bad name", new(Params).Add("a=b", AnySystem("x")), ErrSyntax},
		{"no values", new(Params).Add("date"), ErrSyntax},
		{"nil value", new(Params).Add("date", nil), ErrSyntax},
		{"zero token", new(Params).Add("identifier", Token{}), ErrSyntax},
		{"bad chain", new(Params).Add("subject", Chain("Patient", "identifier", Code("", nhs))), ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.Values()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("err %T is not a *ParamError", err)
			}
			if strings.Contains(err.Error(), nhs) {
				t.Fatal("error message leaks the value")
			}
			req, _ := http.NewRequest(http.MethodGet, "https://pkb.example/", nil)
			if err := tt.p.Editor()(context.Background(), req); !errors.Is(err, tt.want) || req.URL.RawQuery != "" {
				t.Fatalf("editor: %v, query %q", err, req.URL.RawQuery)
			}
		})
	}
}

func TestOpt(t *testing.T) {
	if p := Opt(NHSNumber("9434765919")); p == nil || *p != "https://fhir.nhs.uk/Id/nhs-number|9434765919" {
		t.Errorf("Opt = %v", p)
	}
	if Raw("x").String() != "x" || Raw("").Validate() == nil || Raw("x").Modifier() != "" {
		t.Error("Raw")
	}
}

// National identifier tokens use PKB's URIs (package nationalid) and are
// checked against the national rule before anything is sent.
func TestNationalID(t *testing.T) {
	for _, tc := range []struct {
		tok   Token
		wire  string
		valid bool
	}{
		{NationalID(nationalid.CHINumber, "0101010000"), "urn:oid:2.16.840.1.113883.2.1.3.2.4.16.53|0101010000", false},
		{NationalID(nationalid.HealthAndCareNumber, "3200000015"), "urn:uuid:1479257a-ce8f-482a-89fa-429ac066c158|3200000015", true},
		{NationalID(nationalid.BSN, "111222333"), "http://fhir.nl/fhir/NamingSystem/bsn|111222333", true},
		{NationalID(nationalid.BSN, "111222334"), "http://fhir.nl/fhir/NamingSystem/bsn|111222334", false},
		{NHSNumber("9434765918"), "https://fhir.nhs.uk/Id/nhs-number|9434765918", false},
		{NationalID(nationalid.System("urn:example:not-national"), "1"), "urn:example:not-national|1", false},
	} {
		if got := tc.tok.String(); got != tc.wire {
			t.Errorf("String() = %q, want %q", got, tc.wire)
		}
		err := tc.tok.Validate()
		if (err == nil) != tc.valid {
			t.Errorf("%s: Validate() = %v, want valid %v", tc.wire, err, tc.valid)
		}
		if err != nil && (!errors.Is(err, ErrSyntax) || !errors.Is(err, nationalid.ErrInvalid) || strings.Contains(err.Error(), tc.tok.Code())) {
			t.Errorf("%s: error %v: want ErrSyntax and nationalid.ErrInvalid, without the value", tc.wire, err)
		}
		// A raw string with the same system gets the same check.
		if _, perr := ParseToken(tc.wire); (perr == nil) != (tc.valid || !nationalid.System(tc.tok.System()).Known()) {
			t.Errorf("ParseToken(%q) = %v", tc.wire, perr)
		}
	}
}
