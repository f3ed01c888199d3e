// Package pgtest gives tests a fresh PostgreSQL database each.
//
// The server is LAMB_TEST_DATABASE_URL when set (a role that may create
// databases); otherwise a throwaway cluster that this test binary starts
// once in a temp dir, when PostgreSQL's server programs are installed
// (pg_config --bindir, or Debian's /usr/lib/postgresql/N/bin), listening on 127.0.0.1 only, and stops in Main.
// Without either a test skips and says how to enable it; in CI
// (LAMB_REQUIRE_TEST_TOOLS set) it fails instead, so a test on PostgreSQL
// can never pass by not running.
package pgtest

import (
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
	adminURL string        // a database to run CREATE DATABASE in
	setupErr error         // why there is no server
	missing  bool          // setupErr is "not installed", not a failure
	server   *exec.Cmd     // the postgres this binary started
	exited   chan struct{} // closed when server has exited
	bindir   string
	tempDir  string
)

// Main runs the tests and then stops the cluster they started, if any.
// Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	stop()
	return code
}

// URL returns the URL of a new, empty database that is dropped when t
// ends, or ends t: a skip, or a failure when LAMB_REQUIRE_TEST_TOOLS is
// set.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if setupErr != nil {
		if missing && os.Getenv("LAMB_REQUIRE_TEST_TOOLS") == "" {
			t.Skipf("no PostgreSQL for this test: %v; %s", setupErr, install)
		}
		t.Fatalf("no PostgreSQL for this test: %v; %s", setupErr, install)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "lamb_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sql.Open("pgx", adminURL)
		if err != nil {
			return
		}
		defer admin.Close()
		// FORCE ends connections a failed test left open.
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, _ := url.Parse(adminURL)
	u.Path = "/" + name
	return u.String()
}

func setup() {
	if u := os.Getenv("LAMB_TEST_DATABASE_URL"); u != "" {
		adminURL = u
		return
	}
	bindir = serverBindir()
	if bindir == "" {
		setupErr, missing = errors.New("PostgreSQL's server programs were not found (pg_config --bindir, /usr/lib/postgresql/*/bin)"), true
		return
	}
	for _, p := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bindir, p)); err != nil {
			setupErr, missing = fmt.Errorf("%s is not in %s (the server package is missing)", p, bindir), true
			return
		}
	}
	setupErr = start()
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

// start initializes a cluster in a temp dir and runs its server as a
// child of this process. PostgreSQL refuses to run as root: then initdb
// and the server run as the postgres user, who owns the directory. The
// server gets SIGQUIT (immediate shutdown) if this process dies without
// stopping it, so a test binary killed by a timeout leaves no server.
func start() error {
	dir, err := os.MkdirTemp("", "lamb-pgtest-")
	if err != nil {
		return err
	}
	tempDir = dir
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	data := filepath.Join(dir, "data")
	if out, err := run(60*time.Second, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the server keeps its own descriptor
	// Durability is not what these tests are about: skip the fsyncs.
	server = exec.Command(filepath.Join(bindir, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	server.Dir = dir
	server.Stdout, server.Stderr = logFile, logFile
	server.SysProcAttr = attr
	if err := server.Start(); err != nil {
		server = nil
		return fmt.Errorf("start postgres: %w", err)
	}
	exited = make(chan struct{})
	go func() { server.Wait(); close(exited) }()
	adminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := waitReady(30 * time.Second); err != nil {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("postgres did not start: %v: %s", err, log)
	}
	return nil
}

// waitReady waits until the server answers, at most limit.
func waitReady(limit time.Duration) error {
	db, err := sql.Open("pgx", adminURL)
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
// beyond the bound) and removes its directory.
func stop() {
	if server != nil {
		server.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			server.Process.Kill()
			<-exited
		}
	}
	if tempDir != "" {
		os.RemoveAll(tempDir)
	}
}

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
