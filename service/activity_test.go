package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"lamb/store"
)

// A failed sign-in on an account is audited in the account's org, as
// user.signin_failed with the key that tried, its address and why; its
// admins see it (GetUser counts them), another org's admin doesn't. An
// email of no account is not audited. The answer to the person is the
// same in every case, and throttling counts as before.
func TestFailedSignInIsAuditedForTheAccountsAdmins(t *testing.T) {
	e, sys, admin := usersEnv(t)
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: "m@acme.edu", Name: "M", Password: "member-pass-1"}); err != nil {
		t.Fatal(err)
	}
	adminB := orgWithAdmin(t, e, sys, "beta", "admin@beta.edu")
	line, fp := newKey(t, "stranger")
	for _, c := range []struct{ email, password string }{
		{"m@acme.edu", "wrong-password"},
		{"nobody@acme.edu", "wrong-password"},
		{"m@acme.edu", "another-guess"},
	} {
		if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: c.email, Password: c.password, RemoteAddr: "192.0.2.7:4242"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("%s: %v", c.email, err)
		}
	}
	evs, err := e.svc.ListAudit(ctx, admin, AuditQuery{Action: "user.signin_failed"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("acme's admin sees %d failed sign-ins, want 2 (none for an email of no account): %+v", len(evs), evs)
	}
	for _, ev := range evs {
		if ev.Target != "m@acme.edu" || ev.Actor != fp || ev.OrgSlug != "acme" || ev.Details["address"] != "192.0.2.7" ||
			ev.Details["reason"] != "wrong password" || ev.Details["ssh_key"] != fp {
			t.Errorf("failed sign-in event %+v", ev)
		}
		if strings.Contains(strings.ToLower(ev.Target+ev.Actor), "guess") || strings.Contains(string(mustJSON(ev.Details)), "guess") {
			t.Errorf("the password tried is in the audit: %+v", ev)
		}
	}
	// Filtered by the key that tried, too.
	if byKey, _ := e.svc.ListAudit(ctx, admin, AuditQuery{Actor: fp}); len(byKey) != 2 {
		t.Errorf("by actor %s: %d events", fp, len(byKey))
	}
	u, err := e.svc.GetUser(ctx, admin, "m@acme.edu")
	if err != nil || u.FailedSignIns != 2 || u.LastFailedSignInAt.IsZero() {
		t.Fatalf("GetUser: %d failed sign-ins at %v, %v", u.FailedSignIns, u.LastFailedSignInAt, err)
	}
	if other, _ := e.svc.GetUser(ctx, admin, "admin@acme.edu"); other.FailedSignIns != 0 {
		t.Errorf("another account shows %d failed sign-ins", other.FailedSignIns)
	}
	if evs, _ := e.svc.ListAudit(ctx, adminB, AuditQuery{Action: "user.signin"}); len(evs) != 0 {
		t.Errorf("beta's admin sees acme's failed sign-ins: %+v", evs)
	}
	// After FailedSignInDays they no longer count.
	e.now = e.now.AddDate(0, 0, FailedSignInDays+1)
	if u, _ := e.svc.GetUser(ctx, admin, "m@acme.edu"); u.FailedSignIns != 0 {
		t.Errorf("failed sign-ins of %d days ago still counted: %d", FailedSignInDays+1, u.FailedSignIns)
	}
}

