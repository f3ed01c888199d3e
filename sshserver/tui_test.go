package sshserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
)

// screenDeadline bounds each wait for the console to draw something.
const screenDeadline = 10 * time.Second

// screen collects what the server sends to the terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// text is the output from byte offset from on, without escape sequences.
func (s *screen) text(from int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.Strip(string(s.buf.Bytes()[min(from, s.buf.Len()):]))
}

// raw is the output from byte offset from on, as sent.
func (s *screen) raw(from int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.buf.Bytes()[min(from, s.buf.Len()):])
}

func (s *screen) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

// waitFor polls the output (from byte offset from) until it holds every
// one of texts, and fails at the deadline.
func (s *screen) waitFor(t *testing.T, from int, texts ...string) {
	t.Helper()
	deadline := time.Now().Add(screenDeadline)
	for {
		out := s.text(from)
		missing := ""
		for _, w := range texts {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the terminal within %s; it shows:\n%s", missing, screenDeadline, out)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// ptySession is an interactive SSH session with a terminal of 40×120.
type ptySession struct {
	sess   *gossh.Session
	stdin  io.WriteCloser
	out    *screen
	stderr *screen
	done   chan error // Wait's result
}

func (ts *testServer) openConsole(t *testing.T, signer gossh.Signer) *ptySession {
	t.Helper()
	client := ts.dialSSH(t, signer)
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
	if err := sess.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- sess.Wait() }()
	return p
}

func (p *ptySession) send(t *testing.T, keys string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, keys); err != nil {
		t.Fatalf("send %q: %v", keys, err)
	}
}

// ended fails unless the session ends within the deadline, and returns
// its exit status.
func (p *ptySession) ended(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		var ee *gossh.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitStatus()
		}
		t.Fatalf("session ended with %v", err)
	case <-time.After(screenDeadline):
		t.Fatalf("the session did not end within %s; the terminal shows:\n%s", screenDeadline, p.out.text(0))
	}
	return -1
}

func TestTUIConsoleOverSSH(t *testing.T) {
	ts := newTestServer(t)
	p := ts.openConsole(t, ts.admin)
	p.out.waitFor(t, 0, "Organizations", "lamb", "LAMB (system)", ts.adminMail, "(system admin)")

	// A bigger window: the console draws itself again and goes on.
	mark := p.out.len()
	if err := p.sess.WindowChange(50, 140); err != nil {
		t.Fatal(err)
	}
	p.out.waitFor(t, mark, "Organizations", "LAMB (system)")

	// It still takes keys: n opens the create form, esc leaves it.
	mark = p.out.len()
	p.send(t, "n")
	p.out.waitFor(t, mark, "New organization")
	mark = p.out.len()
	p.send(t, "\x1b")
	p.out.waitFor(t, mark, "LAMB (system)")

	p.send(t, "q")
	if code := p.ended(t); code != 0 {
		t.Fatalf("exit status %d after q", code)
	}
}

// Over a real SSH terminal of 80×24: the org admin's tenth screen (0) and
// My account (m) have their keys, an audit row opens in full, and removing
// the only key of an account without a password is refused.
func TestTUIKeysOverSSHAt80Columns(t *testing.T) {
	ts := newTwoOrgs(t)
	p := ts.openConsole(t, ts.acmeAdmin)
	p.out.waitFor(t, 0, acmeAdminEmail, "(org admin)", "Dashboard")
	mark := p.out.len()
	if err := p.sess.WindowChange(24, 80); err != nil {
		t.Fatal(err)
	}
	p.out.waitFor(t, mark, "Dashboard")

	mark = p.out.len()
	p.send(t, "0")
	p.out.waitFor(t, mark, "0 Audit", "enter show in full")
	mark = p.out.len()
	p.send(t, "\r")
	p.out.waitFor(t, mark, "Audit event", "esc back")
	mark = p.out.len()
	p.send(t, "m")
	p.out.waitFor(t, mark, "m My account", "SSH keys of your account")

	// The key it signed in with is its only one, without a password:
	// removing it is refused with what to do instead.
	mark = p.out.len()
	p.send(t, "x")
	p.out.waitFor(t, mark, "lock you out")

	p.send(t, "\x03")
	p.ended(t)
}

func TestTUIOrgAdminAndMemberOverSSH(t *testing.T) {
	ts := newTwoOrgs(t)
	p := ts.openConsole(t, ts.acmeAdmin)
	p.out.waitFor(t, 0, acmeAdminEmail, "(org admin)", "Users")
	p.send(t, "\x03") // ctrl+c
	p.ended(t)

	p = ts.openConsole(t, ts.acmeMember)
	p.out.waitFor(t, 0, acmeMemberEmail, "(member)", "My account")
	p.send(t, "q")
	p.ended(t)
}

