package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"lamb/store"
)

// usersEnv is acme with its admin (an actor signed in by key, password
// "password-1") and a system admin.
func usersEnv(t *testing.T) (e *testEnv, sys, admin Actor) {
	t.Helper()
	e, sys = orgEnv(t)
	line, fp := newKey(t, "admin")
	if _, err := e.svc.CreateOrg(context.Background(), sys, CreateOrgInput{Slug: "acme", Name: "Acme",
		Admin: &NewAdmin{Email: "admin@acme.edu", Name: "Admin", SSHKey: line, Password: "password-1"}}); err != nil {
		t.Fatal(err)
	}
	admin, err := e.svc.ActorForSSHKey(context.Background(), fp)
	if err != nil {
		t.Fatal(err)
	}
	return e, sys, admin
}

func TestCreateUserValidation(t *testing.T) {
	e, _, admin := usersEnv(t)
	ctx := context.Background()
	key, _ := newKey(t, "")
	ok := CreateUserInput{OrgSlug: "acme", Email: "new@acme.edu", Name: "New", Password: "long-enough"}
	before := e.dump(t)
	for _, tc := range []struct {
		field  string
		mutate func(in *CreateUserInput)
	}{
		{"email", func(in *CreateUserInput) { in.Email = "" }},
		{"email", func(in *CreateUserInput) { in.Email = "no-at-sign" }},
		{"email", func(in *CreateUserInput) { in.Email = "a@localhost" }},
		{"email", func(in *CreateUserInput) { in.Email = "Name <a@b.org>" }},
		{"email", func(in *CreateUserInput) { in.Email = strings.Repeat("a", 250) + "@b.org" }},
		{"name", func(in *CreateUserInput) { in.Name = "  " }},
		{"name", func(in *CreateUserInput) { in.Name = strings.Repeat("n", 101) }},
		{"name", func(in *CreateUserInput) { in.Name = "line\nbreak" }},
		{"password", func(in *CreateUserInput) { in.Password = "short" }},
		{"role", func(in *CreateUserInput) { in.Role = "owner" }},
		{"ssh_key", func(in *CreateUserInput) { in.SSHKey = "ssh-ed25519 AAAAbroken" }},
		{"ssh_key", func(in *CreateUserInput) { in.SSHKey = key + "\n" + key }},
	} {
		in := ok
		tc.mutate(&in)
		_, err := e.svc.CreateUser(ctx, admin, in)
		wantInvalid(t, err, tc.field)
	}
	if after := e.dump(t); after != before {
		t.Fatal("refused CreateUser changed the database")
	}
	// A name of exactly 100 characters (not bytes) is fine; the email is stored lower case.
	in := ok
	in.Email, in.Name = "New.Person@Acme.EDU", strings.Repeat("é", 100)
	res, err := e.svc.CreateUser(ctx, admin, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.User.Email != "new.person@acme.edu" || res.User.Role != store.RoleMember || res.Password != "" || !res.User.HasPassword {
		t.Fatalf("created %+v", res)
	}
	// The same address in another case is taken.
	in.Email = "NEW.person@acme.edu"
	_, err = e.svc.CreateUser(ctx, admin, in)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "new.person@acme.edu") {
		t.Fatalf("duplicate email: %v, want ErrConflict naming it", err)
	}
	// Neither password nor key: a one-time password that works.
	res, err = e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: "otp@acme.edu", Name: "O"})
	if err != nil || res.Password == "" {
		t.Fatalf("one-time password: %+v, %v", res, err)
	}
	line, _ := newKey(t, "")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "otp@acme.edu", Password: res.Password}); err != nil {
		t.Fatalf("sign in with the one-time password: %v", err)
	}
	if n := e.auditCount(t, "user.create"); n != 4 { // root (bootstrap), the admin, new.person, otp
		t.Fatalf("user.create audited %d times, want 4", n)
	}
}

