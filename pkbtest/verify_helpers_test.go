package pkbtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/verify"
	"github.com/pkbgo/pkb/pkbtest"
)

// This file drives internal/verify against the simulator through
// verify.HTTPCaller, with tokens fetched from the simulator's own token
// endpoints over plain OAuth (golang.org/x/oauth2): the engine is tested
// without the client library, which the pkb command adapts to it.

// simClient is one of the six kinds of client the simulator serves.
type simClient struct {
	name  string // the grant, e.g. user:PATIENT
	typ   string
	grant string
}

var simClientKinds = []simClient{
	{"system", "system", "system"},
	{"customer", "customer", "customer"},
	{"user:PATIENT", "user", "user:PATIENT"},
	{"user:CLINICIAN", "user", "user:CLINICIAN"},
	{"user:TEAMCOORD", "user", "user:TEAMCOORD"},
	{"tethered:SITE", "tethered", "tethered:SITE"},
}

// simValues are the values a team would supply for the simulator: its
// seeded test patient and the seeded team, clinician and organisation.
func simValues(kind simClient) map[string]string {
	v := map[string]string{
		"patient.nhsNumber": pkbtest.SeedPatientNHSNumber,
		"teamId":            pkbtest.SeedTeamID,
		"practitionerId":    pkbtest.SeedClinicianID,
		"odsCode":           pkbtest.SeedOrgODSCode,
		"sourceEndpoint":    "https://example.invalid/pkb-verify/inbound",
	}
	if kind.grant == "user:CLINICIAN" {
		// A clinician can look the REST id up nowhere; a team supplies it.
		v["patient.restId"] = pkbtest.SeedPatientRESTID
	}
	return v
}

// callerFor logs a client of the kind in and returns a caller for it.
func callerFor(t testing.TB, s *pkbtest.Simulator, kind simClient) *verify.HTTPCaller {
	t.Helper()
	ctx := context.Background()
	env := s.Environment()
	tok := ""
	var fams []access.Family
	header := http.Header{}
	switch kind.typ {
	case "system":
		cc := clientcredentials.Config{ClientID: pkbtest.DefaultSystemClientID, ClientSecret: pkbtest.DefaultClientSecret,
			TokenURL: env.SystemTokenURL, AuthStyle: oauth2.AuthStyleInHeader}
		tk, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("system token: %v", err)
		}
		tok = tk.AccessToken
		fams = []access.Family{access.FamilyFacade, access.FamilyMessaging}
		header.Set("X-Org-Public-Id", pkbtest.SeedOrgPublicID)
	case "customer":
		cc := clientcredentials.Config{ClientID: pkbtest.DefaultCustomerClientID, ClientSecret: pkbtest.DefaultClientSecret,
			TokenURL: env.CustomerTokenURL, AuthStyle: oauth2.AuthStyleInHeader}
		tk, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("customer token: %v", err)
		}
		tok = tk.AccessToken
		fams = []access.Family{access.FamilyCustomerSTU3, access.FamilyCustomerR4, access.FamilyAggregated}
	case "user":
		tok = userToken(t, s, strings.TrimPrefix(kind.grant, "user:"))
		fams = []access.Family{access.FamilyFacade, access.FamilyRESTAPI}
	case "tethered":
		rt, err := s.IssueTetheredRefreshToken()
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"SITE"}}
		req, _ := http.NewRequest(http.MethodPost, env.UserTokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(pkbtest.DefaultTetheredClientID, pkbtest.DefaultClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
			t.Fatalf("tethered token: status %d, %v", resp.StatusCode, err)
		}
		tok = body.AccessToken
		fams = []access.Family{access.FamilyRESTAPI}
	}
	stu3, err := env.CustomerURL(pkbtest.CustomerSTU3)
	if err != nil {
		t.Fatal(err)
	}
	r4, err := env.CustomerURL(pkbtest.CustomerR4)
	if err != nil {
		t.Fatal(err)
	}
	return &verify.HTTPCaller{
		Info: verify.Client{Type: kind.typ, Grants: []string{kind.grant}, Families: fams},
		BaseURLs: map[access.Family]string{
			access.FamilyFacade:       env.FacadeURL,
			access.FamilyMessaging:    env.MessagingURL,
			access.FamilyRESTAPI:      env.RESTURL,
			access.FamilyAggregated:   env.AggregatedURL,
			access.FamilyCustomerSTU3: stu3,
			access.FamilyCustomerR4:   r4,
		},
		Token:  func(context.Context) (string, error) { return tok, nil },
		Header: header,
	}
}

