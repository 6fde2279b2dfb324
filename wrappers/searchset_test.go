package wrappers

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

func TestDecodeSearchSet(t *testing.T) {
	srv, _ := pagedServer(t, 2, 3, nil)
	c, _ := NewSystemClient(&fakeSource{ct: authn.ClientSystem}, orgID, WithEnvironment(loopbackEnv(srv.URL)))
	resp, err := c.Facade.SearchObservation(context.Background(), &facade.SearchObservationParams{Patient: "p1", Category: "c"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := DecodeSearchSetResponse[stu3.Observation](resp)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Resources) != 3 || set.Skipped != 1 || *set.Total != 6 || !strings.Contains(set.Next, "_getpages=2") {
		t.Errorf("%d resources, %d skipped, total %v, next %q", len(set.Resources), set.Skipped, set.Total, set.Next)
	}
	if set.Resources[0].Id != "o1-0" || set.Resources[0].ValueQuantity.Value.String() != "72.50" {
		t.Errorf("first resource %+v", set.Resources[0])
	}
	if _, err := DecodeSearchSet[stu3.Patient](strings.NewReader(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation"}}]}`)); err == nil {
		t.Error("an Observation decoded as a Patient")
	}
	if _, err := DecodeSearchSet[stu3.Patient](strings.NewReader(`{"resourceType":"OperationOutcome"}`)); err == nil {
		t.Error("an OperationOutcome decoded as a searchset")
	}
	if _, err := DecodeSearchSet[stu3.Patient](strings.NewReader(`{"resourceType":"Bundle","entry":[`)); err == nil {
		t.Error("a truncated body decoded")
	}
}

// BenchmarkDecodeSearchSet decodes a page of 1,000 Observations held in
// memory, as DecodeSearchSetResponse would from a response body.
func BenchmarkDecodeSearchSet(b *testing.B) {
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
		set, err := DecodeSearchSet[stu3.Observation](bytes.NewReader(body))
		if err != nil || len(set.Resources) != 1000 {
			b.Fatal(err)
		}
	}
}
