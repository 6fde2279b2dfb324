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
	for _, op := range access.Operations {
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
	segs := splitPath(escapedPath)
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return access.Operation{}, false
		}
		segs[i] = u
	}
	best := -1
	for i, rt := range r.routes {
		if rt.op.Method != method || len(rt.segs) != len(segs) {
			continue
		}
		ok := true
		for j, s := range segs {
			if rt.wild[j] {
				// a parameter is never empty and never spans segments
				if s == "" {
					ok = false
					break
				}
				continue
			}
			if s != rt.segs[j] {
				ok = false
				break
			}
		}
		if ok && (best < 0 || rt.literals > r.routes[best].literals) {
			best = i
		}
	}
	if best < 0 {
		return access.Operation{}, false
	}
	return r.routes[best].op, true
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
