package pkbtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/routers"

	"github.com/pkbgo/pkb/gen/access"
)

// ResponseCodeSystem is PKB's CodeSystem of error codes, carried in
// OperationOutcome.issue.details.coding (docs/pkb-api.md §4).
const ResponseCodeSystem = "http://fhir.patientsknowbest.com/codesystem/response-code"

// Further PKB response codes the resource endpoints answer with, besides the
// token codes of [TokenError].
const (
	// CodeUserTypeNotPermitted: the operation is not open to the caller's
	// user or client type.
	CodeUserTypeNotPermitted ResponseCode = "USER_TYPE_NOT_PERM"
	// CodeNoConsent: the caller has no consent to the patient's record.
	CodeNoConsent ResponseCode = "NO_CONSENT"
	// CodeNoAssociation: the caller (or the organisation in
	// X-Org-Public-Id) has no association with the record or client.
	CodeNoAssociation ResponseCode = "NO_ASSOCIATION"
	// CodeSharingDisabled: the patient has disabled sharing.
	CodeSharingDisabled ResponseCode = "SHARING_DISABLED"
)

// maxBody bounds a request body; PKB's largest documented input (5000
// identifiers) is far smaller.
const maxBody = 8 << 20

// handlerFunc serves one operation after authentication, access control and
// validation.
type handlerFunc func(c *call)

// call is one request on its way through an operation handler.
type call struct {
	s      *Simulator
	fam    *family
	op     access.Operation
	route  *routers.Route
	params map[string]string
	w      http.ResponseWriter
	r      *http.Request
	query  url.Values
	body   []byte
	grant  *Grant // nil for public operations
	actor  actor
	status int
	// linkPath overrides the path of Bundle links, for searches whose own
	// path cannot be followed with GET (POST _search).
	linkPath string
	// rights caches the caller's rights per patient for this request.
	rights map[string]rights
}

// statusWriter remembers the status for the request log and buffers the
// body when the response is to be validated or cut short.
type statusWriter struct {
	http.ResponseWriter
	status int
	buf    *bytes.Buffer
}

// WriteHeader records the status; a buffered response sends it at flush.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	if w.buf == nil {
		w.ResponseWriter.WriteHeader(code)
	}
}

// Write sends or buffers the body.
func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.buf != nil {
		return w.buf.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

func (s *Simulator) familyHandler(f *family) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		setRoute(r, f.prefix+" (unrouted)")
		if !s.delay(f.id, r) {
			return // the client gave up during the family's latency
		}
		sw := &statusWriter{ResponseWriter: rw}
		defer func() { s.auth.stats.apiCall(sw.status) }()

		c := &call{s: s, fam: f, w: sw, r: r, query: r.URL.Query()}
		if s.dev.before(c) {
			return // a deviation answered, or moved the request (WithDeviations)
		}
		r = c.r
		route, params, err := f.router.FindRoute(r)
		if err != nil {
			if fault := s.takeFault(f.id, ""); fault != nil && s.applyFault(c, sw, fault) {
				return
			}
			if errors.Is(err, routers.ErrMethodNotAllowed) {
				c.fail(http.StatusMethodNotAllowed, "not-supported", "", fmt.Sprintf("%s is not allowed here by %s", r.Method, f.file))
				return
			}
			c.fail(http.StatusNotFound, "not-supported", "", fmt.Sprintf("no operation of %s matches %s %s", f.file, r.Method, r.URL.EscapedPath()))
			return
		}
		c.route, c.params = route, params
		setRoute(r, f.prefix+route.Path)
		op, ok := access.Lookup(f.id, route.Operation.OperationID)
		if !ok {
			c.fail(http.StatusInternalServerError, "exception", "", "operation "+route.Operation.OperationID+" missing from the access table")
			return
		}
		c.op = op
		if fault := s.takeFault(f.id, op.ID); fault != nil && s.applyFault(c, sw, fault) {
			return
		}
		if fault := s.peekTruncate(f.id, op.ID); fault {
			sw.buf = &bytes.Buffer{}
		}
		if s.validate == validateRequestsAndResponses {
			sw.buf = &bytes.Buffer{}
		}

		if !slices.Contains(op.Grants, "public") && !s.dev.open(c) && !s.authorize(c) {
			s.flush(c, sw)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			c.fail(http.StatusBadRequest, "structure", "", "cannot read the request body: "+err.Error())
			s.flush(c, sw)
			return
		}
		if len(body) > maxBody {
			c.fail(http.StatusRequestEntityTooLarge, "too-costly", "", "request body too large")
			s.flush(c, sw)
			return
		}
		c.body = body
		issues := validateRequest(r.Context(), r, body, route, params)
		issues = append(issues, checkSearch(route.Operation, c.query)...)
		if len(issues) > 0 {
			c.invalid(issues)
			s.flush(c, sw)
			return
		}
		s.mu.Lock()
		s.served[string(f.id)+"."+op.ID]++
		s.mu.Unlock()
		s.handlers[f.id][op.ID](c)
		s.flush(c, sw)
	})
}

