package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	r3pb "github.com/google/fhir/go/proto/google/fhir/proto/stu3/resources_go_proto"

	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/wrappers"
)

// entries is the size of the searchset Bundle every implementation decodes.
const entries = 1000

var fixture = sync.OnceValue(func() []byte { return ObservationBundle(entries) })

// Each decoder takes the raw Bundle and returns every Observation in it, fully
// decoded: that is the work a caller of a search does before it can read the
// results, so the three implementations do the same work.

// decodePKBGo is the typed path with pkb-go's generated models: unmarshal the
// Bundle (entry resources stay raw JSON in the ResourceList union), then
// decode each entry into stu3.Observation.
func decodePKBGo(data []byte) ([]stu3.Observation, error) {
	var b stu3.Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	obs := make([]stu3.Observation, 0, len(b.Entry))
	for i := range b.Entry {
		r := b.Entry[i].Resource
		if r == nil {
			continue
		}
		o, err := r.AsObservation()
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if o.ResourceType != stu3.ObservationResourceTypeObservation {
			continue
		}
		obs = append(obs, o)
	}
	return obs, nil
}

// decodePage is pkb-go's single-pass typed path for a one-type search,
// the one its pagers use: wrappers.DecodePage decodes each match once,
// into stu3.Observation (included resources would stay raw JSON).
func decodePage(data []byte) ([]*stu3.Observation, error) {
	page, err := wrappers.DecodePage[stu3.Observation](nil, &http.Response{Body: io.NopCloser(bytes.NewReader(data))})
	if err != nil {
		return nil, err
	}
	return page.Matches, nil
}

// decodeMap is the untyped baseline: encoding/json into map[string]any.
func decodeMap(data []byte) ([]map[string]any, error) {
	var b map[string]any
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	list, _ := b["entry"].([]any)
	obs := make([]map[string]any, 0, len(list))
	for i, e := range list {
		entry, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("entry %d: not an object", i)
		}
		r, _ := entry["resource"].(map[string]any)
		if r == nil || r["resourceType"] != "Observation" {
			continue
		}
		obs = append(obs, r)
	}
	return obs, nil
}

// newGoogleFHIR returns google/fhir's STU3 unmarshaller (with its default
// validation). It is created once, outside the timed loop.
func newGoogleFHIR() (*jsonformat.Unmarshaller, error) {
	return jsonformat.NewUnmarshaller("UTC", fhirversion.STU3)
}

// decodeGoogleFHIR is github.com/google/fhir/go: JSON into the STU3
// ContainedResource proto, then the Observations out of its Bundle.
func decodeGoogleFHIR(u *jsonformat.Unmarshaller, data []byte) ([]*r3pb.Observation, error) {
	msg, err := u.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	cr, ok := msg.(*r3pb.ContainedResource)
	if !ok {
		return nil, fmt.Errorf("got %T, want *ContainedResource", msg)
	}
	b := cr.GetBundle()
	if b == nil {
		return nil, fmt.Errorf("contained resource is not a Bundle")
	}
	obs := make([]*r3pb.Observation, 0, len(b.GetEntry()))
	for _, e := range b.GetEntry() {
		if o := e.GetResource().GetObservation(); o != nil {
			obs = append(obs, o)
		}
	}
	return obs, nil
}

// summary is what the equivalence test compares across implementations.
type summary struct {
	id, subject, loinc, value, unit string
}

func summarizePKBGo(obs []stu3.Observation) []summary {
	out := make([]summary, len(obs))
	for i, o := range obs {
		s := summary{id: o.Id}
		if o.Subject != nil {
			s.subject = o.Subject.Reference
		}
		if o.Code != nil && len(o.Code.Coding) > 0 {
			s.loinc = o.Code.Coding[0].Code
		}
		if q := o.ValueQuantity; q != nil {
			s.value, s.unit = q.Value.String(), q.Code
		}
		out[i] = s
	}
	return out
}

// summarizeMap returns the value as encoding/json decoded it (float64)
// formatted with the shortest representation, so "72.50" comes back as "72.5".
func summarizeMap(obs []map[string]any) []summary {
	out := make([]summary, len(obs))
	for i, o := range obs {
		s := summary{}
		s.id, _ = o["id"].(string)
		if subj, ok := o["subject"].(map[string]any); ok {
			s.subject, _ = subj["reference"].(string)
		}
		if code, ok := o["code"].(map[string]any); ok {
			if cs, ok := code["coding"].([]any); ok && len(cs) > 0 {
				if c, ok := cs[0].(map[string]any); ok {
					s.loinc, _ = c["code"].(string)
				}
			}
		}
		if q, ok := o["valueQuantity"].(map[string]any); ok {
			if f, ok := q["value"].(float64); ok {
				s.value = strconv.FormatFloat(f, 'f', -1, 64)
			}
			s.unit, _ = q["code"].(string)
		}
		out[i] = s
	}
	return out
}

