package authn

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestFileStoreAcrossProcesses is issue 9's item 18 for processes: several
// processes (like two pkb commands) on one token file, all finding the
// token due at once, redeem the refresh token once between them.
func TestFileStoreAcrossProcesses(t *testing.T) {
	as := newFakeAS(t)
	rt := as.issueRT()
	as.setOverride(nil)
	gate := make(chan struct{})
	as.gate = gate
	path := filepath.Join(t.TempDir(), "token.json")
	if err := NewFileStore(path).Save(context.Background(), sampleToken("", rt)); err != nil {
		t.Fatal(err)
	}
	const procs = 4
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreHelperProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "PKB_AUTHN_HELPER=1", "PKB_AUTHN_HELPER_URL="+as.URL(), "PKB_AUTHN_HELPER_PATH="+path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	// Let every process reach the store before PKB answers the first.
	time.Sleep(500 * time.Millisecond)
	close(gate)
	wg.Wait()
	for i := range procs {
		if errs[i] != nil {
			t.Errorf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if r := as.reusedTokens(); len(r) > 0 {
		t.Fatalf("refresh tokens redeemed twice: %v", r)
	}
	if n := as.calls.Load(); n != 1 {
		t.Fatalf("%d redemptions, want 1", n)
	}
}

func TestFileStoreHelperProcess(t *testing.T) {
	if os.Getenv("PKB_AUTHN_HELPER") != "1" {
		t.Skip("helper process of TestFileStoreAcrossProcesses")
	}
	env := Sandbox
	env.UserTokenURL = os.Getenv("PKB_AUTHN_HELPER_URL")
	c, err := NewTetheredSource(TetheredConfig{ClientID: "teth-id", ClientSecret: "teth-secret", Environment: env,
		Store: NewFileStore(os.Getenv("PKB_AUTHN_HELPER_PATH"))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("got", tok.AccessToken != "")
}

// TestSharedFileStoreInOneProcess is item 18 within a process: two clients
// sharing one *FileStore, and two FileStores on one path, redeem once.
func TestSharedFileStoreInOneProcess(t *testing.T) {
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprint("shared=", shared), func(t *testing.T) {
			as := newFakeAS(t)
			gate := make(chan struct{})
			as.gate = gate
			path := filepath.Join(t.TempDir(), "token.json")
			rt := as.issueRT()
			if err := NewFileStore(path).Save(context.Background(), sampleToken("", rt)); err != nil {
				t.Fatal(err)
			}
			one := NewFileStore(path)
			var wg sync.WaitGroup
			for range 3 {
				store := one
				if !shared {
					store = NewFileStore(path)
				}
				c := newTethered(t, as, store, "", newFakeClock())
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := c.Token(context.Background()); err != nil {
						t.Error(err)
					}
				}()
			}
			time.Sleep(200 * time.Millisecond)
			close(gate)
			wg.Wait()
			if r := as.reusedTokens(); len(r) > 0 {
				t.Fatalf("refresh tokens redeemed twice: %v", r)
			}
			if n := as.calls.Load(); n != 1 {
				t.Fatalf("%d redemptions, want 1", n)
			}
		})
	}
}
