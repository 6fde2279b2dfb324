package search

import (
	"errors"
	"github.com/pkbgo/pkb/gen/access"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/gen/aggregated"
	"github.com/pkbgo/pkb/gen/facade"
)

// constructorKinds is what this package offers per parameter type; every
// parameter a PKB document declares must have one.
var constructorKinds = map[Kind]string{
	KindDate:      "Date (Eq/Gt/Lt/Ge/Le/On, Between)",
	KindToken:     "Token (Code/NHSNumber/AnySystem/NoSystem/System) or TokenText",
	KindReference: "Reference (Ref/ID/Typed) or Chained",
	KindString:    "String (StartsWith/Exact/Contains)",
	KindNumber:    "the params struct's integer field",
	KindSpecial:   "Raw or the params struct's enum",
	// The Aggregated endpoint implements every HL7 R4 core parameter; these
	// kinds have no constructor yet and are written in HL7's syntax into the
	// params struct's string field.
	KindQuantity:  "the params struct's string field ([prefix]number|system|code)",
	KindURI:       "the params struct's string field (a URI)",
	KindComposite: "the params struct's string field (values joined by $)",
}

func TestEveryDeclaredParameterHasAConstructor(t *testing.T) {
	if len(specs) == 0 {
		t.Fatal("empty table")
	}
	seen := map[[3]string]bool{}
	for _, s := range specs {
		key := [3]string{string(s.Family), s.Operation, s.Name}
		if seen[key] {
			t.Errorf("duplicate spec %v", key)
		}
		seen[key] = true
		if _, ok := constructorKinds[s.Kind]; !ok {
			t.Errorf("%s %s %s: kind %q has no constructor", s.Family, s.Operation, s.Name, s.Kind)
		}
		// The document's type must agree with HL7's where HL7 defines the parameter.
		if s.HL7Kind != "" && s.HL7Kind != s.Kind {
			t.Errorf("%s %s %s: document says %s, HL7 says %s", s.Family, s.Operation, s.Name, s.Kind, s.HL7Kind)
		}
		for _, p := range s.Prefixes {
			if !p.Valid() {
				t.Errorf("%s %s %s: prefix %q is not a FHIR prefix", s.Family, s.Operation, s.Name, p)
			}
		}
		if len(s.Prefixes) > 0 && s.Kind != KindDate && s.Kind != KindNumber && s.Kind != KindQuantity {
			t.Errorf("%s %s %s: prefixes on a %s parameter", s.Family, s.Operation, s.Name, s.Kind)
		}
		// Declared typed modifiers must name a type HL7 allows the reference to point at.
		for _, m := range s.Modifiers {
			if typeRE.MatchString(m) && len(s.Targets) > 0 && !slices.Contains(s.Targets, m) {
				t.Errorf("%s %s %s: modifier %s is not among HL7's targets %v", s.Family, s.Operation, s.Name, m, s.Targets)
			}
		}
		// Every family in the table must parse its own example values.
		if ex := example(s); ex != "" {
			if err := ValidateFor(s.Family, s.Operation, s.Name, ex); err != nil {
				t.Errorf("example %q: %v", ex, err)
			}
		}
	}
	// PKB's Facade supports eq, gt, lt, ge, le and nothing else.
	for _, s := range Specs(access.FamilyFacade, "") {
		for _, p := range s.Prefixes {
			if !slices.Contains([]Prefix{PrefixEq, PrefixGt, PrefixLt, PrefixGe, PrefixLe}, p) {
				t.Errorf("facade %s %s: prefix %s", s.Operation, s.Name, p)
			}
		}
	}
}

// example builds a value for s with this package's constructors.
func example(s ParamSpec) string {
	switch {
	case len(s.Enum) > 0:
		return s.Enum[0]
	case strings.HasSuffix(s.Name, ".identifier"):
		return NHSNumber("9434765919").String()
	case strings.HasSuffix(s.Name, ":text"):
		return TokenText("blood pressure").String()
	}
	switch s.Kind {
	case KindDate:
		if len(s.Prefixes) > 0 {
			return Dates(Date{s.Prefixes[0], MustParseDate("2018-07-01")})[0]
		}
		return On(MustParseDate("2018-07-01")).String()
	case KindToken:
		if len(s.SupportedSystems) > 0 {
			return Code(s.SupportedSystems[0], "9434765919").String()
		}
		return Code("http://example.org/cs", "x").String()
	case KindReference:
		if len(s.Targets) > 0 {
			return Ref(s.Targets[0], "abc-1").String()
		}
		return Ref("Organization", "abc-1").String()
	case KindString:
		return Exact("x").String()
	case KindNumber:
		return "10"
	}
	return ""
}

