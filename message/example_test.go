package message_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/message"
)

// The body of PKB's custom Patient/$process-message, checked before sending.
func ExampleNewPatient() {
	p, err := message.NewPatient().
		Title("Mr").
		Name("John", "Doe").
		BirthDate(time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC)).
		Gender(stu3.PatientGenderMale).
		NHSNumber("9434765919").
		Email("john.doe@example.com").
		TeamAliases("team_alias_a", "default_team").
		Build(message.WithDefaultTeamAlias("default_team"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Name[0].Given[0], p.Name[0].Family, p.BirthDate, p.Gender, len(p.Extension))
	// Then: c.Messaging.PatientProcessMessage(ctx, &p)

	// Output:
	// John Doe 1990-01-02 male 2
}

// Every problem at once, naming fields and never values.
func ExampleValidatePatient() {
	err := message.ValidatePatient(stu3.Patient{
		Name:       []stu3.HumanName{{Given: []string{"Jane"}}},
		Identifier: []stu3.Identifier{{System: message.NHSNumberSystem, Value: "9434765918"}},
		Extension:  []stu3.Extension{{Url: message.TeamAliasURL, ValueString: "some_team"}},
	}, message.WithDefaultTeamAlias("default_team"))

	var ve *message.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// Patient.name[0].family: required
	// Patient.birthDate: required
	// Patient.gender: required
	// Patient.identifier[0].value: national identifier check digit fails
	// Patient.extension(http://fhir.patientsknowbest.com/structuredefinition/team-alias): no team-alias is the sender's default team
}

// The asynchronous message Bundle; keep HeaderID to match PKB's response.
func ExampleNewCreateOrUpdatePatient() {
	p := stu3.Patient{
		Identifier: []stu3.Identifier{{System: message.NHSNumberSystem, Value: "9434765919"}},
		Telecom:    []stu3.ContactPoint{{System: stu3.ContactPointSystemEmail, Value: "jane@example.com"}},
	}
	m, err := message.NewCreateOrUpdatePatient(message.MessageConfig{
		SourceEndpoint: "https://integrator.example/fhir/$process-message",
		ODSCode:        "RX1",
		Now:            func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) },
		Rand:           bytes.NewReader(bytes.Repeat([]byte{0xab}, 48)), // crypto/rand when nil
	}, p)
	if err != nil {
		fmt.Println(err)
		return
	}
	hdr, _ := m.Bundle.Entry[0].Resource.AsMessageHeader()
	fmt.Println(m.Bundle.Type, m.Identifier)
	fmt.Println(hdr.Event.Code, hdr.Source.Endpoint, hdr.Timestamp)
	fmt.Println(hdr.Focus[0].Reference == m.Bundle.Entry[1].FullUrl)
	// Then: c.Messaging.ProcessMessageAsync(ctx, &m.Bundle,
	//	&messaging.ProcessMessageAsyncParams{Async: true})

	// Output:
	// message urn:uuid:abababab-abab-4bab-abab-abababababab
	// create-or-update-patient https://integrator.example/fhir/$process-message 2025-06-01T12:00:00.000Z
	// true
}

// The inbound endpoint PKB posts its responses to.
func ExampleNewHandler() {
	h, err := message.NewHandler(message.HandlerConfig{
		// In production: check a JWT or introspect the token your token endpoint issued to PKB.
		Verifier: message.StaticTokens("token-issued-to-pkb"),
		Callback: func(ctx context.Context, r message.Response) error {
			// Record durably and return quickly; PKB waits for the reply.
			fmt.Println("response to", r.RequestID, r.Code, "retry:", r.Retryable())
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /fhir/$process-message", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := `{"resourceType":"Bundle","type":"message","identifier":{"value":"urn:uuid:r-1"},
	  "entry":[{"resource":{"resourceType":"MessageHeader","id":"r-1",
	    "response":{"identifier":"my-header-id","code":"ok"}}}]}`
	for range 2 { // PKB redelivers; the callback still runs once
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/fhir/$process-message", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer token-issued-to-pkb")
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// response to my-header-id ok retry: false
	// 200
	// 200
}
