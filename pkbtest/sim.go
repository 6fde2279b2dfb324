package pkbtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
)

// Simulator is an offline PKB: the four token endpoints of [AuthServer] plus
// every endpoint family of the OpenAPI documents in api/openapi, served from
// memory on one loopback HTTP server. Every request is checked against those
// documents before it reaches a handler, so the simulator doubles as a
// contract test of any client talking to it. It is an http.Handler, safe for
// concurrent use.
//
// Mount points (relative to [Simulator.URL]):
//
//	/apiAuthorize.action, /apiToken.action,
//	/api/oauth/token, /auth/realms/pkb/...   token endpoints (AuthServer)
//	/fhir                                    Facade FHIR (STU3)
//	/phr-fhir                                Messaging FHIR (STU3)
//	/json                                    custom REST API
//	/aggregated/fhir                         Aggregated FHIR (R4)
//	/customer/stu3/fhir, /customer/r4/fhir   Customer FHIR, one per version (PKB: /fhir on the customer host)
type Simulator struct {
	auth     *AuthServer
	log      *slog.Logger
	pageSize int
	seed     int64
	validate validationMode
	fams     map[access.Family]*family
	handlers map[access.Family]map[string]handlerFunc
	mux      *http.ServeMux

	data    *simData
	bundles atomic.Int64 // Bundle ids
	dev     *deviations  // WithDeviations; nil when the simulator follows the documents

	mu       sync.Mutex
	served   map[string]int
	outcomes []MessageOutcome
	faults   []*APIFault
	latency  map[access.Family]time.Duration
	caps     map[string]int // read-only after NewSimulator
	srv      *http.Server
	baseURL  string
	closeErr error
}

var _ http.Handler = (*Simulator)(nil)

// SimOption configures NewSimulator and NewServer.
type SimOption func(*simSettings)

type simSettings struct {
	seed      int64
	pageSize  int
	logger    *slog.Logger
	authOpts  []Option
	validate  validationMode
	noSeedVal bool
	latency   map[access.Family]time.Duration
	caps      map[string]int
	deviate   []string
}

// validationMode says how much of each exchange is checked against the
// OpenAPI documents; responses are only checked in the simulator's own tests
// because validating large FHIR Bundles dominates the cost of a request.
type validationMode int

const (
	validateRequests validationMode = iota
	validateRequestsAndResponses
)

// DefaultSeed is the seed of the synthetic data when WithSeed is not given,
// so that two simulators built without options hold identical data.
const DefaultSeed int64 = 20240101

// DefaultPageSize is the search page size when a request has no _count and
// WithPageSize is not given. The Aggregated endpoint never pages by more than
// 10 (PKB's documented maximum).
const DefaultPageSize = 20

// WithSeed makes the generated synthetic data (names, values, dates and ids of
// everything but the exported Seed* resources) a function of seed.
func WithSeed(seed int64) SimOption { return func(s *simSettings) { s.seed = seed } }

// WithPageSize sets the default search page size (used when a request has no
// _count); small sizes make paging easy to exercise.
func WithPageSize(n int) SimOption {
	return func(s *simSettings) {
		if n > 0 {
			s.pageSize = n
		}
	}
}

// WithLogger sets where the simulator logs one Info line per request, token
// endpoints included (method, route template, status, duration; never URLs,
// which carry NHS numbers, nor headers, which carry tokens).
func WithLogger(l *slog.Logger) SimOption { return func(s *simSettings) { s.logger = l } }

// WithAccessTokenTTL sets the lifespan of the access tokens of every client
// type, e.g. 2 s to make a fleet of clients refresh constantly. expires_in
// reports it in whole seconds, so use at least 1 s.
func WithAccessTokenTTL(d time.Duration) SimOption {
	return func(s *simSettings) {
		for _, t := range []ClientType{ClientTypeUser, ClientTypeTethered, ClientTypeSystem, ClientTypeCustomer} {
			s.authOpts = append(s.authOpts, WithAccessTokenLifespan(t, d))
		}
	}
}

