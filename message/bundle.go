package message

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// The message event PKB's roadmap defines for patient demographics.
const (
	// EventSystem is the code system of PKB message events. PKB's page names the
	// code; the system URI comes from a third-party PKB client (docs/pkb-api.md §5.1).
	EventSystem = "http://fhir.patientsknowbest.com/codesystem/message-event"
	// EventCreateOrUpdatePatient creates or updates a patient, optionally inviting them.
	EventCreateOrUpdatePatient = "create-or-update-patient"
)

// Message is a built message Bundle plus the ids a caller must keep: PKB's
// asynchronous response names HeaderID in MessageHeader.response.identifier,
// and Identifier is what PKB's duplicate detection keys on.
type Message struct {
	// Bundle is the body for messaging's ProcessMessageAsync.
	Bundle stu3.Bundle
	// Identifier is Bundle.identifier.value ("urn:uuid:...").
	Identifier string
	// HeaderID is MessageHeader.id, echoed in PKB's response.
	HeaderID string
}

// MessageConfig is what every create-or-update-patient message needs from the
// integrator's setup rather than from the patient record.
type MessageConfig struct {
	// SourceEndpoint is the integrator's inbound $process-message URL agreed
	// with PKB; PKB checks MessageHeader.source.endpoint against it.
	SourceEndpoint string
	// ODSCode is the sending organisation's ODS code, put in Patient.meta.tag.
	ODSCode string
	// SourceName and Software describe the sending system (optional).
	SourceName, Software string
	// Now and Rand replace time.Now and crypto/rand.Reader, for reproducible tests.
	Now  func() time.Time
	Rand io.Reader
}

// ErrInvalidMessage is wrapped by configuration errors from NewCreateOrUpdatePatient.
var ErrInvalidMessage = errors.New("message: invalid message configuration")

// NewCreateOrUpdatePatient builds the FHIR-standard asynchronous
// $process-message Bundle for p: type message, a fresh random identifier,
// MessageHeader first (event create-or-update-patient, source.endpoint,
// timestamp, focus on the Patient entry by urn:uuid), then the Patient with
// the ODS code tag. p is not modified. Patient checks follow PKB's
// create-or-update-patient rules (an NHS number is required; other fields are
// checked when present, since omitted fields leave PKB's record unchanged).
func NewCreateOrUpdatePatient(cfg MessageConfig, p stu3.Patient, opts ...Option) (*Message, error) {
	if u, err := url.Parse(cfg.SourceEndpoint); err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%w: SourceEndpoint must be an absolute http(s) URL", ErrInvalidMessage)
	}
	if cfg.ODSCode == "" {
		return nil, fmt.Errorf("%w: ODSCode is required", ErrInvalidMessage)
	}
	r := newRules(opts)
	r.requireDemo, r.requireNHS = false, true
	if err := r.validate(p); err != nil {
		return nil, err
	}
	now, rnd := cfg.Now, cfg.Rand
	if now == nil {
		now = time.Now
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	ids := make([]string, 3)
	for i := range ids {
		id, err := newUUID(rnd)
		if err != nil {
			return nil, fmt.Errorf("message: generating an id: %w", err)
		}
		ids[i] = id
	}
	bundleID, headerID, patientID := ids[0], ids[1], ids[2]

	p = withODSTag(p, cfg.ODSCode)
	p.ResourceType = stu3.PatientResourceTypePatient
	hdr := stu3.MessageHeader{
		ResourceType: stu3.MessageHeaderResourceTypeMessageHeader,
		Id:           headerID,
		Event:        &stu3.Coding{System: EventSystem, Code: EventCreateOrUpdatePatient},
		Timestamp:    now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Source: &stu3.MessageHeaderSource{
			Endpoint: cfg.SourceEndpoint, Name: cfg.SourceName, Software: cfg.Software,
		},
		Focus: []stu3.Reference{{Reference: "urn:uuid:" + patientID}},
	}
	var hdrRes, patRes stu3.ResourceList
	if err := hdrRes.FromMessageHeader(hdr); err != nil {
		return nil, err
	}
	if err := patRes.FromPatient(p); err != nil {
		return nil, err
	}
	b := stu3.Bundle{
		ResourceType: stu3.BundleResourceTypeBundle,
		Type:         stu3.BundleTypeMessage,
		Identifier:   &stu3.Identifier{System: "urn:ietf:rfc:3986", Value: "urn:uuid:" + bundleID},
		Entry: []stu3.BundleEntry{
			{FullUrl: "urn:uuid:" + headerID, Resource: &hdrRes},
			{FullUrl: "urn:uuid:" + patientID, Resource: &patRes},
		},
	}
	return &Message{Bundle: b, Identifier: b.Identifier.Value, HeaderID: headerID}, nil
}

// withODSTag returns p with exactly one ODS tag, copying Meta so the caller's
// Patient is untouched.
func withODSTag(p stu3.Patient, ods string) stu3.Patient {
	var meta stu3.Meta
	if p.Meta != nil {
		meta = *p.Meta
	}
	tags := make([]stu3.Coding, 0, len(meta.Tag)+1)
	for _, t := range meta.Tag {
		if t.System != ODSCodeSystem {
			tags = append(tags, t)
		}
	}
	meta.Tag = append(tags, stu3.Coding{System: ODSCodeSystem, Code: ods})
	p.Meta = &meta
	return p
}

// newUUID is a random (version 4) UUID. Bundle.identifier must never repeat,
// or PKB drops the message as a duplicate, hence crypto-quality randomness.
func newUUID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
