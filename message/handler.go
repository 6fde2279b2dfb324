package message

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// TokenVerifier checks the bearer token PKB presents on the inbound endpoint.
// The integrator issues PKB client credentials and runs the token endpoint, so
// only the integrator knows how to check the token (JWT signature,
// introspection, a lookup); the handler only extracts it.
type TokenVerifier interface {
	// Verify returns nil for a token PKB may use. Wrap ErrVerifierUnavailable
	// when the check itself failed (introspection down), so the handler answers
	// 503 and PKB retries instead of treating its credentials as revoked.
	Verify(ctx context.Context, token string) error
}

// TokenVerifierFunc adapts a function to TokenVerifier.
type TokenVerifierFunc func(ctx context.Context, token string) error

// Verify calls f.
func (f TokenVerifierFunc) Verify(ctx context.Context, token string) error { return f(ctx, token) }

// ErrVerifierUnavailable marks a verification that could not be carried out.
var ErrVerifierUnavailable = errors.New("message: token verifier unavailable")

// ErrInvalidToken is what StaticTokens returns for an unknown token.
var ErrInvalidToken = errors.New("message: invalid token")

// StaticTokens accepts a fixed set of opaque tokens, compared in constant
// time; for tests and for deployments that hand PKB a long-lived token.
func StaticTokens(tokens ...string) TokenVerifier {
	sums := make([][32]byte, len(tokens))
	for i, t := range tokens {
		sums[i] = sha256.Sum256([]byte(t))
	}
	return TokenVerifierFunc(func(_ context.Context, token string) error {
		got := sha256.Sum256([]byte(token))
		ok := 0
		for _, s := range sums {
			ok |= subtle.ConstantTimeCompare(got[:], s[:])
		}
		if ok == 1 && token != "" {
			return nil
		}
		return ErrInvalidToken
	})
}

// Response is one asynchronous response from PKB to a message the integrator
// sent.
type Response struct {
	// Key is the deduplication key: a fixed-length hash of the
	// Bundle.identifier (system and value), else of the MessageHeader.id.
	// Different identifiers never share a key; it is what the DedupeStore
	// receives, 71 bytes, ready for a database's unique index.
	Key string
	// MessageID is the response's own MessageHeader.id.
	MessageID string
	// RequestID is MessageHeader.response.identifier: the HeaderID of the
	// Message this responds to.
	RequestID string
	// Code is ok, transient-error (resend later) or fatal-error (do not resend).
	Code stu3.MessageHeaderResponseCode
	// Event is the MessageHeader.event.
	Event stu3.Coding
	// Outcome is the OperationOutcome MessageHeader.response.details points to
	// (warnings such as truncation, or errors), nil when there is none.
	Outcome *stu3.OperationOutcome
	// Bundle is the whole response message, for anything else PKB includes.
	Bundle stu3.Bundle
}

// OK reports whether PKB processed the message.
func (r Response) OK() bool { return r.Code == stu3.MessageHeaderResponseCodeOk }

// Retryable reports whether PKB asks for the message to be sent again (with a
// new Bundle.identifier, since PKB rejects a repeated one as a duplicate).
func (r Response) Retryable() bool { return r.Code == stu3.MessageHeaderResponseCodeTransientError }

// Callback receives each response once. Returning an error (or panicking)
// makes the handler answer 500 and forget the key, so PKB's redelivery is
// processed again; keep
// it quick (record durably and return), because PKB waits for the reply.
type Callback func(ctx context.Context, r Response) error

// State is where a deduplication key stands.
type State int

// The states a DedupeStore reports from Claim.
const (
	StateNew        State = iota // first delivery: process it
	StateInProgress              // another delivery of it is being processed right now
	StateDone                    // already processed: acknowledge, do nothing
)

// DedupeStore remembers processed response messages across deliveries. PKB
// may deliver the same response twice (a lost acknowledgement); a store shared
// by all replicas (a database table with a unique key) makes the handler
// idempotent across them, the in-memory default only within one process.
type DedupeStore interface {
	// Claim atomically records key as in progress if it is unknown.
	Claim(ctx context.Context, key string) (State, error)
	// Done marks a claimed key as processed.
	Done(ctx context.Context, key string) error
	// Release forgets a claimed key whose processing failed.
	Release(ctx context.Context, key string) error
}

// HandlerConfig configures NewHandler; Verifier and Callback are required.
type HandlerConfig struct {
	Verifier TokenVerifier
	Callback Callback
	// Store defaults to NewMemoryStore(10000).
	Store DedupeStore
	// MaxBodyBytes bounds the request body; default 1 MiB. Larger bodies get 413.
	MaxBodyBytes int64
	// Logger receives one record per request with status and response code
	// only, never identifiers or content, plus one for a panicking Callback
	// with the panic's Go type and source line (never its value); nil discards.
	Logger *slog.Logger
	// Realm is the WWW-Authenticate realm; default "pkb-inbound".
	Realm string
}