func TestCreateUserMaxUsers(t *testing.T) {
	e, _, admin := usersEnv(t)
	ctx := context.Background()
	c, err := e.svc.OrgConfig(ctx, admin, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	c.Limits.MaxUsers = 2 // the admin and one more
	if _, err := e.svc.SetOrgConfig(ctx, admin, "acme", c, false); err != nil {
		t.Fatal(err)
	}
	mk := func(email string) error {
		line, _ := newKey(t, "")
		_, err := e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: email, Name: "U", SSHKey: line})
		return err
	}
	if err := mk("one@acme.edu"); err != nil {
		t.Fatal(err)
	}
	err = mk("two@acme.edu")
	var le *LimitError
	if !errors.Is(err, ErrLimit) || !errors.As(err, &le) || le.Limit != "max_users" {
		t.Fatalf("over max_users: %v, want a LimitError for max_users", err)
	}
	if _, err := e.st.UserByEmail(ctx, "two@acme.edu"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("user created over the limit")
	}
	// 0 means nobody more; -1 unlimited.
	c.Limits.MaxUsers = -1
	if _, err := e.svc.SetOrgConfig(ctx, admin, "acme", c, false); err != nil {
		t.Fatal(err)
	}
	if err := mk("two@acme.edu"); err != nil {
		t.Fatalf("unlimited: %v", err)
	}
}

func TestLastEnabledAdminIsProtected(t *testing.T) {
	e, sys, admin := usersEnv(t)
	ctx := context.Background()
	const a = "admin@acme.edu"
	before := e.dump(t)
	for _, actor := range []Actor{sys, admin} {
		_, err := e.svc.SetUserEnabled(ctx, actor, a, false)
		wantInvalid(t, err, "email")
		_, err = e.svc.SetUserRole(ctx, actor, a, "member")
		wantInvalid(t, err, "email")
		wantInvalid(t, e.svc.DeleteUser(ctx, actor, a), "email")
	}
	if after := e.dump(t); after != before {
		t.Fatal("a refused change to the last admin was written")
	}
	_, err := e.svc.SetUserRole(ctx, sys, a, "member")
	if !strings.Contains(err.Error(), "last enabled admin") {
		t.Errorf("message %q doesn't say why", err)
	}

	// With a second enabled admin, the first can be demoted by them; a
	// disabled admin doesn't count.
	second, _ := userWithKey(t, e, admin, "acme", "second@acme.edu", "admin", "")
	if _, err := e.svc.SetUserEnabled(ctx, admin, "second@acme.edu", false); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SetUserRole(ctx, sys, a, "member")
	wantInvalid(t, err, "email")
	if _, err := e.svc.SetUserEnabled(ctx, admin, "second@acme.edu", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetUserRole(ctx, second, a, "member"); err != nil {
		t.Fatalf("demote with another admin present: %v", err)
	}
	// Now second is the last one.
	_, err = e.svc.SetUserEnabled(ctx, sys, "second@acme.edu", false)
	wantInvalid(t, err, "email")
	for _, action := range []string{"user.disable", "user.enable", "user.set_role"} {
		if e.auditCount(t, action) == 0 {
			t.Errorf("%s not audited", action)
		}
	}
}

func TestAdminCantDisableOrDeleteThemselves(t *testing.T) {
	e, _, admin := usersEnv(t)
	ctx := context.Background()
	userWithKey(t, e, admin, "acme", "second@acme.edu", "admin", "")
	_, err := e.svc.SetUserEnabled(ctx, admin, "admin@acme.edu", false)
	wantInvalid(t, err, "email")
	if !strings.Contains(err.Error(), "your own account") {
		t.Errorf("message %q", err)
	}
	wantInvalid(t, e.svc.DeleteUser(ctx, admin, "ADMIN@acme.edu"), "email")
	// Stepping down to member is allowed while another admin remains.
	if _, err := e.svc.SetUserRole(ctx, admin, "admin@acme.edu", "member"); err != nil {
		t.Fatal(err)
	}
	if u := e.mustUser(t, "admin@acme.edu"); u.Role != store.RoleMember || !u.Enabled {
		t.Fatalf("after stepping down: %+v", u)
	}
}

func TestUserChangesAreAudited(t *testing.T) {
	e, _, admin := usersEnv(t)
	ctx := context.Background()
	userWithKey(t, e, admin, "acme", "m@acme.edu", "member", "")
	steps := []struct {
		action string
		run    func() error
	}{
		{"user.disable", func() error { _, err := e.svc.SetUserEnabled(ctx, admin, "m@acme.edu", false); return err }},
		{"user.enable", func() error { _, err := e.svc.SetUserEnabled(ctx, admin, "m@acme.edu", true); return err }},
		{"user.set_role", func() error { _, err := e.svc.SetUserRole(ctx, admin, "m@acme.edu", "admin"); return err }},
		{"user.reset_password", func() error { _, err := e.svc.ResetPassword(ctx, admin, "m@acme.edu", ""); return err }},
		{"user.delete", func() error { return e.svc.DeleteUser(ctx, admin, "m@acme.edu") }},
	}
	acme := e.mustOrg(t, "acme")
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.action, err)
		}
		ev := e.lastAudit(t, s.action)
		if ev.Target != "m@acme.edu" || ev.Actor != "admin@acme.edu" || ev.OrganizationID != acme.ID || ev.ActorUserID != admin.UserID {
			t.Errorf("%s audit = %+v", s.action, ev)
		}
	}
	// A change that changes nothing writes nothing.
	userWithKey(t, e, admin, "acme", "n@acme.edu", "member", "")
	n := e.auditCount(t, "user.enable")
	if _, err := e.svc.SetUserEnabled(ctx, admin, "n@acme.edu", true); err != nil {
		t.Fatal(err)
	}
	if e.auditCount(t, "user.enable") != n {
		t.Error("a no-op enable was audited")
	}
	if _, err := e.st.UserByEmail(ctx, "m@acme.edu"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("deleted user still there")
	}
	if _, err := e.svc.GetUser(ctx, admin, "m@acme.edu"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
}

