package redisstore_test

import (
	"context"
	"log"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/redisstore"
	"github.com/pkbgo/pkb/wrappers"
)

// Every replica runs the same code: they share one Tethered session, and
// each refresh token is redeemed by exactly one of them.
func Example() {
	opt, err := redis.ParseURL(os.Getenv("REDIS_URL")) // e.g. rediss://:password@redis:6379/0
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	keys, err := authn.ParseKeyring(os.Getenv("PKB_TOKEN_KEYS")) // optional encryption at rest
	if err != nil {
		log.Fatal(err)
	}

	cfg := authn.TetheredConfig{
		ClientID:     os.Getenv("PKB_CLIENT_ID"),
		ClientSecret: os.Getenv("PKB_CLIENT_SECRET"),
		Environment:  authn.Sandbox,
		// Used only while the store holds no session yet.
		RefreshToken: os.Getenv("PKB_REFRESH_TOKEN"),
	}
	cfg.Store = redisstore.New(rdb, cfg.SessionKey("default"), redisstore.Options{Keys: keys})
	src, err := authn.NewTetheredSource(cfg)
	if err != nil {
		log.Fatal(err)
	}
	rest, err := wrappers.NewTetheredClient(src)
	if err != nil {
		log.Fatal(err)
	}
	_, _ = rest.REST.Gen.GetUserByNhsNumberWithResponse(context.Background(), "9990000018")
}