// Handler is the integrator's inbound $process-message endpoint.
type Handler struct {
	cfg HandlerConfig
}

// NewHandler returns the inbound endpoint. Mount it on the URL agreed with
// PKB (the one sent as MessageHeader.source.endpoint).
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Verifier == nil || cfg.Callback == nil {
		return nil, errors.New("message: NewHandler needs a Verifier and a Callback")
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore(10000)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Realm == "" {
		cfg.Realm = "pkb-inbound"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg}, nil
}

// ServeHTTP authenticates, decodes, deduplicates and dispatches one delivery.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status, code := h.serve(w, r)
	h.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "pkb inbound message",
		slog.Int("status", status), slog.String("response_code", string(code)),
		slog.Duration("duration", time.Since(start)))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (int, stu3.MessageHeaderResponseCode) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(w, http.StatusMethodNotAllowed, stu3.OperationOutcomeIssueCodeNotSupported, "method not allowed"), ""
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+h.cfg.Realm+`"`)
		return fail(w, http.StatusUnauthorized, stu3.OperationOutcomeIssueCodeLogin, "bearer token required"), ""
	}
	if err := h.cfg.Verifier.Verify(r.Context(), token); err != nil {
		if errors.Is(err, ErrVerifierUnavailable) {
			w.Header().Set("Retry-After", "5")
			return fail(w, http.StatusServiceUnavailable, stu3.OperationOutcomeIssueCodeTransient, "token verification unavailable"), ""
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+h.cfg.Realm+`", error="invalid_token"`)
		return fail(w, http.StatusUnauthorized, stu3.OperationOutcomeIssueCodeLogin, "invalid token"), ""
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil ||
		(mt != "application/fhir+json" && mt != "application/json" && mt != "application/json+fhir") {
		return fail(w, http.StatusUnsupportedMediaType, stu3.OperationOutcomeIssueCodeNotSupported, "content type must be application/fhir+json"), ""
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(w, http.StatusRequestEntityTooLarge, stu3.OperationOutcomeIssueCodeTooLong, "body too large"), ""
		}
		return fail(w, http.StatusBadRequest, stu3.OperationOutcomeIssueCodeStructure, "body could not be read"), ""
	}
	var b stu3.Bundle
	if err := json.Unmarshal(body, &b); err != nil {
		// The decoder's message can quote body bytes; never echo it.
		return fail(w, http.StatusBadRequest, stu3.OperationOutcomeIssueCodeStructure, "body is not a valid FHIR JSON Bundle"), ""
	}
	resp, problem := decodeResponse(b)
	if problem != "" {
		return fail(w, http.StatusBadRequest, stu3.OperationOutcomeIssueCodeInvalid, problem), ""
	}

	ctx := r.Context()
	state, err := h.cfg.Store.Claim(ctx, resp.Key)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		return fail(w, http.StatusServiceUnavailable, stu3.OperationOutcomeIssueCodeTransient, "deduplication store unavailable"), resp.Code
	}
	switch state {
	case StateDone:
		w.WriteHeader(http.StatusOK)
		return http.StatusOK, resp.Code
	case StateInProgress:
		w.Header().Set("Retry-After", "1")
		return fail(w, http.StatusServiceUnavailable, stu3.OperationOutcomeIssueCodeTransient, "this message is already being processed"), resp.Code
	}
	if err := h.callback(ctx, resp); err != nil {
		// Forget the key so PKB's redelivery is processed; a failed release
		// would leave it in progress, which only delays (503) the retry.
		_ = h.cfg.Store.Release(context.WithoutCancel(ctx), resp.Key)
		return fail(w, http.StatusInternalServerError, stu3.OperationOutcomeIssueCodeException, "processing failed"), resp.Code
	}
	if err := h.cfg.Store.Done(context.WithoutCancel(ctx), resp.Key); err != nil {
		h.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "pkb inbound message: dedupe store could not record a processed message")
	}
	w.WriteHeader(http.StatusOK)
	return http.StatusOK, resp.Code
}

// errCallbackPanicked stands for a recovered panic; the panic value itself
// may hold patient data and goes nowhere.
var errCallbackPanicked = errors.New("message: callback panicked")

// callback runs the integrator's callback, turning a panic into an error so
// that the key is released like after any other failure. Without this the
// key would stay in progress and every redelivery of the message would get
// 503 until the process restarts. http.ErrAbortHandler keeps its meaning:
// the key is released and the panic continues.
func (h *Handler) callback(ctx context.Context, resp Response) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			_ = h.cfg.Store.Release(context.WithoutCancel(ctx), resp.Key)
			panic(v)
		}
		// Allowlisted: the panic's Go type and where it happened are code,
		// not data; the value and the stack's arguments may be data.
		h.cfg.Logger.LogAttrs(ctx, slog.LevelError, "pkb inbound message: callback panicked",
			slog.String("panic_type", fmt.Sprintf("%T", v)), slog.String("panic_at", panicSite()))
		err = errCallbackPanicked
	}()
	return h.cfg.Callback(ctx, resp)
}

