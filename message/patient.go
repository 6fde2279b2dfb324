package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/nationalid"
)

// The identifiers and extensions PKB's messaging documents name.
const (
	// TeamAliasURL is PKB's repeatable team-placement extension (valueString).
	TeamAliasURL = "http://fhir.patientsknowbest.com/structuredefinition/team-alias"
	// NHSNumberSystem is the identifier system of NHS numbers
	// ([nationalid.NHSNumber]; the other national systems PKB supports are
	// the constants of package nationalid).
	NHSNumberSystem = string(nationalid.NHSNumber)
	// ODSCodeSystem is the Patient.meta.tag system PKB reads the sender's ODS
	// code from (case sensitive; an older draft used https://fhir.nhs.uk/Id/ODS-Code).
	ODSCodeSystem = "https://fhir.nhs.uk/Id/ods-organization-code"
)

// Reason classifies a Problem so callers can react without parsing text.
type Reason string

// The reasons a Patient can fail validation.
const (
	ReasonRequired           Reason = "required"
	ReasonInvalid            Reason = "invalid format"
	ReasonChecksum           Reason = "national identifier check digit fails"
	ReasonTooMany            Reason = "more than PKB processes"
	ReasonConflict           Reason = "mutually exclusive with another field"
	ReasonNoDefaultTeam      Reason = "no team-alias is the sender's default team"
	ReasonDefaultTeamUnknown Reason = "team-alias given but the default team alias is not configured"
)

// Problem is one rule a Patient breaks. Field is a FHIRPath-like location
// (Patient.name[0].given[0]); the value is deliberately not recorded.
type Problem struct {
	Field  string
	Reason Reason
}

// String renders "field: reason".
func (p Problem) String() string { return p.Field + ": " + string(p.Reason) }

// ErrInvalidPatient is matched by errors.Is on every *ValidationError.
var ErrInvalidPatient = errors.New("message: invalid Patient")

// ValidationError lists every problem found, so a caller fixing a record sees
// all of them at once instead of one per round trip.
type ValidationError struct {
	Problems []Problem
}

// Error lists the fields and reasons, never values.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return ErrInvalidPatient.Error() + ": " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalidPatient) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidPatient }

// Has reports whether the error contains a problem with field and reason.
func (e *ValidationError) Has(field string, reason Reason) bool {
	for _, p := range e.Problems {
		if p.Field == field && p.Reason == reason {
			return true
		}
	}
	return false
}

// Option configures validation.
type Option func(*rules)

type rules struct {
	defaultTeam string
	requireDemo bool
	requireNHS  bool
	now         func() time.Time
}

// WithDefaultTeamAlias is the alias of the sender's configured default team.
// PKB requires that, when any team-alias extension is sent, one of them is
// this alias; without it a Patient carrying team aliases cannot be checked and
// is refused.
func WithDefaultTeamAlias(alias string) Option { return func(r *rules) { r.defaultTeam = alias } }

// WithClock replaces time.Now for the birth-date-in-the-future check, for
// tests and for batch jobs replaying data.
func WithClock(now func() time.Time) Option { return func(r *rules) { r.now = now } }

func newRules(opts []Option) rules {
	r := rules{requireDemo: true, now: time.Now}
	for _, o := range opts {
		o(&r)
	}
	return r
}

// ValidatePatient checks p against PKB's rules for the custom
// Patient/$process-message: given and family name, birth date and gender
// present; the team-alias rule; at most one NHS number; every identifier of a
// national system PKB supports (package nationalid: NHS, CHI, Health and Care
// numbers with their Modulus 11 check digit, BSN with the elfproef, SIN with
// Luhn, the others non-blank); at most one email and one phone (PKB
// processes only one); a well-formed email. It returns a *ValidationError
// listing every problem.
func ValidatePatient(p stu3.Patient, opts ...Option) error {
	r := newRules(opts)
	return r.validate(p)
}

