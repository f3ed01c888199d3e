package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"lamb/config"
	"lamb/store"
)

// orgEnv is a test database with lamb synced and a system admin.
func orgEnv(t *testing.T) (*testEnv, Actor) {
	t.Helper()
	e := newTestEnv(t)
	mustSync(t, e, config.System{})
	return e, sysAdmin(t, e, "root@lamb.local")
}

func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var ie *InvalidError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("got %v, want ErrInvalid naming %s", err, field)
	}
	if ie.Field != field {
		t.Fatalf("error %q names field %q, want %q", err, ie.Field, field)
	}
}

func TestCreateOrgSlugValidation(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()
	for _, slug := range []string{
		"",
		"a",                     // too short
		"Acme",                  // upper case
		"-acme",                 // leading dash
		"acme-",                 // trailing dash
		"ac me",                 // space
		"acmé",                  // not ASCII
		strings.Repeat("a", 41), // too long
	} {
		_, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: slug, Name: "X"})
		wantInvalid(t, err, "slug")
	}
	_, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "lamb", Name: "X"})
	wantInvalid(t, err, "slug")
	if !strings.Contains(err.Error(), "system") {
		t.Errorf("reserved slug message %q doesn't say why", err)
	}
	for _, slug := range []string{"ab", strings.Repeat("a", 40), "uni-2024", "9lives"} {
		if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: slug, Name: "X"}); err != nil {
			t.Errorf("slug %q refused: %v", slug, err)
		}
	}
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "ab", Name: "Again"})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `"ab"`) {
		t.Fatalf("duplicate slug: %v, want ErrConflict naming the slug", err)
	}
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "cd", Name: " "})
	wantInvalid(t, err, "name")
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "cd", Name: "C", SignupKey: "-bad"})
	wantInvalid(t, err, "signup_key")
}

func TestCreateOrgWithNewAdmin(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()

	// Neither password nor key: a one-time password, shown once, that signs in.
	res, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme",
		Admin: &NewAdmin{Email: "Ada@Acme.edu", Name: "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Admin == nil || res.Admin.Email != "ada@acme.edu" || res.Admin.Role != store.RoleAdmin || res.Org.Users != 1 {
		t.Fatalf("result = %+v", res)
	}
	if len(res.AdminPassword) < 16 {
		t.Fatalf("one-time password %q", res.AdminPassword)
	}
	line, _ := newKey(t, "ada")
	a, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "ada@acme.edu", Password: res.AdminPassword})
	if err != nil || a.Role != RoleOrgAdmin || a.OrgSlug != "acme" {
		t.Fatalf("sign in with the one-time password: %+v, %v", a, err)
	}

	// With a key and no password: no password is made up.
	line, fp := newKey(t, "bob")
	res, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "beta", Name: "Beta",
		Admin: &NewAdmin{Email: "bob@beta.edu", Name: "Bob", SSHKey: line}})
	if err != nil {
		t.Fatal(err)
	}
	if res.AdminPassword != "" || res.Admin.HasPassword {
		t.Fatalf("password generated though a key was given: %+v", res)
	}
	if a, err := e.svc.ActorForSSHKey(ctx, fp); err != nil || a.Role != RoleOrgAdmin || a.OrgSlug != "beta" {
		t.Fatalf("admin key signs in as %+v, %v", a, err)
	}

	// A new admin needs a name; the error names the field.
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "gamma", Name: "G", Admin: &NewAdmin{Email: "new@g.edu"}})
	wantInvalid(t, err, "admin.name")
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "gamma", Name: "G", Admin: &NewAdmin{Email: "not-an-email", Name: "N"}})
	wantInvalid(t, err, "admin.email")
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "gamma", Name: "G", Admin: &NewAdmin{Email: "n@g.edu", Name: "N", Password: "short"}})
	wantInvalid(t, err, "admin.password")
	if _, err := e.st.OrgBySlug(ctx, "gamma"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("refused creations left gamma behind")
	}
	if n := e.auditCount(t, "org.create"); n != 2 {
		t.Fatalf("org.create audited %d times, want 2", n)
	}
}