// TestParamsStructsMatchTable checks the generated clients against the
// table both ways: every query field of a Search*Params struct is a declared
// parameter, and every declared parameter of a search operation has a field.
func TestParamsStructsMatchTable(t *testing.T) {
	structs := map[Family][]any{
		access.FamilyFacade: {
			facade.SearchAppointmentParams{}, facade.SearchCommunicationParams{}, facade.SearchConsentParams{},
			facade.SearchDiagnosticReportParams{}, facade.SearchDocumentReferenceParams{}, facade.SearchEncounterParams{},
			facade.SearchNamingSystemParams{}, facade.SearchObservationParams{}, facade.ObservationGroupParams{},
			facade.SearchPatientParams{}, facade.SearchPersonParams{}, facade.SearchQuestionnaireParams{},
			facade.SearchQuestionnaireResponseParams{},
		},
		access.FamilyAggregated: {
			aggregated.SearchAllergyIntoleranceParams{}, aggregated.SearchAppointmentParams{}, aggregated.SearchCarePlanParams{},
			aggregated.SearchCareTeamParams{}, aggregated.SearchChargeItemParams{}, aggregated.SearchChargeItemDefinitionParams{},
			aggregated.SearchCodeSystemParams{}, aggregated.SearchCommunicationParams{}, aggregated.SearchCompositionParams{},
			aggregated.SearchConditionParams{}, aggregated.SearchConsentParams{}, aggregated.SearchDeviceParams{},
			aggregated.SearchDeviceRequestParams{}, aggregated.SearchDeviceUseStatementParams{}, aggregated.SearchDiagnosticReportParams{},
			aggregated.SearchDocumentReferenceParams{}, aggregated.SearchEncounterParams{}, aggregated.SearchEpisodeOfCareParams{},
			aggregated.SearchFlagParams{}, aggregated.SearchHealthcareServiceParams{}, aggregated.SearchImmunizationParams{},
			aggregated.SearchImmunizationRecommendationParams{}, aggregated.SearchInvoiceParams{}, aggregated.SearchLocationParams{},
			aggregated.SearchMedicationParams{}, aggregated.SearchMedicationAdministrationParams{}, aggregated.SearchMedicationDispenseParams{},
			aggregated.SearchMedicationRequestParams{}, aggregated.SearchMedicationStatementParams{}, aggregated.SearchNutritionOrderParams{},
			aggregated.SearchObservationParams{}, aggregated.SearchOrganizationParams{}, aggregated.SearchPatientParams{},
			aggregated.SearchPersonParams{}, aggregated.SearchPractitionerParams{}, aggregated.SearchQuestionnaireParams{},
			aggregated.SearchQuestionnaireResponseParams{}, aggregated.ConsentCarersParams{},
		},
	}
	for family, list := range structs {
		covered := map[string]bool{}
		for _, v := range list {
			typ := reflect.TypeOf(v)
			op := strings.TrimSuffix(typ.Name(), "Params")
			op = strings.ToLower(op[:1]) + op[1:]
			covered[op] = true
			for i := range typ.NumField() {
				f := typ.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("form"), ",")
				if name == "" {
					continue
				}
				s, ok := Lookup(family, op, name)
				if !ok {
					t.Errorf("%s %s: field %s (%s) not in the table", family, op, f.Name, name)
					continue
				}
				// Repeatable parameters are slices in the struct, the others are not.
				isSlice := f.Type.Kind() == reflect.Slice
				if isSlice != s.AND {
					t.Errorf("%s %s %s: slice=%v but AND=%v", family, op, name, isSlice, s.AND)
				}
			}
		}
		for _, s := range Specs(family, "") {
			if !covered[s.Operation] {
				t.Errorf("%s %s: operation has search parameters but no params struct is checked", family, s.Operation)
			}
		}
	}
}

