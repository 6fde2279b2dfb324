package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/assumptions"
)

// Defaults and bounds of Options.
const (
	// DefaultConcurrency is the number of requests in flight by default.
	DefaultConcurrency = 4
	// MaxConcurrency bounds Options.Concurrency: a verify run must never
	// look like a load test to PKB.
	MaxConcurrency = 8
	// DefaultBudget bounds a whole run by default.
	DefaultBudget = 2 * time.Minute
	// maxBody is the most of an answer the engine reads.
	maxBody = 8 << 20
	// maxRetries is how often one call is retried after 429 (or a 503
	// with Retry-After).
	maxRetries = 2
	// maxRetryAfter caps how long one Retry-After makes the run wait.
	maxRetryAfter = 30 * time.Second
)

// ErrWritesNeedPatient is returned by Run when writes are allowed without a
// named test patient.
var ErrWritesNeedPatient = errors.New("verify: probes that write need a named test patient (the value patient.nhsNumber)")

// Options configure Run.
type Options struct {
	// Values supplies probe values by name: patient.nhsNumber (the named
	// test patient), teamId, practitionerId, ... (see assumptions.Values).
	Values map[string]string
	// AllowWrites runs the probes that change data on PKB (Plan lists
	// them); it needs Values["patient.nhsNumber"].
	AllowWrites bool
	// Only limits the run to the assumptions whose ID is one of these or
	// starts with one of them followed by a dot (e.g. "facade.purview").
	Only []string
	// Concurrency is the number of requests in flight (default 4, at most 8).
	Concurrency int
	// Budget bounds the whole run (default 2 minutes); probes that have not
	// finished by then are reported as errors.
	Budget time.Duration
	// Progress, when set, is called after each assumption is assessed, from
	// any goroutine, one call at a time.
	Progress func(done, total int, r *Result)
	// Spec validates every answer against the documents; nil loads the
	// embedded documents (LoadSpec).
	Spec *Spec
	// NoDrift skips that validation (the documents are still loaded: they
	// name the FHIR types a patch may point a schema at).
	NoDrift bool
	// Table replaces the assumption table (for tests of the engine).
	Table []assumptions.Assumption
}

// Run assesses every assumption of the table for the caller's client and
// returns the report. It fails only on bad options; what goes wrong with a
// probe is reported in its result.
func Run(ctx context.Context, c Caller, opts Options) (*Report, error) {
	if opts.AllowWrites && opts.Values["patient.nhsNumber"] == "" {
		return nil, ErrWritesNeedPatient
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	opts.Concurrency = min(opts.Concurrency, MaxConcurrency)
	if opts.Budget <= 0 {
		opts.Budget = DefaultBudget
	}
	table := opts.Table
	if table == nil {
		table = assumptions.All()
	}
	table = selectIDs(table, opts.Only)
	spec := opts.Spec
	if spec == nil { // also names the FHIR types a contradicted resourceType is
		var err error
		if spec, err = LoadSpec(); err != nil {
			return nil, err
		}
	}
	e := newEngine(c, opts, spec)
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.Budget)
	defer cancel()

	results := make([]Result, len(table))
	var wg sync.WaitGroup
	var progressMu sync.Mutex
	done := 0
	for i, a := range table {
		wg.Go(func() {
			results[i] = e.assess(ctx, a)
			if opts.Progress != nil {
				progressMu.Lock()
				done++
				opts.Progress(done, len(table), &results[i])
				progressMu.Unlock()
			}
		})
	}
	wg.Wait()

	r := &Report{Client: c.Client(), Started: started, DurationMS: time.Since(started).Milliseconds(),
		Calls: int(e.calls.Load()), Results: results, Drift: e.drift.list()}
	for _, res := range results {
		switch res.Outcome {
		case Confirmed:
			r.Summary.Confirmed++
		case Contradicted:
			r.Summary.Contradicted++
		case Inconclusive:
			r.Summary.Inconclusive++
		case NotTestable:
			r.Summary.NotTestable++
		case Error:
			r.Summary.Errors++
		}
	}
	for _, d := range r.Drift {
		r.Summary.Drift++
		if d.Breaking {
			r.Summary.BreakingDrift++
		}
	}
	e.scrubReport(r)
	return r, nil
}

