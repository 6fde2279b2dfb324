package wrappers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/access"
)

// BreakTheGlassDuration is how long PKB's break-the-glass lasts when asked
// through the REST API: "a BTG authorization token is returned with a Time
// To Live (TTL) of 30 minutes" (docs/pkb-api.md §2.5).
const BreakTheGlassDuration = 30 * time.Minute

// breakTheGlassHeader carries a BTG token on later calls about the patient
// (docs/pkb-api.md §2.5).
const breakTheGlassHeader = "Breaktheglass"

// BTG is a break-the-glass grant: a professional's access to every privacy
// label of one patient's record for 30 minutes, which PKB audits and shows
// to the patient (docs/pkb-api.md §2.5, §3.7). Get one with
// REST.BreakTheGlass and send it with the calls about that patient: with
// WithBTG on their context (pages and generated clients' calls included),
// the BreakTheGlass call option on one Call, or b.Edit as a generated
// client's request editor.
//
// The token is a secret: String, GoString, LogValue and MarshalJSON show
// the patient and the end time, never the token, and a BTG printed inside
// another value shows a pointer. Token gives it to a caller that must store
// it (for another replica, say); NewBTG makes a BTG from it again.
type BTG struct {
	// PatientID is the PKB id of the patient the glass was broken on.
	PatientID string
	// ValidUntil is when break-the-glass ends: PKB's validUntil when its
	// answer has one in RFC 3339 form, otherwise BreakTheGlassDuration
	// after the answer arrived.
	ValidUntil time.Time

	secret *btgSecret
}

// btgSecret holds the token behind a pointer, so that fmt's reflection,
// which prints a nested pointer as an address, never reaches it.
type btgSecret struct{ token string }

// NewBTG makes a BTG from a token obtained earlier (BTG.Token). It fails
// on an empty token, or one that could not be sent as a header value.
func NewBTG(patientID, token string, validUntil time.Time) (*BTG, error) {
	if token == "" || strings.ContainsAny(token, "\r\n\x00") {
		return nil, errors.New("pkb: a BTG token must be non-empty text of one line")
	}
	return &BTG{PatientID: patientID, ValidUntil: validUntil, secret: &btgSecret{token: token}}, nil
}

// Token returns the BTG token itself: a secret, to be stored as one.
func (b *BTG) Token() string {
	if b == nil || b.secret == nil {
		return ""
	}
	return b.secret.token
}

// Active reports whether break-the-glass has not yet ended at now, by
// ValidUntil; PKB has the last word.
func (b *BTG) Active(now time.Time) bool {
	return b != nil && b.Token() != "" && now.Before(b.ValidUntil)
}

// String shows the patient and the end time, not the token.
func (b BTG) String() string {
	return fmt.Sprintf("BTG{patient %s, valid until %s, token [redacted]}", b.PatientID, b.ValidUntil.UTC().Format(time.RFC3339))
}

// GoString is String, so that %#v does not print the token either.
func (b BTG) GoString() string { return b.String() }

// LogValue logs the patient and the end time, not the token.
func (b BTG) LogValue() slog.Value {
	return slog.GroupValue(slog.String("patient", b.PatientID), slog.Time("valid_until", b.ValidUntil))
}

// MarshalJSON encodes the patient and the end time, not the token.
func (b BTG) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		PatientID  string    `json:"patientId"`
		ValidUntil time.Time `json:"validUntil"`
	}{b.PatientID, b.ValidUntil})
}

// Edit is a request editor for a generated client's call (pass b.Edit as
// its RequestEditorFn): it sets the breaktheglass header. A nil BTG sets
// nothing.
func (b *BTG) Edit(_ context.Context, req *http.Request) error {
	if tok := b.Token(); tok != "" {
		req.Header.Set(breakTheGlassHeader, tok)
	}
	return nil
}

// BreakTheGlass sends b's token in the breaktheglass header of the call,
// so that PKB shows the patient's data break-the-glass opened. Send it
// only on calls about b's patient. A nil BTG sends nothing.
func BreakTheGlass(b *BTG) CallOption {
	return func(c *Call) {
		if tok := b.Token(); tok != "" {
			setHeader(c, breakTheGlassHeader, tok)
		}
	}
}

// btgKey carries a BTG in a context.
type btgKey struct{}

// WithBTG returns a context whose calls through the REST API and the
// Facade carry b's token in the breaktheglass
// header: Do, Follow, the pages Pages and All fetch, and generated
// clients' calls alike, so that the later pages of a search see what the
// first did. A call that sets the header itself keeps its own. Use it only
// for calls about b's patient. A nil b returns ctx.
func WithBTG(ctx context.Context, b *BTG) context.Context {
	if b.Token() == "" {
		return ctx
	}
	return context.WithValue(ctx, btgKey{}, b)
}

// btgFamilies are the families PKB reads a breaktheglass header on: the
// REST API (docs/pkb-api.md §2.5) and, INFERRED, the Facade (§3.7).
var btgFamilies = map[access.Family]bool{access.FamilyRESTAPI: true, access.FamilyFacade: true}

// addBTG sets the breaktheglass header of a request to a family PKB reads
// it on from the request's context, unless the call set one.
func addBTG(req *http.Request, family access.Family) {
	b, _ := req.Context().Value(btgKey{}).(*BTG)
	if b == nil || !btgFamilies[family] || req.Header.Get(breakTheGlassHeader) != "" {
		return
	}
	req.Header.Set(breakTheGlassHeader, b.Token())
}

// BreakTheGlass asks PKB for break-the-glass access to the record of the
// patient with PKB id patientID, for 30 minutes (POST
// /v2/consents/BTG/{patientId}, docs/pkb-api.md §2.5). auditUserID, if not
// empty, is the PKB id of the person breaking the glass, for PKB's audit.
// Only a clinician with PKB's BTG functionality enabled may: anyone else
// gets a 401 that IsPermissionDenied reports (APIError.WrongUserType) and
// that costs no token refresh. PKB audits every use and shows it to the
// patient.
func (h *REST) BreakTheGlass(ctx context.Context, patientID, auditUserID string) (*BTG, error) {
	call := &Call{Operation: "breakTheGlass", Path: []string{patientID}}
	if auditUserID != "" {
		call.Query = url.Values{"userId": {auditUserID}}
	}
	// PKB's answer is read through Send (one decode, the client's limits),
	// into a struct of its own so that the token lands only in the BTG.
	answer, _, err := Send[struct {
		Token      string `json:"token"`
		ValidUntil string `json:"validUntil"`
	}](ctx, h.fam, call)
	if err != nil {
		return nil, err
	}
	if answer == nil {
		return nil, fmt.Errorf("pkb: the break-the-glass answer carries no usable token")
	}
	until, perr := time.Parse(time.RFC3339, answer.ValidUntil)
	if perr != nil {
		until = time.Now().Add(BreakTheGlassDuration)
	}
	b, err := NewBTG(patientID, answer.Token, until)
	if err != nil {
		return nil, fmt.Errorf("pkb: the break-the-glass answer carries no usable token")
	}
	return b, nil
}
