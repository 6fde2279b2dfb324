package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/loopback"
	"github.com/pkbgo/pkb/pkbtest"
)

// nhsNumberSystem is the FHIR identifier system of NHS numbers.
const nhsNumberSystem = "https://fhir.nhs.uk/Id/nhs-number"

// serveInfo is what pkb serve prints on start (JSON with --json). The
// credentials are the simulator's fixed, fake ones.
type serveInfo struct {
	URL         string            `json:"url"`
	Seed        int64             `json:"seed"`
	Endpoints   map[string]string `json:"endpoints"`
	Clients     []serveClient     `json:"clients"`
	OrgPublicID string            `json:"org_public_id"`
	PatientID   string            `json:"patient_id"`
	NHSNumber   string            `json:"patient_nhs_number"`
}

type serveClient struct {
	Type         string `json:"type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Notes        string `json:"notes"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

func (c *cli) cmdServe(ctx context.Context, args []string) error {
	var (
		addr     string
		seed     int64
		pageSize int
		quiet    bool
		asJSON   bool
		ttl      time.Duration
		latency  string
		deviate  string
	)
	fs := c.newFlagSet("serve", "[flags]\n\nRuns the offline PKB simulator (token endpoints and every API family, with\n"+
		"synthetic data) until interrupted. Its credentials are fake and printed on start.")
	fs.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	fs.Int64Var(&seed, "seed", pkbtest.DefaultSeed, "seed of the synthetic data")
	fs.IntVar(&pageSize, "page-size", pkbtest.DefaultPageSize, "default search page size")
	fs.BoolVar(&quiet, "quiet", false, "do not log requests to stderr")
	fs.BoolVar(&asJSON, "json", false, "print the URLs and credentials as JSON")
	fs.DurationVar(&ttl, "access-token-ttl", 0, "lifespan of every access token, e.g. 2s for fleet tests (default: PKB's per client type; at least 1s)")
	fs.StringVar(&latency, "latency", "", "per-family delay for timeout tests, e.g. facade=2m,aggregated=500ms\n(families: facade, messaging, customer-stu3, customer-r4, aggregated, restapi)")
	fs.StringVar(&deviate, "deviate", "", "behave as if these assumptions (x-pkb-assumption ids, comma-separated) were false,\nto see 'pkb verify' report them contradicted; 'list' prints the ids")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if deviate == "list" {
		for _, id := range pkbtest.Deviations() {
			fmt.Fprintln(c.stdout, id)
		}
		return nil
	}
	if pageSize <= 0 {
		return usageErrorf("--page-size must be positive")
	}
	if ttl != 0 && ttl < time.Second {
		return usageErrorf("--access-token-ttl must be at least 1s (expires_in is in whole seconds)")
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--addr %q: %v", addr, err)
	}
	if !loopback.Host(host) {
		fmt.Fprintf(c.stderr, "pkb serve: warning: %s is not a loopback address; the simulator has fake credentials and no real security, and pkb sends tokens over plain http to loopback hosts only\n", host)
	}

	delays, err := pkbtest.ParseLatencies(latency)
	if err != nil {
		return usageErrorf("--latency: %v", err)
	}
	opts := append([]pkbtest.SimOption{pkbtest.WithSeed(seed), pkbtest.WithPageSize(pageSize)}, delays...)
	if ttl > 0 {
		opts = append(opts, pkbtest.WithAccessTokenTTL(ttl))
	}
	var deviations []string
	if deviate != "" {
		deviations = strings.Split(deviate, ",")
		known := pkbtest.Deviations()
		for _, id := range deviations {
			if !slices.Contains(known, id) {
				return usageErrorf("--deviate: the simulator cannot deviate from %q ('pkb serve --deviate list' prints the ids)", id)
			}
		}
		opts = append(opts, pkbtest.WithDeviations(deviations...))
	}
	if !quiet {
		opts = append(opts, pkbtest.WithLogger(slog.New(slog.NewTextHandler(c.stderr, nil))))
	}
	sim, err := pkbtest.NewSimulator(opts...)
	if err != nil {
		return fmt.Errorf("starting the simulator: %w", err)
	}
	if err := sim.Start(addr); err != nil {
		return &exitError{code: exitNetwork, msg: "cannot listen on " + addr, err: err}
	}
	defer sim.Close()

	rt, err := sim.IssueTetheredRefreshToken()
	if err != nil {
		return fmt.Errorf("issuing a tethered refresh token: %w", err)
	}
	info := newServeInfo(sim, seed, rt)
	if asJSON {
		if err := writeJSON(c.stdout, info); err != nil {
			return err
		}
	} else {
		printServeInfo(c, info)
	}
	if len(deviations) > 0 {
		fmt.Fprintf(c.stderr, "pkb serve: deviating from the documents as if these assumptions were false: %s\n", strings.Join(deviations, ", "))
	}
	if c.serveReady != nil {
		c.serveReady(sim.URL())
	}
	<-ctx.Done()
	fmt.Fprintln(c.stderr, "pkb serve: stopping")
	return nil
}

// tokenEndpoints are the simulator's token endpoints, in the order
// printed after the API families.
var tokenEndpoints = []string{"user-authorize", "user-token", "system-token", "customer-token"}

func newServeInfo(sim *pkbtest.Simulator, seed int64, tetheredRT string) serveInfo {
	env := sim.Environment()
	endpoints := map[string]string{
		"user-authorize":      env.UserAuthorizeURL,
		"user-token":          env.UserTokenURL,
		"system-token":        env.SystemTokenURL,
		"customer-token":      env.CustomerTokenURL,
		"tethered-user-token": env.UserTokenURL,
	}
	// Every family of the family table; the simulator's customer of each
	// Customer family is named after its FHIR version.
	for _, f := range access.Families() {
		endpoints[string(f.ID)], _ = env.BaseURL(f.ID, f.FHIRVersion)
	}
	return serveInfo{
		URL:       sim.URL(),
		Seed:      seed,
		Endpoints: endpoints,
		Clients: []serveClient{
			{Type: "system", ClientID: pkbtest.DefaultSystemClientID, ClientSecret: pkbtest.DefaultClientSecret,
				Notes: "Facade and Messaging; X-Org-Public-Id " + pkbtest.SeedOrgPublicID},
			{Type: "customer", ClientID: pkbtest.DefaultCustomerClientID, ClientSecret: pkbtest.DefaultClientSecret,
				Notes: "Customer (STU3 and R4) and Aggregated"},
			{Type: "user", ClientID: pkbtest.DefaultUserClientID, ClientSecret: pkbtest.DefaultClientSecret,
				Notes: "Facade and REST API; any loopback redirect; logins are approved automatically as " + pkbtest.DefaultUserID},
			{Type: "tethered", ClientID: pkbtest.DefaultTetheredClientID, ClientSecret: pkbtest.DefaultClientSecret,
				Notes: "REST API, scope SITE; the refresh token is single-use", RefreshToken: tetheredRT},
		},
		OrgPublicID: pkbtest.SeedOrgPublicID,
		PatientID:   pkbtest.SeedPatientID,
		NHSNumber:   pkbtest.SeedPatientNHSNumber,
	}
}

func printServeInfo(c *cli, info serveInfo) {
	w := c.stdout
	fmt.Fprintf(w, "PKB simulator listening on %s (seed %d). Everything here is synthetic and the credentials are fake.\n\n", info.URL, info.Seed)
	t := newTable("API", "BASE URL")
	var keys []string
	for _, f := range access.Families() {
		keys = append(keys, string(f.ID))
	}
	for _, k := range append(keys, tokenEndpoints...) {
		t.add(k, info.Endpoints[k])
	}
	t.write(w)
	fmt.Fprintln(w)
	t = newTable("CLIENT TYPE", "CLIENT ID", "SECRET", "NOTES")
	for _, cl := range info.Clients {
		t.add(cl.Type, cl.ClientID, cl.ClientSecret, cl.Notes)
	}
	t.write(w)
	fmt.Fprintf(w, "\nSeed data: organisation %s, patient %s (NHS number %s).\n", info.OrgPublicID, info.PatientID, info.NHSNumber)
	fmt.Fprintf(w, "Tethered refresh token (single-use; rotated into the token store on first use):\n  %s\n", info.Clients[3].RefreshToken)
	fmt.Fprintf(w, "Another tethered session without a restart: curl -X POST %s/_sim/tethered-tokens\n\n", info.URL)
	fmt.Fprintln(w, "Try it from another shell:")
	fmt.Fprintf(w, "  export PKB_BASE_URL=%s PKB_CLIENT_TYPE=system PKB_CLIENT_ID=%s PKB_CLIENT_SECRET=%s PKB_ORG_ID=%s\n",
		info.URL, pkbtest.DefaultSystemClientID, pkbtest.DefaultClientSecret, info.OrgPublicID)
	fmt.Fprintf(w, "  pkb search Patient 'identifier=%s|%s'\n", nhsNumberSystem, info.NHSNumber)
	fmt.Fprintf(w, "  pkb get Patient/%s\n", info.PatientID)
	fmt.Fprintln(w, "Other languages: point your client's base URLs at the table above.")
	fmt.Fprintf(w, "Counters (token requests, refresh-token redemptions, reuse detections, API calls): GET %s/_sim/stats\n", info.URL)
	fmt.Fprintln(w, strings.Repeat("-", 20)+" serving until Ctrl-C (request log on stderr)")
}
