package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"lamb/config"
	"lamb/store"
)

func TestBootstrapAdmins(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	k1, fp1 := newKey(t, "alice@laptop")
	k2, fp2 := newKey(t, "alice@desktop")

	for range 2 { // every start; the second is a no-op
		if err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{k1, k2}, "Admin@Uni.example", "Admin"); err != nil {
			t.Fatal(err)
		}
	}
	u, err := e.st.UserByEmail(ctx, "admin@uni.example")
	if err != nil {
		t.Fatal(err)
	}
	sys, _ := e.st.SystemOrg(ctx)
	if !u.SystemAdmin || u.Role != store.RoleAdmin || !u.Enabled || u.OrganizationID != sys.ID {
		t.Fatalf("bootstrap admin = %+v", u)
	}
	keys, _ := e.st.SSHKeysByUser(ctx, u.ID)
	if len(keys) != 2 {
		t.Fatalf("%d keys attached, want 2", len(keys))
	}
	if n := e.auditCount(t, "sshkey.add"); n != 2 {
		t.Fatalf("sshkey.add audited %d times, want 2 (second start must not re-add)", n)
	}
	for _, fp := range []string{fp1, fp2} {
		a, err := e.svc.ActorForSSHKey(ctx, fp)
		if err != nil || a.Role != RoleSystemAdmin || a.OrgSlug != SystemSlug {
			t.Fatalf("actor for %s = %+v, %v", fp, a, err)
		}
	}
	// With a system admin, no claim code is offered.
	if code, err := e.svc.PrepareClaim(ctx, SystemActor()); err != nil || code != "" {
		t.Fatalf("claim code with an admin present: %q, %v", code, err)
	}
}

func TestBootstrapRejectsBadKeyAndForeignUser(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{"ssh-ed25519 not-base64"}, "admin@lamb.local", "Admin")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "admin key 1") {
		t.Fatalf("bad key: %v", err)
	}
	org, _ := e.st.CreateOrg(ctx, storeOrg("acme"))
	if _, err := e.st.CreateUser(ctx, store.User{OrganizationID: org.ID, Email: "teacher@acme.edu", Name: "T", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	k, _ := newKey(t, "")
	err = e.svc.BootstrapAdmins(ctx, SystemActor(), []string{k}, "teacher@acme.edu", "T")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "LAMB_ADMIN_EMAIL") {
		t.Fatalf("user of another org made system admin: %v", err)
	}
	u, _ := e.st.UserByEmail(ctx, "teacher@acme.edu")
	if u.SystemAdmin {
		t.Fatal("user of another org was made system admin")
	}
	// A key linked to someone else is not silently moved.
	if err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{k}, "admin@lamb.local", "A"); err != nil {
		t.Fatal(err)
	}
	err = e.svc.BootstrapAdmins(ctx, SystemActor(), []string{k}, "other@lamb.local", "O")
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("key of another user: %v, want ErrConflict", err)
	}
	if _, err := e.st.UserByEmail(ctx, "other@lamb.local"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("failed bootstrap left a user behind (not one transaction)")
	}
}

func TestBootstrapPermission(t *testing.T) {
	e := newTestEnv(t)
	k, _ := newKey(t, "")
	for _, a := range []Actor{{}, {Role: RoleSystemAdmin}, {Role: RoleOrgAdmin}, {Role: RoleMember}} {
		if err := e.svc.BootstrapAdmins(context.Background(), a, []string{k}, "x@y.z", "X"); !errors.Is(err, ErrForbidden) {
			t.Errorf("%v: %v, want ErrForbidden", a.Role, err)
		}
	}
}

func TestClaimCode(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	code, err := e.svc.PrepareClaim(ctx, SystemActor())
	if err != nil || len(code) != 11 || code[5] != '-' {
		t.Fatalf("claim code %q, %v", code, err)
	}
	if !e.svc.ClaimOpen(ctx) {
		t.Fatal("claim not open with a code prepared")
	}
	// A restart before anyone claims prints the same code (so does every
	// other instance on the database); only its sealed form is stored.
	if again, err := e.svc.PrepareClaim(ctx, SystemActor()); err != nil || again != code {
		t.Fatalf("restart: claim code %q, %v; want %q", again, err, code)
	}
	if stored, err := e.st.Setting(ctx, claimSetting); err != nil || strings.Contains(stored, code) || strings.Contains(stored, normalizeClaim(code)) {
		t.Fatalf("stored claim code %q, %v: want it sealed", stored, err)
	}
	k, fp := newKey(t, "me@laptop")
	if _, err := e.svc.Claim(ctx, "WRONG-CODES", k, "me@uni.edu", "Me"); !errors.Is(err, ErrBadClaim) {
		t.Fatalf("wrong code accepted: %v", err)
	}
	if _, err := e.svc.Claim(ctx, code, k, "not an email", "Me"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad email: %v", err)
	}
	// Lower case and without the dash is the same code.
	a, err := e.svc.Claim(ctx, strings.ToLower(strings.ReplaceAll(code, "-", "")), k, "Me@Uni.edu", "Me")
	if err != nil {
		t.Fatal(err)
	}
	if a.Role != RoleSystemAdmin || a.Email != "me@uni.edu" {
		t.Fatalf("claimed actor = %+v", a)
	}
	if got, err := e.svc.ActorForSSHKey(ctx, fp); err != nil || got.Role != RoleSystemAdmin {
		t.Fatalf("claimed key signs in as %+v, %v", got, err)
	}
	// The code works once.
	k2, _ := newKey(t, "")
	if _, err := e.svc.Claim(ctx, code, k2, "second@uni.edu", "Second"); !errors.Is(err, ErrBadClaim) {
		t.Fatalf("code reused: %v", err)
	}
	if n := e.auditCount(t, "system.claim"); n != 1 {
		t.Fatalf("system.claim audited %d times", n)
	}
	// Claimed: no instance offers or prints a code any more.
	if e.svc.ClaimOpen(ctx) {
		t.Fatal("claim still open after the claim")
	}
	if again, err := e.svc.PrepareClaim(ctx, SystemActor()); err != nil || again != "" {
		t.Fatalf("restart after the claim: code %q, %v", again, err)
	}
}