// WithAuthOptions passes options to the embedded AuthServer, e.g. extra
// clients or token lifespans.
func WithAuthOptions(opts ...Option) SimOption {
	return func(s *simSettings) { s.authOpts = append(s.authOpts, opts...) }
}

// WithResponseValidation also checks every FHIR and JSON response against the
// OpenAPI documents and turns a violation into a 500, so that tests of the
// simulator catch it producing something the contract does not allow. It
// makes large searches several times slower.
func WithResponseValidation() SimOption {
	return func(s *simSettings) { s.validate = validateRequestsAndResponses }
}

// NewSimulator loads the OpenAPI documents (once per process), seeds the
// synthetic data and returns a simulator that is not yet listening: call
// Start, or mount it as an http.Handler.
func NewSimulator(opts ...SimOption) (*Simulator, error) {
	st := simSettings{seed: DefaultSeed, pageSize: DefaultPageSize}
	for _, o := range opts {
		o(&st)
	}
	if st.logger == nil {
		st.logger = slog.New(slog.DiscardHandler)
	}
	fams, err := loadFamilies()
	if err != nil {
		return nil, err
	}
	s := &Simulator{
		auth:     NewAuthServer(st.authOpts...),
		log:      st.logger,
		pageSize: st.pageSize,
		seed:     st.seed,
		validate: st.validate,
		fams:     fams,
		mux:      http.NewServeMux(),
		served:   map[string]int{},
		latency:  map[access.Family]time.Duration{},
		caps:     maps.Clone(st.caps),
	}
	for f, d := range st.latency {
		if d > 0 {
			s.latency[f] = d
		}
	}
	s.handlers = s.routes()
	if s.dev, err = newDeviations(st.deviate); err != nil {
		return nil, err
	}
	s.dev.wrap(s.handlers)
	for _, op := range access.Operations() {
		if s.handlers[op.Family][op.ID] == nil {
			return nil, fmt.Errorf("pkbtest: no simulator handler for %s.%s", op.Family, op.ID)
		}
	}
	s.data = seed(st.seed)
	s.auth.Routes(s.mux)
	s.adminRoutes()
	for _, f := range fams {
		s.mux.Handle(f.prefix+"/", s.familyHandler(f))
	}
	return s, nil
}

// NewServer starts a simulator on 127.0.0.1 with a free port, like
// httptest.NewServer, and closes it when the test ends.
func NewServer(t testing.TB, opts ...SimOption) *Simulator {
	t.Helper()
	s, err := NewSimulator(opts...)
	if err != nil {
		t.Fatalf("pkbtest: %v", err)
	}
	if err := s.Start(""); err != nil {
		t.Fatalf("pkbtest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Start listens on addr ("127.0.0.1:0" when empty: a free loopback port)
// and serves in the background until Close.
func (s *Simulator) Start(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("pkbtest: simulator already started")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pkbtest: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.srv = srv
	s.baseURL = "http://" + l.Addr().String()
	s.auth.mu.Lock()
	s.auth.baseURL = s.baseURL
	s.auth.mu.Unlock()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("pkbtest: serve", "err", err)
		}
	}()
	return nil
}

// Close stops the server started by Start, dropping open connections.
func (s *Simulator) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return s.closeErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.closeErr = s.srv.Close()
	}
	s.srv = nil
	return s.closeErr
}

// URL is the base URL, e.g. http://127.0.0.1:43210 ("" before Start).
func (s *Simulator) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// The customers whose Customer FHIR endpoints the simulator serves, one
// per FHIR version: NewCustomerSystemClient(src, CustomerR4) reaches the
// simulator's R4 customer. Their endpoints end in /fhir, like PKB's
// https://{customer}.fhir-api.{env}/fhir.
const (
	// CustomerSTU3 is the customer whose endpoint is FHIR STU3.
	CustomerSTU3 = "stu3"
	// CustomerR4 is the customer whose endpoint is FHIR R4.
	CustomerR4 = "r4"
)

