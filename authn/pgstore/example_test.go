package pgstore_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/pgstore"
	"github.com/pkbgo/pkb/wrappers"
)

// Every replica runs the same code: they share one Tethered session, and
// each refresh token is redeemed by exactly one of them. Run Migrate (or
// schema.sql) once at deploy time.
func Example() {
	ctx := context.Background()
	db, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL")) // e.g. postgres://pkb@db:5432/app
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := pgstore.Migrate(ctx, db); err != nil {
		log.Fatal(err)
	}

	cfg := authn.TetheredConfig{
		ClientID:     os.Getenv("PKB_CLIENT_ID"),
		ClientSecret: os.Getenv("PKB_CLIENT_SECRET"),
		Environment:  authn.Sandbox,
		RefreshToken: os.Getenv("PKB_REFRESH_TOKEN"), // used only while the table holds no session
	}
	cfg.Store = pgstore.New(db, cfg.SessionKey("default"), pgstore.Options{})
	src, err := authn.NewTetheredSource(cfg)
	if err != nil {
		log.Fatal(err)
	}
	rest, err := wrappers.NewTetheredClient(src)
	if err != nil {
		log.Fatal(err)
	}
	_, _ = rest.REST.Gen.GetUserByNhsNumberWithResponse(ctx, "9990000018")
}
