package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		method, path, override string
		interaction, resource  string
	}{
		{"POST", "/", "", batchTransaction, ""},
		{"GET", "/", "", searchSystem, ""},
		{"POST", "/_search", "", searchSystem, ""},
		{"GET", "/_history", "", historySystem, ""},
		{"GET", "/metadata", "", capabilities, ""},
		{"GET", "/$purview", "", operationCall, ""},
		{"POST", "/$process-message", "", operationCall, ""},
		{"GET", "/{resourceType}", "", searchType, ""},
		{"GET", "/Observation", "", searchType, "Observation"},
		{"POST", "/{resourceType}/_search", "", searchType, ""},
		{"POST", "/Patient", "", create, "Patient"},
		{"POST", "/{resourceType}", "", create, ""},
		{"GET", "/{resourceType}/_history", "", historyType, ""},
		{"GET", "/Observation/$group", "", operationCall, "Observation"},
		{"POST", "/Patient/$status-query", "", operationCall, "Patient"},
		{"GET", "/Patient/{id}", "", read, "Patient"},
		{"GET", "/{resourceType}/{id}", "", read, ""},
		{"PUT", "/{resourceType}/{id}", "", update, ""},
		{"PATCH", "/Patient/{id}", "", patch, "Patient"},
		{"DELETE", "/{resourceType}/{id}", "", del, ""},
		{"GET", "/{resourceType}/{id}/_history", "", historyInstance, ""},
		{"GET", "/{resourceType}/{id}/_history/{vid}", "", vread, ""},
		{"GET", "/Patient/{id}/$date-of-last-data-point", "", operationCall, "Patient"},
		{"POST", "/Questionnaire/{id}/$send-questionnaire-request", "", operationCall, "Questionnaire"},
		// An override names the interaction; the type still comes from the path.
		{"GET", "/Patient/{id}/$everything", searchType, searchType, "Patient"},
		{"POST", "/Patient/odd/shape", create, create, "Patient"},
	}
	for _, c := range cases {
		in, rt, err := classify(c.method, c.path, c.override)
		if err != nil || in != c.interaction || rt != c.resource {
			t.Errorf("classify(%s %s, %q) = %q, %q, %v; want %q, %q", c.method, c.path, c.override, in, rt, err, c.interaction, c.resource)
		}
	}
}

func TestClassifyRefuses(t *testing.T) {
	cases := []struct{ method, path, override, want string }{
		{"DELETE", "/", "", "cannot tell"},
		{"PUT", "/metadata", "", "cannot tell"},
		{"GET", "/Patient/_search", "", "cannot tell"}, // FHIR's _search is POST
		{"POST", "/Patient/{id}", "", "cannot tell"},
		{"GET", "/Patient/{id}/_history/{vid}/extra", "", "cannot tell"},
		{"GET", "/Patient/{id}/{other}", "", "cannot tell"},
		{"GET", "/Patient/literal", "", "cannot tell"},
		{"GET", "/lowercase/{id}", "", "cannot tell"},
		{"GET", "/$", "", "cannot tell"},
		{"GET", "/{type}/{id}", "", "spelled {resourceType}"},
		{"GET", "/Patient", "fetch", "not one of"},
	}
	for _, c := range cases {
		in, rt, err := classify(c.method, c.path, c.override)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("classify(%s %s, %q) = %q, %q, %v; want an error containing %q", c.method, c.path, c.override, in, rt, err, c.want)
		}
	}
}

const goodBlock = `openapi: 3.0.3
info:
  title: T
  version: "1"
  x-pkb-family:
    id: fam
    fhirVersion: stu3
    mediaType: application/fhir+json
    envField: FacadeURL
    goPackage: github.com/pkbgo/pkb/gen/fam
paths:
  /Patient/{id}:
    get:
      operationId: readPatient
      x-pkb-access: [system, user:PATIENT, user:CLINICIAN, public]
  /Patient/$status-query:
    post:
      operationId: statusQuery
      x-pkb-access: [tethered:SITE]
      x-pkb-read-only: true
`

