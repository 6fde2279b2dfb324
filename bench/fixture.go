// Package bench holds benchmarks that compare pkb-go's generated FHIR models
// with other ways of decoding the same FHIR JSON. It is a separate module so
// that the libraries it compares against (github.com/google/fhir/go and its
// protobuf dependencies) never appear in the root module's go.mod.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// The fixture is built from local structs, not from the stu3 package, so that
// it does not depend on the marshalling of any of the implementations that are
// benchmarked against it.

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

type quantity struct {
	Value  json.Number `json:"value"`
	Unit   string      `json:"unit,omitempty"`
	System string      `json:"system,omitempty"`
	Code   string      `json:"code,omitempty"`
}

type meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Profile     []string `json:"profile,omitempty"`
	Security    []coding `json:"security,omitempty"`
}

type referenceRange struct {
	Low  *quantity `json:"low,omitempty"`
	High *quantity `json:"high,omitempty"`
}

type observation struct {
	ResourceType      string            `json:"resourceType"`
	ID                string            `json:"id"`
	Meta              meta              `json:"meta"`
	Status            string            `json:"status"`
	Category          []codeableConcept `json:"category"`
	Code              codeableConcept   `json:"code"`
	Subject           reference         `json:"subject"`
	EffectiveDateTime string            `json:"effectiveDateTime"`
	Issued            string            `json:"issued"`
	Performer         []reference       `json:"performer"`
	ValueQuantity     quantity          `json:"valueQuantity"`
	Interpretation    codeableConcept   `json:"interpretation"`
	ReferenceRange    []referenceRange  `json:"referenceRange"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string      `json:"fullUrl"`
	Resource observation `json:"resource"`
	Search   struct {
		Mode string `json:"mode"`
	} `json:"search"`
}

type bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         meta          `json:"meta"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []bundleLink  `json:"link"`
	Entry        []bundleEntry `json:"entry"`
}

// vital describes one kind of observation: its LOINC code, UCUM unit, the
// range its values are drawn from and its normal reference range.
type vital struct {
	loinc, display, text   string
	category, categoryText string
	unit, ucum             string
	min, max               float64 // values are drawn uniformly from [min, max)
	decimals               int
	low, high              float64 // reference range
}

