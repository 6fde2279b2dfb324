package main

import (
	"fmt"

	"github.com/pkbgo/pkb/gen/fhir/r4"
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

// demoNewPatient is the patient the Messaging step creates.
func demoNewPatient() *stu3.Patient {
	return &stu3.Patient{
		Name:       []stu3.HumanName{{Given: []string{"Demo"}, Family: "Patient"}},
		BirthDate:  "1980-02-29",
		Gender:     stu3.PatientGenderFemale,
		Identifier: []stu3.Identifier{{System: nhsNumberSystem, Value: demoNewNHSNumber}},
	}
}

// demoCustomerPatient is the Patient of the Customer R4 batch; it has an
// id, so the batch writes it with PUT.
func demoCustomerPatient() *r4.Patient {
	return &r4.Patient{
		Id:         demoCustomerPatientID,
		Identifier: []r4.Identifier{{System: nhsNumberSystem, Value: demoCustomerNHSNumber}},
		Name:       []r4.HumanName{{Family: "Example", Given: []string{"Demo"}}},
		Gender:     r4.PatientGenderMale,
		BirthDate:  "1975-05-17",
	}
}

// demoCustomerObservation is the Observation of the Customer R4 batch, a
// body weight of the patient.
func demoCustomerObservation(subject *r4.Reference) *r4.Observation {
	return &r4.Observation{
		Id:     demoCustomerObservationID,
		Status: r4.ObservationStatusFinal,
		Code: &r4.CodeableConcept{Coding: []r4.Coding{{
			System: "http://loinc.org", Code: "29463-7", Display: "Body weight"}}},
		Subject:           subject,
		EffectiveDateTime: "2024-03-01T09:30:00Z",
		ValueQuantity: &r4.Quantity{Value: "72.5", Unit: "kg",
			System: "http://unitsofmeasure.org", Code: "kg"},
	}
}
