package pkbtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/pkbgo/pkb/api/openapi"
	"github.com/pkbgo/pkb/gen/access"
)

// family is one endpoint family: its OpenAPI document, re-based on the
// simulator's mount point, and a router over it.
type family struct {
	id     access.Family
	file   string
	prefix string
	fhir   string // "stu3", "r4", or "" for the REST API
	doc    *openapi3.T
	router routers.Router
	// types are the resource types the family's FHIR schema document knows
	// (the ResourceList discriminator), for the generic Customer paths.
	types map[string]bool
}

func (f *family) isFHIR() bool { return f.fhir != "" }

// familyRow is what the simulator needs to load one endpoint family.
type familyRow struct {
	id             access.Family
	file, prefix   string
	fhir, fhirFile string
}

// familyTable derives, from the family table, each family's document
// (<id>.yaml), FHIR schema document and mount point: the path of its base
// URL in the simulator's environment, where the Customer families are the
// customers named after their FHIR version (CustomerSTU3, CustomerR4).
var familyTable = func() []familyRow {
	env := EnvironmentAt("http://127.0.0.1")
	var rows []familyRow
	for _, info := range access.Families() {
		base, err := env.BaseURL(info.ID, info.FHIRVersion)
		if err != nil {
			panic("pkbtest: no mount point for the " + string(info.ID) + " family: " + err.Error())
		}
		u, err := url.Parse(base)
		if err != nil {
			panic(err)
		}
		row := familyRow{id: info.ID, file: string(info.ID) + ".yaml", prefix: u.Path, fhir: info.FHIRVersion}
		if row.fhir != "" {
			row.fhirFile = "fhir-" + row.fhir + ".json"
		}
		rows = append(rows, row)
	}
	return rows
}()

var (
	specOnce sync.Once
	specFams map[access.Family]*family
	specErr  error
)

// loadFamilies loads and routes the six documents once per process: the FHIR
// schema documents are large (tens of thousands of schemas) and loading
// them dominates start-up, while the loaded documents are only ever read
// afterwards, so every simulator shares them.
func loadFamilies() (map[access.Family]*family, error) {
	specOnce.Do(func() { specFams, specErr = doLoadFamilies() })
	return specFams, specErr
}

func embeddedLoader() *openapi3.Loader {
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = true
	// Only the embedded documents can be read: the simulator never touches
	// the file system or the network to resolve a $ref.
	l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		if u.Scheme != "" || u.Host != "" {
			return nil, fmt.Errorf("pkbtest: refusing to load %s: only the embedded documents are used", u)
		}
		return openapi.FS.ReadFile(strings.TrimPrefix(u.Path, "/"))
	}
	return l
}

func doLoadFamilies() (map[access.Family]*family, error) {
	// One loader per FHIR version shares that version's schema document
	// between the families that reference it; the two run in parallel.
	docs := make([]*openapi3.T, len(familyTable))
	errs := make([]error, len(familyTable))
	var wg sync.WaitGroup
	for _, version := range []string{"stu3", "r4", ""} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := embeddedLoader()
			for i, ft := range familyTable {
				if ft.fhir == version {
					docs[i], errs[i] = l.LoadFromURI(&url.URL{Path: ft.file})
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pkbtest: load OpenAPI documents: %w", err)
	}
	out := map[access.Family]*family{}
	for i, ft := range familyTable {
		doc := docs[i]
		// Re-base the document on the simulator's mount point: a relative
		// server URL matches any host, so the router works on whatever port
		// the simulator listens.
		doc.Servers = openapi3.Servers{{URL: ft.prefix}}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			return nil, fmt.Errorf("pkbtest: route %s: %w", ft.file, err)
		}
		f := &family{id: ft.id, file: ft.file, prefix: ft.prefix, fhir: ft.fhir, doc: doc, router: r, types: map[string]bool{}}
		if ft.fhirFile != "" {
			if sr := fhirSchema(doc, ft.fhirFile, "ResourceList"); sr != nil && sr.Discriminator != nil {
				for name := range sr.Discriminator.Mapping {
					f.types[name] = true
				}
			}
		}
		out[ft.id] = f
	}
	return out, nil
}

// fhirSchema finds a schema of the FHIR schema document that doc references,
// by following any $ref into it.
func fhirSchema(doc *openapi3.T, file, name string) *openapi3.Schema {
	var found *openapi3.Schema
	want := file + "#/components/schemas/" + name
	var visit func(*openapi3.SchemaRef)
	visit = func(sr *openapi3.SchemaRef) {
		if found != nil || sr == nil {
			return
		}
		if sr.Ref == want {
			found = sr.Value
			return
		}
		if sr.Value != nil {
			for _, one := range sr.Value.OneOf {
				visit(one)
			}
		}
	}
	for _, p := range doc.Paths.Map() {
		for _, op := range p.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for _, mt := range op.RequestBody.Value.Content {
					visit(mt.Schema)
				}
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					for _, mt := range r.Value.Content {
						visit(mt.Schema)
					}
				}
			}
		}
	}
	return found
}

// validationIssue is one thing the OpenAPI document does not allow.
type validationIssue struct {
	where string // parameter, header or body path
	what  string
}

var acceptAuth = func(context.Context, *openapi3filter.AuthenticationInput) error {
	return nil // authentication and access are the simulator's own checks
}

