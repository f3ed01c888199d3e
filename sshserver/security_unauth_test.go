package sshserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
	"lamb/store"
)

// waitClosed fails unless the server closes conn within sessionDeadline.
func waitClosed(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(sessionDeadline)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, conn) // the server's banner, then nothing
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: still open after %s", what, sessionDeadline)
	}
}

// Descriptor exhaustion by half-open connections: a connection that
// doesn't authenticate and start a session within the handshake deadline
// is closed (400 of them used to stay 95 s), while sessions that started
// go on.
func TestSSHHandshakeDeadlineClosesHalfOpenConnections(t *testing.T) {
	ts := newTestServer(t, func(o *Options, _ *service.Deps) { o.HandshakeTimeout = 300 * time.Millisecond })

	// A session started in time outlives the deadline.
	client := ts.dialSSH(t, ts.admin)
	t.Cleanup(func() { client.Close() })
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sess.Stdout = &out
	if err := sess.Start("whoami"); err != nil {
		t.Fatal(err)
	}

	// Raw TCP that sends nothing is closed.
	raw, err := net.DialTimeout("tcp", ts.addr, sessionDeadline)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	waitClosed(t, raw, "a connection that sent nothing")

	// So is one that authenticated but never started a session.
	idle := ts.dialSSH(t, ts.admin)
	t.Cleanup(func() { idle.Close() })
	done := make(chan error, 1)
	go func() { done <- idle.Wait() }()
	select {
	case <-done:
	case <-time.After(sessionDeadline):
		t.Fatal("an authenticated connection without a session stayed open")
	}

	// Past the deadline, the started session and its connection still work.
	stdin.Close()
	if err := sess.Wait(); err != nil {
		t.Fatalf("session started in time: %v", err)
	}
	if !strings.Contains(out.String(), ts.adminMail) {
		t.Fatalf("whoami printed %q", out.String())
	}
	again, err := client.NewSession()
	if err != nil {
		t.Fatalf("a second session on the connection: %v", err)
	}
	if b, err := again.Output("whoami"); err != nil || !strings.Contains(string(b), ts.adminMail) {
		t.Fatalf("second session: %q, %v", b, err)
	}
}

// Unauthenticated memory through the PTY size: a 10000×10000 window made
// the sign-in screen lay out 100 MB frames. The console sees at most
// maxWidth×maxHeight, at the start and after every window change.
func TestHugePTYWindowIsClamped(t *testing.T) {
	ts := newTestServer(t)
	stranger, _ := newTestSigner(t)
	client := ts.dialSSH(t, stranger)
	t.Cleanup(func() { client.Close() })
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	p := &ptySession{sess: sess, out: &screen{}, stderr: &screen{}, done: make(chan error, 1)}
	sess.Stdout, sess.Stderr = p.out, p.stderr
	if p.stdin, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 10000, 10000, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- sess.Wait() }()
	p.out.waitFor(t, 0, "Sign in to lamb")
	checkFrame(t, p.out.raw(0))

	// A window change asks for more still; the reply says the server took it.
	payload := gossh.Marshal(struct{ W, H, PW, PH uint32 }{100000, 100000, 0, 0})
	if ok, err := sess.SendRequest("window-change", true, payload); err != nil || !ok {
		t.Fatalf("window-change: %v, %v", ok, err)
	}
	mark := p.out.len()
	p.send(t, "clamp@example.org")
	p.out.waitFor(t, mark, "clamp@example.org")
	checkFrame(t, p.out.raw(0))
	p.send(t, "\x03")
	p.ended(t)
}

