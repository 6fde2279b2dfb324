// Package nationalid names the national patient identifier systems PKB
// supports, with the FHIR Identifier.system URI PKB uses for each, and checks
// identifier values where a national rule defines a check digit.
//
// The systems and URIs are PKB's developer page "Identifier Systems"
// (docs/pkb-api.md §2.1). It is the one definition of these URIs in the
// module: package search builds tokens from a [System] and package message
// validates Patient identifiers with it.
//
// Errors name the system, never the value: identifier values identify
// patients.
package nationalid

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// System is a national identifier system, the URI that goes in
// Identifier.system (and before the "|" of a token search value).
type System string

// The national identifier systems PKB supports, in the order of PKB's table.
const (
	// NHSNumber is the NHS number of England and Wales (GB-ENG, GB-WLS).
	NHSNumber System = "https://fhir.nhs.uk/Id/nhs-number"
	// CHINumber is Scotland's Community Health Index number (GB-SCT).
	CHINumber System = "urn:oid:2.16.840.1.113883.2.1.3.2.4.16.53"
	// HealthAndCareNumber is Northern Ireland's Health and Care Number
	// (GB-NIR).
	HealthAndCareNumber System = "urn:uuid:1479257a-ce8f-482a-89fa-429ac066c158"
	// IHI is the Individual Health Identifier PKB lists for Ireland (IE).
	// The URI is the Australian IHI namespace, exactly as PKB's table gives
	// it.
	IHI System = "http://ns.electronichealth.net.au/id/hi/ihi/1.0"
	// SSN is the United States Social Security Number (US).
	SSN System = "http://hl7.org/fhir/sid/us-ssn"
	// SIN is Canada's Social Insurance Number (CA).
	SIN System = "https://fhir.infoway-inforoute.ca/NamingSystem/ca-social-insurance-number"
	// HKID is the Hong Kong Identity Card number (HK); the URI is PKB's own.
	HKID System = "http://fhir.patientsknowbest.com/id/hong-kong-identity-card-number"
	// BSN is the Dutch Burgerservicenummer (NL).
	BSN System = "http://fhir.nl/fhir/NamingSystem/bsn"
	// KVNR is the German Krankenversichertennummer (DE), in its 30-character
	// form as PKB's URI says.
	KVNR System = "http://fhir.de/NamingSystem/gkv/kvnr-30"
	// KuwaitCivilID is the Kuwaiti Civil ID (KW); the URI is PKB's own.
	KuwaitCivilID System = "http://fhir.patientsknowbest.com/id/kuwait-civil-id"
)

type info struct {
	name      string
	countries []string
	check     func(string) Reason
}

var table = []struct {
	sys System
	info
}{
	{NHSNumber, info{"NHS Number", []string{"GB-ENG", "GB-WLS"}, nhsStyle}},
	{CHINumber, info{"CHI Number", []string{"GB-SCT"}, nhsStyle}},
	{HealthAndCareNumber, info{"Health and Care Number", []string{"GB-NIR"}, nhsStyle}},
	{IHI, info{"Individual Health Identifier", []string{"IE"}, nil}},
	{SSN, info{"SSN", []string{"US"}, nil}},
	{SIN, info{"SIN", []string{"CA"}, luhn9}},
	{HKID, info{"HKID", []string{"HK"}, nil}},
	{BSN, info{"BSN", []string{"NL"}, elevenProof}},
	{KVNR, info{"Krankenversichertennummer", []string{"DE"}, nil}},
	{KuwaitCivilID, info{"Civil ID", []string{"KW"}, nil}},
}

func lookup(s System) (info, bool) {
	for _, e := range table {
		if e.sys == s {
			return e.info, true
		}
	}
	return info{}, false
}

// Systems lists every national identifier system PKB supports, in the order
// of PKB's table.
func Systems() []System {
	out := make([]System, len(table))
	for i, e := range table {
		out[i] = e.sys
	}
	return out
}