// userToken runs the authorization-code flow with PKCE for one scope; the
// simulator approves as its default user.
func userToken(t testing.TB, s *pkbtest.Simulator, scope string) string {
	t.Helper()
	env := s.Environment()
	cfg := oauth2.Config{ClientID: pkbtest.DefaultUserClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Endpoint:    oauth2.Endpoint{AuthURL: env.UserAuthorizeURL, TokenURL: env.UserTokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		RedirectURL: "http://127.0.0.1:9/callback", Scopes: []string{scope}}
	verifier := oauth2.GenerateVerifier()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(cfg.AuthCodeURL("state-for-verify", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize as %s: status %d, no code", scope, resp.StatusCode)
	}
	tk, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange as %s: %v", scope, err)
	}
	return tk.AccessToken
}

// seedCustomerPatients stores one Patient on each Customer endpoint, as a
// customer feed would have, so that the Customer probes find an id.
func seedCustomerPatients(t testing.TB, c *verify.HTTPCaller) {
	t.Helper()
	for _, f := range []access.Family{access.FamilyCustomerSTU3, access.FamilyCustomerR4} {
		body := `{"resourceType":"Patient","name":[{"family":"Testcustomerpatient","given":["Uma"]}],"gender":"female"}`
		resp, err := c.Do(context.Background(), &verify.Request{Family: f, Operation: "create", Path: []string{"Patient"}, Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: creating a Patient answered %d", f, resp.StatusCode)
		}
	}
}

// phiStrings are every seeded identifier and name of the simulator, and
// the values the probes were given.
func phiStrings(s *pkbtest.Simulator) []string {
	out := []string{pkbtest.SeedPatientID, pkbtest.SeedPatientNHSNumber, pkbtest.SeedPatientBSN, pkbtest.SeedPatientRESTID,
		pkbtest.SeedClinicianID, pkbtest.SeedClinicianRESTID, pkbtest.SeedCoordinatorID, pkbtest.SeedCoordinatorRESTID,
		pkbtest.SeedPersonID, pkbtest.SeedQuestionnaireID, pkbtest.SeedProcedureRequestID, pkbtest.SeedAggregatedQuestionnaireID,
		pkbtest.SeedCarerConsentID, pkbtest.SeedReadDocumentIdentifier, pkbtest.SeedUnreadDocumentIdentifier,
		pkbtest.SeedOrgPublicID, pkbtest.SeedOtherOrgPublicID, pkbtest.SeedTeamID, pkbtest.SeedSecondTeamID,
		pkbtest.SeedOrgODSCode, pkbtest.SeedTeamAlias, pkbtest.SeedSecondTeamAlias,
		"Testclinician", "Testcoordinator", "Testnurse", "Testcustomerpatient", "Uma", "Testtown", "TE5 7AA", "Test Street"}
	for _, p := range s.Patients() {
		out = append(out, p.ID, p.NHSNumber, p.RESTID, p.Given, p.Family, p.BirthDate)
		if p.BSN != "" {
			out = append(out, p.BSN)
		}
		if p.Email != "" {
			out = append(out, p.Email)
		}
	}
	return out
}

func describeResult(r verify.Result) string {
	s := fmt.Sprintf("%s: %s", r.ID, r.Outcome)
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	if ev := r.Evidence; ev != nil {
		s += fmt.Sprintf(" [%d %s %s", ev.Status, ev.ContentType, ev.Body)
		for _, c := range ev.Checks {
			s += fmt.Sprintf("; %s want %s got %s", c.Path, c.Want, c.Got)
		}
		s += "]"
	}
	return s
}
