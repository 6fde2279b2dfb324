package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/pkbgo/pkb/api/openapi"
	"github.com/pkbgo/pkb/gen/access"
)

// Spec is the OpenAPI documents, loaded for validating answers.
type Spec struct {
	fams      map[access.Family]access.FamilyInfo
	ops       map[access.Family]map[string]*specOp
	fhirTypes map[string]map[string]bool // by FHIR version
}

type specOp struct {
	method, path string
	op           *openapi3.Operation
	route        *routers.Route
}

var (
	specOnce sync.Once
	specVal  *Spec
	specErr  error
)

// LoadSpec loads the embedded documents (api/openapi), once per process.
func LoadSpec() (*Spec, error) {
	specOnce.Do(func() { specVal, specErr = loadSpec() })
	return specVal, specErr
}

func loadSpec() (*Spec, error) {
	s := &Spec{fams: map[access.Family]access.FamilyInfo{}, ops: map[access.Family]map[string]*specOp{}, fhirTypes: map[string]map[string]bool{}}
	loaders := map[string]*openapi3.Loader{}
	for _, fi := range access.Families() {
		s.fams[fi.ID] = fi
		l := loaders[fi.FHIRVersion]
		if l == nil {
			l = openapi3.NewLoader()
			l.IsExternalRefsAllowed = true
			// Only the embedded documents are read to resolve a $ref.
			l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
				if u.Scheme != "" || u.Host != "" {
					return nil, fmt.Errorf("verify: refusing to load %s: only the embedded documents are used", u)
				}
				return openapi.FS.ReadFile(strings.TrimPrefix(u.Path, "/"))
			}
			loaders[fi.FHIRVersion] = l
		}
		doc, err := l.LoadFromURI(&url.URL{Path: string(fi.ID) + ".yaml"})
		if err != nil {
			return nil, fmt.Errorf("verify: loading %s.yaml: %w", fi.ID, err)
		}
		ops := map[string]*specOp{}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				ops[op.OperationID] = &specOp{method: method, path: path, op: op,
					route: &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}}
			}
		}
		s.ops[fi.ID] = ops
		if fi.FHIRVersion != "" && s.fhirTypes[fi.FHIRVersion] == nil {
			types, err := fhirTypes("fhir-" + fi.FHIRVersion + ".json")
			if err != nil {
				return nil, err
			}
			s.fhirTypes[fi.FHIRVersion] = types
		}
	}
	return s, nil
}

