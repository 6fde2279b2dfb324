package wrappers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pkbgo/pkb/gen/restapi"
)

const btgSecretToken = "btg-7c1e55a9d0f24b6e"

// TestBreakTheGlassCarriesTheTokenAndNeverShowsIt: REST.BreakTheGlass
// posts to /v2/consents/BTG/{patientId} (docs/pkb-api.md §2.5), the
// BreakTheGlass call option and the Edit request editor send the token in
// the breaktheglass header, and the token appears in no error, no print
// and no log, even when the server echoes it.
func TestBreakTheGlassCarriesTheTokenAndNeverShowsIt(t *testing.T) {
	until := time.Now().Add(30 * time.Minute).UTC().Truncate(time.Second)
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/json/v2/consents/BTG/123":
			if r.URL.Query().Get("userId") != "42" {
				t.Errorf("audit user %q", r.URL.Query().Get("userId"))
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q,"validUntil":%q,"message":"Consent levels set to BTG"}`, btgSecretToken, until.Format(time.RFC3339))
		default:
			sent = append(sent, r.Header.Get("breaktheglass"))
			// A hostile or careless server echoes the header.
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "no access with breaktheglass %s", r.Header.Get("breaktheglass"))
		}
	}))
	defer srv.Close()
	rest, _ := clinicianREST(t, srv.URL)
	ctx := context.Background()
	b, err := rest.BreakTheGlass(ctx, "123", "42")
	if err != nil {
		t.Fatal(err)
	}
	if b.Token() != btgSecretToken || b.PatientID != "123" || !b.ValidUntil.Equal(until) || !b.Active(time.Now()) || b.Active(until) {
		t.Fatalf("BTG %v, token match %v", b, b.Token() == btgSecretToken)
	}

	call := &Call{Operation: "listPatientMeasurements", Path: []string{"123"}, Query: url.Values{"apiRefs": {"WEIGHT"}}}
	Apply(call, BreakTheGlass(b))
	_, err = rest.Family().Do(ctx, call)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 403 {
		t.Fatalf("want the 403, got %v", err)
	}
	_, genErr := rest.Gen.ListPatientMeasurementsWithResponse(ctx, "123", &restapi.ListPatientMeasurementsParams{APIRefs: []string{"WEIGHT"}}, b.Edit)
	// WithBTG: every call made with the context carries it.
	plain := &Call{Operation: "listPatientMeasurements", Path: []string{"123"}, Query: url.Values{"apiRefs": {"WEIGHT"}}}
	_, _ = rest.Family().Do(WithBTG(ctx, b), plain)
	_, _ = rest.Family().Do(ctx, plain)
	if len(sent) != 4 || sent[0] != btgSecretToken || sent[1] != btgSecretToken || sent[2] != btgSecretToken || sent[3] != "" {
		t.Fatalf("breaktheglass headers sent: %d, match %v", len(sent), len(sent) == 4 && sent[0] == btgSecretToken)
	}

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("btg", "grant", b, "ptr", &b)
	js, _ := json.Marshal(b)
	type holder struct {
		b    BTG
		p    *BTG
		Open BTG
	}
	shown := []string{
		err.Error(), ae.Body, fmt.Sprint(genErr), fmt.Sprintf("%+v", ae), logged.String(), string(js),
		fmt.Sprint(b), fmt.Sprint(*b), fmt.Sprintf("%+v", b), fmt.Sprintf("%#v", b), fmt.Sprintf("%#v", *b),
		fmt.Sprintf("%+v", holder{*b, b, *b}), fmt.Sprintf("%#v", holder{*b, b, *b}), fmt.Sprintf("%v", []*BTG{b}),
	}
	for i, s := range shown {
		if strings.Contains(s, btgSecretToken) {
			t.Errorf("shown %d carries the BTG token: %s", i, s)
		}
	}
	if !strings.Contains(ae.Body, "no access") {
		t.Errorf("the server's words were lost: %q", ae.Body)
	}

	// A nil BTG sends nothing; a token that could not be a header is refused.
	call = &Call{}
	Apply(call, BreakTheGlass(nil))
	if call.Header != nil {
		t.Error("a nil BTG set a header")
	}
	if _, err := NewBTG("123", "a\r\nX-Evil: 1", until); err == nil {
		t.Error("a token with a line break was accepted")
	}
}

// TestBreakTheGlassAnswerWithoutToken: an answer without a token is an
// error, not a BTG that sends an empty header.
func TestBreakTheGlassAnswerWithoutToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"message":"Consent levels set to BTG"}`)
	}))
	defer srv.Close()
	rest, _ := clinicianREST(t, srv.URL)
	if b, err := rest.BreakTheGlass(context.Background(), "123", ""); err == nil {
		t.Fatalf("got %v", b)
	}
}