func TestTUISignInOverSSH(t *testing.T) {
	ts := newTestServer(t)
	ts.createOrg(t, "acme")
	ctx := context.Background()
	if _, err := ts.svc.CreateUser(ctx, ts.adminActor(t), service.CreateUserInput{
		OrgSlug: "acme", Email: "ann@acme.example", Name: "Ann", Password: "ann-password"}); err != nil {
		t.Fatal(err)
	}

	stranger, _ := newTestSigner(t)
	p := ts.openConsole(t, stranger)
	p.out.waitFor(t, 0, "Sign in to lamb", "not linked to an account yet")

	mark := p.out.len()
	p.send(t, "ann@acme.example\r")
	p.send(t, "wrong-password\r")
	p.out.waitFor(t, mark, "email or password is not right")

	// The password field keeps the focus (the screen empties it after a
	// failure; the backspaces cover a screen that does not).
	p.send(t, strings.Repeat("\x7f", len("wrong-password")))
	mark = p.out.len()
	p.send(t, "ann-password\r")
	fp := gossh.FingerprintSHA256(stranger.PublicKey())
	deadline := time.Now().Add(screenDeadline)
	for {
		a, err := ts.svc.ActorForSSHKey(ctx, fp)
		if err == nil {
			if a.Email != "ann@acme.example" {
				t.Fatalf("the key signs in as %v", a)
			}
			break
		}
		if !errors.Is(err, service.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("key not linked after the right password: %v; the terminal shows:\n%s", err, p.out.text(mark))
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	// The console of the account follows.
	p.out.waitFor(t, mark, "ann@acme.example", "(member)")
	p.send(t, "q")
	p.ended(t)
}

func TestTUIRefusalsOverSSH(t *testing.T) {
	ts := newTwoOrgs(t)

	// An unknown key without a terminal gets one line and status 1.
	stranger, _ := newTestSigner(t)
	ts.run(t, stranger, "", "whoami").wantFail(t, 1, "not linked")

	// A known key without a terminal and without a command: the console
	// needs one.
	r := ts.runRaw(t, ts.admin, "", "")
	if r.code != 1 || !strings.Contains(r.stderr, "needs a terminal") {
		t.Fatalf("no command, no pty: exit %d, stderr %q", r.code, r.stderr)
	}

	// A disabled user with a terminal gets the refusal, not a console.
	if _, err := ts.svc.SetUserEnabled(context.Background(), ts.adminActor(t), acmeMemberEmail, false); err != nil {
		t.Fatal(err)
	}
	p := ts.openConsole(t, ts.acmeMember)
	if code := p.ended(t); code != 1 {
		t.Fatalf("disabled user: exit %d", code)
	}
	if !strings.Contains(p.stderr.text(0), "disabled") {
		t.Fatalf("disabled user: stderr %q, stdout %q", p.stderr.text(0), p.out.text(0))
	}
}

// The server never asks the terminal questions before drawing: a terminal
// that doesn't answer them (many don't over SSH) would otherwise see a blank
// screen until its first key, which the question would eat.
func TestTUIDrawsWithoutQueryingTheTerminal(t *testing.T) {
	ts := newTestServer(t)
	p := ts.openConsole(t, ts.admin)
	p.out.waitFor(t, 0, "Organizations", "lamb")
	if strings.Contains(p.out.raw(0), "\x1b]11;?") {
		t.Fatal("the server asked the terminal for its background color")
	}
	p.send(t, "q")
	p.ended(t)
}

// When the server stops, an open console ends and says why on the
// restored terminal, instead of just vanishing.
func TestTUISaysGoodbyeWhenTheServerStops(t *testing.T) {
	ts := newTestServer(t)
	p := ts.openConsole(t, ts.admin)
	p.out.waitFor(t, 0, "Slug")
	from := p.out.len()
	close(ts.stopping)
	p.out.waitFor(t, from, "lamb is restarting")
	p.ended(t)
}

// The usage screen over a real SSH terminal of 60 columns: a member's own
// usage, the range switch and the chart's switch between tokens and
// requests.
func TestTUIUsageOverSSHAt60Columns(t *testing.T) {
	ts := newTwoOrgs(t)
	p := ts.openConsole(t, ts.acmeMember)
	p.out.waitFor(t, 0, acmeMemberEmail, "(member)")
	mark := p.out.len()
	if err := p.sess.WindowChange(24, 60); err != nil {
		t.Fatal(err)
	}
	p.out.waitFor(t, mark, "My assistants")
	mark = p.out.len()
	p.send(t, "3")
	p.out.waitFor(t, mark, "Your assistants", "[this month]", "Tokens per day", "Budget")
	mark = p.out.len()
	p.send(t, "t")
	p.out.waitFor(t, mark, "[last month]")
	mark = p.out.len()
	p.send(t, "c")
	p.out.waitFor(t, mark, "Requests per day")
	p.send(t, "q")
	p.ended(t)
}