func TestCreateOrgWithExistingLambUser(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()
	// A disabled lamb member with a key is picked: moved, made admin, enabled.
	_, fp := userWithKey(t, e, sys, SystemSlug, "carol@lamb.local", "member", "")
	if _, err := e.svc.SetUserEnabled(ctx, sys, "carol@lamb.local", false); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme", Admin: &NewAdmin{Email: "carol@lamb.local"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.AdminPassword != "" {
		t.Error("a password was generated for an existing user")
	}
	acme := e.mustOrg(t, "acme")
	u := e.mustUser(t, "carol@lamb.local")
	if u.OrganizationID != acme.ID || u.Role != store.RoleAdmin || !u.Enabled || u.SystemAdmin {
		t.Fatalf("moved user = %+v", u)
	}
	if a, err := e.svc.ActorForSSHKey(ctx, fp); err != nil || a.Role != RoleOrgAdmin || a.OrgID != acme.ID {
		t.Fatalf("moved user's key signs in as %+v, %v", a, err)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM ssh_keys WHERE user_id = ? AND organization_id = ?`, u.ID, acme.ID); n != 1 {
		t.Fatalf("moved user's key not moved along (%d in acme)", n)
	}
	if e.lastAudit(t, "user.move").OrganizationID != acme.ID {
		t.Error("move not audited in the new org")
	}

	// A system admin can't be picked.
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "beta", Name: "Beta", Admin: &NewAdmin{Email: "root@lamb.local"}})
	wantInvalid(t, err, "admin.email")
	if u := e.mustUser(t, "root@lamb.local"); !u.SystemAdmin || u.OrganizationID == acme.ID {
		t.Fatalf("system admin changed: %+v", u)
	}
	// A user of another org is a conflict.
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "beta", Name: "Beta", Admin: &NewAdmin{Email: "carol@lamb.local"}})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "carol@lamb.local") {
		t.Fatalf("user of another org: %v, want ErrConflict naming them", err)
	}
	if _, err := e.st.OrgBySlug(ctx, "beta"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("refused creation left beta behind")
	}
}

// Org and admin are created in one transaction: an admin that can't be made
// leaves no org behind.
func TestCreateOrgIsOneTransaction(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()
	taken, _ := newKey(t, "taken")
	userWithKeyLine(t, e, sys, "dora@lamb.local", taken)
	before := e.dump(t)

	_, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme",
		Admin: &NewAdmin{Email: "eve@acme.edu", Name: "Eve", SSHKey: taken}})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "ssh_key") {
		t.Fatalf("duplicate admin key: %v, want ErrConflict naming ssh_key", err)
	}
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme",
		Admin: &NewAdmin{Email: "eve@acme.edu", Name: "Eve", SSHKey: "ssh-ed25519 AAAAnot-a-key"}})
	wantInvalid(t, err, "admin.ssh_key")
	if after := e.dump(t); after != before {
		t.Fatalf("a refused CreateOrg changed the database:\n%s\n---\n%s", before, after)
	}
	// The signup key of another org: a conflict after the org row was written.
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "beta", Name: "Beta", SignupKey: "join-beta-2026-fall"}); err != nil {
		t.Fatal(err)
	}
	before = e.dump(t)
	_, err = e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme", SignupKey: "join-beta-2026-fall",
		Admin: &NewAdmin{Email: "eve@acme.edu", Name: "Eve"}})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "signup_key") || strings.Contains(err.Error(), "beta") {
		t.Fatalf("signup key of another org: %v, want ErrConflict naming signup_key and not the other org", err)
	}
	if after := e.dump(t); after != before {
		t.Fatalf("a refused CreateOrg changed the database:\n%s\n---\n%s", before, after)
	}
	if _, err := e.st.UserByEmail(ctx, "eve@acme.edu"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("refused creation left its admin behind")
	}
}

// userWithKeyLine creates a lamb member with the given key line.
func userWithKeyLine(t *testing.T, e *testEnv, a Actor, email, line string) {
	t.Helper()
	if _, err := e.svc.CreateUser(context.Background(), a, CreateUserInput{OrgSlug: SystemSlug, Email: email, Name: email, SSHKey: line}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateOrgCopySystemProviders(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{OpenAIAPIKey: strp("sk-system-0123456789abcdef"), OpenAIBaseURL: strp("https://api.openai.com/v1"),
		OpenAIModels: &[]string{"gpt-4o-mini"}, OpenAIModel: strp("gpt-4o-mini")})
	sys := sysAdmin(t, e, "root@lamb.local")

	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "plain", Name: "Plain"}); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.OrgConfig(ctx, sys, "plain", true)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Setup(""); s == nil || len(s.Providers) != 0 {
		t.Fatalf("a new org has providers by default: %s", c.JSON())
	}

	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "copied", Name: "Copied", CopySystemProviders: true}); err != nil {
		t.Fatal(err)
	}
	c, err = e.svc.OrgConfig(ctx, sys, "copied", true)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Setups["default"].Providers["openai"]
	if p == nil || p.APIKey != "sk-system-0123456789abcdef" || !p.Enabled || p.DefaultModel != "gpt-4o-mini" {
		t.Fatalf("copied providers = %s", c.JSON())
	}
	// The copy is sealed under its own ciphertext, and the creation says it copied.
	if row := e.mustOrg(t, "copied"); strings.Contains(row.Config, "sk-system") {
		t.Fatal("copied API key stored in plain text")
	}
	ev := e.lastAudit(t, "org.create")
	if !strings.Contains(ev.Details, `"copy_system_providers":true`) || strings.Contains(ev.Details, "sk-system") {
		t.Fatalf("org.create details = %s", ev.Details)
	}
}

func TestCreateOrgSignupKey(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme", SignupKey: "join-acme-2026-fall"}); err != nil {
		t.Fatal(err)
	}
	row := e.mustOrg(t, "acme")
	if row.SignupKeyHash == "" || strings.Contains(row.SignupKeyEnc, "join-acme") || row.SignupKeyHash == "join-acme-2026-fall" {
		t.Fatalf("signup key stored as enc=%q hash=%q", row.SignupKeyEnc, row.SignupKeyHash)
	}
	if got, err := e.st.OrgBySignupKeyHash(ctx, e.svc.box.Hash("join-acme-2026-fall")); err != nil || got.ID != row.ID {
		t.Fatalf("lookup by signup key: %+v, %v", got, err)
	}
	if k, err := e.svc.openSignupKey(row); err != nil || k != "join-acme-2026-fall" {
		t.Fatalf("stored signup key opens to %q, %v", k, err)
	}
	_, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "beta", Name: "Beta", SignupKey: "join-acme-2026-fall"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("signup key reused across orgs: %v", err)
	}
	if _, err := e.st.OrgBySlug(ctx, "beta"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("org with a conflicting signup key was created")
	}
}

// deleteFixture is acme with an admin, a member with a key and an
// assistant each, and an org API key.
func deleteFixture(t *testing.T) (*testEnv, Actor) {
	t.Helper()
	e, sys := orgEnv(t)
	ctx := context.Background()
	line, _ := newKey(t, "admin")
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme",
		Admin: &NewAdmin{Email: "admin@acme.edu", Name: "Admin", SSHKey: line}}); err != nil {
		t.Fatal(err)
	}
	userWithKey(t, e, sys, "acme", "member@acme.edu", "member", "")
	acme := e.mustOrg(t, "acme")
	db := e.rawDB(t)
	for _, email := range []string{"admin@acme.edu", "member@acme.edu"} {
		u := e.mustUser(t, email)
		if _, err := db.Exec(`INSERT INTO assistants (organization_id, owner_user_id, name, provider, model, created_at, updated_at)
			VALUES (?, ?, 'tutor', 'openai', 'gpt-4o-mini', 0, 0)`, acme.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO api_keys (organization_id, user_id, name, prefix, hash, created_at)
			VALUES (?, ?, 'mine', 'lamb_abc', ?, 0)`, acme.ID, u.ID, "hash-"+email); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO api_keys (organization_id, name, prefix, hash, created_at)
		VALUES (?, 'lms', 'lamb_xyz', 'hash-org', 0)`, acme.ID); err != nil {
		t.Fatal(err)
	}
	return e, sys
}

// noDangling checks that no row points at a missing or mismatched parent.
func noDangling(t *testing.T, e *testEnv) {
	t.Helper()
	rows, err := e.rawDB(t).Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign_key_check reports dangling rows")
	}
	for _, q := range []string{
		`SELECT COUNT(*) FROM ssh_keys k JOIN users u ON u.id = k.user_id WHERE k.organization_id <> u.organization_id`,
		`SELECT COUNT(*) FROM assistants a JOIN users u ON u.id = a.owner_user_id WHERE a.organization_id <> u.organization_id`,
		`SELECT COUNT(*) FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.organization_id <> u.organization_id`,
	} {
		if n := e.count(t, q); n != 0 {
			t.Errorf("%d rows of another org than their user: %s", n, q)
		}
	}
}

func TestDeleteOrgRefusals(t *testing.T) {
	e, sys := deleteFixture(t)
	ctx := context.Background()
	_, err := e.svc.DeleteOrg(ctx, sys, SystemSlug, DeleteUsers)
	wantInvalid(t, err, "slug")
	_, err = e.svc.DeleteOrg(ctx, sys, "acme", 0)
	wantInvalid(t, err, "users")
	_, err = e.svc.DeleteOrg(ctx, sys, "acme", UserFate(7))
	wantInvalid(t, err, "users")
	if _, err := e.svc.DeleteOrg(ctx, sys, "nope", DeleteUsers); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing org: %v", err)
	}
	e.mustOrg(t, "acme")
	e.mustOrg(t, SystemSlug)
}

func TestDeleteOrgDeletingUsers(t *testing.T) {
	e, sys := deleteFixture(t)
	ctx := context.Background()
	acme := e.mustOrg(t, "acme")
	ids := []int64{e.mustUser(t, "admin@acme.edu").ID, e.mustUser(t, "member@acme.edu").ID}
	res, err := e.svc.DeleteOrg(ctx, sys, "acme", DeleteUsers)
	if err != nil {
		t.Fatal(err)
	}
	if res.UsersDeleted != 2 || res.UsersMoved != 0 || res.Assistants != 2 || res.APIKeys != 3 {
		t.Fatalf("result = %+v", res)
	}
	if _, err := e.st.OrgBySlug(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("org still there")
	}
	for _, table := range []string{"users", "ssh_keys", "assistants", "api_keys", "audit_events"} {
		if n := e.count(t, `SELECT COUNT(*) FROM `+table+` WHERE organization_id = ?`, acme.ID); n != 0 {
			t.Errorf("%d %s rows of the deleted org remain", n, table)
		}
	}
	for _, id := range ids {
		if n := e.count(t, `SELECT COUNT(*) FROM ssh_keys WHERE user_id = ?`, id) +
			e.count(t, `SELECT COUNT(*) FROM assistants WHERE owner_user_id = ?`, id); n != 0 {
			t.Errorf("user %d left %d keys or assistants", id, n)
		}
	}
	noDangling(t, e)
	ev := e.lastAudit(t, "org.delete")
	if sysOrg := e.mustOrg(t, SystemSlug); ev.OrganizationID != sysOrg.ID || ev.Target != "acme" || !strings.Contains(ev.Details, `"users_deleted":2`) {
		t.Fatalf("org.delete audit = %+v", ev)
	}
}

func TestDeleteOrgMovingUsersToSystem(t *testing.T) {
	e, sys := deleteFixture(t)
	ctx := context.Background()
	sysOrg := e.mustOrg(t, SystemSlug)
	before, err := e.svc.ListUsers(ctx, sys, UserQuery{Org: SystemSlug}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	keysBefore := e.count(t, `SELECT COUNT(*) FROM ssh_keys`)
	res, err := e.svc.DeleteOrg(ctx, sys, "acme", MoveUsersToSystem)
	if err != nil {
		t.Fatal(err)
	}
	if res.UsersMoved != 2 || res.UsersDeleted != 0 {
		t.Fatalf("result = %+v", res)
	}
	after, err := e.svc.ListUsers(ctx, sys, UserQuery{Org: SystemSlug}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Total != before.Total+2 {
		t.Fatalf("lamb has %d users, want %d", after.Total, before.Total+2)
	}
	for _, email := range []string{"admin@acme.edu", "member@acme.edu"} {
		u := e.mustUser(t, email)
		if u.OrganizationID != sysOrg.ID || u.Enabled || u.Role != store.RoleMember || u.SystemAdmin {
			t.Errorf("moved user = %+v, want a disabled member of lamb", u)
		}
		keys, err := e.svc.ListSSHKeys(ctx, sys, email)
		if err != nil || len(keys) != 1 {
			t.Errorf("%s keeps %d keys (%v), want 1", email, len(keys), err)
		}
	}
	if n := e.count(t, `SELECT COUNT(*) FROM ssh_keys`); n != keysBefore {
		t.Errorf("%d SSH keys after the move, want %d", n, keysBefore)
	}
	c, err := e.st.CountOrg(ctx, sysOrg.ID)
	if err != nil {
		t.Fatal(err)
	}
	// What they owned in acme went with it; nothing of acme is left.
	if c.Assistants != 0 || c.APIKeys != 0 {
		t.Errorf("assistants or API keys moved into lamb: %+v", c)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM assistants`) + e.count(t, `SELECT COUNT(*) FROM api_keys`); n != 0 {
		t.Errorf("%d assistants or API keys of the deleted org remain", n)
	}
	noDangling(t, e)
	// A moved user is disabled: their key gets the one-line refusal.
	if _, err := e.svc.ActorForSSHKey(ctx, mustKeys(t, e, "member@acme.edu")[0].Fingerprint); !errors.Is(err, ErrDisabled) {
		t.Errorf("moved user's key: %v, want ErrDisabled", err)
	}
	if ev := e.lastAudit(t, "org.delete"); ev.OrganizationID != sysOrg.ID || !strings.Contains(ev.Details, `"users_moved":2`) {
		t.Fatalf("org.delete audit = %+v", ev)
	}
}

