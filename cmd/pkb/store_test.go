package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/pkbtest/engines"
)

func TestTokenStoreURLCredentialsNeverPrinted(t *testing.T) {
	const pass = "store-pass-W7x9"
	// Nothing listens on port 1: the store is unreachable.
	r := newRunner(t, map[string]string{"PKB_BASE_URL": "http://127.0.0.1:1", "PKB_CLIENT_TYPE": "tethered", "PKB_CLIENT_ID": "x",
		"PKB_CLIENT_SECRET": "client-secret-value", "PKB_TOKEN_STORE": "redis://admin:" + pass + "@127.0.0.1:1/0", "PKB_REFRESH_TOKEN": "rt-value-123"})
	res := r.want(exitNetwork, "token", "--timeout", "5s")
	assertNoSecret(t, res, pass, "admin:")
	if !strings.Contains(res.stderr, "token store") {
		t.Errorf("message does not name the store:\n%s", res)
	}

	pr := newRunner(t, map[string]string{"PKB_CLIENT_TYPE": "tethered", "PKB_CLIENT_ID": "x", "PKB_CLIENT_SECRET": "s",
		"PKB_TOKEN_STORE": "postgres://pkb:" + pass + "@127.0.0.1:1/db?sslmode=disable", "PKB_REFRESH_TOKEN": "rt"})
	res = pr.want(exitNetwork, "token", "--timeout", "5s")
	assertNoSecret(t, res, pass)

	// A password on the command line is refused, and not echoed.
	res = newRunner(t, map[string]string{"PKB_CLIENT_TYPE": "tethered", "PKB_CLIENT_ID": "x", "PKB_CLIENT_SECRET": "s"}).
		want(exitUsage, "token", "--token-store", "redis://:"+pass+"@127.0.0.1:1/0")
	assertNoSecret(t, res, pass)

	res = newRunner(t, map[string]string{"PKB_CLIENT_TYPE": "tethered", "PKB_CLIENT_ID": "x", "PKB_CLIENT_SECRET": "s",
		"PKB_TOKEN_STORE": "mysql://u:" + pass + "@h/db"}).want(exitAuth, "token")
	assertNoSecret(t, res, pass)
}

// TestSharedTokenStores runs pkb commands, as separate replicas would, on
// one tethered session in Redis and in PostgreSQL (encrypted).
func TestSharedTokenStores(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	keys := "k1:" + base64.StdEncoding.EncodeToString(key)
	for _, kind := range []string{"redis", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			sim := pkbtest.NewServer(t)
			var storeURL string
			if kind == "redis" {
				storeURL = engines.StartRedis(t).URL
			} else {
				storeURL = engines.StartPostgres(t).URL
			}
			rt, err := sim.IssueTetheredRefreshToken()
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "tethered", "PKB_CLIENT_ID": pkbtest.DefaultTetheredClientID,
				"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_TOKEN_STORE": storeURL, "PKB_TOKEN_KEYS": keys, "PKB_REFRESH_TOKEN": rt}
			r := newRunner(t, env)
			if kind == "postgres" {
				res := r.want(exitAuth, "op", "getUserByNhsNumber", "nationalId="+pkbtest.SeedPatientNHSNumber)
				if !strings.Contains(res.stderr, "pkb migrate") {
					t.Fatalf("missing table not explained:\n%s", res)
				}
				r.want(0, "migrate")
			}
			res := r.want(0, "op", "getUserByNhsNumber", "nationalId="+pkbtest.SeedPatientNHSNumber)
			assertNoSecret(t, res, rt)
			delete(r.env, "PKB_REFRESH_TOKEN")
			r.want(0, "token")
			// Another "replica" forces a rotation through the shared store.
			sim.Auth().SetAccessTokenLifespan(pkbtest.ClientTypeTethered, time.Second)
			for range 3 {
				r.want(0, "op", "getUserByNhsNumber", "nationalId="+pkbtest.SeedPatientNHSNumber)
			}
			if st := sim.Stats(); st.ReuseDetections != 0 || st.RefreshTokenRedemptions < 1 {
				t.Fatalf("stats %+v", st)
			}
			if kind == "postgres" {
				db, err := pgxpool.New(context.Background(), storeURL)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				var row string
				db.QueryRow(context.Background(), `SELECT string_agg(t::text, ' ') FROM pkb_token_sessions t`).Scan(&row)
				if row == "" || strings.Contains(row, "refresh_token") {
					t.Fatalf("row holds a token: %q", row)
				}
			}
		})
	}
}
