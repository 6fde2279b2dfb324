package message

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/nationalid"
)

var (
	dob   = time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC)
	clock = func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) }
)

func validBuilder() *PatientBuilder {
	return NewPatient().
		Title("Mr").
		Name("John", "Doe", "Quincy").
		BirthDate(dob).
		Gender(stu3.PatientGenderMale).
		NHSNumber("9434765919").
		Email("john.doe@example.com").
		Phone("07123 456789", stu3.ContactPointUseMobile)
}

func TestValidNHSNumber(t *testing.T) {
	for n, want := range map[string]bool{
		"9434765919": true, "4010232137": true, "9000000009": true, "9434765870": true,
		"9434765918": false, // wrong check digit
		"1234567890": false, // check digit would be 10: never issued
		"943476591":  false, "94347659190": false, "943476591X": false, "": false, "943 476 5919": false,
	} {
		if got := ValidNHSNumber(n); got != want {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", n, got, want)
		}
	}
}

func TestBuilderProducesPKBShape(t *testing.T) {
	p, err := validBuilder().TeamAliases("team_a", "team_default").
		Address(stu3.Address{Line: []string{"1 Main Street"}, City: "London", PostalCode: "CB11BC"}).
		Build(WithDefaultTeamAlias("team_default"), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	want := `{"address":[{"city":"London","line":["1 Main Street"],"postalCode":"CB11BC"}],"birthDate":"1990-01-02",` +
		`"extension":[{"url":"http://fhir.patientsknowbest.com/structuredefinition/team-alias","valueString":"team_a"},` +
		`{"url":"http://fhir.patientsknowbest.com/structuredefinition/team-alias","valueString":"team_default"}],` +
		`"gender":"male","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],` +
		`"name":[{"family":"Doe","given":["John","Quincy"],"prefix":["Mr"]}],"resourceType":"Patient",` +
		`"telecom":[{"system":"email","value":"john.doe@example.com"},{"system":"phone","use":"mobile","value":"07123 456789"}]}`
	norm, _ := json.Marshal(got)
	if string(norm) != want {
		t.Fatalf("got  %s\nwant %s", norm, want)
	}
}

func TestBuildReturnsACopy(t *testing.T) {
	b := validBuilder()
	first, err := b.Build(WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	b.Name("Jane", "Roe").NHSNumber("4010232137").Email("jane@example.com")
	if first.Name[0].Given[0] != "John" || first.Identifier[0].Value != "9434765919" || first.Telecom[0].Value != "john.doe@example.com" {
		t.Fatalf("built Patient changed with the builder: %+v", first)
	}
}

func TestBuilderReplacesSingletons(t *testing.T) {
	p, err := validBuilder().NHSNumber("4010232137").Email("other@example.com").Phone("+44 7123 456780", "").
		Identifier(stu3.Identifier{System: "urn:uuid:local", Value: "L1"}).Build(WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Identifier) != 2 || p.Identifier[0].Value != "4010232137" || len(p.Telecom) != 2 || p.Telecom[0].Value != "other@example.com" {
		t.Fatalf("singletons not replaced: %+v %+v", p.Identifier, p.Telecom)
	}
	p, err = validBuilder().Deceased(dob.AddDate(80, 0, 0)).Build(WithClock(clock))
	if err != nil || p.DeceasedDateTime != "2070-01-02T00:00:00Z" {
		t.Fatalf("deceased: %q %v", p.DeceasedDateTime, err)
	}
}

func TestValidationListsEveryProblemWithoutValues(t *testing.T) {
	secretNHS, secretEmail, secretName := "9434765918", "not-an-email@", "Zebedee"
	p := stu3.Patient{
		Name:       []stu3.HumanName{{Given: []string{secretName}}},
		Gender:     "bloke",
		BirthDate:  "1990-02-30",
		Identifier: []stu3.Identifier{{System: NHSNumberSystem, Value: secretNHS}, {System: NHSNumberSystem, Value: "9434765919"}},
		Telecom: []stu3.ContactPoint{
			{System: stu3.ContactPointSystemEmail, Value: secretEmail},
			{System: stu3.ContactPointSystemEmail, Value: "b@example.com"},
			{System: stu3.ContactPointSystemPhone, Value: "call me"},
			{System: stu3.ContactPointSystemPhone, Value: "07123456789"},
		},
		DeceasedBoolean:  new(bool),
		DeceasedDateTime: "2020-01-01",
		Extension:        []stu3.Extension{{Url: TeamAliasURL, ValueString: "a"}, {Url: TeamAliasURL}},
	}
	err := ValidatePatient(p, WithDefaultTeamAlias("default"), WithClock(clock))
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidPatient) {
		t.Fatalf("err = %v", err)
	}
	want := []Problem{
		{"Patient.name[0].family", ReasonRequired},
		{"Patient.birthDate", ReasonInvalid},
		{"Patient.gender", ReasonInvalid},
		{"Patient.deceased[x]", ReasonConflict},
		{"Patient.identifier[0].value", ReasonChecksum},
		{"Patient.identifier[1]", ReasonTooMany},
		{"Patient.telecom[0].value", ReasonInvalid},
		{"Patient.telecom[1]", ReasonTooMany},
		{"Patient.telecom[2].value", ReasonInvalid},
		{"Patient.telecom[3]", ReasonTooMany},
		{"Patient.extension[1].valueString", ReasonRequired},
		{"Patient.extension(" + TeamAliasURL + ")", ReasonNoDefaultTeam},
	}
	for _, w := range want {
		if !ve.Has(w.Field, w.Reason) {
			t.Errorf("missing problem %v", w)
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("got %d problems, want %d: %v", len(ve.Problems), len(want), ve.Problems)
	}
	for _, secret := range []string{secretNHS, secretEmail, secretName, "bloke", "1990-02-30", "call me"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks %q: %v", secret, err)
		}
	}
}

func TestRequiredFields(t *testing.T) {
	err := ValidatePatient(stu3.Patient{})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	for _, f := range []string{"Patient.name", "Patient.birthDate", "Patient.gender"} {
		if !ve.Has(f, ReasonRequired) {
			t.Errorf("missing required %s", f)
		}
	}
	err = ValidatePatient(stu3.Patient{Name: []stu3.HumanName{{Given: []string{" "}, Family: ""}}, BirthDate: "1990-01-01", Gender: "female"})
	if !errors.As(err, &ve) || !ve.Has("Patient.name[0].given[0]", ReasonRequired) || !ve.Has("Patient.name[0].family", ReasonRequired) {
		t.Fatal(err)
	}
	// NHS number is optional for the custom operation.
	if _, err := NewPatient().Name("A", "B").BirthDate(dob).Gender(stu3.PatientGenderUnknown).Build(); err != nil {
		t.Fatal(err)
	}
}

func TestBirthDateInFuture(t *testing.T) {
	_, err := validBuilder().BirthDate(clock().AddDate(0, 0, 3)).Build(WithClock(clock))
	var ve *ValidationError
	if !errors.As(err, &ve) || !ve.Has("Patient.birthDate", ReasonInvalid) {
		t.Fatal(err)
	}
}

func TestTeamAliasRule(t *testing.T) {
	tests := []struct {
		name    string
		aliases []string
		opts    []Option
		want    Reason
	}{
		{"absent: default team", nil, nil, ""},
		{"default among them", []string{"x", "dflt"}, []Option{WithDefaultTeamAlias("dflt")}, ""},
		{"default missing", []string{"x", "y"}, []Option{WithDefaultTeamAlias("dflt")}, ReasonNoDefaultTeam},
		{"default not configured", []string{"x"}, nil, ReasonDefaultTeamUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validBuilder().TeamAliases(tt.aliases...).Build(append(tt.opts, WithClock(clock))...)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !ve.Has("Patient.extension("+TeamAliasURL+")", tt.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// Every national identifier PKB supports is checked with its own rule, not
// only NHS numbers; identifiers of other systems are left alone.
func TestValidatePatientNationalIDs(t *testing.T) {
	p, err := validBuilder().Build(WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	p.Identifier = append(p.Identifier,
		stu3.Identifier{System: string(nationalid.CHINumber), Value: "0101010000"},           // [1] check digit fails
		stu3.Identifier{System: string(nationalid.BSN), Value: "111222333"},                  // [2] valid
		stu3.Identifier{System: string(nationalid.BSN), Value: "11122233"},                   // [3] eight digits
		stu3.Identifier{System: string(nationalid.KuwaitCivilID), Value: " "},                // [4] blank
		stu3.Identifier{System: "https://example.invalid/mrn", Value: "not checked"},         // [5] local id
		stu3.Identifier{System: string(nationalid.HealthAndCareNumber), Value: "3200000015"}, // [6] valid
	)
	err = ValidatePatient(p, WithClock(clock))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []Problem{
		{"Patient.identifier[1].value", ReasonChecksum},
		{"Patient.identifier[3].value", ReasonInvalid},
		{"Patient.identifier[4].value", ReasonRequired},
	} {
		if !ve.Has(want.Field, want.Reason) {
			t.Errorf("missing %s in %v", want, ve)
		}
	}
	if len(ve.Problems) != 3 {
		t.Errorf("problems %v, want exactly the three above", ve.Problems)
	}
	if strings.Contains(err.Error(), "0101010000") {
		t.Errorf("error quotes an identifier: %v", err)
	}
}
