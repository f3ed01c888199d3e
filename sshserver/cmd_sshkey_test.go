package sshserver

import (
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
)

func TestSSHKeyOwnKeys(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	own := gossh.FingerprintSHA256(e.acmeMember.PublicKey())
	r := e.run(t, e.acmeMember, "", "sshkey", "list").wantOK(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], own+"  ssh-ed25519") || !strings.Contains(lines[1], acmeMemberEmail) {
		t.Fatalf("sshkey list:\n%s", r.stdout)
	}

	// A second key from stdin, a third from the command line unquoted (the
	// way `ssh host sshkey add $(cat key.pub)` arrives).
	laptop, laptopLine := newTestSigner(t)
	r = e.run(t, e.acmeMember, laptopLine+" ana@laptop\n", "sshkey", "add").wantOK(t)
	laptopFP := gossh.FingerprintSHA256(laptop.PublicKey())
	if r.stdout != "Added key "+laptopFP+" to ana@acme.example.\n" {
		t.Fatalf("sshkey add from stdin: %q", r.stdout)
	}
	phone, phoneLine := newTestSigner(t)
	r = e.runRaw(t, e.acmeMember, "", "sshkey add "+phoneLine+" ana@phone")
	r.wantOK(t)
	var keys []service.SSHKey
	decode(t, e.run(t, laptop, "", "sshkey", "list", "--json").wantOK(t), &keys)
	if len(keys) != 3 {
		t.Fatalf("keys after adding two: %+v", keys)
	}
	comments := map[string]string{}
	for _, k := range keys {
		comments[k.Fingerprint] = k.Comment
	}
	if comments[laptopFP] != "ana@laptop" || comments[gossh.FingerprintSHA256(phone.PublicKey())] != "ana@phone" {
		t.Fatalf("comments: %v", comments)
	}
	e.run(t, phone, "", "whoami").wantOK(t)

	r = e.run(t, e.acmeMember, "", "sshkey", "remove", laptopFP).wantOK(t)
	if r.stdout != "Removed key "+laptopFP+".\n" {
		t.Fatalf("sshkey remove: %q", r.stdout)
	}
	e.run(t, laptop, "", "whoami").wantFail(t, 1, "not linked")

	e.run(t, e.acmeMember, laptopLine+"\n", "sshkey", "add").wantOK(t)
	e.run(t, e.acmeMember, laptopLine+"\n", "sshkey", "add").wantFail(t, 1, "is already linked to an account")
	e.run(t, e.acmeMember, "", "sshkey", "add", "not a key").wantFail(t, 1, "ssh_key: not an SSH public key")
	e.run(t, e.acmeMember, "-----BEGIN OPENSSH PRIVATE KEY-----\n", "sshkey", "add").wantFail(t, 1, "this is a private key")
	e.run(t, e.acmeMember, "", "sshkey", "add").wantFail(t, 1, "ssh key: expected a line on stdin")
	e.run(t, e.acmeMember, "", "sshkey", "remove", "SHA256:nosuchkey").wantFail(t, 1, "not found")
}

func TestSSHKeyOfOtherUsers(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	memberFP := gossh.FingerprintSHA256(e.acmeMember.PublicKey())
	globexFP := gossh.FingerprintSHA256(e.globexAdmin.PublicKey())

	// An org admin manages their users' keys.
	r := e.run(t, e.acmeAdmin, "", "sshkey", "list", acmeMemberEmail).wantOK(t)
	if !strings.Contains(r.stdout, memberFP) {
		t.Fatalf("admin's sshkey list of a member:\n%s", r.stdout)
	}
	extra, line := newTestSigner(t)
	r = e.run(t, e.acmeAdmin, "", "sshkey", "add", acmeMemberEmail, line).wantOK(t)
	if !strings.HasSuffix(r.stdout, " to ana@acme.example.\n") {
		t.Fatalf("admin's sshkey add for a member: %q", r.stdout)
	}
	if r := e.run(t, extra, "", "whoami").wantOK(t); !strings.Contains(r.stdout, acmeMemberEmail) {
		t.Fatalf("added key signs in as %q", r.stdout)
	}
	e.run(t, e.acmeAdmin, "", "sshkey", "remove", gossh.FingerprintSHA256(extra.PublicKey())).wantOK(t)

	// Members: only their own keys.
	_, line2 := newTestSigner(t)
	e.run(t, e.acmeMember, "", "sshkey", "list", acmeAdminEmail).wantFail(t, 1, "permission denied: a member of acme")
	e.run(t, e.acmeMember, "", "sshkey", "add", acmeAdminEmail, line2).wantFail(t, 1, "permission denied: a member of acme")
	e.run(t, e.acmeMember, "", "sshkey", "remove", gossh.FingerprintSHA256(e.acmeAdmin.PublicKey())).wantFail(t, 1, "not found")

	// Another org's users and keys are not found for an org admin.
	e.run(t, e.acmeAdmin, "", "sshkey", "list", globexAdminEmail).wantFail(t, 1, `user "chief@globex.example" not found`)
	e.run(t, e.acmeAdmin, "", "sshkey", "add", globexAdminEmail, line2).wantFail(t, 1, "not found")
	e.run(t, e.acmeAdmin, "", "sshkey", "remove", globexFP).wantFail(t, 1, "not found")
	e.run(t, e.globexAdmin, "", "whoami").wantOK(t)

	// System admins manage everyone's.
	e.run(t, e.admin, "", "sshkey", "list", globexAdminEmail).wantOK(t)
	e.run(t, e.admin, "", "sshkey", "remove", globexFP).wantOK(t)
	e.run(t, e.globexAdmin, "", "whoami").wantFail(t, 1, "not linked")
}
