package pkbtest_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkbgo/pkb/internal/assumptions"
	"github.com/pkbgo/pkb/internal/verify"
	"github.com/pkbgo/pkb/pkbtest"
)

// runVerify runs every probe a client of the kind can run (writes
// allowed) against s.
func runVerify(t *testing.T, s *pkbtest.Simulator, kind simClient, opts verify.Options) *verify.Report {
	t.Helper()
	c := callerFor(t, s, kind)
	opts.Values = simValues(kind)
	opts.AllowWrites = true
	rep, err := verify.Run(context.Background(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestVerifyPlainSimulator: against the simulator, which follows the
// documents, every probe a client can run confirms its assumption, every
// testable assumption is confirmed by some client type, no answer breaks
// the documents, and no output holds a seeded identifier or name.
func TestVerifyPlainSimulator(t *testing.T) {
	s := newSim(t)
	seedCustomerPatients(t, callerFor(t, s, simClientKinds[1]))
	confirmedBy := map[string][]string{}
	phi := phiStrings(s)
	for _, kind := range simClientKinds {
		start := time.Now()
		rep := runVerify(t, s, kind, verify.Options{})
		t.Logf("%-15s %3d calls, %v wall: %d confirmed, %d not testable, %d drift", kind.name, rep.Calls, time.Since(start).Round(time.Millisecond),
			rep.Summary.Confirmed, rep.Summary.NotTestable, rep.Summary.Drift)
		for _, r := range rep.Results {
			switch r.Outcome {
			case verify.Confirmed:
				confirmedBy[r.ID] = append(confirmedBy[r.ID], kind.name)
			case verify.NotTestable:
				// Only for a reason that is about the client, never a
				// missing value or an undiscoverable one.
				if !strings.Contains(r.Reason, "not testable with a") && !strings.HasPrefix(r.Reason, "untestable:") && !strings.Contains(r.Reason, "endpoint configured") {
					t.Errorf("%s: %s", kind.name, describeResult(r))
				}
			default:
				t.Errorf("%s: %s", kind.name, describeResult(r))
			}
		}
		for _, d := range rep.Drift {
			if d.Breaking {
				t.Errorf("%s: drift %s.%s %d %s %s: %s", kind.name, d.Family, d.Operation, d.Status, d.Kind, d.Path, d.Detail)
			}
		}
		checkNoPHI(t, kind.name, rep, phi)
	}
	testable := 0
	for _, a := range assumptions.All() {
		if !a.Testable() {
			continue
		}
		testable++
		if len(confirmedBy[a.ID]) == 0 {
			t.Errorf("%s: confirmed by no client type", a.ID)
		}
	}
	t.Logf("%d of %d testable assumptions confirmed by at least one client type", len(confirmedBy), testable)
}

// checkNoPHI renders the report as text, JSON and JUnit, and the patches
// Suggest makes of it, and fails on any seeded identifier or name in them.
func checkNoPHI(t *testing.T, who string, rep *verify.Report, phi []string) {
	t.Helper()
	var out bytes.Buffer
	if err := verify.WriteText(&out, rep, true); err != nil {
		t.Fatal(err)
	}
	if err := verify.WriteJSON(&out, rep); err != nil {
		t.Fatal(err)
	}
	if err := verify.WriteJUnit(&out, rep); err != nil {
		t.Fatal(err)
	}
	if err := verify.WritePatches(&out, verify.Suggest(rep)); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, v := range phi {
		if v == "" {
			continue
		}
		if regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(text) {
			t.Errorf("%s: the outputs hold the seeded value %q", who, v)
		}
	}
}

// clientsFor are the kinds of client that can run an assumption's probes.
func clientsFor(a assumptions.Assumption) []simClient {
	var out []simClient
	for _, kind := range simClientKinds {
		for _, p := range a.Probes {
			fam := p.Request.Family
			reach := map[string][]string{"system": {"facade", "messaging"}, "customer": {"customer-stu3", "customer-r4", "aggregated"},
				"user": {"facade", "restapi"}, "tethered": {"restapi"}}[kind.typ]
			if slices.Contains(reach, string(fam)) && (slices.Contains(p.Clients, kind.grant) || slices.Contains(p.Clients, "public")) {
				out = append(out, kind)
				break
			}
		}
	}
	return out
}

func TestWithDeviationsRefuses(t *testing.T) {
	for _, ids := range [][]string{{"facade.no-such-thing"}, {"customer-r4.production-host"}} {
		if _, err := pkbtest.NewSimulator(pkbtest.WithDeviations(ids...)); err == nil {
			t.Errorf("WithDeviations(%q) was accepted", ids)
		}
	}
}

// TestEveryTestableAssumptionHasADeviation: the deviation check covers
// every assumption a probe can test.
func TestEveryTestableAssumptionHasADeviation(t *testing.T) {
	have := pkbtest.Deviations()
	for _, a := range assumptions.All() {
		if a.Testable() && !slices.Contains(have, a.ID) {
			t.Errorf("%s is testable but the simulator cannot deviate from it", a.ID)
		}
	}
}

// TestVerifyDeviations is the deviation check: with the simulator
// deviating from one assumption, every client type that can test it
// reports that assumption, and no other, contradicted, and Suggest proposes
// a patch that applies to the assumption's document (checked against the
// patch the deviation implies where the table names an alternative).
func TestVerifyDeviations(t *testing.T) {
	ids := pkbtest.Deviations()
	flipped := 0
	for _, id := range ids {
		a, _ := assumptions.ByID(id)
		ok := t.Run(id, func(t *testing.T) {
			s := pkbtest.NewServer(t, pkbtest.WithDeviations(id))
			kinds := clientsFor(a)
			if len(kinds) == 0 {
				t.Fatal("no client type can test it")
			}
			for _, kind := range kinds {
				if kind.typ == "customer" {
					seedCustomerPatients(t, callerFor(t, s, kind))
				}
				rep := runVerify(t, s, kind, verify.Options{NoDrift: true})
				var contradicted []string
				var own *verify.Result
				for i, r := range rep.Results {
					if r.Outcome == verify.Contradicted {
						contradicted = append(contradicted, r.ID)
					}
					if r.ID == id {
						own = &rep.Results[i]
					}
				}
				switch {
				case own == nil:
					t.Fatalf("%s: no result for %s", kind.name, id)
				case own.Outcome != verify.Contradicted:
					t.Errorf("%s: %s", kind.name, describeResult(*own))
				}
				if len(contradicted) != 1 {
					t.Errorf("%s: contradicted %v, want only %s", kind.name, contradicted, id)
				}
				checkPatch(t, kind.name, id, verify.Suggest(rep))
			}
		})
		if ok {
			flipped++
		}
	}
	t.Logf("deviation check: %d/%d testable assumptions flip exactly themselves", flipped, len(ids))
}

// checkPatch checks that Suggest proposed one patch, for id, whose edits
// apply to its document.
func checkPatch(t *testing.T, who, id string, patches []verify.Patch) {
	t.Helper()
	if len(patches) != 1 || patches[0].Assumption != id {
		t.Errorf("%s: %d patches, want one for %s", who, len(patches), id)
		return
	}
	p := patches[0]
	if len(p.Edits) == 0 {
		t.Errorf("%s: the patch has no edit: %s", who, p.Reason)
		return
	}
	doc, err := os.ReadFile("../" + p.File)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.ApplyPatch(doc, p.Edits); err != nil {
		t.Errorf("%s: the patch does not apply to %s: %v", who, p.File, err)
	}
	if want, ok := wantPatches[id]; ok {
		got := describeEdits(p.Edits)
		if got != want {
			t.Errorf("%s: patch\n  %s\nwant\n  %s", who, got, want)
		}
	}
}

func describeEdits(es []verify.Edit) string {
	var parts []string
	for _, e := range es {
		s := e.Op + " " + e.Path
		if e.From != "" {
			s = e.Op + " " + e.From + " -> " + e.Path
		}
		if len(e.Value) > 0 {
			s += " = " + string(e.Value)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// wantPatches are the patches the deviations imply, for one assumption of
// each way a patch is made.
var wantPatches = map[string]string{
	// A route alternative that the document already declares.
	"facade.purview.path": "remove /paths/~1$purview/get",
	// A route alternative at a new path.
	"facade.date-of-last-data-point.path": "move /paths/~1Patient~1$date-of-last-data-point -> /paths/~1$date-of-last-data-point",
	// A method alternative.
	"restapi.record-access-token.path": "move /paths/~1v1~1users~1{userId}~1recordAccessToken/get -> /paths/~1v1~1users~1{userId}~1recordAccessToken/post",
	// An access rule.
	"facade.purview.clinician": `replace /paths/~1$purview/get/x-pkb-access = ["user:PATIENT","system"]`,
	// A status.
	"messaging.process-message.status": "copy /paths/~1Patient~1$process-message/post/responses/200 -> /paths/~1Patient~1$process-message/post/responses/201",
	// A renamed field.
	"restapi.measurement.apiRef": "move /components/schemas/Measurement/properties/apiRef -> /components/schemas/Measurement/properties/type",
	// A field of another JSON type.
	"restapi.measurement.value": `add /components/schemas/Measurement/properties/value/type = "number"`,
	// Another media type.
	"restapi.btg-token.shape": `move /paths/~1v2~1consents~1BTG~1{patientId}/post/responses/200/content/application~1json -> /paths/~1v2~1consents~1BTG~1{patientId}/post/responses/200/content/text~1plain; replace /paths/~1v2~1consents~1BTG~1{patientId}/post/responses/200/content/text~1plain/schema = {"type":"string"}`,
	// Another resource type.
	"messaging.process-message.body": `replace /paths/~1Patient~1$process-message/post/responses/200/content/application~1fhir+json/schema = {"$ref":"fhir-stu3.json#/components/schemas/Parameters"}`,
	// A request alternative of a generated document: the patch is to its input.
	"aggregated.Invoice.selector": `replace /types/22/selector = "patient:Patient.identifier"`,
	// A parameter with another name.
	"restapi.btg.user-id": `replace /paths/~1v2~1consents~1BTG~1{patientId}/post/parameters/1/name = "userID"`,
}
