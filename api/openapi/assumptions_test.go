package openapi_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pkbgo/pkb/internal/assumptions"
)

var reAssumptionWord = regexp.MustCompile(`\bASSUMPTION\b`)

// noteSite is one object whose description states ASSUMPTION, or that
// carries x-pkb-assumption entries.
type noteSite struct {
	where   string
	notes   int
	entries []map[string]any
}

// assumptionSites walks a document for descriptions and entries.
func assumptionSites(t *testing.T, file string) []noteSite {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []noteSite
	var walk func(n *yaml.Node, ptr string)
	walk = func(n *yaml.Node, ptr string) {
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for i, c := range n.Content {
				p := ptr
				if n.Kind == yaml.SequenceNode {
					p = fmt.Sprintf("%s/%d", ptr, i)
				}
				walk(c, p)
			}
		case yaml.MappingNode:
			site := noteSite{where: file + "#" + ptr}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i].Value, n.Content[i+1]
				switch k {
				case "description":
					site.notes = len(reAssumptionWord.FindAllString(v.Value, -1))
				case "x-pkb-assumption":
					if err := v.Decode(&site.entries); err != nil {
						t.Errorf("%s: x-pkb-assumption is not a list of entries: %v", site.where, err)
					}
					continue
				}
				walk(v, ptr+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
			}
			if site.notes > 0 || site.entries != nil {
				out = append(out, site)
			}
		}
	}
	walk(&root, "")
	return out
}

// assumptionProblems applies the convention of CONVENTIONS.md
// ("Assumptions") to documents: a description that says ASSUMPTION n times
// sits on an object with at least n x-pkb-assumption entries; each entry
// has a unique id and a probe or the reason it is untestable, or points at
// the entry that states its claim (see). It returns the problems and the
// ids found.
func assumptionProblems(t *testing.T, files []string) (problems []string, ids map[string]string, notes int) {
	t.Helper()
	ids = map[string]string{}
	var sees []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, file := range files {
		input := strings.HasSuffix(file, ".in.yaml") // copied into a generated document, counted there
		for _, s := range assumptionSites(t, file) {
			if !input {
				notes += s.notes
			}
			if s.notes > len(s.entries) {
				fail("%s: the description says ASSUMPTION %d times but there are %d x-pkb-assumption entries", s.where, s.notes, len(s.entries))
			}
			if s.notes == 0 {
				fail("%s: x-pkb-assumption entries on an object whose description states no ASSUMPTION", s.where)
			}
			for _, e := range s.entries {
				if see, ok := e["see"].(string); ok {
					sees = append(sees, see)
					continue
				}
				if input {
					continue
				}
				id, _ := e["id"].(string)
				if id == "" {
					fail("%s: an entry without id", s.where)
					continue
				}
				if prev, dup := ids[id]; dup {
					fail("%s: id %s is also used at %s", s.where, id, prev)
				}
				ids[id] = s.where
				_, probe := e["probe"]
				_, probes := e["probes"]
				reason, _ := e["untestable"].(string)
				switch {
				case !probe && !probes && strings.TrimSpace(reason) == "":
					fail("%s: %s has neither a probe nor an untestable reason", s.where, id)
				case (probe || probes) && reason != "":
					fail("%s: %s has a probe and an untestable reason", s.where, id)
				}
			}
		}
	}
	for _, see := range sees {
		if _, ok := ids[see]; !ok {
			fail("see %s names no entry", see)
		}
	}
	return problems, ids, notes
}

func TestEveryAssumptionHasAnEntry(t *testing.T) {
	problems, ids, notes := assumptionProblems(t, append(slices.Clone(families), "source/aggregated.in.yaml"))
	for _, p := range problems {
		t.Error(p)
	}
	table := map[string]bool{}
	testable := 0
	for _, a := range assumptions.All() {
		table[a.ID] = true
		if a.Testable() {
			testable++
		}
		if _, ok := ids[a.ID]; !ok {
			t.Errorf("internal/assumptions has %s, which no document declares: run make generate", a.ID)
		}
	}
	for id := range ids {
		if !table[id] {
			t.Errorf("%s is not in internal/assumptions: run make generate", id)
		}
	}
	if notes == 0 || len(ids) == 0 {
		t.Fatal("found no ASSUMPTION note or entry: the walk is broken")
	}
	t.Logf("%d ASSUMPTION notes; %d entries, %d of them testable", notes, len(ids), testable)
}

// TestAssumptionConventionCatches shows the check fails on each kind of
// mistake it is there for.
func TestAssumptionConventionCatches(t *testing.T) {
	doc := `paths:
  /a:
    get:
      description: "ASSUMPTION: one. ASSUMPTION: two."
      x-pkb-assumption:
        - {id: f.a.one, untestable: because}
  /b:
    get:
      description: "ASSUMPTION: three."
      x-pkb-assumption:
        - {id: f.a.one, kind: path, claim: no probe}
  /c:
    get:
      description: "ASSUMPTION: four."
      x-pkb-assumption:
        - {see: f.nowhere}
  /d:
    get:
      description: "Nothing assumed."
      x-pkb-assumption:
        - {id: f.d.x, untestable: because}
`
	file := t.TempDir() + "/doc.yaml"
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	problems, _, notes := assumptionProblems(t, []string{file})
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		"/paths/~1a/get: the description says ASSUMPTION 2 times but there are 1",
		"id f.a.one is also used",
		"f.a.one has neither a probe nor an untestable reason",
		"see f.nowhere names no entry",
		"/paths/~1d/get: x-pkb-assumption entries on an object whose description states no ASSUMPTION",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not report %q:\n%s", want, all)
		}
	}
	if notes != 4 {
		t.Errorf("notes = %d, want 4", notes)
	}
}
