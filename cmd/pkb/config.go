package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/gen/access"
	"github.com/pkbgo/pkb/internal/loopback"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/wrappers"
)

// Environment variables.
const (
	envEnv          = "PKB_ENV"
	envBaseURL      = "PKB_BASE_URL"
	envClientType   = "PKB_CLIENT_TYPE"
	envClientID     = "PKB_CLIENT_ID"
	envClientSecret = "PKB_CLIENT_SECRET"
	envOrgID        = "PKB_ORG_ID"
	envCustomer     = "PKB_CUSTOMER"
	envFHIRVersion  = "PKB_FHIR_VERSION"
	envScope        = "PKB_SCOPE"
	envTokenStore   = "PKB_TOKEN_STORE"
	envRefreshToken = "PKB_REFRESH_TOKEN"
)

const defaultTimeout = 60 * time.Second

// commonFlags are the flags of every command that talks to PKB.
type commonFlags struct {
	env, baseURL, clientType, clientID, orgID, customer string
	fhirVersion, scope, tokenStore, family              string
	json                                                bool
	timeout                                             time.Duration
}

// newFlagSet returns a flag set whose errors are usage errors; usage is
// the command's synopsis followed by its flags.
func (c *cli) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("pkb "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pkb %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nEnvironment variables and exit statuses: run 'pkb help'.")
	}
	return fs
}

// addCommon registers the connection flags.
func addCommon(fs *flag.FlagSet, cf *commonFlags) {
	fs.StringVar(&cf.env, "env", "", "PKB environment: sandbox | uk-production ("+envEnv+", default sandbox)")
	fs.StringVar(&cf.baseURL, "base-url", "", "use the 'pkb serve' simulator at this URL instead of PKB ("+envBaseURL+")")
	fs.StringVar(&cf.clientType, "client-type", "", "client type: user | system | customer | tethered ("+envClientType+", default user)")
	fs.StringVar(&cf.clientID, "client-id", "", "OAuth client id ("+envClientID+"); the secret is read from "+envClientSecret+" only")
	fs.StringVar(&cf.orgID, "org-id", "", "System Client organisation public id ("+envOrgID+")")
	fs.StringVar(&cf.customer, "customer", "", "Customer System Client's customer name ("+envCustomer+")")
	fs.StringVar(&cf.fhirVersion, "fhir-version", "", "Customer endpoint FHIR version: r4 | stu3 ("+envFHIRVersion+", default r4)")
	fs.StringVar(&cf.tokenStore, "token-store", "", "token file of user and tethered clients, or a redis:// or postgres:// URL shared by replicas ("+envTokenStore+"; a URL with a password only there)")
	fs.BoolVar(&cf.json, "json", false, "print JSON on stdout")
	fs.DurationVar(&cf.timeout, "timeout", defaultTimeout, "give up after this long")
}

// addFamily registers --family, for commands that address one API.
func addFamily(fs *flag.FlagSet, cf *commonFlags) {
	var ids []string
	for _, f := range access.Families() {
		ids = append(ids, string(f.ID))
	}
	fs.StringVar(&cf.family, "family", "", "API family: "+strings.Join(ids, " | ")+" (default: the client type's FHIR API)")
}

// parseArgs parses flags that may be interspersed with positional
// arguments ("pkb search Observation patient=x --json"); "--" ends flags.
// parseNoArgs parses the flags of a command that takes no positional
// arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	return nil
}

func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			// The flag package has printed the problem and the usage.
			return nil, &exitError{code: exitUsage, msg: err.Error(), silent: true}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// settings is the resolved configuration: flags, else environment, else
// defaults.
type settings struct {
	envName      string
	env          authn.Environment
	baseURL      string // simulator override, "" for PKB
	clientType   authn.ClientType
	clientID     string
	secret       string
	orgID        string
	customer     string
	fhirVersion  string
	scope        string
	tokenStore   string
	refreshToken string
	timeout      time.Duration
}

// pick returns the flag value if set, else the environment variable, and
// whether it came from a flag.
func (c *cli) pick(flagVal, env string) (string, bool) {
	if flagVal != "" {
		return flagVal, true
	}
	return strings.TrimSpace(c.getenv(env)), false
}

// badValue is a usage error for a flag and a configuration error for an
// environment variable.
func badValue(fromFlag bool, flagName, env, format string, args ...any) error {
	if fromFlag {
		return usageErrorf("--%s: "+format, append([]any{flagName}, args...)...)
	}
	return configErrorf("%s: "+format, append([]any{env}, args...)...)
}

var customerLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// resolve builds the settings without any I/O.
func (c *cli) resolve(cf *commonFlags) (*settings, error) {
	s := &settings{secret: c.getenv(envClientSecret), refreshToken: strings.TrimSpace(c.getenv(envRefreshToken)), timeout: cf.timeout}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}

	name, fromFlag := c.pick(cf.env, envEnv)
	switch strings.ToLower(name) {
	case "", "sandbox":
		s.envName, s.env = "sandbox", authn.Sandbox
	case "uk-production", "production", "uk":
		s.envName, s.env = "uk-production", authn.UKProduction
	default:
		return nil, badValue(fromFlag, "env", envEnv, "unknown environment %q (want sandbox or uk-production)", name)
	}

	if base, fromFlag := c.pick(cf.baseURL, envBaseURL); base != "" {
		// The messages below never quote the URL: it may carry a password.
		c.secrets.addUserinfo(base)
		u, err := url.Parse(base)
		var problem string
		switch {
		case err != nil || !u.IsAbs() || u.Host == "":
			problem = "not an absolute URL"
		case u.User != nil || strings.Contains(u.Host, "@"):
			problem = "must not carry credentials (user:password@)"
		case u.Scheme != "http" && u.Scheme != "https":
			problem = "must be an http(s) URL"
		case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
			problem = "must not carry a query or a fragment"
		}
		if problem != "" {
			return nil, badValue(fromFlag, "base-url", envBaseURL, "%s", problem)
		}
		// Client secrets and tokens go to this host: plain http only to
		// loopback, as the wrappers require for API calls.
		if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
			return nil, badValue(fromFlag, "base-url", envBaseURL, "plain http is allowed only to a loopback host, not %s; use https", u.Hostname())
		}
		s.baseURL = strings.TrimRight(u.String(), "/")
		s.envName = "local"
		s.env = pkbtest.EnvironmentAt(s.baseURL)
	}

	ct, fromFlag := c.pick(cf.clientType, envClientType)
	switch authn.ClientType(strings.ToLower(ct)) {
	case "", authn.ClientUser:
		s.clientType = authn.ClientUser
	case authn.ClientSystem, authn.ClientCustomer, authn.ClientTethered:
		s.clientType = authn.ClientType(strings.ToLower(ct))
	default:
		return nil, badValue(fromFlag, "client-type", envClientType, "unknown client type %q (want user, system, customer or tethered)", ct)
	}

	s.clientID, _ = c.pick(cf.clientID, envClientID)
	s.orgID, _ = c.pick(cf.orgID, envOrgID)

	var v string
	v, fromFlag = c.pick(cf.fhirVersion, envFHIRVersion)
	switch strings.ToLower(v) {
	case "", "r4":
		s.fhirVersion = "r4"
	case "stu3":
		s.fhirVersion = "stu3"
	default:
		return nil, badValue(fromFlag, "fhir-version", envFHIRVersion, "unknown FHIR version %q (want r4 or stu3)", v)
	}

	s.customer, fromFlag = c.pick(cf.customer, envCustomer)
	if s.customer != "" && !customerLabel.MatchString(s.customer) {
		return nil, badValue(fromFlag, "customer", envCustomer, "%q is not a lower-case DNS label", s.customer)
	}

	v, fromFlag = c.pick(cf.scope, envScope)
	switch strings.ToUpper(v) {
	case "":
	case authn.ScopePatient, authn.ScopeClinician, authn.ScopeTeamCoord:
		s.scope = strings.ToUpper(v)
	default:
		return nil, badValue(fromFlag, "scope", envScope, "unknown user type %q (want PATIENT, CLINICIAN or TEAMCOORD)", v)
	}

	s.tokenStore, fromFlag = c.pick(cf.tokenStore, envTokenStore)
	if s.tokenStore != "" {
		if err := checkStoreSetting(s.tokenStore, fromFlag); err != nil {
			return nil, err
		}
	}
	if s.tokenStore == "" && (s.clientType == authn.ClientUser || s.clientType == authn.ClientTethered) {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, configErrorf("cannot find a directory for the token store (%v): set %s", err, envTokenStore)
		}
		where := s.envName
		if s.baseURL != "" {
			u, _ := url.Parse(s.baseURL)
			where = "local-" + u.Host
		}
		s.tokenStore = filepath.Join(dir, "pkb", "tokens", safeName(where+"-"+string(s.clientType)+"-"+s.clientID)+".json")
	}
	return s, nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// customerName is the customer whose Customer FHIR endpoint to use; the
