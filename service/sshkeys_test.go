package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// keysEnv is acme with its admin and two members, and beta with its admin.
func keysEnv(t *testing.T) (e *testEnv, admin, m1, m2, adminB Actor) {
	t.Helper()
	e, sys, admin := usersEnv(t)
	m1, _ = userWithKey(t, e, admin, "acme", "m1@acme.edu", "member", "")
	m2, _ = userWithKey(t, e, admin, "acme", "m2@acme.edu", "member", "")
	line, fp := newKey(t, "b")
	if _, err := e.svc.CreateOrg(context.Background(), sys, CreateOrgInput{Slug: "beta", Name: "Beta",
		Admin: &NewAdmin{Email: "admin@beta.edu", Name: "B", SSHKey: line}}); err != nil {
		t.Fatal(err)
	}
	adminB, err := e.svc.ActorForSSHKey(context.Background(), fp)
	if err != nil {
		t.Fatal(err)
	}
	return e, admin, m1, m2, adminB
}

func fingerprints(keys []SSHKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Fingerprint)
	}
	return out
}

func TestOwnSSHKeys(t *testing.T) {
	e, _, m1, _, _ := keysEnv(t)
	ctx := context.Background()
	line, fp := newKey(t, "m1@desktop")
	k, err := e.svc.AddSSHKey(ctx, m1, "", line)
	if err != nil {
		t.Fatal(err)
	}
	if k.Fingerprint != fp || k.Comment != "m1@desktop" || k.UserEmail != "m1@acme.edu" || strings.Contains(k.PublicKey, "desktop") {
		t.Fatalf("added %+v", k)
	}
	keys, err := e.svc.ListSSHKeys(ctx, m1, "")
	if err != nil || len(keys) != 2 || keys[1].Fingerprint != fp {
		t.Fatalf("own keys = %v, %v", fingerprints(keys), err)
	}
	// Naming oneself is the same as "".
	if same, err := e.svc.ListSSHKeys(ctx, m1, "M1@acme.edu"); err != nil || len(same) != 2 {
		t.Fatalf("own keys by email = %v, %v", fingerprints(same), err)
	}
	if a, err := e.svc.ActorForSSHKey(ctx, fp); err != nil || a.UserID != m1.UserID {
		t.Fatalf("new key signs in as %+v, %v", a, err)
	}
	if err := e.svc.RemoveSSHKey(ctx, m1, " "+fp+" "); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ActorForSSHKey(ctx, fp); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed key still signs in: %v", err)
	}
	if err := e.svc.RemoveSSHKey(ctx, m1, fp); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing twice: %v", err)
	}
	add, rm := e.lastAudit(t, "sshkey.add"), e.lastAudit(t, "sshkey.remove")
	if add.Target != "m1@acme.edu" || !strings.Contains(add.Details, fp) || rm.Target != "m1@acme.edu" || !strings.Contains(rm.Details, fp) {
		t.Fatalf("audits: %+v %+v", add, rm)
	}
}

func TestAdminManagesMembersKeys(t *testing.T) {
	e, admin, _, _, _ := keysEnv(t)
	ctx := context.Background()
	line, fp := newKey(t, "given")
	k, err := e.svc.AddSSHKey(ctx, admin, "m2@acme.edu", line)
	if err != nil || k.UserEmail != "m2@acme.edu" {
		t.Fatalf("add for a member: %+v, %v", k, err)
	}
	keys, err := e.svc.ListSSHKeys(ctx, admin, "m2@acme.edu")
	if err != nil || len(keys) != 2 {
		t.Fatalf("member's keys = %v, %v", fingerprints(keys), err)
	}
	if a, err := e.svc.ActorForSSHKey(ctx, fp); err != nil || a.Email != "m2@acme.edu" {
		t.Fatalf("key signs in as %+v, %v", a, err)
	}
	if err := e.svc.RemoveSSHKey(ctx, admin, fp); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastAudit(t, "sshkey.remove"); ev.Actor != "admin@acme.edu" || ev.Target != "m2@acme.edu" {
		t.Fatalf("audit %+v", ev)
	}
	if _, err := e.svc.ListSSHKeys(ctx, admin, "nobody@acme.edu"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("keys of nobody: %v", err)
	}
}

