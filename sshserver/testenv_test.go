package sshserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/secret"
	"lamb/service"
	"lamb/store"
)

// sessionDeadline bounds every SSH connection of a test: dial, commands
// and all.
const sessionDeadline = 20 * time.Second

// testServer is the real SSH server over a real store in a temp dir, with
// the system org synced and a bootstrap system admin.
type testServer struct {
	addr      string
	svc       *service.Service
	st        *store.Store  // for fixtures the service has no call for (usage rollups)
	stopping  chan struct{} // close to tell the server it is stopping
	admin     gossh.Signer  // the bootstrap system admin, admin@lamb.local
	adminMail string

	mu     sync.Mutex
	sysEnv config.System // what "org sync-system" reads
}

// newTestServer starts the server; setup may change its options and the
// service's dependencies first.
func newTestServer(t *testing.T, setup ...func(*Options, *service.Deps)) *testServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "lamb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, secret.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{adminMail: "admin@lamb.local", st: st}
	logger := slog.New(slog.DiscardHandler)
	deps := service.Deps{Store: st, Box: box, Logger: logger,
		SystemEnv: func() (config.System, error) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			return ts.sysEnv, nil
		}}
	ts.stopping = make(chan struct{})
	opts := Options{HostKeyPath: filepath.Join(dir, "host_key"), Logger: logger, Stopping: ts.stopping}
	for _, f := range setup {
		f(&opts, &deps)
	}
	ts.svc = service.New(deps)
	opts.Service = ts.svc
	if _, err := ts.svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{}); err != nil {
		t.Fatal(err)
	}
	var adminLine string
	ts.admin, adminLine = newTestSigner(t)
	if err := ts.svc.BootstrapAdmins(ctx, service.SystemActor(), []string{adminLine}, ts.adminMail, "Administrator"); err != nil {
		t.Fatal(err)
	}

	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-done:
		case <-time.After(sessionDeadline):
			t.Error("ssh server did not stop")
		}
	})
	return ts
}

// setSystemEnv sets what the next "org sync-system" reads.
func (ts *testServer) setSystemEnv(env config.System) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.sysEnv = env
}

// newTestSigner makes an ed25519 key and returns its signer and its
// authorized-key line.
func newTestSigner(t *testing.T) (gossh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))
}

// createOrg creates an org (as the bootstrap admin) without an admin.
func (ts *testServer) createOrg(t *testing.T, slug string) {
	t.Helper()
	if _, err := ts.svc.CreateOrg(context.Background(), ts.adminActor(t), service.CreateOrgInput{Slug: slug, Name: strings.ToUpper(slug)}); err != nil {
		t.Fatalf("create org %s: %v", slug, err)
	}
}

// adminActor is the bootstrap system admin as the service sees them.
func (ts *testServer) adminActor(t *testing.T) service.Actor {
	t.Helper()
	a, err := ts.svc.ActorForSSHKey(context.Background(), gossh.FingerprintSHA256(ts.admin.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// userWithKey creates a user in org with role admin or member and a fresh
// SSH key, and returns the key's signer.
func (ts *testServer) userWithKey(t *testing.T, org, email, role string) gossh.Signer {
	t.Helper()
	signer, line := newTestSigner(t)
	_, err := ts.svc.CreateUser(context.Background(), ts.adminActor(t), service.CreateUserInput{
		OrgSlug: org, Email: email, Name: "User " + email, Role: role, SSHKey: line})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return signer
}

// cmdResult is what one SSH command printed and its exit status.
type cmdResult struct {
	stdout, stderr string
	code           int
}

// run runs one command as signer with stdin, each arg quoted for the
// server's shell-like splitting.
func (ts *testServer) run(t *testing.T, signer gossh.Signer, stdin string, args ...string) cmdResult {
	t.Helper()
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return ts.runRaw(t, signer, stdin, strings.Join(quoted, " "))
}

// dialSSH opens an SSH connection as signer, without a session, with
// every wait bounded by sessionDeadline. The caller closes it.
func (ts *testServer) dialSSH(t *testing.T, signer gossh.Signer) *gossh.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", ts.addr, sessionDeadline)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetDeadline(time.Now().Add(sessionDeadline)); err != nil {
		conn.Close()
		t.Fatal(err)
	}
	cc, chans, reqs, err := gossh.NewClientConn(conn, ts.addr, &gossh.ClientConfig{
		User:            "someone",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		conn.Close()
		t.Fatalf("ssh handshake: %v", err)
	}
	return gossh.NewClient(cc, chans, reqs)
}

// runRaw runs a command line as the server receives it.
func (ts *testServer) runRaw(t *testing.T, signer gossh.Signer, stdin, command string) cmdResult {
	t.Helper()
	client := ts.dialSSH(t, signer)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var stdout, stderr strings.Builder
	sess.Stdout, sess.Stderr = &stdout, &stderr
	sess.Stdin = strings.NewReader(stdin)
	res := cmdResult{}
	if err := sess.Run(command); err != nil {
		var ee *gossh.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %q: %v (stderr %q)", command, err, stderr.String())
		}
		res.code = ee.ExitStatus()
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	return res
}

// wantOK fails the test unless r succeeded.
func (r cmdResult) wantOK(t *testing.T) cmdResult {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	return r
}

// wantFail fails the test unless r exited with code and its stderr holds
// every one of want.
func (r cmdResult) wantFail(t *testing.T, code int, want ...string) cmdResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d; stdout %q, stderr %q", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("stderr %q doesn't contain %q", r.stderr, w)
		}
	}
	return r
}

// twoOrgs is a server with orgs acme and globex: an admin and a member of
// acme, and an admin of globex, each with an SSH key.
type twoOrgs struct {
	*testServer
	acmeAdmin, acmeMember, globexAdmin gossh.Signer
}

const (
	acmeAdminEmail   = "boss@acme.example"
	acmeMemberEmail  = "ana@acme.example"
	globexAdminEmail = "chief@globex.example"
)

func newTwoOrgs(t *testing.T) *twoOrgs {
	t.Helper()
	ts := newTestServer(t)
	ts.createOrg(t, "acme")
	ts.createOrg(t, "globex")
	return &twoOrgs{
		testServer:  ts,
		acmeAdmin:   ts.userWithKey(t, "acme", acmeAdminEmail, "admin"),
		acmeMember:  ts.userWithKey(t, "acme", acmeMemberEmail, "member"),
		globexAdmin: ts.userWithKey(t, "globex", globexAdminEmail, "admin"),
	}
}
