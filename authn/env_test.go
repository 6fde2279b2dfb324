package authn

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/gen/access"
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
	// A simulator mounts customers under a path on a loopback host.
	sim := Environment{CustomerURLTemplate: "http://127.0.0.1:8080/customer/{customer}/fhir"}
	if got, err := sim.CustomerURL("r4"); err != nil || got != "http://127.0.0.1:8080/customer/r4/fhir" {
		t.Errorf("loopback template: %s %v", got, err)
	}
	for name, tpl := range map[string]string{
		"empty":                 "",
		"no placeholder":        "https://acme.fhir-api.example.com/fhir",
		"two placeholders":      "https://{customer}.example.com/{customer}/fhir",
		"plain http to a host":  "http://{customer}.fhir-api.example.com/fhir",
		"loopback name as host": "http://{customer}.localhost/fhir",
		"credentials":           "https://u:p@{customer}.example.com/fhir",
		"fragment":              "https://{customer}.example.com/fhir#x",
		"relative":              "/customer/{customer}/fhir",
	} {
		env := Environment{CustomerURLTemplate: tpl}
		var ce *ConfigError
		if _, err := env.CustomerURL("acme"); !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) || ce.Field != "Environment.CustomerURLTemplate" {
			t.Errorf("%s: err = %v, want a ConfigError naming Environment.CustomerURLTemplate", name, err)
		}
	}
}

// TestBaseURLOfEveryFamily walks the family table: every family resolves,
// in both of PKB's environments, to the field its table row names.
func TestBaseURLOfEveryFamily(t *testing.T) {
	fams := access.Families()
	if len(fams) == 0 {
		t.Fatal("empty family table")
	}
	for _, env := range []Environment{Sandbox, UKProduction} {
		for _, f := range fams {
			got, err := env.BaseURL(f.ID, "acme")
			if err != nil {
				t.Errorf("%s %s: %v", env.Name, f.ID, err)
				continue
			}
			want := reflect.ValueOf(env).FieldByName(f.EnvField).String()
			if f.EnvField == "CustomerURLTemplate" {
				want = strings.Replace(want, "{customer}", "acme", 1)
			}
			if want == "" || got != want {
				t.Errorf("%s %s: BaseURL = %q, want %q (field %s)", env.Name, f.ID, got, want, f.EnvField)
			}
		}
	}
	if got, _ := Sandbox.BaseURL(access.FamilyFacade, ""); got != Sandbox.FacadeURL {
		t.Errorf("facade: %s", got)
	}
	if _, err := Sandbox.BaseURL(access.FamilyCustomerR4, "Not A Label"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("customer family with a bad name: %v", err)
	}
	if _, err := Sandbox.BaseURL("nope", ""); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("unknown family: %v", err)
	}
	empty := Sandbox
	empty.AggregatedURL = ""
	var ce *ConfigError
	if _, err := empty.BaseURL(access.FamilyAggregated, ""); !errors.As(err, &ce) || ce.Field != "Environment.AggregatedURL" {
		t.Errorf("empty field: %v", err)
	}
	insecure := Sandbox
	insecure.RESTURL = "http://pkb.example.com/json"
	if _, err := insecure.BaseURL(access.FamilyRESTAPI, ""); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("plain http to a remote host: %v", err)
	}
}

// TestSourcesCarryTheirEnvironment: every source reports the environment
// it was configured with, which the API clients take their URLs from.
func TestSourcesCarryTheirEnvironment(t *testing.T) {
	env := UKProduction
	env.Name = "custom"
	env.FacadeURL = "https://pkb.example.com/fhir"
	srcs := map[string]func() (Source, error){
		"system": func() (Source, error) {
			return NewSystemSource(SystemConfig{ClientID: "x", ClientSecret: "y", Environment: env})
		},
		"customer": func() (Source, error) {
			return NewCustomerSource(CustomerConfig{ClientID: "x", ClientSecret: "y", Environment: env})
		},
		"user": func() (Source, error) { return NewUserSource(UserConfig{ClientID: "x", Environment: env}) },
		"tethered": func() (Source, error) {
			return NewTetheredSource(TetheredConfig{ClientID: "x", ClientSecret: "y", Environment: env, RefreshToken: "r"})
		},
	}
	for name, mk := range srcs {
		src, err := mk()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := src.Environment(); got != env {
			t.Errorf("%s: Environment() = %+v, want %+v", name, got, env)
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
