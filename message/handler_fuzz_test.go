package message

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// fuzzMaxBody is small so that the fuzzer's inputs cross the body limit.
const fuzzMaxBody = 4096

// countingReader counts what the handler reads off the wire.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// oracleBundle is an independent reading of the rules a delivery must meet
// to be acknowledged, decoded into its own minimal types rather than the
// generated ones the handler uses.
type oracleBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Identifier   *struct {
		Value string `json:"value"`
	} `json:"identifier"`
	Entry []struct {
		Resource *struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Response     *struct {
				Identifier string `json:"identifier"`
				Code       string `json:"code"`
				Details    *struct {
					Reference string `json:"reference"`
				} `json:"details"`
			} `json:"response"`
		} `json:"resource"`
	} `json:"entry"`
}

// acceptable reports whether a body may be acknowledged at all.
func acceptable(body []byte) bool {
	var b oracleBundle
	if json.Unmarshal(body, &b) != nil || b.ResourceType != "Bundle" || b.Type != "message" || len(b.Entry) == 0 {
		return false
	}
	h := b.Entry[0].Resource
	if h == nil || h.ResourceType != "MessageHeader" || h.Response == nil || h.Response.Identifier == "" ||
		!slices.Contains([]string{"ok", "transient-error", "fatal-error"}, h.Response.Code) {
		return false
	}
	if (b.Identifier == nil || b.Identifier.Value == "") && h.ID == "" {
		return false
	}
	if h.Response.Details != nil && h.Response.Details.Reference != "" {
		found := false
		for _, e := range b.Entry[1:] {
			found = found || (e.Resource != nil && e.Resource.ResourceType == "OperationOutcome")
		}
		return found
	}
	return true
}

// FuzzHandler posts arbitrary bodies and headers. The handler must never
// panic, never read more than its body limit, never acknowledge (2xx) a
// delivery that is unauthenticated, of the wrong media type, too large or not
// a valid response message, answer every refusal with an OperationOutcome
// that reflects nothing from the request, and hand the callback a fixed-length
// key.
func FuzzHandler(f *testing.F) {
	good := responseBundle("b-1", "h-1", "req-1", "ok")
	f.Add([]byte(good), "application/fhir+json", "Bearer "+token)
	f.Add([]byte(good), "application/json; charset=utf-8", "bearer  "+token+" ")
	f.Add([]byte(good), "text/plain", "Bearer "+token)
	f.Add([]byte(good), "application/fhir+json", "Basic "+token)
	f.Add([]byte(strings.Replace(good, `"resourceType":"MessageHeader"`, `"resourceType":"Patient"`, 1)), "application/fhir+json", "Bearer "+token)
	f.Add([]byte(`{"resourceType":"Bundle","type":"message","entry":[{"resource":{"resourceType":"MessageHeader","id":"h","response":{"identifier":"r","code":"ok"}}}]}`), "application/fhir+json", "Bearer "+token)
	f.Add([]byte(`{"resourceType":"Bundle","type":"message","TYPE":"searchset","entry":[{"resource":{"resourceType":"MessageHeader","id":"h","response":{"identifier":"r","code":"ok","details":{"reference":"x"}}}}]}`), "application/fhir+json", "Bearer "+token)
	f.Add([]byte(`{"resourceType":"Bundle","type":"message","entry":[null]}`), "application/fhir+json", "Bearer "+token)
	f.Add([]byte(`[`+strings.Repeat(`{},`, 2000)+`{}]`), "application/fhir+json", "Bearer "+token)
	f.Fuzz(func(t *testing.T, body []byte, ctype, auth string) {
		var delivered []Response
		h, err := NewHandler(HandlerConfig{
			Verifier: StaticTokens(token),
			Callback: func(_ context.Context, r Response) error {
				delivered = append(delivered, r)
				return nil
			},
			MaxBodyBytes: fuzzMaxBody,
		})
		if err != nil {
			t.Fatal(err)
		}
		cr := &countingReader{r: strings.NewReader(string(body))}
		req := httptest.NewRequest(http.MethodPost, "/fhir/$process-message", cr)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if cr.n > fuzzMaxBody+1 {
			t.Fatalf("read %d bytes with a limit of %d", cr.n, fuzzMaxBody)
		}
		if rec.Code < 200 || rec.Code > 299 {
			if len(delivered) != 0 {
				t.Fatalf("status %d but the callback ran", rec.Code)
			}
			var oo stu3.OperationOutcome
			if err := json.Unmarshal(rec.Body.Bytes(), &oo); err != nil || len(oo.Issue) != 1 {
				t.Fatalf("status %d without an OperationOutcome: %q", rec.Code, rec.Body)
			}
			if d := oo.Issue[0].Diagnostics; len(body) >= 8 && strings.Contains(string(body), d) {
				t.Fatalf("diagnostics %q reflect the request body", d)
			}
			return
		}
		scheme, tok, _ := strings.Cut(auth, " ")
		switch {
		case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) != token:
			t.Fatalf("acknowledged with Authorization %q", auth)
		case len(body) > fuzzMaxBody:
			t.Fatalf("acknowledged a %d-byte body over the %d limit", len(body), fuzzMaxBody)
		case !acceptable(body):
			t.Fatalf("acknowledged an invalid message: %q", body)
		case len(delivered) != 1:
			t.Fatalf("acknowledged a first delivery with %d callbacks", len(delivered))
		case len(delivered[0].Key) != len(dedupeKey()):
			t.Fatalf("key of %d bytes", len(delivered[0].Key))
		}
	})
}

