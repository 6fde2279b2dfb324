package pkb_test

// The README's table of the eight tasks counts the lines a user writes
// without package pkb, with the generated clients (Gen) and the wrappers
// pager, beside the Examples of this package. The "before" code is here so
// that it compiles against the current generated clients: the counts are
// of code that builds. TestTaskCounts keeps the table honest.

import (
	"context"
	"crypto/rand"
	"fmt"
	"go/doc"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	customerr4 "github.com/pkbgo/pkb/gen/customer/r4"
	"github.com/pkbgo/pkb/gen/facade"
	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/gen/restapi"
	"github.com/pkbgo/pkb/search"
	"github.com/pkbgo/pkb/wrappers"
)

func beforeTasks(ctx context.Context, sys *wrappers.SystemClient, cust *wrappers.CustomerSystemClient, rest *wrappers.TetheredClient,
	nhs, id string, newPatient stu3.Patient, obs r4.Observation, patient r4.Patient) error {
	// task 1 begin
	resp, err := sys.Facade.Gen.SearchPatientWithResponse(ctx, &facade.SearchPatientParams{Identifier: search.NHSNumber(nhs).String()})
	if err != nil {
		return err
	}
	for _, e := range resp.ApplicationfhirJSON200.Entry {
		p, err := e.Resource.AsPatient()
		if err != nil {
			return err
		}
		fmt.Println(p.Id)
	}
	// task 1 end

	// task 2 begin
	page, err := wrappers.FirstPage[stu3.Observation](ctx, sys.Facade.Family(), &wrappers.Call{Operation: "searchObservation", Query: url.Values{
		"patient":  {"Patient/" + id},
		"category": {search.Code("http://fhir.patientsknowbest.com/codesystem/observation-category", "LABORATORY").String()},
		"date":     search.Between(search.MustParseDate("2025"), search.MustParseDate("2026")),
	}})
	if err != nil {
		return err
	}
	for o, err := range page.All(ctx) {
		if err != nil {
			return err
		}
		fmt.Println(o.Id)
	}
	// task 2 end

	// task 3 begin
	read, err := cust.CustomerR4.Gen.ReadWithResponse(ctx, "Patient", id, &customerr4.ReadParams{})
	if err != nil {
		return err
	}
	p, err := read.ApplicationfhirJSON200.AsPatient()
	if err != nil {
		return err
	}
	p.BirthDate = "1970-04-01"
	var body r4.ResourceList
	if err := body.FromPatient(p); err != nil {
		return err
	}
	ifMatch := `W/"` + p.Meta.VersionId + `"`
	upd, err := cust.CustomerR4.Gen.UpdateWithApplicationFhirPlusJSONBodyWithResponse(ctx, "Patient", id, &customerr4.UpdateParams{IfMatch: &ifMatch}, body)
	if err != nil {
		return err
	}
	stored := upd.ApplicationfhirJSON200
	if stored == nil {
		stored = upd.ApplicationfhirJSON201
	}
	p, err = stored.AsPatient()
	if err != nil {
		return err
	}
	// task 3 end

	// task 4 begin
	var obsBody r4.ResourceList
	if err := obsBody.FromObservation(obs); err != nil {
		return err
	}
	cond := "identifier=https://lab.example.org/result|r-123"
	created, err := cust.CustomerR4.Gen.CreateWithApplicationFhirPlusJSONBodyWithResponse(ctx, "Observation", &customerr4.CreateParams{IfNoneExist: &cond}, obsBody)
	if err != nil {
		return err
	}
	res := created.ApplicationfhirJSON201
	if res == nil {
		res = created.ApplicationfhirJSON200
	}
	o, err := res.AsObservation()
	if err != nil {
		return err
	}
	// task 4 end

	// task 5 begin
	var u [16]byte
	rand.Read(u[:])
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
	fullURL := fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
	var pEntry, oEntry r4.ResourceList
	if err := pEntry.FromPatient(patient); err != nil {
		return err
	}
	obs.Subject = &r4.Reference{Reference: fullURL}
	if err := oEntry.FromObservation(obs); err != nil {
		return err
	}
	tx, err := cust.CustomerR4.Gen.TransactionWithApplicationFhirPlusJSONBodyWithResponse(ctx, &customerr4.TransactionParams{}, r4.Bundle{
		ResourceType: "Bundle", Type: r4.BundleTypeTransaction, Entry: []r4.BundleEntry{
			{FullUrl: fullURL, Resource: &pEntry, Request: &r4.BundleRequest{Method: r4.BundleRequestMethodPOST, Url: "Patient"}},
			{Resource: &oEntry, Request: &r4.BundleRequest{Method: r4.BundleRequestMethodPOST, Url: "Observation"}},
		}})
	if err != nil {
		return err
	}
	entries := tx.ApplicationfhirJSON200.Entry
	if len(entries) != 2 {
		return fmt.Errorf("%d entries answered", len(entries))
	}
	o, err = entries[1].Resource.AsObservation()
	if err != nil {
		return err
	}
	fmt.Println(entries[0].Response.Status, entries[0].Response.Location, o.Subject.Reference)
	// task 5 end

	// task 6 begin
	pm, err := sys.Messaging.Gen.PatientProcessMessageWithApplicationFhirPlusJSONBodyWithResponse(ctx, newPatient)
	if err != nil {
		return err
	}
	sp, err := pm.ApplicationfhirJSON200.AsExternalRef0Patient()
	if err != nil {
		return err
	}
	fmt.Println(sp.Id)
	// task 6 end

	// task 7 begin
	sr, err := cust.CustomerR4.Gen.SearchWithResponse(ctx, "Observation", &customerr4.SearchParams{Include: []string{"Observation:subject"}},
		search.Editor(url.Values{"subject": {"Patient/" + id}}))
	if err != nil {
		return err
	}
	included := map[string]r4.Patient{}
	for _, e := range sr.ApplicationfhirJSON200.Entry {
		if e.Search != nil && e.Search.Mode == r4.BundleSearchModeInclude {
			if ip, err := e.Resource.AsPatient(); err == nil {
				included["Patient/"+ip.Id] = ip
			}
		}
	}
	for _, e := range sr.ApplicationfhirJSON200.Entry {
		if e.Search == nil || e.Search.Mode == r4.BundleSearchModeMatch {
			m, err := e.Resource.AsObservation()
			if err != nil {
				return err
			}
			fmt.Println(m.Id, included[m.Subject.Reference].Name[0].Family)
		}
	}
	// task 7 end

	// task 8 begin
	ms, err := rest.REST.Gen.ListPatientMeasurementsWithResponse(ctx, id, &restapi.ListPatientMeasurementsParams{APIRefs: []string{"bloodPressureSystolic"}})
	if err != nil {
		return err
	}
	for _, m := range *ms.JSON200 {
		fmt.Println(*m.APIRef, *m.Value)
	}
	// task 8 end
	return nil
}

