package fidelity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
	"github.com/pkbgo/pkb/internal/fastjson"
)

// roundTrip decodes one resource through the generated union (which picks
// the concrete type by resourceType) and encodes it again.
type roundTrip func(src []byte) (resourceType string, out []byte, err error)

func stu3RoundTrip(src []byte) (string, []byte, error) {
	var rl stu3.ResourceList
	if err := json.Unmarshal(src, &rl); err != nil {
		return "", nil, err
	}
	rt, err := rl.Discriminator()
	if err != nil {
		return "", nil, err
	}
	v, err := rl.ValueByDiscriminator()
	if err != nil {
		return rt, nil, err
	}
	out, err := json.Marshal(v)
	return rt, out, err
}

func r4RoundTrip(src []byte) (string, []byte, error) {
	var rl r4.ResourceList
	if err := json.Unmarshal(src, &rl); err != nil {
		return "", nil, err
	}
	rt, err := rl.Discriminator()
	if err != nil {
		return "", nil, err
	}
	v, err := rl.ValueByDiscriminator()
	if err != nil {
		return rt, nil, err
	}
	out, err := json.Marshal(v)
	return rt, out, err
}

func TestRoundTripSTU3Examples(t *testing.T) {
	checkExamples(t, "stu3", stu3RoundTrip, 655, 117)
}

func TestRoundTripR4Examples(t *testing.T) {
	checkExamples(t, "r4", r4RoundTrip, 741, 140)
}

func checkExamples(t *testing.T, version string, rt roundTrip, wantFiles, wantTypes int) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "fhir", version, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != wantFiles {
		t.Fatalf("%d example files, want %d (testdata/fhir/%s is incomplete)", len(files), wantFiles, version)
	}
	types := map[string]bool{}
	passed := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		typ, out, err := rt(src)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		types[typ] = true
		diffs, err := Diff(src, out)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(diffs) > 0 {
			if len(diffs) > 5 {
				diffs = append(diffs[:5], "…")
			}
			t.Errorf("%s: %d differences after a round trip:\n  %s", name, len(diffs), strings.Join(diffs, "\n  "))
			continue
		}
		passed++
	}
	t.Logf("FHIR %s round trip: %d/%d files (%.1f%%), %d resource types", version, passed, len(files), 100*float64(passed)/float64(len(files)), len(types))
	if len(types) != wantTypes {
		t.Errorf("examples cover %d resource types, want %d", len(types), wantTypes)
	}
}

// TestFastJSONDecodesLikeEncodingJSON decodes every example resource into
// its concrete generated type with internal/fastjson and with encoding/json,
// and requires identical results, so the fast path can never read FHIR
// differently from the models' own decoder.
func TestFastJSONDecodesLikeEncodingJSON(t *testing.T) {
	for _, version := range []string{"stu3", "r4"} {
		files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "fhir", version, "*.json"))
		if len(files) == 0 {
			t.Fatalf("no %s examples", version)
		}
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var std any
			if version == "stu3" {
				var rl stu3.ResourceList
				if err := json.Unmarshal(src, &rl); err == nil {
					std, err = rl.ValueByDiscriminator()
				}
			} else {
				var rl r4.ResourceList
				if err := json.Unmarshal(src, &rl); err == nil {
					std, err = rl.ValueByDiscriminator()
				}
			}
			if std == nil {
				t.Fatalf("%s: no concrete type", f)
			}
			fast := reflect.New(reflect.TypeOf(std))
			if err := fastjson.Unmarshal(src, fast.Interface()); err != nil {
				t.Errorf("%s: fastjson: %v", filepath.Base(f), err)
				continue
			}
			a, _ := json.Marshal(std)
			b, _ := json.Marshal(fast.Elem().Interface())
			if string(a) != string(b) {
				d, _ := Diff(a, b)
				t.Errorf("%s: fastjson decodes differently: %v", filepath.Base(f), d)
			}
		}
	}
}