// simulator of --base-url names its customers after their FHIR version.
func (s *settings) customerName() (string, error) {
	switch {
	case s.customer != "":
		return s.customer, nil
	case s.baseURL != "":
		if s.fhirVersion == "stu3" {
			return pkbtest.CustomerSTU3, nil
		}
		return pkbtest.CustomerR4, nil
	}
	return "", missingEnv("customer name", envCustomer, "customer")
}

// session is a configured client: a token source and the checkpoints of
// the API families its client type may call.
type session struct {
	s        *settings
	src      authn.Source
	store    authn.TokenStore
	families []*wrappers.Family // the first is the default for get/search
	// credErr, when set, is why the session has no credentials: it makes
	// public calls only (setupPublic).
	credErr error
}

func (c *cli) authnOptions() authn.Options {
	return authn.Options{HTTPClient: c.httpClient}
}

func (c *cli) wrapperOptions() []wrappers.Option {
	var opts []wrappers.Option
	if c.httpClient != nil {
		opts = append(opts, wrappers.WithHTTPClient(c.httpClient))
	}
	return opts
}

// requireSecret checks the client secret, which only the environment can
// supply.
func (s *settings) requireSecret() error {
	if s.secret == "" {
		return configErrorf("missing client secret: set the environment variable %s (it is never read from a flag, so it stays out of shell history and process lists)", envClientSecret)
	}
	return nil
}

// sharedStore returns the token store client-credentials clients share, or
// nil when PKB_TOKEN_STORE is not a Redis or PostgreSQL URL.
func (c *cli) sharedStore(ctx context.Context, s *settings, key authn.SessionKey) (authn.TokenStore, error) {
	if s.tokenStore == "" || storeKindOf(s.tokenStore) == storeFile {
		return nil, nil
	}
	return c.openStore(ctx, s, key)
}

