package wrappers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrResponseTooLarge is returned while reading a response body longer than
// the client's limit (see WithMaxResponseBytes), or one with more JSON
// values than the limit allows.
var ErrResponseTooLarge = errors.New("pkb: response body exceeds the configured limit")

// bytesPerValue sets the JSON value budget of a body: at most one object
// or array element per bytesPerValue bytes of the byte limit. Decoding
// turns the smallest JSON values ("{}" or "null", 2-4 bytes) into the
// largest Go values (a FHIR Extension is 616 bytes in STU3, 736 in R4), so
// the byte limit alone let a 4 MiB body allocate gigabytes. With the
// budget, the worst body (nulls in an extension array, grown by append)
// allocates about 12 times the byte limit in all (TestHeapIsBoundedBy
// TheBodyLimit), under 1 GiB for the default 64 MiB, and holds about a
// third of that at once. FHIR JSON averages about 100 bytes per value (the
// HL7 examples; the densest, 20), and a page of 1,000 Observations has
// about 25,000 values, so the default budget of 262,144 refuses only
// bodies that fill the byte limit with tiny values; a larger byte limit
// raises it in proportion.
const bytesPerValue = 256

// minValues is the smallest value budget, for very small byte limits.
const minValues = 4096

// maxDepth is the deepest nesting a JSON body may have, as in
// encoding/json; it also bounds the counter's own memory.
const maxDepth = 10000

// valueBudget is the value budget for a byte limit.
func valueBudget(maxBytes int64) int64 {
	return max(maxBytes/bytesPerValue, minValues)
}

// limitedBody fails, rather than silently truncating, once a body exceeds
// the byte limit or, for a JSON body, the value budget: a cut-off Bundle
// must not decode as a shorter valid one.
type limitedBody struct {
	rc     io.ReadCloser
	left   int64
	values *valueCounter // nil for a body that is not JSON
	err    error         // sticky
}

func newLimitedBody(rc io.ReadCloser, maxBytes int64, json bool) *limitedBody {
	b := &limitedBody{rc: rc, left: maxBytes}
	if json {
		b.values = &valueCounter{budget: valueBudget(maxBytes)}
	}
	return b
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		// one more byte tells a body of exactly the limit from a longer one
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			b.err = ErrResponseTooLarge
			return 0, b.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.values != nil && n > 0 {
		if verr := b.values.scan(p[:n]); verr != nil {
			b.err = verr
			return 0, verr
		}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// limited marks a body whose limits a client has already set.
func (b *limitedBody) limited() {}

// valueCounter counts the objects and array elements of a JSON text as it
// streams past, without decoding it. It validates nothing (the decoder
// does); it only has to count what a decoder would allocate for.
type valueCounter struct {
	budget int64  // values allowed
	n      int64  // values seen
	stack  []byte // '{' or '[' per open container
	str    bool   // inside a string
	esc    bool   // after a backslash inside a string
	elem   bool   // at the start of a possible array element
}

func (c *valueCounter) scan(p []byte) error {
	for i := 0; i < len(p); i++ {
		if c.str {
			if c.esc {
				c.esc = false
				continue
			}
			j := bytes.IndexAny(p[i:], "\"\\")
			if j < 0 {
				return nil
			}
			i += j
			if p[i] == '\\' {
				c.esc = true
			} else {
				c.str = false
			}
			continue
		}
		b := p[i]
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		}
		if c.elem {
			c.elem = false
			if b != ']' {
				if err := c.count(); err != nil {
					return err
				}
			}
		}
		switch b {
		case '"':
			c.str = true
		case '{', '[':
			if b == '{' {
				if err := c.count(); err != nil {
					return err
				}
			}
			if len(c.stack) >= maxDepth {
				return fmt.Errorf("%w: JSON nested more than %d deep", ErrResponseTooLarge, maxDepth)
			}
			c.stack = append(c.stack, b)
			c.elem = b == '['
		case '}', ']':
			if len(c.stack) > 0 {
				c.stack = c.stack[:len(c.stack)-1]
			}
		case ',':
			c.elem = len(c.stack) > 0 && c.stack[len(c.stack)-1] == '['
		}
	}
	return nil
}

func (c *valueCounter) count() error {
	if c.n++; c.n > c.budget {
		return fmt.Errorf("%w: more than %d JSON objects and array elements", ErrResponseTooLarge, c.budget)
	}
	return nil
}
