package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var docs = []string{"facade.yaml", "messaging.yaml", "customer-stu3.yaml", "customer-r4.yaml", "aggregated.yaml", "restapi.yaml"}

func docPaths(root string) []string {
	var out []string
	for _, d := range docs {
		out = append(out, filepath.Join(root, "api", "openapi", d))
	}
	return out
}

// TestDeterministic regenerates the file twice and compares both with the
// committed one: generation is reproducible and the commit is current.
func TestDeterministic(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, "wrappers", "operations_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		out := filepath.Join(t.TempDir(), "ops.go")
		if err := run(out, docPaths(root)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, committed) {
			t.Fatalf("run %d differs from wrappers/operations_gen.go: run make generate", i+1)
		}
	}
}

// TestDocumentAndTableAgree refuses a document whose operations the
// operation table does not list (gen/access generated from other
// documents): the typed layer and the checkpoint must come from the same
// spec.
func TestDocumentAndTableAgree(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "api", "openapi", "restapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	extra := strings.Replace(string(raw), "operationId: getSelf", "operationId: getSelfRenamed", 1)
	doc := filepath.Join(t.TempDir(), "restapi.yaml")
	if err := os.WriteFile(doc, []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(filepath.Join(t.TempDir(), "ops.go"), []string{doc})
	if err == nil || !strings.Contains(err.Error(), "getSelf") {
		t.Fatalf("want an error naming getSelf, got %v", err)
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{"id": "id", "patientId": "patientID", "type": "typeValue", "vid": "vid", "nationalId": "nationalID", "params": "paramsValue"} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}
