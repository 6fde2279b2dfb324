package wrappers

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestValueCounter(t *testing.T) {
	for in, want := range map[string]int64{
		`{}`:                           1,
		`[]`:                           0,
		`[ ]`:                          0,
		`[1,2,3]`:                      3,
		`[[],[]]`:                      2,
		`[{},{}]`:                      4, // two elements, two objects
		`[null , "a" ,true]`:           3,
		`{"a":[1,{"b":[]}],"c":{}}`:    5,
		`{"s":"[{,}]\"[{"}`:            1, // brackets in strings are text
		`{"s":"\\\\","t":[1]}`:         2, // an escaped backslash ends no string
		`["\u005b",  {"x" : "]"} ]`:    3,
		`{"resourceType":"Bundle"}   `: 1,
	} {
		// in one piece and one byte at a time: the state survives a cut
		for _, step := range []int{len(in), 1} {
			c := &valueCounter{budget: 1 << 30}
			for i := 0; i < len(in); i += step {
				if err := c.scan([]byte(in[i:min(i+step, len(in))])); err != nil {
					t.Fatal(err)
				}
			}
			if c.n != want {
				t.Errorf("%s (step %d): %d values, want %d", in, step, c.n, want)
			}
		}
	}
}

func TestValueBudgetAndDepth(t *testing.T) {
	read := func(body string, maxBytes int64) error {
		_, err := io.ReadAll(newLimitedBody(io.NopCloser(strings.NewReader(body)), maxBytes, true))
		return err
	}
	budget := valueBudget(1 << 20)
	at := "[" + strings.Repeat("0,", int(budget)-1) + "0]"
	if err := read(at, 1<<20); err != nil {
		t.Errorf("a body of exactly the budget: %v", err)
	}
	if err := read("[0,"+at[1:], 1<<20); !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("one value over the budget: %v", err)
	}
	if err := read(strings.Repeat("[", maxDepth+1), 1<<20); !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("nesting deeper than %d: %v", maxDepth, err)
	}
	// A body that is not JSON is only limited in bytes.
	if _, err := io.ReadAll(newLimitedBody(io.NopCloser(strings.NewReader(strings.Repeat("{", 1<<16))), 1<<20, false)); err != nil {
		t.Errorf("a non-JSON body: %v", err)
	}
}
