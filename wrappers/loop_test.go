package wrappers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// linkServer answers GET /fhir/Observation?page=N with a searchset whose
// next link is next(N, serverURL).
func linkServer(t *testing.T, next func(page int, base string) string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 50 {
			w.WriteHeader(http.StatusTeapot) // the loop went on: stop it here
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprintf(w, `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"%s/fhir/Observation?page=%d&patient=p1"},{"relation":"next","url":%q}]}`,
			srv.URL, page, next(page, srv.URL))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestNextLinkLoopsEnd(t *testing.T) {
	cases := map[string]func(int, string) string{
		"itself, absolute":        func(p int, base string) string { return fmt.Sprintf("%s/fhir/Observation?page=%d&patient=p1", base, p) },
		"itself, relative":        func(p int, _ string) string { return fmt.Sprintf("Observation?page=%d&patient=p1", p) },
		"itself, query reordered": func(p int, _ string) string { return fmt.Sprintf("Observation?patient=p1&page=%d", p) },
		"itself, scheme case and fragment": func(p int, base string) string {
			return "HTTP" + base[4:] + fmt.Sprintf("/fhir/Observation?page=%d&patient=p1#x", p)
		},
		"cycle of three":                  func(p int, _ string) string { return fmt.Sprintf("Observation?page=%d&patient=p1", (p+1)%3) },
		"back to the first page":          func(p int, _ string) string { return fmt.Sprintf("Observation?page=%d&patient=p1", max(p-1, 0)) },
		"encoded the same way, unescaped": func(p int, _ string) string { return fmt.Sprintf("Observ%%61tion?page=%d&patient=p1", p) },
	}
	for name, next := range cases {
		t.Run(name, func(t *testing.T) {
			srv, hits := linkServer(t, next)
			c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID)
			if err != nil {
				t.Fatal(err)
			}
			first := pageOf[stu3.Observation](t, c.Facade.Family(), "", fmt.Sprintf(
				`{"resourceType":"Bundle","link":[{"relation":"self","url":%q},{"relation":"next","url":%q}]}`,
				srv.URL+"/fhir/Observation?page=0&patient=p1", next(0, srv.URL)))
			var last error
			pages := 0
			for _, err := range first.Pages(context.Background()) {
				if err != nil {
					last = err
					continue
				}
				pages++
			}
			if !errors.Is(last, ErrPageLoop) {
				t.Errorf("want ErrPageLoop, got %v after %d pages and %d requests", last, pages, hits.Load())
			}
			if hits.Load() > 3 {
				t.Errorf("%d requests before the loop was seen", hits.Load())
			}
		})
	}
}

// TestDefaultPageCap: a server that always has one more page stops at
// DefaultMaxPages, with ErrPageLimit; MaxPages overrides it.
func TestDefaultPageCap(t *testing.T) {
	var calls atomic.Int32
	rt := transportFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		body := fmt.Sprintf(`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"Observation?page=%d"}]}`, page+1)
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/fhir+json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	})
	c, err := NewCustomerSystemClient(&fakeSource{ct: authn.ClientCustomer}, "acme",
		WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		t.Fatal(err)
	}
	first := pageOf[r4.Observation](t, c.Aggregated.Family(), "", `{"resourceType":"Bundle","link":[{"relation":"next","url":"Observation?page=1"}]}`)
	count := func(opts ...CallOption) (int, error) {
		n := 0
		var last error
		for _, err := range first.Pages(context.Background(), opts...) {
			if err != nil {
				last = err
				continue
			}
			n++
		}
		return n, last
	}
	n, last := count()
	if n != DefaultMaxPages || !errors.Is(last, ErrPageLimit) || int(calls.Load()) != DefaultMaxPages-1 {
		t.Errorf("default: %d pages, %d requests, last error %v; want %d pages and ErrPageLimit", n, calls.Load(), last, DefaultMaxPages)
	}
	calls.Store(0)
	if n, last = count(MaxPages(DefaultMaxPages + 5)); n != DefaultMaxPages+5 || !errors.Is(last, ErrPageLimit) {
		t.Errorf("MaxPages(%d): %d pages, last error %v", DefaultMaxPages+5, n, last)
	}
}
