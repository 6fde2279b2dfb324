package fleettest

import (
	"context"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/pkbtest"
	"github.com/pkbgo/pkb/pkbtest/engines"
	"github.com/pkbgo/pkb/wrappers"
)

// BenchmarkFreshToken measures what a shared store costs while the access
// token is fresh: Token calls and whole API calls through the wrappers,
// with the session in a MemoryStore and in Redis. The in-process cache
// answers first, so the goal is Redis >= 0.95x MemoryStore. Compare with
// benchstat -col /store.
func BenchmarkFreshToken(b *testing.B) {
	sim := pkbtest.NewServer(b)
	redisSrv := engines.StartRedis(b)
	env := sim.Environment()
	for _, store := range []string{"memory", "redis"} {
		rt, err := sim.IssueTetheredRefreshToken()
		if err != nil {
			b.Fatal(err)
		}
		cfg := authn.TetheredConfig{ClientID: pkbtest.DefaultTetheredClientID, ClientSecret: pkbtest.DefaultClientSecret,
			Environment: env, RefreshToken: rt}
		if store == "redis" {
			s, closeFn, err := OpenStore(context.Background(), redisSrv.URL, cfg.SessionKey(b.Name()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(closeFn)
			cfg.Store = s
		}
		src, err := authn.NewTetheredSource(cfg)
		if err != nil {
			b.Fatal(err)
		}
		w, err := wrappers.NewTetheredClient(src)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := src.Token(ctx); err != nil {
			b.Fatal(err)
		}
		b.Run("op=token/store="+store, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := src.Token(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run("op=call/store="+store, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, err := w.REST.Gen.GetUserByNhsNumberWithResponse(ctx, pkbtest.SeedPatientNHSNumber)
					if err != nil || r.StatusCode() != 200 {
						b.Errorf("%v", err)
						return
					}
				}
			})
		})
	}
}
