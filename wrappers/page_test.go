package wrappers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// pagedServer serves /fhir/Observation in pages of perPage observations;
// next links alternate between relative and absolute forms, and the last
// hop uses a HAPI-style ?_getpages link on the service base.
func pagedServer(t testing.TB, pages, perPage int, auths *[]string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if auths != nil {
			*auths = append(*auths, r.Header.Get("Authorization"))
		}
		page := 1
		if p := r.URL.Query().Get("page"); p != "" {
			page, _ = strconv.Atoi(p)
		}
		if p := r.URL.Query().Get("_getpages"); p != "" {
			page, _ = strconv.Atoi(p)
		}
		var b strings.Builder
		fmt.Fprintf(&b, `{"resourceType":"Bundle","type":"searchset","total":%d,"link":[`, pages*perPage)
		switch {
		case page >= pages:
		case page == pages-1:
			fmt.Fprintf(&b, `{"relation":"next","url":"%s/fhir?_getpages=%d"}`, srv.URL, page+1)
		case page%2 == 0:
			fmt.Fprintf(&b, `{"relation":"next","url":"%s/fhir/Observation?patient=p1&page=%d"}`, srv.URL, page+1)
		default:
			fmt.Fprintf(&b, `{"relation":"next","url":"Observation?patient=p1&page=%d"}`, page+1)
		}
		b.WriteString(`],"entry":[`)
		for i := range perPage {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"resource":{"resourceType":"Observation","id":"o%d-%d","status":"final","code":{"text":"heart rate"},"valueQuantity":{"value":72.50,"unit":"beats/min"}},"search":{"mode":"match"}}`, page, i)
		}
		if page == 1 {
			b.WriteString(`,{"resource":{"resourceType":"Patient","id":"p1"},"search":{"mode":"include"}}`)
		}
		b.WriteString(`]}`)
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, b.String())
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// searchCall is a Facade Observation search of patient p1.
func searchCall(opts ...CallOption) *Call {
	call := &Call{Operation: "searchObservation", Query: url.Values{"patient": {"p1"}, "category": {"c"}}}
	Apply(call, opts...)
	return call
}

func firstPage(t testing.TB, c *SystemClient, opts ...CallOption) *Page[stu3.Observation] {
	t.Helper()
	p, err := FirstPage[stu3.Observation](context.Background(), c.Facade.Family(), searchCall(opts...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pageOf decodes body as a page f fetched from the URL from.
func pageOf[T any](t testing.TB, f *Family, from, body string) *Page[T] {
	t.Helper()
	var u *url.URL
	if from != "" {
		var err error
		if u, err = url.Parse(from); err != nil {
			t.Fatal(err)
		}
	}
	p, err := decodePage[T](f, io.NopCloser(strings.NewReader(body)), u, DefaultMaxResponseBytes)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResourcesAcrossPages(t *testing.T) {
	var auths []string
	srv, hits := pagedServer(t, 4, 3, &auths)
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	if err != nil {
		t.Fatal(err)
	}
	first := firstPage(t, c)
	if first.Total == nil || *first.Total != 12 || len(first.Matches) != 3 || first.Included.Len() != 1 {
		t.Fatalf("first page: total %v, %d matches, %d included", first.Total, len(first.Matches), first.Included.Len())
	}
	var ids []string
	for obs, err := range first.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, obs.Id)
		if obs.ValueQuantity == nil || obs.ValueQuantity.Value.String() != "72.50" {
			t.Fatalf("decimal lost: %+v", obs.ValueQuantity)
		}
	}
	if len(ids) != 12 || ids[0] != "o1-0" || ids[11] != "o4-2" || hits.Load() != 4 {
		t.Errorf("ids %v after %d requests", ids, hits.Load())
	}
	for i, a := range auths {
		if !strings.HasPrefix(a, "Bearer ") {
			t.Errorf("page %d fetched without the token", i+1)
		}
	}
}

func TestNextWalksToTheEnd(t *testing.T) {
	srv, hits := pagedServer(t, 3, 2, nil)
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	n := 0
	for p := firstPage(t, c); p != nil; {
		n++
		next, err := p.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p = next
	}
	if n != 3 || hits.Load() != 3 {
		t.Errorf("%d pages in %d requests, want 3", n, hits.Load())
	}
}

func TestBreakStopsFetching(t *testing.T) {
	srv, hits := pagedServer(t, 10, 2, nil)
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	n := 0
	for _, err := range firstPage(t, c).Pages(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	if hits.Load() != 2 {
		t.Errorf("%d requests after breaking on page 2, want 2", hits.Load())
	}
}

func TestPageAndResourceLimits(t *testing.T) {
	srv, hits := pagedServer(t, 10, 2, nil)
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	count := func(seq func(func(*Page[stu3.Observation], error) bool)) (int, error) {
		var last error
		n := 0
		for _, err := range seq {
			if err != nil {
				last = err
				continue
			}
			n++
		}
		return n, last
	}
	// the limit given to the first call travels with the page
	hits.Store(0)
	pages, last := count(firstPage(t, c, MaxPages(3)).Pages(context.Background()))
	if pages != 3 || !errors.Is(last, ErrPageLimit) || hits.Load() != 3 {
		t.Errorf("MaxPages(3) on the call: %d pages, last error %v, %d requests", pages, last, hits.Load())
	}
	// and an option of Pages overrides it
	hits.Store(0)
	pages, last = count(firstPage(t, c, MaxPages(3)).Pages(context.Background(), MaxPages(2)))
	if pages != 2 || !errors.Is(last, ErrPageLimit) || hits.Load() != 2 {
		t.Errorf("MaxPages(2) on Pages: %d pages, last error %v, %d requests", pages, last, hits.Load())
	}
	for _, tc := range []struct {
		n, want, requests int
		limited           bool
	}{{5, 5, 3, true}, {4, 4, 2, true}, {20, 20, 10, false}, {0, 20, 10, false}} {
		hits.Store(0)
		n := 0
		var last error
		for _, err := range firstPage(t, c).All(context.Background(), MaxResources(tc.n)) {
			if err != nil {
				last = err
				continue
			}
			n++
		}
		if n != tc.want || errors.Is(last, ErrPageLimit) != tc.limited || (!tc.limited && last != nil) || int(hits.Load()) != tc.requests {
			t.Errorf("MaxResources(%d): %d resources, last error %v, %d requests; want %d, limited %t, %d requests",
				tc.n, n, last, hits.Load(), tc.want, tc.limited, tc.requests)
		}
	}
}

func TestNextLinkToAnotherHostIsRefused(t *testing.T) {
	evil := `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"https://evil.example.org/fhir/Observation?page=2"}]}`
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		io.WriteString(w, evil)
	}))
	defer srv.Close()
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	var last error
	for _, err := range firstPage(t, c).Pages(context.Background()) {
		last = err
	}
	if !errors.Is(last, ErrUnsafeURL) {
		t.Errorf("want ErrUnsafeURL, got %v", last)
	}
	if _, err := firstPage(t, c).Next(context.Background()); !errors.Is(err, ErrUnsafeURL) {
		t.Errorf("Next: want ErrUnsafeURL, got %v", err)
	}
	for _, link := range []string{srv.URL + "/json/users/self", "http://" + strings.TrimPrefix(srv.URL, "http://") + "/other/Observation", "//evil.example.org/fhir/Observation"} {
		body := fmt.Sprintf(`{"resourceType":"Bundle","link":[{"relation":"next","url":%q}]}`, link)
		last = nil
		for _, err := range pageOf[stu3.Observation](t, c.Facade.Family(), "", body).Pages(context.Background()) {
			last = err
		}
		if !errors.Is(last, ErrUnsafeURL) && !errors.Is(last, ErrUnknownOperation) {
			t.Errorf("next link %q: want a refusal, got %v", link, last)
		}
		if _, err := c.Facade.Family().Follow(context.Background(), link); !errors.Is(err, ErrUnsafeURL) && !errors.Is(err, ErrUnknownOperation) {
			t.Errorf("Follow %q: want a refusal, got %v", link, err)
		}
	}
}

// A page decoded from a body no Family fetched has its matches, but
// cannot fetch more: nothing would check where its next link leads.
func TestPageWithoutAFamilyDoesNotFollow(t *testing.T) {
	body := `{"resourceType":"Bundle","link":[{"relation":"next","url":"https://sandbox.patientsknowbest.com/fhir/Observation?page=2"}],"entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]}`
	resp := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body))}
	p, err := DecodePage[stu3.Observation](nil, resp)
	if err != nil || len(p.Matches) != 1 || p.Matches[0].Id != "o1" {
		t.Fatalf("%v %+v", err, p)
	}
	if _, err := p.Next(context.Background()); err == nil {
		t.Error("Next followed a link without a family")
	}
	var last error
	for _, err := range p.All(context.Background()) {
		last = err
	}
	if last == nil {
		t.Error("All followed a link without a family")
	}
}

