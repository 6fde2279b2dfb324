// Package engines starts throwaway Redis and PostgreSQL servers for tests of
// code that shares state between processes, such as the authn/redisstore and
// authn/pgstore token stores: each server runs from the machine's own
// binaries (Debian packages redis-server and postgresql), on a free loopback
// port, with its data in a temporary directory, and is stopped when the test
// ends. Tests can stop, start and restart a server to see how clients
// behave while it is gone.
//
// A missing binary skips the test, except when the environment variable CI
// is "true": there it fails, so that a CI machine without the servers can
// never pass by skipping.
package engines

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// missing skips, or under CI fails, a test whose server is not installed.
func missing(t testing.TB, what, pkg string) {
	t.Helper()
	msg := fmt.Sprintf("engines: %s not found; install the Debian package %s (.ci/run does)", what, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("engines: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// server is one child process that logs a line when it is ready.
type server struct {
	name  string
	argv  []string
	ready string // log line that says the server accepts connections
	cred  *syscall.Credential
	dir   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *tail
}

func (s *server) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatalf("engines: %s already running", s.name)
	}
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("engines: start %s: %v", s.name, err)
	}
	lg := &tail{}
	s.log = lg
	readyc := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			lg.add(line)
			if strings.Contains(line, s.ready) {
				once.Do(func() { close(readyc) })
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(done)
	}()
	select {
	case <-readyc:
	case <-done:
		t.Fatalf("engines: %s exited during start:\n%s", s.name, lg)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("engines: %s not ready after 60 s:\n%s", s.name, lg)
	}
	s.cmd, s.done = cmd, done
}

// stop ends the server with sig (a clean shutdown for both servers) and
// waits for it.
func (s *server) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

// tail keeps the last lines of a server's log for failure messages.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (l *tail) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if len(l.lines) > 40 {
		l.lines = l.lines[1:]
	}
}

func (l *tail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Redis is a throwaway redis-server.
type Redis struct {
	// Addr is host:port.
	Addr string
	// URL is redis://Addr/0.
	URL string
	srv *server
}

// StartRedis starts redis-server on a free loopback port with append-only
// persistence (fsync on every write), so that Stop and Start keep the data
// as a production token store must.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server", "redis-server")
	}
	dir := t.TempDir()
	port := freePort(t)
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	r.URL = "redis://" + r.Addr + "/0"
	r.srv = &server{name: "redis-server", dir: dir, ready: "Ready to accept connections", argv: []string{bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no", "--loglevel", "notice"}}
	r.srv.start(t)
	t.Cleanup(func() { r.srv.stop(t, syscall.SIGTERM) })
	return r
}

// Stop shuts the server down (its data stays on disk).
func (r *Redis) Stop(t testing.TB) { r.srv.stop(t, syscall.SIGTERM) }

// Start starts a stopped server again on the same port and data.
func (r *Redis) Start(t testing.TB) { r.srv.start(t) }

// Postgres is a throwaway PostgreSQL cluster.
type Postgres struct {
	// URL is a postgres:// connection URL for the superuser "pkb" (trust
	// authentication, loopback only) and the database "postgres".
	URL string
	srv *server
}

// postgresBin finds the directory of initdb and postgres: PATH first, then
// Debian's versioned directories, newest first.
func postgresBin() (string, bool) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), true
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, true
		}
	}
	return "", false
}

// StartPostgres initialises a cluster in a temporary directory and starts
// it on a free loopback port. PostgreSQL refuses to run as root, so as root
// it runs as the "postgres" system user (created by the Debian package),
// with a directory that user owns.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, ok := postgresBin()
	if !ok {
		missing(t, "PostgreSQL (initdb, postgres)", "postgresql")
	}
	dir, err := os.MkdirTemp("", "pkbtest-pg-*")
	if err != nil {
		t.Fatalf("engines: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("engines: running as root needs the postgres system user to run PostgreSQL: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("engines: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "pkb", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("engines: initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	p := &Postgres{URL: fmt.Sprintf("postgres://pkb@127.0.0.1:%d/postgres?sslmode=disable", port)}
	p.srv = &server{name: "postgres", dir: dir, cred: cred, ready: "database system is ready to accept connections", argv: []string{
		filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"}}
	p.srv.start(t)
	t.Cleanup(func() { p.srv.stop(t, syscall.SIGINT) })
	return p
}

// Stop shuts the server down (fast shutdown: clients are disconnected).
func (p *Postgres) Stop(t testing.TB) { p.srv.stop(t, syscall.SIGINT) }

// Start starts a stopped server again on the same port and data.
func (p *Postgres) Start(t testing.TB) { p.srv.start(t) }

// Restart stops and starts the server.
func (p *Postgres) Restart(t testing.TB) {
	p.Stop(t)
	p.Start(t)
}
