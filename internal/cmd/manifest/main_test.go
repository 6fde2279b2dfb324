package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildDeterministicAndCheck(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	m1, err := Build(root)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Build(root)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := Encode(m1)
	b2, _ := Encode(m2)
	if string(b1) != string(b2) {
		t.Fatal("two builds differ")
	}
	path := filepath.Join(t.TempDir(), "MANIFEST.json")
	if err := os.WriteFile(path, b1, 0o644); err != nil {
		t.Fatal(err)
	}
	if probs, err := Check(path, m1); err != nil || len(probs) != 0 {
		t.Fatalf("fresh manifest: %v %v", probs, err)
	}

	// A source edited without regeneration is named.
	for i := range m2.Sources {
		if m2.Sources[i].Path == "api/openapi/facade.yaml" {
			m2.Sources[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	m2.Generators[len(m2.Generators)-1].SHA256 = strings.Repeat("1", 64)
	probs, err := Check(path, m2)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 2 || !strings.HasPrefix(probs[0], "api/openapi/facade.yaml: sha256 000000000000…") ||
		!strings.HasPrefix(probs[1], "generator apisurface: sources internal/cmd/apisurface/main.go changed") {
		t.Errorf("problems %q", probs)
	}

	if probs, _ := Check(filepath.Join(t.TempDir(), "none.json"), m1); len(probs) != 1 || !strings.Contains(probs[0], "missing") {
		t.Errorf("missing manifest: %q", probs)
	}
	if err := os.WriteFile(path, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(path, m1); err == nil {
		t.Error("corrupt manifest accepted")
	}
}
