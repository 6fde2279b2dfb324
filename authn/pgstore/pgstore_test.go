package pgstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/pgstore"
	"github.com/pkbgo/pkb/authn/storetest"
	"github.com/pkbgo/pkb/pkbtest/engines"
)

func pool(t *testing.T, url string) *pgxpool.Pool {
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func keyring(t *testing.T) *authn.Keyring {
	k := make([]byte, 32)
	rand.Read(k)
	ring, err := authn.NewKeyring("k1", map[string][]byte{"k1": k})
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestConformance(t *testing.T) {
	srv := engines.StartPostgres(t)
	db := pool(t, srv.URL)
	if err := pgstore.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := pgstore.Migrate(context.Background(), db); err != nil {
		t.Fatalf("Migrate is not idempotent: %v", err)
	}
	for _, enc := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "encrypted"}[enc], func(t *testing.T) {
			var opts pgstore.Options
			if enc {
				opts.Keys = keyring(t)
			}
			storetest.Run(t, func(t *testing.T) storetest.Session {
				key := storetest.NewKey(t)
				return func() authn.Coordinator { return pgstore.New(db, key, opts) }
			}, storetest.Options{})
		})
	}
}

func TestEncryptedRowHasNoToken(t *testing.T) {
	srv := engines.StartPostgres(t)
	db := pool(t, srv.URL)
	ctx := context.Background()
	if err := pgstore.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	s := pgstore.New(db, storetest.NewKey(t), pgstore.Options{Keys: keyring(t)})
	if err := s.Save(ctx, storetest.Token("ACCESS-TOKEN-SEEN-BY-NOBODY", "REFRESH-TOKEN-SEEN-BY-NOBODY")); err != nil {
		t.Fatal(err)
	}
	var row string
	if err := db.QueryRow(ctx, `SELECT t::text FROM pkb_token_sessions t WHERE session_id = $1`, s.SessionID()).Scan(&row); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.QueryRow(ctx, `SELECT token FROM pkb_token_sessions WHERE session_id = $1`, s.SessionID()).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{row, string(raw)} {
		if strings.Contains(v, "SEEN-BY-NOBODY") || strings.Contains(v, "refresh_token") {
			t.Fatalf("raw row holds a token: %s", v)
		}
	}
	if !strings.Contains(string(raw), `"kid":"k1"`) {
		t.Fatalf("no key id beside the ciphertext: %s", raw)
	}
}

func TestMissingTableSaysMigrate(t *testing.T) {
	srv := engines.StartPostgres(t)
	db := pool(t, srv.URL)
	_, err := pgstore.New(db, storetest.NewKey(t), pgstore.Options{}).Load(context.Background())
	if !errors.Is(err, pgstore.ErrNoTable) || !strings.Contains(err.Error(), "pgstore.Migrate") {
		t.Fatalf("err = %v", err)
	}
	// and nothing was created behind the operator's back
	var n int
	db.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE tablename = 'pkb_token_sessions'`).Scan(&n)
	if n != 0 {
		t.Fatal("the table was created without Migrate")
	}
}

func TestUnreachablePostgresIsStoreUnavailable(t *testing.T) {
	srv := engines.StartPostgres(t)
	db := pool(t, srv.URL)
	if err := pgstore.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	c, err := authn.NewTetheredSource(authn.TetheredConfig{ClientID: "storetest", ClientSecret: "x",
		Environment: authn.Environment{UserTokenURL: "https://pkb.invalid/apiToken.action"}, RefreshToken: "rt-never-presented",
		Store: pgstore.New(db, storetest.NewKey(t), pgstore.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background())
	if !errors.Is(err, authn.ErrStoreUnavailable) || strings.Contains(err.Error(), "rt-never-presented") {
		t.Fatalf("err = %v, want ErrStoreUnavailable", err)
	}
}
