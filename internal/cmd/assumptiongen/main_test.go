package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

const catalogue = `values:
  - {name: patient.id, description: the patient, sensitive: true}
  - {name: new.uuid, description: fresh, generated: uuid}
discoveries:
  - request: {family: f, operationId: find}
    pick: {patient.id: "entry[0].resource.id"}
`

const good = `openapi: 3.0.3
info: {title: t, version: "1", x-pkb-family: {id: f}}
paths:
  /Thing/{id}:
    get:
      operationId: readThing
      description: "ASSUMPTION: the path. ASSUMPTION: who."
      x-pkb-access: [system, user:PATIENT]
      x-pkb-assumption:
        - id: f.thing.path
          kind: path
          claim: Things are read here.
          probe:
            request: {path: ["{patient.id}"]}
            confirm: [{status: [200], json: [{path: resourceType, oneOf: [Thing]}]}]
            contradict: [404]
            alternatives: [{template: "/Other/{id}"}]
        - id: f.thing.patient
          kind: access
          claim: A patient may read things.
          probe: {clients: ["user:PATIENT"], request: {path: ["x"]}, confirm: [{status: [200]}], contradict: [403]}
          fix: [{op: replace, path: x-pkb-access, value: [system]}]
  /Thing:
    get:
      operationId: find
      description: "ASSUMPTION: no test."
      x-pkb-access: [public]
      x-pkb-assumption:
        - {id: f.find.x, kind: behaviour, claim: It is so., untestable: cannot be seen}
components:
  parameters:
    Count:
      name: _count
      in: query
      description: "ASSUMPTION: accepted."
      x-pkb-assumption:
        - id: f.count.accepted
          kind: parameter
          claim: _count is accepted.
          probe: {request: {operationId: find, query: {_count: "1"}}, confirm: [{status: [200]}]}
`

func files(doc string) readFunc {
	return func(name string) ([]byte, error) {
		switch name {
		case "values.yaml":
			return []byte(catalogue), nil
		case "f.yaml":
			return []byte(doc), nil
		}
		return nil, os.ErrNotExist
	}
}

func TestLoad(t *testing.T) {
	tb, err := load("values.yaml", []string{"f.yaml"}, files(good))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range tb.entries {
		ids = append(ids, e.id)
	}
	if got := strings.Join(ids, " "); got != "f.count.accepted f.find.x f.thing.path f.thing.patient" {
		t.Fatalf("ids = %s", got)
	}
	path := tb.entries[2]
	if path.operation != "readThing" || path.doc.pointer != "/paths/~1Thing~1{id}/get" || path.probes[0].clients[0] != "system" {
		t.Errorf("path entry = %+v", path)
	}
	if a := path.probes[0].alternatives[0]; a.method != "GET" || a.template != "/Other/{id}" {
		t.Errorf("alternative = %+v", a)
	}
	if fix := tb.entries[3].fix[0]; fix.path != "/paths/~1Thing~1{id}/get/x-pkb-access" || fix.value != `["system"]` {
		t.Errorf("fix = %+v", fix)
	}
	if c := tb.entries[0]; c.operation != "" || len(c.refs) != 0 || c.probes[0].clients[0] != "public" {
		t.Errorf("component entry = %+v", c)
	}
	a, err := render(tb)
	if err != nil {
		t.Fatal(err)
	}
	tb2, _ := load("values.yaml", []string{"f.yaml"}, files(good))
	b, _ := render(tb2)
	if !bytes.Equal(a, b) {
		t.Error("render is not deterministic")
	}
}

func TestLoadRefuses(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"note without entry", `description: "ASSUMPTION: no test."`, `description: "ASSUMPTION: no test. ASSUMPTION: again."`, "says ASSUMPTION 2 times but the object has 1"},
		{"entry without note", `description: "ASSUMPTION: no test."`, `description: "no test."`, "states no ASSUMPTION"},
		{"no probe or reason", `untestable: cannot be seen`, `see2: x`, `unknown key "see2"`},
		{"neither", `, untestable: cannot be seen}`, `}`, "neither a probe nor an untestable reason"},
		{"duplicate id", `id: f.thing.patient`, `id: f.thing.path`, `id "f.thing.path" is also used`},
		{"unknown placeholder", `"{patient.id}"`, `"{patient.name}"`, "placeholder {patient.name} is not in the probe-value catalogue"},
		{"bad fix pointer", `path: x-pkb-access, value`, `path: x-pkb-nothing, value`, "does not resolve"},
		{"bad operation", `operationId: find, query`, `operationId: lost, query`, `operationId "lost" is not in f.yaml`},
		{"bad client", `clients: ["user:PATIENT"]`, `clients: ["user:ADMIN"]`, `client "user:ADMIN"`},
		{"bad kind", `kind: access`, `kind: rumour`, `kind "rumour"`},
		{"path values", `request: {path: ["x"]}`, `request: {path: []}`, "0 path values"},
		{"no confirm", `confirm: [{status: [200]}], contradict: [403]`, `contradict: [403]`, "no confirm"},
		{"both", `contradict: [403]}`, `contradict: [200]}`, "both confirms and contradicts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.from) {
				t.Fatalf("fixture lacks %q", c.from)
			}
			doc := strings.Replace(good, c.from, c.to, 1)
			_, err := load("values.yaml", []string{"f.yaml"}, files(doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
