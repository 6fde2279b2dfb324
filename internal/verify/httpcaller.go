package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/loopback"
)

// HTTPCaller is a Caller and RouteCaller over net/http, for tests against
// the simulator and for the calls the client library refuses by design
// (anonymous probes, alternative routes). It sends a bearer token only over
// https (or plain http to a loopback host), only to a URL built from a
// template under the family's base URL, never on a redirect, and only for
// an operation the client's grants permit; a public operation or an
// anonymous request gets no credentials.
type HTTPCaller struct {
	// Info describes the client.
	Info Client
	// BaseURLs are the families' base URLs.
	BaseURLs map[access.Family]string
	// Token returns the access token (nil: send no credentials).
	Token func(ctx context.Context) (string, error)
	// Header is sent with every authenticated request, e.g. X-Org-Public-Id.
	Header http.Header
	// HTTP sends the requests; nil uses a client with a 30 s timeout.
	// Redirects are never followed either way.
	HTTP *http.Client
}

var _ RouteCaller = (*HTTPCaller)(nil)

// Client returns Info.
func (h *HTTPCaller) Client() Client { return h.Info }

// Do calls the operation at its route in the documents.
func (h *HTTPCaller) Do(ctx context.Context, req *Request) (*http.Response, error) {
	op, ok := access.Lookup(req.Family, req.Operation)
	if !ok {
		return nil, fmt.Errorf("verify: %s has no operation %s", req.Family, req.Operation)
	}
	return h.send(ctx, req, op, op.Method, op.Path)
}

// DoRoute calls another route of the operation's family, with the
// operation's grant check and credentials.
func (h *HTTPCaller) DoRoute(ctx context.Context, req *RouteRequest) (*http.Response, error) {
	op, ok := access.Lookup(req.Family, req.Operation)
	if !ok {
		return nil, fmt.Errorf("verify: %s has no operation %s", req.Family, req.Operation)
	}
	return h.send(ctx, &req.Request, op, strings.ToUpper(req.Method), req.Template)
}

func (h *HTTPCaller) send(ctx context.Context, req *Request, op access.Operation, method, template string) (*http.Response, error) {
	base, ok := h.BaseURLs[req.Family]
	if !ok {
		return nil, fmt.Errorf("verify: no base URL for %s", req.Family)
	}
	bu, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || bu.Host == "" || bu.User != nil {
		return nil, fmt.Errorf("verify: the base URL of %s is not an absolute URL without credentials", req.Family)
	}
	public := slices.Contains(op.Grants, "public")
	secret := !req.Anonymous && !public && h.Token != nil
	if secret {
		if bu.Scheme != "https" && !(bu.Scheme == "http" && loopback.Host(bu.Hostname())) {
			return nil, fmt.Errorf("verify: refusing to send a token to %s over %s", req.Family, bu.Scheme)
		}
		if !permits(op.Grants, h.Info.Grants) {
			return nil, fmt.Errorf("verify: %s.%s is not granted to a %s client", req.Family, op.ID, h.Info)
		}
	}
	path, err := fillTemplate(template, req.Path)
	if err != nil {
		return nil, err
	}
	u := *bu
	u.Path = bu.Path + path
	u.RawPath = bu.EscapedPath() + escapedTemplate(template, req.Path)
	u.RawQuery = req.Query.Encode()
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("verify: building the request: %w", err)
	}
	media := "application/json"
	if fi, ok := access.FamilyByID(req.Family); ok && fi.MediaType != "" {
		media = fi.MediaType
	}
	hr.Header.Set("Accept", media)
	if req.Body != nil {
		hr.Header.Set("Content-Type", media)
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if secret {
		tok, err := h.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("verify: getting a token: %w", err)
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
		for k, vs := range h.Header {
			for _, v := range vs {
				hr.Header.Add(k, v)
			}
		}
	}
	c := h.HTTP
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return nc.Do(hr)
}

func permits(opGrants, held []string) bool {
	for _, g := range opGrants {
		if g == "public" || slices.Contains(held, g) {
			return true
		}
	}
	return false
}

var errSegment = errors.New("verify: a path value is empty, a dot segment or holds a control character")

// fillTemplate replaces each {param} of a route template with the next
// value, unescaped (for url.URL.Path).
func fillTemplate(template string, values []string) (string, error) {
	var b strings.Builder
	i := 0
	for seg := range strings.SplitSeq(strings.TrimPrefix(template, "/"), "/") {
		if template == "/" {
			break
		}
		b.WriteByte('/')
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if i >= len(values) {
				return "", fmt.Errorf("verify: %s needs more path values than the %d given", template, len(values))
			}
			v := values[i]
			i++
			if v == "" || v == "." || v == ".." || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return "", errSegment
			}
			b.WriteString(v)
			continue
		}
		b.WriteString(seg)
	}
	if template == "/" {
		b.WriteByte('/')
	}
	return b.String(), nil
}

// escapedTemplate is fillTemplate with every value escaped as one segment.
func escapedTemplate(template string, values []string) string {
	esc := make([]string, len(values))
	for i, v := range values {
		esc[i] = url.PathEscape(v)
	}
	var b strings.Builder
	i := 0
	if template == "/" {
		return "/"
	}
	for seg := range strings.SplitSeq(strings.TrimPrefix(template, "/"), "/") {
		b.WriteByte('/')
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && i < len(esc) {
			b.WriteString(esc[i])
			i++
			continue
		}
		b.WriteString(url.PathEscape(seg))
	}
	return b.String()
}