func (r rules) validate(p stu3.Patient) error {
	var probs []Problem
	add := func(field string, reason Reason) { probs = append(probs, Problem{field, reason}) }

	// Names: PKB reads name[0] (given[0] given, given[1..] middle, family).
	if len(p.Name) == 0 {
		if r.requireDemo {
			add("Patient.name", ReasonRequired)
		}
	} else {
		n := p.Name[0]
		if (len(n.Given) == 0 || strings.TrimSpace(n.Given[0]) == "") && r.requireDemo {
			add("Patient.name[0].given[0]", ReasonRequired)
		}
		if strings.TrimSpace(n.Family) == "" && r.requireDemo {
			add("Patient.name[0].family", ReasonRequired)
		}
	}

	switch {
	case p.BirthDate == "":
		if r.requireDemo {
			add("Patient.birthDate", ReasonRequired)
		}
	default:
		d, err := time.Parse("2006-01-02", p.BirthDate)
		if err != nil || d.After(r.now().AddDate(0, 0, 1)) {
			add("Patient.birthDate", ReasonInvalid)
		}
	}

	switch p.Gender {
	case "":
		if r.requireDemo {
			add("Patient.gender", ReasonRequired)
		}
	case stu3.PatientGenderMale, stu3.PatientGenderFemale, stu3.PatientGenderOther, stu3.PatientGenderUnknown:
	default:
		add("Patient.gender", ReasonInvalid)
	}

	if p.DeceasedBoolean != nil && p.DeceasedDateTime != "" {
		add("Patient.deceased[x]", ReasonConflict)
	}

	nhs := 0
	for i, id := range p.Identifier {
		sys := nationalid.System(id.System)
		if !sys.Known() {
			continue
		}
		field := fmt.Sprintf("Patient.identifier[%d].value", i)
		if sys == nationalid.NHSNumber {
			if nhs++; nhs > 1 {
				add(fmt.Sprintf("Patient.identifier[%d]", i), ReasonTooMany)
				continue
			}
		}
		var ne *nationalid.Error
		if err := sys.Validate(id.Value); errors.As(err, &ne) {
			switch ne.Reason {
			case nationalid.ReasonCheckDigit:
				add(field, ReasonChecksum)
			case nationalid.ReasonEmpty:
				add(field, ReasonRequired)
			default:
				add(field, ReasonInvalid)
			}
		}
	}
	if nhs == 0 && r.requireNHS {
		add("Patient.identifier", ReasonRequired)
	}

	emails, phones := 0, 0
	for i, t := range p.Telecom {
		field := fmt.Sprintf("Patient.telecom[%d]", i)
		switch t.System {
		case stu3.ContactPointSystemEmail:
			emails++
			if emails > 1 {
				add(field, ReasonTooMany)
			} else if a, err := mail.ParseAddress(t.Value); err != nil || a.Address != t.Value || a.Name != "" {
				add(field+".value", ReasonInvalid)
			}
		case stu3.ContactPointSystemPhone:
			phones++
			if phones > 1 {
				add(field, ReasonTooMany)
			} else if !phoneRE.MatchString(t.Value) {
				add(field+".value", ReasonInvalid)
			}
		}
	}

	var aliases []string
	for i, e := range p.Extension {
		if e.Url != TeamAliasURL {
			continue
		}
		if strings.TrimSpace(e.ValueString) == "" {
			add(fmt.Sprintf("Patient.extension[%d].valueString", i), ReasonRequired)
			continue
		}
		aliases = append(aliases, e.ValueString)
	}
	if len(aliases) > 0 {
		switch {
		case r.defaultTeam == "":
			add("Patient.extension("+TeamAliasURL+")", ReasonDefaultTeamUnknown)
		case !contains(aliases, r.defaultTeam):
			add("Patient.extension("+TeamAliasURL+")", ReasonNoDefaultTeam)
		}
	}

	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

var phoneRE = regexp.MustCompile(`^\+?[0-9][0-9 ()\-]{5,30}$`)

// ValidNHSNumber reports whether n is ten digits with a correct Modulus 11
// check digit. A mistyped NHS number is often a real one belonging to someone
// else; the checksum catches nearly all single-digit and transposition errors.
// It is nationalid.NHSNumber.Validate; that package checks the other national
// identifiers too.
func ValidNHSNumber(n string) bool { return nationalid.NHSNumber.Validate(n) == nil }

// PatientBuilder assembles the body of PKB's custom Patient/$process-message
// in PKB's mapping (title in prefix[0], given[0], middle names in given[1..],
// one phone, one email), so the shape is right by construction and Build only
// has to check the values.
type PatientBuilder struct {
	p stu3.Patient
}

// NewPatient starts a Patient for PKB's custom $process-message.
func NewPatient() *PatientBuilder {
	return &PatientBuilder{p: stu3.Patient{ResourceType: stu3.PatientResourceTypePatient}}
}

func (b *PatientBuilder) name() *stu3.HumanName {
	if len(b.p.Name) == 0 {
		b.p.Name = []stu3.HumanName{{}}
	}
	return &b.p.Name[0]
}

// Name sets the given name, family name and any middle names.
func (b *PatientBuilder) Name(given, family string, middle ...string) *PatientBuilder {
	n := b.name()
	n.Given = append([]string{given}, middle...)
	n.Family = family
	return b
}

// Title sets the title (PKB's name.prefix[0]).
func (b *PatientBuilder) Title(title string) *PatientBuilder {
	b.name().Prefix = []string{title}
	return b
}

// BirthDate sets the date of birth from t's calendar date in t's location;
// PKB stores a date only, so the time of day is dropped deliberately.
func (b *PatientBuilder) BirthDate(t time.Time) *PatientBuilder {
	b.p.BirthDate = t.Format("2006-01-02")
	return b
}

// Gender sets the administrative gender.
func (b *PatientBuilder) Gender(g stu3.PatientGender) *PatientBuilder {
	b.p.Gender = g
	return b
}

// NHSNumber sets the NHS number identifier, replacing any earlier one.
func (b *PatientBuilder) NHSNumber(n string) *PatientBuilder {
	for i := range b.p.Identifier {
		if b.p.Identifier[i].System == NHSNumberSystem {
			b.p.Identifier[i].Value = n
			return b
		}
	}
	b.p.Identifier = append(b.p.Identifier, stu3.Identifier{System: NHSNumberSystem, Value: n})
	return b
}

// Identifier adds another identifier (a local ID), kept as given.
func (b *PatientBuilder) Identifier(id stu3.Identifier) *PatientBuilder {
	b.p.Identifier = append(b.p.Identifier, id)
	return b
}

func (b *PatientBuilder) setTelecom(sys stu3.ContactPointSystem, v string, use stu3.ContactPointUse) {
	for i := range b.p.Telecom {
		if b.p.Telecom[i].System == sys {
			b.p.Telecom[i].Value, b.p.Telecom[i].Use = v, use
			return
		}
	}
	b.p.Telecom = append(b.p.Telecom, stu3.ContactPoint{System: sys, Value: v, Use: use})
}

// Email sets the one email PKB processes (it may send an invitation to it,
// and an email can belong to only one PKB record), replacing any earlier one.
func (b *PatientBuilder) Email(addr string) *PatientBuilder {
	b.setTelecom(stu3.ContactPointSystemEmail, addr, "")
	return b
}

// Phone sets the one phone number PKB processes (mobile preferred),
// replacing any earlier one.
func (b *PatientBuilder) Phone(number string, use stu3.ContactPointUse) *PatientBuilder {
	b.setTelecom(stu3.ContactPointSystemPhone, number, use)
	return b
}

// Address sets the address; PKB maps line[0..1], city, state, postalCode and country.
func (b *PatientBuilder) Address(a stu3.Address) *PatientBuilder {
	b.p.Address = []stu3.Address{a}
	return b
}

// Deceased marks the patient deceased at t (deceasedDateTime).
func (b *PatientBuilder) Deceased(t time.Time) *PatientBuilder {
	b.p.DeceasedBoolean = nil
	b.p.DeceasedDateTime = t.Format(time.RFC3339)
	return b
}

// TeamAliases adds team-alias extensions; one must be the sender's default
// team (see WithDefaultTeamAlias), otherwise omit them and PKB uses the default.
func (b *PatientBuilder) TeamAliases(aliases ...string) *PatientBuilder {
	for _, a := range aliases {
		b.p.Extension = append(b.p.Extension, stu3.Extension{Url: TeamAliasURL, ValueString: a})
	}
	return b
}

// Build validates the Patient against PKB's rules and returns it, or a
// *ValidationError listing every problem. The result is a deep copy, so
// reusing the builder as a template for the next patient cannot change a
// Patient already built.
func (b *PatientBuilder) Build(opts ...Option) (stu3.Patient, error) {
	if err := ValidatePatient(b.p, opts...); err != nil {
		return stu3.Patient{}, err
	}
	raw, err := json.Marshal(b.p)
	if err != nil {
		return stu3.Patient{}, err
	}
	var out stu3.Patient
	if err := json.Unmarshal(raw, &out); err != nil {
		return stu3.Patient{}, err
	}
	return out, nil
}
