package openapi_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// families are the hand-written endpoint documents; each must exist.
var families = []string{
	"facade.yaml", "messaging.yaml", "customer-stu3.yaml", "customer-r4.yaml",
	"aggregated.yaml", "restapi.yaml",
}

// grants is the closed set of x-pkb-access values (CONVENTIONS.md).
var grants = []string{
	"public", "system", "customer", "user:PATIENT", "user:CLINICIAN", "user:TEAMCOORD", "tethered:SITE",
}

func load(t *testing.T, name string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true // the FHIR schema documents beside this one
	doc, err := loader.LoadFromFile(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

func TestDocumentsAreValid(t *testing.T) {
	for _, name := range append([]string{"fhir-stu3.json", "fhir-r4.json"}, families...) {
		t.Run(name, func(t *testing.T) {
			doc := load(t, name)
			if err := doc.Validate(context.Background(), openapi3.EnableSchemaPatternValidation()); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		})
	}
}

func TestDocumentsFollowConventions(t *testing.T) {
	for _, name := range families {
		t.Run(name, func(t *testing.T) {
			doc := load(t, name)
			media := readFamilyBlock(t, name).MediaType
			seen := map[string]string{}
			ops := 0
			for _, path := range doc.Paths.InMatchingOrder() {
				for method, op := range doc.Paths.Value(path).Operations() {
					ops++
					where := method + " " + path
					if op.OperationID == "" {
						t.Errorf("%s: no operationId", where)
					} else if prev, dup := seen[op.OperationID]; dup {
						t.Errorf("%s: operationId %q already used by %s", where, op.OperationID, prev)
					}
					seen[op.OperationID] = where
					checkAccess(t, where, op)
					if op.Responses.Default() == nil {
						t.Errorf("%s: no default response", where)
					}
					for code, r := range op.Responses.Map() {
						if r.Value != nil && len(r.Value.Content) > 1 {
							t.Errorf("%s: response %s has %d media types, want one", where, code, len(r.Value.Content))
						}
						if r.Value != nil && !(code == "401" && media == "application/json" && plainText(r.Value.Content)) {
							checkMedia(t, where+" response "+code, r.Value.Content, media)
						}
					}
					if rb := op.RequestBody; rb != nil && rb.Value != nil {
						if len(rb.Value.Content) != 1 {
							t.Errorf("%s: request body has %d media types, want one", where, len(rb.Value.Content))
						}
						// FHIR's search by POST sends its parameters as a form.
						if !strings.HasSuffix(path, "/_search") || rb.Value.Content.Get("application/x-www-form-urlencoded") == nil {
							checkMedia(t, where+" request", rb.Value.Content, media)
						}
					}
				}
			}
			if ops == 0 {
				t.Errorf("%s has no operations", name)
			}
			t.Logf("%s: %d operations", filepath.Base(name), ops)
		})
	}
}

func checkAccess(t *testing.T, where string, op *openapi3.Operation) {
	t.Helper()
	raw, ok := op.Extensions["x-pkb-access"]
	if !ok {
		t.Errorf("%s: no x-pkb-access", where)
		return
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		t.Errorf("%s: x-pkb-access must be a non-empty list, got %v", where, raw)
		return
	}
	for _, g := range list {
		s, _ := g.(string)
		if !slices.Contains(grants, s) {
			t.Errorf("%s: x-pkb-access value %v is not one of %s", where, g, strings.Join(grants, ", "))
		}
	}
}

// checkMedia checks that a body has the family's media type (x-pkb-family).
func checkMedia(t *testing.T, where string, c openapi3.Content, want string) {
	t.Helper()
	for mt := range c {
		if mt != want {
			t.Errorf("%s: body of media type %s, the family's is %s", where, mt, want)
		}
	}
}

// plainText reports a text/plain body: the REST API answers a refused user
// type with a 401 and a text message (docs/pkb-api.md, CONVENTIONS.md).
func plainText(c openapi3.Content) bool {
	_, ok := c["text/plain"]
	return ok && len(c) == 1
}

// familyBlock is info.x-pkb-family (CONVENTIONS.md).
type familyBlock struct {
	ID          string `yaml:"id"`
	FHIRVersion string `yaml:"fhirVersion"`
	MediaType   string `yaml:"mediaType"`
	EnvField    string `yaml:"envField"`
	GoPackage   string `yaml:"goPackage"`
}

// readFamilyBlock decodes the document's info.x-pkb-family, refusing unknown keys.
func readFamilyBlock(t *testing.T, name string) familyBlock {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Info struct {
			Family yaml.Node `yaml:"x-pkb-family"`
		} `yaml:"info"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Family.Kind == 0 {
		t.Fatalf("%s: info has no x-pkb-family block", name)
	}
	block, err := yaml.Marshal(&doc.Info.Family)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(block))
	dec.KnownFields(true)
	var b familyBlock
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("%s: info.x-pkb-family: %v", name, err)
	}
	return b
}

// TestFamilyBlocks checks each document's info.x-pkb-family block against
// the document itself and its oapi-codegen config, independently of
// accessgen, which reads the blocks into gen/access. (The media types of
// the bodies are checked in TestDocumentsFollowConventions.)
func TestFamilyBlocks(t *testing.T) {
	envFields := []string{"FacadeURL", "MessagingURL", "CustomerURLTemplate", "AggregatedURL", "RESTURL"}
	ids := map[string]string{}
	for _, name := range families {
		t.Run(name, func(t *testing.T) {
			b := readFamilyBlock(t, name)
			if stem := strings.TrimSuffix(name, ".yaml"); b.ID != stem {
				t.Errorf("id %q, want the file name without .yaml, %q", b.ID, stem)
			}
			if prev, dup := ids[b.ID]; dup {
				t.Errorf("id %q is already the id of %s", b.ID, prev)
			}
			ids[b.ID] = name
			if !slices.Contains(envFields, b.EnvField) {
				t.Errorf("envField %q is not one of %v", b.EnvField, envFields)
			}

			// The FHIR version is the one whose models the document uses.
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"stu3", "r4"} {
				uses := bytes.Contains(src, []byte("fhir-"+v+".json#"))
				if uses != (b.FHIRVersion == v) {
					t.Errorf("fhirVersion %q, but the document uses fhir-%s.json: %t", b.FHIRVersion, v, uses)
				}
			}
			if want := map[string]string{"stu3": "application/fhir+json", "r4": "application/fhir+json", "": "application/json"}[b.FHIRVersion]; b.MediaType != want {
				t.Errorf("mediaType %q, want %q for fhirVersion %q", b.MediaType, want, b.FHIRVersion)
			}

			// goPackage is where the document's oapi-codegen config writes.
			cfgRaw, err := os.ReadFile(filepath.Join("config", name))
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				Output string `yaml:"output"`
			}
			if err := yaml.Unmarshal(cfgRaw, &cfg); err != nil {
				t.Fatal(err)
			}
			if want := "github.com/pkbgo/pkb/" + filepath.ToSlash(filepath.Dir(cfg.Output)); b.GoPackage != want {
				t.Errorf("goPackage %q, but config/%s writes %s (package %s)", b.GoPackage, name, cfg.Output, want)
			}
		})
	}
	if len(ids) != len(families) {
		t.Errorf("%d distinct ids for %d documents", len(ids), len(families))
	}
}
