// Package fleettest is the acceptance harness of issue 10: real OS processes
// sharing one PKB session through the Redis and PostgreSQL token stores,
// against the simulator, with workers killed and stores stopped mid-run.
// It is a module of its own because it needs both store drivers, the
// simulator and the wrappers at once.
package fleettest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/pgstore"
	"github.com/pkbgo/pkb/authn/redisstore"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

// Worker configuration, passed by the parent test in the environment.
const (
	envWorker     = "PKB_FLEET_WORKER"
	envConfig     = "PKB_FLEET_CONFIG"
	sessionName   = "fleet"
	tokenTimeout  = 10 * time.Second
	workerLeaseTT = 20 * time.Second
)

// WorkerConfig is what one worker process does.
type WorkerConfig struct {
	Env          authn.Environment `json:"env"`
	StoreURL     string            `json:"store_url"`
	RefreshToken string            `json:"refresh_token"`
	Tethered     int               `json:"tethered_goroutines"`
	System       int               `json:"system_goroutines"`
	Until        time.Time         `json:"until"`
	// RecoveredAfter: calls that succeed after this count as "after the
	// outage" (chaos runs).
	RecoveredAfter time.Time `json:"recovered_after"`
}

// Report is what a worker prints when it ends.
type Report struct {
	OK       int            `json:"ok"`
	Failed   int            `json:"failed"`
	Failures map[string]int `json:"failures"`
	Examples []string       `json:"examples"`
	// OKAfterOutage counts successful calls after RecoveredAfter.
	OKAfterOutage int `json:"ok_after_outage"`
	// SlowTokens are the durations of Token calls that did not come from
	// the in-process cache (a rotation, an adoption or a wait for one).
	SlowTokens []time.Duration `json:"slow_tokens"`
	// RefreshRequests counts the refresh_token grants this process sent.
	RefreshRequests int64 `json:"refresh_requests"`
}

// IsWorker reports whether this process was started as a worker.
func IsWorker() bool { return os.Getenv(envWorker) == "1" }

// WorkerMain runs a worker and returns its exit status.
func WorkerMain() int {
	var cfg WorkerConfig
	if err := json.Unmarshal([]byte(os.Getenv(envConfig)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "worker config:", err)
		return 2
	}
	rep, err := runWorker(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 1
	}
	return 0
}

// OpenStore opens the shared store named by url for key.
func OpenStore(ctx context.Context, url string, key authn.SessionKey) (authn.Coordinator, func(), error) {
	switch {
	case strings.HasPrefix(url, "redis://"):
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, err
		}
		rdb := redis.NewClient(opt)
		return redisstore.New(rdb, key, redisstore.Options{}), func() { rdb.Close() }, nil
	case strings.HasPrefix(url, "postgres://"):
		db, err := pgxpool.New(ctx, url)
		if err != nil {
			return nil, nil, err
		}
		return pgstore.New(db, key, pgstore.Options{}), db.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown store %q", url)
}