func TestSystemAdminProtections(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()
	userWithKey(t, e, sys, SystemSlug, "spare@lamb.local", "member", "")
	// The only system admin can't give up the role, be disabled or deleted.
	_, err := e.svc.SetSystemAdmin(ctx, sys, sys.Email, false)
	wantInvalid(t, err, "email")
	if !strings.Contains(err.Error(), "last system admin") {
		t.Errorf("message %q", err)
	}
	// SetSystemAdmin only within lamb.
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	userWithKey(t, e, sys, "acme", "t@acme.edu", "admin", "")
	_, err = e.svc.SetSystemAdmin(ctx, sys, "t@acme.edu", true)
	wantInvalid(t, err, "email")
	if u := e.mustUser(t, "t@acme.edu"); u.SystemAdmin {
		t.Fatal("user of acme made system admin")
	}

	// A second system admin: now either may step down, but not both.
	u, err := e.svc.SetSystemAdmin(ctx, sys, "spare@lamb.local", true)
	if err != nil || !u.SystemAdmin || u.Role != store.RoleAdmin {
		t.Fatalf("grant: %+v, %v", u, err)
	}
	spare, err := e.svc.ActorForSSHKey(ctx, mustKeys(t, e, "spare@lamb.local")[0].Fingerprint)
	if err != nil || spare.Role != RoleSystemAdmin {
		t.Fatalf("new system admin signs in as %+v, %v", spare, err)
	}
	if _, err := e.svc.SetSystemAdmin(ctx, spare, sys.Email, false); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.SetSystemAdmin(ctx, spare, "spare@lamb.local", false)
	wantInvalid(t, err, "email")
	// A system admin can't be demoted to member without losing system admin first.
	_, err = e.svc.SetUserRole(ctx, spare, "spare@lamb.local", "member")
	wantInvalid(t, err, "role")
	if e.auditCount(t, "user.set_system_admin") != 2 {
		t.Error("system admin changes not audited")
	}
	// The last one can't be disabled or deleted either (by themselves: nobody else is left).
	_, err = e.svc.SetUserEnabled(ctx, spare, "spare@lamb.local", false)
	wantInvalid(t, err, "email")
	wantInvalid(t, e.svc.DeleteUser(ctx, spare, "spare@lamb.local"), "email")
}