// The audit's filters: since, the actor (any case), an action prefix;
// bad input is refused naming the field; an org admin's filters never
// reach another org.
func TestAuditFilters(t *testing.T) {
	e, sys, admin := usersEnv(t)
	ctx := context.Background()
	orgWithAdmin(t, e, sys, "beta", "admin@beta.edu")
	if _, err := e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: "x@acme.edu", Name: "X", Password: "password-x"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RenameOrg(ctx, admin, "acme", "Acme U"); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(48 * time.Hour)
	if _, err := e.svc.SetUserEnabled(ctx, admin, "x@acme.edu", false); err != nil {
		t.Fatal(err)
	}
	actions := func(evs []AuditEvent) string {
		var out []string
		for _, ev := range evs {
			out = append(out, ev.Action)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		q    AuditQuery
		want string
	}{
		{AuditQuery{Action: "user."}, "user.disable user.create user.create"}, // x@, and the admin with the org
		{AuditQuery{Action: "USER.DIS"}, "user.disable"},
		{AuditQuery{Actor: "ADMIN@acme.edu"}, "user.disable org.rename user.create"},
		{AuditQuery{Actor: "admin@acme.edu", Since: e.now.Add(-time.Hour)}, "user.disable"},
		{AuditQuery{Actor: "nobody@acme.edu"}, ""},
		{AuditQuery{Action: "org."}, "org.rename"}, // and acme's own org.create; never beta's
	} {
		evs, err := e.svc.ListAudit(ctx, admin, c.q)
		if err != nil {
			t.Fatal(err)
		}
		got := actions(evs)
		if c.q.Action == "org." {
			got = strings.TrimSuffix(got, " org.create") // acme's own creation is acme's event
		}
		if got != c.want {
			t.Errorf("%+v: %q, want %q", c.q, got, c.want)
		}
		for _, ev := range evs {
			if ev.OrgSlug != "acme" {
				t.Errorf("%+v lists %s's %s", c.q, ev.OrgSlug, ev.Action)
			}
		}
		p, err := e.svc.AuditPage(ctx, admin, c.q, 0, 100)
		if err != nil || p.Total != len(evs) {
			t.Errorf("AuditPage(%+v): total %d, %v; ListAudit found %d", c.q, p.Total, err, len(evs))
		}
	}
	_, err := e.svc.ListAudit(ctx, admin, AuditQuery{Action: "user%"})
	wantInvalidSays(t, err, "action", "lower-case words joined by dots")
	_, err = e.svc.ListAudit(ctx, admin, AuditQuery{Actor: strings.Repeat("a", 400)})
	wantInvalidSays(t, err, "actor", "320")
	// A member has no audit, filtered or not.
	m, _ := userWithKey(t, e, admin, "acme", "m2@acme.edu", "member", "")
	if _, err := e.svc.ListAudit(ctx, m, AuditQuery{Actor: m.Email}); !errors.Is(err, ErrForbidden) {
		t.Errorf("member's audit: %v", err)
	}
}

// Quiet accounts: older than N days, not signed in since, no personal key
// used since. An account never seen counts from its creation.
func TestQuietAccounts(t *testing.T) {
	e, sys, admin := usersEnv(t)
	ctx := context.Background()
	orgWithAdmin(t, e, sys, "beta", "admin@beta.edu")
	for _, email := range []string{"old@acme.edu", "keyuser@acme.edu", "seen@acme.edu"} {
		if _, err := e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: email, Name: "U", Password: "password-9"}); err != nil {
			t.Fatal(err)
		}
	}
	e.now = e.now.AddDate(0, 0, 40)
	if _, err := e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: "new@acme.edu", Name: "U", Password: "password-9"}); err != nil {
		t.Fatal(err)
	}
	// seen@ signs in today; keyuser@'s personal key is used today.
	seen, _ := e.st.UserByEmail(ctx, "seen@acme.edu")
	if err := e.st.TouchUser(ctx, seen.ID); err != nil {
		t.Fatal(err)
	}
	ku, _ := e.st.UserByEmail(ctx, "keyuser@acme.edu")
	k, err := e.st.CreateAPIKey(ctx, store.APIKey{OrganizationID: ku.OrganizationID, UserID: ku.ID, Name: "k", Prefix: "lamb_x", Hash: "hq"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.TouchAPIKey(ctx, k.ID, e.now); err != nil {
		t.Fatal(err)
	}
	emails := func(q UserQuery) string {
		t.Helper()
		p, err := e.svc.ListUsers(ctx, admin, q, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range p.Items {
			out = append(out, u.Email)
		}
		if p.Total != len(out) {
			t.Errorf("total %d for %d listed", p.Total, len(out))
		}
		return strings.Join(out, " ")
	}
	// The admin signed in at the start (40 days ago): quiet too.
	if got := emails(UserQuery{QuietDays: 30}); got != "admin@acme.edu old@acme.edu" {
		t.Errorf("quiet for 30 days: %q", got)
	}
	if got := emails(UserQuery{QuietDays: 41}); got != "" {
		t.Errorf("quiet for 41 days: %q", got)
	}
	if got := emails(UserQuery{QuietDays: 30, Query: "old"}); got != "old@acme.edu" {
		t.Errorf("quiet and filtered: %q", got)
	}
	// A system admin across orgs sees beta's quiet admin too; acme's admin never does.
	p, err := e.svc.ListUsers(ctx, sys, UserQuery{QuietDays: 30}, 0, 100)
	if err != nil || !strings.Contains(usersText(p), "admin@beta.edu") {
		t.Errorf("system admin's quiet users: %s, %v", usersText(p), err)
	}
	if strings.Contains(emails(UserQuery{QuietDays: 1}), "beta") {
		t.Error("acme's admin lists beta's users")
	}
	for _, bad := range []int{-1, maxUsageDays + 1} {
		_, err := e.svc.ListUsers(ctx, admin, UserQuery{QuietDays: bad}, 0, 10)
		wantInvalidSays(t, err, "quiet", "number of days")
	}
}

func usersText(p Page[User]) string {
	var out []string
	for _, u := range p.Items {
		out = append(out, u.Email)
	}
	return strings.Join(out, " ")
}
