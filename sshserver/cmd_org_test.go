package sshserver

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"lamb/config"
	"lamb/service"
)

func TestOrgListAndShow(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.admin, "", "org", "list").wantOK(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "SLUG") ||
		!regexp.MustCompile(`^acme\s+ACME\s+active\s+2\s+0\s+disabled\s`).MatchString(lines[1]) {
		t.Fatalf("org list:\n%s", r.stdout)
	}
	r = e.run(t, e.admin, "", "org", "list", "--filter", "glob").wantOK(t)
	if !strings.Contains(r.stdout, "globex") || strings.Contains(r.stdout, "acme") {
		t.Fatalf("org list --filter glob:\n%s", r.stdout)
	}
	r = e.run(t, e.admin, "", "org", "list", "--limit", "1", "--offset", "1").wantOK(t)
	if !strings.Contains(r.stdout, "globex") || strings.Contains(r.stdout, "acme") ||
		!strings.Contains(r.stderr, "showing 2-2 of 3; use --offset 2 for more") {
		t.Fatalf("org list --limit 1 --offset 1: stdout %q stderr %q", r.stdout, r.stderr)
	}

	r = e.run(t, e.admin, "", "org", "show", "acme").wantOK(t)
	for _, want := range []string{"slug:", "acme", "users:", "2 (admins: 1)", "admins:", acmeAdminEmail, "tokens/month unlimited"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("org show lacks %q:\n%s", want, r.stdout)
		}
	}
	// Org admins see their own org.
	e.run(t, e.acmeAdmin, "", "org", "show", "acme").wantOK(t)
}

func TestOrgCommandsDenied(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	denied := [][]string{
		{"org", "list"},
		{"org", "create", "newco", "--name", "New Co"},
		{"org", "delete", "globex", "--yes", "--users", "delete"},
		{"org", "suspend", "globex"},
		{"org", "resume", "acme"},
		{"org", "sync-system"},
	}
	for _, args := range denied {
		e.run(t, e.acmeAdmin, "", args...).wantFail(t, 1, "permission denied: an org admin of acme can't run")
		e.run(t, e.acmeMember, "", args...).wantFail(t, 1, "permission denied: a member of acme can't run")
	}
	// What org admins may do in their own org, members may not.
	for _, args := range [][]string{
		{"org", "show", "acme"},
		{"org", "config", "get", "acme"},
		{"org", "config", "set", "acme"},
		{"org", "delete", "acme", "--users", "delete"},
	} {
		e.run(t, e.acmeMember, "{}", args...).wantFail(t, 1, "permission denied: a member of acme can't run")
	}
	// Another org is not found for an org admin, the same as no org.
	for _, args := range [][]string{
		{"org", "show", "globex"},
		{"org", "config", "get", "globex"},
		{"org", "config", "set", "globex"},
		{"org", "delete", "globex", "--users", "delete"},
		{"org", "show", "nosuch"},
	} {
		r := e.run(t, e.acmeAdmin, `{"version":1}`, args...).wantFail(t, 1, "not found")
		if strings.Contains(r.stderr, "permission") {
			t.Fatalf("%v: %q", args, r.stderr)
		}
	}
	// Nothing changed.
	r := e.run(t, e.admin, "", "org", "list").wantOK(t)
	if strings.Contains(r.stdout, "newco") || strings.Contains(r.stdout, "suspended") || !strings.Contains(r.stdout, "globex") {
		t.Fatalf("org list after denied commands:\n%s", r.stdout)
	}
}