// An admin of org lamb who is not a system admin must not take over a
// system admin's account: resetting their password, linking a key to it,
// or locking them out would turn an org admin into a system admin (or
// leave the platform without one). Only system admins administer system
// admins.
func TestLambOrgAdminCannotTakeOverSystemAdmin(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()
	lambAdmin, _ := userWithKey(t, e, sys, SystemSlug, "deputy@lamb.local", "admin", "")
	if lambAdmin.Role != RoleOrgAdmin || lambAdmin.OrgSlug != SystemSlug {
		t.Fatalf("deputy = %+v", lambAdmin)
	}
	// A second system admin, so the last-admin protections don't hide the hole.
	userWithKey(t, e, sys, SystemSlug, "root2@lamb.local", "member", "")
	if _, err := e.svc.SetSystemAdmin(ctx, sys, "root2@lamb.local", true); err != nil {
		t.Fatal(err)
	}
	attackerKey, attackerFP := newKey(t, "attacker")
	before := e.dump(t)
	for _, target := range []string{sys.Email, "root2@lamb.local"} {
		if _, err := e.svc.ResetPassword(ctx, lambAdmin, target, "taken-over-1"); !errors.Is(err, ErrForbidden) {
			t.Errorf("reset %s's password: %v, want ErrForbidden", target, err)
		}
		if _, err := e.svc.AddSSHKey(ctx, lambAdmin, target, attackerKey); !errors.Is(err, ErrForbidden) {
			t.Errorf("link a key to %s: %v, want ErrForbidden", target, err)
		}
		if _, err := e.svc.SetUserEnabled(ctx, lambAdmin, target, false); !errors.Is(err, ErrForbidden) {
			t.Errorf("disable %s: %v, want ErrForbidden", target, err)
		}
		if err := e.svc.DeleteUser(ctx, lambAdmin, target); !errors.Is(err, ErrForbidden) {
			t.Errorf("delete %s: %v, want ErrForbidden", target, err)
		}
		if err := e.svc.RemoveSSHKey(ctx, lambAdmin, mustKeys(t, e, target)[0].Fingerprint); !errors.Is(err, ErrForbidden) {
			t.Errorf("remove %s's key: %v, want ErrForbidden", target, err)
		}
	}
	if after := e.dump(t); after != before {
		t.Fatal("the deputy changed a system admin's account")
	}
	if _, err := e.svc.ActorForSSHKey(ctx, attackerFP); !errors.Is(err, ErrNotFound) {
		t.Fatalf("attacker's key signs in: %v", err)
	}
	// The deputy still runs lamb's other users, and sees the system admins.
	userWithKey(t, e, sys, SystemSlug, "clerk@lamb.local", "member", "")
	if _, err := e.svc.ResetPassword(ctx, lambAdmin, "clerk@lamb.local", "clerk-pass-1"); err != nil {
		t.Fatalf("deputy resets a member: %v", err)
	}
	if _, err := e.svc.GetUser(ctx, lambAdmin, sys.Email); err != nil {
		t.Fatalf("deputy reads a system admin: %v", err)
	}
	// System admins still administer each other.
	if _, err := e.svc.ResetPassword(ctx, sys, "root2@lamb.local", "new-pass-123"); err != nil {
		t.Fatalf("system admin resets another: %v", err)
	}
}

func TestResetPassword(t *testing.T) {
	e, _, admin := usersEnv(t)
	ctx := context.Background()
	userWithKey(t, e, admin, "acme", "m@acme.edu", "member", "")
	signIn := func(pw string) error {
		line, _ := newKey(t, "")
		_, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "m@acme.edu", Password: pw})
		return err
	}
	generated, err := e.svc.ResetPassword(ctx, admin, "m@acme.edu", "")
	if err != nil || len(generated) < 16 {
		t.Fatalf("generated %q, %v", generated, err)
	}
	if err := signIn(generated); err != nil {
		t.Fatalf("generated password: %v", err)
	}
	got, err := e.svc.ResetPassword(ctx, admin, "m@acme.edu", "chosen-password")
	if err != nil || got != "" {
		t.Fatalf("given password: returned %q, %v", got, err)
	}
	if err := signIn("chosen-password"); err != nil {
		t.Fatalf("given password: %v", err)
	}
	if err := signIn(generated); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password still works: %v", err)
	}
	_, err = e.svc.ResetPassword(ctx, admin, "m@acme.edu", "short")
	wantInvalid(t, err, "password")
	ev := e.lastAudit(t, "user.reset_password")
	if !strings.Contains(ev.Details, `"generated":false`) || strings.Contains(ev.Details, "chosen-password") {
		t.Fatalf("audit details %s", ev.Details)
	}
	if _, err := e.svc.ResetPassword(ctx, admin, "nobody@acme.edu", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	e, _, admin := usersEnv(t)
	ctx := context.Background()
	err := e.svc.ChangePassword(ctx, admin, "wrong-password", "new-password-1")
	wantInvalid(t, err, "old_password")
	wantInvalid(t, e.svc.ChangePassword(ctx, admin, "password-1", "short"), "new_password")
	if e.auditCount(t, "user.change_password") != 0 {
		t.Fatal("a refused change was audited")
	}
	if err := e.svc.ChangePassword(ctx, admin, "password-1", "new-password-1"); err != nil {
		t.Fatal(err)
	}
	line, _ := newKey(t, "")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "admin@acme.edu", Password: "new-password-1"}); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if ev := e.lastAudit(t, "user.change_password"); ev.Target != "admin@acme.edu" || strings.Contains(ev.Details, "new-password") {
		t.Fatalf("audit %+v", ev)
	}
}