// checkFrame fails if any line drawn is wider than maxWidth, or the
// sign-in box is placed lower than maxHeight lines from the top (the box
// is centred in the window, so its row tells the height drawn for).
func checkFrame(t *testing.T, raw string) {
	t.Helper()
	// Each frame starts at the top left; the last line of one and the
	// first of the next are not the same line.
	lines := ansi.Strip(strings.ReplaceAll(raw, ansi.CursorHomePosition, "\n"))
	for i, line := range strings.Split(lines, "\n") {
		if w := ansi.StringWidth(strings.TrimRight(line, "\r")); w > maxWidth {
			t.Fatalf("line %d is %d columns wide, more than %d", i, w, maxWidth)
		}
	}
	first := raw[:strings.Index(raw, "Sign in to lamb")]
	if home := strings.LastIndex(first, ansi.CursorHomePosition); home >= 0 {
		first = first[home:]
	}
	if row := strings.Count(first, "\n"); row >= maxHeight {
		t.Fatalf("the sign-in box is drawn on row %d: the frame is taller than %d", row, maxHeight)
	}
}

// CPU amplification by a long command line: a 250 KB command from a key
// no one knows cost 45 CPU-seconds, split in quadratic time before its key
// was even looked up. Past 64 KiB it is refused unsplit; below, splitting
// is linear.
func TestLongCommandLineRefusedBeforeSplitting(t *testing.T) {
	ts := newTestServer(t)
	stranger, _ := newTestSigner(t)
	long := "whoami " + strings.Repeat("a", 200<<10) // fits one SSH packet
	ts.runRaw(t, stranger, "", long).wantFail(t, exitUsage, "at most 64 KiB")
	ts.runRaw(t, ts.admin, "", long).wantFail(t, exitUsage, "at most 64 KiB")

	// Just under the bound, a word of 60 KiB of escaped quotes (the
	// library's splitter copied the word at each of its 30,000 pieces)
	// is split, and the key's answer comes as usual.
	pathological := `whoami "` + strings.Repeat(`\"`, 30<<10) + `"`
	ts.runRaw(t, stranger, "", pathological).wantFail(t, 1, "not linked")
	if r := ts.runRaw(t, ts.admin, "", pathological); r.code != exitUsage || !strings.HasPrefix(r.stderr, `error: unknown command "\"\"\"`) {
		t.Fatalf("admin, 60 KiB argument: exit %d, stderr %.200q", r.code, r.stderr)
	}

	// A quote left open is a usage error, not a guess.
	ts.runRaw(t, ts.admin, "", `org show "acme`).wantFail(t, exitUsage, "unclosed quote")
}

func TestSplitCommand(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{"", nil},
		{"  whoami  ", []string{"whoami"}},
		{"org create acme --name 'Acme U'", []string{"org", "create", "acme", "--name", "Acme U"}},
		{`a "b \"c\" \\ \d" e`, []string{"a", `b "c" \ \d`, "e"}},
		{`a\ b c\'d`, []string{"a b", "c'd"}},
		{`x'y'"z" ''`, []string{"xyz", ""}},
		{"tab\tand\nnewline", []string{"tab", "and", "newline"}},
		{"ünï 'cødé'", []string{"ünï", "cødé"}},
	} {
		got, err := splitCommand(c.line)
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", c.line, got, err, c.want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `a\`, `"a\"`} {
		if _, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q) accepted", bad)
		}
	}
}

