package sshserver

import (
	"fmt"
	"strings"
	"testing"

	"lamb/config"
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

// Attack: credentials inside a provider's base_url were printed by org
// config get like any URL. They are masked, and the masked document
// written back keeps them.
func TestBaseURLCredentialsAreMaskedAndSealed(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	const secret = "base-pass-7781"
	doc := `{"version":1,"active_setup":"default","setups":{"default":{"providers":{"openai":
		{"enabled":true,"base_url":"https://svc:` + secret + `@llm.acme.edu/v1","models":["gpt-4o-mini"]}}}}}`
	e.run(t, e.acmeAdmin, doc, "org", "config", "set", "acme").wantOK(t)
	masked := e.run(t, e.acmeAdmin, "", "org", "config", "get", "acme").wantOK(t).stdout
	if strings.Contains(masked, secret) || !strings.Contains(masked, "https://svc:…@llm.acme.edu/v1") {
		t.Fatalf("org config get:\n%s", masked)
	}
	if r := e.run(t, e.acmeAdmin, masked, "org", "config", "set", "acme").wantOK(t); r.stdout != "No changes.\n" {
		t.Fatalf("writing back the masked config: %q", r.stdout)
	}
	if r := e.run(t, e.admin, "", "org", "config", "get", "acme", "--with-secrets").wantOK(t); !strings.Contains(r.stdout, secret) {
		t.Fatalf("the secret was lost:\n%s", r.stdout)
	}
}

// Attack: org config get --with-secrets handed an org created with
// --copy-system-providers the platform's provider key.
func TestCopiedSystemKeyIsNotRevealedToOrgAdmin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	platformKey := "sk-platform-0123456789abcdef"
	ts.setSystemEnv(config.System{OpenAIAPIKey: &platformKey, OpenAIModels: &[]string{"gpt-4o-mini"}})
	ts.run(t, ts.admin, "", "org", "sync-system").wantOK(t)
	ts.run(t, ts.admin, "", "org", "create", "gamma", "--name", "Gamma", "--copy-system-providers").wantOK(t)
	gammaAdmin := ts.userWithKey(t, "gamma", "admin@gamma.edu", "admin")
	r := ts.run(t, gammaAdmin, "", "org", "config", "get", "gamma", "--with-secrets").wantOK(t)
	if strings.Contains(r.stdout, platformKey) || !strings.Contains(r.stdout, `"api_key_source": "system"`) {
		t.Fatalf("org admin's config get --with-secrets:\n%s", r.stdout)
	}
	ts.run(t, gammaAdmin, "", "org", "export", "gamma", "--with-secrets").wantFail(t, 1, "permission denied")
	if r := ts.run(t, ts.admin, "", "org", "config", "get", "gamma", "--with-secrets").wantOK(t); !strings.Contains(r.stdout, platformKey) {
		t.Fatalf("system admin's config get --with-secrets:\n%s", r.stdout)
	}
}
