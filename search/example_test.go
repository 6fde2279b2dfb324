package search_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/pkbgo/pkb/gen/access"
	"net/http"
	"time"

	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/search"
)

// A Facade Observation search for one month of lab results: every value comes
// from a constructor, so the "|", the prefixes and the date format are right.
func Example() {
	from := time.Date(2018, 7, 1, 0, 0, 0, 0, time.UTC)
	params := facade.SearchObservationParams{
		Category: search.Code("http://fhir.patientsknowbest.com/codesystem/observation-category", "LABORATORY").String(),
		Patient:  search.Ref("Patient", "3d8afd18-0844-459a-b3c2-355d02e54c0a").String(),
		Date:     search.Between(search.Day(from), search.Day(from.AddDate(0, 1, 0))),
	}
	fmt.Println(params.Category)
	fmt.Println(params.Patient)
	fmt.Println(params.Date)
	// Output:
	// http://fhir.patientsknowbest.com/codesystem/observation-category|LABORATORY
	// Patient/3d8afd18-0844-459a-b3c2-355d02e54c0a
	// [ge2018-07-01 lt2018-08-01]
}

// Precision is explicit: the same instant searched at different precisions
// means "that year", "that day" or "that second".
func ExampleDateAt() {
	t := time.Date(2024, 3, 9, 14, 30, 0, 0, time.FixedZone("", -4*3600))
	fmt.Println(search.Year(t))
	fmt.Println(search.Day(t))
	fmt.Println(search.Instant(t))
	fmt.Println(search.DateAt(t, search.PrecisionMillisecond))
	// Output:
	// 2024
	// 2024-03-09
	// 2024-03-09T14:30:00-04:00
	// 2024-03-09T14:30:00.000-04:00
}

// ValidateFor catches what the server would silently get wrong: PKB's
// Encounter search accepts only gt, lt and eq.
func ExampleValidateFor() {
	err := search.ValidateFor(access.FamilyFacade, "searchEncounter", "date", search.Dates(search.Ge(search.MustParseDate("2018-07-01")))...)
	fmt.Println(errors.Is(err, search.ErrPrefix))
	fmt.Println(err)

	err = search.ValidateFor(access.FamilyFacade, "searchPatient", "identifier", "urn:oid:2.16.840.1.113883.2.1.4.1|9434765919")
	fmt.Println(errors.Is(err, search.ErrUnsupported))
	// Output:
	// true
	// search: facade searchEncounter: date[0]: prefix not allowed: ge (allowed: [gt lt eq])
	// true
}

// Token forms and FHIR escaping.
func ExampleToken() {
	fmt.Println(search.NHSNumber("9434765919"))
	fmt.Println(search.NoSystem("LABORATORY"))
	fmt.Println(search.System("https://fhir.nhs.uk/Id/nhs-number"))
	fmt.Println(search.Code("http://example.org/codes", "a|b"))
	// Output:
	// https://fhir.nhs.uk/Id/nhs-number|9434765919
	// |LABORATORY
	// https://fhir.nhs.uk/Id/nhs-number|
	// http://example.org/codes|a\|b
}

// Modifiers belong on the parameter name, which a params struct cannot
// change; Params carries them to any generated client as a request editor.
func ExampleParams_Editor() {
	var extra search.Params
	extra.Add("value", search.Exact("urn:uuid:cd97da65-0aa4-43a6-b695-cfd0c6f3267d"))

	req, _ := http.NewRequest(http.MethodGet, "https://sandbox.patientsknowbest.com/fhir/NamingSystem", nil)
	// With a generated client: c.SearchNamingSystem(ctx, params, extra.Editor())
	if err := extra.Editor()(context.Background(), req); err != nil {
		fmt.Println(err)
	}
	fmt.Println(req.URL.RawQuery)
	// Output:
	// value:exact=urn%3Auuid%3Acd97da65-0aa4-43a6-b695-cfd0c6f3267d
}

// Aggregated's chained patient selector; the generated struct has a field for
// it, and Chain gives the same name through Params.
func ExampleChain() {
	c := search.Chain("Patient", "identifier", search.NHSNumber("9434765919"))
	v, _ := new(search.Params).Add("subject", c).Values()
	fmt.Println(v.Encode())
	// Output:
	// subject%3APatient.identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919
}

// The typed-reference modifier form, "patient:Patient=id".
func ExampleReference_Typed() {
	r := search.Ref("Patient", "3d8afd18").Typed()
	fmt.Printf("patient:%s=%s\n", r.Modifier(), r)
	// Output:
	// patient:Patient=3d8afd18
}
