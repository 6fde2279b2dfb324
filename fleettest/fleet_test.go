package fleettest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/pgstore"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/pkbtest/engines"
)

func TestMain(m *testing.M) {
	if IsWorker() {
		os.Exit(WorkerMain())
	}
	os.Exit(m.Run())
}

const (
	processes   = 8
	goroutines  = 25 // tethered callers per process
	sysCallers  = 5  // System Client callers per process
	accessTTL   = 2 * time.Second
	outageFor   = 5 * time.Second
	defaultSecs = 8
)

// runFor is PKB_FLEET_SECONDS (60 for the measurement runs), 8 by default.
func runFor(t *testing.T) time.Duration {
	if v := os.Getenv("PKB_FLEET_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4 {
			t.Fatalf("PKB_FLEET_SECONDS=%q: want a whole number of seconds, at least 4", v)
		}
		return time.Duration(n) * time.Second
	}
	return defaultSecs * time.Second
}

type mode int

const (
	steady mode = iota
	sigkill
	outage
)

// engine is the store server of a run.
type engine struct {
	url     string
	disrupt func(t *testing.T) // stop for outageFor then start (Redis), or restart (PostgreSQL)
	version func(t *testing.T, key authn.SessionKey) uint64
}

func redisEngine(t *testing.T) *engine {
	r := engines.StartRedis(t)
	return &engine{url: r.URL,
		disrupt: func(t *testing.T) {
			r.Stop(t)
			time.Sleep(outageFor)
			r.Start(t)
		},
		version: func(t *testing.T, key authn.SessionKey) uint64 { return storeVersion(t, r.URL, key) },
	}
}

