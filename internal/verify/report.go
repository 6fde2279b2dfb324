package verify

import (
	"time"

	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/assumptions"
)

// Outcome is what a probe found out about an assumption.
type Outcome string

// The outcomes.
const (
	// Confirmed: the answer is the one the claim predicts.
	Confirmed Outcome = "confirmed"
	// Contradicted: the answer is one the claim rules out.
	Contradicted Outcome = "contradicted"
	// Inconclusive: the answer neither confirms nor contradicts the claim
	// (another status, or nothing in the body to inspect).
	Inconclusive Outcome = "inconclusive"
	// NotTestable: no probe ran: the entry is untestable, or this client
	// cannot run its probe, or writes are not allowed, or a value is missing.
	NotTestable Outcome = "not-testable"
	// Error: the probe could not complete (network, time budget).
	Error Outcome = "error"
)

// Report is the result of one run for one client.
type Report struct {
	// Client is who ran the probes.
	Client Client `json:"client"`
	// Started and DurationMS time the run.
	Started    time.Time `json:"started"`
	DurationMS int64     `json:"duration_ms"`
	// Calls counts the HTTP requests sent (discoveries, probes,
	// alternatives and retries).
	Calls int `json:"calls"`
	// Summary counts the outcomes and the drift.
	Summary Summary `json:"summary"`
	// Results has one row per assumption, sorted by ID.
	Results []Result `json:"assumptions"`
	// Drift lists every way an answer differed from the documents, sorted.
	Drift []Drift `json:"drift"`
}

// Summary counts a report's outcomes.
type Summary struct {
	Confirmed     int `json:"confirmed"`
	Contradicted  int `json:"contradicted"`
	Inconclusive  int `json:"inconclusive"`
	NotTestable   int `json:"not_testable"`
	Errors        int `json:"errors"`
	Drift         int `json:"drift"`
	BreakingDrift int `json:"breaking_drift"`
}

// OK reports whether nothing was contradicted and every answer was as the
// documents describe it (no drift, not even what they allow but do not
// describe: that too is a change to fold back into them): pkb verify's
// exit status 0.
func (r *Report) OK() bool {
	return r.Summary.Contradicted == 0 && r.Summary.Drift == 0
}

// Result is what a run found out about one assumption.
type Result struct {
	ID        string           `json:"id"`
	Family    access.Family    `json:"family"`
	Operation string           `json:"operation,omitempty"`
	Kind      assumptions.Kind `json:"kind"`
	Claim     string           `json:"claim"`
	Outcome   Outcome          `json:"outcome"`
	// Reason says why the outcome is not-testable, inconclusive or error.
	Reason string `json:"reason,omitempty"`
	// Writes marks a probe that changed data on PKB.
	Writes bool `json:"writes,omitempty"`
	// Evidence is the answer's structure; nil when no probe ran.
	Evidence *Evidence `json:"evidence,omitempty"`
	// Alternative says which alternative answered as the claim predicted,
	// once the claim was contradicted.
	Alternative string `json:"alternative,omitempty"`
	// DurationMS times the probe (values, call, alternatives).
	DurationMS int64 `json:"duration_ms"`

	obs *observation // for Suggest; never serialised
}

// Evidence describes an answer by its structure only.
type Evidence struct {
	Status int `json:"status"`
	// ContentType is the media type, without parameters.
	ContentType string `json:"content_type,omitempty"`
	// Body is the body's shape, e.g. "object with 3 keys", "array of 2",
	// "empty", "not JSON (1024 bytes)".
	Body string `json:"body"`
	// ContradictedBy is "status" or "answer" (the body or media type
	// failed what the status promised).
	ContradictedBy string `json:"contradicted_by,omitempty"`
	// Checks are the JSON checks of the expectation that applied.
	Checks []CheckEvidence `json:"checks,omitempty"`
	// WantContentType is the media type the expectation wanted.
	WantContentType string `json:"want_content_type,omitempty"`
}

// CheckEvidence is one JSON check: what the table wanted at the path and
// the structure found there.
type CheckEvidence struct {
	Path   string `json:"path"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Result string `json:"result"`
	// Siblings are the keys found beside a missing property (field names
	// only; a key that could be data is shown as "(key)").
	Siblings []string `json:"siblings,omitempty"`
}

// Drift is one way answers differed from the documents.
type Drift struct {
	Family    access.Family `json:"family"`
	Operation string        `json:"operation"`
	// Status is the status of the answer.
	Status int `json:"status"`
	// Kind: undocumented-status, content-type, not-json, error-body,
	// unknown-field, missing-required, type, enum, format, constraint,
	// union, schema.
	Kind string `json:"kind"`
	// Path is where in the body, "" for the whole answer; array indices
	// are written [].
	Path string `json:"path,omitempty"`
	// Detail says what the document wanted and what the answer had, by
	// structure.
	Detail string `json:"detail"`
	// Breaking is false for what the documents allow but do not describe
	// (an unknown field where additional properties are allowed).
	Breaking bool `json:"breaking"`
	// Count is how many answers showed it.
	Count int `json:"count"`
}

// observation is what Suggest needs of a contradicted result.
type observation struct {
	assumption assumptions.Assumption
	probe      assumptions.Probe
	grant      string // the client grant the probe ran with
	status     int
	media      string
	byStatus   bool // contradicted by a contradict status (else by the answer)
	expect     *assumptions.Expect
	checks     []checkObservation
	altIndex   int // index of the alternative that confirmed, -1 none
	altTried   bool
}