func mustKeys(t *testing.T, e *testEnv, email string) []store.SSHKey {
	t.Helper()
	keys, err := e.st.SSHKeysByUser(context.Background(), e.mustUser(t, email).ID)
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys of %s: %v, %v", email, keys, err)
	}
	return keys
}

func TestSetOrgSuspended(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()
	line, fp := newKey(t, "admin")
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme",
		Admin: &NewAdmin{Email: "admin@acme.edu", Name: "Admin", SSHKey: line}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.SetOrgSuspended(ctx, sys, SystemSlug, true)
	wantInvalid(t, err, "slug")

	o, err := e.svc.SetOrgSuspended(ctx, sys, "acme", true)
	if err != nil || o.Status != store.OrgSuspended {
		t.Fatalf("suspend: %+v, %v", o, err)
	}
	if _, err := e.svc.ActorForSSHKey(ctx, fp); !errors.Is(err, ErrOrgSuspended) {
		t.Fatalf("suspended org's admin: %v, want ErrOrgSuspended", err)
	}
	// Suspending again changes and audits nothing.
	if _, err := e.svc.SetOrgSuspended(ctx, sys, "acme", true); err != nil {
		t.Fatal(err)
	}
	if n := e.auditCount(t, "org.suspend"); n != 1 {
		t.Fatalf("org.suspend audited %d times, want 1", n)
	}
	o, err = e.svc.SetOrgSuspended(ctx, sys, "acme", false)
	if err != nil || o.Status != store.OrgActive {
		t.Fatalf("resume: %+v, %v", o, err)
	}
	if a, err := e.svc.ActorForSSHKey(ctx, fp); err != nil || a.Role != RoleOrgAdmin {
		t.Fatalf("resumed org's admin: %+v, %v", a, err)
	}
	if n := e.auditCount(t, "org.resume"); n != 1 {
		t.Fatalf("org.resume audited %d times, want 1", n)
	}
}