func postgresEngine(t *testing.T) *engine {
	p := engines.StartPostgres(t)
	db, err := pgxpool.New(context.Background(), p.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := pgstore.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return &engine{url: p.URL,
		disrupt: func(t *testing.T) { p.Restart(t) },
		version: func(t *testing.T, key authn.SessionKey) uint64 { return storeVersion(t, p.URL, key) },
	}
}

func storeVersion(t *testing.T, url string, key authn.SessionKey) uint64 {
	s, closeFn, err := OpenStore(context.Background(), url, key)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	_, v, err := s.LoadVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// worker is one running worker process.
type worker struct {
	cmd *exec.Cmd
	out bytes.Buffer
	err bytes.Buffer
}

func startWorker(t *testing.T, cfg WorkerConfig) *worker {
	b, _ := json.Marshal(cfg)
	w := &worker{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	w.cmd.Env = append(os.Environ(), envWorker+"=1", envConfig+"="+string(b))
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.err
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return w
}

// Result sums a run.
type Result struct {
	Store, Mode              string
	Duration                 time.Duration
	OK, Failed               int
	Failures                 map[string]int
	Examples                 []string
	OKAfterOutage            int
	Kills                    int
	Redemptions, Versions    uint64
	WorkerRefreshRequests    int64
	ReuseDetections          int
	SystemTokenRequests      int
	SlowTokens               []time.Duration
	ReportsMissing           int
	SessionAliveAtEnd        bool
	SessionAliveErr          string
	SystemTokenRequestsBound int
}

func (r Result) percentile(p float64) time.Duration {
	if len(r.SlowTokens) == 0 {
		return 0
	}
	s := slices.Clone(r.SlowTokens)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func (r Result) String() string {
	return fmt.Sprintf("%s/%s %v: calls ok=%d failed=%d %v (ok after outage %d), kills=%d, redemptions=%d versions=%d (workers sent %d refresh grants), "+
		"reuse detections=%d, system token requests=%d (bound %d), rotation/adoption Token latency n=%d p50=%v p99=%v max=%v, session alive at end=%v %s",
		r.Store, r.Mode, r.Duration, r.OK, r.Failed, r.Failures, r.OKAfterOutage, r.Kills, r.Redemptions, r.Versions, r.WorkerRefreshRequests,
		r.ReuseDetections, r.SystemTokenRequests, r.SystemTokenRequestsBound, len(r.SlowTokens), r.percentile(0.5), r.percentile(0.99), r.percentile(1), r.SessionAliveAtEnd, r.SessionAliveErr)
}

func run(t *testing.T, storeName string, eng *engine, m mode) Result {
	sim := pkbtest.NewServer(t, pkbtest.WithAccessTokenTTL(accessTTL))
	rt, err := sim.IssueTetheredRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	d := runFor(t)
	if m == outage {
		// Room for the outage and for the recovery after it.
		d = max(d, 3*outageFor)
	}
	start := time.Now()
	until := start.Add(d)
	cfg := WorkerConfig{Env: sim.Environment(), StoreURL: eng.url, RefreshToken: rt, Tethered: goroutines, System: sysCallers, Until: until}
	var outageEnd time.Time
	if m == outage {
		// The outage starts a third into the run; calls must succeed again
		// within two seconds of its end.
		outageEnd = start.Add(d/3 + outageFor + 2*time.Second)
		cfg.RecoveredAfter = outageEnd
	}

	var mu sync.Mutex
	var all []*worker
	live := make([]*worker, processes)
	for i := range live {
		live[i] = startWorker(t, cfg)
		all = append(all, live[i])
	}
	res := Result{Store: storeName, Mode: [...]string{"steady", "sigkill", "outage"}[m], Duration: d, Failures: map[string]int{}}

	switch m {
	case sigkill:
		every := min(10*time.Second, d/3)
		for time.Now().Add(every + time.Second).Before(until) {
			time.Sleep(every)
			i := rand.IntN(processes)
			_ = live[i].cmd.Process.Kill() // SIGKILL
			_ = live[i].cmd.Wait()
			res.Kills++
			mu.Lock()
			live[i] = startWorker(t, cfg)
			all = append(all, live[i])
			mu.Unlock()
		}
	case outage:
		time.Sleep(d / 3)
		eng.disrupt(t)
	}
	killed := map[*worker]bool{}
	for _, w := range all {
		if !slices.Contains(live, w) {
			killed[w] = true
		}
	}
	for _, w := range all {
		if killed[w] {
			continue
		}
		if err := w.cmd.Wait(); err != nil {
			t.Errorf("worker: %v\n%s", err, w.err.String())
			res.ReportsMissing++
			continue
		}
		var rep Report
		if err := json.Unmarshal(w.out.Bytes(), &rep); err != nil {
			t.Errorf("worker report: %v\n%s", err, w.out.String())
			res.ReportsMissing++
			continue
		}
		res.OK += rep.OK
		res.Failed += rep.Failed
		res.OKAfterOutage += rep.OKAfterOutage
		res.WorkerRefreshRequests += rep.RefreshRequests
		for k, v := range rep.Failures {
			res.Failures[k] += v
		}
		for _, e := range rep.Examples {
			if len(res.Examples) < 12 && !slices.Contains(res.Examples, e) {
				res.Examples = append(res.Examples, e)
			}
		}
		res.SlowTokens = append(res.SlowTokens, rep.SlowTokens...)
	}

	// Is the session still alive? A new client on the store must make a
	// call, rotating if it has to, without a new coordinator token.
	tcfg := authn.TetheredConfig{ClientID: pkbtest.DefaultTetheredClientID, ClientSecret: pkbtest.DefaultClientSecret, Environment: sim.Environment()}
	key := tcfg.SessionKey(sessionName)
	time.Sleep(accessTTL) // let the access token expire, so that the check rotates
	tstore, closeT, err := OpenStore(context.Background(), eng.url, key)
	if err != nil {
		t.Fatal(err)
	}
	defer closeT()
	tcfg.Store = tstore
	src, err := authn.NewTetheredSource(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Token(context.Background()); err != nil {
		res.SessionAliveErr = err.Error()
	} else {
		res.SessionAliveAtEnd = true
	}

	resp, err := http.Get(sim.URL() + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st pkbtest.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	res.Redemptions = uint64(st.RefreshTokenRedemptions)
	res.ReuseDetections = st.ReuseDetections
	res.SystemTokenRequests = st.TokenRequests["system"]["client_credentials"]
	res.Versions = eng.version(t, key)
	// A shared token is replaced at half its life (TTL 2 s: every second),
	// so a refresh period is TTL/2; plus one per process at start.
	res.SystemTokenRequestsBound = int(d/(accessTTL/2)) + 1 + processes
	t.Log(res.String())
	for _, e := range res.Examples {
		t.Log("  failure example:", e)
	}
	return res
}

// check asserts the invariants every run must keep.
func check(t *testing.T, r Result) {
	t.Helper()
	if r.Mode == "sigkill" && !r.SessionAliveAtEnd && r.Redemptions == r.Versions+1 && r.Kills > 0 {
		// A worker killed in the milliseconds between PKB's answer to its
		// redemption and its save took the only copy of the next refresh
		// token with it: PKB's single-use refresh tokens make that window
		// impossible to close on the client side (README, "Running several
		// replicas"). The run shows it as exactly one unsaved redemption.
		// Anything else that kills the session is a coordination failure.
		t.Logf("the session died because a worker was killed between redeeming and saving (%d redemptions, %d saved rotations): the documented, unavoidable window", r.Redemptions, r.Versions)
		return
	}
	if r.ReuseDetections != 0 {
		t.Errorf("%d refresh-token reuse detections, want 0", r.ReuseDetections)
	}
	if r.Redemptions != r.Versions {
		t.Errorf("%d redemptions at PKB but %d rotations saved: each refresh token must be redeemed exactly once", r.Redemptions, r.Versions)
	}
	if !r.SessionAliveAtEnd {
		t.Errorf("the session did not survive: %s", r.SessionAliveErr)
	}
	if r.OK == 0 {
		t.Error("no call succeeded")
	}
}

func testSteady(t *testing.T, name string, eng *engine) {
	r := run(t, name, eng, steady)
	check(t, r)
	if r.Failed != 0 {
		t.Errorf("%d failed calls, want 0: %v", r.Failed, r.Failures)
	}
	if r.SystemTokenRequests > r.SystemTokenRequestsBound {
		t.Errorf("%d System token requests from %d processes in %v, want at most %d (one per refresh period, plus one per process at start)",
			r.SystemTokenRequests, processes, r.Duration, r.SystemTokenRequestsBound)
	}
}

func testSigkill(t *testing.T, name string, eng *engine) {
	r := run(t, name, eng, sigkill)
	check(t, r)
	if r.Kills == 0 {
		t.Error("no worker was killed")
	}
}

func testOutage(t *testing.T, name string, eng *engine) {
	r := run(t, name, eng, outage)
	check(t, r)
	for class, n := range r.Failures {
		switch class {
		case "store_unavailable", "not_persisted":
		default:
			t.Errorf("%d untyped or unexpected failures while the store was disrupted: %s", n, class)
		}
	}
	if r.OKAfterOutage == 0 {
		t.Error("no call succeeded after the store came back: the clients did not recover")
	}
}

func TestFleetRedis(t *testing.T)           { testSteady(t, "redis", redisEngine(t)) }
func TestFleetPostgres(t *testing.T)        { testSteady(t, "postgres", postgresEngine(t)) }
func TestFleetRedisSIGKILL(t *testing.T)    { testSigkill(t, "redis", redisEngine(t)) }
func TestFleetPostgresSIGKILL(t *testing.T) { testSigkill(t, "postgres", postgresEngine(t)) }
func TestFleetRedisStopped(t *testing.T)    { testOutage(t, "redis", redisEngine(t)) }
func TestFleetPostgresRestarted(t *testing.T) {
	testOutage(t, "postgres", postgresEngine(t))
}
