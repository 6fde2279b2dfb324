package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/redisstore"
	"github.com/pkbgo/pkb/authn/storetest"
	"github.com/pkbgo/pkb/pkbtest/engines"
)

func client(t *testing.T, srv *engines.Redis) *redis.Client {
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestConformance(t *testing.T) {
	srv := engines.StartRedis(t)
	for _, enc := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "encrypted"}[enc], func(t *testing.T) {
			var opts redisstore.Options
			if enc {
				opts.Keys = keyring(t)
			}
			storetest.Run(t, func(t *testing.T) storetest.Session {
				key := storetest.NewKey(t)
				// Every handle has its own connection pool, like a replica.
				return func() authn.Coordinator { return redisstore.New(client(t, srv), key, opts) }
			}, storetest.Options{})
		})
	}
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

func TestEncryptedRawValueHasNoToken(t *testing.T) {
	srv := engines.StartRedis(t)
	rdb := client(t, srv)
	ctx := context.Background()
	s := redisstore.New(rdb, storetest.NewKey(t), redisstore.Options{Keys: keyring(t)})
	if err := s.Save(ctx, storetest.Token("ACCESS-TOKEN-SEEN-BY-NOBODY", "REFRESH-TOKEN-SEEN-BY-NOBODY")); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.HGetAll(ctx, s.TokenKey()).Result()
	if err != nil || raw["d"] == "" {
		t.Fatalf("raw = %v, %v", raw, err)
	}
	for _, v := range raw {
		if strings.Contains(v, "SEEN-BY-NOBODY") || strings.Contains(v, "refresh_token") {
			t.Fatalf("raw Redis value holds a token: %s", v)
		}
	}
	if !strings.Contains(raw["d"], `"kid":"k1"`) {
		t.Fatalf("no key id beside the ciphertext: %s", raw["d"])
	}
	// A store without the key reports the record instead of misreading it.
	if _, err := redisstore.New(rdb, s.SessionKey(), redisstore.Options{}).Load(ctx); err == nil || strings.Contains(err.Error(), "SEEN-BY-NOBODY") {
		t.Fatalf("err = %v", err)
	}
}

func TestKeysShareOneClusterSlot(t *testing.T) {
	s := redisstore.New(nil, storetest.NewKey(t), redisstore.Options{Prefix: "app"})
	tag := func(k string) string { return k[strings.Index(k, "{"):strings.Index(k, "}")] }
	if tag(s.TokenKey()) != tag(s.LeaseKey()) || !strings.HasPrefix(s.TokenKey(), "app:{") {
		t.Fatalf("keys %s and %s", s.TokenKey(), s.LeaseKey())
	}
	if strings.Contains(s.TokenKey(), "storetest") {
		t.Fatalf("key carries the client id: %s", s.TokenKey())
	}
}

func TestUnreachableRedisIsStoreUnavailable(t *testing.T) {
	srv := engines.StartRedis(t)
	rdb := client(t, srv)
	srv.Stop(t)
	c, err := authn.NewTetheredSource(authn.TetheredConfig{ClientID: "storetest", ClientSecret: "x",
		Environment: authn.Environment{UserTokenURL: "https://pkb.invalid/apiToken.action"}, RefreshToken: "rt-never-presented",
		Store: redisstore.New(rdb, storetest.NewKey(t), redisstore.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background())
	if !errors.Is(err, authn.ErrStoreUnavailable) || strings.Contains(err.Error(), "rt-never-presented") {
		t.Fatalf("err = %v, want ErrStoreUnavailable", err)
	}
}