// Environment points every URL of an authn.Environment at the simulator,
// for authn's constructors (the API clients take their URLs from the token
// source). The simulator serves customer endpoints under paths rather than
// sub-domains, so CustomerURLTemplate is <URL>/customer/{customer}/fhir:
// Environment().CustomerURL(CustomerR4) is the R4 customer's base URL.
func (s *Simulator) Environment() authn.Environment {
	return EnvironmentAt(s.URL())
}

// EnvironmentAt is the Environment of a simulator listening at base (e.g.
// http://127.0.0.1:8080, as 'pkb serve' prints it): every mount point of
// its token endpoints and endpoint families, for a client that reaches a
// simulator another process runs.
func EnvironmentAt(base string) authn.Environment {
	base = strings.TrimRight(base, "/")
	return authn.Environment{
		Name:                "pkbtest",
		UserAuthorizeURL:    base + string(EndpointAuthorize),
		UserTokenURL:        base + string(EndpointUserToken),
		SystemTokenURL:      base + string(EndpointSystemToken),
		CustomerTokenURL:    base + string(EndpointCustomerToken),
		FacadeURL:           base + "/fhir",
		MessagingURL:        base + "/phr-fhir",
		RESTURL:             base + "/json",
		AggregatedURL:       base + "/aggregated/fhir",
		CustomerURLTemplate: base + "/customer/{customer}/fhir",
	}
}

// Auth is the embedded authorization server, for revoking or expiring
// tokens, changing the approval, or injecting token-endpoint faults.
func (s *Simulator) Auth() *AuthServer { return s.auth }

// IssueTetheredRefreshToken does what a Team Coordinator does in PKB's web UI
// for the seeded Tethered-Token client (DefaultTetheredClientID), acting as
// DefaultCoordinatorID.
func (s *Simulator) IssueTetheredRefreshToken() (string, error) {
	return s.auth.IssueTetheredRefreshToken(DefaultTetheredClientID, DefaultCoordinatorID)
}

// ServedOperations counts, per "family.operationId" (e.g.
// "facade.searchObservation"), the requests that passed authentication,
// access control and validation and reached the operation's handler.
func (s *Simulator) ServedOperations() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.served)
}

// ServeHTTP serves the token endpoints and every endpoint family, and logs
// one Info line per request (see WithLogger).
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_, pattern := s.mux.Handler(r)
	route := &requestRoute{name: pattern}
	if pattern == "" {
		route.name = "(unrouted)"
	}
	lw := &logWriter{ResponseWriter: w}
	defer func() {
		// Method, route template, status and duration only: URLs carry NHS
		// numbers and ids, headers carry tokens.
		s.log.Info("pkbtest request", "method", r.Method, "route", route.name, "status", lw.status, "duration", time.Since(start))
	}()
	s.mux.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), routeKey{}, route)))
}

// requestRoute is where a family handler records the route template it
// matched, for the request log.
type requestRoute struct{ name string }

type routeKey struct{}

// setRoute records the matched route template for the request log.
func setRoute(r *http.Request, name string) {
	if rr, ok := r.Context().Value(routeKey{}).(*requestRoute); ok {
		rr.name = name
	}
}

// logWriter remembers the status for the request log.
type logWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status sent.
func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implies 200 when no status was sent.
func (w *logWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets handlers flush through the log writer.
func (w *logWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer (hijacking
// for FaultDown).
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Browse plays the user's browser for a User Client login: it opens authURL
// (from authn's AuthCodeURL or LoginLoopback) and follows the redirect back
// to the application's loopback callback. The simulated user approves as
// the auth server's Approval says. Pass it as the open function of
// authn.LoginLoopback.
func (s *Simulator) Browse(authURL string) error {
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(authURL)
	if err != nil {
		return fmt.Errorf("pkbtest: browse: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pkbtest: browse: callback answered %s", resp.Status)
	}
	return nil
}