// countingTransport counts refresh_token grants.
type countingTransport struct {
	n *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.GetBody != nil {
		if b, err := r.GetBody(); err == nil {
			var buf [4096]byte
			n, _ := b.Read(buf[:])
			if strings.Contains(string(buf[:n]), "grant_type=refresh_token") {
				c.n.Add(1)
			}
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// timedSource records Token calls that were not cache hits, once the
// process is warm (its first token obtained: process start, connection
// set-up and the first adoption are not a rotation's cost).
type timedSource struct {
	authn.Source
	mu   sync.Mutex
	warm time.Time
	slow []time.Duration
}

func (t *timedSource) Token(ctx context.Context) (*oauth2.Token, error) {
	start := time.Now()
	tok, err := t.Source.Token(ctx)
	d := time.Since(start)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil && t.warm.IsZero():
		t.warm = time.Now().Add(500 * time.Millisecond)
	case !t.warm.IsZero() && start.After(t.warm) && d > 300*time.Microsecond:
		t.slow = append(t.slow, d)
	}
	return tok, err
}

func runWorker(cfg WorkerConfig) (*Report, error) {
	ctx := context.Background()
	var refreshes atomic.Int64
	opts := authn.Options{HTTPClient: &http.Client{Timeout: tokenTimeout, Transport: countingTransport{&refreshes}}, LeaseTTL: workerLeaseTT}

	tcfg := authn.TetheredConfig{ClientID: pkbtest.DefaultTetheredClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: cfg.Env, RefreshToken: cfg.RefreshToken, Options: opts}
	tstore, closeT, err := OpenStore(ctx, cfg.StoreURL, tcfg.SessionKey(sessionName))
	if err != nil {
		return nil, err
	}
	defer closeT()
	tcfg.Store = tstore
	tsrc, err := authn.NewTetheredSource(tcfg)
	if err != nil {
		return nil, err
	}
	timed := &timedSource{Source: tsrc}
	teth, err := wrappers.NewTetheredClient(timed)
	if err != nil {
		return nil, err
	}

	scfg := authn.SystemConfig{ClientID: pkbtest.DefaultSystemClientID, ClientSecret: pkbtest.DefaultClientSecret,
		Environment: cfg.Env, Options: authn.Options{HTTPClient: &http.Client{Timeout: tokenTimeout}, LeaseTTL: workerLeaseTT}}
	sstore, closeS, err := OpenStore(ctx, cfg.StoreURL, scfg.SessionKey(sessionName))
	if err != nil {
		return nil, err
	}
	defer closeS()
	scfg.Store = sstore
	ssrc, err := authn.NewSystemSource(scfg)
	if err != nil {
		return nil, err
	}
	sys, err := wrappers.NewSystemClient(ssrc, pkbtest.SeedOrgPublicID)
	if err != nil {
		return nil, err
	}

	rep := &Report{Failures: map[string]int{}}
	var mu sync.Mutex
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			rep.OK++
			if !cfg.RecoveredAfter.IsZero() && time.Now().After(cfg.RecoveredAfter) {
				rep.OKAfterOutage++
			}
			return
		}
		rep.Failed++
		class := Classify(err)
		rep.Failures[class]++
		if rep.Failures[class] <= 2 {
			rep.Examples = append(rep.Examples, class+": "+err.Error())
		}
	}
	call := func(f func(ctx context.Context) (int, error)) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		status, err := f(cctx)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("HTTP %d", status)
		}
		record(err)
		if err != nil {
			time.Sleep(20 * time.Millisecond) // a failing caller backs off
		}
	}
	var wg sync.WaitGroup
	loop := func(f func(ctx context.Context) (int, error)) {
		defer wg.Done()
		for time.Now().Before(cfg.Until) {
			call(f)
		}
	}
	for range cfg.Tethered {
		wg.Add(1)
		go loop(func(ctx context.Context) (int, error) {
			r, err := teth.REST.Gen.GetUserByNhsNumberWithResponse(ctx, pkbtest.SeedPatientNHSNumber)
			if err != nil {
				return 0, err
			}
			return r.StatusCode(), nil
		})
	}
	for range cfg.System {
		wg.Add(1)
		go loop(func(ctx context.Context) (int, error) {
			r, err := sys.Facade.Gen.ReadPatientWithResponse(ctx, pkbtest.SeedPatientID)
			if err != nil {
				return 0, err
			}
			return r.StatusCode(), nil
		})
	}
	wg.Wait()
	timed.mu.Lock()
	rep.SlowTokens = slices.Clone(timed.slow)
	timed.mu.Unlock()
	rep.RefreshRequests = refreshes.Load()
	return rep, nil
}

// Classify names the kind of a failed call, so that a run can tell typed
// failures (the store is down) from anything else.
func Classify(err error) string {
	var ae *wrappers.APIError
	switch {
	case errors.Is(err, authn.ErrNotPersisted):
		return "not_persisted"
	case errors.Is(err, authn.ErrStoreUnavailable):
		return "store_unavailable"
	case errors.Is(err, authn.ErrLeaseLost):
		return "lease_lost"
	case errors.Is(err, authn.ErrReauthorize):
		return "reauthorize"
	case errors.Is(err, authn.ErrTokenEndpoint):
		return "token_endpoint"
	case errors.As(err, &ae):
		return "api_" + strconv.Itoa(ae.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	return "other"
}