// BenchmarkSplitCommand shows the splitter linear: 64× the length costs
// about 64× the time.
func BenchmarkSplitCommand(b *testing.B) {
	for _, n := range []int{1 << 10, 64 << 10} {
		line := `whoami "` + strings.Repeat(`\"`, n/2) + `"`
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				if _, err := splitCommand(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// lockedLog is a log sink the server writes while the test reads it.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Signup keys given on the SSH command line were logged in clear with the
// command. The log keeps the command words and redacts the secrets.
func TestLoggedCommandRedactsSignupKey(t *testing.T) {
	sink := &lockedLog{}
	ts := newTestServer(t, func(o *Options, _ *service.Deps) { o.Logger = slog.New(slog.NewTextHandler(sink, nil)) })
	ts.createOrg(t, "acme")
	ts.run(t, ts.admin, "", "signup", "set-key", "acme-secret-key-41", "--org", "acme").wantOK(t)
	ts.run(t, ts.admin, "", "org", "create", "beta", "--name", "Beta", "--signup-key", "beta-secret-key-42").wantOK(t)
	ts.run(t, ts.admin, "", "org", "create", "gamma", "--name", "Gamma", "--signup-key=gamma-secret-key-43").wantOK(t)
	ts.run(t, ts.admin, "", "user", "create", "--email", "x@acme.example", "--password", "hunter2-secret-44").wantFail(t, exitUsage)
	logged := sink.String()
	for _, secret := range []string{"acme-secret-key-41", "beta-secret-key-42", "gamma-secret-key-43", "hunter2-secret-44"} {
		if strings.Contains(logged, secret) {
			t.Errorf("the log holds the secret %q:\n%s", secret, logged)
		}
	}
	for _, words := range []string{"signup set-key [redacted]", "org create beta --name Beta --signup-key [redacted]",
		"--signup-key=[redacted]", "user create --email x@acme.example --password [redacted]"} {
		if !strings.Contains(logged, words) {
			t.Errorf("the log lacks %q:\n%s", words, logged)
		}
	}
}

func TestRedactArgs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"whoami", "whoami"},
		{"--json signup set-key K1 --org acme", "--json signup set-key [redacted] --org [redacted]"},
		{"org create a --name A --signup-key K --admin-ssh-key PUB", "org create a --name A --signup-key [redacted] --admin-ssh-key PUB"},
		{"user create --password-stdin --ssh-key PUB --email e", "user create --password-stdin --ssh-key PUB --email e"},
		{"x --api-key=K --token T --new-password P", "x --api-key=[redacted] --token [redacted] --new-password [redacted]"},
		{"signup show --org acme", "signup show --org acme"},
		{"org alerts set acme --webhook-url https://h.example/T0/s3cr3t --thresholds 50",
			"org alerts set acme --webhook-url [redacted] --thresholds 50"},
		{"org alerts set acme --webhook-url=https://h.example/T0/s3cr3t", "org alerts set acme --webhook-url=[redacted]"},
	} {
		if got := strings.Join(redactArgs(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("redactArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A frozen disk hung SSH logins. With the database's writer stuck, a known
// key still gets its answer, and the sign-in screen says the database
// can't be reached instead of spinning.
func TestFrozenDatabaseDoesNotHangSSHLogin(t *testing.T) {
	ts := newTestServer(t, func(_ *Options, d *service.Deps) { d.LookupTimeout = 300 * time.Millisecond })
	ts.createOrg(t, "acme")
	if _, err := ts.svc.CreateUser(context.Background(), ts.adminActor(t), service.CreateUserInput{
		OrgSlug: "acme", Email: "ann@acme.example", Name: "Ann", Password: "ann-password"}); err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- ts.st.InTx(context.Background(), func(*store.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	defer func() {
		close(release)
		<-txDone
	}()
	<-held

	if r := ts.run(t, ts.admin, "", "whoami").wantOK(t); !strings.Contains(r.stdout, ts.adminMail) {
		t.Fatalf("whoami with the writer stuck: %q", r.stdout)
	}
	stranger, _ := newTestSigner(t)
	p := ts.openConsole(t, stranger)
	p.out.waitFor(t, 0, "Sign in to lamb")
	mark := p.out.len()
	p.send(t, "ann@acme.example\r")
	p.send(t, "ann-password\r")
	p.out.waitFor(t, mark, "can't reach its database; try again in a moment")
	p.send(t, "\x03")
	p.ended(t)
}

// Unauthenticated memory exhaustion through sign-in: with every hashing
// slot taken, the sign-in screen says the server is busy at once.
func TestSignInScreenSaysBusyWhenHashingIsSaturated(t *testing.T) {
	gate := service.NewHashGate(1, 0, time.Second)
	ts := newTestServer(t, func(_ *Options, d *service.Deps) { d.HashGate = gate })
	free, err := gate.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer free()
	stranger, _ := newTestSigner(t)
	p := ts.openConsole(t, stranger)
	p.out.waitFor(t, 0, "Sign in to lamb")
	mark := p.out.len()
	p.send(t, "ann@acme.example\r")
	p.send(t, "some-password\r")
	p.out.waitFor(t, mark, "the server is busy; try again in a moment")
	p.send(t, "\x03")
	p.ended(t)
}
