package main

// Tests of the generated resource.gen.go files in gen/fhir (which, being
// generated, hold no hand-written files): every member of each model
// document's ResourceList implements Resource and round-trips StampType,
// DeclaredType and Identity.

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"

	"github.com/pkbgo/pkb/gen/fhir/r4"
	"github.com/pkbgo/pkb/gen/fhir/stu3"
)

// typed is what the pointer to a resource model implements.
type typed interface {
	DeclaredType() string
	StampType()
	Identity() (id, versionID string)
}

func TestEveryResourceImplementsResource(t *testing.T) {
	t.Run("stu3", func(t *testing.T) {
		checkRelease[stu3.Version, stu3.Resource](t, "stu3", func(b []byte) (any, error) {
			var u stu3.ResourceList
			if err := json.Unmarshal(b, &u); err != nil {
				return nil, err
			}
			return u.ValueByDiscriminator()
		})
	})
	t.Run("r4", func(t *testing.T) {
		checkRelease[r4.Version, r4.Resource](t, "r4", func(b []byte) (any, error) {
			var u r4.ResourceList
			if err := json.Unmarshal(b, &u); err != nil {
				return nil, err
			}
			return u.ValueByDiscriminator()
		})
	})
}

// checkRelease walks the release's ResourceList members, decoding each
// through the generated union (decode returns the model value it holds).
func checkRelease[V comparable, R interface {
	FHIRType() string
	FHIRVersion() V
}](t *testing.T, release string, decode func([]byte) (any, error)) {
	raw, err := os.ReadFile("../../../api/openapi/fhir-" + release + ".json")
	if err != nil {
		t.Fatal(err)
	}
	_, names, err := resourceList(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		v, err := decode(fmt.Appendf(nil, `{"resourceType": %q, "id": "id-1", "meta": {"versionId": "7"}}`, name))
		if err != nil {
			t.Errorf("%s: decode: %v", name, err)
			continue
		}
		res, ok := v.(R)
		if !ok {
			t.Errorf("%s: %T does not implement %s.Resource", name, v, release)
			continue
		}
		var zero V
		if res.FHIRType() != name || res.FHIRVersion() != zero {
			t.Errorf("%s: FHIRType() = %q, FHIRVersion() = %v", name, res.FHIRType(), res.FHIRVersion())
		}
		typ := reflect.TypeOf(v)
		decoded := reflect.New(typ)
		decoded.Elem().Set(reflect.ValueOf(v))
		p, ok := decoded.Interface().(typed)
		if !ok {
			t.Errorf("%s: *%s lacks DeclaredType, StampType or Identity", name, typ.Name())
			continue
		}
		if got := p.DeclaredType(); got != name {
			t.Errorf("%s: decoded DeclaredType() = %q", name, got)
		}
		if id, vid := p.Identity(); id != "id-1" || vid != "7" {
			t.Errorf("%s: Identity() = %q, %q; want id-1, 7", name, id, vid)
		}

		// A zero value declares nothing until stamped, and the stamp survives the wire.
		z := reflect.New(typ).Interface().(typed)
		if id, vid := z.Identity(); z.DeclaredType() != "" || id != "" || vid != "" {
			t.Errorf("%s: zero value: DeclaredType() = %q, Identity() = %q, %q", name, z.DeclaredType(), id, vid)
		}
		z.StampType()
		if got := z.DeclaredType(); got != name {
			t.Errorf("%s: after StampType, DeclaredType() = %q", name, got)
		}
		b, err := json.Marshal(z)
		if err != nil {
			t.Errorf("%s: marshal: %v", name, err)
			continue
		}
		if back, err := decode(b); err != nil || reflect.TypeOf(back) != typ {
			t.Errorf("%s: stamped %s decodes as %T, %v", name, b, back, err)
		}

		// A nil pointer answers instead of panicking.
		nilPtr := reflect.Zero(reflect.PointerTo(typ)).Interface().(typed)
		if id, vid := nilPtr.Identity(); nilPtr.DeclaredType() != "" || id != "" || vid != "" {
			t.Errorf("%s: nil pointer: DeclaredType() = %q, Identity() = %q, %q", name, nilPtr.DeclaredType(), id, vid)
		}
	}
	t.Logf("%s: %d resource types", release, len(names))
}

// TestDeclaredTypeShowsAMismatch: a body of another type decoded into a
// model keeps its own resourceType, so the typed layer can refuse it.
func TestDeclaredTypeShowsAMismatch(t *testing.T) {
	var p r4.Patient
	if err := json.Unmarshal([]byte(`{"resourceType": "Observation", "id": "o1"}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.DeclaredType() != "Observation" || p.FHIRType() != "Patient" {
		t.Errorf("DeclaredType() = %q, FHIRType() = %q; want Observation, Patient", p.DeclaredType(), p.FHIRType())
	}
}
