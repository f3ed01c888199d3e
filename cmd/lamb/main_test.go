package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/internal/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lamb-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "lamb")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lamb:", err)
		os.Exit(1)
	}
	code := pgtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a lamb process started by a test.
type proc struct {
	cmd      *exec.Cmd
	sshAddr  string
	httpAddr string
	lines    chan map[string]any
	stderr   *lockedBuffer
	exited   chan error
}

// lockedBuffer collects a process's stderr while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs lamb in a fresh directory with only the given variables (and
// loopback listeners on free ports) and waits until both listeners are up.
func start(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	return startArgs(t, dir, nil, env...)
}

// startArgs is start with command-line flags.
func startArgs(t *testing.T, dir string, args []string, env ...string) *proc {
	t.Helper()
	p := launchArgs(t, dir, args, env...)
	deadline := time.After(30 * time.Second)
	for p.sshAddr == "" || p.httpAddr == "" {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("lamb exited before listening: %v\n%s", <-p.exited, p.stderr)
			}
			switch l["msg"] {
			case "ssh listening":
				p.sshAddr = l["addr"].(string)
			case "http listening":
				p.httpAddr = l["addr"].(string)
			}
		case <-deadline:
			t.Fatalf("lamb did not listen within 30s:\n%s", p.stderr)
		}
	}
	return p
}

func launch(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	return launchArgs(t, dir, nil, env...)
}

func launchArgs(t *testing.T, dir string, args []string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"LAMB_SSH_ADDR=127.0.0.1:0",
		"LAMB_HTTP_ADDR=127.0.0.1:0",
		"LAMB_LOG_FORMAT=json",
	}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan map[string]any, 100), stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.stderr.WriteString(sc.Text() + "\n")
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines <- m
			}
		}
		close(p.lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

// waitFor returns the first log line that matches, failing the test after
// a deadline or when lamb exits first.
func (p *proc) waitFor(t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("lamb exited before the expected log line:\n%s", p.stderr)
			}
			if match(l) {
				return l
			}
		case <-deadline:
			t.Fatalf("expected log line not seen within 30s:\n%s", p.stderr)
		}
	}
}

