// Package drift compares PKB's Facade CapabilityStatement with the committed
// copy (api/openapi/source/facade-capabilitystatement.json) and with what the
// Facade OpenAPI document (api/openapi/facade.yaml) covers.
//
// It reports resources, interactions, search parameters, search includes and
// operations that PKB added, removed or changed (a search parameter's type,
// required/optional, multi-value support, modifiers, prefixes, supported
// values and definition), and every item of the new statement that the spec
// does not cover. A report renders as a text table (WriteText) or as JSON
// (JSON), and Failed tells a CI job whether to exit non-zero.
//
// The same coverage check backs api/openapi's facade coverage test, so the
// committed spec and the drift report can never disagree on what "covered"
// means.
package drift

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Statement is the part of an STU3 CapabilityStatement that drift reads.
type Statement struct {
	ResourceType string `json:"resourceType"`
	URL          string `json:"url,omitempty"`
	Date         string `json:"date,omitempty"`
	FHIRVersion  string `json:"fhirVersion,omitempty"`
	Rest         []Rest `json:"rest"`
}

// Rest is one rest entry of a CapabilityStatement (PKB publishes one, mode server).
type Rest struct {
	Mode     string     `json:"mode"`
	Resource []Resource `json:"resource"`
	// Operation lists the statement-level operations (rest.operation).
	Operation []Operation `json:"operation,omitempty"`
}

// Resource is one rest.resource entry.
type Resource struct {
	Type          string        `json:"type"`
	Interaction   []Interaction `json:"interaction,omitempty"`
	SearchParam   []SearchParam `json:"searchParam,omitempty"`
	SearchInclude []string      `json:"searchInclude,omitempty"`
}

// Interaction is one rest.resource.interaction entry (read, search-type, ...).
type Interaction struct {
	Code string `json:"code"`
}

// SearchParam is one rest.resource.searchParam entry. PKB states the
// parameter's rules in Documentation; ParseSearchDoc reads them.
type SearchParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

// Operation is one rest.operation entry.
type Operation struct {
	Name       string    `json:"name"`
	Definition Reference `json:"definition"`
}

// Reference is a FHIR Reference; only the reference string is read.
type Reference struct {
	Reference string `json:"reference"`
}

// ParseStatement decodes and checks a CapabilityStatement. It fails on
// anything that is not a JSON CapabilityStatement with at least one rest
// entry, on resources without a type, and on search parameters whose
// documentation string does not follow PKB's format, naming the item.
func ParseStatement(raw []byte) (*Statement, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("capability statement is empty")
	}
	var st Statement
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("capability statement is not valid JSON of the expected shape: %w", err)
	}
	if st.ResourceType != "CapabilityStatement" {
		if st.ResourceType == "" {
			return nil, errors.New("capability statement has no resourceType (is this a FHIR resource?)")
		}
		return nil, fmt.Errorf("capability statement: resourceType is %q, want \"CapabilityStatement\"", st.ResourceType)
	}
	if len(st.Rest) == 0 {
		return nil, errors.New("capability statement has no rest entry")
	}
	for ri, rest := range st.Rest {
		for i, res := range rest.Resource {
			if res.Type == "" {
				return nil, fmt.Errorf("capability statement: rest[%d].resource[%d] has no type", ri, i)
			}
			for _, sp := range res.SearchParam {
				if sp.Name == "" {
					return nil, fmt.Errorf("capability statement: %s has a searchParam without a name", res.Type)
				}
				if _, err := ParseSearchDoc(sp.Documentation); err != nil {
					return nil, fmt.Errorf("capability statement: %s?%s: %w", res.Type, sp.Name, err)
				}
			}
		}
		for i, op := range rest.Operation {
			if op.Name == "" {
				return nil, fmt.Errorf("capability statement: rest[%d].operation[%d] has no name", ri, i)
			}
		}
	}
	return &st, nil
}

// SearchDoc is what PKB's searchParam documentation says, e.g.
// "Required. Multi-value support: none. Modifier support: [<type>]." or
// "Optional. Multi-value support: AND. Modifier support: none. Prefix support: [eq, gt, lt, ge, le]."
type SearchDoc struct {
	Required        string   `json:"required"` // required | optional | conditional
	Multiple        string   `json:"multiple"` // none | AND
	Modifiers       []string `json:"modifiers"`
	Prefixes        []string `json:"prefixes"`
	SupportedValues []string `json:"supportedValues,omitempty"` // nil when not documented
	Definition      string   `json:"definition,omitempty"`      // "" when not documented
}

var (
	reRequired   = regexp.MustCompile(`^\s*(Required|Optional|Conditional)\b`)
	reMultiple   = regexp.MustCompile(`Multi-value support:\s*(none|AND)\b`)
	reModifiers  = regexp.MustCompile(`Modifier support:\s*(none|\[([^\]]*)\])`)
	rePrefixes   = regexp.MustCompile(`(?:Prefix support|Prefixes supported):\s*\[([^\]]*)\]`)
	reSupported  = regexp.MustCompile(`Supported values:\s*\[([^\]]*)\]`)
	reDefinition = regexp.MustCompile(`Definition:\s*(\S+?)\.?(?:\s|$)`)
)

// ParseSearchDoc parses PKB's searchParam documentation string. Required
// (or Optional/Conditional), "Multi-value support" and "Modifier support"
// must be present; prefixes default to none.
func ParseSearchDoc(doc string) (SearchDoc, error) {
	var d SearchDoc
	m := reRequired.FindStringSubmatch(doc)
	if m == nil {
		return d, fmt.Errorf("documentation %q does not start with Required/Optional/Conditional", doc)
	}
	d.Required = strings.ToLower(m[1])
	m = reMultiple.FindStringSubmatch(doc)
	if m == nil {
		return d, fmt.Errorf("documentation %q has no \"Multi-value support\"", doc)
	}
	d.Multiple = m[1]
	m = reModifiers.FindStringSubmatch(doc)
	if m == nil {
		return d, fmt.Errorf("documentation %q has no \"Modifier support\"", doc)
	}
	d.Modifiers = splitList(m[2]) // "none" leaves m[2] empty
	if m = rePrefixes.FindStringSubmatch(doc); m != nil {
		d.Prefixes = splitList(m[1])
	} else {
		d.Prefixes = []string{}
	}
	if m = reSupported.FindStringSubmatch(doc); m != nil {
		d.SupportedValues = splitList(m[1])
	}
	if m = reDefinition.FindStringSubmatch(doc); m != nil {
		d.Definition = m[1]
	}
	return d, nil
}

func splitList(s string) []string {
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
