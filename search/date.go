package search

import (
	"fmt"
	"regexp"
	"time"
)

// Prefix is a FHIR search comparator written in front of a date (or number)
// value. Only the nine FHIR defines exist; which of them a PKB parameter
// accepts is in its ParamSpec (PKB's Facade supports eq, gt, lt, ge and le,
// and Encounter.date only gt, lt and eq).
type Prefix string

// The FHIR search prefixes.
const (
	PrefixEq Prefix = "eq" // the value's whole range contains the resource's
	PrefixNe Prefix = "ne" // the negation of eq
	PrefixGt Prefix = "gt" // strictly after the value's range
	PrefixLt Prefix = "lt" // strictly before the value's range
	PrefixGe Prefix = "ge" // not before the value's range starts
	PrefixLe Prefix = "le" // not after the value's range ends
	PrefixSa Prefix = "sa" // starts after the value's range
	PrefixEb Prefix = "eb" // ends before the value's range
	PrefixAp Prefix = "ap" // approximately the value
)

// Prefixes lists every prefix FHIR defines, in the order the specification
// does, so that a caller can range over them without hard-coding the set.
var Prefixes = []Prefix{PrefixEq, PrefixNe, PrefixGt, PrefixLt, PrefixGe, PrefixLe, PrefixSa, PrefixEb, PrefixAp}

// Valid reports whether p is one of the prefixes FHIR defines; anything else
// would be sent as part of the date and make the value unparseable.
func (p Prefix) Valid() bool {
	for _, q := range Prefixes {
		if p == q {
			return true
		}
	}
	return false
}

// Precision is how much of a date a value states. In FHIR search the
// precision is part of the meaning: "2018" matches the whole year, so it is
// kept explicit instead of being inferred from a time.Time.
type Precision int

// The precisions a FHIR date or dateTime can have. FHIR has no minute
// precision: once a time is given, seconds and a time zone are required.
const (
	PrecisionYear        Precision = iota + 1 // YYYY
	PrecisionMonth                            // YYYY-MM
	PrecisionDay                              // YYYY-MM-DD
	PrecisionSecond                           // YYYY-MM-DDThh:mm:ss+zz:zz
	PrecisionMillisecond                      // YYYY-MM-DDThh:mm:ss.sss+zz:zz
)

var layouts = map[Precision]string{
	PrecisionYear:        "2006",
	PrecisionMonth:       "2006-01",
	PrecisionDay:         "2006-01-02",
	PrecisionSecond:      "2006-01-02T15:04:05Z07:00",
	PrecisionMillisecond: "2006-01-02T15:04:05.000Z07:00",
}

