package authn_test

import (
	"path/filepath"
	"testing"

	"github.com/pkbgo/pkb/authn"
	"github.com/pkbgo/pkb/authn/storetest"
)

func TestFileStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Session {
		path := filepath.Join(t.TempDir(), "token.json")
		// Every handle is a FileStore of its own on the same path, as two
		// processes (or two clients of one process) would have.
		return func() authn.Coordinator { return authn.NewFileStore(path) }
	}, storetest.Options{LeasesNeverExpire: true})
}

func TestSharedFileStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Session {
		// One *FileStore shared by every client of the process.
		s := authn.NewFileStore(filepath.Join(t.TempDir(), "token.json"))
		return func() authn.Coordinator { return s }
	}, storetest.Options{LeasesNeverExpire: true})
}