// NHSStyle lists the three systems drawn from the NHS numbering scheme
// (non-overlapping ranges, one Modulus 11 check digit). PKB treats them as
// separate types and leaves choosing the right one to the client; they are
// the only systems PKB's $status-query and $generate-invitation-tokens take.
func NHSStyle() []System { return []System{NHSNumber, CHINumber, HealthAndCareNumber} }

// Known reports whether s is one of the systems PKB supports.
func (s System) Known() bool { _, ok := lookup(s); return ok }

// Name is PKB's name for the identifier, e.g. "CHI Number"; "" when unknown.
func (s System) Name() string { i, _ := lookup(s); return i.name }

// Countries are the ISO 3166 codes PKB gives for the identifier.
func (s System) Countries() []string { i, _ := lookup(s); return slices.Clone(i.countries) }

// String is the URI.
func (s System) String() string { return string(s) }

// ErrInvalid is matched by errors.Is on every *Error.
var ErrInvalid = errors.New("nationalid: invalid identifier")

// Reason says what is wrong with an identifier.
type Reason string

// The reasons Validate gives.
const (
	ReasonUnknownSystem Reason = "not a national identifier system PKB supports"
	ReasonEmpty         Reason = "empty value"
	ReasonFormat        Reason = "wrong format"
	ReasonCheckDigit    Reason = "check digit fails"
)

// Error is a value that breaks its system's rule. It names the system and
// the reason, never the value.
type Error struct {
	System System
	Reason Reason
}

// Error renders "nationalid: invalid identifier: <name>: <reason>".
func (e *Error) Error() string {
	name := e.System.Name()
	if name == "" {
		name = "system " + string(e.System)
	}
	return fmt.Sprintf("%s: %s: %s", ErrInvalid, name, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Validate checks value against the rule of system s: a value must not be
// blank, and where the national rule defines a check digit it must hold
// (NHS, CHI and Health and Care numbers: ten digits, Modulus 11; BSN: nine
// digits, the "elfproef"; SIN: nine digits, Luhn). Values of the other
// systems (IHI, SSN, HKID, KVNR, Kuwait Civil ID) are only checked for being
// non-blank: PKB documents no format for them and this package does not
// guess one. An unknown system is an error.
func (s System) Validate(value string) error {
	i, ok := lookup(s)
	switch {
	case !ok:
		return &Error{s, ReasonUnknownSystem}
	case strings.TrimSpace(value) == "":
		return &Error{s, ReasonEmpty}
	case i.check == nil:
		return nil
	}
	if r := i.check(value); r != "" {
		return &Error{s, Reason(r)}
	}
	return nil
}

// digits reports whether v is exactly n ASCII digits.
func digits(v string, n int) bool {
	if len(v) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// nhsStyle is the NHS Modulus 11 rule shared by NHS, CHI and Health and
// Care numbers: weights 10..2 on the first nine digits; 11 - sum%11 is the
// check digit, 11 means 0 and 10 means the number is never issued.
func nhsStyle(v string) Reason {
	if !digits(v, 10) {
		return ReasonFormat
	}
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(v[i]-'0') * (10 - i)
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		return ReasonCheckDigit
	}
	if check != int(v[9]-'0') {
		return ReasonCheckDigit
	}
	return ""
}

// elevenProof is the Dutch BSN rule: weights 9..2 on the first eight
// digits and -1 on the last; the sum is a multiple of 11. All zeros passes
// the sum but is never issued.
func elevenProof(v string) Reason {
	if !digits(v, 9) {
		return ReasonFormat
	}
	sum := 0
	for i := 0; i < 8; i++ {
		sum += int(v[i]-'0') * (9 - i)
	}
	sum -= int(v[8] - '0')
	if sum%11 != 0 || v == "000000000" {
		return ReasonCheckDigit
	}
	return ""
}

// luhn9 is the Canadian SIN rule: nine digits whose Luhn sum is a multiple
// of 10.
func luhn9(v string) Reason {
	if !digits(v, 9) {
		return ReasonFormat
	}
	sum := 0
	for i := 0; i < 9; i++ {
		d := int(v[i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if sum%10 != 0 {
		return ReasonCheckDigit
	}
	return ""
}
