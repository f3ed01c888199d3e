package main

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func newKey(t *testing.T) string {
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// A restored lamb.db without its secret.key once started, wrote a new key
// file, and then failed every provider call and signup with "internal
// error". The start is refused, saying what to restore, and no new key
// file is made.
func TestLostSecretKeyFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, "OPENAI_API_KEY=sk-org-secret-0123456789")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("first start: exit %d\n%s", code, p.stderr)
	}
	keyFile := filepath.Join(dir, "data", "secret.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	p = launch(t, dir)
	if code := p.wait(t); code == 0 {
		t.Fatalf("started without the key that opens the database's secrets:\n%s", p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "secret.key is missing") || !strings.Contains(p.stderr.String(), "restore") {
		t.Fatalf("the refusal doesn't say what to do:\n%s", p.stderr)
	}
	if _, err := os.Stat(keyFile); err == nil {
		t.Fatal("a new secret.key was made for a database sealed with another")
	}
}

// Another key (a mistyped LAMB_SECRET_KEY, another server's key file) is
// refused at start, even when the database holds no provider key: the
// database keeps a value sealed with its own key.
func TestWrongSecretKeyIsRefused(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, "LAMB_SECRET_KEY="+newKey(t))
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	p = launch(t, dir, "LAMB_SECRET_KEY="+newKey(t))
	if code := p.wait(t); code == 0 {
		t.Fatalf("started with another secret key:\n%s", p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "does not open this database's secrets") {
		t.Fatalf("the refusal doesn't say why:\n%s", p.stderr)
	}
}
