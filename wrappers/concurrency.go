package wrappers

import (
	"context"
	"sync"

	"github.com/pkbgo/pkb/gen/access"
)

// DefaultMaxConcurrency is how many requests one client has in flight to
// a family at once unless WithMaxConcurrency or WithFamilyMaxConcurrency
// says otherwise; 0 means no limit. PKB's guidance (docs/pkb-api.md §4
// "Rate limits" and §8 "Throughput and threads", PKB page 3364552801):
//
//   - REST API: 1. REST requests "should be executed serially rather than
//     concurrently".
//   - Messaging: 1. Bulk loads send one message at a time, up to 4 "by
//     agreement" with PKB: raise it with WithFamilyMaxConcurrency once PKB
//     has agreed.
//   - Facade: 4. Each Facade read is a synchronous call to PKB's legacy
//     application that may run for up to 2 minutes; 4, the most PKB agrees
//     to for bulk loads, keeps one client from tying up more of it.
//   - Customer FHIR and Aggregated: 4. PKB documents no limit for them;
//     the same small number, so that a fan-out loop cannot flood them.
//
// The limit is per client value and per process: replicas each have their
// own, so divide it among them if PKB's guidance is to hold in total.
func DefaultMaxConcurrency(family access.Family) int {
	switch family {
	case access.FamilyRESTAPI, access.FamilyMessaging:
		return 1
	}
	return 4
}

// WithMaxConcurrency limits every family of the client to n requests in
// flight at once (n <= 0: no limit), replacing DefaultMaxConcurrency; a
// WithFamilyMaxConcurrency given after it overrides it for one family. A
// request waits for a free slot as long as its context allows, and holds
// it from the first byte sent until its response body is closed (or the
// request fails); a retry waits for a slot again, and none is held during
// the backoff. Close every response body Family.Do returns: an open body
// keeps its slot.
func WithMaxConcurrency(n int) Option {
	return func(c *config) {
		c.maxConc = &n
		c.familyConc = nil
	}
}

// WithFamilyMaxConcurrency limits one family of the client to n requests
// in flight at once (n <= 0: no limit), as WithMaxConcurrency does for all.
func WithFamilyMaxConcurrency(family access.Family, n int) Option {
	return func(c *config) {
		if c.familyConc == nil {
			c.familyConc = map[access.Family]int{}
		}
		c.familyConc[family] = n
	}
}

// maxConcurrency is the limit the configuration gives family.
func (c config) maxConcurrency(family access.Family) int {
	if n, ok := c.familyConc[family]; ok {
		return n
	}
	if c.maxConc != nil {
		return *c.maxConc
	}
	return DefaultMaxConcurrency(family)
}

// limiter is a family's semaphore; nil means no limit.
type limiter chan struct{}

func newLimiter(n int) limiter {
	if n <= 0 {
		return nil
	}
	return make(limiter, n)
}

// acquire waits for a slot, or for ctx to end, and returns the function
// that gives the slot back (safe to call more than once).
func (l limiter) acquire(ctx context.Context) (func(), error) {
	if l == nil {
		return func() {}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case l <- struct{}{}:
		return sync.OnceFunc(func() { <-l }), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
