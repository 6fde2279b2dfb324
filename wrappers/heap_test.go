package wrappers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// hostileBundle is a searchset of about size bytes made of the smallest
// JSON values that decode into the largest Go values.
func hostileBundle(shape string, size int) string {
	head, unit, tail := hostileParts(shape)
	return hostileBundleN(shape, (size-len(head)-len(tail))/(len(unit)+1))
}

// hostileBundleN is the searchset of shape with n units.
func hostileBundleN(shape string, n int) string {
	head, unit, tail := hostileParts(shape)
	return head + strings.Repeat(unit+",", n-1) + unit + tail
}

// worstAccepted is the hostile searchset of shape with as many units as
// the value budget of limit allows: the costliest body a client accepts.
func worstAccepted(shape string, limit int64) string {
	values := func(s string) int64 {
		c := &valueCounter{budget: 1 << 62}
		c.scan([]byte(s))
		return c.n
	}
	one, two := values(hostileBundleN(shape, 1)), values(hostileBundleN(shape, 2))
	per, base := two-one, one-(two-one)
	return hostileBundleN(shape, int((valueBudget(limit)-base)/per))
}

func hostileParts(shape string) (head, unit, tail string) {
	head, tail = `{"resourceType":"Bundle","type":"searchset","entry":[`, `]}`
	var open, close string
	switch shape {
	case "empty entries": // each {} is a 144-byte BundleEntry
		unit = `{}`
	case "null entries":
		unit = `null`
	case "minimal resources": // each a 656-byte stu3.Observation
		unit = `{"resource":{"resourceType":"Observation"}}`
	case "empty extensions": // each {} a 616-byte stu3.Extension
		open, unit, close = `{"resource":{"resourceType":"Observation","extension":[`, `{}`, `]}}`
	case "null extensions":
		open, unit, close = `{"resource":{"resourceType":"Observation","extension":[`, `null`, `]}}`
	}
	return head + open, unit, close + tail
}

// allocated reports the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// heapFactor bounds the bytes allocated while decoding, as a multiple of
// the byte limit.
const heapFactor = 16

var readPatientOp = access.Operation{Family: access.FamilyFacade, ID: "readPatient", Method: http.MethodGet, Path: "/Patient/{id}"}

var heapShapes = []string{"empty entries", "null entries", "minimal resources", "empty extensions", "null extensions"}

// TestHeapIsBoundedByTheBodyLimit decodes bodies just under the byte
// limit, shaped to cost the most heap per byte, through every decoding
// path: the generated client, FirstPage, DecodePage and paging. Each
// must either succeed or fail with ErrResponseTooLarge, and allocate at
// most heapFactor times the byte limit in all (a 2 MiB Bundle of empty
// entries used to cost 411-665 MiB).
func TestHeapIsBoundedByTheBodyLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates hundreds of megabytes")
	}
	const limit = 4 << 20
	for _, shape := range heapShapes {
		for _, size := range []string{"worst accepted", "at the byte limit"} {
			body := worstAccepted(shape, limit)
			if size == "at the byte limit" {
				body = hostileBundle(shape, limit)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/fhir+json")
				io.WriteString(w, body)
			}))
			c, err := NewSystemClient(&fakeSource{ct: authn.ClientSystem, env: loopbackEnv(srv.URL)}, orgID, WithMaxResponseBytes(limit))
			if err != nil {
				t.Fatal(err)
			}
			paths := map[string]func() error{
				"generated client": func() error {
					_, err := c.Facade.Gen.SearchObservationWithResponse(context.Background(), &facade.SearchObservationParams{Patient: "p1", Category: "vital-signs"})
					return err
				},
				"FirstPage": func() error {
					_, err := FirstPage[stu3.Observation](context.Background(), c.Facade.Family(), searchCall())
					return err
				},
				"DecodePage": func() error {
					resp, err := c.Facade.Gen.SearchObservation(context.Background(), &facade.SearchObservationParams{Patient: "p1", Category: "vital-signs"})
					if err != nil {
						return err
					}
					_, err = DecodePage[stu3.Observation](c.Facade.Family(), resp)
					return err
				},
				"paging": func() error {
					first := linkPage(t, c.Facade.Family(), "Observation?page=2")
					for _, err := range first.All(context.Background()) {
						if err != nil {
							return err
						}
					}
					return nil
				},
			}
			for name, call := range paths {
				var err error
				got := allocated(func() { err = call() })
				t.Logf("%-18s %-17s %-24s %6.1f MiB allocated (%4.1f MiB body), err %v", shape, size, name, float64(got)/(1<<20), float64(len(body))/(1<<20), err)
				if size == "worst accepted" && err != nil || err != nil && !errors.Is(err, ErrResponseTooLarge) {
					t.Errorf("%s, %s, via %s: %v", shape, size, name, err)
				}
				if got > heapFactor*limit {
					t.Errorf("%s, %s, via %s: %d MiB allocated for a %d MiB body limit", shape, size, name, got>>20, limit>>20)
				}
			}
			srv.Close()
		}
	}
}

// TestHeapOfDecodePageOnAReader: a body that is not a client's response
// body is read under the same limits (DecodePage without a Family uses the
// default byte limit; a smaller one here keeps the test small), and a body
// larger than the byte limit costs no more than one at the limit.
func TestHeapOfDecodePageOnAReader(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates hundreds of megabytes")
	}
	const limit = 4 << 20
	for _, shape := range heapShapes {
		for _, size := range []int{0, limit, 4 * limit} {
			body := worstAccepted(shape, limit)
			if size > 0 {
				body = hostileBundle(shape, size)
			}
			var err error
			got := allocated(func() { _, err = decodePage[stu3.Observation](nil, io.NopCloser(strings.NewReader(body)), nil, limit) })
			t.Logf("%-18s %4.1f MiB body: %6.1f MiB allocated, err %v", shape, float64(len(body))/(1<<20), float64(got)/(1<<20), err)
			if size == 0 && err != nil || err != nil && !errors.Is(err, ErrResponseTooLarge) {
				t.Errorf("%s: %v", shape, err)
			}
			if got > heapFactor*limit {
				t.Errorf("%s: %d MiB allocated for a %d MiB body limit", shape, got>>20, limit>>20)
			}
		}
	}
}

// TestHeapOfAnErrorBody: an error response is read up to 1 MiB, and its
// OperationOutcome is held to the same value budget.
func TestHeapOfAnErrorBody(t *testing.T) {
	body := `{"resourceType":"OperationOutcome","issue":[` + strings.Repeat(`{},`, (errorBodyLimit-60)/3) + `{}]}`
	var err error
	got := allocated(func() {
		resp := &http.Response{StatusCode: 500, Header: http.Header{"Content-Type": {"application/fhir+json"}}, Body: io.NopCloser(strings.NewReader(body))}
		err = newAPIError(resp, http.MethodGet, readPatientOp, "tok")
	})
	t.Logf("%.1f MiB allocated for a %d KiB error body", float64(got)/(1<<20), len(body)>>10)
	if got > heapFactor*errorBodyLimit {
		t.Errorf("%d MiB allocated for a %d KiB error body", got>>20, len(body)>>10)
	}
	if err == nil {
		t.Error("no error")
	}
}