func TestPageDecoding(t *testing.T) {
	const body = `{"resourceType":"Bundle","type":"searchset","total":2,
	 "link":[{"relation":"self","url":"Observation?patient=p1"}],
	 "entry":[
	  {"fullUrl":"https://x/fhir/Observation/o1","resource":{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"}},"search":{"mode":"match"}},
	  {"fullUrl":"https://x/fhir/Patient/p1","resource":{"resourceType":"Patient","id":"p1","gender":"female"},"search":{"mode":"include"}},
	  {"search":{"mode":"include"},"fullUrl":"urn:uuid:3b1e8d5e-0000-4000-8000-000000000001","resource":{"id":"pr1","resourceType":"Practitioner"}},
	  {"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"not-supported","diagnostics":"_sort ignored"}]},"search":{"mode":"outcome"}},
	  {"request":{"method":"DELETE","url":"Observation/o9"}},
	  {"resource":{"id":"o2","resourceType":"Observation"}}
	 ]}`
	p := pageOf[stu3.Observation](t, nil, "", body)
	if len(p.Matches) != 2 || p.Matches[0].Id != "o1" || p.Matches[1].Id != "o2" || *p.Total != 2 || p.NextLink != "" {
		t.Fatalf("matches %v, total %v, next %q", p.Matches, p.Total, p.NextLink)
	}
	if len(p.Outcomes) != 1 || p.Outcomes[0].Diagnostics != "_sort ignored" {
		t.Errorf("outcomes %+v", p.Outcomes)
	}
	for _, ref := range []string{p.Matches[0].Subject.Reference, "Patient/p1/_history/3", "https://x/fhir/Patient/p1"} {
		pat, err := IncludedAs[stu3.Patient](p, ref)
		if err != nil || pat == nil || pat.Id != "p1" || pat.Gender != "female" {
			t.Errorf("IncludedAs(%q) = %+v, %v", ref, pat, err)
		}
	}
	if pr, err := IncludedAs[stu3.Practitioner](p, "urn:uuid:3b1e8d5e-0000-4000-8000-000000000001"); err != nil || pr == nil || pr.Id != "pr1" {
		t.Errorf("by fullUrl: %+v %v", pr, err)
	}
	if pat, err := IncludedAs[stu3.Patient](p, "Patient/nope"); pat != nil || err != nil {
		t.Errorf("missing include: %+v %v", pat, err)
	}
	var rte *ResourceTypeError
	if _, err := IncludedAs[stu3.Practitioner](p, "Patient/p1"); !errors.As(err, &rte) || rte.Want != "Practitioner" || rte.Got != "Patient" {
		t.Errorf("wrong type: %v", err)
	}
	n := 0
	for pat, err := range IncludedOf[stu3.Patient](p) {
		if err != nil || pat.Id != "p1" {
			t.Errorf("IncludedOf: %+v %v", pat, err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("IncludedOf yielded %d patients", n)
	}
	if raw, ok := p.Included.Raw("Practitioner/pr1"); !ok || !strings.Contains(string(raw), `"pr1"`) {
		t.Errorf("Raw: %s %t", raw, ok)
	}

	// Matches of another type are typed errors, never zero values.
	for name, bad := range map[string]string{
		"another type":            `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p1"}}]}`,
		"another type, reordered": `{"resourceType":"Bundle","entry":[{"resource":{"id":"p1","resourceType":"Patient"},"search":{"mode":"match"}}]}`,
		"repeated resourceType":   `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","resourceType":"Patient"}}]}`,
		"no resourceType":         `{"resourceType":"Bundle","entry":[{"resource":{"id":"o1"}}]}`,
		"not a Bundle":            `{"resourceType":"OperationOutcome"}`,
	} {
		_, err := decodePage[stu3.Observation](nil, io.NopCloser(strings.NewReader(bad)), nil, DefaultMaxResponseBytes)
		if !errors.As(err, &rte) {
			t.Errorf("%s: want a *ResourceTypeError, got %v", name, err)
		}
	}
	_, err := decodePage[stu3.Observation](nil, io.NopCloser(strings.NewReader(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient\u0022<script>"}}]}`)), nil, DefaultMaxResponseBytes)
	if !errors.As(err, &rte) || strings.Contains(err.Error(), "script") {
		t.Errorf("the server's resourceType text reached the error: %v", err)
	}
	if _, err := decodePage[stu3.Observation](nil, io.NopCloser(strings.NewReader(`{"resourceType":"Bundle","entry":[`)), nil, DefaultMaxResponseBytes); err == nil {
		t.Error("a truncated body decoded")
	}
}

// BenchmarkDecodePage decodes a page of 1,000 Observations held in memory,
// as FirstPage and Next do from a response body.
func BenchmarkDecodePage(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"resourceType":"Bundle","type":"searchset","total":1000,"link":[{"relation":"next","url":"Observation?page=2"}],"entry":[`)
	for i := range 1000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"fullUrl":"https://x/fhir/Observation/o%d","resource":{"resourceType":"Observation","id":"o%d","status":"final","category":[{"coding":[{"system":"http://hl7.org/fhir/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"heart rate"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-01-01T10:00:00Z","valueQuantity":{"value":72.50,"unit":"beats/min","system":"http://unitsofmeasure.org","code":"/min"}},"search":{"mode":"match"}}`, i, i)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodePage[stu3.Observation](nil, io.NopCloser(bytes.NewReader(body)), nil, DefaultMaxResponseBytes)
		if err != nil || len(p.Matches) != 1000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkWalk100Pages reports the peak live heap while walking 100 pages
// of 100 observations, in units of one decoded page ("pages-peak-heap").
func BenchmarkWalk100Pages(b *testing.B) {
	srv, _ := pagedServer(b, 100, 100, nil)
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
	var ms runtime.MemStats
	heap := func() uint64 { runtime.GC(); runtime.ReadMemStats(&ms); return ms.HeapAlloc }

	firstPage(b, c) // warm the decoder's type caches and the connection pool
	base := heap()
	pageSink = firstPage(b, c)
	pageBytes := float64(heap() - base)
	pageSink = nil
	var peak float64
	before := heap()
	for b.Loop() {
		for page, err := range firstPage(b, c).Pages(context.Background()) {
			if err != nil {
				b.Fatal(err)
			}
			pageSink = page // the caller holds the current page while measuring
			if h := float64(heap()) - float64(before); h > peak {
				peak = h
			}
		}
	}
	pageSink = nil
	b.ReportMetric(peak/pageBytes, "pages-peak-heap")
}

var pageSink *Page[stu3.Observation]

// linkPage is a page of f with no entries and the next link link.
func linkPage(t testing.TB, f *Family, link string) *Page[stu3.Observation] {
	t.Helper()
	quoted, err := json.Marshal(link)
	if err != nil {
		t.Fatal(err)
	}
	return pageOf[stu3.Observation](t, f, "", `{"resourceType":"Bundle","link":[{"relation":"next","url":`+string(quoted)+`}]}`)
}
