package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// console is an open PTY console session of the test.
type console struct {
	client *ssh.Client
	stdin  io.Writer
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func openConsole(t *testing.T, addr string, signer ssh.Signer, drawn string) *console {
	t.Helper()
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "someone", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	c := &console{client: client, done: make(chan struct{})}
	sess.Stdout = c
	// A console reads its input; a session without stdin ends it at once.
	if c.stdin, err = sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 40, 120, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	go func() { sess.Wait(); client.Close(); close(c.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(c.text(), drawn) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if !strings.Contains(c.text(), drawn) {
		t.Fatalf("the console did not draw:\n%q", c.text()[:min(len(c.text()), 3000)])
	}
	return c
}

// Restarts with consoles open once hung for the whole shutdown bound in
// some runs, and some consoles were never told. Every run ends well within
// the bound and every console is told.
func TestSIGTERMWithConsolesOpenIsQuickAndTellsEach(t *testing.T) {
	dir := t.TempDir()
	admin, adminKey := newSigner(t)
	for run := range 8 {
		p := start(t, dir, "LAMB_ADMIN_KEYS="+adminKey)
		var consoles []*console
		for i := range 5 {
			c := openConsole(t, p.sshAddr, admin, "LAMB (system)")
			if i%2 == 1 {
				io.WriteString(c.stdin, "2") // another screen, with its own load
			}
			consoles = append(consoles, c)
		}
		stranger, _ := newSigner(t) // a key no account has: the sign-in screen
		consoles = append(consoles, openConsole(t, p.sshAddr, stranger, "Sign in"))
		began := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t); code != 0 {
			t.Fatalf("run %d: exit %d\n%s", run, code, p.stderr)
		}
		took := time.Since(began)
		for i, c := range consoles {
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("run %d: console %d still open after lamb exited", run, i)
			}
			if !strings.Contains(c.text(), "lamb is restarting") {
				t.Errorf("run %d: console %d was not told lamb is restarting", run, i)
			}
		}
		// The bound is 15 s; a run that reaches it is the hang.
		if took > 8*time.Second {
			t.Fatalf("run %d: SIGTERM with idle consoles took %s", run, took)
		}
		t.Logf("run %d: stopped in %s", run, took.Round(time.Millisecond))
	}
}
