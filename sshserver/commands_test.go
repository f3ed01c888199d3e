package sshserver

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"lamb/service"
)

func TestCommandBadArgumentsPrintUsageAndExit2(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	e.createOrg(t, "acme")
	cases := []struct {
		args  []string
		usage string // the usage line printed
		err   string
	}{
		{[]string{"frobnicate"}, "[command]", `unknown command "frobnicate"`},
		{[]string{"--json"}, "[command]", "no command given"},
		{[]string{"org"}, "org [command]", `"org" needs a command`},
		{[]string{"org", "lsit"}, "org [command]", `did you mean "list"?`},
		{[]string{"org", "config"}, "org config [command]", "needs a command"},
		{[]string{"org", "show"}, "org show SLUG", "accepts 1 arg(s), received 0"},
		{[]string{"org", "list", "extra"}, "org list", `unknown command "extra"`},
		{[]string{"org", "list", "--bogus"}, "org list", "unknown flag: --bogus"},
		{[]string{"org", "list", "--limit", "many"}, "org list", `invalid argument "many"`},
		{[]string{"org", "list", "--limit", "0"}, "org list", "--limit must be 1-500"},
		{[]string{"org", "create", "acme2"}, "org create SLUG", `required flag(s) "name" not set`},
		{[]string{"org", "create", "x", "--name", "X", "--admin-name", "Y"}, "org create SLUG", "need --admin-email"},
		{[]string{"org", "delete", "acme", "--yes"}, "org delete SLUG", "--users is required"},
		{[]string{"org", "delete", "acme", "--users", "keep"}, "org delete SLUG", "--users must be delete or move"},
		{[]string{"user", "create", "--org", "acme", "--name", "Ana"}, "user create", `required flag(s) "email" not set`},
		{[]string{"user", "create", "--email", "a@acme.example", "--name", "Ana"}, "user create", "--org SLUG is required for system admins"},
		{[]string{"user", "set-role", "ana@acme.example", "boss"}, "user set-role EMAIL admin|member", `must be one of [admin member], got "boss"`},
		{[]string{"user", "set-system-admin", "ana@acme.example"}, "user set-system-admin EMAIL on|off", "accepts 2 arg(s)"},
		{[]string{"user", "set-system-admin", "ana@acme.example", "maybe"}, "user set-system-admin", `got "maybe"`},
		{[]string{"user", "list", "--offset", "-1"}, "user list", "--offset can't be negative"},
		{[]string{"sshkey", "list", "a@x.example", "b@x.example"}, "sshkey list [EMAIL]", "accepts at most 1 arg(s)"},
		{[]string{"sshkey", "remove"}, "sshkey remove FINGERPRINT", "accepts 1 arg(s)"},
		{[]string{"audit", "--since", "yesterday"}, "audit", `--since "yesterday"`},
		{[]string{"audit", "--since", "-3d"}, "audit", "want a positive duration"},
		{[]string{"whoami", "me"}, "whoami", `unknown command "me"`},
		{[]string{"password", "now"}, "password", `unknown command "now"`},
	}
	for _, c := range cases {
		r := e.run(t, e.admin, "", c.args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %q", c.args, r.code, exitUsage, r.stderr)
			continue
		}
		if !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, c.err) ||
			!strings.Contains(r.stderr, "Usage:\n") || !strings.Contains(r.stderr, c.usage) {
			t.Errorf("%v: stderr %q, want the error %q and the usage %q", c.args, r.stderr, c.err, c.usage)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", c.args, r.stdout)
		}
	}
}

// allCommandPaths lists every command of the tree, as argument lists.
func allCommandPaths() [][]string {
	var out [][]string
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		out = append(out, path)
		for _, sub := range cmd.Commands() {
			if sub.Name() != "help" {
				walk(sub, append(append([]string{}, path...), sub.Name()))
			}
		}
	}
	walk((&cli{}).rootCommand("ssh HOST"), nil)
	return out
}

