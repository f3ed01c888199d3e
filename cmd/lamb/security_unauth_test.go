package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// capDeadline bounds each wait of these tests.
const capDeadline = 20 * time.Second

// dialSSH opens an SSH connection as signer.
func dialSSH(t *testing.T, addr string, signer ssh.Signer) *ssh.Client {
	t.Helper()
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "t", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: capDeadline})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// whoami runs whoami in a new session of an open connection.
func whoami(t *testing.T, client *ssh.Client) string {
	t.Helper()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatalf("new session on an established connection: %v", err)
	}
	defer sess.Close()
	out, err := sess.Output("whoami")
	if err != nil {
		t.Fatalf("whoami on an established connection: %v", err)
	}
	return string(out)
}

// rawConn opens a TCP connection that sends nothing.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, capDeadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused reports whether the server closed conn without a word: it was
// over a cap. An SSH server would have sent its version line first.
func refused(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(capDeadline))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection neither served nor closed within %s", capDeadline)
	}
	return len(b) == 0
}

// sshBanner reports whether the server greets conn as an SSH server.
func sshBanner(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(capDeadline))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

// Descriptor exhaustion from one address: the connection past the
// per-address cap is closed at once, on SSH and on HTTP, while the
// sessions and keep-alive connections that address holds go on working.
func TestPerAddressConnectionCap(t *testing.T) {
	admin, adminKey := newSigner(t)
	p := start(t, t.TempDir(), "LAMB_ADMIN_KEYS="+adminKey,
		"LAMB_SSH_CONNECTIONS_PER_ADDRESS=3", "LAMB_HTTP_CONNECTIONS_PER_ADDRESS=3")

	t.Run("ssh", func(t *testing.T) {
		client := dialSSH(t, p.sshAddr, admin)
		idle := []net.Conn{rawConn(t, p.sshAddr), rawConn(t, p.sshAddr)}
		for _, c := range idle {
			if !sshBanner(c) {
				t.Fatal("a connection within the cap was not served")
			}
		}
		if !refused(t, rawConn(t, p.sshAddr)) {
			t.Fatal("the 4th connection from one address was served")
		}
		if out := whoami(t, client); !strings.Contains(out, "system admin") {
			t.Fatalf("established session: %q", out)
		}
		// A place freed is a place to take.
		idle[0].Close()
		deadline := time.Now().Add(capDeadline)
		for !sshBanner(rawConn(t, p.sshAddr)) {
			if time.Now().After(deadline) {
				t.Fatal("no connection served after one closed")
			}
			time.Sleep(20 * time.Millisecond) // poll interval: the server sees the close
		}
	})

	t.Run("http", func(t *testing.T) {
		keep := &http.Client{Timeout: capDeadline, Transport: &http.Transport{}}
		get := func(c *http.Client) error {
			resp, err := c.Get("http://" + p.httpAddr + "/healthz")
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return errors.New(resp.Status)
			}
			return nil
		}
		if err := get(keep); err != nil {
			t.Fatal(err)
		}
		rawConn(t, p.httpAddr)
		rawConn(t, p.httpAddr)
		fresh := &http.Client{Timeout: capDeadline, Transport: &http.Transport{DisableKeepAlives: true}}
		if err := get(fresh); err == nil {
			t.Fatal("a 4th connection from one address was served")
		}
		if err := get(keep); err != nil {
			t.Fatalf("the keep-alive connection within the cap: %v", err)
		}
	})
}

// Descriptor exhaustion from many addresses: past the total cap, new
// connections wait (in the kernel's backlog) instead of taking the last
// descriptors, and the sessions already held keep working.
func TestGlobalConnectionCapKeepsRoomForSessions(t *testing.T) {
	admin, adminKey := newSigner(t)
	p := start(t, t.TempDir(), "LAMB_ADMIN_KEYS="+adminKey, "LAMB_MAX_CONNECTIONS=3")
	client := dialSSH(t, p.sshAddr, admin)
	keep := &http.Client{Timeout: capDeadline, Transport: &http.Transport{}}
	get := func(c *http.Client) error {
		resp, err := c.Get("http://" + p.httpAddr + "/healthz")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	if err := get(keep); err != nil {
		t.Fatal(err)
	}
	idle := rawConn(t, p.httpAddr) // the third: the budget is spent

	waiting := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := get(waiting); err == nil {
		t.Fatal("a connection past the total cap was served")
	}
	if out := whoami(t, client); !strings.Contains(out, "system admin") {
		t.Fatalf("established SSH session at the cap: %q", out)
	}
	if err := get(keep); err != nil {
		t.Fatalf("established HTTP connection at the cap: %v", err)
	}
	// Once a connection closes, the next one is served.
	idle.Close()
	fresh := &http.Client{Timeout: capDeadline, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := get(fresh); err != nil {
		t.Fatalf("after a connection closed: %v", err)
	}
}
