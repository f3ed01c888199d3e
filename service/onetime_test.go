package service

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A generated password once linked two different SSH keys to the account
// and stayed valid forever. It is good for one sign-in, expires, and the
// session it opens chooses a password first.
func TestOneTimePasswordWorksOnceAndExpires(t *testing.T) {
	e, _, admin := usersEnv(t)
	ctx := context.Background()
	res, err := e.svc.CreateUser(ctx, admin, CreateUserInput{OrgSlug: "acme", Email: "new@acme.edu", Name: "New"})
	if err != nil || res.Password == "" {
		t.Fatalf("create without password: %v %+v", err, res)
	}
	first, _ := newKey(t, "laptop")
	a, err := e.svc.SignIn(ctx, SignInInput{Key: first, Email: "new@acme.edu", Password: res.Password, RemoteAddr: "192.0.2.1:1"})
	if err != nil || !a.MustChoosePassword {
		t.Fatalf("first sign-in: %+v %v", a, err)
	}
	second, _ := newKey(t, "someone else")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: second, Email: "new@acme.edu", Password: res.Password, RemoteAddr: "192.0.2.2:1"}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("second sign-in with the same one-time password: %v", err)
	}
	// The key it linked still opens a session that must choose first; no
	// old password is asked for.
	again, err := e.svc.ActorForSSHKey(ctx, a.Via)
	if err != nil || !again.MustChoosePassword {
		t.Fatalf("the linked key's next session: %+v %v", again, err)
	}
	if err := e.svc.ChangePassword(ctx, again, "", "chosen-password-1"); err != nil {
		t.Fatal(err)
	}
	if after, _ := e.svc.ActorForSSHKey(ctx, a.Via); after.MustChoosePassword {
		t.Fatal("still asked to choose after choosing")
	}

	// A reset's one-time password expires after OneTimePasswordValidity.
	pw, err := e.svc.ResetPassword(ctx, admin, "new@acme.edu", "")
	if err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(OneTimePasswordValidity + time.Minute)
	late, _ := newKey(t, "late")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: late, Email: "new@acme.edu", Password: pw, RemoteAddr: "192.0.2.3:1"}); !errors.Is(err, ErrOneTimeExpired) {
		t.Fatalf("expired one-time password: %v", err)
	}
	// A password the user chose is no one-time password.
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: late, Email: "new@acme.edu", Password: "chosen-password-1", RemoteAddr: "192.0.2.3:1"}); err == nil {
		t.Fatal("the chosen password still works after a reset")
	}
}

// "Last seen" once said never for users who came in through the sign-in
// screen (or the claim code): every way in records it, and the key's use.
func TestSignInRecordsLastSeen(t *testing.T) {
	e, _ := signInEnv(t)
	ctx := context.Background()
	line, fp := newKey(t, "laptop")
	if _, err := e.svc.SignIn(ctx, SignInInput{Key: line, Email: "m@acme.edu", Password: "member-pass-1", RemoteAddr: "192.0.2.1:1"}); err != nil {
		t.Fatal(err)
	}
	u := e.mustUser(t, "m@acme.edu")
	k, err := e.st.SSHKeyByFingerprint(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	if u.LastSeenAt.IsZero() || k.LastUsedAt.IsZero() {
		t.Fatalf("after the sign-in screen: user last seen %v, key last used %v", u.LastSeenAt, k.LastUsedAt)
	}
}