// flush writes a buffered response: validated against the document when
// asked for, and cut short when a truncation fault is pending.
func (s *Simulator) flush(c *call, sw *statusWriter) {
	if sw.buf == nil {
		return
	}
	body := sw.buf.Bytes()
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	if s.validate == validateRequestsAndResponses && c.route != nil && len(body) > 0 {
		if issues := validateResponse(c.r.Context(), c.r, c.route, c.params, status, sw.Header(), body); len(issues) > 0 {
			var msgs []string
			for _, is := range issues {
				msgs = append(msgs, is.where+": "+is.what)
			}
			s.log.Error("pkbtest: response violates the OpenAPI document", "operation", c.op.ID, "issues", msgs)
			sw.Header().Del("Content-Length")
			sw.ResponseWriter.Header().Set("Content-Type", "text/plain; charset=utf-8")
			sw.ResponseWriter.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(sw.ResponseWriter, "pkbtest: response to %s violates %s:\n%s\n", c.op.ID, c.fam.file, strings.Join(msgs, "\n"))
			return
		}
	}
	if c.op.ID != "" && s.takeTruncate(c.fam.id, c.op.ID) && len(body) > 1 {
		sw.Header().Set("Content-Length", fmt.Sprint(len(body)))
		sw.ResponseWriter.WriteHeader(status)
		_, _ = sw.ResponseWriter.Write(body[:len(body)/2])
		if f, ok := sw.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler) // the connection closes mid-body
	}
	sw.ResponseWriter.WriteHeader(status)
	_, _ = sw.ResponseWriter.Write(body)
}

