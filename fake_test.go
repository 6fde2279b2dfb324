package pkb_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkbgo/pkb/authn"
)

// fakeEnv serves mux behind token endpoints that always issue a token,
// and returns the environment that points every family at it: a stand-in
// for PKB in the examples and the unit tests of this module. The tests
// against PKB's simulator (OAuth server, OpenAPI validation, PKB's rules)
// live in the pkbtest module, which this module cannot import.
func fakeEnv(mux *http.ServeMux) (*httptest.Server, authn.Environment) {
	token := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		scope := r.FormValue("scope")
		if scope == "" {
			scope = "SITE"
		}
		fmt.Fprintf(w, `{"access_token":"example-token","token_type":"Bearer","expires_in":600,"refresh_token":"example-refresh-%d","scope":%q}`, time.Now().UnixNano(), scope)
	}
	for _, p := range []string{"/api/oauth/token", "/auth/realms/pkb/protocol/openid-connect/token", "/apiToken.action"} {
		mux.HandleFunc(p, token)
	}
	srv := httptest.NewServer(mux)
	env := authn.Sandbox
	env.SystemTokenURL = srv.URL + "/api/oauth/token"
	env.CustomerTokenURL = srv.URL + "/auth/realms/pkb/protocol/openid-connect/token"
	env.UserTokenURL = srv.URL + "/apiToken.action"
	env.FacadeURL = srv.URL + "/fhir"
	env.MessagingURL = srv.URL + "/phr-fhir"
	env.RESTURL = srv.URL + "/json"
	env.AggregatedURL = srv.URL + "/agg/fhir"
	env.CustomerURLTemplate = srv.URL + "/customer/{customer}/fhir"
	return srv, env
}

type obj = map[string]any

// fakePKB is the examples' PKB: canned Facade, Messaging and REST API
// answers, and a small versioned in-memory store behind the Customer R4
// endpoint of customer "acme" (read, update with If-Match, create with
// If-None-Exist, transaction with urn:uuid references, search with
// _include).
func fakePKB() (*httptest.Server, authn.Environment) {
	mux := http.NewServeMux()
	fhir := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	bundle := func(entries ...any) obj {
		return obj{"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
	}
	match := func(r obj) obj { return obj{"resource": r, "search": obj{"mode": "match"}} }
	patient := obj{"resourceType": "Patient", "id": "p1", "name": []any{obj{"family": "Testpatient", "given": []any{"Ann"}}}}

	// Facade (STU3).
	mux.HandleFunc("GET /fhir/Patient", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("identifier") != "https://fhir.nhs.uk/Id/nhs-number|9990000018" {
			fhir(w, 200, obj{"resourceType": "Bundle", "type": "searchset", "total": 0})
			return
		}
		fhir(w, 200, bundle(match(patient)))
	})
	mux.HandleFunc("GET /fhir/Observation", func(w http.ResponseWriter, r *http.Request) {
		obs := func(id, date string) obj {
			return match(obj{"resourceType": "Observation", "id": id, "status": "final", "effectiveDateTime": date,
				"code": obj{"text": "Haemoglobin"}, "subject": obj{"reference": "Patient/p1"}})
		}
		// Only the query of task 2 finds anything, so the Example shows what it sends.
		q := r.URL.Query()
		if q.Get("patient") != "Patient/p1" || q.Get("category") != "http://fhir.patientsknowbest.com/codesystem/observation-category|LABORATORY" ||
			strings.Join(q["date"], "&") != "ge2025&lt2026" {
			fhir(w, 200, bundle())
			return
		}
		if q.Get("page") == "2" {
			fhir(w, 200, bundle(obs("o3", "2025-11-20")))
			return
		}
		b := bundle(obs("o1", "2025-02-01"), obs("o2", "2025-06-12"))
		b["total"] = 3
		b["link"] = []any{obj{"relation": "next", "url": "Observation?" + r.URL.RawQuery + "&page=2"}}
		fhir(w, 200, b)
	})

	// Messaging (STU3): the stored patient, with PKB's id.
	mux.HandleFunc("POST /phr-fhir/Patient/$process-message", func(w http.ResponseWriter, r *http.Request) {
		var p obj
		json.NewDecoder(r.Body).Decode(&p)
		p["id"] = "9a1c"
		fhir(w, 200, p)
	})

	// REST API.
	mux.HandleFunc("GET /json/v2-beta/measurements/{patient}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PathValue("patient") != "p1" || r.URL.Query().Get("apiRefs") != "bloodPressureSystolic" {
			io.WriteString(w, `[]`)
			return
		}
		io.WriteString(w, `[{"apiRef":"bloodPressureSystolic","value":"120","unit":"mmHg"},{"apiRef":"bloodPressureSystolic","value":"118","unit":"mmHg"}]`)
	})

	// Customer R4: a versioned store.
	st := &fakeStore{data: map[string]obj{}}
	st.put(obj{"resourceType": "Patient", "id": "p1", "gender": "female", "name": []any{obj{"family": "Testpatient", "given": []any{"Ann"}}}})
	st.put(obj{"resourceType": "Observation", "id": "o1", "status": "final", "code": obj{"text": "Haemoglobin"}, "subject": obj{"reference": "Patient/p1"}})
	const base = "/customer/acme/fhir"
	mux.HandleFunc("GET "+base+"/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		res := st.get(r.PathValue("type") + "/" + r.PathValue("id"))
		if res == nil {
			fhir(w, 404, outcome("not-found", "unknown resource"))
			return
		}
		w.Header().Set("ETag", etag(res))
		fhir(w, 200, res)
	})
	mux.HandleFunc("PUT "+base+"/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		var res obj
		json.NewDecoder(r.Body).Decode(&res)
		key := r.PathValue("type") + "/" + r.PathValue("id")
		if m := r.Header.Get("If-Match"); m != "" && (st.get(key) == nil || etag(st.get(key)) != m) {
			fhir(w, 412, outcome("conflict", "the resource changed since that version"))
			return
		}
		res = st.put(res)
		w.Header().Set("ETag", etag(res))
		fhir(w, 200, res)
	})
	mux.HandleFunc("POST "+base+"/{type}", func(w http.ResponseWriter, r *http.Request) {
		var res obj
		json.NewDecoder(r.Body).Decode(&res)
		if cond := r.Header.Get("If-None-Exist"); cond != "" {
			if found := st.byIdentifier(r.PathValue("type"), cond); found != nil {
				fhir(w, 200, found)
				return
			}
		}
		res["id"] = st.newID()
		res = st.put(res)
		w.Header().Set("Location", r.PathValue("type")+"/"+res["id"].(string)+"/_history/1")
		fhir(w, 201, res)
	})
	mux.HandleFunc("POST "+base+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Type  string `json:"type"`
			Entry []struct {
				FullURL  string          `json:"fullUrl"`
				Resource json.RawMessage `json:"resource"`
				Request  struct{ Method, URL string }
			} `json:"entry"`
		}
		json.NewDecoder(r.Body).Decode(&b)
		ids := map[string]string{} // urn:uuid → Type/id
		for _, e := range b.Entry {
			if e.Request.Method == "POST" {
				ids[e.FullURL] = e.Request.URL + "/" + st.newID()
			}
		}
		var out []any
		for _, e := range b.Entry {
			raw := string(e.Resource)
			for urn, ref := range ids {
				raw = strings.ReplaceAll(raw, `"`+urn+`"`, `"`+ref+`"`)
			}
			var res obj
			json.Unmarshal([]byte(raw), &res)
			res["id"] = strings.SplitN(ids[e.FullURL], "/", 2)[1]
			res = st.put(res)
			out = append(out, obj{"resource": res, "response": obj{"status": "201 Created", "location": ids[e.FullURL] + "/_history/1", "etag": etag(res)}})
		}
		fhir(w, 200, obj{"resourceType": "Bundle", "type": b.Type + "-response", "entry": out})
	})
	mux.HandleFunc("GET "+base+"/Observation", func(w http.ResponseWriter, r *http.Request) {
		var entries []any
		for _, o := range st.all("Observation") {
			entries = append(entries, match(o))
		}
		if r.URL.Query().Get("_include") == "Observation:subject" {
			entries = append(entries, obj{"resource": st.get("Patient/p1"), "search": obj{"mode": "include"}})
		}
		b := bundle(entries...)
		b["total"] = len(st.all("Observation"))
		fhir(w, 200, b)
	})
	return fakeEnv(mux)
}

