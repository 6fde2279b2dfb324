package wrappers

import (
	"net/url"
	"strings"

	"github.com/pkbgo/pkb/gen/access"
)

// route is one operation's path template, split into segments; an empty
// segment name with wildcard set matches any single segment.
type route struct {
	op       access.Operation
	segs     []string
	wild     []bool
	literals int
}

// router resolves a request path, relative to a family's base URL, to the
// operation whose route template it matches. Matching is by whole segments,
// never by prefix, and a literal segment beats a parameter, so
// /Patient/$status-query is never mistaken for /Patient/{id}.
type router struct {
	routes []route
}

func newRouter(family access.Family) *router {
	r := &router{}
	for _, op := range access.Operations() {
		if op.Family != family {
			continue
		}
		rt := route{op: op}
		for _, s := range splitPath(op.Path) {
			w := strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}")
			rt.segs = append(rt.segs, s)
			rt.wild = append(rt.wild, w)
			if !w {
				rt.literals++
			}
		}
		r.routes = append(r.routes, rt)
	}
	return r
}

// match returns the operation for method and the escaped relative path.
func (r *router) match(method, escapedPath string) (access.Operation, bool) {
	var buf [16]string // no allocation for paths of up to 16 segments
	segs := buf[:0]
	for s := range strings.SplitSeq(strings.Trim(escapedPath, "/"), "/") {
		if strings.Contains(s, "%") {
			u, err := url.PathUnescape(s)
			if err != nil {
				return access.Operation{}, false
			}
			s = u
		}
		segs = append(segs, s)
	}
	if len(segs) == 1 && segs[0] == "" {
		segs = segs[:0]
	}
	best := -1
	for i := range r.routes {
		rt := &r.routes[i]
		if rt.op.Method != method || len(rt.segs) != len(segs) || (best >= 0 && rt.literals <= r.routes[best].literals) {
			continue
		}
		if rt.matches(segs) {
			best = i
		}
	}
	if best < 0 {
		return access.Operation{}, false
	}
	return r.routes[best].op, true
}

func (rt *route) matches(segs []string) bool {
	for j, s := range segs {
		if rt.wild[j] {
			// A parameter is never empty, and never a dot segment, which a
			// server would resolve to another path than the one checked.
			if s == "" || s == "." || s == ".." {
				return false
			}
		} else if s != rt.segs[j] {
			return false
		}
	}
	return true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