// authorize authenticates the bearer token and applies PKB's rules on which
// client types each family accepts, the operation's x-pkb-access grants and
// X-Org-Public-Id. It writes the refusal and returns false when the request
// may not proceed.
func (s *Simulator) authorize(c *call) bool {
	g, err := s.auth.Authenticate(c.r)
	if err != nil {
		var te *TokenError
		if !errors.As(err, &te) {
			te = tokenErr(CodeBadAuthentication, err.Error())
		}
		c.unauthorized(te.Code, te.Description)
		return false
	}
	c.grant = &g
	switch c.fam.id {
	case access.FamilyCustomerSTU3, access.FamilyCustomerR4, access.FamilyAggregated:
		if g.ClientType != ClientTypeCustomer {
			c.unauthorized(CodeBadAuthentication, "only Customer System Client tokens (Keycloak realm pkb) are accepted by the Customer and Aggregated endpoints; Facade, Messaging and user tokens are not interoperable")
			return false
		}
	case access.FamilyFacade, access.FamilyMessaging:
		if g.ClientType == ClientTypeCustomer {
			c.unauthorized(CodeBadAuthentication, "Customer/Aggregated tokens are not accepted by the Facade and Messaging endpoints")
			return false
		}
	case access.FamilyRESTAPI:
		if g.ClientType == ClientTypeCustomer || g.ClientType == ClientTypeSystem {
			c.unauthorized(CodeBadAuthentication, "the REST API accepts only User Client and Tethered-Token System Client tokens from apiToken.action")
			return false
		}
	}
	if !grantPermits(c.op.Grants, g) || s.dev.denies(c.op, g) {
		if c.fam.id == access.FamilyRESTAPI {
			// PKB's REST API answers a wrong user type 401 with a text
			// message, not 403 (docs/pkb-api.md §2.5).
			c.wrongUserType(g)
			return false
		}
		c.fail(http.StatusForbidden, "forbidden", CodeUserTypeNotPermitted,
			fmt.Sprintf("%s is not permitted for a %s client with scopes %q (requires one of: %s)", c.op.ID, g.ClientType, strings.Join(g.Scopes, " "), strings.Join(c.op.Grants, ", ")))
		return false
	}
	if g.ClientType == ClientTypeSystem {
		org := c.r.Header.Get("X-Org-Public-Id")
		if org == "" {
			c.fail(http.StatusBadRequest, "required", "", "the X-Org-Public-Id header is required with a System Client token")
			return false
		}
		if !g.HasScope(org+"-all") || s.data.org(org) == nil {
			c.fail(http.StatusForbidden, "forbidden", CodeNoAssociation, "the organisation in X-Org-Public-Id has not authorised this System Client")
			return false
		}
	}
	org := c.r.Header.Get("X-Org-Public-Id")
	if g.ClientType == ClientTypeCustomer {
		org = s.auth.clientOrg(g.ClientID)
	}
	c.actor = s.data.actorFor(g, org)
	c.actor.btgToken = c.r.Header.Get("breaktheglass")
	return true
}

// grantPermits reports whether a token's grant matches one of the
// operation's x-pkb-access grants, as the wrappers decide before any I/O.
func grantPermits(grants []string, g Grant) bool {
	for _, want := range grants {
		kind, scope, scoped := strings.Cut(want, ":")
		if want == "public" {
			return true
		}
		if ClientType(kind) != g.ClientType {
			continue
		}
		if !scoped || g.HasScope(scope) {
			return true
		}
	}
	return false
}

// wrongUserType answers a REST call whose token's user type the operation
// does not allow as PKB does: 401, text/plain, PKB's wording.
func (c *call) wrongUserType(g Grant) {
	var scopes []string
	for _, want := range c.op.Grants {
		if kind, scope, ok := strings.Cut(want, ":"); ok && kind == string(ClientTypeUser) {
			scopes = append(scopes, scope)
		}
	}
	userType := strings.Join(g.Scopes, " ")
	if g.ClientType == ClientTypeTethered {
		userType = "SITE"
	}
	c.w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	c.status = http.StatusUnauthorized
	c.w.WriteHeader(http.StatusUnauthorized)
	_, _ = fmt.Fprintf(c.w, "Login context is null. Error opening authorization request with supplied tokenHeader. Method requires a user within scope(s) %s but current user is of UserType %s",
		strings.Join(scopes, ", "), userType)
}

// unauthorized answers 401 with PKB's code and a Bearer challenge.
func (c *call) unauthorized(code ResponseCode, desc string) {
	errCode := "invalid_token"
	if c.r.Header.Get("Authorization") == "" {
		errCode = "" // RFC 6750 §3.1: no error code when no credentials were sent
	}
	ch := `Bearer realm="pkb"`
	if errCode != "" {
		ch += fmt.Sprintf(`, error=%q, error_description=%q`, errCode, string(code)+": "+desc)
	}
	c.w.Header().Set("WWW-Authenticate", ch)
	if c.fam.id == access.FamilyRESTAPI {
		// PKB's REST API answers 401 in plain text (docs/pkb-api.md §2.5).
		c.w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		c.status = http.StatusUnauthorized
		c.w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(c.w, "Login context is null. Error opening authorization request with supplied tokenHeader. %s: %s", code, desc)
		return
	}
	c.fail(http.StatusUnauthorized, "login", code, desc)
}

