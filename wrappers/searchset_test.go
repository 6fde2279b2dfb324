package wrappers

import (
	"context"
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
