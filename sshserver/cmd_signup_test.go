package sshserver

import (
	"regexp"
	"strings"
	"testing"

	"lamb/config"
	"lamb/service"
)

// signupKeyLine finds the key that a signup command printed.
var signupKeyLine = regexp.MustCompile(`(?m)^key:\s+(\S+)$`)

func printedKey(t *testing.T, r cmdResult) string {
	t.Helper()
	m := signupKeyLine.FindStringSubmatch(r.stdout)
	if m == nil || !config.SignupKeyRE.MatchString(m[1]) {
		t.Fatalf("no key printed:\n%s", r.stdout)
	}
	return m[1]
}

func wantLines(t *testing.T, r cmdResult, want ...string) {
	t.Helper()
	for _, w := range want {
		if !regexp.MustCompile(`(?m)` + w).MatchString(r.stdout) {
			t.Fatalf("output lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestSignupCommands(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "signup", "show").wantOK(t)
	wantLines(t, r, `^organization:\s+acme$`, `^signup:\s+disabled$`, `^key:\s+none`)

	// Enabling without a key generates one, printed with the URL to hand out.
	r = e.run(t, e.acmeAdmin, "", "signup", "enable").wantOK(t)
	key := printedKey(t, r)
	wantLines(t, r, `^Signup is enabled; a new signup key was generated\.$`, `^signup:\s+enabled$`,
		`^signup URL:\s+\S*/signup\?key=`+key+`$`)
	if len(key) < 16 {
		t.Fatalf("generated key %q is short", key)
	}

	// show hides the key unless asked.
	r = e.run(t, e.acmeAdmin, "", "signup", "show").wantOK(t)
	wantLines(t, r, `^signup:\s+enabled$`, `^key:\s+set \(--reveal`)
	if strings.Contains(r.stdout, key) {
		t.Fatalf("show printed the key:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "signup", "show", "--reveal").wantOK(t)
	if printedKey(t, r) != key || !strings.Contains(r.stdout, "/signup?key="+key) {
		t.Fatalf("show --reveal:\n%s", r.stdout)
	}
	var s service.Signup
	decode(t, e.run(t, e.acmeAdmin, "", "signup", "show", "--json").wantOK(t), &s)
	if !s.Enabled || !s.HasKey || s.Key != "" || s.URL != "" {
		t.Fatalf("show --json = %+v", s)
	}

	// rotate and set-key replace the key and print the new one.
	decode(t, e.run(t, e.acmeAdmin, "", "signup", "rotate", "--json").wantOK(t), &s)
	if s.Key == "" || s.Key == key || !strings.HasSuffix(s.URL, "/signup?key="+s.Key) {
		t.Fatalf("rotate --json = %+v", s)
	}
	r = e.run(t, e.acmeAdmin, "", "signup", "set-key", "acme-fall-2026-Xq7").wantOK(t)
	wantLines(t, r, `^Signup key set; the old one no longer works\.$`, `^key:\s+acme-fall-2026-Xq7$`)

	// Off again: the key stays.
	r = e.run(t, e.acmeAdmin, "", "signup", "disable").wantOK(t)
	wantLines(t, r, `^Signup is disabled\.$`, `^signup:\s+disabled$`, `^key:\s+set`)
	if strings.Contains(r.stdout, "acme-fall-2026-Xq7") {
		t.Fatalf("disable printed the key:\n%s", r.stdout)
	}
	// On again with the key it had: the link to hand out is printed all the same.
	r = e.run(t, e.acmeAdmin, "", "signup", "enable").wantOK(t)
	wantLines(t, r, `^Signup is enabled\.$`, `^key:\s+acme-fall-2026-Xq7$`, `^signup URL:\s+\S*/signup\?key=acme-fall-2026-Xq7$`)
	r = e.run(t, e.acmeAdmin, "", "signup", "enable").wantOK(t) // already on
	wantLines(t, r, `^signup URL:\s+\S*/signup\?key=acme-fall-2026-Xq7$`)
	e.run(t, e.acmeAdmin, "", "signup", "disable").wantOK(t)

	// A system admin names the org, lamb included: a default would change
	// the system org's signup by accident.
	r = e.run(t, e.admin, "", "signup", "show", "--org", "acme", "--reveal").wantOK(t)
	if printedKey(t, r) != "acme-fall-2026-Xq7" {
		t.Fatalf("system admin's show --org acme:\n%s", r.stdout)
	}
	for _, args := range [][]string{{"show"}, {"enable"}, {"disable"}, {"set-key", "lamb-key-2026"}, {"rotate"}, {"rotate", "--org", " "}} {
		r = e.run(t, e.admin, "", append([]string{"signup"}, args...)...).wantFail(t, 2, "--org SLUG is required for system admins")
		if r.stdout != "" {
			t.Fatalf("signup %v without --org printed %q", args, r.stdout)
		}
	}
	r = e.run(t, e.admin, "", "signup", "rotate", "--org", "lamb").wantOK(t)
	wantLines(t, r, `^organization:\s+lamb$`)
	e.run(t, e.admin, "", "signup", "enable", "--org", "globex").wantOK(t)
	decode(t, e.run(t, e.globexAdmin, "", "signup", "show", "--json").wantOK(t), &s)
	if !s.Enabled || !s.HasKey {
		t.Fatalf("globex after a system admin enabled it: %+v", s)
	}

	r = e.run(t, e.acmeAdmin, "", "audit").wantOK(t)
	for _, action := range []string{"signup.enable", "signup.disable", "signup_key.reveal", "signup_key.rotate", "signup_key.set"} {
		if !strings.Contains(r.stdout, action) {
			t.Errorf("audit lacks %s:\n%s", action, r.stdout)
		}
	}
}

func TestSignupCommandsDenied(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	e.run(t, e.acmeAdmin, "", "signup", "set-key", "acme-fall-2026-Xq7").wantOK(t)
	commands := [][]string{
		{"signup", "show"},
		{"signup", "show", "--reveal"},
		{"signup", "enable"},
		{"signup", "disable"},
		{"signup", "set-key", "member-key-2026"},
		{"signup", "rotate"},
	}
	for _, args := range commands {
		name := strings.Join(args[:2], " ")
		e.run(t, e.acmeMember, "", args...).wantFail(t, 1, `permission denied: a member of acme can't run "`+name+`"`)
		// Another org is not found for an org admin, the same as no org.
		for _, org := range []string{"acme", "nosuch"} {
			r := e.run(t, e.globexAdmin, "", append(args, "--org", org)...).wantFail(t, 1, `organization "`+org+`" not found`)
			if strings.Contains(r.stderr, "permission") || strings.Contains(r.stderr, "acme-fall-2026-Xq7") || r.stdout != "" {
				t.Fatalf("%v --org %s: stdout %q, stderr %q", args, org, r.stdout, r.stderr)
			}
		}
	}
	// acme is as it was.
	r := e.run(t, e.admin, "", "signup", "show", "--org", "acme", "--reveal").wantOK(t)
	wantLines(t, r, `^signup:\s+disabled$`, `^key:\s+acme-fall-2026-Xq7$`)

	// Bad keys name the field; another org's key is taken without saying whose.
	for _, bad := range []string{"short", "has space", "trailing-", "a;b;c;d;e"} {
		e.run(t, e.acmeAdmin, "", "signup", "set-key", bad).wantFail(t, 1, "signup_key:")
	}
	r = e.run(t, e.globexAdmin, "", "signup", "set-key", "acme-fall-2026-Xq7").wantFail(t, 1, "signup_key:", "choose another key")
	if strings.Contains(r.stderr, "acme") {
		t.Fatalf("conflict names the other org: %q", r.stderr)
	}

	// The system org's key, when .env manages it.
	legacy := "legacy-signup-2026"
	e.setSystemEnv(config.System{SignupSecretKey: &legacy})
	e.run(t, e.admin, "", "org", "sync-system").wantOK(t)
	e.run(t, e.admin, "", "signup", "set-key", "other-key-2026-Xq7", "--org", "lamb").wantFail(t, 1, "signup_key:", "SIGNUP_SECRET_KEY")
	e.run(t, e.admin, "", "signup", "rotate", "--org", "lamb").wantFail(t, 1, "SIGNUP_SECRET_KEY")
	r = e.run(t, e.admin, "", "signup", "show", "--org", "lamb", "--reveal").wantOK(t)
	wantLines(t, r, `^key:\s+legacy-signup-2026$`, `^managed by \.env:\s+SIGNUP_SECRET_KEY$`)
}

func TestSignupBadArgumentsExit2(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	for _, c := range []struct {
		args       []string
		usage, err string
	}{
		{[]string{"signup"}, "signup [command]", `"signup" needs a command`},
		{[]string{"signup", "shwo"}, "signup [command]", `did you mean "show"?`},
		{[]string{"signup", "show", "acme"}, "signup show", `unknown command "acme"`},
		{[]string{"signup", "show", "--bogus"}, "signup show", "unknown flag: --bogus"},
		{[]string{"signup", "enable", "acme"}, "signup enable", `unknown command "acme"`},
		{[]string{"signup", "disable", "--org"}, "signup disable", "flag needs an argument: --org"},
		{[]string{"signup", "set-key"}, "signup set-key KEY", "accepts 1 arg(s), received 0"},
		{[]string{"signup", "set-key", "one-key-2026", "two-key-2026"}, "signup set-key KEY", "accepts 1 arg(s), received 2"},
		{[]string{"signup", "rotate", "now"}, "signup rotate", `unknown command "now"`},
	} {
		r := e.run(t, e.acmeAdmin, "", c.args...).wantFail(t, exitUsage, "error: ", c.err, "Usage:\n", c.usage)
		if r.stdout != "" {
			t.Errorf("%v: stdout %q", c.args, r.stdout)
		}
	}
	// Nothing ran.
	r := e.run(t, e.acmeAdmin, "", "signup", "show").wantOK(t)
	wantLines(t, r, `^signup:\s+disabled$`, `^key:\s+none`)
}