// invalid answers 400 naming everything the document does not allow.
func (c *call) invalid(issues []validationIssue) {
	if !c.fam.isFHIR() {
		var msgs []string
		for _, is := range issues {
			msgs = append(msgs, is.where+": "+is.what)
		}
		c.json(http.StatusBadRequest, obj{"code": "INVALID_REQUEST", "message": strings.Join(msgs, "; ")})
		return
	}
	var list []any
	for _, is := range issues {
		list = append(list, obj{
			"severity":    "error",
			"code":        "invalid",
			"diagnostics": is.where + ": " + is.what,
			"expression":  []any{is.where},
		})
	}
	c.fhirJSON(http.StatusBadRequest, obj{"resourceType": "OperationOutcome", "issue": list})
}

// fail answers with an error: an OperationOutcome on FHIR families, the
// REST API's JSON error body on the REST API.
func (c *call) fail(status int, issueCode string, code ResponseCode, diag string, expr ...string) {
	if !c.fam.isFHIR() {
		rc := string(code)
		if rc == "" {
			rc = strings.ToUpper(strings.ReplaceAll(issueCode, "-", "_"))
		}
		c.json(status, obj{"code": rc, "message": diag})
		return
	}
	c.fhirJSON(status, outcome("error", issueCode, code, diag, expr...))
}

func outcome(severity, issueCode string, code ResponseCode, diag string, expr ...string) obj {
	is := obj{"severity": severity, "code": issueCode, "diagnostics": diag}
	if code != "" {
		is["details"] = obj{"coding": []any{obj{"system": ResponseCodeSystem, "code": string(code), "display": responseDisplay[code]}}, "text": diag}
	}
	if len(expr) > 0 {
		var l []any
		for _, e := range expr {
			l = append(l, e)
		}
		is["expression"] = l
	}
	return obj{"resourceType": "OperationOutcome", "issue": []any{is}}
}

var responseDisplay = map[ResponseCode]string{
	CodeAccessTokenExpired:   "Access token expired",
	CodeBadAuthentication:    "Bad authentication",
	CodeSessionInvalid:       "API session invalid",
	CodeSessionExpired:       "API session expired",
	CodeUserTypeNotPermitted: "User type not permitted",
	CodeNoConsent:            "No consent",
	CodeNoAssociation:        "No association",
	CodeSharingDisabled:      "Sharing disabled",
}

func (c *call) fhirJSON(status int, v any) {
	c.w.Header().Set("Content-Type", "application/fhir+json;charset=UTF-8")
	c.writeJSON(status, v)
}

func (c *call) json(status int, v any) {
	c.w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	c.writeJSON(status, v)
}

func (c *call) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]}`)
	}
	c.status = status
	c.w.WriteHeader(status)
	_, _ = c.w.Write(b)
}

// ok answers 200 with a FHIR resource or, on the REST API, JSON.
func (c *call) ok(v any) {
	if c.fam.isFHIR() {
		c.fhirJSON(http.StatusOK, v)
		return
	}
	c.json(http.StatusOK, v)
}

// baseURL is the absolute URL of the family's base as the client reached
// it, for Bundle links and fullUrls.
func (c *call) baseURL() string {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.r.Host + c.fam.prefix
}

// parseBody decodes the (already validated) JSON body.
func (c *call) parseBody() (obj, bool) {
	var m obj
	if err := json.Unmarshal(c.body, &m); err != nil {
		c.fail(http.StatusBadRequest, "structure", "", "the body is not a JSON object: "+err.Error())
		return nil, false
	}
	return m, true
}
