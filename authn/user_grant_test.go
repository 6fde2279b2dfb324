package authn

import (
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// A restarted program finds its session only in the store; Grant must
// report that session's granted scope before any token is fetched, or the
// wrappers would refuse every call.
func TestUserGrantReadsTheStoredSession(t *testing.T) {
	store := NewFileStore(filepath.Join(t.TempDir(), "tok.json"))
	tok := (&oauth2.Token{AccessToken: "a", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)}).WithExtra(map[string]any{"scope": "CLINICIAN"})
	if err := store.Save(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	c, err := NewUserSource(UserConfig{ClientID: "app", Environment: Sandbox, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if ct, scopes := c.Grant(); ct != ClientUser || len(scopes) != 1 || scopes[0] != "CLINICIAN" {
		t.Errorf("Grant() = %s %v, want user [CLINICIAN] from the stored session", ct, scopes)
	}
}
