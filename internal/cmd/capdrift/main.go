// Command capdrift compares a Facade CapabilityStatement with the committed
// one and with what facade.yaml covers, and prints the drift report
// (internal/drift). It is what `make drift` runs.
//
//	go run ./internal/cmd/capdrift -statement new-statement.json [-json]
//
// Exit status: 0 no removals and everything covered, 1 the report failed
// (PKB removed something, or the spec does not cover an item), 2 bad
// input or usage.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/pkbgo/pkb/internal/drift"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("capdrift", flag.ContinueOnError)
	fs.SetOutput(stderr)
	committed := fs.String("committed", "api/openapi/source/facade-capabilitystatement.json", "the committed CapabilityStatement")
	statement := fs.String("statement", "", "the candidate CapabilityStatement (a saved GET <base>/metadata; default: the committed one, which checks coverage only)")
	spec := fs.String("spec", "api/openapi/facade.yaml", "the Facade OpenAPI document")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: capdrift [-statement file] [-committed file] [-spec facade.yaml] [-json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "capdrift: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	if *statement == "" {
		*statement = *committed
	}
	read := func(what, name string) []byte {
		b, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "capdrift: reading the %s: %v\n", what, err)
			return nil
		}
		return b
	}
	oldB, newB, specB := read("committed statement", *committed), read("candidate statement", *statement), read("spec", *spec)
	if oldB == nil || newB == nil || specB == nil {
		return 2
	}
	r, err := drift.Compare(oldB, newB, specB)
	if err != nil {
		fmt.Fprintf(stderr, "capdrift: %v\n  committed: %s\n  candidate: %s\n  spec:      %s\n", err, *committed, *statement, *spec)
		return 2
	}
	if *asJSON {
		b, err := r.JSON()
		if err != nil {
			fmt.Fprintf(stderr, "capdrift: %v\n", err)
			return 2
		}
		_, err = stdout.Write(b)
		if err != nil {
			return 2
		}
	} else {
		fmt.Fprintf(stdout, "committed: %s\ncandidate: %s\nspec:      %s\n", *committed, *statement, *spec)
		if err := r.WriteText(stdout); err != nil {
			fmt.Fprintf(stderr, "capdrift: %v\n", err)
			return 2
		}
	}
	if r.Failed() {
		return 1
	}
	return 0
}
