package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// signInEnv is acme with admin@acme.edu (password "password-1") and a
// member m@acme.edu (password "member-pass-1") who has no key yet.
func signInEnv(t *testing.T) (*testEnv, Actor) {
	t.Helper()
	e, sys, admin := usersEnv(t)
	if _, err := e.svc.CreateUser(context.Background(), admin, CreateUserInput{OrgSlug: "acme",
		Email: "m@acme.edu", Name: "M", Password: "member-pass-1"}); err != nil {
		t.Fatal(err)
	}
	return e, sys
}

func TestSignInLinksKey(t *testing.T) {
	e, _ := signInEnv(t)
	ctx := context.Background()
	line, fp := newKey(t, "m@laptop")
	if _, err := e.svc.ActorForSSHKey(ctx, fp); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown key before sign-in: %v", err)
	}
	a, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: " M@Acme.edu ", Password: "member-pass-1"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Role != RoleMember || a.Email != "m@acme.edu" || a.OrgSlug != "acme" || a.Via != fp {
		t.Fatalf("actor = %+v", a)
	}
	got, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil || got.UserID != a.UserID || got.Role != RoleMember {
		t.Fatalf("linked key signs in as %+v, %v", got, err)
	}
	ev := e.lastAudit(t, "sshkey.link")
	if ev.Target != "m@acme.edu" || ev.ActorUserID != a.UserID || !strings.Contains(ev.Details, fp) ||
		strings.Contains(ev.Details, "member-pass") || ev.OrganizationID != e.mustOrg(t, "acme").ID {
		t.Fatalf("sshkey.link audit = %+v", ev)
	}
	keys, err := e.svc.ListSSHKeys(ctx, a, "")
	if err != nil || len(keys) != 1 || keys[0].Comment != "m@laptop" {
		t.Fatalf("keys after sign-in = %+v, %v", keys, err)
	}
	// A bad key line is refused before anything else.
	_, err = e.svc.SignIn(ctx, SignInInput{Key: "garbage", Email: "m@acme.edu", Password: "member-pass-1"})
	wantInvalid(t, err, "ssh_key")
}

func TestSignInSameAnswerForUnknownEmailAndWrongPassword(t *testing.T) {
	e, _ := signInEnv(t)
	ctx := context.Background()
	var errs []error
	for _, c := range []struct{ email, password string }{
		{"m@acme.edu", "wrong-password"},
		{"nobody@acme.edu", "member-pass-1"},
		{"not an email", "x"},
		{"m@acme.edu", ""},
	} {
		line, _ := newKey(t, "")
		_, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: c.email, Password: c.password})
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("%s: %v, want ErrBadCredentials", c.email, err)
		}
		errs = append(errs, err)
	}
	for _, err := range errs[1:] {
		if err.Error() != errs[0].Error() {
			t.Fatalf("answers differ: %q vs %q", errs[0], err)
		}
	}
	if n := e.auditCount(t, "sshkey.link"); n != 0 {
		t.Fatalf("failed sign-ins linked %d keys", n)
	}
}

// A key that fails 5 times is paused for the window, even with the right
// password on the 6th try.
func TestSignInThrottlePerKey(t *testing.T) {
	e, _ := signInEnv(t)
	ctx := context.Background()
	line, fp := newKey(t, "")
	// Spread over several emails, so that only the key's count reaches 5.
	emails := []string{"m@acme.edu", "admin@acme.edu", "x@acme.edu", "y@acme.edu", "z@acme.edu"}
	for i, email := range emails {
		if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: email, Password: "wrong-password"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
		e.now = e.now.Add(time.Minute)
	}
	_, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "m@acme.edu", Password: "member-pass-1"})
	var te *ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("6th try with the right password: %v, want *ThrottledError", err)
	}
	// The first failure was 5 minutes ago: 10 minutes left.
	if te.RetryAfter != 10*time.Minute {
		t.Errorf("retry after %s, want 10m", te.RetryAfter)
	}
	if !strings.Contains(te.Error(), "10 minutes") {
		t.Errorf("message %q doesn't say when", te)
	}
	if _, err := e.svc.ActorForSSHKey(ctx, fp); !errors.Is(err, ErrNotFound) {
		t.Fatal("a throttled sign-in linked the key")
	}
	// The same email from another key is not paused (it failed only once).
	other, _ := newKey(t, "")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: other, Email: "m@acme.edu", Password: "member-pass-1"}); err != nil {
		t.Fatalf("another key: %v", err)
	}

	// Just before the window ends the key is still paused; at its end, it may try again.
	e.now = e.now.Add(10*time.Minute - time.Second)
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "admin@acme.edu", Password: "password-1"}); !errors.As(err, &te) {
		t.Fatalf("1s before the window ends: %v", err)
	}
	e.now = e.now.Add(time.Second)
	a, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "admin@acme.edu", Password: "password-1"})
	if err != nil || a.Email != "admin@acme.edu" {
		t.Fatalf("after the window: %+v, %v", a, err)
	}
}