func TestOrgCreateWithNewAdminPrintsOneTimePassword(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	r := e.run(t, e.admin, "", "org", "create", "acme", "--name", "Acme University",
		"--admin-email", "IT@acme.example", "--admin-name", "IT Desk", "--signup-key", "acme-signup-2026").wantOK(t)
	m := regexp.MustCompile(`One-time password for it@acme\.example: (\S+)\n`).FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "Created organization acme (Acme University).") ||
		!strings.Contains(r.stdout, "shown once") {
		t.Fatalf("org create:\n%s", r.stdout)
	}
	// The password works: an unknown key signs in with it.
	_, line := newTestSigner(t)
	if _, err := e.svc.SignIn(context.Background(), service.SignInInput{Key: line, Email: "it@acme.example", Password: m[1]}); err != nil {
		t.Fatalf("sign in with the one-time password: %v", err)
	}
	r = e.run(t, e.admin, "", "org", "show", "acme", "--json").wantOK(t)
	var d service.OrgDetail
	decode(t, r, &d)
	if d.Name != "Acme University" || len(d.Admins) != 1 || d.Admins[0].Email != "it@acme.example" {
		t.Fatalf("org show after create: %+v", d)
	}

	// An admin with a key gets no password; --json carries the result.
	signer, key := newTestSigner(t)
	r = e.run(t, e.admin, "", "org", "create", "globex", "--name", "Globex", "--json",
		"--admin-email", "chief@globex.example", "--admin-name", "Chief", "--admin-ssh-key", key).wantOK(t)
	var res service.CreateOrgResult
	decode(t, r, &res)
	if res.Org.Slug != "globex" || res.Admin == nil || res.Admin.Role != "admin" || res.AdminPassword != "" {
		t.Fatalf("org create --json = %+v", res)
	}
	r = e.run(t, signer, "", "whoami").wantOK(t)
	if !strings.Contains(r.stdout, "org admin of globex") {
		t.Fatalf("new admin's whoami: %q", r.stdout)
	}

	// Without an admin; the slug is checked by the service.
	e.run(t, e.admin, "", "org", "create", "initech", "--name", "Initech", "--copy-system-providers").wantOK(t)
	e.run(t, e.admin, "", "org", "create", "acme", "--name", "Again").wantFail(t, 1, `slug: an organization "acme" already exists`)
	e.run(t, e.admin, "", "org", "create", "Bad_Slug", "--name", "X").wantFail(t, 1, "slug: must be 2-40 characters")
	e.run(t, e.admin, "", "org", "create", "newco", "--name", "X", "--admin-email", "nobody").wantFail(t, 1, "admin.email:")
}

func TestOrgDeleteNeedsYesAndSaysWhatIsLost(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.admin, "", "org", "delete", "acme", "--users", "move").
		wantFail(t, 1, "not deleted: acme has 2 users (2 SSH keys), 0 assistants and 0 API keys",
			"Re-run with --yes to delete it and move its users to lamb, disabled")
	if r.stdout != "" {
		t.Fatalf("stdout %q", r.stdout)
	}
	e.run(t, e.admin, "", "org", "show", "acme").wantOK(t)
	e.run(t, e.admin, "", "org", "delete", "acme").wantFail(t, 1, "Re-run with --yes and --users delete (delete its users) or --users move")

	r = e.run(t, e.admin, "", "org", "delete", "acme", "--yes", "--users", "move").wantOK(t)
	if want := "Deleted organization acme: 2 users moved to lamb, disabled, 0 assistants and 0 API keys deleted.\n"; r.stdout != want {
		t.Fatalf("stdout %q, want %q", r.stdout, want)
	}
	e.run(t, e.admin, "", "org", "show", "acme").wantFail(t, 1, `organization "acme" not found`)
	r = e.run(t, e.admin, "", "user", "list", "--org", "lamb", "--filter", "acme.example").wantOK(t)
	if strings.Count(r.stdout, "disabled") != 2 {
		t.Fatalf("moved users:\n%s", r.stdout)
	}

	r = e.run(t, e.admin, "", "org", "delete", "globex", "--yes", "--users", "delete", "--json").wantOK(t)
	var res service.DeleteOrgResult
	decode(t, r, &res)
	if res.Slug != "globex" || res.UsersDeleted != 1 {
		t.Fatalf("delete --json = %+v", res)
	}
	e.run(t, e.admin, "", "user", "show", globexAdminEmail).wantFail(t, 1, "not found")
	e.run(t, e.admin, "", "org", "delete", "lamb", "--yes", "--users", "delete").wantFail(t, 1, "slug: the system organization lamb can't be deleted")
}

func TestOrgSuspendResume(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.admin, "", "org", "suspend", "acme").wantOK(t)
	if r.stdout != "Organization acme is suspended.\n" {
		t.Fatalf("suspend: %q", r.stdout)
	}
	e.run(t, e.acmeAdmin, "", "whoami").wantFail(t, 1, "suspended")
	var o service.Org
	decode(t, e.run(t, e.admin, "", "org", "resume", "acme", "--json").wantOK(t), &o)
	if o.Status != "active" {
		t.Fatalf("resume --json: %+v", o)
	}
	e.run(t, e.acmeAdmin, "", "whoami").wantOK(t)
	e.run(t, e.admin, "", "org", "suspend", "lamb").wantFail(t, 1, "can't be suspended")
	e.run(t, e.admin, "", "org", "suspend", "nosuch").wantFail(t, 1, `organization "nosuch" not found`)
}