// configEnv is acme whose default setup holds an OpenAI key and a
// knowledge-base token.
func configEnv(t *testing.T) (*testEnv, Actor) {
	t.Helper()
	e, sys := orgEnv(t)
	ctx := context.Background()
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	c := config.NewOrg()
	c.Setups["default"].Providers["openai"] = &config.Provider{Enabled: true, APIKey: "sk-acme-0123456789abcdef",
		BaseURL: "https://api.openai.com/v1", Models: []string{"gpt-4o-mini"}, DefaultModel: "gpt-4o-mini"}
	c.Setups["default"].KnowledgeBase = &config.KnowledgeBase{URL: "http://kb:9090", APIToken: "kb-token-0123456789"}
	if _, err := e.svc.SetOrgConfig(ctx, sys, "acme", c, false); err != nil {
		t.Fatal(err)
	}
	return e, sys
}

func TestSetOrgConfigValidation(t *testing.T) {
	e, sys := configEnv(t)
	ctx := context.Background()
	before := e.dump(t)
	for _, tc := range []struct {
		field  string
		mutate func(c *config.Org)
	}{
		{"setups.default.providers.openai.base_url", func(c *config.Org) { c.Setups["default"].Providers["openai"].BaseURL = "ftp://x" }},
		{"setups.default.providers.openai.default_model", func(c *config.Org) { c.Setups["default"].Providers["openai"].DefaultModel = "gpt-5" }},
		{"setups.default.providers.gemini", func(c *config.Org) { c.Setups["default"].Providers["gemini"] = &config.Provider{} }},
		{"active_setup", func(c *config.Org) { c.ActiveSetup = "prod" }},
		{"limits.max_users", func(c *config.Org) { c.Limits.MaxUsers = -2 }},
	} {
		c, err := e.svc.OrgConfig(ctx, sys, "acme", false)
		if err != nil {
			t.Fatal(err)
		}
		tc.mutate(c)
		_, err = e.svc.SetOrgConfig(ctx, sys, "acme", c, false)
		wantInvalid(t, err, tc.field)
	}
	_, err := e.svc.SetOrgConfig(ctx, sys, "acme", nil, false)
	wantInvalid(t, err, "config")
	if after := e.dump(t); after != before {
		t.Fatal("an invalid config changed the database")
	}
}

