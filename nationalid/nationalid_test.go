package nationalid

import (
	"errors"
	"strings"
	"testing"
)

// The URIs are PKB's developer page "Identifier Systems", verbatim.
func TestSystemsArePKBsTable(t *testing.T) {
	want := []string{
		"https://fhir.nhs.uk/Id/nhs-number",
		"urn:oid:2.16.840.1.113883.2.1.3.2.4.16.53",
		"urn:uuid:1479257a-ce8f-482a-89fa-429ac066c158",
		"http://ns.electronichealth.net.au/id/hi/ihi/1.0",
		"http://hl7.org/fhir/sid/us-ssn",
		"https://fhir.infoway-inforoute.ca/NamingSystem/ca-social-insurance-number",
		"http://fhir.patientsknowbest.com/id/hong-kong-identity-card-number",
		"http://fhir.nl/fhir/NamingSystem/bsn",
		"http://fhir.de/NamingSystem/gkv/kvnr-30",
		"http://fhir.patientsknowbest.com/id/kuwait-civil-id",
	}
	got := Systems()
	if len(got) != len(want) {
		t.Fatalf("%d systems, want %d", len(got), len(want))
	}
	for i, s := range got {
		if string(s) != want[i] || !s.Known() || s.Name() == "" || len(s.Countries()) == 0 {
			t.Errorf("system %d = %q (%q %v), want %q", i, s, s.Name(), s.Countries(), want[i])
		}
	}
	if System("https://fhir.nhs.scot/Id/chi-number").Known() {
		t.Error("an invented CHI URI is known")
	}
	if c := NHSNumber.Countries(); c[0] != "GB-ENG" || c[1] != "GB-WLS" {
		t.Errorf("NHS countries %v", c)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		sys   System
		value string
		want  Reason // "" = valid
	}{
		{NHSNumber, "9434765919", ""},
		{NHSNumber, "9434765918", ReasonCheckDigit},
		{NHSNumber, "943476591", ReasonFormat},
		{NHSNumber, "943 476 5919", ReasonFormat},
		{NHSNumber, "9999999999", ""},               // PKB's own example value
		{NHSNumber, "0000000010", ReasonCheckDigit}, // check digit 10: never issued
		{CHINumber, "0101011234", nhsCheck("0101011234")},
		{HealthAndCareNumber, "3200000010", nhsCheck("3200000010")},
		{BSN, "111222333", ""},
		{BSN, "123456782", ""},
		{BSN, "123456789", ReasonCheckDigit},
		{BSN, "000000000", ReasonCheckDigit},
		{BSN, "11122233", ReasonFormat},
		{SIN, "046454286", ""},
		{SIN, "046454287", ReasonCheckDigit},
		{SIN, "04645428a", ReasonFormat},
		{SSN, "123-45-6789", ""},
		{KVNR, "A123456780", ""},
		{KuwaitCivilID, "  ", ReasonEmpty},
		{IHI, "", ReasonEmpty},
		{System("urn:example:x"), "1", ReasonUnknownSystem},
	} {
		err := tc.sys.Validate(tc.value)
		var e *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %q: %v", tc.sys.Name(), tc.value, err)
		case tc.want != "" && (!errors.As(err, &e) || e.Reason != tc.want || !errors.Is(err, ErrInvalid)):
			t.Errorf("%s %q: %v, want %s", tc.sys.Name(), tc.value, err, tc.want)
		case err != nil && tc.value != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.value)) && strings.TrimSpace(tc.value) != "":
			t.Errorf("error %q quotes the value", err)
		}
	}
}

// nhsCheck is the expected reason for an NHS-style number, computed
// independently of the package (sum of digit*weight including the check
// digit with weight 1 is 0 mod 11, the textbook form of Modulus 11).
func nhsCheck(v string) Reason {
	sum := 0
	for i := 0; i < 10; i++ {
		w := 10 - i
		if i == 9 {
			w = 1
		}
		sum += int(v[i]-'0') * w
	}
	if sum%11 == 0 {
		return ""
	}
	return ReasonCheckDigit
}

func TestNHSStyle(t *testing.T) {
	got := NHSStyle()
	if len(got) != 3 || got[0] != NHSNumber || got[1] != CHINumber || got[2] != HealthAndCareNumber {
		t.Errorf("NHSStyle() = %v", got)
	}
}
