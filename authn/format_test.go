package authn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const (
	fmtSecret = "CLIENT-SECRET-c0ffee77"
	fmtRT     = "REFRESH-TOKEN-be11a9"
	fmtAT     = "ACCESS-TOKEN-5ca1ab1e"
)

// secretForms are the ways a formatting verb can render a secret string.
func secretForms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s, hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s))),
			base64.StdEncoding.EncodeToString([]byte(s)), fmt.Sprintf("% x", s))
	}
	return out
}

// formatted lists every value of this package that holds a secret, as a
// value and as a pointer, with the secrets it holds.
func formatted(t *testing.T) map[string]any {
	env := Sandbox
	env.UserTokenURL = "https://pkb.example/token"
	store := NewMemoryStore(&oauth2.Token{AccessToken: fmtAT, RefreshToken: fmtRT})
	opts := Options{EarlyExpiry: 1}
	sys := SystemConfig{ClientID: "sys-id", ClientSecret: fmtSecret, Environment: env, Options: opts}
	cust := CustomerConfig{ClientID: "cust-id", ClientSecret: fmtSecret, Environment: env, Scopes: []string{"email"}}
	teth := TetheredConfig{ClientID: "teth-id", ClientSecret: fmtSecret, RefreshToken: fmtRT, Environment: env, Store: store}
	user := UserConfig{ClientID: "user-id", ClientSecret: fmtSecret, Environment: env, RedirectURL: "https://app.example/cb", Store: store}
	sc, err := NewSystemSource(sys)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := NewCustomerSource(cust)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := NewTetheredSource(teth)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := NewUserSource(user)
	if err != nil {
		t.Fatal(err)
	}
	_, pending := uc.AuthCodeURL()
	pendingSecret = pending.Verifier
	cache := NewCache(func(context.Context) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: fmtAT, RefreshToken: fmtRT}, nil
	}, Options{})
	if _, err := cache.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"SystemConfig": sys, "*SystemConfig": &sys,
		"CustomerConfig": cust, "*CustomerConfig": &cust,
		"TetheredConfig": teth, "*TetheredConfig": &teth,
		"UserConfig": user, "*UserConfig": &user,
		"*SystemSource": sc, "SystemSource": *sc,
		"*CustomerSource": cc, "CustomerSource": *cc,
		"*TetheredSource": tc, "TetheredSource": *tc,
		"*UserSource": uc, "UserSource": *uc,
		"*PendingAuth": pending, "PendingAuth": *pending,
		"*MemoryStore": store,
		"*Cache":       cache,
		// Values reached through a caller's own structs and slices.
		"in a struct": struct {
			PKB  SystemConfig
			User *UserSource
		}{sys, uc},
		"in a slice": []any{teth, &user, tc},
	}
}

// pendingSecret is the PKCE verifier of the PendingAuth in formatted.
var pendingSecret string

func TestFormattingNeverPrintsSecrets(t *testing.T) {
	values := formatted(t)
	forbidden := secretForms(fmtSecret, fmtRT, fmtAT, pendingSecret)
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%10.3v", "%-40s", "%T", "%p", "%t", "%e", "%U", "%c", "%o", "%b"}
	for name, v := range values {
		for _, verb := range verbs {
			if verb == "%p" && reflect.ValueOf(v).Kind() != reflect.Pointer {
				// fmt prints a non-pointer given %p raw, past every
				// method; go vet reports that call.
				continue
			}
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("%s %s prints a secret (%q): %s", name, verb, f, out)
				}
			}
		}
		for _, out := range []string{fmt.Sprint(v), fmt.Sprintln(v)} {
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("%s Sprint prints a secret: %s", name, out)
				}
			}
		}
		if s, ok := v.(fmt.Stringer); ok {
			if out := s.String(); containsAny(out, forbidden) {
				t.Errorf("%s String: %s", name, out)
			}
		}
		if s, ok := v.(fmt.GoStringer); ok {
			if out := s.GoString(); containsAny(out, forbidden) {
				t.Errorf("%s GoString: %s", name, out)
			}
		}
	}
}

func TestFormattingStillDescribesTheValue(t *testing.T) {
	values := formatted(t)
	for name, want := range map[string]string{
		"SystemConfig":    "sys-id",
		"*TetheredConfig": "teth-id",
		"*UserSource":     "user-id",
		"*SystemSource":   "sys-id",
		"*CustomerSource": "cust-id",
		"*TetheredSource": "teth-id",
		"PendingAuth":     "https://app.example/cb",
	} {
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			out := fmt.Sprintf(verb, values[name])
			if !strings.Contains(out, want) || !strings.Contains(out, "[REDACTED]") && !strings.HasPrefix(name, "*") {
				t.Errorf("%s %s = %s, want it to show %q and [REDACTED]", name, verb, out, want)
			}
		}
	}
	if out := fmt.Sprintf("%#v", values["SystemConfig"]); !strings.HasPrefix(out, "authn.SystemConfig{") {
		t.Errorf("%%#v = %s, want the type's own name", out)
	}
	// An empty secret is shown as empty, not as redacted.
	if out := fmt.Sprintf("%+v", UserConfig{ClientID: "public"}); !strings.Contains(out, "ClientSecret: ") {
		t.Errorf("%s", out)
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestSlogNeverPrintsSecrets(t *testing.T) {
	values := formatted(t)
	forbidden := secretForms(fmtSecret, fmtRT, fmtAT, pendingSecret)
	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	} {
		for name, v := range values {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			log.Info("config", "value", v)
			log.Info("config", slog.Any("value", v))
			log.With("value", v).Info("with")
			log.WithGroup("g").Info("group", "value", v)
			if containsAny(buf.String(), forbidden) {
				t.Errorf("%s handler, %s: %s", h.name, name, buf.String())
			}
			if _, ok := v.(slog.LogValuer); !ok && name != "in a struct" && name != "in a slice" {
				t.Errorf("%s is not a slog.LogValuer", name)
			}
		}
	}
	// The log line still says which client it was.
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "cfg", values["TetheredConfig"])
	if !strings.Contains(buf.String(), `"client_id":"teth-id"`) || !strings.Contains(buf.String(), `"refresh_token":"[REDACTED]"`) {
		t.Errorf("log line = %s", buf.String())
	}
}