// FuzzHandlerDedupe delivers two messages with arbitrary identifiers: two
// different identifiers must both be delivered, and a repeated one must be
// acknowledged without a second delivery.
func FuzzHandlerDedupe(f *testing.F) {
	f.Add("urn:a|b", "c", "h-1", "urn:a", "b|c", "h-2")
	f.Add("urn:a", "bc", "h", "urn:ab", "c", "h")
	f.Add("", "x", "h-1", "x", "", "h-1")
	f.Add("", "", "header:h", "", "", "h")
	f.Add("urn:ietf:rfc:3986", "urn:uuid:1", "h-1", "urn:ietf:rfc:3986", "urn:uuid:1", "h-2")
	f.Fuzz(func(t *testing.T, sys1, val1, hdr1, sys2, val2, hdr2 string) {
		var got []Response
		h, err := NewHandler(HandlerConfig{
			Verifier: StaticTokens(token),
			Callback: func(_ context.Context, r Response) error {
				got = append(got, r)
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		type ident struct{ kind, system, value string }
		post := func(sys, val, hdr string) (int, ident, bool) {
			b, err := json.Marshal(map[string]any{
				"resourceType": "Bundle", "type": "message",
				"identifier": map[string]string{"system": sys, "value": val},
				"entry": []any{map[string]any{"resource": map[string]any{
					"resourceType": "MessageHeader", "id": hdr,
					"response": map[string]string{"identifier": "req", "code": "ok"},
				}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			// json.Marshal replaces invalid UTF-8, so the identity is what
			// went over the wire, not the fuzzer's bytes.
			var wire struct {
				Identifier struct{ System, Value string }
				Entry      []struct{ Resource struct{ ID string } }
			}
			if err := json.Unmarshal(b, &wire); err != nil {
				t.Fatal(err)
			}
			id, ok := ident{"bundle", wire.Identifier.System, wire.Identifier.Value}, true
			if id.value == "" {
				id, ok = ident{"header", "", wire.Entry[0].Resource.ID}, wire.Entry[0].Resource.ID != ""
			}
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(b)))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code, id, ok
		}
		code1, id1, ok1 := post(sys1, val1, hdr1)
		code2, id2, ok2 := post(sys2, val2, hdr2)
		if !ok1 || !ok2 {
			return // a message without any identifier is refused (FuzzHandler checks refusals)
		}
		if code1 != http.StatusOK || code2 != http.StatusOK {
			t.Fatalf("statuses %d, %d", code1, code2)
		}
		want := 2
		if id1 == id2 {
			want = 1
		}
		if len(got) != want {
			t.Fatalf("identities %q and %q: %d deliveries, want %d", id1, id2, len(got), want)
		}
		if code, _, _ := post(sys1, val1, hdr1); code != http.StatusOK || len(got) != want {
			t.Fatalf("redelivery of the first message: %d, %d deliveries", code, len(got))
		}
	})
}