func TestMemberCantTouchAnotherMembersKeys(t *testing.T) {
	e, _, m1, m2, _ := keysEnv(t)
	ctx := context.Background()
	theirs := mustKeys(t, e, "m2@acme.edu")[0].Fingerprint
	before := e.dump(t)
	err := e.svc.RemoveSSHKey(ctx, m1, theirs)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("member removes another's key: %v, want ErrNotFound", err)
	}
	if missing := e.svc.RemoveSSHKey(ctx, m1, "SHA256:missing"); strings.ReplaceAll(err.Error(), theirs, "SHA256:missing") != missing.Error() {
		t.Errorf("another member's key answers %q, a missing key %q", err, missing)
	}
	line, _ := newKey(t, "")
	if _, err := e.svc.AddSSHKey(ctx, m1, "m2@acme.edu", line); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member adds a key to another: %v", err)
	}
	if _, err := e.svc.ListSSHKeys(ctx, m1, "m2@acme.edu"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member lists another's keys: %v", err)
	}
	if after := e.dump(t); after != before {
		t.Fatal("refused key operations changed the database")
	}
	if keys, _ := e.svc.ListSSHKeys(ctx, m2, ""); len(keys) != 1 {
		t.Fatalf("m2 has %d keys", len(keys))
	}
}

func TestOrgAdminOfBCantRemoveAsKey(t *testing.T) {
	e, _, _, _, adminB := keysEnv(t)
	ctx := context.Background()
	fp := mustKeys(t, e, "m1@acme.edu")[0].Fingerprint
	before := e.dump(t)
	err := e.svc.RemoveSSHKey(ctx, adminB, fp)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("admin of B removes A's key: %v, want ErrNotFound", err)
	}
	if missing := e.svc.RemoveSSHKey(ctx, adminB, "SHA256:missing"); strings.ReplaceAll(err.Error(), fp, "SHA256:missing") != missing.Error() {
		t.Errorf("A's key answers %q, a missing key %q", err, missing)
	}
	line, _ := newKey(t, "")
	if _, err := e.svc.AddSSHKey(ctx, adminB, "m1@acme.edu", line); !errors.Is(err, ErrNotFound) {
		t.Fatalf("admin of B adds a key to A's member: %v, want ErrNotFound", err)
	}
	if _, err := e.svc.ListSSHKeys(ctx, adminB, "m1@acme.edu"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("admin of B lists A's member's keys: %v, want ErrNotFound", err)
	}
	if after := e.dump(t); after != before {
		t.Fatal("admin of B changed A's keys")
	}
}

func TestDuplicateSSHKey(t *testing.T) {
	e, admin, m1, _, adminB := keysEnv(t)
	ctx := context.Background()
	line, fp := newKey(t, "laptop")
	if _, err := e.svc.AddSSHKey(ctx, m1, "", line); err != nil {
		t.Fatal(err)
	}
	// The same key again, for the same user, another user or another org's
	// admin — with another comment too. Only those who may see the account
	// that holds it are told which key it is (security_keys_test.go).
	other := strings.TrimSuffix(line, "laptop") + "other-comment"
	for _, tc := range []struct {
		a     Actor
		email string
		named bool
	}{{m1, "", true}, {admin, "m2@acme.edu", true}, {adminB, "", false}} {
		_, err := e.svc.AddSSHKey(ctx, tc.a, tc.email, other)
		if !errors.Is(err, ErrConflict) || strings.Contains(err.Error(), fp) != tc.named {
			t.Fatalf("duplicate key: %v, want ErrConflict naming the fingerprint: %v", err, tc.named)
		}
		if strings.Contains(err.Error(), "m1@acme.edu") {
			t.Errorf("conflict names the key's owner: %v", err)
		}
	}
	if n := e.count(t, `SELECT COUNT(*) FROM ssh_keys WHERE fingerprint = ?`, fp); n != 1 {
		t.Fatalf("%d rows for one key", n)
	}
}