func TestValidateFor(t *testing.T) {
	nhs := "9434765919"
	tests := []struct {
		name   string
		family Family
		op     string
		param  string
		values []string
		want   error
	}{
		{"observation range", access.FamilyFacade, "searchObservation", "date", Between(MustParseDate("2018-07-01"), MustParseDate("2018-08-01")), nil},
		{"observation instant", access.FamilyFacade, "searchObservation", "date", Dates(Ge(MustParseDate("2018-07-01T10:00:00+01:00"))), nil},
		{"no prefix is eq", access.FamilyFacade, "searchObservation", "date", []string{"2018"}, nil},
		{"ne is not PKB's", access.FamilyFacade, "searchObservation", "date", []string{"ne2018"}, ErrPrefix},
		{"encounter has no ge", access.FamilyFacade, "searchEncounter", "date", []string{"ge2018-07-01"}, ErrPrefix},
		{"encounter gt", access.FamilyFacade, "searchEncounter", "date", []string{"gt2018-07-01"}, nil},
		{"indexed eq only", access.FamilyFacade, "searchDocumentReference", "indexed", []string{"lt2018-07-01"}, ErrPrefix},
		{"indexed not repeatable", access.FamilyFacade, "searchDocumentReference", "indexed", []string{"eq2018", "eq2019"}, ErrNotRepeatable},
		{"bad date", access.FamilyFacade, "searchObservation", "date", []string{"ge2018-02-30"}, ErrSyntax},
		{"category", access.FamilyFacade, "searchObservation", "category", []string{"http://fhir.patientsknowbest.com/codesystem/observation-category|LABORATORY"}, nil},
		{"category twice", access.FamilyFacade, "searchObservation", "category", []string{"a|b", "a|c"}, ErrNotRepeatable},
		{"OR by comma", access.FamilyFacade, "searchObservation", "category", []string{"a|b,a|c"}, ErrNotRepeatable},
		{"escaped comma is one value", access.FamilyFacade, "searchObservation", "category", []string{`a|b\,c`}, nil},
		{"patient search nhs", access.FamilyFacade, "searchPatient", "identifier", []string{NHSNumber(nhs).String()}, nil},
		{"patient search other system", access.FamilyFacade, "searchPatient", "identifier", []string{"urn:oid:1|" + nhs}, ErrUnsupported},
		{"patient search no system", access.FamilyFacade, "searchPatient", "identifier", []string{nhs}, ErrUnsupported},
		{"token with two bars", access.FamilyFacade, "searchPatient", "identifier", []string{"a|b|c"}, ErrSyntax},
		{"patient ref", access.FamilyFacade, "searchObservation", "patient", []string{"Patient/abc"}, nil},
		{"patient typed modifier", access.FamilyFacade, "searchObservation", "patient:Patient", []string{"abc"}, nil},
		{"typed modifier wants a bare id", access.FamilyFacade, "searchObservation", "patient:Patient", []string{"Patient/abc"}, ErrSyntax},
		{"typed modifier target", access.FamilyFacade, "searchObservation", "patient:Practitioner", []string{"abc"}, ErrTarget},
		{"reference target", access.FamilyFacade, "searchObservation", "patient", []string{"Practitioner/abc"}, ErrTarget},
		{"reference id", access.FamilyFacade, "searchObservation", "patient", []string{"Patient/a b"}, ErrSyntax},
		{"person link has no modifier", access.FamilyFacade, "searchPerson", "link:Practitioner", []string{"abc"}, ErrModifier},
		{"naming system exact", access.FamilyFacade, "searchNamingSystem", "value:exact", []string{"urn:uuid:1"}, nil},
		{"naming system contains", access.FamilyFacade, "searchNamingSystem", "value:contains", []string{"x"}, ErrModifier},
		{"include enum", access.FamilyFacade, "searchQuestionnaireResponse", "_include", []string{"QuestionnaireResponse:subject:Patient", "QuestionnaireResponse:basedOn:ProcedureRequest"}, nil},
		{"include outside enum", access.FamilyFacade, "searchQuestionnaireResponse", "_include", []string{"QuestionnaireResponse:author"}, ErrUnsupported},
		{"count", access.FamilyFacade, "searchObservation", "_count", []string{"10"}, nil},
		{"count not a number", access.FamilyFacade, "searchObservation", "_count", []string{"ten"}, ErrSyntax},
		{"unknown parameter", access.FamilyFacade, "searchObservation", "code", []string{"x"}, ErrUnknownParameter},
		{"unknown operation", access.FamilyFacade, "readPatient", "_id", []string{"x"}, ErrUnknownParameter},
		{"op of another family", access.FamilyAggregated, "observationGroup", "patient", []string{"Patient/1"}, ErrUnknownParameter},
		{"aggregated HL7 parameter", access.FamilyAggregated, "searchObservation", "patient", []string{"Patient/1"}, nil},
		{"aggregated HL7 token modifier", access.FamilyAggregated, "searchCondition", "code:text", []string{"diabetes"}, nil},
		{"aggregated selector bad NHS check digit", access.FamilyAggregated, "searchCondition", "subject:Patient.identifier", []string{NHSNumberSystem + "|9434765918"}, ErrSyntax},
		{"no values", access.FamilyFacade, "searchObservation", "date", nil, ErrSyntax},
		{"empty value", access.FamilyFacade, "searchObservation", "date", []string{""}, ErrSyntax},
		{"aggregated chain", access.FamilyAggregated, "searchObservation", "subject:Patient.identifier", []string{NHSNumber(nhs).String()}, nil},
		{"aggregated chain bad token", access.FamilyAggregated, "searchObservation", "subject:Patient.identifier", []string{"a|b|c"}, ErrSyntax},
		{"aggregated code:text", access.FamilyAggregated, "searchObservation", "code:text", []string{TokenText("blood pressure").String()}, nil},
		{"aggregated date", access.FamilyAggregated, "searchAppointment", "date", []string{"ge2023-01-10"}, nil},
		{"aggregated lastUpdated sa", access.FamilyAggregated, "searchPatient", "_lastUpdated", []string{"sa2023"}, ErrPrefix},
		{"customer lastUpdated sa", access.FamilyCustomerR4, "search", "_lastUpdated", []string{"sa2023"}, nil},
		{"customer sort keeps commas", access.FamilyCustomerSTU3, "search", "_sort", []string{"date,-_id"}, nil},
		{"include iterate", access.FamilyCustomerSTU3, "search", "_include:iterate", []string{"Observation:subject"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFor(tt.family, tt.op, tt.param, tt.values...)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param != tt.param || pe.Operation != tt.op {
				t.Fatalf("err = %#v", err)
			}
			if strings.Contains(err.Error(), nhs) {
				t.Fatalf("error leaks the value: %v", err)
			}
		})
	}
}

