package pkbtest

import (
	"encoding/json"
	"strconv"
	"time"
)

// obj is a JSON object: resources are kept as generic JSON so that every
// resource type of both FHIR versions is stored the same way.
type obj = map[string]any

// version is one stored version of a resource; res is nil for a deletion.
// by is who added it: a team or organisation id, or "" for a source that is
// none of the simulator's teams (the patient, another system); a team keeps
// access to what it added (docs/pkb-api.md §3.7).
type version struct {
	res    obj
	at     time.Time
	method string
	by     string
}

type record struct {
	typ, id  string
	versions []version
}

func (r *record) current() version { return r.versions[len(r.versions)-1] }

// store is an in-memory, versioned FHIR store; simData.mu guards it. Stored objects are never
// mutated: every write stores a fresh object, so readers may hand them out
// without copying.
type store struct {
	records map[string]map[string]*record
	order   map[string][]string // insertion order per type, for stable searches
	nextID  int
	hist    []histEntry // every write, oldest first
}

type histEntry struct {
	rec *record
	idx int
}

func newStore() *store {
	return &store{records: map[string]map[string]*record{}, order: map[string][]string{}}
}

// clone copies the store's index for a transaction, which writes to the copy
// and swaps it in only when every entry succeeded.
func (st *store) clone() *store {
	cp := &store{records: map[string]map[string]*record{}, order: map[string][]string{}, nextID: st.nextID}
	for t, m := range st.records {
		cm := make(map[string]*record, len(m))
		for id, r := range m {
			cr := *r
			cr.versions = append([]version(nil), r.versions...)
			cm[id] = &cr
		}
		cp.records[t] = cm
	}
	for t, ids := range st.order {
		cp.order[t] = append([]string(nil), ids...)
	}
	for _, h := range st.hist {
		cp.hist = append(cp.hist, histEntry{rec: cp.records[h.rec.typ][h.rec.id], idx: h.idx})
	}
	return cp
}

// put stores res, added by by, as a new version of its type and id (res
// must carry both) and returns the stored object with meta.versionId and
// meta.lastUpdated set.
func (st *store) put(res obj, at time.Time, method, by string) obj {
	typ, _ := res["resourceType"].(string)
	id, _ := res["id"].(string)
	m := st.records[typ]
	if m == nil {
		m = map[string]*record{}
		st.records[typ] = m
	}
	r := m[id]
	if r == nil {
		r = &record{typ: typ, id: id}
		m[id] = r
		st.order[typ] = append(st.order[typ], id)
	}
	vid := strconv.Itoa(len(r.versions) + 1)
	stored := cloneObj(res)
	meta, _ := stored["meta"].(obj)
	meta = cloneObj(meta)
	if meta == nil {
		meta = obj{}
	}
	meta["versionId"] = vid
	meta["lastUpdated"] = at.UTC().Format(time.RFC3339Nano)
	stored["meta"] = meta
	r.versions = append(r.versions, version{res: stored, at: at, method: method, by: by})
	st.hist = append(st.hist, histEntry{rec: r, idx: len(r.versions) - 1})
	return stored
}

// remove records a deletion; it reports whether there was a live resource.
func (st *store) remove(typ, id string, at time.Time) bool {
	r := st.records[typ][id]
	if r == nil || r.current().res == nil {
		return false
	}
	r.versions = append(r.versions, version{at: at, method: "DELETE"})
	st.hist = append(st.hist, histEntry{rec: r, idx: len(r.versions) - 1})
	return true
}

// get returns the current version; gone is true when it was deleted.
func (st *store) get(typ, id string) (res obj, gone bool) {
	r := st.records[typ][id]
	if r == nil {
		return nil, false
	}
	v := r.current()
	return v.res, v.res == nil
}

func (st *store) rec(typ, id string) *record { return st.records[typ][id] }

// author is who added the current version of a resource ("" if unknown).
func (st *store) author(typ, id string) string {
	if r := st.records[typ][id]; r != nil {
		return r.current().by
	}
	return ""
}

// list returns the live resources of a type in insertion order.
func (st *store) list(typ string) []obj {
	var out []obj
	for _, id := range st.order[typ] {
		if v := st.records[typ][id].current(); v.res != nil {
			out = append(out, v.res)
		}
	}
	return out
}

// newID returns a server-assigned id, unique within the store.
func (st *store) newID() string {
	st.nextID++
	return strconv.Itoa(st.nextID)
}

// cloneObj deep-copies a JSON object.
func cloneObj(m obj) obj {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	var out obj
	_ = json.Unmarshal(b, &out)
	return out
}