// wait returns the exit code, failing the test after a deadline.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-p.lines:
		case <-timeout:
			t.Fatalf("lamb did not exit within 30s:\n%s", p.stderr)
		}
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("lamb did not exit within 30s:\n%s", p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

func newSigner(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
}

// runSSH connects with signer and returns what the session printed.
func runSSH(t *testing.T, addr string, signer ssh.Signer) string {
	t.Helper()
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            "someone",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, _ := sess.CombinedOutput("whoami")
	return string(out)
}

func TestServeHealthSSHAndSigterm(t *testing.T) {
	dir := t.TempDir()
	admin, adminKey := newSigner(t)
	p := start(t, dir, "LAMB_ADMIN_KEYS="+adminKey, "LAMB_ADMIN_EMAIL=root@uni.example")

	resp, err := http.Get("http://" + p.httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"database":"sqlite","status":"ok"}` {
		t.Fatalf("healthz = %d %s", resp.StatusCode, body)
	}

	if out := runSSH(t, p.sshAddr, admin); !strings.Contains(out, "root@uni.example") || !strings.Contains(out, "system admin") {
		t.Fatalf("admin session printed %q", out)
	}
	stranger, _ := newSigner(t)
	if out := runSSH(t, p.sshAddr, stranger); !strings.Contains(out, "not linked") {
		t.Fatalf("unknown key session printed %q", out)
	}

	// The data directory holds the database, host key and a private secret key.
	for _, f := range []string{"lamb.db", "ssh_host_ed25519_key", "secret.key"} {
		if _, err := os.Stat(filepath.Join(dir, "data", f)); err != nil {
			t.Errorf("data/%s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "data", "secret.key")); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("secret.key mode %v, want 0600", fi.Mode().Perm())
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d\n%s", code, p.stderr)
	}
}

func TestClaimCodeUntilClaimed(t *testing.T) {
	dir := t.TempDir()
	p := launch(t, dir)
	l := p.waitFor(t, func(l map[string]any) bool { return l["claim_code"] != nil })
	code, _ := l["claim_code"].(string)
	if len(code) != 11 {
		t.Fatalf("no claim code printed:\n%s", p.stderr)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)

	// Until someone claims it, every start (and every instance on the
	// database) prints the same code.
	p = launch(t, dir)
	l = p.waitFor(t, func(l map[string]any) bool { return l["claim_code"] != nil })
	if again, _ := l["claim_code"].(string); again != code {
		t.Fatalf("restart printed claim code %q, want %q", again, code)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)

	// Once an admin exists (here: configured), no claim code is printed.
	_, key := newSigner(t)
	p = start(t, dir, "LAMB_ADMIN_KEYS="+key)
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	if strings.Contains(p.stderr.String(), "claim_code") {
		t.Fatalf("claim code printed with an admin present:\n%s", p.stderr)
	}
}

func TestTakenPortExitsNonZero(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := launch(t, t.TempDir(), "LAMB_HTTP_ADDR="+ln.Addr().String())
	if code := p.wait(t); code == 0 {
		t.Fatal("lamb exited 0 with its HTTP port taken")
	}
	if !strings.Contains(p.stderr.String(), ln.Addr().String()) {
		t.Fatalf("error does not name the address %s:\n%s", ln.Addr(), p.stderr)
	}
}

func TestBadConfigFailsStartNamingVariable(t *testing.T) {
	for _, tc := range []struct{ env, name string }{
		{"OPENAI_BASE_URL=not a url", "OPENAI_BASE_URL"},
		{"LAMB_ADMIN_KEYS=ssh-ed25519 garbage", "LAMB_ADMIN_KEYS"},
		{"LAMB_LOG_LEVEL=loud", "LAMB_LOG_LEVEL"},
	} {
		p := launch(t, t.TempDir(), tc.env)
		if code := p.wait(t); code == 0 {
			t.Errorf("%s: exit 0", tc.env)
		}
		if !strings.Contains(p.stderr.String(), tc.name) {
			t.Errorf("%s: message does not name %s:\n%s", tc.env, tc.name, p.stderr)
		}
	}
}

func TestDotenvFileIsRead(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".env"), []byte("OPENAI_BASE_URL=ftp://nope\n"), 0o600)
	p := launch(t, dir)
	if code := p.wait(t); code == 0 || !strings.Contains(p.stderr.String(), "OPENAI_BASE_URL") {
		t.Fatalf(".env not read: exit %d\n%s", code, p.stderr)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "lamb ") {
		t.Fatalf("lamb version = %q, %v", out, err)
	}
}

// testSecretKey is a LAMB_SECRET_KEY for tests (32 bytes, hex).
const testSecretKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// An unreachable PostgreSQL fails the start, naming the variable, and the
// password of the URL is never printed.
func TestUnreachablePostgresExitsNamingVariable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	url := "postgres://lamb:pg-s3cret@" + addr + "/lamb?sslmode=disable"
	for name, p := range map[string]*proc{
		"variable": launch(t, t.TempDir(), "LAMB_DATABASE_URL="+url, "LAMB_SECRET_KEY="+testSecretKey),
		"flag":     launchArgs(t, t.TempDir(), []string{"--database-url", url}, "LAMB_SECRET_KEY="+testSecretKey),
	} {
		if code := p.wait(t); code == 0 {
			t.Errorf("%s: lamb exited 0 without its database", name)
		}
		out := p.stderr.String()
		if !strings.Contains(out, "LAMB_DATABASE_URL") || !strings.Contains(out, addr) {
			t.Errorf("%s: the error doesn't name LAMB_DATABASE_URL and the server:\n%s", name, out)
		}
		if strings.Contains(out, "pg-s3cret") {
			t.Errorf("%s: the password was printed:\n%s", name, out)
		}
	}
}

// Instances sharing a PostgreSQL database must seal secrets with one key:
// without LAMB_SECRET_KEY lamb refuses to start, naming it.
func TestPostgresRequiresSecretKey(t *testing.T) {
	p := launchArgs(t, t.TempDir(), []string{"--database-url", "postgres://lamb:pg-s3cret@127.0.0.1:1/lamb"})
	if code := p.wait(t); code == 0 {
		t.Fatal("lamb started on PostgreSQL without LAMB_SECRET_KEY")
	}
	if out := p.stderr.String(); !strings.Contains(out, "LAMB_SECRET_KEY") || strings.Contains(out, "pg-s3cret") {
		t.Fatalf("message doesn't name LAMB_SECRET_KEY, or shows the password:\n%s", out)
	}
}

// lamb serves from PostgreSQL: /healthz names the engine, the console
// answers the bootstrap admin, and SIGTERM ends it cleanly; a second start
// finds the schema migrated and the admin there.
func TestServeOnPostgres(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	admin, adminKey := newSigner(t)
	env := []string{"LAMB_DATABASE_URL=" + url, "LAMB_SECRET_KEY=" + testSecretKey,
		"LAMB_ADMIN_KEYS=" + adminKey, "LAMB_ADMIN_EMAIL=root@uni.example"}
	for run := range 2 {
		p := start(t, dir, env...)
		resp, err := http.Get("http://" + p.httpAddr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"database":"postgres","status":"ok"}` {
			t.Fatalf("run %d: healthz = %d %s", run, resp.StatusCode, body)
		}
		if out := runSSH(t, p.sshAddr, admin); !strings.Contains(out, "root@uni.example") || !strings.Contains(out, "system admin") {
			t.Fatalf("run %d: admin session printed %q", run, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "lamb.db")); err == nil {
			t.Fatalf("run %d: a SQLite database was created beside PostgreSQL", run)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t); code != 0 {
			t.Fatalf("run %d: exit code after SIGTERM = %d\n%s", run, code, p.stderr)
		}
	}
}
