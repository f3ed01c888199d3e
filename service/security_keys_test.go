package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/store"
)

// Regression tests of the uniqueness oracles: signup keys, emails and SSH
// keys are unique across all orgs, and the refusals of duplicates told org
// admins what other orgs held.

const victimKey = "Vx7-acme-Q2pL9tRz" // acme's strong signup key

// acmeWithSignup gives acme a signup key and turns signup on.
func acmeWithSignup(t *testing.T, oe *orgAdminEnv) {
	t.Helper()
	ctx := context.Background()
	if _, err := oe.svc.SetSignupKey(ctx, oe.sys, "acme", victimKey); err != nil {
		t.Fatal(err)
	}
	if _, err := oe.svc.SetSignupEnabled(ctx, oe.sys, "acme", true); err != nil {
		t.Fatal(err)
	}
}

// guess returns the i-th strong key an attacker tries.
func guess(i int) string { return fmt.Sprintf("Guess-%03d-kQ7wZr", i) }

// Attack: beta's admin ran signup set-key with guess after guess; "in use
// elsewhere" marked a hit, 200 guesses took 3.5 s. Now the 11th attempt in
// an hour is refused whatever the key, the victim's included, and says when
// to retry; an hour later attempts are allowed again.
func TestSignupKeyGuessingBySetKeyIsRateLimited(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	acmeWithSignup(t, oe)
	for i := range signupKeySetsPerHour {
		if _, err := e.svc.SetSignupKey(ctx, oe.beta, "beta", guess(i)); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, err := e.svc.SetSignupKey(ctx, oe.beta, "beta", victimKey)
	if !errors.Is(err, ErrRateLimited) || errors.Is(err, ErrConflict) {
		t.Fatalf("11th attempt with the victim's key: %v, want ErrRateLimited and no conflict", err)
	}
	if !strings.Contains(err.Error(), "try again in 60 minutes") {
		t.Fatalf("the answer doesn't say when to retry: %v", err)
	}
	ev := e.lastAudit(t, "signup_key.set_refused")
	if ev.OrganizationID != e.mustOrg(t, "beta").ID || !strings.Contains(ev.Details, `"reason":"rate_limited"`) || strings.Contains(ev.Details, victimKey) {
		t.Fatalf("refused attempt audited as %+v", ev)
	}
	// Another org's admin has their own allowance; a system admin has none
	// to spend (they can read every key anyway).
	for i := range signupKeySetsPerHour + 2 {
		if _, err := e.svc.SetSignupKey(ctx, oe.sys, "beta", guess(100+i)); err != nil {
			t.Fatalf("system admin, attempt %d: %v", i, err)
		}
	}
	e.now = e.now.Add(signupKeySetWindow)
	if _, err := e.svc.SetSignupKey(ctx, oe.beta, "beta", guess(50)); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

// Attack: chosen keys like "acme2026" are guessed long before any limit
// matters. Every way a person chooses a key (set-key, org create, org
// import) requires a strong one and says the rule; stored keys and the
// environment's key keep working.
func TestWeakChosenSignupKeyRefused(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	weak := []string{
		"acme2026",           // the old minimum: 8 characters
		"acme-fall-2026",     // 14 characters
		"aaaaaaaaaaaaaaaaaa", // one character
		"abababab-abababab",  // three different characters
		"Xq7-abcd-Lm9-Zt2w",  // a run: abcd
		"Xq7-4321-Lm9-Zt2w",  // a run: 4321
		"Xq7-zzzz-Lm9-Vt2w",  // a run: zzzz
	}
	for _, k := range weak {
		_, err := e.svc.SetSignupKey(ctx, oe.sys, "acme", k)
		wantInvalidSays(t, err, "signup_key", "16 characters", "8 of them different", "signup rotate")
		_, err = e.svc.CreateOrg(ctx, oe.sys, CreateOrgInput{Slug: "gamma", Name: "Gamma", SignupKey: k})
		wantInvalidSays(t, err, "signup_key", "16 characters")
		ex := Export{Version: ExportVersion, Organization: ExportOrg{Slug: "delta", Name: "Delta"},
			Config: config.NewOrg().JSON(), Signup: ExportSignup{Key: k}}
		_, err = e.svc.ImportOrg(ctx, oe.sys, ex, ImportOptions{DryRun: true})
		wantInvalidSays(t, err, "signup.key", "16 characters")
	}
	if _, err := e.svc.SetSignupKey(ctx, oe.acme, "acme", "Xq7-Lm9-Zt2w-Rb4k"); err != nil {
		t.Fatalf("a strong key: %v", err)
	}

	// A weak key stored before the rule still signs people up.
	acme := e.mustOrg(t, "acme")
	if err := e.svc.setSignupKey(ctx, e.st.Queries, acme.ID, "acme2026"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetSignupEnabled(ctx, oe.acme, "acme", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Signup(ctx, SignupInput{Email: "old@acme.edu", Name: "Old", Password: "password-1",
		SignupKey: "acme2026", RemoteAddr: "192.0.2.1:1"}); err != nil {
		t.Fatalf("signup with a stored weak key: %v", err)
	}

	// SIGNUP_SECRET_KEY is the system admin's choice: weak, it is kept and
	// every start warns.
	var logged bytes.Buffer
	e.svc.log = slog.New(slog.NewTextHandler(&logged, nil))
	on, legacy := true, "lambsignup"
	if _, err := e.svc.SyncSystemOrg(ctx, SystemActor(), config.System{SignupEnabled: &on, SignupSecretKey: &legacy}); err != nil {
		t.Fatalf("weak SIGNUP_SECRET_KEY refused: %v", err)
	}
	if !strings.Contains(logged.String(), "SIGNUP_SECRET_KEY is easy to guess") || strings.Contains(logged.String(), legacy) {
		t.Fatalf("no warning (or the key) in the log: %q", logged.String())
	}
}

// Attack: the collision answer was the oracle and nobody saw it. It is now
// worded like any unusable key and audited in the org that tried it,
// without the key.
func TestSetKeyCollisionIsAudited(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	acmeWithSignup(t, oe)
	_, err := e.svc.SetSignupKey(ctx, oe.beta, "beta", victimKey)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("acme's key set in beta: %v, want ErrConflict", err)
	}
	if msg := strings.ToLower(err.Error()); strings.Contains(msg, "in use") || strings.Contains(msg, "acme") ||
		!strings.Contains(msg, "choose another key") {
		t.Fatalf("collision answer %q", err)
	}
	ev := e.lastAudit(t, "signup_key.set_refused")
	if ev.OrganizationID != e.mustOrg(t, "beta").ID || ev.ActorUserID != oe.beta.UserID ||
		!strings.Contains(ev.Details, `"reason":"in_use"`) || strings.Contains(ev.Details, victimKey) {
		t.Fatalf("collision audited as %+v", ev)
	}
	// A weak key is refused and audited too.
	if _, err := e.svc.SetSignupKey(ctx, oe.beta, "beta", "beta2026"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("weak key: %v", err)
	}
	if ev := e.lastAudit(t, "signup_key.set_refused"); !strings.Contains(ev.Details, `"reason":"invalid"`) {
		t.Fatalf("weak key audited as %+v", ev)
	}
	if s, _ := e.svc.SignupInfo(ctx, oe.beta, "beta", false); s.HasKey {
		t.Fatal("a refused key was stored")
	}
}

// Attack: a signup with another org's key didn't show where it mattered.
// It is audited in the org the account lands in, with where it came from.
func TestSignupIntoOrgIsAuditedInThatOrg(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	acmeWithSignup(t, oe)
	if _, err := e.svc.Signup(ctx, SignupInput{Email: "intruder@example.org", Name: "In Truder", Password: "password-1",
		SignupKey: victimKey, RemoteAddr: "203.0.113.7:4242"}); err != nil {
		t.Fatal(err)
	}
	evs, err := e.svc.ListAudit(ctx, oe.acme, AuditQuery{Org: "acme", Since: e.now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Action == "user.signup" && ev.Target == "intruder@example.org" {
			if !strings.Contains(fmt.Sprint(ev.Details), "203.0.113.7") {
				t.Fatalf("signup audited without its source: %+v", ev)
			}
			return
		}
	}
	t.Fatalf("the signup is not in acme's audit: %+v", evs)
}

// Attack: user create answered "already registered" for an address of
// another org, while user show answered "not found".
func TestUserCreateDoesNotConfirmOtherOrgsEmail(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	userWithKey(t, e, oe.sys, "acme", "alice@acme.edu", "member", "")
	create := func(a Actor, org, email string) error {
		line, _ := newKey(t, "")
		_, err := e.svc.CreateUser(ctx, a, CreateUserInput{OrgSlug: org, Email: email, Name: "X", SSHKey: line})
		return err
	}
	err := create(oe.beta, "beta", "alice@acme.edu")
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("acme's address created in beta: %v, want ErrConflict", err)
	}
	if msg := err.Error(); strings.Contains(msg, "alice") || strings.Contains(msg, "registered") ||
		strings.Contains(msg, "acme") || !strings.Contains(msg, "can't be used for a new account") {
		t.Fatalf("beta's admin is told %q", msg)
	}
	// Those who may see the account get the precise answer.
	for _, a := range []Actor{oe.sys, oe.acme} {
		if err := create(a, "acme", "alice@acme.edu"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "already registered") {
			t.Fatalf("%s: %v, want the precise answer", a.Email, err)
		}
	}
	if n := e.count(t, `SELECT COUNT(*) FROM users WHERE email = 'alice@acme.edu'`); n != 1 {
		t.Fatalf("%d accounts for one address", n)
	}
}

// Attack: sshkey add answered "already linked to an account" for a key of
// another org, naming its fingerprint.
func TestSSHKeyAddDoesNotConfirmOtherOrgsKey(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	alice, _ := userWithKey(t, e, oe.sys, "acme", "alice@acme.edu", "member", "")
	line, fp := newKey(t, "alice")
	if _, err := e.svc.AddSSHKey(ctx, alice, "", line); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.AddSSHKey(ctx, oe.beta, "", line)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("acme's key added in beta: %v, want ErrConflict", err)
	}
	if msg := err.Error(); strings.Contains(msg, fp) || strings.Contains(msg, "linked") || !strings.Contains(msg, "can't be added") {
		t.Fatalf("beta's admin is told %q", msg)
	}
	// At signup creation too.
	_, err = e.svc.CreateUser(ctx, oe.beta, CreateUserInput{OrgSlug: "beta", Email: "bob@beta.edu", Name: "Bob", SSHKey: line})
	if !errors.Is(err, ErrConflict) || strings.Contains(err.Error(), fp) {
		t.Fatalf("user create with acme's key: %v", err)
	}
	for _, a := range []Actor{oe.sys, oe.acme, alice} {
		email := "alice@acme.edu"
		if a.UserID == alice.UserID {
			email = ""
		}
		if _, err := e.svc.AddSSHKey(ctx, a, email, line); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), fp) {
			t.Fatalf("%s: %v, want the precise answer", a.Email, err)
		}
	}
}

