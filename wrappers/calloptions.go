package wrappers

import (
	"net/http"
	"net/url"
)

// CallOption adjusts one call: its headers (IfMatch, IfNoneExist,
// PreferReturn, Header) or, for a search, how far its pages are followed
// (MaxPages, MaxResources). Options apply in order, so a later one wins.
type CallOption func(*Call)

// Apply applies opts to call, in order; nil options are skipped. Layers
// built on Family.Do (such as package pkb) use it to turn their callers'
// options into the Call they send.
func Apply(call *Call, opts ...CallOption) {
	for _, o := range opts {
		if o != nil {
			o(call)
		}
	}
}

// Header adds a request header. Only the headers listed at Call.Header may
// be set; Family.Do refuses any other with ErrInvalidCall.
func Header(name, value string) CallOption {
	return func(c *Call) {
		if c.Header == nil {
			c.Header = http.Header{}
		}
		c.Header.Add(name, value)
	}
}

// IfMatch makes an update or delete conditional on the resource's current
// version (FHIR's optimistic locking): it sends If-Match: W/"versionID",
// and the server refuses the call with 412 Precondition Failed if someone
// else changed the resource since that version was read.
func IfMatch(versionID string) CallOption {
	return func(c *Call) { setHeader(c, "If-Match", `W/"`+versionID+`"`) }
}

// NoIfMatch removes an If-Match header set before it: an update sent
// without one overwrites whatever version the server holds.
func NoIfMatch() CallOption {
	return func(c *Call) { c.Header.Del("If-Match") }
}

// IfNoneExist makes a create conditional (If-None-Exist): the server
// creates the resource only if no resource matches the search query, and
// otherwise answers with the one that does. Unlike a plain create, such a
// call is safe to repeat.
func IfNoneExist(query url.Values) CallOption {
	return func(c *Call) { setHeader(c, "If-None-Exist", query.Encode()) }
}

// PreferReturn asks what a create or update returns (Prefer: return=...):
// "minimal" (nothing), "representation" (the resource as stored) or
// "OperationOutcome".
func PreferReturn(what string) CallOption {
	return func(c *Call) { setHeader(c, "Prefer", "return="+what) }
}

// MaxPages stops a paged iteration after n pages, the first included,
// instead of after DefaultMaxPages; n <= 0 removes the limit (a next link
// to a page already fetched still ends the iteration with ErrPageLoop).
func MaxPages(n int) CallOption {
	return func(c *Call) { c.limits.pages, c.limits.pagesSet = max(n, 0), true }
}

// MaxResources stops a resource iteration (Page.All) after n resources;
// n <= 0 means no limit.
func MaxResources(n int) CallOption {
	return func(c *Call) { c.limits.resources = max(n, 0) }
}

func setHeader(c *Call, name, value string) {
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Header.Set(name, value)
}