func TestParse(t *testing.T) {
	f, ops, err := parse("fam.yaml", []byte(goodBlock))
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != "fam" || f.title != "T" || f.FHIRVersion != "stu3" || f.EnvField != "FacadeURL" || f.GoPackage != "github.com/pkbgo/pkb/gen/fam" {
		t.Errorf("family row: %+v", f)
	}
	// Derived from the grants, in the fixed order, each once, public left out.
	if got := strings.Join(f.clientTypes, ","); got != "system,user,tethered" {
		t.Errorf("client types %s, want system,user,tethered", got)
	}
	if len(ops) != 2 {
		t.Fatalf("%d operations, want 2", len(ops))
	}
	for _, o := range ops {
		switch o.id {
		case "readPatient":
			if o.interaction != read || o.resource != "Patient" || o.readOnly {
				t.Errorf("readPatient: %+v", o)
			}
		case "statusQuery":
			if o.interaction != operationCall || o.resource != "Patient" || !o.readOnly {
				t.Errorf("statusQuery: %+v", o)
			}
		}
	}
}

func TestParseRefuses(t *testing.T) {
	block := func(from, to string) string { return strings.Replace(goodBlock, from, to, 1) }
	cases := []struct{ name, doc, want string }{
		{"no block", block("  x-pkb-family:\n", "  x-other:\n"), "no x-pkb-family block"},
		{"unknown key", block("    envField:", "    baseURL: x\n    envField:"), `unknown key "baseURL"`},
		{"bad id", block("id: fam", "id: Fam"), `id "Fam"`},
		{"bad fhirVersion", block("fhirVersion: stu3", "fhirVersion: dstu2"), `fhirVersion "dstu2"`},
		{"media type", block("mediaType: application/fhir+json", "mediaType: application/json"), `mediaType "application/json"`},
		{"no fhirVersion, FHIR media type", block("    fhirVersion: stu3\n", ""), `mediaType "application/fhir+json"`},
		{"bad envField", block("envField: FacadeURL", "envField: CustomerHost"), `envField "CustomerHost"`},
		{"bad goPackage", block("goPackage: github.com/pkbgo/pkb/gen/fam", "goPackage: fam"), `goPackage "fam"`},
		{"unknown grant", block("[tethered:SITE]", "[tethered:TEAM]"), `"tethered:TEAM" is not one of`},
		{"unclassifiable", block("/Patient/$status-query:", "/Patient/status-query:"), "POST /Patient/status-query: cannot tell"},
		{"override outside FHIR", strings.Replace(block("    fhirVersion: stu3\n", ""), "application/fhir+json", "application/json", 1) +
			"  /x:\n    get:\n      operationId: x\n      x-pkb-access: [public]\n      x-fhir-interaction: read\n", "not FHIR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := parse("fam.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestRunRefusesDuplicateFamilyIDs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte(goodBlock), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := run(filepath.Join(dir, "out.go"), []string{a, b})
	if err == nil || !strings.Contains(err.Error(), `id "fam" is already used`) {
		t.Fatalf("got %v, want a duplicate id error", err)
	}
}

// TestRunIsDeterministic generates from the real documents twice and
// compares the bytes; make check-generated compares them with the commit.
func TestRunIsDeterministic(t *testing.T) {
	docs, err := filepath.Glob("../../../api/openapi/*.yaml")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no documents: %v", err)
	}
	dir := t.TempDir()
	var outs [2][]byte
	for i := range outs {
		out := filepath.Join(dir, "access.gen.go")
		os.Remove(out)
		if err := run(out, docs); err != nil {
			t.Fatal(err)
		}
		if outs[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	if string(outs[0]) != string(outs[1]) {
		t.Fatal("two runs over the same documents wrote different bytes")
	}
}