// String names the precision for messages.
func (p Precision) String() string {
	switch p {
	case PrecisionYear:
		return "year"
	case PrecisionMonth:
		return "month"
	case PrecisionDay:
		return "day"
	case PrecisionSecond:
		return "second"
	case PrecisionMillisecond:
		return "millisecond"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// DateValue is a FHIR date or dateTime at an explicit precision, without a
// prefix. The zero value is invalid and reported as such by Validate, so a
// forgotten date cannot turn into an empty, match-everything parameter.
type DateValue struct {
	s string
	p Precision
}

// DateAt formats t at precision p. Calendar fields (year, month, day) are
// taken in t's own location, because "the 1st of July" is a local notion;
// times keep t's offset, so a value from time.Now() says what the caller
// meant, except an offset FHIR cannot write (seconds, as in historical local
// mean time, or beyond ±14:00), which is given in UTC so the instant stays
// exact. A year outside 0000-9999, which FHIR cannot write either, gives the
// invalid zero value.
func DateAt(t time.Time, p Precision) DateValue {
	layout, ok := layouts[p]
	if !ok {
		return DateValue{}
	}
	if _, off := t.Zone(); p >= PrecisionSecond && (off%60 != 0 || off > 14*3600 || off < -14*3600) {
		t = t.UTC()
	}
	s := t.Format(layout)
	if !dateRE.MatchString(s) {
		return DateValue{}
	}
	return DateValue{s: s, p: p}
}

// Year is t's calendar year, matching anything within it.
func Year(t time.Time) DateValue { return DateAt(t, PrecisionYear) }

// Month is t's calendar month, matching anything within it.
func Month(t time.Time) DateValue { return DateAt(t, PrecisionMonth) }

// Day is t's calendar date, the precision PKB's examples use.
func Day(t time.Time) DateValue { return DateAt(t, PrecisionDay) }

// Instant is t to the second with its time-zone offset; the offset's "+"
// must be percent-encoded on the wire, which the generated clients do.
func Instant(t time.Time) DateValue { return DateAt(t, PrecisionSecond) }

// dateRE is FHIR's dateTime grammar (STU3 and R4 agree), with the time zone
// required once a time is present.
var dateRE = regexp.MustCompile(`^([0-9]{4})(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`)

// ParseDate checks that s is a FHIR date or dateTime (partial dates
// included) and a real calendar date, and reports its precision. Values from
// configuration or user input should come through here rather than straight
// into a params struct.
func ParseDate(s string) (DateValue, error) {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return DateValue{}, fmt.Errorf("%w: not a FHIR date or dateTime", ErrSyntax)
	}
	var p Precision
	switch {
	case m[2] == "":
		p = PrecisionYear
	case m[4] == "":
		p = PrecisionMonth
	case m[6] == "":
		p = PrecisionDay
	case m[8] == "":
		p = PrecisionSecond
	default:
		p = PrecisionMillisecond
	}
	layout := layouts[p]
	if p == PrecisionMillisecond {
		layout = "2006-01-02T15:04:05.999999999Z07:00"
	}
	if _, err := time.Parse(layout, s); err != nil {
		return DateValue{}, fmt.Errorf("%w: not a calendar date", ErrSyntax)
	}
	return DateValue{s: s, p: p}, nil
}

// MustParseDate is ParseDate for constants in code and tests, where an
// invalid literal is a programming error.
func MustParseDate(s string) DateValue {
	d, err := ParseDate(s)
	if err != nil {
		panic("search.MustParseDate: " + err.Error())
	}
	return d
}

// String is the value as FHIR writes it, without a prefix.
func (d DateValue) String() string { return d.s }

// Precision reports how much of the date the value states.
func (d DateValue) Precision() Precision { return d.p }

// Modifier is empty: date parameters take no modifiers.
func (d DateValue) Modifier() string { return "" }

// Validate rejects the zero value, which would otherwise be sent as an empty
// parameter.
func (d DateValue) Validate() error {
	if d.s == "" {
		return fmt.Errorf("%w: empty date", ErrSyntax)
	}
	return nil
}

// Date is a date search value: an optional prefix and a DateValue. Build it
// with Eq, Ne, Gt, Lt, Ge, Le, Sa, Eb, Ap or On.
type Date struct {
	prefix Prefix
	value  DateValue
}

// On matches dates within v's range. It writes no prefix, which FHIR reads as
// eq; use it for parameters whose spec lists no prefixes at all.
func On(v DateValue) Date { return Date{value: v} }

// Eq writes the explicit eq prefix (matches within v's range).
func Eq(v DateValue) Date { return Date{PrefixEq, v} }

// Ne matches outside v's range.
func Ne(v DateValue) Date { return Date{PrefixNe, v} }

// Gt matches after v's range.
func Gt(v DateValue) Date { return Date{PrefixGt, v} }

// Lt matches before v's range.
func Lt(v DateValue) Date { return Date{PrefixLt, v} }

// Ge matches from the start of v's range on.
func Ge(v DateValue) Date { return Date{PrefixGe, v} }

// Le matches up to the end of v's range.
func Le(v DateValue) Date { return Date{PrefixLe, v} }

// Sa matches resources whose range starts after v's.
func Sa(v DateValue) Date { return Date{PrefixSa, v} }

// Eb matches resources whose range ends before v's.
func Eb(v DateValue) Date { return Date{PrefixEb, v} }

// Ap matches approximately v (the server decides how approximately).
func Ap(v DateValue) Date { return Date{PrefixAp, v} }

// ParseDateParam parses a prefixed date parameter value such as
// "ge2018-07-01" or "2018", the inverse of Date.String.
func ParseDateParam(s string) (Date, error) {
	var d Date
	if len(s) >= 2 && s[0] >= 'a' && s[0] <= 'z' {
		d.prefix = Prefix(s[:2])
		if !d.prefix.Valid() {
			return Date{}, fmt.Errorf("%w: unknown prefix", ErrPrefix)
		}
		s = s[2:]
	}
	v, err := ParseDate(s)
	if err != nil {
		return Date{}, err
	}
	d.value = v
	return d, nil
}

// String is the wire form: prefix then value.
func (d Date) String() string { return string(d.prefix) + d.value.s }

// Prefix is the comparator, empty for On.
func (d Date) Prefix() Prefix { return d.prefix }

// Value is the date without its prefix.
func (d Date) Value() DateValue { return d.value }

// Modifier is empty: date parameters take no modifiers.
func (d Date) Modifier() string { return "" }

// Validate reports a zero or unknown-prefix Date before it reaches the wire.
func (d Date) Validate() error {
	if d.prefix != "" && !d.prefix.Valid() {
		return fmt.Errorf("%w: unknown prefix", ErrPrefix)
	}
	return d.value.Validate()
}

// Dates renders AND-repeated date values for a generated params field (such
// as facade.SearchObservationParams.Date), each one becoming its own
// "date=..." in the query.
func Dates(ds ...Date) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// Between is the half-open range [from, to) as the ge/lt pair FHIR ANDs
// together, the form that tiles without overlap: Between(Day(jan1), Day(feb1))
// then Between(Day(feb1), Day(mar1)) never matches a resource twice. A range
// whose end is not after its start matches nothing; that is not checked here
// because the two values may have different precisions.
func Between(from, to DateValue) []string {
	return Dates(Ge(from), Lt(to))
}

// Inclusive is the closed range [from, to] as a ge/le pair, which reads like
// PKB's own examples (date=ge2018-07-01&date=le2018-07-31).
func Inclusive(from, to DateValue) []string {
	return Dates(Ge(from), Le(to))
}
