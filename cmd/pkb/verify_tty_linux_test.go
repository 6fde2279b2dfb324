//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/pkbgo/pkb/pkbtest"
)

// openPTY opens a pseudo-terminal pair with the kernel's ioctls, so that
// the test needs no terminal library.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	return m, s
}

// TestVerifyProgressOnATerminal: with stderr a terminal, verify shows one
// progress line, rewritten in place, that ends cleared; stdout still gets
// the report.
func TestVerifyProgressOnATerminal(t *testing.T) {
	sim := startSim(t)
	master, slave := openPTY(t)
	defer master.Close()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // ends with EIO once the slave is closed
		got <- string(b)
	}()
	env := map[string]string{"PKB_BASE_URL": sim.URL(), "PKB_CLIENT_TYPE": "system", "PKB_CLIENT_ID": pkbtest.DefaultSystemClientID,
		"PKB_CLIENT_SECRET": pkbtest.DefaultClientSecret, "PKB_ORG_ID": pkbtest.SeedOrgPublicID}
	var out syncBuffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: slave, getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := c.run(ctx, []string{"verify"})
	slave.Close()
	tty := <-got
	if code != 0 || !strings.Contains(out.String(), "pkb verify as a system client") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(tty, "\r\x1b[Kpkb verify: 1/") || !strings.HasSuffix(tty, "\r\x1b[K") {
		t.Errorf("terminal output %q", tty)
	}
	if strings.Contains(tty, pkbtest.SeedOrgPublicID) {
		t.Error("the progress display holds the organisation id")
	}
}
