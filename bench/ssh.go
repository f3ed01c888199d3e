package main

// The SSH console part of the benchmark (DESIGN §9: 500 concurrent TUI
// sessions on 2 cores, ≤ 2 MB per idle session, keypress to redraw
// ≤ 50 ms). The sessions' clients run in a child process so that the
// server's memory is measured alone.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/service"
	"lamb/sshserver"
)

// runSSH serves the console and measures n idle sessions opened by a child.
func runSSH(n int) error {
	ctx := context.Background()
	svc, _, cleanup, err := newService(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer cleanup()
	defer svc.Close()
	dir, err := os.MkdirTemp("", "lamb-bench-ssh")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	if err := svc.BootstrapAdmins(ctx, service.SystemActor(), []string{line}, "bench@lamb.local", "Bench"); err != nil {
		return err
	}
	block, _ := ssh.MarshalPrivateKey(priv, "")
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	srv, err := sshserver.New(sshserver.Options{HostKeyPath: filepath.Join(dir, "host"), Service: svc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	defer srv.Close()

	before := memory()
	self, _ := os.Executable()
	child := exec.Command(self, "-ssh-clients", fmt.Sprintf("%s,%s,%d", ln.Addr(), keyFile, n))
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	start := time.Now()
	if err := child.Start(); err != nil {
		return err
	}
	out := bufio.NewReader(stdout)
	ready, err := out.ReadString('\n')
	if err != nil || !strings.HasPrefix(ready, "ready") {
		return fmt.Errorf("clients failed: %q %v", ready, err)
	}
	opened := time.Since(start)
	time.Sleep(time.Second) // let the first screens settle
	after := memory()
	goroutines := runtime.NumGoroutine()
	stdin.Write([]byte("measure\n"))
	keys, _ := out.ReadString('\n')
	stdin.Close()
	child.Wait()

	fmt.Printf("SSH console: %d concurrent sessions (PTY, first screen drawn) opened in %s\n", n, opened.Round(time.Millisecond))
	fmt.Printf("  server memory %.1f MB → %.1f MB: %.2f MB per idle session (target ≤ 2 MB); %d goroutines\n",
		mb(before), mb(after), mb(after-before)/float64(n), goroutines)
	fmt.Printf("  %s", keys)
	return nil
}

// memory is the heap and stacks the server process holds after a GC.
func memory() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// sshClients is the child: it opens n console sessions, says "ready",
// then on "measure" times screen switches in 20 of them.
func sshClients(spec string) error {
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		return fmt.Errorf("-ssh-clients ADDR,KEYFILE,N")
	}
	addr, keyFile := parts[0], parts[1]
	n, _ := strconv.Atoi(parts[2])
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return err
	}
	cfg := &ssh.ClientConfig{User: "bench", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}
	sessions := make([]*console, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32) // open at most 32 at once, as a crowd arriving
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := openConsole(addr, cfg)
			if err != nil {
				errs <- err
				return
			}
			sessions[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Println("ready")
	in := bufio.NewReader(os.Stdin)
	if cmd, _ := in.ReadString('\n'); strings.TrimSpace(cmd) != "measure" {
		return nil
	}
	var times []time.Duration
	for i := 0; i < 20 && i < n; i++ {
		c := sessions[i*n/20]
		for _, step := range []struct{ key, want string }{{"2", "Email"}, {"1", "Slug"}} {
			d, err := c.press(step.key, step.want)
			if err != nil {
				return err
			}
			times = append(times, d)
		}
	}
	slices.Sort(times)
	fmt.Printf("keypress to redraw (switching screens, %d samples, with all sessions open): median %.1f ms, max %.1f ms (target ≤ 50 ms)\n",
		len(times), ms(times[len(times)/2]), ms(times[len(times)-1]))
	for _, c := range sessions {
		c.client.Close()
	}
	return nil
}

// console is one open TUI session.
type console struct {
	client *ssh.Client
	stdin  io.Writer
	mu     sync.Mutex
	out    bytes.Buffer
	notify chan struct{}
}

func openConsole(addr string, cfg *ssh.ClientConfig) (*console, error) {
	client, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	sess, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	if err := sess.RequestPty("xterm-256color", 40, 120, ssh.TerminalModes{}); err != nil {
		return nil, err
	}
	c := &console{client: client, notify: make(chan struct{}, 1)}
	c.stdin, _ = sess.StdinPipe()
	stdout, _ := sess.StdoutPipe()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			k, err := stdout.Read(buf)
			c.mu.Lock()
			c.out.Write(buf[:k])
			c.mu.Unlock()
			select {
			case c.notify <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	if err := sess.Shell(); err != nil {
		return nil, err
	}
	if _, err := c.wait("Slug", 30*time.Second); err != nil {
		return nil, err
	}
	return c, nil
}

// wait blocks until text appears in the output written after it starts.
func (c *console) wait(text string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := time.After(limit)
	for {
		c.mu.Lock()
		found := strings.Contains(c.out.String(), text)
		c.mu.Unlock()
		if found {
			return time.Since(start), nil
		}
		select {
		case <-c.notify:
		case <-deadline:
			return 0, fmt.Errorf("%q not seen within %s", text, limit)
		}
	}
}

// press sends a key and times the redraw that shows want.
func (c *console) press(key, want string) (time.Duration, error) {
	c.mu.Lock()
	c.out.Reset()
	c.mu.Unlock()
	start := time.Now()
	if _, err := c.stdin.Write([]byte(key)); err != nil {
		return 0, err
	}
	if _, err := c.wait(want, 10*time.Second); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
