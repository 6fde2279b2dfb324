package main

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// nhsSelector is the value probes give a patient selector: the named test
// patient's NHS number.
const nhsSelector = "https://fhir.nhs.uk/Id/nhs-number|{patient.nhsNumber}"

// typeAssumption is the x-pkb-assumption entry of a type whose selector is
// an ASSUMPTION (why: cut, cut-none, example, example-qr, aqs), with the probe
// pkb verify runs and, for each way PKB may differ, the patch to the input
// that would match it (api/openapi/CONVENTIONS.md). Other types get none.
func typeAssumption(ts typeSpec, index int, inFile string) (*yaml.Node, error) {
	source := fmt.Sprintf("%s#/types/%d", inFile, index)
	count := `_count: "1"`
	header := ""
	if ts.Type == "Questionnaire" {
		header = `, header: {x-team-id: "{teamId}"}`
	}
	var id, kind, claim, query, altQuery, fix string
	switch ts.Why {
	case "cut":
		other := "patient:" + strings.TrimPrefix(ts.Selector, "subject:")
		if strings.HasPrefix(ts.Selector, "patient:") {
			other = "subject:" + strings.TrimPrefix(ts.Selector, "patient:")
		}
		id, kind = "selector", "parameter"
		claim = fmt.Sprintf("The patient selector of %s is `%s`: a search by it is answered.", ts.Type, ts.Selector)
		query = fmt.Sprintf("%q: %q", ts.Selector, nhsSelector)
		altQuery = fmt.Sprintf("%q: %q", other, nhsSelector)
		fix = fmt.Sprintf("[{op: replace, path: selector, value: %q}]", other)
	case "cut-none", "aqs":
		id, kind = "no-selector", "required"
		claim = ts.Type + " has no mandatory search parameter: a search without one is answered."
		query = count
		altQuery = `identifier: "urn:pkb-verify|probe", ` + count
		fix = "[{op: add, path: selector, value: identifier}, {op: add, path: required, value: true}, {op: replace, path: why, value: table}]"
	case "example", "example-qr":
		id, kind = "selector-optional", "required"
		claim = fmt.Sprintf("`%s` is not required for %s: a search without it is answered.", ts.Selector, ts.Type)
		query = count
		if ts.Why == "example-qr" {
			query = `"based-on:ServiceRequest.identifier": "pkb-verify-probe", ` + count
		}
		altQuery = fmt.Sprintf("%q: %q, %s", ts.Selector, nhsSelector, query)
		fix = "[{op: add, path: required, value: true}, {op: replace, path: why, value: table}]"
	default:
		return nil, nil
	}
	src := fmt.Sprintf(`- id: aggregated.%s.%s
  kind: %s
  claim: %q
  source: %q
  probe:
    request: {query: {%s}%s}
    confirm:
      - status: [200]
        json: [{path: resourceType, oneOf: [Bundle]}]
    contradict: [400, 422]
    alternatives:
      - request: {query: {%s}}
        fix: %s
`, ts.Type, id, kind, claim, source, query, header, altQuery, fix)
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		return nil, fmt.Errorf("%s: assumption entry: %w", ts.Type, err)
	}
	return n.Content[0], nil
}

// annotateSources adds `source: file#pointer` to every x-pkb-assumption
// entry under n that has none, n being at pointer base of file.
func annotateSources(n *yaml.Node, base, file string) {
	switch n.Kind {
	case yaml.SequenceNode:
		for i, c := range n.Content {
			annotateSources(c, fmt.Sprintf("%s/%d", base, i), file)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if k == "x-pkb-assumption" && v.Kind == yaml.SequenceNode {
				for _, e := range v.Content {
					if e.Kind == yaml.MappingNode && mapGet(e, "see") == nil && mapGet(e, "source") == nil {
						insertAfter(e, "id", "source", str(file+"#"+base))
					}
				}
				continue
			}
			annotateSources(v, base+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), file)
		}
	}
}