func filterOptions() *openapi3filter.Options {
	o := &openapi3filter.Options{
		MultiError:          true,
		AuthenticationFunc:  acceptAuth,
		SkipSettingDefaults: true,
		ExcludeResponseBody: false,
	}
	// A FHIR schema error printed in full would quote the whole resource
	// schema; the reason and the location in the value are what a client
	// developer needs.
	o.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string { return err.Reason })
	return o
}

// validateRequest checks r (whose body has been read into body) against the
// operation's parameters, headers and request body.
func validateRequest(ctx context.Context, r *http.Request, body []byte, route *routers.Route, pathParams map[string]string) []validationIssue {
	req := r.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: filterOptions()}
	err := openapi3filter.ValidateRequest(ctx, in)
	if err == nil {
		return nil
	}
	return flattenValidation(err)
}

// validateResponse checks a response body against the operation's document.
func validateResponse(ctx context.Context, r *http.Request, route *routers.Route, pathParams map[string]string, status int, header http.Header, body []byte) []validationIssue {
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: pathParams, Route: route, Options: filterOptions()}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                filterOptions(),
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return flattenValidation(err)
	}
	return nil
}

func flattenValidation(err error) []validationIssue {
	var out []validationIssue
	var walk func(error)
	walk = func(err error) {
		var me openapi3.MultiError
		if errors.As(err, &me) {
			for _, e := range me {
				walk(e)
			}
			return
		}
		var re *openapi3filter.RequestError
		var se *openapi3.SchemaError
		var resp *openapi3filter.ResponseError
		switch {
		case errors.As(err, &re):
			where := "request"
			switch {
			case re.Parameter != nil:
				where = re.Parameter.In + " parameter " + re.Parameter.Name
			case re.RequestBody != nil:
				where = "body"
			}
			if re.Err != nil {
				var inner openapi3.MultiError
				if errors.As(re.Err, &inner) {
					for _, e := range inner {
						out = append(out, issueFrom(where, re.Reason, e))
					}
					return
				}
			}
			out = append(out, issueFrom(where, re.Reason, re.Err))
		case errors.As(err, &resp):
			out = append(out, issueFrom("response", resp.Reason, resp.Err))
		case errors.As(err, &se):
			out = append(out, issueFrom("body", "", se))
		default:
			out = append(out, validationIssue{where: "request", what: err.Error()})
		}
	}
	walk(err)
	return out
}

func issueFrom(where, reason string, err error) validationIssue {
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		ptr := se.JSONPointer()
		if len(ptr) > 0 {
			if where == "body" || where == "response" {
				where += " " + fhirPath(ptr)
			} else {
				where += " " + strings.Join(ptr, ".")
			}
		}
		what := se.Reason
		if reason != "" && !strings.Contains(what, reason) {
			what = reason + ": " + what
		}
		return validationIssue{where: where, what: what}
	}
	what := reason
	if err != nil && !strings.Contains(what, err.Error()) {
		if what != "" && !strings.Contains(err.Error(), what) {
			what += ": " + err.Error()
		} else {
			what = err.Error()
		}
	}
	if what == "" {
		what = "invalid"
	}
	return validationIssue{where: where, what: what}
}

// fhirPath renders a JSON pointer as a FHIRPath-like expression, e.g.
// name.0.given -> name[0].given.
func fhirPath(ptr []string) string {
	var b strings.Builder
	for _, p := range ptr {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// searchSpec is a query parameter's x-fhir-search extension: how PKB says
// the parameter may be used.
type searchSpec struct {
	name      string
	typ       string
	multiple  string
	modifiers []string
	prefixes  []string
	required  string
}

func searchSpecs(op *openapi3.Operation) []searchSpec {
	var out []searchSpec
	for _, pr := range op.Parameters {
		p := pr.Value
		if p == nil || p.In != "query" {
			continue
		}
		raw, ok := p.Extensions["x-fhir-search"].(map[string]any)
		if !ok {
			continue
		}
		sp := searchSpec{name: p.Name}
		sp.typ, _ = raw["type"].(string)
		sp.multiple, _ = raw["multiple"].(string)
		sp.required, _ = raw["required"].(string)
		sp.modifiers = strList(raw["modifiers"])
		sp.prefixes = strList(raw["prefixes"])
		out = append(out, sp)
	}
	return out
}

func strList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// checkSearch enforces what the OpenAPI schema cannot express: PKB's
// multi-value and prefix rules, and the shape of date and reference values.
func checkSearch(op *openapi3.Operation, q url.Values) []validationIssue {
	var out []validationIssue
	for _, sp := range searchSpecs(op) {
		vals := q[sp.name]
		if len(vals) == 0 {
			continue
		}
		if sp.multiple != "AND" && len(vals) > 1 {
			out = append(out, validationIssue{where: "query parameter " + sp.name, what: "PKB does not support repeating this parameter (Multi-value support: none)"})
			continue
		}
		for _, v := range vals {
			switch sp.typ {
			case "date":
				if _, err := parseDateParam(v, sp.prefixes); err != nil {
					out = append(out, validationIssue{where: "query parameter " + sp.name, what: err.Error()})
				}
			case "reference":
				if strings.ContainsAny(sp.name, ":.") {
					continue // chained: the value is a token
				}
				if _, _, err := parseRef(v); err != nil {
					out = append(out, validationIssue{where: "query parameter " + sp.name, what: err.Error()})
				}
			}
		}
	}
	return out
}

// mediaOf returns the lower-cased media type of a Content-Type value.
func mediaOf(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