// panicSite is the function and line that panicked: the first frame below
// the runtime's panic machinery.
func panicSite() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s (%s:%d)", f.Function, filepath.Base(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// dedupeKey is an unambiguous, fixed-length key for a tuple of strings: the
// SHA-256 of each part length-prefixed. Joining the parts with a separator
// would let ("urn:a|b", "c") and ("urn:a", "b|c") share a key, so the second,
// different message would be acknowledged and never delivered; and hashing
// keeps a megabyte-long identifier from becoming a megabyte-long key in the
// store.
func dedupeKey(parts ...string) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write([]byte(p))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// decodeResponse extracts the response from a message Bundle, or says what
// is structurally wrong (without quoting content).
func decodeResponse(b stu3.Bundle) (Response, string) {
	if b.ResourceType != stu3.BundleResourceTypeBundle || b.Type != stu3.BundleTypeMessage {
		return Response{}, "not a message Bundle"
	}
	if len(b.Entry) == 0 || b.Entry[0].Resource == nil {
		return Response{}, "message Bundle has no MessageHeader"
	}
	if rt, _ := b.Entry[0].Resource.Discriminator(); rt != "MessageHeader" {
		return Response{}, "first entry is not a MessageHeader"
	}
	hdr, err := b.Entry[0].Resource.AsMessageHeader()
	if err != nil {
		return Response{}, "MessageHeader is malformed"
	}
	if hdr.Response == nil {
		return Response{}, "MessageHeader has no response"
	}
	switch hdr.Response.Code {
	case stu3.MessageHeaderResponseCodeOk, stu3.MessageHeaderResponseCodeTransientError, stu3.MessageHeaderResponseCodeFatalError:
	default:
		return Response{}, "MessageHeader.response.code is not ok, transient-error or fatal-error"
	}
	if hdr.Response.Identifier == "" {
		return Response{}, "MessageHeader.response.identifier is missing"
	}
	resp := Response{MessageID: hdr.Id, RequestID: hdr.Response.Identifier, Code: hdr.Response.Code, Bundle: b}
	if hdr.Event != nil {
		resp.Event = *hdr.Event
	}
	switch {
	case b.Identifier != nil && b.Identifier.Value != "":
		resp.Key = dedupeKey("bundle", b.Identifier.System, b.Identifier.Value)
	case hdr.Id != "":
		resp.Key = dedupeKey("header", hdr.Id)
	default:
		return Response{}, "message has neither Bundle.identifier nor MessageHeader.id"
	}
	oo, ok := findOutcome(b, hdr.Response.Details)
	if hdr.Response.Details != nil && hdr.Response.Details.Reference != "" && !ok {
		return Response{}, "MessageHeader.response.details does not resolve to an OperationOutcome in the Bundle"
	}
	resp.Outcome = oo
	return resp, ""
}

// findOutcome resolves response.details within the Bundle by fullUrl or by
// type/id. Without a reference, a lone OperationOutcome entry is taken: PKB's
// response structure is inferred from the FHIR spec, not documented.
func findOutcome(b stu3.Bundle, ref *stu3.Reference) (*stu3.OperationOutcome, bool) {
	var lone []*stu3.OperationOutcome
	for _, e := range b.Entry[1:] {
		if e.Resource == nil {
			continue
		}
		if rt, _ := e.Resource.Discriminator(); rt != "OperationOutcome" {
			continue
		}
		oo, err := e.Resource.AsOperationOutcome()
		if err != nil {
			continue
		}
		if ref != nil && ref.Reference != "" {
			r := ref.Reference
			if r == e.FullUrl || r == "OperationOutcome/"+oo.Id || (oo.Id != "" && strings.HasSuffix(e.FullUrl, "/"+r)) {
				return &oo, true
			}
			continue
		}
		lone = append(lone, &oo)
	}
	if len(lone) == 1 {
		return lone[0], true
	}
	return nil, false
}

// fail writes an OperationOutcome with a fixed diagnostics text; callers pass
// only constant strings, so nothing from the request is reflected back.
func fail(w http.ResponseWriter, status int, code stu3.OperationOutcomeIssueCode, diagnostics string) int {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(stu3.OperationOutcome{
		ResourceType: stu3.OperationOutcomeResourceTypeOperationOutcome,
		Issue: []stu3.OperationOutcomeIssue{{
			Severity: stu3.OperationOutcomeIssueSeverityError, Code: code, Diagnostics: diagnostics,
		}},
	})
	return status
}
