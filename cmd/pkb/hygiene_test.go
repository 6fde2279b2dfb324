package main

import (
	"encoding/json"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/pkbtest"
)

// TestHoistFlags: flags before the command move to just after it; a value
// flag keeps its value; anything else is left alone.
func TestHoistFlags(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"--json", "get", "Patient/1"}, []string{"get", "--json", "Patient/1"}},
		{[]string{"--client-type", "system", "--json", "search", "Patient", "x=y"}, []string{"search", "--client-type", "system", "--json", "Patient", "x=y"}},
		{[]string{"--env=sandbox", "ops"}, []string{"ops", "--env=sandbox"}},
		{[]string{"--timeout", "5s", "op", "capabilities"}, []string{"op", "--timeout", "5s", "capabilities"}},
		{[]string{"get", "--json", "Patient/1"}, []string{"get", "--json", "Patient/1"}},
		{[]string{"--json", "nonsense"}, []string{"--json", "nonsense"}},
		{[]string{"--json"}, []string{"--json"}},
		{[]string{"--", "get"}, []string{"--", "get"}},
	} {
		if got := hoistFlags(slices.Clone(tc.in)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("hoistFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func systemEnv(sim *pkbtest.Simulator) map[string]string {
	return map[string]string{
		"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": pkbtest.DefaultSystemClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_ORG_ID": pkbtest.SeedOrgPublicID,
	}
}

// TestFlagsBeforeTheCommand: 'pkb --json get …' works as 'pkb get --json
// …' (issue 11: flags before the subcommand were rejected); a flag the
// command lacks is still a usage error.
func TestFlagsBeforeTheCommand(t *testing.T) {
	sim := startSim(t)
	env := systemEnv(sim)
	delete(env, "PKB_CLIENT_TYPE")
	r := newRunner(t, env)
	res := r.want(0, "--json", "--client-type", "system", "get", "Patient/"+pkbtest.SeedPatientID)
	var b map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &b); err != nil || b["id"] != pkbtest.SeedPatientID {
		t.Fatalf("flags before get: %v\n%s", err, res)
	}
	r.want(0, "--client-type=system", "search", "Patient", "identifier="+nhsNumberSystem+"|"+pkbtest.SeedPatientNHSNumber)
	r.want(exitUsage, "--no-such-flag", "get", "Patient/"+pkbtest.SeedPatientID)
	r.want(exitUsage, "--json")
}

// TestGetWithoutAnIDIsNotASearch: 'pkb get Patient' is an error that
// points to 'pkb search', and sends nothing (issue 11: it silently became
// a search of every patient).
func TestGetWithoutAnIDIsNotASearch(t *testing.T) {
	sim := startSim(t)
	r := newRunner(t, systemEnv(sim))
	before := sim.Stats().APICalls
	for _, arg := range []string{"Patient", "/Observation/", "Patient/_search"} {
		res := r.run("get", arg)
		if res.code != exitUsage {
			t.Errorf("pkb get %s: exit %d, want %d\n%s", arg, res.code, exitUsage, res)
			continue
		}
		if arg != "Patient/_search" && !strings.Contains(res.stderr, "pkb search") {
			t.Errorf("pkb get %s: no hint to use search:\n%s", arg, res)
		}
	}
	if after := sim.Stats().APICalls; !reflect.DeepEqual(before, after) {
		t.Errorf("API calls went from %v to %v: a get without an id was sent", before, after)
	}
	// metadata is a read of the capabilities, not a search.
	r.want(0, "get", "metadata")
}

// TestOpsAndOpAgreeOnPublicOperations: for every client type, with no
// credentials at all, 'pkb op' calls each public operation 'pkb ops'
// lists (capabilities, readOperationDefinition, listMeasurementApiRefs),
// and refuses as out of reach each one it does not (issue 11: ops listed
// them but op demanded credentials).
func TestOpsAndOpAgreeOnPublicOperations(t *testing.T) {
	sim := startSim(t)
	for _, ct := range []string{"user", "system", "customer", "tethered"} {
		r := newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": ct})
		res := r.want(0, "ops", "--json")
		var rows []struct{ Family, Operation string }
		if err := json.Unmarshal([]byte(res.stdout), &rows); err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, row := range rows {
			listed[row.Family+"."+row.Operation] = true
		}
		for _, op := range access.Operations() {
			if !slices.Contains(op.Grants, "public") {
				continue
			}
			name := string(op.Family) + "." + op.ID
			args := []string{"op", name}
			if op.ID == "readOperationDefinition" {
				args = append(args, "id=status-query")
			}
			res := r.run(args...)
			switch {
			case listed[name] && res.code != exitOK && res.code != exitFailed:
				t.Errorf("%s: ops lists %s, op exits %d:\n%s", ct, name, res.code, res)
			case !listed[name] && res.code != exitAuth:
				t.Errorf("%s: ops does not list %s, op exits %d:\n%s", ct, name, res.code, res)
			}
		}
		// Credentials are still needed for everything else, and say so.
		res = r.run("op", "readPatient", "id="+pkbtest.SeedPatientID)
		if ct == "system" && (res.code != exitAuth || !strings.Contains(res.stderr, "PKB_CLIENT_ID")) {
			t.Errorf("%s: a non-public operation without credentials:\n%s", ct, res)
		}
	}
	// The capabilities come back for real.
	res := newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "user"}).want(0, "op", "capabilities", "--json")
	if !strings.Contains(res.stdout, "CapabilityStatement") {
		t.Errorf("capabilities:\n%s", res)
	}
}

// TestSearchAllFollowsAggregatedRelativeLinks: the Aggregated API's next
// links are server-relative with page= (docs/pkb-api.md §2.4); 'pkb search
// --all' follows them through the checkpoint (Family.Follow) and returns
// every page as one Bundle.
func TestSearchAllFollowsAggregatedRelativeLinks(t *testing.T) {
	sim := startSim(t)
	r := newRunner(t, map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "customer", "PKB_CLIENT_ID": pkbtest.DefaultCustomerClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret})
	sel := "subject:Patient.identifier=" + nhsNumberSystem + "|" + pkbtest.SeedPatientNHSNumber
	first := r.want(0, "search", "--family", "aggregated", "Observation", sel, "_count=2", "--json")
	var b struct {
		Total *int `json:"total"`
		Link  []struct{ Relation, URL string }
		Entry []json.RawMessage
	}
	if err := json.Unmarshal([]byte(first.stdout), &b); err != nil {
		t.Fatal(err)
	}
	next := ""
	for _, l := range b.Link {
		if l.Relation == "next" {
			next = l.URL
		}
	}
	if u, err := url.Parse(next); err != nil || u.IsAbs() || !strings.Contains(u.RawQuery, "page=") || len(b.Entry) != 2 || b.Total == nil || *b.Total <= 2 {
		t.Fatalf("the first page is not what this test needs (2 of more, a relative page= next link): next %q, %d entries, total %v", next, len(b.Entry), b.Total)
	}
	total := *b.Total
	all := r.want(0, "search", "--family", "aggregated", "Observation", sel, "_count=2", "--all", "--json")
	b.Entry, b.Link = nil, nil
	if err := json.Unmarshal([]byte(all.stdout), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Entry) != total {
		t.Errorf("--all returned %d entries, want all %d", len(b.Entry), total)
	}
	for _, l := range b.Link {
		if l.Relation == "next" {
			t.Errorf("--all left a next link: %s", l.URL)
		}
	}
}