// fhirTypes reads the resource type names of a FHIR schema document (its
// ResourceList discriminator).
func fhirTypes(file string) (map[string]bool, error) {
	raw, err := openapi.FS.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Components struct {
			Schemas struct {
				ResourceList struct {
					Discriminator struct {
						Mapping map[string]string `json:"mapping"`
					} `json:"discriminator"`
				} `json:"ResourceList"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("verify: %s: %w", file, err)
	}
	out := map[string]bool{}
	for k := range doc.Components.Schemas.ResourceList.Discriminator.Mapping {
		out[k] = true
	}
	return out, nil
}

func (s *Spec) isFHIRType(f access.Family, name string) bool {
	return s.fhirTypes[s.fams[f].FHIRVersion][name]
}

// validate compares an answer to its operation in the documents and lists
// every mismatch, by structure only.
func (s *Spec) validate(req *Request, a *answer) []Drift {
	so := s.ops[req.Family][req.Operation]
	if so == nil {
		return nil
	}
	var out []Drift
	add := func(kind, path, detail string, breaking bool) {
		out = append(out, Drift{Family: req.Family, Operation: req.Operation, Status: a.status, Kind: kind, Path: path, Detail: detail, Breaking: breaking, Count: 1})
	}
	fhir := s.fams[req.Family].FHIRVersion != ""
	rr := so.op.Responses.Status(a.status)
	if rr == nil {
		if a.status < 400 {
			add("undocumented-status", "", fmt.Sprintf("status %d is not declared (declared: %s)", a.status, declaredStatuses(so.op)), true)
			return out
		}
		rr = so.op.Responses.Default()
	}
	if rr == nil || rr.Value == nil {
		add("undocumented-status", "", fmt.Sprintf("status %d is not declared and there is no default response", a.status), true)
		return out
	}
	resp := rr.Value
	errorBody := func(why string) {
		add("error-body", "", "the error is not an OperationOutcome: "+why, true)
	}
	if len(a.body) == 0 {
		switch {
		case fhir && a.status >= 400:
			errorBody("the body is empty")
		case len(resp.Content) > 0 && a.status < 400:
			add("empty-body", "", fmt.Sprintf("status %d declares a body; the answer has none", a.status), true)
		}
		return out
	}
	if len(resp.Content) == 0 {
		add("unexpected-body", "", fmt.Sprintf("status %d declares no body; the answer has %s", a.status, a.shape()), false)
		return out
	}
	mt := resp.Content.Get(a.header.Get("Content-Type"))
	if mt == nil {
		if fhir && a.status >= 400 {
			errorBody("its media type is " + a.media)
			return out
		}
		add("content-type", "", fmt.Sprintf("media type %s is not declared (declared: %s)", a.media, strings.Join(slices.Sorted(mapKeys(resp.Content)), ", ")), true)
		return out
	}
	body, err := a.json()
	if err != nil {
		if fhir && a.status >= 400 {
			errorBody("it is not JSON")
		} else {
			add("not-json", "", fmt.Sprintf("the body is not JSON (%d bytes)", len(a.body)), true)
		}
		return out
	}
	if fhir && a.status >= 400 {
		if m, ok := body.(map[string]any); !ok || m["resourceType"] != "OperationOutcome" {
			errorBody("the body is " + shape(body))
			return out
		}
	}
	opts := &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	hr := &http.Request{Method: so.method, URL: &url.URL{Path: so.path}, Header: http.Header{}}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, Route: so.route, Options: opts},
		Status:                 a.status,
		Header:                 a.header,
		Body:                   io.NopCloser(bytes.NewReader(a.body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		convert(err, add)
	}
	if mt.Schema != nil {
		walkUnknown(mt.Schema.Value, body, "", add, 0)
	}
	return out
}

func declaredStatuses(op *openapi3.Operation) string {
	var codes []string
	for k := range op.Responses.Map() {
		if k != "default" {
			codes = append(codes, k)
		}
	}
	sort.Strings(codes)
	if len(codes) == 0 {
		return "none"
	}
	return strings.Join(codes, ", ")
}

var reQuoted = regexp.MustCompile(`"([^"]*)"`)

// convert turns kin-openapi's validation errors into drift, from their
// structure (path, schema field, schema, JSON type of the value), never
// from their messages.
func convert(err error, add func(kind, path, detail string, breaking bool)) {
	var me openapi3.MultiError
	var re *openapi3filter.ResponseError
	var se *openapi3.SchemaError
	switch {
	case errors.As(err, &re) && re.Err != nil:
		convert(re.Err, add)
	case isMulti(err, &me):
		for _, e := range me {
			convert(e, add)
		}
	case errors.As(err, &se):
		schemaDrift(se, add)
	default:
		add("schema", "", "the answer does not match the document", true)
	}
}

func isMulti(err error, me *openapi3.MultiError) bool {
	m, ok := err.(openapi3.MultiError)
	if ok {
		*me = m
	}
	return ok
}

func schemaDrift(se *openapi3.SchemaError, add func(kind, path, detail string, breaking bool)) {
	path := pointerPath(se.JSONPointer())
	switch se.SchemaField {
	case "oneOf", "anyOf", "allOf":
		var inner openapi3.MultiError
		if se.Origin != nil && errors.As(se.Origin, &inner) && len(inner) == 1 {
			// A discriminated union tried one schema: its errors are the drift.
			convert(inner, add)
			return
		}
		add("union", path, fmt.Sprintf("the %s value matches none of the declared schemas (%s)", jsonType(se.Value), se.SchemaField), true)
	case "type":
		add("type", path, fmt.Sprintf("want %s, got %s", schemaType(se.Schema), jsonType(se.Value)), true)
	case "nullable":
		add("type", path, fmt.Sprintf("want %s, got null", schemaType(se.Schema)), true)
	case "required":
		add("missing-required", path, "a required property is absent", true)
	case "properties":
		key := "(key)"
		if m := reQuoted.FindStringSubmatch(se.Reason); m != nil {
			key = safeKey(m[1])
		}
		add("unknown-field", joinPath(path, key), "not declared, and the schema allows no other property", true)
	case "enum":
		n := 0
		if se.Schema != nil {
			n = len(se.Schema.Enum)
		}
		add("enum", path, fmt.Sprintf("a %s not among the %d declared values", jsonType(se.Value), n), true)
	case "format":
		f := ""
		if se.Schema != nil {
			f = se.Schema.Format
		}
		add("format", path, fmt.Sprintf("a %s that is not a %s", jsonType(se.Value), f), true)
	case "pattern":
		add("format", path, "a string that does not match the declared pattern", true)
	case "discriminator":
		add("union", path, "the discriminator value is not one the document maps", true)
	default:
		add("constraint", path, fmt.Sprintf("a %s that violates %s", jsonType(se.Value), se.SchemaField), true)
	}
}

func schemaType(s *openapi3.Schema) string {
	if s == nil || s.Type == nil || len(*s.Type) == 0 {
		return "any"
	}
	return strings.Join(s.Type.Slice(), " or ")
}

var reIndex = regexp.MustCompile(`^[0-9]+$`)

// pointerPath renders a JSON pointer as a check path, indices as [] and
// keys that could be data masked.
func pointerPath(ptr []string) string {
	var b strings.Builder
	for _, p := range ptr {
		if reIndex.MatchString(p) {
			b.WriteString("[]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(safeKey(p))
	}
	return b.String()
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// walkUnknown reports properties that a schema does not declare but allows
// (additionalProperties true or absent): not a break, but what the document
// does not describe. kin-openapi reports the ones it forbids.
func walkUnknown(s *openapi3.Schema, v any, path string, add func(kind, path, detail string, breaking bool), depth int) {
	if s == nil || depth > 32 {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if len(s.Properties) == 0 {
			return
		}
		allowed := s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has
		for _, k := range slices.Sorted(mapKeys(x)) {
			if p := s.Properties[k]; p != nil {
				walkUnknown(p.Value, x[k], joinPath(path, safeKey(k)), add, depth+1)
			} else if allowed {
				add("unknown-field", joinPath(path, safeKey(k)), "not declared (the schema allows other properties)", false)
			}
		}
	case []any:
		if s.Items == nil {
			return
		}
		for _, e := range x {
			walkUnknown(s.Items.Value, e, path+"[]", add, depth+1)
		}
	}
}

// driftStore gathers drift, counting repeats.
type driftStore struct {
	mu   sync.Mutex
	byID map[string]*Drift
}

func newDriftStore() *driftStore { return &driftStore{byID: map[string]*Drift{}} }

func (d *driftStore) add(x Drift) {
	k := strings.Join([]string{string(x.Family), x.Operation, strconv.Itoa(x.Status), x.Kind, x.Path, x.Detail}, "\x00")
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.byID[k]; old != nil {
		old.Count++
		return
	}
	d.byID[k] = &x
}

func (d *driftStore) list() []Drift {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Drift, 0, len(d.byID))
	for _, x := range d.byID {
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Family != b.Family:
			return a.Family < b.Family
		case a.Operation != b.Operation:
			return a.Operation < b.Operation
		case a.Status != b.Status:
			return a.Status < b.Status
		case a.Kind != b.Kind:
			return a.Kind < b.Kind
		case a.Path != b.Path:
			return a.Path < b.Path
		}
		return a.Detail < b.Detail
	})
	return out
}
