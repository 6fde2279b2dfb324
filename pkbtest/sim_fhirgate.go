package pkbtest

import (
	"embed"
	"path"
	"sort"
)

//go:embed testdata/fhirgate/*.json
var fhirgateFS embed.FS

// FhirgateBundle is one of PKB's fhirgate example bundles (see
// testdata/fhirgate/README.md for provenance).
type FhirgateBundle struct {
	// Name is the file name, e.g. "pat.carol.walker.json".
	Name string
	// JSON is the R4 batch Bundle, unchanged.
	JSON []byte
}

// FhirgateBundles returns PKB's fhirgate example bundles in name order:
// R4 batch Bundles of PUT entries that the Customer R4 endpoint accepts at
// its base (POST /customer/r4/fhir/), for demos of realistic PKB-flavoured data.
func FhirgateBundles() []FhirgateBundle {
	entries, _ := fhirgateFS.ReadDir("testdata/fhirgate")
	var out []FhirgateBundle
	for _, e := range entries {
		b, err := fhirgateFS.ReadFile(path.Join("testdata/fhirgate", e.Name()))
		if err == nil {
			out = append(out, FhirgateBundle{Name: e.Name(), JSON: b})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
