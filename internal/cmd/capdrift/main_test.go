package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	committed := filepath.Join(root, "api", "openapi", "source", "facade-capabilitystatement.json")
	spec := filepath.Join(root, "api", "openapi", "facade.yaml")

	var out, errb bytes.Buffer
	if code := run([]string{"-committed", committed, "-spec", spec}, &out, &errb); code != 0 {
		t.Fatalf("committed statement: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "OK: no drift") {
		t.Errorf("output:\n%s", out.String())
	}

	// A removed search parameter fails with exit 1, also in JSON.
	raw, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), `"name": "source-organisation"`, `"name": "source-organization"`, 1)
	cand := filepath.Join(t.TempDir(), "new.json")
	if err := os.WriteFile(cand, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"-committed", committed, "-spec", spec, "-statement", cand, "-json"}, &out, &errb); code != 1 {
		t.Fatalf("renamed parameter: exit %d, want 1\n%s", code, out.String())
	}
	var rep struct {
		Failed bool `json:"failed"`
		Rows   []struct{ Change, Item string }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || !rep.Failed || len(rep.Rows) != 2 {
		t.Errorf("JSON %v: %s", err, out.String())
	}

	// Bad input: exit 2 with a message naming the file.
	errb.Reset()
	if code := run([]string{"-committed", committed, "-spec", spec, "-statement", spec}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "candidate statement") {
		t.Errorf("spec as statement: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"-statement", "/nonexistent.json", "-committed", committed, "-spec", spec}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "/nonexistent.json") {
		t.Errorf("missing file: exit %d, stderr %q", code, errb.String())
	}
}
