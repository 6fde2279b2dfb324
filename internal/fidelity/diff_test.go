package fidelity

import "testing"

func TestDiffFindsLoss(t *testing.T) {
	cases := []struct {
		name, want, got string
		diffs           int
	}{
		{"equal", `{"a":[1,{"b":null}],"c":105.00}`, `{"c":105.00,"a":[1,{"b":null}]}`, 0},
		{"decimal digits", `{"v":105.00}`, `{"v":105}`, 1},
		{"dropped key", `{"a":1,"b":2}`, `{"a":1}`, 1},
		{"invented key", `{"a":1}`, `{"a":1,"b":{}}`, 1},
		{"null became object", `{"_given":[null,{"id":"x"}]}`, `{"_given":[{},{"id":"x"}]}`, 1},
		{"array order", `{"a":[1,2]}`, `{"a":[2,1]}`, 2},
		{"false dropped", `{"active":false}`, `{}`, 1},
	}
	for _, c := range cases {
		d, err := Diff([]byte(c.want), []byte(c.got))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(d) != c.diffs {
			t.Errorf("%s: %d differences %q, want %d", c.name, len(d), d, c.diffs)
		}
	}
}