func TestPastedPrivateKeyIsRefused(t *testing.T) {
	e, _, m1, _, _ := keysEnv(t)
	ctx := context.Background()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "me@laptop")
	if err != nil {
		t.Fatal(err)
	}
	pastedPEM := string(pem.EncodeToMemory(block))
	before := e.dump(t)
	_, err = e.svc.AddSSHKey(ctx, m1, "", pastedPEM)
	wantInvalid(t, err, "ssh_key")
	if !strings.Contains(err.Error(), "private key") || !strings.Contains(err.Error(), ".pub") {
		t.Fatalf("message %q doesn't tell to paste the public key", err)
	}
	if strings.Contains(err.Error(), "OPENSSH") || strings.Contains(err.Error(), pastedPEM[40:60]) {
		t.Fatalf("message echoes the private key: %q", err)
	}
	for _, bad := range []string{"", "   ", "not a key", "ssh-ed25519", "ssh-rsa AAAA==="} {
		_, err := e.svc.AddSSHKey(ctx, m1, "", bad)
		wantInvalid(t, err, "ssh_key")
	}
	line1, _ := newKey(t, "")
	line2, _ := newKey(t, "")
	_, err = e.svc.AddSSHKey(ctx, m1, "", line1+"\n"+line2)
	wantInvalid(t, err, "ssh_key")
	if !strings.Contains(err.Error(), "one at a time") {
		t.Errorf("two keys: %q", err)
	}
	if after := e.dump(t); after != before {
		t.Fatal("refused keys were stored")
	}
}

// Keys linked at sign-in carry no comment: lists show at least their type.
func TestKeyType(t *testing.T) {
	for line, want := range map[string]string{
		"ssh-ed25519 AAAA":                            "ed25519",
		"ssh-rsa AAAA laptop":                         "rsa",
		"ecdsa-sha2-nistp256 AAAA":                    "ecdsa",
		"sk-ssh-ed25519@openssh.com AAAA":             "ed25519 (security key)",
		"sk-ecdsa-sha2-nistp256@openssh.com AAAA key": "ecdsa (security key)",
	} {
		if got := keyType(line); got != want {
			t.Errorf("keyType(%q) = %q, want %q", line, got, want)
		}
	}
}

// Removing your own only key when the account has no password would leave
// no way to sign in again: refused, naming what to do first. With another
// key or a password it is allowed, and an admin may still remove a user's
// only key (a lost laptop); the admin then lets them back in.
func TestRemovingYourOnlyKeyWithoutPasswordIsRefused(t *testing.T) {
	e, admin, m1, _, _ := keysEnv(t) // m1 has one key and no password
	ctx := context.Background()
	err := e.svc.RemoveSSHKey(ctx, m1, m1.Via)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "only SSH key") || !strings.Contains(err.Error(), "set a password") {
		t.Fatalf("removing the only key of an account without password: %v", err)
	}
	if _, err := e.svc.ActorForSSHKey(ctx, m1.Via); err != nil {
		t.Fatalf("the refused removal removed the key: %v", err)
	}
	if id, err := e.svc.Whoami(ctx, m1); err != nil || id.HasPassword {
		t.Fatalf("whoami of an account without password: %+v, %v", id, err)
	}

	// With a second key, the first may go.
	line, fp := newKey(t, "m1@laptop")
	if _, err := e.svc.AddSSHKey(ctx, m1, "", line); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemoveSSHKey(ctx, m1, m1.Via); err != nil {
		t.Fatalf("removing one of two keys: %v", err)
	}
	// With a password, the last one may go too: signing in links a new key.
	m1b, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemoveSSHKey(ctx, m1b, fp); !errors.Is(err, ErrInvalid) {
		t.Fatalf("removing the last key again: %v", err)
	}
	if err := e.svc.ChangePassword(ctx, m1b, "", "a-long-password"); err != nil {
		t.Fatal(err)
	}
	if id, err := e.svc.Whoami(ctx, m1b); err != nil || !id.HasPassword {
		t.Fatalf("whoami after choosing a password: %+v, %v", id, err)
	}
	if err := e.svc.RemoveSSHKey(ctx, m1b, fp); err != nil {
		t.Fatalf("removing the only key of an account with a password: %v", err)
	}

	// An admin removes a member's only key, password or not.
	m2keys, err := e.svc.ListSSHKeys(ctx, admin, "m2@acme.edu")
	if err != nil || len(m2keys) != 1 {
		t.Fatalf("m2's keys: %v, %v", m2keys, err)
	}
	if err := e.svc.RemoveSSHKey(ctx, admin, m2keys[0].Fingerprint); err != nil {
		t.Fatalf("an admin removing a member's only key: %v", err)
	}
}
