package sshserver

import (
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
)

func TestWhoami(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	for _, c := range []struct {
		signer gossh.Signer
		want   string
	}{
		{e.admin, "Administrator (admin@lamb.local) — system admin of lamb\n"},
		{e.acmeAdmin, "User boss@acme.example (boss@acme.example) — org admin of acme\n"},
		{e.acmeMember, "User ana@acme.example (ana@acme.example) — member of acme\n"},
	} {
		if r := e.run(t, c.signer, "", "whoami").wantOK(t); r.stdout != c.want {
			t.Errorf("whoami = %q, want %q", r.stdout, c.want)
		}
	}
}

func TestAudit(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	e.run(t, e.acmeMember, "", "audit").wantFail(t, 1, "permission denied: a member of acme can't run \"audit\"")
	e.run(t, e.acmeAdmin, "", "user", "disable", acmeMemberEmail).wantOK(t)
	e.run(t, e.globexAdmin, "", "user", "create", "--email", "x@globex.example", "--name", "X").wantOK(t)

	r := e.run(t, e.admin, "", "audit").wantOK(t)
	for _, want := range []string{"user.disable", "ana@acme.example", "boss@acme.example", "user.create", "x@globex.example", "system.sync"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("system admin's audit lacks %q:\n%s", want, r.stdout)
		}
	}
	r = e.run(t, e.admin, "", "audit", "--org", "globex", "--since", "1h").wantOK(t)
	if strings.Contains(r.stdout, "acme") || !strings.Contains(r.stdout, "x@globex.example") {
		t.Fatalf("audit --org globex:\n%s", r.stdout)
	}
	// An org admin sees their own org's events only.
	r = e.run(t, e.acmeAdmin, "", "audit").wantOK(t)
	if !strings.Contains(r.stdout, "user.disable") || strings.Contains(r.stdout, "globex") || strings.Contains(r.stdout, "system.sync") {
		t.Fatalf("org admin's audit:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "audit", "--limit", "1").wantOK(t)
	if strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "user.disable") ||
		!strings.Contains(r.stderr, "showing the newest 1; use --before") {
		t.Fatalf("audit --limit 1: %q %q", r.stdout, r.stderr)
	}
	// A date in the future leaves nothing.
	r = e.run(t, e.acmeAdmin, "", "audit", "--since", "2999-01-01").wantOK(t)
	if strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("audit --since 2999-01-01:\n%s", r.stdout)
	}
	e.run(t, e.acmeAdmin, "", "audit", "--org", "globex").wantFail(t, 1, `organization "globex" not found`)
}

func TestPassword(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	ctx := context.Background()
	// The member was created with a key and no password: the old line is empty.
	r := e.run(t, e.acmeMember, "\nfirst-password\n", "password").wantOK(t)
	if r.stdout != "Password changed.\n" {
		t.Fatalf("password: %q", r.stdout)
	}
	e.run(t, e.acmeMember, "wrong-password\nsecond-password\n", "password").wantFail(t, 1, "old_password: is not your current password")
	r = e.run(t, e.acmeMember, "first-password\r\nsecond-password", "password", "--json").wantOK(t)
	if strings.TrimSpace(r.stdout) != "{\n  \"password_changed\": true\n}" {
		t.Fatalf("password --json: %q", r.stdout)
	}
	_, line := newTestSigner(t)
	if _, err := e.svc.SignIn(ctx, service.SignInInput{Key: line, Email: acmeMemberEmail, Password: "second-password"}); err != nil {
		t.Fatalf("sign in with the new password: %v", err)
	}
	e.run(t, e.acmeMember, "second-password\nshort\n", "password").wantFail(t, 1, "new_password: must be at least 8 characters")
	e.run(t, e.acmeMember, "second-password\n", "password").wantFail(t, 1, "new password: expected a line on stdin")
	e.run(t, e.acmeMember, "", "password").wantFail(t, 1, "old password: expected a line on stdin")
	e.run(t, e.acmeMember, strings.Repeat("x", maxLine+10)+"\n", "password").wantFail(t, 1, "old password: line longer than 16 KiB")
}