func TestParamsValidateFor(t *testing.T) {
	var ok Params
	ok.Add("patient", Ref("Patient", "p1").Typed()).Add("date", Ge(MustParseDate("2018")))
	if err := ok.ValidateFor(access.FamilyFacade, "searchObservation"); err != nil {
		t.Fatal(err)
	}
	var bad Params
	bad.Add("patient", Ref("Practitioner", "p1").Typed()).Add("date", Ne(MustParseDate("2018")))
	err := bad.ValidateFor(access.FamilyFacade, "searchObservation")
	if !errors.Is(err, ErrTarget) || !errors.Is(err, ErrPrefix) {
		t.Fatalf("want both problems, got %v", err)
	}
}

func TestLookup(t *testing.T) {
	s, ok := Lookup(access.FamilyFacade, "searchEncounter", "date")
	if !ok || s.Kind != KindDate || !s.AND || !slices.Equal(s.Prefixes, []Prefix{PrefixGt, PrefixLt, PrefixEq}) || s.Resource != "Encounter" {
		t.Fatalf("Lookup = %+v, %v", s, ok)
	}
	if s.Definition != "http://hl7.org/fhir/SearchParameter/clinical-date" {
		t.Errorf("Definition = %q", s.Definition)
	}
	if _, ok := Lookup(access.FamilyFacade, "searchEncounter", "nope"); ok {
		t.Error("found a parameter that is not declared")
	}
	for _, s := range Specs(access.FamilyFacade, "searchObservation") {
		if s.Operation != "searchObservation" || s.Family != access.FamilyFacade {
			t.Errorf("Specs returned %+v", s)
		}
	}
}
