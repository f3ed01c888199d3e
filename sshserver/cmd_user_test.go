package sshserver

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
)

func TestUserList(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.admin, "", "user", "list").wantOK(t)
	for _, want := range []string{"admin@lamb.local", acmeAdminEmail, acmeMemberEmail, globexAdminEmail, "system admin"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("user list lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.run(t, e.admin, "", "user", "list", "--org", "globex").wantOK(t)
	if !strings.Contains(r.stdout, globexAdminEmail) || strings.Contains(r.stdout, "acme") {
		t.Fatalf("user list --org globex:\n%s", r.stdout)
	}
	// An org admin sees their own org only.
	r = e.run(t, e.acmeAdmin, "", "user", "list").wantOK(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^ana@acme\.example\s+User ana@acme\.example\s+acme\s+member\s+enabled\s+never$`).MatchString(lines[1]) {
		t.Fatalf("org admin's user list:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "user", "list", "--filter", "boss", "--limit", "1").wantOK(t)
	if !strings.Contains(r.stdout, acmeAdminEmail) || strings.Contains(r.stdout, acmeMemberEmail) || r.stderr != "" {
		t.Fatalf("user list --filter boss: %q %q", r.stdout, r.stderr)
	}
	r = e.run(t, e.acmeAdmin, "", "user", "list", "--limit", "1").wantOK(t)
	if !strings.Contains(r.stderr, "showing 1-1 of 2; use --offset 1 for more") {
		t.Fatalf("paging hint: %q", r.stderr)
	}
	e.run(t, e.acmeAdmin, "", "user", "list", "--org", "globex").wantFail(t, 1, `organization "globex" not found`)
	e.run(t, e.acmeMember, "", "user", "list").wantFail(t, 1, "permission denied")
}

func TestUserShow(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "user", "show", acmeMemberEmail).wantOK(t)
	for _, want := range []string{"email:", acmeMemberEmail, "role:", "member", "password:", "no"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("user show lacks %q:\n%s", want, r.stdout)
		}
	}
	// Members see themselves, nobody else.
	e.run(t, e.acmeMember, "", "user", "show", acmeMemberEmail).wantOK(t)
	e.run(t, e.acmeMember, "", "user", "show", acmeAdminEmail).wantFail(t, 1, "permission denied")
	e.run(t, e.acmeAdmin, "", "user", "show", globexAdminEmail).wantFail(t, 1, `user "chief@globex.example" not found`)
}

func TestUserCreate(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	// An org admin creates in their own org without --org; a one-time
	// password is printed once.
	r := e.run(t, e.acmeAdmin, "", "user", "create", "--email", "Bo@Acme.example", "--name", "Bo Li").wantOK(t)
	m := regexp.MustCompile(`One-time password for bo@acme\.example: (\S+)\n`).FindStringSubmatch(r.stdout)
	if m == nil || !strings.HasPrefix(r.stdout, "Created user bo@acme.example (Bo Li) as member of acme.\n") {
		t.Fatalf("user create:\n%s", r.stdout)
	}
	_, line := newTestSigner(t)
	if _, err := e.svc.SignIn(context.Background(), service.SignInInput{Key: line, Email: "bo@acme.example", Password: m[1]}); err != nil {
		t.Fatalf("sign in with the one-time password: %v", err)
	}

	// A system admin names the org; the password comes from stdin.
	r = e.run(t, e.admin, "chosen-password-1\n", "user", "create", "--org", "globex", "--email", "cy@globex.example",
		"--name", "Cy", "--role", "admin", "--password-stdin", "--json").wantOK(t)
	var res service.CreateUserResult
	decode(t, r, &res)
	if res.User.Email != "cy@globex.example" || res.User.OrgSlug != "globex" || res.User.Role != "admin" || res.Password != "" {
		t.Fatalf("user create --json = %+v", res)
	}
	_, line = newTestSigner(t)
	if _, err := e.svc.SignIn(context.Background(), service.SignInInput{Key: line, Email: "cy@globex.example", Password: "chosen-password-1"}); err != nil {
		t.Fatalf("sign in with the chosen password: %v", err)
	}

	// With an SSH key: no password, and the key works at once.
	signer, key := newTestSigner(t)
	r = e.run(t, e.acmeAdmin, "", "user", "create", "--email", "di@acme.example", "--name", "Di", "--ssh-key", key+" di@laptop").wantOK(t)
	if strings.Contains(r.stdout, "One-time password") {
		t.Fatalf("user with a key got a password:\n%s", r.stdout)
	}
	if r := e.run(t, signer, "", "whoami").wantOK(t); !strings.Contains(r.stdout, "di@acme.example") {
		t.Fatalf("new user's whoami: %q", r.stdout)
	}

	e.run(t, e.acmeAdmin, "", "user", "create", "--email", "bo@acme.example", "--name", "Bo").wantFail(t, 1, "email: bo@acme.example is already registered")
	e.run(t, e.acmeAdmin, "", "user", "create", "--email", "not-an-email", "--name", "X").wantFail(t, 1, "email:")
	e.run(t, e.acmeAdmin, "short\n", "user", "create", "--email", "x@acme.example", "--name", "X", "--password-stdin").wantFail(t, 1, "password: must be at least 8 characters")
	e.run(t, e.acmeAdmin, "", "user", "create", "--email", "x@acme.example", "--name", "X", "--password-stdin").wantFail(t, 1, "password: expected a line on stdin")
	e.run(t, e.acmeAdmin, "", "user", "create", "--email", "x@acme.example", "--name", "X", "--role", "owner").wantFail(t, 1, "role: must be admin or member")
	e.run(t, e.acmeAdmin, "", "user", "create", "--email", "x@acme.example", "--name", "X", "--ssh-key", "nonsense").wantFail(t, 1, "ssh_key: not an SSH public key")
}

func TestUserCreateDenied(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	e.run(t, e.acmeMember, "", "user", "create", "--email", "x@acme.example", "--name", "X").wantFail(t, 1, "permission denied: a member of acme")
	e.run(t, e.acmeMember, "", "user", "create", "--org", "globex", "--email", "x@acme.example", "--name", "X").wantFail(t, 1, "permission denied")
	e.run(t, e.acmeAdmin, "", "user", "create", "--org", "globex", "--email", "x@globex.example", "--name", "X").wantFail(t, 1, `organization "globex" not found`)
	r := e.run(t, e.admin, "", "user", "list", "--filter", "x@").wantOK(t)
	if strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("denied creates created users:\n%s", r.stdout)
	}
}

func TestUserEnableDisableSetRole(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "user", "disable", acmeMemberEmail).wantOK(t)
	if r.stdout != "User ana@acme.example is disabled.\n" {
		t.Fatalf("disable: %q", r.stdout)
	}
	e.run(t, e.acmeMember, "", "whoami").wantFail(t, 1, "disabled")
	var u service.User
	decode(t, e.run(t, e.acmeAdmin, "", "user", "enable", acmeMemberEmail, "--json").wantOK(t), &u)
	if !u.Enabled || u.Email != acmeMemberEmail {
		t.Fatalf("enable --json: %+v", u)
	}
	r = e.run(t, e.acmeAdmin, "", "user", "set-role", acmeMemberEmail, "admin").wantOK(t)
	if r.stdout != "User ana@acme.example is admin of acme.\n" {
		t.Fatalf("set-role: %q", r.stdout)
	}
	if r := e.run(t, e.acmeMember, "", "whoami").wantOK(t); !strings.Contains(r.stdout, "org admin of acme") {
		t.Fatalf("promoted whoami: %q", r.stdout)
	}
	e.run(t, e.acmeAdmin, "", "user", "set-role", acmeMemberEmail, "member").wantOK(t)
	// The service's protections come through as one line.
	e.run(t, e.acmeAdmin, "", "user", "set-role", acmeAdminEmail, "member").wantFail(t, 1, "last enabled admin of acme")
	e.run(t, e.acmeAdmin, "", "user", "disable", acmeAdminEmail).wantFail(t, 1, "can't disable or delete your own account")

	for _, args := range [][]string{
		{"user", "disable", acmeAdminEmail},
		{"user", "enable", acmeMemberEmail},
		{"user", "set-role", acmeMemberEmail, "admin"},
	} {
		e.run(t, e.acmeMember, "", args...).wantFail(t, 1, "permission denied: a member of acme")
	}
	for _, args := range [][]string{
		{"user", "disable", acmeMemberEmail},
		{"user", "set-role", acmeMemberEmail, "admin"},
	} {
		e.run(t, e.globexAdmin, "", args...).wantFail(t, 1, `user "ana@acme.example" not found`)
	}
	e.run(t, e.admin, "", "user", "disable", "nobody@acme.example").wantFail(t, 1, "not found")
}

func TestUserSetSystemAdmin(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	signer, key := newTestSigner(t)
	e.run(t, e.admin, "", "user", "create", "--org", "lamb", "--email", "ops@lamb.local", "--name", "Ops", "--ssh-key", key).wantOK(t)
	r := e.run(t, e.admin, "", "user", "set-system-admin", "ops@lamb.local", "on").wantOK(t)
	if r.stdout != "User ops@lamb.local is a system admin.\n" {
		t.Fatalf("set-system-admin on: %q", r.stdout)
	}
	// The new system admin can now run system-admin commands.
	e.run(t, signer, "", "org", "list").wantOK(t)
	r = e.run(t, signer, "", "user", "set-system-admin", "admin@lamb.local", "off").wantOK(t)
	if r.stdout != "User admin@lamb.local is no longer a system admin.\n" {
		t.Fatalf("set-system-admin off: %q", r.stdout)
	}
	e.run(t, e.admin, "", "org", "list").wantFail(t, 1, "permission denied")
	e.run(t, signer, "", "user", "set-system-admin", "ops@lamb.local", "off").wantFail(t, 1, "last system admin")
	e.run(t, signer, "", "user", "set-system-admin", acmeMemberEmail, "on").wantFail(t, 1, "only users of lamb can be system admins")

	e.run(t, e.acmeAdmin, "", "user", "set-system-admin", acmeAdminEmail, "on").wantFail(t, 1, "permission denied: an org admin of acme")
	e.run(t, e.acmeMember, "", "user", "set-system-admin", acmeMemberEmail, "on").wantFail(t, 1, "permission denied: a member of acme")
}

func TestUserResetPassword(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "user", "reset-password", acmeMemberEmail).wantOK(t)
	m := regexp.MustCompile(`One-time password for ana@acme\.example: (\S+)\n`).FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "shown once") {
		t.Fatalf("reset-password:\n%s", r.stdout)
	}
	_, line := newTestSigner(t)
	if _, err := e.svc.SignIn(context.Background(), service.SignInInput{Key: line, Email: acmeMemberEmail, Password: m[1]}); err != nil {
		t.Fatalf("sign in with the one-time password: %v", err)
	}
	r = e.run(t, e.acmeAdmin, "a-chosen-password\n", "user", "reset-password", acmeMemberEmail, "--password-stdin", "--json").wantOK(t)
	if strings.TrimSpace(r.stdout) != "{\n  \"email\": \"ana@acme.example\"\n}" {
		t.Fatalf("reset-password --password-stdin --json: %q", r.stdout)
	}
	_, line = newTestSigner(t)
	if _, err := e.svc.SignIn(context.Background(), service.SignInInput{Key: line, Email: acmeMemberEmail, Password: "a-chosen-password"}); err != nil {
		t.Fatalf("sign in with the chosen password: %v", err)
	}
	e.run(t, e.acmeAdmin, "\n", "user", "reset-password", acmeMemberEmail, "--password-stdin").wantFail(t, 1, "password: the first line of stdin is empty")
	e.run(t, e.acmeMember, "", "user", "reset-password", acmeAdminEmail).wantFail(t, 1, "permission denied: a member of acme")
	e.run(t, e.globexAdmin, "", "user", "reset-password", acmeMemberEmail).wantFail(t, 1, "not found")
}

func TestUserDeleteNeedsYes(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	e.run(t, e.acmeAdmin, "", "user", "delete", acmeMemberEmail).wantFail(t, 1, "not deleted: deleting ana@acme.example also deletes", "--yes")
	e.run(t, e.acmeAdmin, "", "user", "show", acmeMemberEmail).wantOK(t)
	// Without --yes the answer still depends on who asks.
	e.run(t, e.globexAdmin, "", "user", "delete", acmeMemberEmail).wantFail(t, 1, "not found")
	e.run(t, e.acmeMember, "", "user", "delete", acmeAdminEmail).wantFail(t, 1, "permission denied")
	e.run(t, e.acmeMember, "", "user", "delete", acmeMemberEmail, "--yes").wantFail(t, 1, "permission denied")
	e.run(t, e.globexAdmin, "", "user", "delete", acmeMemberEmail, "--yes").wantFail(t, 1, "not found")

	r := e.run(t, e.acmeAdmin, "", "user", "delete", acmeMemberEmail, "--yes").wantOK(t)
	if r.stdout != "Deleted user ana@acme.example.\n" {
		t.Fatalf("delete: %q", r.stdout)
	}
	e.run(t, e.acmeAdmin, "", "user", "show", acmeMemberEmail).wantFail(t, 1, "not found")
	// Their key went with them.
	e.run(t, e.acmeMember, "", "whoami").wantFail(t, 1, "not linked")
}

// An admin of org lamb who is not a system admin administers lamb's users,
// but resetting a system admin's password, or linking a key to their
// account, would let them sign in as that system admin.
func TestLambOrgAdminCannotTakeOverSystemAdmin(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	lambAdmin := e.userWithKey(t, "lamb", "deputy@lamb.local", "admin")
	if r := e.run(t, lambAdmin, "", "whoami").wantOK(t); !strings.Contains(r.stdout, "org admin of lamb") {
		t.Fatalf("whoami: %q", r.stdout)
	}
	_, key := newTestSigner(t)
	for _, args := range [][]string{
		{"user", "reset-password", e.adminMail},
		{"sshkey", "add", e.adminMail, key},
		{"user", "disable", e.adminMail},
		{"user", "delete", e.adminMail, "--yes"},
		{"sshkey", "remove", gossh.FingerprintSHA256(e.admin.PublicKey())},
	} {
		e.run(t, lambAdmin, "", args...).wantFail(t, 1, "permission denied: an org admin of lamb can't run")
	}
	e.run(t, e.admin, "", "whoami").wantOK(t)
	// Other users of lamb stay theirs to manage.
	e.userWithKey(t, "lamb", "helper@lamb.local", "member")
	e.run(t, lambAdmin, "", "user", "reset-password", "helper@lamb.local").wantOK(t)
}

// user list --quiet Nd keeps accounts unused for N days (the rule is the
// service's: service.TestQuietAccounts); here the flag's shapes. Accounts
// made just now are not quiet for a day.
func TestUserListQuiet(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	var p service.Page[service.User]
	decode(t, e.run(t, e.acmeAdmin, "", "user", "list", "--quiet", "1d", "--json").wantOK(t), &p)
	if p.Total != 0 || len(p.Items) != 0 {
		t.Fatalf("quiet for a day, among accounts made now: %+v", p)
	}
	for _, bad := range []string{"0d", "30", "a week", "-3d"} {
		e.run(t, e.acmeAdmin, "", "user", "list", "--quiet", bad).wantFail(t, 2, fmt.Sprintf("--quiet %q: want a number of days such as 30d", bad))
	}
	e.run(t, e.acmeAdmin, "", "user", "list", "--quiet", "99999d").wantFail(t, 1, "quiet: want a number of days from 1 to 3660")
	e.run(t, e.acmeMember, "", "user", "list", "--quiet", "30d").wantFail(t, 1, "permission denied")
}
