package authn

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"golang.org/x/oauth2"
)

func TestEnvironments(t *testing.T) {
	want := map[string]string{
		"UserAuthorizeURL": "https://sandbox.patientsknowbest.com/apiAuthorize.action",
		"UserTokenURL":     "https://sandbox.patientsknowbest.com/apiToken.action",
		"SystemTokenURL":   "https://oauth2.sandbox.patientsknowbest.com/api/oauth/token",
		"CustomerTokenURL": "https://iam.sandbox.patientsknowbest.com/auth/realms/pkb/protocol/openid-connect/token",
		"FacadeURL":        "https://sandbox.patientsknowbest.com/fhir",
		"MessagingURL":     "https://sandbox.patientsknowbest.com/phr-fhir",
		"RESTURL":          "https://sandbox.patientsknowbest.com/json",
		"AggregatedURL":    "https://aggregated-fhir.sandbox.patientsknowbest.com/fhir",
	}
	v := reflect.ValueOf(Sandbox)
	for f, u := range want {
		if got := v.FieldByName(f).String(); got != u {
			t.Errorf("Sandbox.%s = %s, want %s", f, got, u)
		}
	}
	// Every URL field of every environment must be set and valid.
	for _, env := range []Environment{Sandbox, UKProduction} {
		ev := reflect.ValueOf(env)
		for f := range want {
			if err := checkURL(f, ev.FieldByName(f).String()); err != nil {
				t.Errorf("%s.%s: %v", env.Name, f, err)
			}
		}
	}
	if UKProduction.SystemTokenURL != "https://oauth2.patientsknowbest.com/api/oauth/token" ||
		UKProduction.UserTokenURL != "https://my.patientsknowbest.com/apiToken.action" {
		t.Errorf("UKProduction = %+v", UKProduction)
	}
}

func TestCustomerURL(t *testing.T) {
	got, err := Sandbox.CustomerURL("acme")
	if err != nil || got != "https://acme.fhir-api.sandbox.patientsknowbest.com/fhir" {
		t.Fatalf("%s %v", got, err)
	}
	got, _ = UKProduction.CustomerURL("nhs-trust-1")
	if got != "https://nhs-trust-1.fhir-api.patientsknowbest.com/fhir" {
		t.Fatal(got)
	}
	for _, bad := range []string{"", "Acme", "evil.example/x#", "a.b", "-acme", "acme-", "a b", "acme@evil"} {
		if _, err := Sandbox.CustomerURL(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("CustomerURL(%q) err = %v", bad, err)
		}
	}
}

type countingOAuth2 struct{ n int }

func (c *countingOAuth2) Token() (*oauth2.Token, error) {
	c.n++
	return &oauth2.Token{AccessToken: "x"}, nil
}

func TestAdapters(t *testing.T) {
	src := &countingOAuth2{}
	ts := FromOAuth2(src)
	if tok, err := ts.Token(context.Background()); err != nil || tok.AccessToken != "x" {
		t.Fatal(tok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ts.Token(ctx); !errors.Is(err, context.Canceled) || src.n != 1 {
		t.Fatalf("cancelled ctx: %v n=%d", err, src.n)
	}

	var seen any
	back := ToOAuth2(context.WithValue(context.Background(), ctxKey{}, "v"), TokenSourceFunc(func(ctx context.Context) (*oauth2.Token, error) {
		seen = ctx.Value(ctxKey{})
		return &oauth2.Token{AccessToken: "y"}, nil
	}))
	if tok, err := back.Token(); err != nil || tok.AccessToken != "y" || seen != "v" {
		t.Fatal(tok, err, seen)
	}
}

func TestGrantedScopes(t *testing.T) {
	for _, tc := range []struct {
		extra any
		want  []string
	}{
		{"PATIENT", []string{"PATIENT"}},
		{"email  profile", []string{"email", "profile"}},
		{"", nil},
		{nil, nil},
		{42.0, nil},
	} {
		tok := (&oauth2.Token{AccessToken: "a"}).WithExtra(map[string]any{"scope": tc.extra})
		if got := GrantedScopes(tok); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("GrantedScopes(%v) = %v", tc.extra, got)
		}
	}
	if GrantedScopes(nil) != nil {
		t.Error("nil token")
	}
}
