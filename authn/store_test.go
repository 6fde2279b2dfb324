package authn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func sampleToken(at, rt string) *oauth2.Token {
	return (&oauth2.Token{
		AccessToken:  at,
		TokenType:    "Bearer",
		RefreshToken: rt,
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}).WithExtra(map[string]any{"scope": "PATIENT"})
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(nil)
	if tok, err := s.Load(ctx); tok != nil || err != nil {
		t.Fatalf("empty store: %v %v", tok, err)
	}
	in := sampleToken("at-1", "rt-1")
	if err := s.Save(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.RefreshToken = "mutated"
	out, _ := s.Load(ctx)
	if out.RefreshToken != "rt-1" || !reflect.DeepEqual(GrantedScopes(out), []string{"PATIENT"}) {
		t.Fatalf("got %+v", out)
	}
}

func TestFileStoreRoundTripAndPermissions(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new", "pkb")
	path := filepath.Join(dir, "token.json")
	s := NewFileStore(path)

	if tok, err := s.Load(ctx); tok != nil || err != nil {
		t.Fatalf("missing file: %v %v", tok, err)
	}
	if err := s.Save(ctx, sampleToken("at-1", "rt-1")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("file perm = %o, want 600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Fatalf("dir perm = %o, want 700", perm)
	}

	// A second save replaces, and keeps 0600 even if the file was loosened.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, sampleToken("at-2", "rt-2")); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(path)
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("file perm after replace = %o, want 600", perm)
	}
	got, err := NewFileStore(path).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleToken("at-2", "rt-2")
	if got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken ||
		!got.Expiry.Equal(want.Expiry) || got.TokenType != "Bearer" {
		t.Fatalf("got %+v", got)
	}
	if s := GrantedScopes(got); !reflect.DeepEqual(s, []string{"PATIENT"}) {
		t.Fatalf("granted scope lost across the file: %v", s)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "token.json" && e.Name() != "token.json.lock" {
			t.Fatalf("leftover file %s", e.Name())
		}
	}
}

func TestFileStoreCrashBeforeRenameKeepsOldFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	s := NewFileStore(path)
	if err := s.Save(ctx, sampleToken("at-old", "rt-old")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	crash := errors.New("simulated crash")
	var tmpSeen string
	s.beforeRename = func(tmp string) error {
		tmpSeen = tmp
		// The new token is fully written and synced at this point ...
		b, err := os.ReadFile(tmp)
		if err != nil || !strings.Contains(string(b), "rt-new") {
			t.Errorf("temp file not written before rename: %v", err)
		}
		if filepath.Dir(tmp) != filepath.Dir(path) {
			t.Errorf("temp file %s not in the target directory (rename would not be atomic)", tmp)
		}
		fi, _ := os.Stat(tmp)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("temp file perm = %o", fi.Mode().Perm())
		}
		// ... and the process dies before rename.
		return crash
	}
	if err := s.Save(ctx, sampleToken("at-new", "rt-new")); !errors.Is(err, crash) {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatal("old file modified by an interrupted save")
	}
	got, err := NewFileStore(path).Load(ctx)
	if err != nil || got.RefreshToken != "rt-old" {
		t.Fatalf("after crash: %+v %v", got, err)
	}
	if _, err := os.Stat(tmpSeen); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file left behind after a failed save: %v", err)
	}

	// A real crash would leave the temp file; it must not confuse Load.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), ".token.json.tmp-123"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = NewFileStore(path).Load(ctx)
	if err != nil || got.RefreshToken != "rt-old" {
		t.Fatalf("with stray temp file: %+v %v", got, err)
	}
}

func TestFileStoreCorruptFileErrorHidesContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.json")
	if err := os.WriteFile(path, []byte(`{"refresh_token":"SECRET-RT-123" oops`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewFileStore(path).Load(context.Background())
	if err == nil || strings.Contains(err.Error(), "SECRET-RT-123") {
		t.Fatalf("err = %v", err)
	}
}
