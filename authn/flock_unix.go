//go:build unix

package authn

import (
	"errors"
	"os"
	"syscall"
)

// tryFlock takes an exclusive flock(2) on f without waiting. The kernel
// drops it when the descriptor is closed or the process dies, however it
// dies, so a crashed holder never blocks the file.
func tryFlock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		}
		return false, err
	}
}

func unflock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