func outcome(code, diag string) obj {
	return obj{"resourceType": "OperationOutcome", "issue": []any{obj{"severity": "error", "code": code, "diagnostics": diag}}}
}

func etag(res obj) string { return `W/"` + res["meta"].(obj)["versionId"].(string) + `"` }

// fakeStore keeps the current version of each resource.
type fakeStore struct {
	mu    sync.Mutex
	data  map[string]obj
	order []string
	next  int
}

func (s *fakeStore) newID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	return "n" + strconv.Itoa(s.next)
}

func (s *fakeStore) get(key string) obj {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[key]
}

// put stores res as the next version of its resource.
func (s *fakeStore) put(res obj) obj {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := res["resourceType"].(string) + "/" + res["id"].(string)
	v := 1
	if cur := s.data[key]; cur != nil {
		v, _ = strconv.Atoi(cur["meta"].(obj)["versionId"].(string))
		v++
	} else {
		s.order = append(s.order, key)
	}
	res["meta"] = obj{"versionId": strconv.Itoa(v)}
	s.data[key] = res
	return res
}

func (s *fakeStore) all(typ string) []obj {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []obj
	for _, k := range s.order {
		if strings.HasPrefix(k, typ+"/") {
			out = append(out, s.data[k])
		}
	}
	return out
}

// byIdentifier finds a resource of typ whose identifier matches the
// condition "identifier=system|value".
func (s *fakeStore) byIdentifier(typ, cond string) obj {
	q, _ := url.ParseQuery(cond)
	want := q.Get("identifier")
	for _, r := range s.all(typ) {
		ids, _ := r["identifier"].([]any)
		for _, id := range ids {
			m, _ := id.(obj)
			if fmt.Sprint(m["system"], "|", m["value"]) == want {
				return r
			}
		}
	}
	return nil
}
