package main

import (
	"io"
	"strings"
	"testing"
)

// benchBundle is a 1 MB searchset with URLs (which hold the characters
// that start an encoding) in every entry.
var benchBundle = []byte(`{"resourceType":"Bundle","type":"searchset","entry":[` +
	strings.TrimSuffix(strings.Repeat(`{"fullUrl":"https://pkb.example/fhir/Observation/3d8afd18-0844-459a-b3c2-355d02e54c0a?a=1&b=%20",`+
		`"resource":{"resourceType":"Observation","id":"3d8afd18-0844-459a-b3c2-355d02e54c0a","status":"final",`+
		`"code":{"text":"Blood pressure"},"valueQuantity":{"value":120,"unit":"mmHg"}}},`, 1<<20/300), ",") + `]}`)

// BenchmarkPrintJSON is what pkb ... --json costs per byte of response
// once the secrets of a session are known.
func BenchmarkPrintJSON(b *testing.B) {
	sec := &secrets{}
	sec.add("client-secret-value-1234", "hostile-access-token-7f3a9c1e", "refresh-token-abcdef-123456")
	c := &cli{stdout: &termWriter{w: io.Discard, secrets: sec}, secrets: sec}
	b.SetBytes(int64(len(benchBundle)))
	for b.Loop() {
		if err := c.printResponse(&response{status: 200, body: benchBundle}, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrintTable is the same response as a table.
func BenchmarkPrintTable(b *testing.B) {
	sec := &secrets{}
	sec.add("client-secret-value-1234", "hostile-access-token-7f3a9c1e", "refresh-token-abcdef-123456")
	c := &cli{stdout: &termWriter{w: io.Discard, secrets: sec}, secrets: sec}
	b.SetBytes(int64(len(benchBundle)))
	for b.Loop() {
		if err := c.printResponse(&response{status: 200, body: benchBundle}, false); err != nil {
			b.Fatal(err)
		}
	}
}