// tokenSource builds the authn source for the configured client type,
// without I/O (the token store is read for tethered clients). Every token
// the source hands out is recorded as a secret this invocation never prints.
func (c *cli) tokenSource(ctx context.Context, s *settings) (authn.Source, authn.TokenStore, error) {
	src, store, err := c.newTokenSource(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	return recordingSource{Source: src, secrets: c.secrets}, store, nil
}

func (c *cli) newTokenSource(ctx context.Context, s *settings) (authn.Source, authn.TokenStore, error) {
	if s.clientID == "" {
		return nil, nil, missingEnv("client id", envClientID, "client-id")
	}
	opts := c.authnOptions()
	switch s.clientType {
	case authn.ClientSystem:
		if err := s.requireSecret(); err != nil {
			return nil, nil, err
		}
		if s.orgID == "" {
			return nil, nil, missingEnv("organisation public id for X-Org-Public-Id", envOrgID, "org-id")
		}
		cfg := authn.SystemConfig{ClientID: s.clientID, ClientSecret: s.secret, Environment: s.env, Options: opts}
		store, err := c.sharedStore(ctx, s, cfg.SessionKey(""))
		if err != nil {
			return nil, nil, err
		}
		cfg.Store = store
		src, err := authn.NewSystemSource(cfg)
		return src, nil, err
	case authn.ClientCustomer:
		if err := s.requireSecret(); err != nil {
			return nil, nil, err
		}
		cfg := authn.CustomerConfig{ClientID: s.clientID, ClientSecret: s.secret, Environment: s.env, Options: opts}
		store, err := c.sharedStore(ctx, s, cfg.SessionKey(""))
		if err != nil {
			return nil, nil, err
		}
		cfg.Store = store
		src, err := authn.NewCustomerSource(cfg)
		return src, nil, err
	case authn.ClientUser:
		store, err := c.openStore(ctx, s, authn.UserConfig{ClientID: s.clientID, Environment: s.env}.SessionKey(""))
		if err != nil {
			return nil, nil, err
		}
		tok, err := store.Load(ctx)
		if err != nil {
			return nil, nil, c.storeError(err)
		}
		c.secrets.addToken(tok)
		if tok == nil || (tok.AccessToken == "" && tok.RefreshToken == "") {
			return nil, nil, configErrorf("not logged in: run 'pkb login' (the token store %s holds no session)", redactStoreURL(s.tokenStore))
		}
		// The wrappers check the grant before any I/O, and before its first
		// Token call a UserClient knows only the configured scope, not the
		// stored session's: configure the one the session was granted.
		scope := s.scope
		if scope == "" {
			for _, sc := range authn.GrantedScopes(tok) {
				if sc == authn.ScopePatient || sc == authn.ScopeClinician || sc == authn.ScopeTeamCoord {
					scope = sc
					break
				}
			}
		}
		src, err := authn.NewUserSource(authn.UserConfig{ClientID: s.clientID, ClientSecret: s.secret, Environment: s.env,
			Scope: scope, Store: store, Options: opts})
		return src, store, err
	case authn.ClientTethered:
		if err := s.requireSecret(); err != nil {
			return nil, nil, err
		}
		store, err := c.openStore(ctx, s, authn.TetheredConfig{ClientID: s.clientID, Environment: s.env}.SessionKey(""))
		if err != nil {
			return nil, nil, err
		}
		if s.refreshToken == "" {
			tok, err := store.Load(ctx)
			if err != nil {
				return nil, nil, c.storeError(err)
			}
			c.secrets.addToken(tok)
			if tok == nil || tok.RefreshToken == "" {
				return nil, nil, configErrorf("missing refresh token: set the environment variable %s to the refresh token a Team Coordinator issued (Institution tab, REST API access); it is used once and then rotated in %s", envRefreshToken, redactStoreURL(s.tokenStore))
			}
		}
		src, err := authn.NewTetheredSource(authn.TetheredConfig{ClientID: s.clientID, ClientSecret: s.secret, Environment: s.env,
			RefreshToken: s.refreshToken, Store: store, Options: opts})
		return src, store, err
	}
	return nil, nil, configErrorf("unknown client type %q", s.clientType)
}

// newSession builds the token source and the client type's wrapper.
func (c *cli) newSession(ctx context.Context, s *settings) (*session, error) {
	src, store, err := c.tokenSource(ctx, s)
	if err != nil {
		return nil, err
	}
	fams, err := c.families(src, s)
	if err != nil {
		return nil, err
	}
	return &session{s: s, src: src, store: store, families: fams}, nil
}

// families builds the wrapper of s's client type on src and returns the
// checkpoints of its families, the default one (the FHIR API the client
// type is for) first.
func (c *cli) families(src authn.Source, s *settings) ([]*wrappers.Family, error) {
	opts := c.wrapperOptions()
	switch s.clientType {
	case authn.ClientSystem:
		w, err := wrappers.NewSystemClient(src, s.orgID, opts...)
		if err != nil {
			return nil, configErrorf("%v", err)
		}
		return []*wrappers.Family{w.Facade.Family(), w.Messaging.Family()}, nil
	case authn.ClientCustomer:
		customer, err := s.customerName()
		if err != nil {
			return nil, err
		}
		w, err := wrappers.NewCustomerSystemClient(src, customer, opts...)
		if err != nil {
			return nil, configErrorf("%v", err)
		}
		if s.fhirVersion == "stu3" {
			return []*wrappers.Family{w.CustomerSTU3.Family(), w.Aggregated.Family()}, nil
		}
		return []*wrappers.Family{w.CustomerR4.Family(), w.Aggregated.Family()}, nil
	case authn.ClientUser:
		w, err := wrappers.NewUserClient(src, opts...)
		if err != nil {
			return nil, configErrorf("%v", err)
		}
		return []*wrappers.Family{w.Facade.Family(), w.REST.Family()}, nil
	case authn.ClientTethered:
		w, err := wrappers.NewTetheredClient(src, opts...)
		if err != nil {
			return nil, configErrorf("%v", err)
		}
		return []*wrappers.Family{w.REST.Family()}, nil
	}
	return nil, configErrorf("unknown client type %q", s.clientType)
}

const mediaFHIR = "application/fhir+json"

// family returns the named family, or the default one.
func (sess *session) family(name string) (*wrappers.Family, error) {
	if name == "" {
		return sess.families[0], nil
	}
	var names []string
	for _, f := range sess.families {
		id := string(f.Info().ID)
		if id == strings.ToLower(name) {
			return f, nil
		}
		names = append(names, id)
	}
	return nil, usageErrorf("--family %s: a %s client can use %s", name, sess.s.clientType, strings.Join(names, ", "))
}