var vitals = []vital{
	{"8867-4", "Heart rate", "Heart rate", "vital-signs", "Vital Signs", "beats/minute", "/min", 48, 120, 2, 60, 100},
	{"29463-7", "Body weight", "Weight", "vital-signs", "Vital Signs", "kg", "kg", 45, 130, 2, 50, 100},
	{"8310-5", "Body temperature", "Temperature", "vital-signs", "Vital Signs", "C", "Cel", 35.5, 39.5, 2, 36.1, 37.2},
	{"8480-6", "Systolic blood pressure", "Systolic BP", "vital-signs", "Vital Signs", "mmHg", "mm[Hg]", 95, 180, 1, 90, 140},
	{"9279-1", "Respiratory rate", "Respiratory rate", "vital-signs", "Vital Signs", "breaths/minute", "/min", 10, 28, 1, 12, 20},
	{"59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "SpO2", "vital-signs", "Vital Signs", "%", "%", 88, 100, 1, 95, 100},
	{"8302-2", "Body height", "Height", "vital-signs", "Vital Signs", "cm", "cm", 150, 200, 1, 150, 200},
	{"15074-8", "Glucose [Moles/volume] in Blood", "Blood glucose", "laboratory", "Laboratory", "mmol/L", "mmol/L", 3.5, 12, 2, 3.9, 7.8},
}

// confidentiality is the privacy label set in meta.security.
var confidentiality = []coding{
	{System: "http://hl7.org/fhir/v3/Confidentiality", Code: "N", Display: "normal"},
	{System: "http://hl7.org/fhir/v3/Confidentiality", Code: "R", Display: "restricted"},
	{System: "http://hl7.org/fhir/v3/Confidentiality", Code: "V", Display: "very restricted"},
}

var interpretations = map[string]coding{
	"L": {System: "http://hl7.org/fhir/v2/0078", Code: "L", Display: "Low"},
	"N": {System: "http://hl7.org/fhir/v2/0078", Code: "N", Display: "Normal"},
	"H": {System: "http://hl7.org/fhir/v2/0078", Code: "H", Display: "High"},
}

func profile(v vital) []string {
	if v.category != "vital-signs" {
		return nil
	}
	return []string{"http://hl7.org/fhir/StructureDefinition/vitalsigns"}
}

// simple is a SimpleQuantity as reference ranges usually carry it: value and
// human-readable unit only.
func simple(v float64, v2 vital) *quantity {
	return &quantity{Value: json.Number(strconv.FormatFloat(v, 'f', v2.decimals, 64)), Unit: v2.unit}
}

const baseURL = "https://pkb.example.org/fhir"

func ucum(v float64, v2 vital) *quantity {
	return &quantity{
		Value:  json.Number(strconv.FormatFloat(v, 'f', v2.decimals, 64)),
		Unit:   v2.unit,
		System: "http://unitsofmeasure.org",
		Code:   v2.ucum,
	}
}

// ObservationBundle returns a compact JSON STU3 searchset Bundle of n
// Observations (about 1.1 KB each, so 1,000 make about 1.1 MB). The output depends only on n: it is built
// with a fixed-seed PRNG and fixed timestamps.
func ObservationBundle(n int) []byte {
	rng := rand.New(rand.NewPCG(2024, 3))
	start := time.Date(2024, time.January, 1, 7, 0, 0, 0, time.FixedZone("", 3600))

	b := bundle{
		ResourceType: "Bundle",
		ID:           "search-7f3c2a9e",
		Meta:         meta{LastUpdated: "2024-06-30T12:00:00.000+01:00"},
		Type:         "searchset",
		Total:        n,
		Link: []bundleLink{
			{Relation: "self", URL: baseURL + "/Observation?patient=pat-0042&_count=" + strconv.Itoa(n)},
			{Relation: "next", URL: baseURL + "/Observation?patient=pat-0042&_count=" + strconv.Itoa(n) + "&_getpagesoffset=" + strconv.Itoa(n)},
		},
		Entry: make([]bundleEntry, n),
	}
	for i := range n {
		v := vitals[i%len(vitals)]
		value := v.min + rng.Float64()*(v.max-v.min)
		// Round to the displayed precision so the interpretation matches the value.
		value, _ = strconv.ParseFloat(strconv.FormatFloat(value, 'f', v.decimals, 64), 64)
		interp := "N"
		switch {
		case value < v.low:
			interp = "L"
		case value > v.high:
			interp = "H"
		}
		effective := start.Add(time.Duration(i)*47*time.Minute + time.Duration(rng.IntN(60))*time.Second)
		issued := effective.Add(time.Duration(2+rng.IntN(600))*time.Second + time.Duration(rng.IntN(1000))*time.Millisecond)
		id := fmt.Sprintf("obs-%06d", i+1)

		e := &b.Entry[i]
		e.FullURL = baseURL + "/Observation/" + id
		e.Search.Mode = "match"
		e.Resource = observation{
			ResourceType: "Observation",
			ID:           id,
			Meta: meta{
				VersionID:   strconv.Itoa(1 + rng.IntN(3)),
				LastUpdated: issued.Format("2006-01-02T15:04:05.000-07:00"),
				Profile:     profile(v),
				Security:    []coding{confidentiality[rng.IntN(len(confidentiality))]},
			},
			Status: "final",
			Category: []codeableConcept{{
				Coding: []coding{{System: "http://hl7.org/fhir/observation-category", Code: v.category, Display: v.categoryText}},
			}},
			Code: codeableConcept{
				Coding: []coding{{System: "http://loinc.org", Code: v.loinc, Display: v.display}},
				Text:   v.text,
			},
			Subject:           reference{Reference: "Patient/pat-0042"},
			EffectiveDateTime: effective.Format(time.RFC3339),
			Issued:            issued.Format("2006-01-02T15:04:05.000-07:00"),
			Performer:         []reference{{Reference: fmt.Sprintf("Practitioner/prac-%03d", 1+rng.IntN(25))}},
			ValueQuantity:     *ucum(value, v),
			Interpretation: codeableConcept{
				Coding: []coding{interpretations[interp]},
			},
			ReferenceRange: []referenceRange{{Low: simple(v.low, v), High: simple(v.high, v)}},
		}
	}
	// Compact, with '&' in the link URLs left as is, as FHIR servers send it.
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		panic(err) // cannot happen: only strings, numbers and slices
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}
