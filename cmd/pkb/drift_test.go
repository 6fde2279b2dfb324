package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/api/openapi"
	"github.com/pkbgo/pkb/pkbtest"
)

func TestDriftAgainstTheSimulatorsMetadata(t *testing.T) {
	sim := startSim(t)
	r := newRunner(t, map[string]string{
		"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": pkbtest.DefaultSystemClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_ORG_ID": pkbtest.SeedOrgPublicID,
	})
	res := r.want(0, "drift")
	if !strings.Contains(res.stdout, "OK") {
		t.Errorf("live /metadata equal to the committed statement:\n%s", res)
	}
}

func TestDriftReportsARemovedSearchParameter(t *testing.T) {
	raw, err := openapi.FS.ReadFile("source/facade-capabilitystatement.json")
	if err != nil {
		t.Fatal(err)
	}
	var cs map[string]any
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	for _, res := range cs["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		m := res.(map[string]any)
		if m["type"] != "DocumentReference" {
			continue
		}
		var kept []any
		for _, p := range m["searchParam"].([]any) {
			if p.(map[string]any)["name"] != "indexed" {
				kept = append(kept, p)
			}
		}
		m["searchParam"] = kept
	}
	edited, _ := json.Marshal(cs)
	path := filepath.Join(t.TempDir(), "statement.json")
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, nil)
	res := r.want(exitFailed, "drift", "--statement", path)
	if !strings.Contains(res.stdout, "removed") || !strings.Contains(res.stdout, "DocumentReference?indexed") {
		t.Errorf("the removal is not reported:\n%s", res)
	}
	res = r.want(exitFailed, "drift", "--statement", path, "--json")
	if !json.Valid([]byte(res.stdout)) {
		t.Errorf("--json output is not JSON:\n%s", res)
	}
}

// PKB's error statuses reach scripts as documented exit codes.
func TestAPIErrorsMapToExitCodes(t *testing.T) {
	sim := startSim(t)
	r := newRunner(t, map[string]string{
		"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": pkbtest.DefaultSystemClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_ORG_ID": pkbtest.SeedOrgPublicID,
	})
	res := r.want(exitFailed, "get", "Patient/00000000-0000-4000-8000-00000000dead", "--json")
	if !strings.Contains(res.stdout, `"http_status": 404`) && !strings.Contains(res.stdout, `"http_status":404`) {
		t.Errorf("404 --json lacks the status:\n%s", res)
	}
	sim.InjectAPIFault(pkbtest.APIFault{Kind: pkbtest.APIFaultUnavailable})
	r.want(exitNetwork, "get", "Patient/"+pkbtest.SeedPatientID)
	sim.ClearAPIFaults()
	sim.InjectAPIFault(pkbtest.APIFault{Kind: pkbtest.APIFaultUnavailable, Status: 403})
	r.want(exitAuth, "get", "Patient/"+pkbtest.SeedPatientID)
}

// A hostile statement's names reach neither the terminal nor the decoded
// --json strings as escape sequences.
func TestDriftHostileStatement(t *testing.T) {
	raw, err := openapi.FS.ReadFile("source/facade-capabilitystatement.json")
	if err != nil {
		t.Fatal(err)
	}
	var cs map[string]any
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatal(err)
	}
	rest := cs["rest"].([]any)[0].(map[string]any)
	rest["resource"] = append(rest["resource"].([]any), map[string]any{"type": "Evil" + terminalAttack,
		"interaction": []any{map[string]any{"code": "read" + terminalAttack}},
		"searchParam": []any{map[string]any{"name": "p" + terminalAttack, "type": "token", "documentation": "Optional. Multi-value support: none. Modifier support: none."}}})
	edited, _ := json.Marshal(cs)
	path := filepath.Join(t.TempDir(), "statement.json")
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, nil)
	res := r.run("drift", "--statement", path)
	assertClean(t, res)
	if !strings.Contains(res.stdout, "Evil") {
		t.Fatalf("the added resource is not reported:\n%s", res)
	}
	res = r.run("drift", "--statement", path, "--json")
	assertClean(t, res)
	assertJSONSafe(t, res.stdout)
}