func TestSetOrgConfigSecrets(t *testing.T) {
	e, sys := configEnv(t)
	ctx := context.Background()
	secretOf := func() (string, string) {
		c, err := e.svc.OrgConfig(ctx, sys, "acme", true)
		if err != nil {
			t.Fatal(err)
		}
		return c.Setups["default"].Providers["openai"].APIKey, c.Setups["default"].KnowledgeBase.APIToken
	}

	// Read masked, edit something else, write back: the secrets stay.
	c, err := e.svc.OrgConfig(ctx, sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	js := string(c.JSON())
	if strings.Contains(js, "sk-acme-0123456789abcdef") || strings.Contains(js, "kb-token-0123456789") {
		t.Fatalf("config without secrets shows them: %s", js)
	}
	if got := c.Setups["default"].Providers["openai"].APIKey; got != config.Mask("sk-acme-0123456789abcdef") {
		t.Fatalf("masked key = %q", got)
	}
	c.Limits.MaxAssistants = 7
	changed, err := e.svc.SetOrgConfig(ctx, sys, "acme", c, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"limits.max_assistants"}) {
		t.Fatalf("changed = %v, want only limits.max_assistants", changed)
	}
	if k, tok := secretOf(); k != "sk-acme-0123456789abcdef" || tok != "kb-token-0123456789" {
		t.Fatalf("masked write-back replaced the secrets: %q %q", k, tok)
	}

	// A new secret replaces the stored one; the audit names the path, not the value.
	c.Setups["default"].Providers["openai"].APIKey = "sk-new-9999999999999999"
	changed, err = e.svc.SetOrgConfig(ctx, sys, "acme", c, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"setups.default.providers.openai.api_key"}) {
		t.Fatalf("changed = %v", changed)
	}
	if k, _ := secretOf(); k != "sk-new-9999999999999999" {
		t.Fatalf("new secret not stored: %q", k)
	}
	ev := e.lastAudit(t, "config.update")
	if !strings.Contains(ev.Details, "setups.default.providers.openai.api_key") {
		t.Errorf("config.update doesn't name the changed path: %s", ev.Details)
	}
	evs, _ := e.st.ListAudit(ctx, storeFilterAll())
	for _, ev := range evs {
		for _, s := range []string{"sk-new-9999999999999999", "sk-acme-0123456789abcdef", "kb-token-0123456789", "9999"} {
			if strings.Contains(ev.Details, s) {
				t.Errorf("audit %s holds a secret: %s", ev.Action, ev.Details)
			}
		}
	}
	if row := e.mustOrg(t, "acme"); strings.Contains(row.Config, "sk-new") {
		t.Fatal("new secret stored in plain text")
	}

	// Revealing secrets is audited; reading masked is not.
	reveals := e.auditCount(t, "config.reveal")
	if _, err := e.svc.OrgConfig(ctx, sys, "acme", false); err != nil {
		t.Fatal(err)
	}
	if e.auditCount(t, "config.reveal") != reveals {
		t.Error("a masked read was audited as a reveal")
	}
	secretOf()
	if e.auditCount(t, "config.reveal") != reveals+1 {
		t.Error("revealing secrets not audited")
	}
}