func TestOrgSyncSystem(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	r := e.run(t, e.admin, "", "org", "sync-system").wantOK(t)
	if !strings.HasPrefix(r.stdout, "No changes") {
		t.Fatalf("sync without changes: %q", r.stdout)
	}
	url, key := "http://models.internal:8000/v1", "sk-from-env-0123456789"
	e.setSystemEnv(config.System{OpenAIBaseURL: &url, OpenAIAPIKey: &key})
	r = e.run(t, e.admin, "", "org", "sync-system").wantOK(t)
	if !strings.Contains(r.stdout, "setups.default.providers.openai.base_url") || !strings.Contains(r.stdout, url) ||
		!strings.Contains(r.stdout, "setups.default.providers.openai.api_key changed (from OPENAI_API_KEY)") {
		t.Fatalf("sync output:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, key) {
		t.Fatalf("sync printed the secret:\n%s", r.stdout)
	}
	r = e.run(t, e.admin, "", "org", "sync-system", "--json").wantOK(t)
	if strings.TrimSpace(r.stdout) != "{\n  \"changes\": []\n}" {
		t.Fatalf("second sync --json: %q", r.stdout)
	}
}

func TestOrgConfigGetSet(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	const secretKey = "sk-acme-secret-abcdef123456"
	doc := `{"version":1,"active_setup":"default","setups":{"default":{"default_provider":"openai","providers":{"openai":
		{"enabled":true,"api_key":"` + secretKey + `","base_url":"https://api.openai.com/v1","models":["gpt-4o-mini"],"default_model":"gpt-4o-mini"}}}},
		"features":{"signup_enabled":false},"limits":{"max_users":50}}`

	r := e.run(t, e.acmeAdmin, doc, "org", "config", "set", "acme", "--dry-run").wantOK(t)
	if !strings.HasPrefix(r.stdout, "Would change (dry run, nothing stored):\n") || !strings.Contains(r.stdout, "limits.max_users") {
		t.Fatalf("dry run:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "org", "config", "get", "acme").wantOK(t)
	if strings.Contains(r.stdout, "openai") {
		t.Fatalf("dry run stored the config:\n%s", r.stdout)
	}

	r = e.run(t, e.acmeAdmin, doc, "org", "config", "set", "acme").wantOK(t)
	if !strings.HasPrefix(r.stdout, "Changed:\n") || !strings.Contains(r.stdout, "  setups.default.providers.openai.api_key\n") {
		t.Fatalf("set:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, secretKey) {
		t.Fatal("set printed the secret")
	}

	// get masks the secret; writing the masked document back keeps it.
	masked := e.run(t, e.acmeAdmin, "", "org", "config", "get", "acme").wantOK(t).stdout
	if strings.Contains(masked, secretKey) || !strings.Contains(masked, config.Mask(secretKey)) {
		t.Fatalf("get without secrets:\n%s", masked)
	}
	r = e.run(t, e.acmeAdmin, masked, "org", "config", "set", "acme").wantOK(t)
	if r.stdout != "No changes.\n" {
		t.Fatalf("writing back the masked config: %q", r.stdout)
	}
	edited := strings.Replace(masked, `"max_users": 50`, `"max_users": 60`, 1)
	var out struct {
		Changed []string `json:"changed"`
		DryRun  bool     `json:"dry_run"`
	}
	decode(t, e.run(t, e.acmeAdmin, edited, "org", "config", "set", "acme", "--json").wantOK(t), &out)
	if len(out.Changed) != 1 || out.Changed[0] != "limits.max_users" || out.DryRun {
		t.Fatalf("set --json = %+v", out)
	}
	full := e.run(t, e.acmeAdmin, "", "org", "config", "get", "acme", "--with-secrets").wantOK(t).stdout
	var cfg config.Org
	if err := json.Unmarshal([]byte(full), &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Setups["default"].Providers["openai"].APIKey; got != secretKey || cfg.Limits.MaxUsers != 60 {
		t.Fatalf("stored api_key %q, max_users %d", got, cfg.Limits.MaxUsers)
	}
	// Revealing secrets is audited.
	r = e.run(t, e.acmeAdmin, "", "audit", "--org", "acme").wantOK(t)
	if !strings.Contains(r.stdout, "config.reveal") || !strings.Contains(r.stdout, "config.update") {
		t.Fatalf("audit:\n%s", r.stdout)
	}
}

func TestOrgConfigSetRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	cases := []struct{ stdin, want string }{
		{"", "config: stdin is empty"},
		{"{", "invalid config:"},
		{`{"version":1,"limits":{"max_users":"many"}}`, "invalid config: limits.max_users:"},
		{`{"version":1,"bogus":true}`, "invalid config:"},
		{`{"version":1,"active_setup":"prod","setups":{"default":{"providers":{}}}}`, "active_setup:"},
		{`{"version":1,"active_setup":"default","setups":{"default":{"providers":{}}},"limits":{"max_users":-5}}`, "limits.max_users:"},
		{strings.Repeat(" ", maxStdin+1), "config: larger than 1024 KiB"},
	}
	for _, c := range cases {
		r := e.run(t, e.acmeAdmin, c.stdin, "org", "config", "set", "acme").wantFail(t, 1, c.want)
		if strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("stderr is not one line: %q", r.stderr)
		}
	}
}