// Attack: with unlimited "already used" answers an org admin could test
// addresses or keys at will. After 20 in 10 minutes every user create and
// sshkey add of that person is refused — also one that would succeed, which
// would otherwise answer what the refusal hides — until the window passes.
func TestUniquenessProbingIsRateLimited(t *testing.T) {
	ctx := context.Background()
	oe := newOrgAdminEnv(t, config.System{})
	e := oe.testEnv
	create := func(a Actor, org, email string) error {
		line, _ := newKey(t, "")
		_, err := e.svc.CreateUser(ctx, a, CreateUserInput{OrgSlug: org, Email: email, Name: "X", SSHKey: line})
		return err
	}
	// Successes don't count.
	for i := range 3 {
		if err := create(oe.beta, "beta", fmt.Sprintf("new%d@beta.edu", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range uniquenessProbes {
		if err := create(oe.beta, "beta", "admin@acme.edu"); !errors.Is(err, ErrConflict) {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
	err := create(oe.beta, "beta", "fresh@beta.edu")
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "try again in 10 minutes") {
		t.Fatalf("after %d probes: %v, want ErrRateLimited saying when", uniquenessProbes, err)
	}
	line, _ := newKey(t, "")
	if _, err := e.svc.AddSSHKey(ctx, oe.beta, "", line); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("sshkey add after the probes: %v", err)
	}
	if _, err := e.st.UserByEmail(ctx, "fresh@beta.edu"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a refused create wrote the user")
	}
	// Others aren't held back; a system admin has no limit.
	if err := create(oe.acme, "acme", "fresh@acme.edu"); err != nil {
		t.Fatal(err)
	}
	for range uniquenessProbes + 1 {
		if err := create(oe.sys, "acme", "admin@beta.edu"); !errors.Is(err, ErrConflict) {
			t.Fatalf("system admin: %v", err)
		}
	}
	e.now = e.now.Add(uniquenessWindow)
	if err := create(oe.beta, "beta", "fresh@beta.edu"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}
