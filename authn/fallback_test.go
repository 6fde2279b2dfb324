package authn

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Once a session started from the configured refresh token has rotated,
// that token is spent: when the session later ends, the configured token
// must not be presented again (by this client, another client on the same
// store, or the same configuration after a restart), and the error must
// say that the Team Coordinator has to issue a new one.
func TestSpentConfiguredRefreshTokenIsNeverPresentedAgain(t *testing.T) {
	// A FileStore is what a restart reads: the chain's origin must survive
	// in the file, not only in memory.
	stores := map[string]func(t *testing.T) TokenStore{
		"memory": func(*testing.T) TokenStore { return NewMemoryStore(nil) },
		"file":   func(t *testing.T) TokenStore { return NewFileStore(filepath.Join(t.TempDir(), "token.json")) },
	}
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) { testSpentConfiguredRefreshToken(t, newStore(t)) })
	}
}

func testSpentConfiguredRefreshToken(t *testing.T, store TokenStore) {
	as := newFakeAS(t)
	as.expiresIn = 300
	clock := newFakeClock()
	rt0 := as.issueRT()
	c := newTethered(t, as, store, rt0, clock)
	ctx := context.Background()
	for range 3 {
		if _, err := c.Token(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(301 * time.Second)
	}
	as.endSession()

	checkDead := func(who string, c *TetheredSource) {
		t.Helper()
		_, err := c.Token(ctx)
		if !errors.Is(err, ErrReauthorize) {
			t.Fatalf("%s: err = %v, want ErrReauthorize", who, err)
		}
		var te *TokenError
		if !errors.As(err, &te) || !strings.Contains(te.Hint, "Team Coordinator") || !strings.Contains(te.Hint, "configured RefreshToken") {
			t.Fatalf("%s: the error does not say what to do: %v", who, err)
		}
		if n := as.presented(rt0); n != 1 {
			t.Fatalf("%s: the configured refresh token was presented %d times", who, n)
		}
		if r := as.reusedTokens(); len(r) != 0 {
			t.Fatalf("%s: spent refresh tokens presented again: %v", who, r)
		}
	}
	checkDead("same client", c)
	checkDead("same client again", c)
	checkDead("another client on the store", newTethered(t, as, store, rt0, clock))

	// The coordinator issues a new token and it is configured: that one is
	// used, once, even though the store still holds the dead session.
	rt1 := as.issueRT()
	c2 := newTethered(t, as, store, rt1, clock)
	if _, err := c2.Token(ctx); err != nil {
		t.Fatalf("the new configured refresh token was not used: %v", err)
	}
	if as.presented(rt1) != 1 || as.presented(rt0) != 1 {
		t.Fatalf("presented rt0 %d times, rt1 %d times", as.presented(rt0), as.presented(rt1))
	}
}
