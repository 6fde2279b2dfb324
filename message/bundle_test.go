package message

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/messaging"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func testConfig() MessageConfig {
	return MessageConfig{
		SourceEndpoint: "https://integrator.example/fhir/$process-message",
		ODSCode:        "RX1",
		SourceName:     "EPR",
		Now:            func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("", 3600)) },
	}
}

func TestNewCreateOrUpdatePatient(t *testing.T) {
	p, err := validBuilder().Build(WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	p.Meta = &stu3.Meta{Tag: []stu3.Coding{{System: ODSCodeSystem, Code: "OLD"}, {System: "http://other", Code: "keep"}}}
	before, _ := json.Marshal(p)

	m, err := NewCreateOrUpdatePatient(testConfig(), p, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(p); !bytes.Equal(before, after) {
		t.Fatal("the caller's Patient was modified")
	}
	b := m.Bundle
	if b.Type != stu3.BundleTypeMessage || b.ResourceType != "Bundle" || len(b.Entry) != 2 {
		t.Fatalf("bundle: %+v", b)
	}
	if b.Identifier == nil || b.Identifier.System != "urn:ietf:rfc:3986" || b.Identifier.Value != m.Identifier {
		t.Fatalf("identifier: %+v", b.Identifier)
	}
	hdr, err := b.Entry[0].Resource.AsMessageHeader()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.ResourceType != "MessageHeader" || hdr.Id != m.HeaderID || b.Entry[0].FullUrl != "urn:uuid:"+m.HeaderID {
		t.Fatalf("header ids: %+v", hdr)
	}
	if hdr.Event == nil || hdr.Event.System != EventSystem || hdr.Event.Code != EventCreateOrUpdatePatient {
		t.Fatalf("event: %+v", hdr.Event)
	}
	if hdr.Source == nil || hdr.Source.Endpoint != testConfig().SourceEndpoint || hdr.Source.Name != "EPR" {
		t.Fatalf("source: %+v", hdr.Source)
	}
	if hdr.Timestamp != "2025-06-01T11:00:00.000Z" {
		t.Fatalf("timestamp %q", hdr.Timestamp)
	}
	if len(hdr.Focus) != 1 || hdr.Focus[0].Reference != b.Entry[1].FullUrl {
		t.Fatalf("focus %+v does not point at the Patient entry %q", hdr.Focus, b.Entry[1].FullUrl)
	}
	for _, id := range []string{m.HeaderID, m.Identifier[len("urn:uuid:"):], b.Entry[1].FullUrl[len("urn:uuid:"):]} {
		if !uuidRE.MatchString(id) {
			t.Errorf("%q is not a v4 UUID", id)
		}
	}
	pat, err := b.Entry[1].Resource.AsPatient()
	if err != nil || pat.ResourceType != "Patient" {
		t.Fatal(err)
	}
	var ods []string
	for _, tag := range pat.Meta.Tag {
		if tag.System == ODSCodeSystem {
			ods = append(ods, tag.Code)
		}
	}
	if len(ods) != 1 || ods[0] != "RX1" || len(pat.Meta.Tag) != 2 {
		t.Fatalf("ODS tags: %+v", pat.Meta.Tag)
	}

	// Every message gets fresh ids: PKB rejects a repeated Bundle.identifier.
	seen := map[string]bool{m.Identifier: true, m.HeaderID: true}
	for range 50 {
		m2, err := NewCreateOrUpdatePatient(testConfig(), p)
		if err != nil {
			t.Fatal(err)
		}
		if seen[m2.Identifier] || seen[m2.HeaderID] {
			t.Fatal("repeated id")
		}
		seen[m2.Identifier], seen[m2.HeaderID] = true, true
	}
}

func TestNewCreateOrUpdatePatientChecks(t *testing.T) {
	p, _ := validBuilder().Build(WithClock(clock))
	noNHS := p
	noNHS.Identifier = nil
	// Only the NHS number is required: omitted fields leave PKB's record unchanged.
	partial := stu3.Patient{Identifier: p.Identifier}
	tests := []struct {
		name string
		cfg  func(*MessageConfig)
		p    stu3.Patient
		want error
	}{
		{"ok", nil, p, nil},
		{"update with only the NHS number", nil, partial, nil},
		{"NHS number required", nil, noNHS, ErrInvalidPatient},
		{"relative endpoint", func(c *MessageConfig) { c.SourceEndpoint = "/inbound" }, p, ErrInvalidMessage},
		{"endpoint not http", func(c *MessageConfig) { c.SourceEndpoint = "ftp://x/y" }, p, ErrInvalidMessage},
		{"no ODS code", func(c *MessageConfig) { c.ODSCode = "" }, p, ErrInvalidMessage},
		{"random source fails", func(c *MessageConfig) { c.Rand = bytes.NewReader(nil) }, p, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			_, err := NewCreateOrUpdatePatient(cfg, tt.p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	var ve *ValidationError
	_, err := NewCreateOrUpdatePatient(testConfig(), noNHS)
	if !errors.As(err, &ve) || !ve.Has("Patient.identifier", ReasonRequired) {
		t.Fatal(err)
	}
}

// TestSendThroughGeneratedClient posts the Bundle with the generated
// messaging client and checks what PKB would receive.
func TestSendThroughGeneratedClient(t *testing.T) {
	var got stu3.Bundle
	var query, ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query, ctype = r.URL.RawQuery, r.Header.Get("Content-Type")
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c, err := messaging.NewClient(srv.URL + "/phr-fhir")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := validBuilder().Build(WithClock(clock))
	m, err := NewCreateOrUpdatePatient(testConfig(), p)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.ProcessMessageAsyncWithApplicationFhirPlusJSONBody(context.Background(),
		&messaging.ProcessMessageAsyncParams{Async: messaging.ProcessMessageAsyncParamsAsyncTrue}, m.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || query != "async=true" || ctype != "application/fhir+json" {
		t.Fatalf("status %d query %q content type %q", resp.StatusCode, query, ctype)
	}
	if got.Identifier == nil || got.Identifier.Value != m.Identifier || len(got.Entry) != 2 {
		t.Fatalf("received %+v", got)
	}
	if rt, _ := got.Entry[0].Resource.Discriminator(); rt != "MessageHeader" {
		t.Fatalf("entry[0] is %s", rt)
	}
}
