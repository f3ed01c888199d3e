package sshserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"lamb/internal/testtool"
	"lamb/service"
)

// Regression test for the offered-key bypass (CVE-2024-45337 class): a
// client offers the system admin's public key, which the server's
// public-key callback sees and accepts, and then authenticates with its own
// key. Servers that took the identity from the callback made that client the
// admin. lamb resolves identity after authentication from the key that
// signed, so the session must be the client's own.
//
// OpenSSH's client does exactly this when given a public key it has no
// private key for ahead of its real key, so the test drives it; the Go
// client can't, because it always signs after an accepted query.
func TestOfferedAdminKeyDoesNotGrantAdmin(t *testing.T) {
	// OpenSSH is needed to offer a key without signing with it.
	sshBin := testtool.Require(t, "install OpenSSH's client (Debian: openssh-client)", "ssh")[0]
	ts := newTestServer(t)
	ts.createOrg(t, "acme")
	dir := t.TempDir()

	// The admin's public key alone, as an attacker would have it.
	adminPub := filepath.Join(dir, "admin.pub")
	writeFile(t, adminPub, gossh.MarshalAuthorizedKey(ts.admin.PublicKey()))
	// The attacker's own key pair, linked to a member of acme.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(dir, "own")
	writeFile(t, own, pem.EncodeToMemory(block))
	signer, _ := gossh.NewSignerFromKey(priv)
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))

	run := func() string {
		host, port, _ := net.SplitHostPort(ts.addr)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sshBin, "-F", "/dev/null", "-v",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
			"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "PasswordAuthentication=no",
			"-i", adminPub, "-i", own, "-p", port, host, "whoami")
		out, _ := cmd.CombinedOutput()
		s := string(out)
		if !strings.Contains(s, "Server accepts key: "+adminPub) {
			t.Fatalf("the client never offered the admin's key, so the test proves nothing:\n%s", s)
		}
		return s
	}

	// Unknown own key: the session is a stranger, not the admin.
	if got := run(); !strings.Contains(got, "not linked") || strings.Contains(got, ts.adminMail) {
		t.Fatalf("offering the admin's key with an unknown key gave:\n%s", got)
	}
	// Own key of a member: the session is that member.
	if _, err := ts.svc.CreateUser(context.Background(), ts.adminActor(t), service.CreateUserInput{
		OrgSlug: "acme", Email: "member@acme.example", Name: "Member", SSHKey: line}); err != nil {
		t.Fatal(err)
	}
	got := run()
	if !strings.Contains(got, "member@acme.example") || strings.Contains(got, ts.adminMail) || strings.Contains(got, "system admin") {
		t.Fatalf("offering the admin's key with a member's key gave:\n%s", got)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
