package main

// Tests of the generated package gen/access (which, being generated, holds
// no hand-written files): the tables are read-only and the look-ups find
// what the documents declare.

import (
	"reflect"
	"slices"
	"testing"

	"github.com/pkbgo/pkb/gen/access"
)

func TestTablesAreReadOnly(t *testing.T) {
	ops, fams := access.Operations(), access.Families()
	wantOp, wantFam := ops[0], fams[0]
	wantOp.Grants, wantFam.ClientTypes = slices.Clone(wantOp.Grants), slices.Clone(wantFam.ClientTypes)

	// Rewrite everything a caller can reach.
	for _, o := range [][]access.Operation{ops, access.Operations()} {
		o[0].ID, o[0].Path = "x", "/evil"
		o[0].Grants[0] = "public"
		o[0].Grants = append(o[0].Grants, "public")
	}
	fams[0].EnvField = "x"
	fams[0].ClientTypes[0] = "tethered"
	if op, ok := access.Lookup(wantOp.Family, wantOp.ID); ok {
		op.Grants[0] = "public"
	}
	if op, ok := access.Find(wantOp.Family, wantOp.Interaction, wantOp.ResourceType); ok {
		op.Grants[0] = "public"
	}
	if f, ok := access.FamilyByID(wantFam.ID); ok {
		f.ClientTypes[0] = "tethered"
	}

	if got := access.Operations()[0]; !reflect.DeepEqual(got, wantOp) {
		t.Errorf("Operations()[0] = %+v after callers mutated copies; want %+v", got, wantOp)
	}
	if got, _ := access.Lookup(wantOp.Family, wantOp.ID); !reflect.DeepEqual(got, wantOp) {
		t.Errorf("Lookup = %+v after callers mutated copies; want %+v", got, wantOp)
	}
	if got := access.Families()[0]; got.EnvField != wantFam.EnvField || !slices.Equal(got.ClientTypes, wantFam.ClientTypes) {
		t.Errorf("Families()[0] = %+v after callers mutated copies; want %+v", got, wantFam)
	}
	if got, _ := access.FamilyByID(wantFam.ID); !slices.Equal(got.ClientTypes, wantFam.ClientTypes) {
		t.Errorf("FamilyByID = %+v after callers mutated copies; want %+v", got, wantFam)
	}
}

func TestFamilies(t *testing.T) {
	fams := access.Families()
	ids := make([]string, len(fams))
	for i, f := range fams {
		ids[i] = string(f.ID)
	}
	if !slices.IsSorted(ids) || len(ids) != 6 {
		t.Errorf("families %v: want the six families sorted by ID", ids)
	}
	want := map[access.Family]struct {
		version, env string
		clients      []string
	}{
		access.FamilyFacade:       {"stu3", "FacadeURL", []string{"system", "user"}},
		access.FamilyMessaging:    {"stu3", "MessagingURL", []string{"system"}},
		access.FamilyCustomerSTU3: {"stu3", "CustomerURLTemplate", []string{"customer"}},
		access.FamilyCustomerR4:   {"r4", "CustomerURLTemplate", []string{"customer"}},
		access.FamilyAggregated:   {"r4", "AggregatedURL", []string{"customer"}},
		access.FamilyRESTAPI:      {"", "RESTURL", []string{"user", "tethered"}},
	}
	for id, w := range want {
		f, ok := access.FamilyByID(id)
		if !ok {
			t.Errorf("FamilyByID(%s): not found", id)
			continue
		}
		if f.FHIRVersion != w.version || f.EnvField != w.env || !slices.Equal(f.ClientTypes, w.clients) || f.GoPackage == "" || f.Title == "" {
			t.Errorf("%s: %+v; want FHIR %q, env %s, client types %v", id, f, w.version, w.env, w.clients)
		}
	}
	if _, ok := access.FamilyByID("nope"); ok {
		t.Error("FamilyByID found an unknown family")
	}
	for _, o := range access.Operations() {
		f, ok := access.FamilyByID(o.Family)
		switch {
		case !ok:
			t.Errorf("%s.%s: family not in the family table", o.Family, o.ID)
		case (f.FHIRVersion == "") != (o.Interaction == ""):
			t.Errorf("%s.%s: interaction %q in a family of FHIR version %q", o.Family, o.ID, o.Interaction, f.FHIRVersion)
		}
	}
}

func TestLookupAndFind(t *testing.T) {
	if op, ok := access.Lookup(access.FamilyFacade, "readPatient"); !ok || op.Path != "/Patient/{id}" || op.Interaction != access.InteractionRead || op.ResourceType != "Patient" {
		t.Errorf("Lookup(facade, readPatient) = %+v, %t", op, ok)
	}
	if _, ok := access.Lookup(access.FamilyAggregated, "patientStatusQuery"); ok {
		t.Error("Lookup found a Facade operation in the Aggregated family")
	}
	cases := []struct {
		f                  access.Family
		interaction, type_ string
		want               string // operationId, "" for none
	}{
		{access.FamilyFacade, access.InteractionRead, "Patient", "readPatient"}, // exact type
		{access.FamilyFacade, access.InteractionRead, "Observation", ""},        // Facade has no Observation read, and no generic one
		{access.FamilyAggregated, access.InteractionRead, "Observation", "readObservation"},
		{access.FamilyCustomerR4, access.InteractionRead, "Patient", "read"}, // the generic operation
		{access.FamilyCustomerSTU3, access.InteractionVRead, "Observation", "vread"},
		{access.FamilyCustomerSTU3, access.InteractionSearchType, "Patient", "search"}, // GET before POST _search
		{access.FamilyCustomerR4, access.InteractionBatchTransaction, "", "transaction"},
		{access.FamilyCustomerR4, access.InteractionCapabilities, "", "capabilities"},
		{access.FamilyCustomerR4, access.InteractionRead, "", ""}, // "" is whole-system, never the generic one
		{access.FamilyFacade, access.InteractionCapabilities, "", "capabilities"},
		{access.FamilyFacade, access.InteractionOperation, "", "purview"},
		{access.FamilyMessaging, access.InteractionOperation, "Patient", "patientProcessMessage"},
		{access.FamilyMessaging, access.InteractionOperation, "", "processMessageAsync"},
		{access.FamilyRESTAPI, "", "", ""}, // the REST API has no FHIR interactions
	}
	for _, c := range cases {
		op, ok := access.Find(c.f, c.interaction, c.type_)
		if ok != (c.want != "") || op.ID != c.want {
			t.Errorf("Find(%s, %q, %q) = %s, %t; want %q", c.f, c.interaction, c.type_, op.ID, ok, c.want)
		}
	}
}
