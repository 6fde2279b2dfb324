package main

import (
	"fmt"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/pkbtest"
)

// The demo's own inputs. Everything is synthetic; NHS numbers are in the
// 999 range, which the NHS never issues.
const (
	demoObservationCategory   = pkbtest.SystemObservationCategory + "|LABORATORY"
	demoDateFrom              = "2024-01-01"
	demoDateTo                = "2024-03-31"
	demoCustomerPatientID     = "pkb-demo-patient-1"
	demoCustomerObservationID = "pkb-demo-observation-1"
)

var (
	// demoNewNHSNumber is the patient the Messaging step creates.
	demoNewNHSNumber = nhsNumber("999000123")
	// demoCustomerNHSNumber is the patient of the Customer batch.
	demoCustomerNHSNumber = nhsNumber("999000456")
)

// nhsNumber appends the modulus-11 check digit to nine digits.
func nhsNumber(nine string) string {
	sum := 0
	for i, r := range nine {
		sum += int(r-'0') * (10 - i)
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		panic("nhsNumber: " + nine + " has no valid check digit")
	}
	return fmt.Sprintf("%s%d", nine, check)
}

// demoDocumentIdentifiers are the identifiers of seeded documents whose
// read receipts the read-receipt query asks for.
func demoDocumentIdentifiers() []stu3.Identifier {
	return []stu3.Identifier{
		{System: pkbtest.SeedDocumentIdentifierSystem, Value: pkbtest.SeedReadDocumentIdentifier},
		{System: pkbtest.SeedDocumentIdentifierSystem, Value: pkbtest.SeedUnreadDocumentIdentifier},
	}
}

// demoBatch is the Customer R4 batch: a Patient and an Observation about
// them, written with PUT so that the demo can run repeatedly.
func demoBatch() []byte {
	return fmt.Appendf(nil, `{
  "resourceType": "Bundle",
  "type": "batch",
  "entry": [
    {
      "resource": {
        "resourceType": "Patient",
        "id": %[1]q,
        "identifier": [{"system": %[3]q, "value": %[4]q}],
        "name": [{"family": "Example", "given": ["Demo"]}],
        "gender": "male",
        "birthDate": "1975-05-17"
      },
      "request": {"method": "PUT", "url": "Patient/%[1]s"}
    },
    {
      "resource": {
        "resourceType": "Observation",
        "id": %[2]q,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": "Patient/%[1]s"},
        "effectiveDateTime": "2024-03-01T09:30:00Z",
        "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
      },
      "request": {"method": "PUT", "url": "Observation/%[2]s"}
    }
  ]
}`, demoCustomerPatientID, demoCustomerObservationID, nhsNumberSystem, demoCustomerNHSNumber)
}