func TestListUsersPaging(t *testing.T) {
	e, sys, admin := usersEnv(t)
	ctx := context.Background()
	acme := e.mustOrg(t, "acme")
	const n = 300
	err := e.st.InTx(ctx, func(tx *store.Tx) error {
		for i := range n {
			name := fmt.Sprintf("Student %03d", i)
			if i%10 == 0 {
				name = fmt.Sprintf("Teacher %03d", i)
			}
			if _, err := tx.CreateUser(ctx, store.User{OrganizationID: acme.ID, Email: fmt.Sprintf("user%03d@acme.edu", i),
				Name: name, Role: store.RoleMember, Enabled: true}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Another org's users never show in acme's list.
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "beta", Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	userWithKey(t, e, sys, "beta", "user999@beta.edu", "member", "")

	const total = n + 1 // and the admin
	var emails []string
	for offset, pages := 0, 0; pages < 100; offset, pages = offset+50, pages+1 {
		p, err := e.svc.ListUsers(ctx, admin, UserQuery{}, offset, 50)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != total {
			t.Fatalf("total = %d, want %d", p.Total, total)
		}
		if len(p.Items) > 50 {
			t.Fatalf("page of %d", len(p.Items))
		}
		for _, u := range p.Items {
			if u.OrgSlug != "acme" {
				t.Fatalf("listed %s of %s", u.Email, u.OrgSlug)
			}
			emails = append(emails, u.Email)
		}
		if len(p.Items) < 50 {
			break
		}
	}
	if len(emails) != total || !slices.IsSorted(emails) || len(slices.Compact(slices.Clone(emails))) != total {
		t.Fatalf("paged through %d users (sorted %v), want %d distinct", len(emails), slices.IsSorted(emails), total)
	}

	p, err := e.svc.ListUsers(ctx, admin, UserQuery{Query: "teacher"}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 30 || len(p.Items) != 10 || p.Items[0].Email != "user000@acme.edu" {
		t.Fatalf("filter teacher: total %d, %d items, first %v", p.Total, len(p.Items), p.Items)
	}
	p, err = e.svc.ListUsers(ctx, admin, UserQuery{Query: "USER29"}, 0, 0)
	if err != nil || p.Total != 10 {
		t.Fatalf("filter USER29: %d, %v", p.Total, err)
	}
	// LIKE wildcards in the filter are literal.
	if p, err = e.svc.ListUsers(ctx, admin, UserQuery{Query: "%"}, 0, 0); err != nil || p.Total != 0 {
		t.Fatalf("filter %%: %d, %v", p.Total, err)
	}
	// A system admin sees all orgs, or the one named.
	if p, err = e.svc.ListUsers(ctx, sys, UserQuery{Query: "user"}, 0, 1); err != nil || p.Total != n+1 {
		t.Fatalf("all orgs: %d, %v", p.Total, err)
	}
	if p, err = e.svc.ListUsers(ctx, sys, UserQuery{Org: "beta"}, 0, 0); err != nil || p.Total != 1 {
		t.Fatalf("beta: %d, %v", p.Total, err)
	}
}