func selectIDs(table []assumptions.Assumption, only []string) []assumptions.Assumption {
	if len(only) == 0 {
		return table
	}
	var out []assumptions.Assumption
	for _, a := range table {
		for _, o := range only {
			if a.ID == o || strings.HasPrefix(a.ID, o+".") {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// engine is one run.
type engine struct {
	caller Caller
	client Client
	opts   Options
	spec   *Spec
	sem    chan struct{}
	calls  atomic.Int64

	gateMu    sync.Mutex
	notBefore time.Time

	cacheMu sync.Mutex
	cache   map[string]*cached

	values *valueStore
	drift  *driftStore
}

type cached struct {
	once sync.Once
	ans  *answer
	err  error
}

func newEngine(c Caller, opts Options, spec *Spec) *engine {
	e := &engine{caller: c, client: c.Client(), opts: opts, spec: spec,
		sem: make(chan struct{}, opts.Concurrency), cache: map[string]*cached{}, drift: newDriftStore()}
	e.values = newValueStore(e, opts.Values)
	return e
}

// assess runs one assumption's probe and judges the answer.
func (e *engine) assess(ctx context.Context, a assumptions.Assumption) (r Result) {
	start := time.Now()
	r = Result{ID: a.ID, Family: a.Family, Operation: a.Operation, Kind: a.Kind, Claim: a.Claim}
	defer func() { r.DurationMS = time.Since(start).Milliseconds() }()
	if a.Untestable != "" {
		r.Outcome, r.Reason = NotTestable, "untestable: "+a.Untestable
		return r
	}
	p, why := e.choose(a)
	if p == nil {
		r.Outcome, r.Reason = NotTestable, why
		return r
	}
	r.Writes = p.Writes
	if p.Writes && !e.opts.AllowWrites {
		r.Outcome, r.Reason = NotTestable, "the probe changes data on PKB: it runs only with --allow-writes and a named test patient"
		return r
	}
	gen := newGenerated()
	req, err := e.build(ctx, p.Request, gen)
	if err != nil {
		r.Outcome, r.Reason = e.failure(err)
		return r
	}
	ans, err := e.call(ctx, req, nil, p.Writes)
	if err != nil {
		r.Outcome, r.Reason = e.failure(err)
		return r
	}
	out, reason, ev, obs := e.evaluate(*p, ans)
	r.Outcome, r.Reason, r.Evidence = out, reason, ev
	if out != Contradicted {
		return r
	}
	obs.assumption, obs.probe, obs.altIndex = a, *p, -1
	obs.grant = e.grantFor(p.Clients)
	r.obs = obs
	for i, alt := range p.Alternatives {
		var altAns *answer
		switch {
		case alt.Template != "":
			rc, ok := e.caller.(RouteCaller)
			if !ok {
				continue
			}
			obs.altTried = true
			altAns, err = e.call(ctx, req, &routeAlt{rc: rc, method: alt.Method, template: alt.Template}, p.Writes)
		case alt.Request != nil:
			obs.altTried = true
			var areq *Request
			if areq, err = e.build(ctx, *alt.Request, gen); err == nil {
				altAns, err = e.call(ctx, areq, nil, p.Writes)
			}
		}
		if err != nil || altAns == nil {
			continue
		}
		if o, _, _, _ := e.evaluate(*p, altAns); o == Confirmed {
			obs.altIndex = i
			r.Alternative = describeAlternative(alt)
			break
		}
	}
	return r
}

// choose picks the first probe this client can run.
func (e *engine) choose(a assumptions.Assumption) (*assumptions.Probe, string) {
	var need []string
	for i := range a.Probes {
		p := &a.Probes[i]
		if !e.client.can(p.Clients) {
			for _, c := range p.Clients {
				if !slices.Contains(need, c) {
					need = append(need, c)
				}
			}
			continue
		}
		if !e.client.reaches(p.Request.Family) {
			return nil, fmt.Sprintf("this client has no %s endpoint configured", p.Request.Family)
		}
		return p, ""
	}
	return nil, fmt.Sprintf("not testable with a %s client: the probe needs %s", e.client, strings.Join(need, " or "))
}

// grantFor names the client's grant a probe ran with.
func (e *engine) grantFor(clients []string) string {
	for _, g := range e.client.Grants {
		if slices.Contains(clients, g) {
			return g
		}
	}
	if len(e.client.Grants) > 0 {
		return e.client.Grants[0]
	}
	return ""
}

// failure turns an error into a not-testable (a missing value) or error
// outcome with a reason that quotes no URL and no value.
func (e *engine) failure(err error) (Outcome, string) {
	var mv *missingValue
	if errors.As(err, &mv) {
		return NotTestable, mv.Error()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Error, "the time budget ran out before the probe finished"
	case errors.Is(err, context.Canceled):
		return Error, "canceled"
	}
	return Error, "the request failed: " + cleanError(err)
}

// answer is one HTTP answer, read in full (up to maxBody).
type answer struct {
	status    int
	header    http.Header
	media     string
	body      []byte
	truncated bool

	once    sync.Once
	decoded any
	jsonErr error
}

func (a *answer) json() (any, error) {
	a.once.Do(func() {
		if a.truncated {
			a.jsonErr = fmt.Errorf("the body is larger than %d bytes", maxBody)
			return
		}
		a.decoded, a.jsonErr = decodeJSON(a.body)
	})
	return a.decoded, a.jsonErr
}

// shape describes the body by its structure.
func (a *answer) shape() string {
	if len(a.body) == 0 {
		return "empty"
	}
	v, err := a.json()
	if err != nil {
		return fmt.Sprintf("not JSON (%d bytes)", len(a.body))
	}
	return shape(v)
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	// Only a media-type shape is reported.
	for _, r := range mt {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("/+.-_", r)) {
			return "(unreadable media type)"
		}
	}
	return mt
}

// routeAlt sends a call to another route.
type routeAlt struct {
	rc               RouteCaller
	method, template string
}

// call sends a request once per distinct request (probes sharing a call
// share its answer), validating each answer against the documents.
func (e *engine) call(ctx context.Context, req *Request, route *routeAlt, writes bool) (*answer, error) {
	key := requestKey(req, route)
	e.cacheMu.Lock()
	c := e.cache[key]
	if c == nil {
		c = &cached{}
		e.cache[key] = c
	}
	e.cacheMu.Unlock()
	c.once.Do(func() {
		send := func(ctx context.Context) (*http.Response, error) { return e.caller.Do(ctx, req) }
		if route != nil {
			rr := &RouteRequest{Request: *req, Method: route.method, Template: route.template}
			send = func(ctx context.Context) (*http.Response, error) { return route.rc.DoRoute(ctx, rr) }
		}
		c.ans, c.err = e.do(ctx, send, writes)
		if c.err == nil && route == nil && e.spec != nil && !e.opts.NoDrift {
			for _, d := range e.spec.validate(req, c.ans) {
				e.drift.add(d)
			}
		}
	})
	return c.ans, c.err
}

func requestKey(req *Request, route *routeAlt) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\x00%s\x00%q\x00%s\x00%v\x00", req.Family, req.Operation, req.Path, req.Query.Encode(), req.Anonymous)
	for _, k := range slices.Sorted(mapKeys(req.Header)) {
		fmt.Fprintf(&b, "%s=%q;", k, req.Header[k])
	}
	b.WriteByte(0)
	b.Write(req.Body)
	if route != nil {
		fmt.Fprintf(&b, "\x00%s %s", route.method, route.template)
	}
	return b.String()
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// do sends with the concurrency bound, honouring Retry-After: a 429 (or,
// for a read, a 503 with Retry-After) pauses every request of the run and
// is retried, at most maxRetries times and never past the budget.
func (e *engine) do(ctx context.Context, send func(context.Context) (*http.Response, error), writes bool) (*answer, error) {
	for attempt := 0; ; attempt++ {
		if err := e.waitGate(ctx); err != nil {
			return nil, err
		}
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		e.calls.Add(1)
		resp, err := send(ctx)
		var ans *answer
		if err == nil {
			ans, err = readAnswer(resp)
		}
		<-e.sem
		if err != nil {
			return nil, err
		}
		ra := ans.header.Get("Retry-After")
		retry := ans.status == http.StatusTooManyRequests || (ans.status == http.StatusServiceUnavailable && ra != "" && !writes)
		if !retry || attempt >= maxRetries {
			return ans, nil
		}
		d := retryAfter(ra, time.Now())
		if d <= 0 {
			d = time.Second << attempt
		}
		d = min(d, maxRetryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(d).After(dl) {
			return ans, nil
		}
		e.pause(d)
	}
}

func readAnswer(resp *http.Response) (*answer, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	a := &answer{status: resp.StatusCode, header: resp.Header.Clone(), media: mediaType(resp.Header.Get("Content-Type")), body: b}
	if len(b) > maxBody {
		a.body, a.truncated = b[:maxBody], true
	}
	return a, nil
}

// retryAfter reads Retry-After: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

func (e *engine) pause(d time.Duration) {
	e.gateMu.Lock()
	defer e.gateMu.Unlock()
	if t := time.Now().Add(d); t.After(e.notBefore) {
		e.notBefore = t
	}
}

func (e *engine) waitGate(ctx context.Context) error {
	for {
		e.gateMu.Lock()
		wait := time.Until(e.notBefore)
		e.gateMu.Unlock()
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// evaluate judges an answer against a probe's expectations.
func (e *engine) evaluate(p assumptions.Probe, a *answer) (Outcome, string, *Evidence, *observation) {
	ev := &Evidence{Status: a.status, ContentType: a.media, Body: a.shape()}
	if len(a.body) == 0 {
		ev.ContentType = a.media
	}
	obs := &observation{status: a.status, media: a.media, altIndex: -1}
	for i := range p.Confirm {
		ex := &p.Confirm[i]
		if !slices.Contains(ex.Status, a.status) {
			continue
		}
		obs.expect = ex
		ev.WantContentType = ex.ContentType
		fails, unknown := false, ""
		if ex.ContentType != "" && a.media != ex.ContentType {
			fails = true
		}
		if len(ex.JSON) > 0 {
			body, err := a.json()
			for _, c := range ex.JSON {
				var co checkObservation
				if err != nil {
					// Only a claim about the whole body is about its
					// being JSON; one about a place inside presupposes it.
					co = checkObservation{check: c, result: checkFails,
						evidence: CheckEvidence{Path: c.Path, Want: want(c), Got: "the body is not JSON", Result: "fails"}}
					if c.Path != "" {
						co.result, co.evidence.Result = checkUnknown, "unknown"
					}
				} else {
					co = evaluateCheck(c, body, e.isFHIRType(p.Request.Family))
				}
				obs.checks = append(obs.checks, co)
				ev.Checks = append(ev.Checks, co.evidence)
				switch co.result {
				case checkFails:
					fails = true
				case checkUnknown:
					if unknown == "" {
						unknown = c.Path
					}
				}
			}
		}
		switch {
		case fails:
			ev.ContradictedBy = "answer"
			return Contradicted, "", ev, obs
		case unknown != "":
			return Inconclusive, fmt.Sprintf("the answer holds nothing at %s to inspect", orBody(unknown)), ev, obs
		}
		return Confirmed, "", ev, obs
	}
	if slices.Contains(p.Contradict, a.status) {
		ev.ContradictedBy = "status"
		obs.byStatus = true
		return Contradicted, "", ev, obs
	}
	var confirming []int
	for _, ex := range p.Confirm {
		confirming = append(confirming, ex.Status...)
	}
	return Inconclusive, fmt.Sprintf("status %d neither confirms (%s) nor contradicts (%s) the claim",
		a.status, statusList(confirming), statusList(p.Contradict)), ev, obs
}

func orBody(p string) string {
	if p == "" {
		return "the body"
	}
	return p
}

func statusList(s []int) string {
	if len(s) == 0 {
		return "none"
	}
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

// isFHIRType tells a FHIR resource type name of the family's version.
func (e *engine) isFHIRType(f access.Family) func(string) bool {
	if e.spec == nil {
		return nil
	}
	return func(s string) bool { return e.spec.isFHIRType(f, s) }
}

// describeAlternative names an alternative from the table only.
func describeAlternative(alt assumptions.Alternative) string {
	if alt.Template != "" {
		return alt.Method + " " + alt.Template
	}
	r := alt.Request
	var parts []string
	if len(r.Path) > 0 {
		parts = append(parts, "path "+strings.Join(r.Path, "/"))
	}
	for _, q := range r.Query {
		parts = append(parts, q.Name+"="+strings.Join(q.Values, ","))
	}
	return "the same call with " + strings.Join(parts, "&")
}