// An email that fails 5 times, from 5 different keys, is paused for every key.
func TestSignInThrottlePerEmail(t *testing.T) {
	e, _ := signInEnv(t)
	ctx := context.Background()
	for i := range 5 {
		line, _ := newKey(t, "")
		// Case and spaces don't make a different email.
		email := []string{"m@acme.edu", "M@acme.edu", " m@acme.edu", "m@ACME.edu", "m@acme.edu "}[i]
		if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: email, Password: "wrong-password"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	fresh, _ := newKey(t, "")
	_, err := e.svc.SignIn(ctx, SignInInput{Key: fresh, Email: "m@acme.edu", Password: "member-pass-1"})
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != 15*time.Minute {
		t.Fatalf("fresh key, right password: %v, want *ThrottledError for 15m", err)
	}
	// Other accounts are unaffected.
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: fresh, Email: "admin@acme.edu", Password: "password-1"}); err != nil {
		t.Fatalf("another email: %v", err)
	}
	// Unknown emails are throttled the same way, so throttling tells nothing either.
	for range 5 {
		if _, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: "ghost@acme.edu", Password: "guess"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: "ghost@acme.edu", Password: "guess"}); !errors.As(err, &te) {
		t.Fatalf("unknown email after 5 failures: %v, want *ThrottledError", err)
	}
	// After the window the right password works again.
	e.now = e.now.Add(15 * time.Minute)
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: "m@acme.edu", Password: "member-pass-1"}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// freshKey returns a key line no account holds.
func freshKey(t *testing.T) string {
	t.Helper()
	line, _ := newKey(t, "")
	return line
}

// A success clears the failures counted so far.
func TestSignInSuccessResetsThrottle(t *testing.T) {
	e, _ := signInEnv(t)
	ctx := context.Background()
	for range 4 {
		if _, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: "m@acme.edu", Password: "wrong-password"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: "m@acme.edu", Password: "member-pass-1"}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := e.svc.SignIn(ctx, SignInInput{Key: freshKey(t), Email: "m@acme.edu", Password: "wrong-password"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("counted from before the success: %v", err)
		}
	}
}

// A disabled account (or a suspended org) is told so only to whoever knows
// the password: a wrong one gets the usual answer.
func TestSignInDisabledAndSuspended(t *testing.T) {
	e, sys := signInEnv(t)
	ctx := context.Background()
	if _, err := e.svc.SetUserEnabled(ctx, sys, "m@acme.edu", false); err != nil {
		t.Fatal(err)
	}
	line, fp := newKey(t, "")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "m@acme.edu", Password: "wrong-password"}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("disabled, wrong password: %v, want ErrBadCredentials", err)
	}
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "m@acme.edu", Password: "member-pass-1"}); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled, right password: %v, want ErrDisabled", err)
	}
	if _, err := e.svc.ActorForSSHKey(ctx, fp); !errors.Is(err, ErrNotFound) {
		t.Fatal("a disabled user's sign-in linked the key")
	}
	if _, err := e.svc.SetUserEnabled(ctx, sys, "m@acme.edu", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetOrgSuspended(ctx, sys, "acme", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "m@acme.edu", Password: "wrong-password"}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("suspended, wrong password: %v", err)
	}
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "m@acme.edu", Password: "member-pass-1"}); !errors.Is(err, ErrOrgSuspended) {
		t.Fatalf("suspended, right password: %v, want ErrOrgSuspended", err)
	}
	if n := e.auditCount(t, "sshkey.link"); n != 0 {
		t.Fatalf("%d keys linked", n)
	}
	// A user without a password (key-only) can't be signed in to at all.
	userWithKey(t, e, sys, SystemSlug, "keyonly@lamb.local", "member", "")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "keyonly@lamb.local", Password: ""}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("empty password on a key-only account: %v", err)
	}
}