func TestSetOrgConfigDryRun(t *testing.T) {
	e, sys := configEnv(t)
	ctx := context.Background()
	c, err := e.svc.OrgConfig(ctx, sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	c.Limits.MaxUsers = 3
	c.Features.SignupEnabled = true
	before := e.dump(t)
	changed, err := e.svc.SetOrgConfig(ctx, sys, "acme", c, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"features.signup_enabled", "limits.max_users"}) {
		t.Fatalf("dry run changed = %v", changed)
	}
	if after := e.dump(t); after != before {
		t.Fatal("dry run wrote to the database")
	}
	// A dry run of an invalid config still says what's wrong.
	c.Limits.MaxUsers = -5
	_, err = e.svc.SetOrgConfig(ctx, sys, "acme", c, true)
	wantInvalid(t, err, "limits.max_users")
}

func TestSetOrgConfigSystemManagedFields(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{OpenAIBaseURL: strp("http://127.0.0.1:9/v1")})
	sys := sysAdmin(t, e, "root@lamb.local")
	c, err := e.svc.OrgConfig(ctx, sys, SystemSlug, false)
	if err != nil {
		t.Fatal(err)
	}
	c.Setups["default"].Providers["openai"].BaseURL = "http://10.0.0.1/v1"
	_, err = e.svc.SetOrgConfig(ctx, sys, SystemSlug, c, false)
	wantInvalid(t, err, "setups.default.providers.openai.base_url")
	if !strings.Contains(err.Error(), "OPENAI_BASE_URL") {
		t.Fatalf("error %q doesn't name the variable", err)
	}
	// Fields the environment doesn't manage can be changed.
	c, _ = e.svc.OrgConfig(ctx, sys, SystemSlug, false)
	c.Limits.MaxUsers = 1000
	if _, err := e.svc.SetOrgConfig(ctx, sys, SystemSlug, c, false); err != nil {
		t.Fatalf("unmanaged field: %v", err)
	}
	if got := e.systemConfig(t).Setups["default"].Providers["openai"].BaseURL; got != "http://127.0.0.1:9/v1" {
		t.Fatalf("managed field changed to %q", got)
	}
	d, err := e.svc.GetOrg(ctx, sys, SystemSlug)
	if err != nil || d.Managed["setups.default.providers.openai.base_url"] != "OPENAI_BASE_URL" {
		t.Fatalf("GetOrg managed = %v, %v", d.Managed, err)
	}
}

