package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/pgstore"
	"github.com/pkbgo/pkb/authn/redisstore"
	"github.com/pkbgo/pkb/internal/redact"
)

// Environment variables of shared token stores.
const (
	envTokenKeys    = "PKB_TOKEN_KEYS"
	envTokenSession = "PKB_TOKEN_SESSION"
)

// Kinds of token store.
const (
	storeFile     = "file"
	storeRedis    = "redis"
	storePostgres = "postgres"
)

// storeKindOf says what PKB_TOKEN_STORE names: a Redis or PostgreSQL URL,
// or else a file.
func storeKindOf(v string) string {
	scheme, _, ok := strings.Cut(v, "://")
	if !ok {
		return storeFile
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		return storeRedis
	case "postgres", "postgresql":
		return storePostgres
	}
	return ""
}

// redactStoreURL hides the userinfo (user and password) of a store URL, for
// every message that names the store.
func redactStoreURL(v string) string {
	if storeKindOf(v) == storeFile {
		return v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "(unparseable " + strings.SplitN(v, "://", 2)[0] + " URL)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "REDACTED")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// storeSecrets are the parts of PKB_TOKEN_STORE the output filter removes.
func storeSecrets(v string) []string {
	u, err := url.Parse(v)
	if err != nil || storeKindOf(v) == storeFile {
		return nil
	}
	var out []string
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	for k, vs := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			out = append(out, vs...)
		}
	}
	return out
}

// checkStoreSetting validates the token-store setting without I/O. A
// password may come from the environment only.
func checkStoreSetting(v string, fromFlag bool) error {
	kind := storeKindOf(v)
	if kind == "" {
		return badValue(fromFlag, "token-store", envTokenStore, "%s: unsupported URL scheme (want redis://, rediss://, postgres:// or postgresql://, or a file path)", redactStoreURL(v))
	}
	if kind == storeFile {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return badValue(fromFlag, "token-store", envTokenStore, "not a valid %s URL", kind)
	}
	if _, has := u.User.Password(); fromFlag && (has || len(storeSecrets(v)) > 0) {
		return usageErrorf("--token-store: put a URL with a password in the environment variable %s, not on the command line (or use PGPASSWORD / PGPASSFILE for PostgreSQL)", envTokenStore)
	}
	return nil
}

// openStore builds the token store of the configured client's session.
// Shared stores connect lazily; the connection is closed by c.close.
func (c *cli) openStore(ctx context.Context, s *settings, key authn.SessionKey) (authn.TokenStore, error) {
	key.Name = c.getenv(envTokenSession)
	switch storeKindOf(s.tokenStore) {
	case storeFile:
		if s.tokenStore == "" {
			return nil, configErrorf("missing token store: set %s", envTokenStore)
		}
		return authn.NewFileStore(s.tokenStore), nil
	case storeRedis:
		keys, err := c.tokenKeys()
		if err != nil {
			return nil, err
		}
		opt, err := redis.ParseURL(s.tokenStore)
		if err != nil {
			return nil, configErrorf("%s: not a valid Redis URL: %s", envTokenStore, redactStoreURL(s.tokenStore))
		}
		// The driver's own log lines (connection retries) would reach the
		// terminal unfiltered; failures are reported as errors instead.
		redis.SetLogger(quietLogger{})
		rdb := redis.NewClient(opt)
		c.closers = append(c.closers, func() { rdb.Close() })
		return redisstore.New(rdb, key, redisstore.Options{Keys: keys}), nil
	case storePostgres:
		keys, err := c.tokenKeys()
		if err != nil {
			return nil, err
		}
		db, err := c.openPostgres(ctx, s)
		if err != nil {
			return nil, err
		}
		return pgstore.New(db, key, pgstore.Options{Keys: keys}), nil
	}
	return nil, configErrorf("%s: unsupported token store %s", envTokenStore, redactStoreURL(s.tokenStore))
}

func (c *cli) openPostgres(ctx context.Context, s *settings) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(s.tokenStore)
	if err != nil {
		return nil, configErrorf("%s: not a valid PostgreSQL URL: %s", envTokenStore, redactStoreURL(s.tokenStore))
	}
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, configErrorf("%s: %s", envTokenStore, redactStoreURL(s.tokenStore))
	}
	c.closers = append(c.closers, db.Close)
	return db, nil
}

// tokenKeys reads the optional encryption keyring.
func (c *cli) tokenKeys() (*authn.Keyring, error) {
	spec := strings.TrimSpace(c.getenv(envTokenKeys))
	if spec == "" {
		return nil, nil
	}
	keys, err := authn.ParseKeyring(spec)
	if err != nil {
		return nil, configErrorf("%s: %v", envTokenKeys, err)
	}
	return keys, nil
}

// cmdMigrate creates the PostgreSQL token-store table: the store never
// creates it by itself.
func (c *cli) cmdMigrate(ctx context.Context, args []string) error {
	var cf commonFlags
	fs := c.newFlagSet("migrate", "[flags]\n\nCreates the table of the PostgreSQL token store named by "+envTokenStore+" (idempotent).")
	addCommon(fs, &cf)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	s, err := c.resolve(&cf)
	if err != nil {
		return err
	}
	if storeKindOf(s.tokenStore) != storePostgres {
		return configErrorf("pkb migrate is for a PostgreSQL token store: set %s to a postgres:// URL", envTokenStore)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	db, err := c.openPostgres(ctx, s)
	if err != nil {
		return err
	}
	if err := pgstore.Migrate(ctx, db); err != nil {
		return &exitError{code: exitNetwork, msg: "migrating " + redactStoreURL(s.tokenStore) + ": " + c.scrub(err.Error())}
	}
	fmt.Fprintf(c.stdout, "Token store table pkb_token_sessions is ready in %s\n", redactStoreURL(s.tokenStore))
	return nil
}

// scrub removes store credentials, in any encoding, from a message.
func (c *cli) scrub(msg string) string {
	return redact.New(storeSecrets(c.getenv(envTokenStore))...).String(msg)
}

// storeError reports a token store that could not be read: a network
// problem for a shared store (worth retrying), a configuration problem for
// a file.
func (c *cli) storeError(err error) error {
	msg := "token store " + redactStoreURL(c.getenv(envTokenStore)) + ": " + c.scrub(err.Error())
	if errors.Is(err, pgstore.ErrNoTable) {
		return configErrorf("%s (run 'pkb migrate')", msg)
	}
	if isNetworkError(err) || errors.Is(err, authn.ErrStoreUnavailable) {
		return &exitError{code: exitNetwork, msg: msg}
	}
	return configErrorf("%s", msg)
}

// quietLogger drops go-redis's internal log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
