// Package pgtest gives tests a fresh PostgreSQL database each.
//
// The server is LAMB_TEST_DATABASE_URL when set (a role that may create
// databases); otherwise a throwaway cluster that this test binary starts
// once in a temp dir, when PostgreSQL's server programs are installed
// (pg_config --bindir, or Debian's /usr/lib/postgresql/N/bin), listening on 127.0.0.1 only, and stops in Main.
// Without either a test skips and says how to enable it; in CI
// (LAMB_REQUIRE_TEST_TOOLS set) it fails instead, so a test on PostgreSQL
// can never pass by not running.
//
// A test that stops and starts its database (an outage while lamb
// serves) runs a cluster of its own: NewCluster.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
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

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

const install = "set LAMB_TEST_DATABASE_URL=postgres://… (a role that may CREATE DATABASE), or install PostgreSQL's server (Debian: apt-get install postgresql)"

var (
	once     sync.Once
	adminURL string   // a database to run CREATE DATABASE in
	setupErr error    // why there is no server
	missing  bool     // setupErr is "not installed", not a failure
	shared   *Cluster // the cluster this binary started, if any

	findOnce    sync.Once
	bindir      string // where initdb and postgres are
	findErr     error
	findMissing bool
)

// Main runs the tests and then stops the cluster they started, if any.
// Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.stop()
		shared.remove()
	}
	return code
}

// URL returns the URL of a new, empty database that is dropped when t
// ends, or ends t: a skip, or a failure when LAMB_REQUIRE_TEST_TOOLS is
// set.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if setupErr != nil {
		unavailable(t, setupErr)
	}
	return createDatabase(t, adminURL)
}

// unavailable ends t for want of a server: a skip, or a failure in CI.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if missing && os.Getenv("LAMB_REQUIRE_TEST_TOOLS") == "" {
		t.Skipf("no PostgreSQL for this test: %v; %s", err, install)
	}
	t.Fatalf("no PostgreSQL for this test: %v; %s", err, install)
}

// createDatabase makes a database on the server of admin, dropped when t
// ends.
func createDatabase(t testing.TB, admin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "lamb_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		// FORCE ends connections a failed test left open.
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

func setup() {
	if u := os.Getenv("LAMB_TEST_DATABASE_URL"); u != "" {
		adminURL = u
		return
	}
	if missing, setupErr = findServer(); setupErr != nil {
		return
	}
	c, err := newCluster()
	if err != nil {
		setupErr = err
		return
	}
	shared, adminURL = c, c.adminURL
}

// findServer locates initdb and postgres; missing is true when they are
// not installed (rather than broken).
func findServer() (missing bool, err error) {
	findOnce.Do(func() {
		dir := serverBindir()
		if dir == "" {
			findMissing, findErr = true, errors.New("PostgreSQL's server programs were not found (pg_config --bindir, /usr/lib/postgresql/*/bin)")
			return
		}
		for _, p := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
				findMissing, findErr = true, fmt.Errorf("%s is not in %s (the server package is missing)", p, dir)
				return
			}
		}
		bindir = dir
	})
	return findMissing, findErr
}

// serverBindir finds the directory of initdb and postgres:
// pg_config's answer, else Debian's versioned directory (the server
// package doesn't put pg_config on the PATH), the newest version first.
func serverBindir() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// Cluster is a PostgreSQL server run by this test binary on 127.0.0.1.
// A test that needs its database to go away and come back (an outage
// while lamb serves) gets one of its own with NewCluster, which it may
// Stop and Start; other tests share one through URL.
type Cluster struct {
	dir      string // owns data, the socket and the log
	port     int
	attr     *syscall.SysProcAttr
	adminURL string

	mu     sync.Mutex
	server *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when server has exited
}

// NewCluster starts a cluster of t's own (initdb, then the server),
// stopped and removed when t ends. Without PostgreSQL's server programs
// it ends t like URL does; LAMB_TEST_DATABASE_URL can't stand in, since
// the test stops and starts the server.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	if missing, err := findServer(); err != nil {
		unavailableServer(t, err, missing)
	}
	c, err := newCluster()
	if err != nil {
		t.Fatalf("start a PostgreSQL cluster: %v", err)
	}
	t.Cleanup(func() {
		c.stop()
		c.remove()
	})
	return c
}

