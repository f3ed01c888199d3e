package sshserver

import (
	"fmt"
	"strings"
	"testing"
)

// Attack: signup set-key over SSH answered "in use" for another org's key,
// so a script could guess keys. Over the real transport the 11th attempt in
// an hour is refused with when to retry (a person's error, exit 1, not an
// internal one), and a collision says nothing about who holds the key.
func TestSignupKeyGuessingBySetKeyIsRateLimited(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	const victim = "Vx7-acme-Q2pL9tRz"
	e.run(t, e.acmeAdmin, "", "signup", "set-key", victim).wantOK(t)
	r := e.run(t, e.globexAdmin, "", "signup", "set-key", victim).wantFail(t, 1, "signup_key:", "choose another key")
	if strings.Contains(r.stderr, "acme") || strings.Contains(r.stderr, "in use") {
		t.Fatalf("collision answer %q", r.stderr)
	}
	for i := range 9 {
		e.run(t, e.globexAdmin, "", "signup", "set-key", fmt.Sprintf("Guess-%03d-kQ7wZr", i)).wantOK(t)
	}
	e.run(t, e.globexAdmin, "", "signup", "set-key", victim).wantFail(t, 1, "too many signup key changes; try again in 60 minutes")
	r = e.run(t, e.globexAdmin, "", "audit").wantOK(t)
	if strings.Count(r.stdout, "signup_key.set_refused") != 2 {
		t.Fatalf("globex's audit of refused attempts:\n%s", r.stdout)
	}
}

// Attack: user create and sshkey add over SSH confirmed another org's
// address or key.
func TestUserCreateDoesNotConfirmOtherOrgsEmail(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.globexAdmin, "", "user", "create", "--org", "globex", "--email", acmeMemberEmail, "--name", "X").
		wantFail(t, 1, "email: can't be used for a new account")
	if strings.Contains(r.stderr, acmeMemberEmail) || strings.Contains(r.stderr, "registered") {
		t.Fatalf("globex's admin is told %q", r.stderr)
	}
}
