//go:build !unix

package authn

import (
	"os"
	"path/filepath"
	"sync"
)

// Without flock(2) the lock only excludes holders in this process (all
// FileStores on one path, however many); see FileStore.
var (
	localLocksMu sync.Mutex
	localLocks   = map[string]*os.File{}
)

func tryFlock(f *os.File) (bool, error) {
	name, err := filepath.Abs(f.Name())
	if err != nil {
		return false, err
	}
	localLocksMu.Lock()
	defer localLocksMu.Unlock()
	if _, held := localLocks[name]; held {
		return false, nil
	}
	localLocks[name] = f
	return true, nil
}

func unflock(f *os.File) error {
	name, err := filepath.Abs(f.Name())
	if err != nil {
		return err
	}
	localLocksMu.Lock()
	defer localLocksMu.Unlock()
	if localLocks[name] == f {
		delete(localLocks, name)
	}
	return nil
}