func unavailableServer(t testing.TB, err error, missing bool) {
	t.Helper()
	if missing && os.Getenv("LAMB_REQUIRE_TEST_TOOLS") == "" {
		t.Skipf("no PostgreSQL server programs for this test: %v; install PostgreSQL's server (Debian: apt-get install postgresql)", err)
	}
	t.Fatalf("no PostgreSQL server programs for this test: %v", err)
}

// URL returns the URL of a new, empty database on the cluster.
func (c *Cluster) URL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, c.adminURL)
}

// Stop shuts the server down as an operator's fast shutdown does: open
// sessions are ended and new connections refused.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
}

// Start runs the stopped server again on the same port and waits until
// it answers.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if err := c.start(); err != nil {
		t.Fatal(err)
	}
}

// Freeze stops every process of the server where it stands (SIGSTOP),
// as a hung machine or a network that drops packets looks to a client:
// connections are accepted by the kernel and statements sent, but nothing
// answers. Thaw resumes it.
func (c *Cluster) Freeze(t testing.TB) {
	t.Helper()
	c.signalAll(t, syscall.SIGSTOP)
	t.Cleanup(func() { c.signalAll(t, syscall.SIGCONT) }) // a frozen server would never stop
}

// Thaw resumes a frozen server.
func (c *Cluster) Thaw(t testing.TB) {
	t.Helper()
	c.signalAll(t, syscall.SIGCONT)
}

// signalAll signals the postmaster, then every backend it started (each
// runs in a session of its own, so a process group doesn't reach them).
func (c *Cluster) signalAll(t testing.TB, sig syscall.Signal) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server == nil {
		return
	}
	pid := c.server.Process.Pid
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal postgres: %v", err)
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			syscall.Kill(child, sig)
		}
	}
}

// newCluster initializes a cluster in a temp dir and runs its server as
// a child of this process. PostgreSQL refuses to run as root: then initdb
// and the server run as the postgres user, who owns the directory. The
// server gets SIGQUIT (immediate shutdown) if this process dies without
// stopping it, so a test binary killed by a timeout leaves no server.
func newCluster() (*Cluster, error) {
	dir, err := os.MkdirTemp("", "lamb-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, attr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}}
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			c.remove()
			return nil, fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			c.remove()
			return nil, err
		}
		c.attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if out, err := run(60*time.Second, "initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if c.port, err = freePort(); err != nil {
		c.remove()
		return nil, err
	}
	c.adminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	if err := c.start(); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server != nil {
		return errors.New("the cluster is already running")
	}
	logPath := filepath.Join(c.dir, "log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the server keeps its own descriptor
	// Durability is not what these tests are about: skip the fsyncs.
	server := exec.Command(filepath.Join(bindir, "postgres"), "-D", filepath.Join(c.dir, "data"), "-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	server.Dir = c.dir
	server.Stdout, server.Stderr = logFile, logFile
	server.SysProcAttr = c.attr
	if err := server.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { server.Wait(); close(exited) }()
	c.server, c.exited = server, exited
	if err := waitReady(c.adminURL, exited, 30*time.Second); err != nil {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("postgres did not start: %v: %s", err, log)
	}
	return nil
}

// waitReady waits until the server at admin answers, at most limit.
func waitReady(admin string, exited <-chan struct{}, limit time.Duration) error {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("the server exited")
		case <-time.After(50 * time.Millisecond): // poll interval
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// stop shuts the server down (fast: sessions ended, no checkpoint wait
// beyond the bound).
func (c *Cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server == nil {
		return nil
	}
	defer func() { c.server = nil }()
	c.server.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
		return nil
	case <-time.After(30 * time.Second):
		c.server.Process.Kill()
		<-c.exited
		return errors.New("postgres did not stop within 30s after SIGINT; killed it")
	}
}

func (c *Cluster) remove() { os.RemoveAll(c.dir) }

// run runs one of PostgreSQL's programs, as the postgres user when this
// process is root, within limit.
func run(limit time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	path := filepath.Join(bindir, name)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = os.TempDir()
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
