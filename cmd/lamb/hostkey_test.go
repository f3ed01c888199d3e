package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/internal/pgtest"
)

// presentedHostKey connects to the SSH server at addr as an ordinary
// client does and returns the host key it presented.
func presentedHostKey(t *testing.T, addr string) ssh.PublicKey {
	t.Helper()
	signer, _ := newSigner(t)
	var seen ssh.PublicKey
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "t", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error { seen = key; return nil },
		Timeout:         10 * time.Second})
	if err != nil {
		t.Fatalf("ssh dial %s: %v", addr, err)
	}
	client.Close()
	if seen == nil {
		t.Fatalf("%s presented no host key", addr)
	}
	return seen
}

// stop ends a lamb with SIGTERM and checks it exits 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.stderr)
	}
}

// writeHostKey writes a new unencrypted ed25519 private key to path and
// returns its public key.
func writeHostKey(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	return signer.PublicKey()
}

// Behind a load balancer a client meets any instance: two lamb processes
// on one PostgreSQL database, each with its own data directory, present
// the same host key to a real SSH client, and so does a restarted one.
func TestHostKeySameOnEveryInstance(t *testing.T) {
	env := []string{"LAMB_DATABASE_URL=" + pgtest.URL(t), "LAMB_SECRET_KEY=" + testSecretKey}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := start(t, dirA, env...)
	b := start(t, dirB, env...)
	keyA, keyB := presentedHostKey(t, a.sshAddr), presentedHostKey(t, b.sshAddr)
	if !bytes.Equal(keyA.Marshal(), keyB.Marshal()) {
		t.Fatalf("the instances present different host keys: %s and %s", ssh.FingerprintSHA256(keyA), ssh.FingerprintSHA256(keyB))
	}
	for _, p := range []*proc{a, b} {
		if !strings.Contains(p.stderr.String(), ssh.FingerprintSHA256(keyA)) {
			t.Errorf("the log doesn't name the host key's fingerprint:\n%s", p.stderr)
		}
	}
	for _, dir := range []string{dirA, dirB} {
		if _, err := os.Stat(filepath.Join(dir, "data", "ssh_host_ed25519_key")); err == nil {
			t.Errorf("an instance on PostgreSQL wrote a host key file in %s", dir)
		}
	}
	a.stop(t)
	a = start(t, t.TempDir(), env...) // a new machine, say
	if again := presentedHostKey(t, a.sshAddr); !bytes.Equal(again.Marshal(), keyA.Marshal()) {
		t.Fatalf("a new instance presents %s, want the shared %s", ssh.FingerprintSHA256(again), ssh.FingerprintSHA256(keyA))
	}
	a.stop(t)
	b.stop(t)
}

// LAMB_SSH_HOST_KEY is the host key, on SQLite too; no key file is made.
func TestHostKeyFromVariable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lamb_host_key")
	want := writeHostKey(t, path)
	p := start(t, dir, "LAMB_SSH_HOST_KEY="+path)
	if got := presentedHostKey(t, p.sshAddr); !bytes.Equal(got.Marshal(), want.Marshal()) {
		t.Fatalf("presented %s, want LAMB_SSH_HOST_KEY's %s", ssh.FingerprintSHA256(got), ssh.FingerprintSHA256(want))
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "ssh_host_ed25519_key")); err == nil {
		t.Fatal("a host key file was made in the data directory beside LAMB_SSH_HOST_KEY")
	}
	p.stop(t)
}

// A LAMB_SSH_HOST_KEY that is missing or not a private key stops the
// start, naming the variable and the file.
func TestBadHostKeyVariableFailsStart(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "key.pub")
	signer, _ := newSigner(t)
	os.WriteFile(pub, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
	notKey := filepath.Join(dir, "notes.txt")
	os.WriteFile(notKey, []byte("remember the milk\n"), 0o600)
	for _, path := range []string{filepath.Join(dir, "missing"), pub, notKey} {
		p := launch(t, t.TempDir(), "LAMB_SSH_HOST_KEY="+path)
		if code := p.wait(t); code == 0 {
			t.Errorf("%s: lamb started", path)
		}
		if out := p.stderr.String(); !strings.Contains(out, "LAMB_SSH_HOST_KEY") || !strings.Contains(out, path) {
			t.Errorf("%s: the error doesn't name LAMB_SSH_HOST_KEY and the file:\n%s", path, out)
		}
	}
}

// SQLite as before: the data directory's key, made on the first start
// (or kept from an earlier version's) and presented at every start.
func TestHostKeySQLiteUnchanged(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	earlier := writeHostKey(t, filepath.Join(dir, "data", "ssh_host_ed25519_key")) // an existing deployment's
	for run := range 2 {
		p := start(t, dir)
		if got := presentedHostKey(t, p.sshAddr); !bytes.Equal(got.Marshal(), earlier.Marshal()) {
			t.Fatalf("run %d: presented %s, want the data directory's %s", run, ssh.FingerprintSHA256(got), ssh.FingerprintSHA256(earlier))
		}
		p.stop(t)
	}

	fresh := t.TempDir()
	p := start(t, fresh)
	first := presentedHostKey(t, p.sshAddr)
	p.stop(t)
	data, err := os.ReadFile(filepath.Join(fresh, "data", "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatalf("no host key file made on the first start: %v", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil || !bytes.Equal(signer.PublicKey().Marshal(), first.Marshal()) {
		t.Fatalf("the presented key is not the data directory's file: %v", err)
	}
	p = start(t, fresh)
	if again := presentedHostKey(t, p.sshAddr); !bytes.Equal(again.Marshal(), first.Marshal()) {
		t.Fatal("the host key changed at a restart")
	}
	p.stop(t)
}