func summarizeGoogleFHIR(obs []*r3pb.Observation) []summary {
	out := make([]summary, len(obs))
	for i, o := range obs {
		s := summary{id: o.GetId().GetValue()}
		if pid := o.GetSubject().GetPatientId(); pid != nil {
			// google/fhir splits typed references into their parts.
			s.subject = "Patient/" + pid.GetValue()
		}
		if cs := o.GetCode().GetCoding(); len(cs) > 0 {
			s.loinc = cs[0].GetCode().GetValue()
		}
		if q := o.GetValue().GetQuantity(); q != nil {
			s.value, s.unit = q.GetValue().GetValue(), q.GetCode().GetValue()
		}
		out[i] = s
	}
	return out
}

// sameNumber reports whether two decimal strings denote the same float64.
func sameNumber(a, b string) bool {
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	return errA == nil && errB == nil && fa == fb
}

// TestImplementationsAgree checks that every implementation finds the same
// 1,000 Observations in the fixture, so the benchmarks compare equal work.
func TestImplementationsAgree(t *testing.T) {
	data := fixture()
	if n := len(data); n < 800_000 || n > 1_400_000 {
		t.Errorf("fixture is %d bytes, want about 1 MB", n)
	}
	if string(ObservationBundle(entries)) != string(data) {
		t.Fatal("fixture is not deterministic")
	}

	typed, err := decodePKBGo(data)
	if err != nil {
		t.Fatalf("pkbgo: %v", err)
	}
	single, err := decodePage(data)
	if err != nil || len(single) != len(typed) || single[0].Id != typed[0].Id || single[len(single)-1].Id != typed[len(typed)-1].Id ||
		single[0].ValueQuantity.Value != typed[0].ValueQuantity.Value {
		t.Fatalf("pkbgo-page disagrees with pkbgo: %d observations, %v", len(single), err)
	}
	untyped, err := decodeMap(data)
	if err != nil {
		t.Fatalf("map: %v", err)
	}
	u, err := newGoogleFHIR()
	if err != nil {
		t.Fatal(err)
	}
	protos, err := decodeGoogleFHIR(u, data)
	if err != nil {
		t.Fatalf("googlefhir: %v", err)
	}

	got := map[string][]summary{
		"pkbgo":      summarizePKBGo(typed),
		"map":        summarizeMap(untyped),
		"googlefhir": summarizeGoogleFHIR(protos),
	}
	for impl, s := range got {
		if len(s) != entries {
			t.Fatalf("%s: %d observations, want %d", impl, len(s), entries)
		}
		if s[0].id != "obs-000001" || s[entries-1].id != "obs-001000" {
			t.Errorf("%s: first/last id = %q/%q, want obs-000001/obs-001000", impl, s[0].id, s[entries-1].id)
		}
		t.Logf("%-10s first %+v last %+v", impl, s[0], s[entries-1])
	}

	want := got["pkbgo"]
	trailingZeros := 0
	for i, w := range want {
		if w.id == "" || w.subject != "Patient/pat-0042" || w.loinc == "" || w.value == "" || w.unit == "" {
			t.Fatalf("pkbgo: observation %d incompletely decoded: %+v", i, w)
		}
		if w.value[len(w.value)-1] == '0' && len(w.value) > 2 {
			trailingZeros++
		}
		// The decimal text is preserved exactly by pkbgo (json.Number) and
		// google/fhir (Decimal.value); the map holds a float64.
		if g := got["googlefhir"][i]; g != w {
			t.Errorf("observation %d: googlefhir %+v, pkbgo %+v", i, g, w)
		}
		m := got["map"][i]
		if !sameNumber(m.value, w.value) {
			t.Errorf("observation %d: map value %s, pkbgo %s", i, m.value, w.value)
		}
		m.value = w.value
		if m != w {
			t.Errorf("observation %d: map %+v, pkbgo %+v", i, m, w)
		}
	}
	if trailingZeros == 0 {
		t.Error("fixture has no decimal with a trailing zero (like 72.50)")
	}
}

// BenchmarkDecodeObservationBundle decodes one 1,000-entry STU3 Observation
// searchset Bundle (about 1 MB) and collects every Observation. Compare the
// implementations with: benchstat -col /impl.
func BenchmarkDecodeObservationBundle(b *testing.B) {
	data := fixture()

	b.Run("impl=pkbgo", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			obs, err := decodePKBGo(data)
			if err != nil || len(obs) != entries {
				b.Fatalf("got %d observations, err %v", len(obs), err)
			}
		}
	})

	b.Run("impl=pkbgo-page", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			obs, err := decodePage(data)
			if err != nil || len(obs) != entries {
				b.Fatalf("got %d observations, err %v", len(obs), err)
			}
		}
	})

	b.Run("impl=map", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			obs, err := decodeMap(data)
			if err != nil || len(obs) != entries {
				b.Fatalf("got %d observations, err %v", len(obs), err)
			}
		}
	})

	b.Run("impl=googlefhir", func(b *testing.B) {
		u, err := newGoogleFHIR()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			obs, err := decodeGoogleFHIR(u, data)
			if err != nil || len(obs) != entries {
				b.Fatalf("got %d observations, err %v", len(obs), err)
			}
		}
	})
}