// `ssh -t HOST password` would wait forever for lines a terminal never
// sends (Enter is a carriage return, nothing is echoed): it says what to do.
func TestPasswordWithTerminalExplains(t *testing.T) {
	ts := newTestServer(t)
	client, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{User: "x", Auth: []gossh.AuthMethod{gossh.PublicKeys(ts.admin)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sess.Stdout, sess.Stderr = &out, &out
	err = sess.Run("password")
	var ee *gossh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 2 || !strings.Contains(out.String(), "My account") {
		t.Fatalf("password with a terminal: %v %q", err, out.String())
	}
}

// A session opened with a one-time password chooses a password before
// anything else: every command but password and whoami is refused, saying
// how to choose.
func TestOneTimePasswordSessionChoosesFirst(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	// The member's key stays linked; a reset gives the account a one-time
	// password, and a sign-in with it is what a new laptop does. Here the
	// reset alone marks the account, as its sessions must choose too.
	r := e.run(t, e.acmeAdmin, "", "user", "reset-password", acmeMemberEmail).wantOK(t)
	if !strings.Contains(r.stdout, "7 days") {
		t.Fatalf("reset-password doesn't say how long the password works:\n%s", r.stdout)
	}
	e.run(t, e.acmeMember, "", "assistant", "list").wantFail(t, 1, "choose your own first")
	e.run(t, e.acmeMember, "", "whoami").wantOK(t)
	e.run(t, e.acmeMember, "\nmy-own-password\n", "password").wantOK(t)
	e.run(t, e.acmeMember, "", "assistant", "list").wantOK(t)
}

// audit --actor and --action narrow the list; --csv prints a header and
// one event per row with its details as JSON; an org admin's filters
// never reach another org's events.
func TestAuditFiltersAndCSV(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	e.run(t, e.acmeAdmin, "", "user", "disable", acmeMemberEmail).wantOK(t)
	e.run(t, e.acmeAdmin, "", "user", "create", "--email", "new@acme.example", "--name", "New, \"Quoted\"").wantOK(t)
	e.run(t, e.globexAdmin, "", "user", "create", "--email", "x@globex.example", "--name", "X").wantOK(t)

	r := e.run(t, e.acmeAdmin, "", "audit", "--action", "user.dis").wantOK(t)
	if strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "user.disable") {
		t.Fatalf("audit --action user.dis:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "audit", "--actor", "BOSS@acme.example", "--action", "user.", "--csv").wantOK(t)
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, r.stdout)
	}
	if len(recs) != 3 || strings.Join(recs[0], ",") != "id,time,organization,actor,action,target,details" {
		t.Fatalf("audit --csv:\n%s", r.stdout)
	}
	for _, rec := range recs[1:] {
		if _, err := time.Parse(time.RFC3339, rec[1]); err != nil || rec[2] != "acme" || rec[3] != acmeAdminEmail || !strings.HasPrefix(rec[4], "user.") {
			t.Errorf("audit CSV row %q", rec)
		}
	}
	if recs[1][4] != "user.create" || recs[1][5] != "new@acme.example" || !strings.Contains(recs[1][6], `"role":"member"`) {
		t.Errorf("newest row %q", recs[1])
	}
	// Another org's actor: nothing, for acme's admin.
	r = e.run(t, e.acmeAdmin, "", "audit", "--actor", globexAdminEmail).wantOK(t)
	if strings.Contains(r.stdout, "globex") {
		t.Fatalf("acme's admin sees globex's events:\n%s", r.stdout)
	}
	var evs []service.AuditEvent
	decode(t, e.run(t, e.admin, "", "audit", "--actor", globexAdminEmail, "--json").wantOK(t), &evs)
	if len(evs) != 1 || evs[0].OrgSlug != "globex" {
		t.Fatalf("system admin, globex's admin's events: %+v", evs)
	}
	e.run(t, e.acmeAdmin, "", "audit", "--action", "user%").wantFail(t, 1, "action", "lower-case words joined by dots")
	e.run(t, e.acmeAdmin, "", "audit", "--csv", "--json").wantFail(t, 2, "--csv and --json can't be combined")
	e.run(t, e.acmeAdmin, "", "user", "enable", acmeMemberEmail).wantOK(t)
	e.run(t, e.acmeMember, "", "audit", "--actor", acmeMemberEmail).wantFail(t, 1, "permission denied")
}

// A failed sign-in on an account shows in its org's audit and in user
// show, for the org's admins.
func TestFailedSignInsVisibleToAdmins(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	ctx := context.Background()
	e.run(t, e.acmeAdmin, "a-good-password\n", "user", "create", "--email", "pw@acme.example", "--name", "Pw", "--password-stdin").wantOK(t)
	stranger, line := newTestSigner(t)
	if _, err := e.svc.SignIn(ctx, service.SignInInput{Key: line, Email: "pw@acme.example", Password: "guess-1", RemoteAddr: "198.51.100.9:5555"}); !errors.Is(err, service.ErrBadCredentials) {
		t.Fatalf("sign-in with a wrong password: %v", err)
	}
	r := e.run(t, e.acmeAdmin, "", "audit", "--action", "user.signin_failed").wantOK(t)
	if !strings.Contains(r.stdout, "pw@acme.example") || !strings.Contains(r.stdout, "198.51.100.9") || !strings.Contains(r.stdout, gossh.FingerprintSHA256(stranger.PublicKey())) {
		t.Fatalf("failed sign-ins in acme's audit:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "user", "show", "pw@acme.example").wantOK(t)
	if !strings.Contains(r.stdout, "failed sign-ins (30 days):  1, the last ") {
		t.Fatalf("user show:\n%s", r.stdout)
	}
	if r := e.run(t, e.globexAdmin, "", "audit", "--action", "user.signin_failed").wantOK(t); strings.Contains(r.stdout, "pw@acme.example") {
		t.Fatalf("globex's admin sees acme's failed sign-ins:\n%s", r.stdout)
	}
}
