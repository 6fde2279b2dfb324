package main

import (
	"os"
	"strings"
	"testing"
)

// TestDemoUsesTypedCalls keeps the demo on the typed layer (package pkb and
// the family handles' typed operations): a demo that decodes bodies by hand
// or reaches into the generated clients shows users the wrong way.
func TestDemoUsesTypedCalls(t *testing.T) {
	forbidden := []string{
		"encoding/json", "json.Unmarshal", "json.NewDecoder", // hand decoding
		"ApplicationfhirJSON", "JSON200", "WithResponse", ".Gen.", // the generated clients' raw responses
		".Body)", "r.Body", "bundleCount", "json.RawMessage", // reading bodies
	}
	for _, file := range []string{"demo.go", "demodata.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			for _, f := range forbidden {
				if strings.Contains(line, f) {
					t.Errorf("%s:%d uses %q; use the typed calls of package pkb and the family handles: %s", file, i+1, f, strings.TrimSpace(line))
				}
			}
		}
	}
}