// A stored claim code the key can't open (a leftover of an earlier
// version, say) can't be claimed: the next start replaces it rather than
// failing or printing nothing.
func TestUnopenableClaimCodeIsReplaced(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	if err := e.st.SetSetting(ctx, claimSetting, "enc:v1:not-a-sealed-code"); err != nil {
		t.Fatal(err)
	}
	code, err := e.svc.PrepareClaim(ctx, SystemActor())
	if err != nil || len(code) != 11 {
		t.Fatalf("claim code %q, %v", code, err)
	}
	if again, err := e.svc.PrepareClaim(ctx, SystemActor()); again != code || err != nil {
		t.Fatalf("next start: %q, %v; want %q", again, err, code)
	}
	if _, err := e.svc.Claim(ctx, code, freshKey(t), "me@uni.edu", "Me"); err != nil {
		t.Fatalf("claim with the new code: %v", err)
	}
}

func TestActorForSSHKey(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	org, _ := e.st.CreateOrg(ctx, storeOrg("acme"))
	add := func(email, role string, enabled bool) string {
		u, err := e.st.CreateUser(ctx, store.User{OrganizationID: org.ID, Email: email, Name: email, Role: role, Enabled: enabled})
		if err != nil {
			t.Fatal(err)
		}
		line, fp := newKey(t, "")
		if _, err := e.st.AddSSHKey(ctx, store.SSHKey{OrganizationID: org.ID, UserID: u.ID, Fingerprint: fp, PublicKey: line}); err != nil {
			t.Fatal(err)
		}
		return fp
	}
	admin := add("admin@acme.edu", store.RoleAdmin, true)
	member := add("member@acme.edu", store.RoleMember, true)
	disabled := add("gone@acme.edu", store.RoleMember, false)

	if a, err := e.svc.ActorForSSHKey(ctx, admin); err != nil || a.Role != RoleOrgAdmin || a.OrgID != org.ID {
		t.Errorf("admin = %+v, %v", a, err)
	}
	if a, err := e.svc.ActorForSSHKey(ctx, member); err != nil || a.Role != RoleMember {
		t.Errorf("member = %+v, %v", a, err)
	}
	if _, err := e.svc.ActorForSSHKey(ctx, disabled); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled user: %v", err)
	}
	if _, err := e.svc.ActorForSSHKey(ctx, "SHA256:unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown key: %v", err)
	}
	if err := e.st.SetOrgStatus(ctx, org.ID, store.OrgSuspended); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ActorForSSHKey(ctx, admin); !errors.Is(err, ErrOrgSuspended) {
		t.Errorf("suspended org: %v", err)
	}
	// system_admin outside org lamb grants nothing beyond org admin.
	u, _ := e.st.UserByEmail(ctx, "member@acme.edu")
	e.st.MakeSystemAdmin(ctx, u.ID)
	e.st.SetOrgStatus(ctx, org.ID, store.OrgActive)
	if a, _ := e.svc.ActorForSSHKey(ctx, member); a.Role == RoleSystemAdmin {
		t.Error("a user outside org lamb became system admin")
	}
}

// An account that signed up (or was created) with the bootstrap email must
// not become system admin just because the operator sets LAMB_ADMIN_KEYS.
func TestBootstrapRefusesToPromoteAnExistingAccount(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	sys, _ := e.st.SystemOrg(ctx)
	if _, err := e.st.CreateUser(ctx, store.User{OrganizationID: sys.ID, Email: "admin@lamb.local", Name: "Squatter", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	k, _ := newKey(t, "")
	err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{k}, "admin@lamb.local", "Admin")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "LAMB_ADMIN_EMAIL") {
		t.Fatalf("bootstrap over an existing account: %v", err)
	}
	if u, _ := e.st.UserByEmail(ctx, "admin@lamb.local"); u.SystemAdmin {
		t.Fatal("the existing account became system admin")
	}
}

// CheckActor ends a session only when the account really changed: a
// database that can't answer right now is an error, not a logout.
func TestCheckActorTellsFailuresFromChanges(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	line, fp := newKey(t, "")
	if err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{line}, "root@lamb.local", "Root"); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CheckActor(ctx, a); err != nil {
		t.Fatalf("fresh actor: %v", err)
	}
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.svc.CheckActor(dead, a); err == nil || errors.Is(err, ErrSessionChanged) {
		t.Fatalf("a failing read must not read as a changed account: %v", err)
	}
	stale := a
	stale.Via = "SHA256:gone"
	if err := e.svc.CheckActor(ctx, stale); !errors.Is(err, ErrSessionChanged) {
		t.Fatalf("removed key: %v", err)
	}
}