func TestOpenAsOrgAdmin(t *testing.T) {
	e, sys := orgEnv(t)
	ctx := context.Background()
	for _, slug := range []string{"acme", "beta"} {
		if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
	}
	userWithKey(t, e, sys, "beta", "bob@beta.edu", "member", "")
	acme := e.mustOrg(t, "acme")
	a, err := e.svc.OpenAsOrgAdmin(ctx, sys, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if a.Role != RoleOrgAdmin || a.OrgID != acme.ID || a.OrgSlug != "acme" || !a.ActingSystemAdmin || a.Email != sys.Email {
		t.Fatalf("actor = %+v", a)
	}
	ev := e.lastAudit(t, "org.open_as_admin")
	if ev.OrganizationID != acme.ID || ev.Actor != "root@lamb.local" {
		t.Fatalf("audit = %+v", ev)
	}
	// It administers acme, and nothing else.
	if err := e.svc.RenameOrg(ctx, a, "acme", "Acme U"); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastAudit(t, "org.rename"); ev.Actor != "root@lamb.local (system admin)" {
		t.Errorf("acting admin's change audited as %q", ev.Actor)
	}
	if _, err := e.svc.GetOrg(ctx, a, "beta"); !errors.Is(err, ErrNotFound) {
		t.Errorf("acting admin of acme reads beta: %v", err)
	}
	if _, err := e.svc.GetUser(ctx, a, "bob@beta.edu"); !errors.Is(err, ErrNotFound) {
		t.Errorf("acting admin of acme reads beta's user: %v", err)
	}
	if _, err := e.svc.ListOrgs(ctx, a, "", 0, 0); !errors.Is(err, ErrForbidden) {
		t.Errorf("acting admin lists orgs: %v", err)
	}
	if _, err := e.svc.OpenAsOrgAdmin(ctx, a, "beta"); !errors.Is(err, ErrForbidden) {
		t.Errorf("acting admin opens another org: %v", err)
	}
	if _, err := e.svc.OpenAsOrgAdmin(ctx, sys, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing org: %v", err)
	}
}

// A masked secret ("sk-…cdef") that matches no stored secret at its path —
// acme's config read without secrets and written into beta, or a setup
// renamed — is refused instead of being stored as the secret itself, which
// would break the provider with no error until the first completion.
func TestSetOrgConfigMaskedSecretWithoutStoredValue(t *testing.T) {
	e, sys := configEnv(t)
	ctx := context.Background()
	if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: "beta", Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	masked, err := e.svc.OrgConfig(ctx, sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	before := e.dump(t)
	_, err = e.svc.SetOrgConfig(ctx, sys, "beta", masked, false)
	wantInvalid(t, err, "setups.default.providers.openai.api_key")
	if strings.Contains(err.Error(), "0123456789") {
		t.Fatalf("message shows a secret: %v", err)
	}
	renamed := masked.Clone()
	renamed.Setups["prod"], renamed.ActiveSetup = renamed.Setups["default"], "prod"
	delete(renamed.Setups, "default")
	_, err = e.svc.SetOrgConfig(ctx, sys, "acme", renamed, false)
	wantInvalid(t, err, "setups.prod.providers.openai.api_key")
	if after := e.dump(t); after != before {
		t.Fatal("a masked secret was stored")
	}
	// With the whole secret it is accepted.
	renamed.Setups["prod"].Providers["openai"].APIKey = "sk-prod-0123456789abcdef"
	renamed.Setups["prod"].KnowledgeBase.APIToken = "kb-prod-0123456789"
	if _, err := e.svc.SetOrgConfig(ctx, sys, "acme", renamed, false); err != nil {
		t.Fatal(err)
	}
}
