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
	params   int // len(segs) - literals
}

// router resolves a request path, relative to a family's base URL, to the
// operation whose route template it matches. Matching is by whole segments,
// never by prefix, and a literal segment beats a parameter, so POST
// /Patient/$status-query is never mistaken for /Patient/{id}; a parameter
// never looks like an operation or a keyword either, so neither is GET
// /Patient/$status-query.
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
			if w {
				rt.params++
			} else {
				rt.literals++
			}
		}
		r.routes = append(r.routes, rt)
	}
	return r
}

// match returns the operation for method and the escaped path relative to
// the base URL ("" or starting with "/"). The path must be exactly the
// shape a template produces: one slash before each segment, no empty
// segment and no trailing slash (a server that ignores a trailing slash
// would read /Patient/ as /Patient, another operation). A segment is
// compared decoded; a parameter must pass validParam.
func (r *router) match(method, escapedPath string) (access.Operation, bool) {
	var buf [16]string // no allocation for paths of up to 16 segments
	segs := buf[:0]
	if rest, ok := strings.CutPrefix(escapedPath, "/"); ok && rest != "" {
		for s := range strings.SplitSeq(rest, "/") {
			if strings.Contains(s, "%") {
				u, err := url.PathUnescape(s)
				if err != nil {
					return access.Operation{}, false
				}
				s = u
			}
			segs = append(segs, s)
		}
	} else if escapedPath != "" && escapedPath != "/" {
		return access.Operation{}, false
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
			if !validParam(s) {
				return false
			}
		} else if s != rt.segs[j] {
			return false
		}
	}
	return true
}

// validParam reports whether a decoded path parameter is one every server
// reads as the same single segment. Parameters are FHIR ids and resource
// types, NHS numbers, PKB ids and measurement API refs: letters, digits and
// "-", "." and "_". Everything else is how a path is made to mean another
// one: "/" and "\" (after decoding), ";" (Tomcat and Spring strip matrix
// parameters, so "..;" is ".."), "%" (a second decoding), whitespace,
// controls and non-ASCII (servers normalise them differently). A parameter
// is never only dots (a dot segment), and never starts with "$" or "_",
// which FHIR servers route as an operation or a keyword (_history,
// _search): GET /Patient/$status-query is not readPatient.
func validParam(s string) bool {
	if s == "" || s[0] == '_' || strings.Trim(s, ".") == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		default:
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