var _ = beforeTasks

// taskLines counts, per task, the lines between "// task N begin" and
// "// task N end" of file (the code a user writes for the task; in
// example_test.go inside the task's Example), without blank lines,
// comments, the lines that print the result and error checks (if err !=
// nil { ... }, which the TypeScript column does not have).
func taskLines(t *testing.T, file string) map[int]int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	task, inErr := 0, 0
	begin := regexp.MustCompile(`^// task (\d) begin$`)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if m := begin.FindStringSubmatch(line); m != nil {
			task = int(m[1][0] - '0')
			continue
		}
		if strings.HasPrefix(line, "// task ") && strings.HasSuffix(line, " end") {
			task = 0
			continue
		}
		switch {
		case task == 0 || line == "" || strings.HasPrefix(line, "//") || strings.HasPrefix(line, "fmt.Println("):
		case inErr > 0:
			inErr += strings.Count(line, "{") - strings.Count(line, "}")
		case strings.HasPrefix(line, "if err != nil {") || strings.HasPrefix(line, "if err := ") && strings.HasSuffix(line, "; err != nil {"):
			if strings.HasPrefix(line, "if err := ") {
				counts[task]++ // the call itself is a line of the task
			}
			inErr = 1
		default:
			counts[task]++
		}
	}
	return counts
}

// medplumLines counts, per task, the lines of the README's Medplum block
// (the TypeScript after "// N" up to the next marker) by the same rules
// as taskLines: no blank lines, comments or lines that print the result.
func medplumLines(t *testing.T, readme string) map[int]int {
	t.Helper()
	start := strings.Index(readme, "<summary>The Medplum column, as counted</summary>")
	if start < 0 {
		t.Fatal("README: no Medplum block")
	}
	block := readme[start:]
	block = block[strings.Index(block, "```ts\n")+len("```ts\n"):]
	block = block[:strings.Index(block, "```")]
	counts := map[int]int{}
	task := 0
	marker := regexp.MustCompile(`^// (\d)$`)
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if m := marker.FindStringSubmatch(line); m != nil {
			task = int(m[1][0] - '0')
			continue
		}
		if task == 0 || line == "" || strings.HasPrefix(line, "//") || strings.HasPrefix(line, "console.log(") {
			continue
		}
		counts[task]++
	}
	return counts
}

// TestTaskCounts counts the lines of each task before, after and in
// Medplum's TypeScript (go test -run TestTaskCounts -v), checks that the
// README's table says the same, and holds issue 13's target: no task
// longer than Medplum's.
func TestTaskCounts(t *testing.T) {
	before := taskLines(t, "tasks_before_test.go")
	after := taskLines(t, "example_test.go")
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	medplum := medplumLines(t, string(readme))
	row := regexp.MustCompile(`(?m)^\| (\d) \| [^|]+ \| (\d+) \| (\d+) \| (\d+) \|`)
	table := map[int][3]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		table[int(m[1][0]-'0')] = [3]string{m[2], m[3], m[4]}
	}
	for task := 1; task <= 8; task++ {
		t.Logf("task %d: before %d, after %d, Medplum %d", task, before[task], after[task], medplum[task])
		if after[task] == 0 || before[task] == 0 || medplum[task] == 0 {
			t.Errorf("task %d: no lines counted", task)
		}
		if want := [3]string{fmt.Sprint(before[task]), fmt.Sprint(after[task]), fmt.Sprint(medplum[task])}; table[task] != want {
			t.Errorf("README task %d: before/after/Medplum %v, counted %v", task, table[task], want)
		}
		if after[task] > medplum[task] {
			t.Errorf("task %d: %d lines, longer than Medplum's %d", task, after[task], medplum[task])
		}
	}
}

// TestExamplesRun holds that every Example of the guide (example_test.go)
// and of package message is run by go test: an Example whose "// Output:"
// shares a comment group with the comment above it is only compiled, and
// then its output is checked by nothing.
func TestExamplesRun(t *testing.T) {
	for _, file := range []string{"example_test.go", "message/example_test.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		exs := doc.Examples(f)
		if len(exs) == 0 {
			t.Fatalf("%s: no examples", file)
		}
		for _, ex := range exs {
			if ex.Output == "" && !ex.EmptyOutput {
				t.Errorf("%s: Example%s has no output comment go test finds, so it is not run", file, ex.Name)
			}
		}
	}
}
