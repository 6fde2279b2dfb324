// Command assumptiongen reads the x-pkb-assumption entries of the
// endpoint-family OpenAPI documents and the probe-value catalogue
// (api/openapi/source/probe-values.yaml) and writes the table of
// internal/assumptions, so that the probes pkb verify runs can never drift
// from the documents. It refuses a document where a description says
// ASSUMPTION more often than its object carries entries, an entry with
// neither a probe nor a reason it is untestable, a duplicate id, a
// placeholder the catalogue does not declare, an operationId the document
// does not have, or a patch whose pointer does not resolve
// (api/openapi/CONVENTIONS.md describes the format).
//
//	go run ./internal/cmd/assumptiongen -values api/openapi/source/probe-values.yaml \
//	    -out internal/assumptions/table.gen.go api/openapi/facade.yaml ...
//
// The output is deterministic: entries sorted by id, parameters by name.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	values := flag.String("values", "", "probe-value catalogue (YAML)")
	out := flag.String("out", "", "Go file to write")
	flag.Parse()
	if *values == "" || *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: assumptiongen -values probe-values.yaml -out FILE spec.yaml ...")
		os.Exit(2)
	}
	if err := run(*values, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "assumptiongen:", err)
		os.Exit(1)
	}
}

func run(valuesFile, out string, files []string) error {
	t, err := load(valuesFile, files, os.ReadFile)
	if err != nil {
		return err
	}
	src, err := render(t)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, src) {
		return nil
	}
	return os.WriteFile(out, src, 0o644)
}

// readFunc reads a file by its path from the repository root.
type readFunc func(string) ([]byte, error)

// errorf prefixes an error with where it was found.
func errorf(where, format string, args ...any) error {
	return fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
}

// escape encodes one JSON pointer token (RFC 6901).
func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

func unescape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
}