func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	paths := allCommandPaths()
	if len(paths) < 25 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	for _, p := range paths {
		// A member may read the help of commands they can't run.
		r := e.run(t, e.acmeMember, "", append(p, "--help")...).wantOK(t)
		if !strings.Contains(r.stdout, "Usage:") || r.stderr != "" {
			t.Errorf("%v --help: stdout %q, stderr %q", p, r.stdout, r.stderr)
		}
		cmd, _, err := (&cli{}).rootCommand("ssh HOST").Find(p)
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Short == "" && cmd.HasParent() {
			t.Errorf("%v has no short description", p)
		}
	}
	r := e.run(t, e.admin, "", "help", "org", "create").wantOK(t)
	_, port, _ := net.SplitHostPort(e.addr)
	for _, want := range []string{"--admin-email", "--copy-system-providers", "printed once", "Examples:",
		"ssh -p " + port + ` HOST 'org create acme --name "Acme University"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help org create lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestUnknownKeyCommandIsRefused(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	stranger, _ := newTestSigner(t)
	r := e.run(t, stranger, "", "org", "list").wantFail(t, 1, "not linked to a lamb account")
	if r.stdout != "" {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestDisabledUserCommandIsRefused(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	e.run(t, e.acmeAdmin, "", "user", "disable", acmeMemberEmail).wantOK(t)
	e.run(t, e.acmeMember, "", "whoami").wantFail(t, 1, "account is disabled")
	e.run(t, e.admin, "", "org", "suspend", "acme").wantOK(t)
	e.run(t, e.acmeAdmin, "", "whoami").wantFail(t, 1, "organization is suspended")
}

func TestPermissionDeniedNamesRoleAndCommand(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.acmeMember, "", "user", "list").wantFail(t, 1)
	if want := "permission denied: a member of acme can't run \"user list\"\n"; r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	r = e.run(t, e.acmeAdmin, "", "org", "create", "x1", "--name", "X").wantFail(t, 1)
	if want := "permission denied: an org admin of acme can't run \"org create\"\n"; r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
}

func TestJSONOutputParses(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	var id service.Identity
	decode(t, e.run(t, e.acmeAdmin, "", "whoami", "--json").wantOK(t), &id)
	if id.Email != acmeAdminEmail || id.OrgSlug != "acme" || id.Role != "org admin" {
		t.Fatalf("whoami --json = %+v", id)
	}
	var orgs service.Page[service.Org]
	decode(t, e.run(t, e.admin, "", "--json", "org", "list").wantOK(t), &orgs)
	if orgs.Total != 3 || len(orgs.Items) != 3 || orgs.Items[0].Slug != "acme" || orgs.Items[0].Users != 2 {
		t.Fatalf("org list --json = %+v", orgs)
	}
	var detail service.OrgDetail
	decode(t, e.run(t, e.acmeAdmin, "", "org", "show", "acme", "--json").wantOK(t), &detail)
	if detail.Slug != "acme" || len(detail.Admins) != 1 || detail.Admins[0].Email != acmeAdminEmail {
		t.Fatalf("org show --json = %+v", detail)
	}
	var users service.Page[service.User]
	decode(t, e.run(t, e.acmeAdmin, "", "user", "list", "--json").wantOK(t), &users)
	if users.Total != 2 {
		t.Fatalf("user list --json = %+v", users)
	}
	var keys []service.SSHKey
	decode(t, e.run(t, e.acmeMember, "", "sshkey", "list", "--json").wantOK(t), &keys)
	if len(keys) != 1 || keys[0].UserEmail != acmeMemberEmail {
		t.Fatalf("sshkey list --json = %+v", keys)
	}
	var events []service.AuditEvent
	decode(t, e.run(t, e.acmeAdmin, "", "audit", "--json").wantOK(t), &events)
	if len(events) == 0 {
		t.Fatal("audit --json is empty")
	}
	// An empty list is [] in JSON, not null.
	e.run(t, e.acmeAdmin, "", "user", "enable", acmeMemberEmail).wantOK(t)
	r := e.run(t, e.admin, "", "org", "sync-system", "--json").wantOK(t)
	if strings.TrimSpace(r.stdout) != "{\n  \"changes\": []\n}" {
		t.Fatalf("sync-system --json = %q", r.stdout)
	}
}

func decode(t *testing.T, r cmdResult, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
}

// A user's name (from signup, say) is shown to admins in lists. Sent raw,
// an ESC in it would start a terminal escape sequence on the admin's
// terminal: retitle the window, rewrite what is shown, or worse.
// A name carrying terminal escape sequences could rewrite an admin's screen
// when listed; the service refuses control characters in names at the door.
func TestTerminalEscapeInNameIsRejected(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	_, key := newTestSigner(t)
	_, err := e.svc.CreateUser(context.Background(), e.adminActor(t), service.CreateUserInput{
		OrgSlug: "acme", Email: "mallory@acme.example", Name: "Mal\x1b]0;pwned\x07\x1b[2J", SSHKey: key})
	if !errors.Is(err, service.ErrInvalid) {
		t.Fatalf("name with escape sequences: %v, want ErrInvalid", err)
	}
	r := e.run(t, e.acmeAdmin, "", "user", "create", "--org", "acme", "--email", "m@acme.example", "--name", "Mal\x1b[2J")
	if r.code != 1 || !strings.Contains(r.stderr, "control characters") {
		t.Fatalf("user create with an escape in the name: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestParseSince(t *testing.T) {
	now := mustTime(t, "2026-03-10T12:00:00Z")
	for in, want := range map[string]string{
		"7d":                   "2026-03-03T12:00:00Z",
		"12h":                  "2026-03-10T00:00:00Z",
		"90m":                  "2026-03-10T10:30:00Z",
		"2026-01-31":           "2026-01-31T00:00:00Z",
		"2026-02-01T08:00:00Z": "2026-02-01T08:00:00Z",
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(mustTime(t, want)) {
			t.Errorf("parseSince(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"0d", "-1h", "soon", "7", "1e9d"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) accepted", in)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// On a server nobody has claimed yet, a command from an unknown key says
// how to become its system admin.
func TestUnknownKeyOnUnclaimedServerPointsToTheClaimCode(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	if err := e.st.SetSetting(context.Background(), "claim_code", "x"); err != nil {
		t.Fatal(err)
	}
	stranger, _ := newTestSigner(t)
	e.run(t, stranger, "", "whoami").wantFail(t, 1, "enter the claim code printed in the server's log")
}
