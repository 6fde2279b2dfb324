package wrappers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/facade"
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

func firstPage(t testing.TB, c *SystemClient) *stu3.Bundle {
	t.Helper()
	resp, err := c.Facade.SearchObservationWithResponse(context.Background(), &facade.SearchObservationParams{Patient: "p1", Category: "c"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.ApplicationfhirJSON200
}

func TestResourcesAcrossPages(t *testing.T) {
	var auths []string
	srv, hits := pagedServer(t, 4, 3, &auths)
	c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithEnvironment(loopbackEnv(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for obs, err := range STU3Resources[stu3.Observation](context.Background(), c.Facade, firstPage(t, c)) {
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

func TestBreakStopsFetching(t *testing.T) {
	srv, hits := pagedServer(t, 10, 2, nil)
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithEnvironment(loopbackEnv(srv.URL)))
	n := 0
	for _, err := range STU3Pages(context.Background(), c.Facade, firstPage(t, c)) {
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
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithEnvironment(loopbackEnv(srv.URL)))
	var last error
	pages := 0
	for p, err := range STU3Pages(context.Background(), c.Facade, firstPage(t, c), MaxPages(3)) {
		if err != nil {
			last = err
			continue
		}
		_ = p
		pages++
	}
	if pages != 3 || !errors.Is(last, ErrPageLimit) || hits.Load() != 3 {
		t.Errorf("MaxPages(3): %d pages, last error %v, %d requests", pages, last, hits.Load())
	}
	n := 0
	last = nil
	for _, err := range STU3Resources[stu3.Observation](context.Background(), c.Facade, firstPage(t, c), MaxResources(5)) {
		if err != nil {
			last = err
			continue
		}
		n++
	}
	if n != 5 || !errors.Is(last, ErrPageLimit) {
		t.Errorf("MaxResources(5): %d resources, last error %v", n, last)
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
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithEnvironment(loopbackEnv(srv.URL)))
	var last error
	for _, err := range STU3Pages(context.Background(), c.Facade, firstPage(t, c)) {
		last = err
	}
	if !errors.Is(last, ErrUnsafeURL) {
		t.Errorf("want ErrUnsafeURL, got %v", last)
	}
	for _, link := range []string{srv.URL + "/json/users/self", "http://" + strings.TrimPrefix(srv.URL, "http://") + "/other/Observation", "//evil.example.org/fhir/Observation"} {
		var b stu3.Bundle
		b.Link = []stu3.BundleLink{{Relation: "next", Url: link}}
		last = nil
		for _, err := range STU3Pages(context.Background(), c.Facade, &b) {
			last = err
		}
		if !errors.Is(last, ErrUnsafeURL) && !errors.Is(last, ErrUnknownOperation) {
			t.Errorf("next link %q: want a refusal, got %v", link, last)
		}
	}
}

func TestPagingNeedsAWrappersClient(t *testing.T) {
	bare, _ := facade.NewClientWithResponses("https://sandbox.patientsknowbest.com/fhir/")
	for _, err := range STU3Pages(context.Background(), bare, &stu3.Bundle{Link: []stu3.BundleLink{{Relation: "next", Url: "Observation?page=2"}}}) {
		if err == nil {
			continue
		}
		return
	}
	t.Error("a bare generated client was used for paging without the wrappers' checks")
}

// BenchmarkWalk100Pages reports the peak live heap while walking 100 pages
// of 100 observations, in units of one decoded page ("pages-peak-heap").
func BenchmarkWalk100Pages(b *testing.B) {
	srv, _ := pagedServer(b, 100, 100, nil)
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithEnvironment(loopbackEnv(srv.URL)))
	var ms runtime.MemStats
	heap := func() uint64 { runtime.GC(); runtime.ReadMemStats(&ms); return ms.HeapAlloc }

	firstPage(b, c) // warm encoding/json's type caches and the connection pool
	base := heap()
	pageSink = firstPage(b, c)
	pageBytes := float64(heap() - base)
	pageSink = nil
	var peak float64
	before := heap()
	for b.Loop() {
		for page, err := range STU3Pages(context.Background(), c.Facade, firstPage(b, c)) {
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

var pageSink *stu3.Bundle
