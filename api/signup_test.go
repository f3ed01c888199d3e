package api

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lamb/config"
	"lamb/service"
)

const testPassword = "correct horse battery"

// signupFields is a valid signup into testOrgSlug.
func signupFields(email string) map[string]any {
	return map[string]any{"email": email, "name": "Ada Lovelace", "password": testPassword, "signup_key": testSignupKey}
}

func with(fields map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range fields {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestSignupJSONCreatesMember(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	line, fp := newSSHKey(t, "ada@laptop")
	// Unknown fields are ignored (DESIGN §7); email and name are trimmed,
	// the email lower-cased.
	r := e.signup(t, map[string]any{"email": "  Ada.Lovelace@Example.ORG ", "name": " Ada Lovelace ", "password": testPassword,
		"signup_key": testSignupKey, "ssh_public_key": line, "newsletter": true})
	if r.status != http.StatusCreated {
		t.Fatalf("status = %d, want 201; body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got struct{ ID int64 }
	if err := json.Unmarshal(r.body, &got); err != nil || got.ID <= 0 {
		t.Fatalf("body %s: id %d, %v", r.body, got.ID, err)
	}
	want := fmt.Sprintf(`{"id":%d,"email":"ada.lovelace@example.org","name":"Ada Lovelace","organization":{"slug":"acme","name":"Acme University"},"role":"member"}`+"\n", got.ID)
	if string(r.body) != want {
		t.Fatalf("body =\n%s\nwant\n%s", r.body, want)
	}

	// Stored: in acme, a plain enabled member, the password as an argon2id
	// hash that doesn't hold it.
	var (
		id                   int64
		slug, role, pwHash   string
		systemAdmin, enabled bool
	)
	err := e.db(t).QueryRow(`SELECT u.id, o.slug, u.role, u.system_admin, u.enabled, u.password_hash
		FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.email = ?`, "ada.lovelace@example.org").
		Scan(&id, &slug, &role, &systemAdmin, &enabled, &pwHash)
	if err != nil {
		t.Fatalf("stored user: %v", err)
	}
	if id != got.ID || slug != testOrgSlug || role != "member" || systemAdmin || !enabled {
		t.Fatalf("stored user = id %d org %s role %s system_admin %v enabled %v", id, slug, role, systemAdmin, enabled)
	}
	if !strings.HasPrefix(pwHash, "$argon2id$") || strings.Contains(pwHash, testPassword) {
		t.Fatalf("password_hash = %q: want an argon2id hash without the password", pwHash)
	}

	// The SSH key given at signup signs in as the new member.
	a, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		t.Fatalf("the key given at signup: %v", err)
	}
	if a.UserID != got.ID || a.OrgSlug != testOrgSlug || a.Role != service.RoleMember || a.Email != "ada.lovelace@example.org" {
		t.Fatalf("actor of the signup key = %+v", a)
	}

	// Audited in the org, by the new user.
	evs := e.audit(t, testOrgSlug, "user.signup")
	if len(evs) != 1 {
		t.Fatalf("user.signup events in acme = %d, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Target != "ada.lovelace@example.org" || ev.ActorUserID != got.ID || ev.Actor != "ada.lovelace@example.org" ||
		!strings.Contains(ev.Details, `"ssh_key":true`) {
		t.Fatalf("user.signup event = %+v", ev)
	}
	if n := len(e.audit(t, testOrgSlug, "sshkey.add")); n != 1 {
		t.Fatalf("sshkey.add events in acme = %d, want 1", n)
	}
	if n := len(e.audit(t, service.SystemSlug, "user.signup")); n != 0 {
		t.Fatalf("user.signup events in lamb = %d, want 0", n)
	}
}

// TestSignupKeyStoredAsKeyedHash: the org row holds neither the key in
// clear nor anything that matches another spelling of it.
func TestSignupKeyStoredAsKeyedHash(t *testing.T) {
	e := newTestEnv(t)
	var hash, enc string
	if err := e.db(t).QueryRow(`SELECT signup_key_hash, signup_key_enc FROM organizations WHERE slug = ?`, testOrgSlug).Scan(&hash, &enc); err != nil {
		t.Fatal(err)
	}
	if hash == "" || strings.Contains(hash, testSignupKey) || strings.Contains(enc, testSignupKey) {
		t.Fatalf("signup key stored as hash %q, enc %q: want neither to hold the key", hash, enc)
	}
	r := e.signup(t, with(signupFields("case@example.org"), "signup_key", strings.ToUpper(testSignupKey)))
	wantError(t, r, http.StatusForbidden, "permission_error", "signup_denied")
	// Surrounding spaces (a pasted key) are not part of it.
	r = e.signup(t, with(signupFields("space@example.org"), "signup_key", " "+testSignupKey+"\n"))
	if r.status != http.StatusCreated {
		t.Fatalf("key with surrounding spaces: %d %s", r.status, r.body)
	}
}

func TestSignupJSONInvalidFieldsNameTheField(t *testing.T) {
	e := newTestEnv(t)
	key1, _ := newSSHKey(t, "one")
	key2, _ := newSSHKey(t, "two")
	base := signupFields("grace@example.org")
	cases := []struct {
		name   string
		fields map[string]any
		field  string
	}{
		{"bad email", with(base, "email", "not-an-email"), "email"},
		{"email with a display name", with(base, "email", "Grace <grace@example.org>"), "email"},
		{"email without a dot in the domain", with(base, "email", "grace@localhost"), "email"},
		{"no email", with(base, "email", nil), "email"},
		{"blank name", with(base, "name", "   "), "name"},
		{"name of 101 characters", with(base, "name", strings.Repeat("é", 101)), "name"},
		{"name with a control character", with(base, "name", "Grace\x07"), "name"},
		{"password of 7 characters", with(base, "password", "1234567"), "password"},
		{"no password", with(base, "password", nil), "password"},
		{"not an ssh key", with(base, "ssh_public_key", "ssh-ed25519 not-base64"), "ssh_public_key"},
		{"a private key", with(base, "ssh_public_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----"), "ssh_public_key"},
		{"two ssh keys", with(base, "ssh_public_key", key1+"\n"+key2), "ssh_public_key"},
		{"no signup key", with(base, "signup_key", nil), "signup_key"},
		{"blank signup key", with(base, "signup_key", "  "), "signup_key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.nextWindow()
			msg := wantError(t, e.signup(t, c.fields), http.StatusBadRequest, "invalid_request_error", "invalid_request_error")
			if !strings.HasPrefix(msg, c.field+": ") {
				t.Fatalf("message %q doesn't name the field %s", msg, c.field)
			}
		})
	}
	if n := e.countUsers(t, ""); n != 1 {
		t.Fatalf("users = %d after refused signups, want only the system admin", n)
	}
	if n := len(e.audit(t, testOrgSlug, "user.signup")); n != 0 {
		t.Fatalf("user.signup events = %d after refused signups", n)
	}

	// The bounds themselves are allowed: a name of 100 characters, a
	// password of 8.
	e.nextWindow()
	r := e.signup(t, with(base, "name", strings.Repeat("é", 100), "password", "12345678"))
	if r.status != http.StatusCreated {
		t.Fatalf("name of 100, password of 8: %d %s", r.status, r.body)
	}
}

// TestSignupJSONDeniedIsOneAnswer: an unknown key, a key of an org with
// signup off and a key of a suspended org get the very same answer, so
// keys can't be probed.
func TestSignupJSONDeniedIsOneAnswer(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.createOrg(t, "closed", "Closed College", "closed-signup-key", false)
	e.createOrg(t, "frozen", "Frozen Institute", "frozen-signup-key", true)
	if _, err := e.svc.SetOrgSuspended(ctx, e.admin, "frozen", true); err != nil {
		t.Fatal(err)
	}
	var first []byte
	deny := func(t *testing.T, key string) {
		t.Helper()
		e.nextWindow()
		r := e.signup(t, with(signupFields("probe@example.org"), "signup_key", key))
		msg := wantError(t, r, http.StatusForbidden, "permission_error", "signup_denied")
		if msg != service.ErrSignupDenied.Error() {
			t.Fatalf("message = %q", msg)
		}
		if first == nil {
			first = r.body
		} else if string(r.body) != string(first) {
			t.Fatalf("key %q answered\n%s\nbut an unknown key\n%s", key, r.body, first)
		}
	}
	t.Run("unknown key", func(t *testing.T) { deny(t, "no-such-key-123") })
	t.Run("signup disabled", func(t *testing.T) { deny(t, "closed-signup-key") })
	t.Run("suspended org", func(t *testing.T) { deny(t, "frozen-signup-key") })
	if _, err := e.svc.SetSignupEnabled(ctx, e.admin, testOrgSlug, false); err != nil {
		t.Fatal(err)
	}
	t.Run("signup turned off", func(t *testing.T) { deny(t, testSignupKey) })
	if n := e.countUsers(t, "probe@example.org"); n != 0 {
		t.Fatalf("denied signups created %d users", n)
	}

	// The keys were right: with the org resumed and signup on, they work.
	if _, err := e.svc.SetOrgSuspended(ctx, e.admin, "frozen", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetSignupEnabled(ctx, e.admin, "closed", true); err != nil {
		t.Fatal(err)
	}
	for key, slug := range map[string]string{"frozen-signup-key": "frozen", "closed-signup-key": "closed"} {
		r := e.signup(t, with(signupFields(slug+"@example.org"), "signup_key", key))
		if r.status != http.StatusCreated || !strings.Contains(string(r.body), `"slug":"`+slug+`"`) {
			t.Fatalf("signup into %s: %d %s", slug, r.status, r.body)
		}
	}
}

func TestSignupJSONEmailTaken(t *testing.T) {
	e := newTestEnv(t)
	if r := e.signup(t, signupFields("ada@example.org")); r.status != http.StatusCreated {
		t.Fatalf("first signup: %d %s", r.status, r.body)
	}
	// The same address in other case, and the system admin's address in
	// another org: emails are unique across lamb.
	for _, email := range []string{"ADA@Example.org", "root@lamb.test"} {
		r := e.signup(t, with(signupFields(email), "name", "Someone Else"))
		msg := wantError(t, r, http.StatusConflict, "invalid_request_error", "email_taken")
		if !strings.HasPrefix(msg, "email: ") {
			t.Fatalf("message %q doesn't name the field", msg)
		}
	}
	if n := e.countUsers(t, "ada@example.org"); n != 1 {
		t.Fatalf("users with the email = %d", n)
	}
	var sysAdmin bool
	var slug string
	if err := e.db(t).QueryRow(`SELECT u.system_admin, o.slug FROM users u JOIN organizations o ON o.id = u.organization_id
		WHERE u.email = 'root@lamb.test'`).Scan(&sysAdmin, &slug); err != nil || !sysAdmin || slug != service.SystemSlug {
		t.Fatalf("system admin after a signup with their email: system_admin %v org %s err %v", sysAdmin, slug, err)
	}
	if n := len(e.audit(t, testOrgSlug, "user.signup")); n != 1 {
		t.Fatalf("user.signup events = %d, want 1", n)
	}
}

// TestSignupJSONSSHKeyOfAnotherAccount: a key already linked is bad input
// named by its field (it was a 500), and the account is not half made.
func TestSignupJSONSSHKeyOfAnotherAccount(t *testing.T) {
	e := newTestEnv(t)
	line, fp := newSSHKey(t, "shared")
	if r := e.signup(t, with(signupFields("ada@example.org"), "ssh_public_key", line)); r.status != http.StatusCreated {
		t.Fatalf("first signup: %d %s", r.status, r.body)
	}
	r := e.signup(t, with(signupFields("bob@example.org"), "ssh_public_key", line))
	msg := wantError(t, r, http.StatusBadRequest, "invalid_request_error", "invalid_request_error")
	if !strings.HasPrefix(msg, "ssh_public_key: ") {
		t.Fatalf("message %q doesn't name the field", msg)
	}
	if n := e.countUsers(t, "bob@example.org"); n != 0 {
		t.Fatalf("the refused signup left %d users behind", n)
	}
	if a, err := e.svc.ActorForSSHKey(context.Background(), fp); err != nil || a.Email != "ada@example.org" {
		t.Fatalf("the key now signs in as %+v, %v", a, err)
	}
}

func TestSignupJSONUserLimit(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	limits := config.UnlimitedLimits()
	limits.MaxUsers = 1
	if err := e.svc.SetLimits(ctx, e.admin, testOrgSlug, limits); err != nil {
		t.Fatal(err)
	}
	if r := e.signup(t, signupFields("first@example.org")); r.status != http.StatusCreated {
		t.Fatalf("first signup: %d %s", r.status, r.body)
	}
	r := e.signup(t, signupFields("second@example.org"))
	wantError(t, r, http.StatusForbidden, "permission_error", "user_limit_reached")
	if n := e.countUsers(t, "second@example.org"); n != 0 {
		t.Fatalf("signup past max_users created %d users", n)
	}
	limits.MaxUsers = 2
	if err := e.svc.SetLimits(ctx, e.admin, testOrgSlug, limits); err != nil {
		t.Fatal(err)
	}
	if r := e.signup(t, signupFields("second@example.org")); r.status != http.StatusCreated {
		t.Fatalf("signup after raising max_users: %d %s", r.status, r.body)
	}
}

func TestSignupJSONBadBodies(t *testing.T) {
	e := newTestEnv(t)
	valid := string(mustJSON(t, signupFields("body@example.org")))
	huge := `{"email":"body@example.org","name":"` + strings.Repeat("a", 65<<10) + `","password":"` + testPassword + `","signup_key":"` + testSignupKey + `"}`
	cases := []struct {
		name, contentType, body string
		status                  int
		code                    string
		message                 string // a part of it, when it matters
	}{
		{"body over 64 KiB", "application/json", huge, 413, "request_too_large", "64 KiB"},
		{"text/plain", "text/plain", valid, 400, "invalid_content_type", "application/json"},
		{"no content type", "", valid, 400, "invalid_content_type", ""},
		{"form content type", "application/x-www-form-urlencoded", valid, 400, "invalid_content_type", ""},
		{"unparsable content type", "application/json; charset", valid, 400, "invalid_content_type", ""},
		{"truncated JSON", "application/json", `{"email":`, 400, "invalid_json", ""},
		{"not JSON", "application/json", `email=a@example.org`, 400, "invalid_json", ""},
		{"empty body", "application/json", ``, 400, "invalid_json", ""},
		{"data after the object", "application/json", valid + ` {"x":1}`, 400, "invalid_json", ""},
		{"stray brace after the object", "application/json", valid + `}`, 400, "invalid_json", ""},
		{"email a number", "application/json", `{"email":5,"name":"A","password":"12345678","signup_key":"k"}`, 400, "invalid_type", "email: must be a string"},
		{"name a boolean", "application/json", `{"email":"a@example.org","name":true}`, 400, "invalid_type", "name: must be a string"},
		{"ssh key an object", "application/json", `{"ssh_public_key":{"k":1}}`, 400, "invalid_type", "ssh_public_key: must be a string"},
		{"body a list", "application/json", `["a@example.org"]`, 400, "invalid_type", "body: must be an object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typ := "invalid_request_error"
			msg := wantError(t, e.post(t, "/v1/signup", c.contentType, []byte(c.body)), c.status, typ, c.code)
			if !strings.Contains(msg, c.message) {
				t.Fatalf("message %q doesn't say %q", msg, c.message)
			}
		})
	}
	if n := e.countUsers(t, "body@example.org"); n != 0 {
		t.Fatalf("bad bodies created %d users", n)
	}
	// A charset parameter is fine.
	r := e.post(t, "/v1/signup", "application/json; charset=utf-8", []byte(valid))
	if r.status != http.StatusCreated {
		t.Fatalf("application/json; charset=utf-8: %d %s", r.status, r.body)
	}
}

// TestSignupLegacyFlow: SIGNUP_SECRET_KEY with SIGNUP_ENABLED=true is org
// lamb's signup key.
func TestSignupLegacyFlow(t *testing.T) {
	ctx := context.Background()
	on, off := true, false
	legacy := "legacy-key-123"
	e := newTestEnvWith(t, config.System{SignupEnabled: &on, SignupSecretKey: &legacy})

	r := e.signup(t, with(signupFields("legacy@example.org"), "signup_key", legacy))
	if r.status != http.StatusCreated {
		t.Fatalf("legacy signup: %d %s", r.status, r.body)
	}
	var res struct {
		Email        string
		Role         string
		Organization struct{ Slug, Name string }
	}
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Organization.Slug != service.SystemSlug || res.Organization.Name != "LAMB" || res.Role != "member" {
		t.Fatalf("legacy signup landed in %+v", res)
	}
	var sysAdmin bool
	if err := e.db(t).QueryRow(`SELECT system_admin FROM users WHERE email = 'legacy@example.org'`).Scan(&sysAdmin); err != nil || sysAdmin {
		t.Fatalf("legacy signup: system_admin %v, %v", sysAdmin, err)
	}
	if evs := e.audit(t, service.SystemSlug, "user.signup"); len(evs) != 1 || evs[0].Target != "legacy@example.org" {
		t.Fatalf("user.signup events in lamb = %+v", evs)
	}
	// Org keys are unaffected by the legacy one.
	if r := e.signup(t, signupFields("acme@example.org")); r.status != http.StatusCreated || !strings.Contains(string(r.body), `"slug":"acme"`) {
		t.Fatalf("org signup beside the legacy key: %d %s", r.status, r.body)
	}

	// SIGNUP_ENABLED=false closes it with the one denial.
	if _, err := e.svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{SignupEnabled: &off, SignupSecretKey: &legacy}); err != nil {
		t.Fatal(err)
	}
	r = e.signup(t, with(signupFields("late@example.org"), "signup_key", legacy))
	if msg := wantError(t, r, http.StatusForbidden, "permission_error", "signup_denied"); msg != service.ErrSignupDenied.Error() {
		t.Fatalf("message = %q", msg)
	}

	// A new SIGNUP_SECRET_KEY replaces the old one.
	rotated := "legacy-key-456"
	if _, err := e.svc.SyncSystemOrg(ctx, service.SystemActor(), config.System{SignupEnabled: &on, SignupSecretKey: &rotated}); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.signup(t, with(signupFields("late@example.org"), "signup_key", legacy)), http.StatusForbidden, "permission_error", "signup_denied")
	if r := e.signup(t, with(signupFields("late@example.org"), "signup_key", rotated)); r.status != http.StatusCreated {
		t.Fatalf("signup with the new legacy key: %d %s", r.status, r.body)
	}
}

// TestSignupLegacyKeyWithoutEnabled: a SIGNUP_SECRET_KEY alone doesn't open
// signup.
func TestSignupLegacyKeyWithoutEnabled(t *testing.T) {
	legacy := "legacy-key-123"
	e := newTestEnvWith(t, config.System{SignupSecretKey: &legacy})
	wantError(t, e.signup(t, with(signupFields("x@example.org"), "signup_key", legacy)), http.StatusForbidden, "permission_error", "signup_denied")
}

// TestSignupConcurrentSameEmail: 20 signups with one email at once, from
// 20 addresses with the keys of two orgs (so that no rate limit answers):
// exactly one account, 19 × 409.
func TestSignupConcurrentSameEmail(t *testing.T) {
	on := true
	legacy := "legacy-key-123"
	const n = 20
	// Room for every signup to hash: the race on the email is the subject,
	// not the bound on hashing.
	e := newTestEnvDeps(t, config.System{SignupEnabled: &on, SignupSecretKey: &legacy},
		func(d *service.Deps) { d.HashGate = service.NewHashGate(4, n, time.Minute) })
	replies := make([]reply, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, email := testSignupKey, "same@example.org"
			if i%2 == 1 {
				key, email = legacy, "Same@Example.org"
			}
			<-start
			replies[i] = e.serveFrom(t, fmt.Sprintf("10.0.%d.1:1234", i), with(signupFields(email), "signup_key", key))
		}()
	}
	close(start)
	wg.Wait()
	created, taken := 0, 0
	for i, r := range replies {
		switch r.status {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			wantError(t, r, http.StatusConflict, "invalid_request_error", "email_taken")
			taken++
		default:
			t.Errorf("signup %d: %d %s", i, r.status, r.body)
		}
	}
	if created != 1 || taken != n-1 {
		t.Fatalf("%d created, %d email_taken; want 1 and %d", created, taken, n-1)
	}
	if c := e.countUsers(t, "same@example.org"); c != 1 {
		t.Fatalf("users with the email = %d", c)
	}
	signups := len(e.audit(t, testOrgSlug, "user.signup")) + len(e.audit(t, service.SystemSlug, "user.signup"))
	if signups != 1 {
		t.Fatalf("user.signup events = %d, want 1", signups)
	}
}

// TestSignupConcurrentSameKey: the per-key limit holds under concurrency:
// of 20 signups with one key at once, exactly 10 are let through (one
// creates the account, nine find the email taken), 10 are told to wait.
func TestSignupConcurrentSameKey(t *testing.T) {
	e := newTestEnv(t)
	const n = 20
	replies := make([]reply, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			replies[i] = e.serveFrom(t, fmt.Sprintf("10.1.%d.1:1234", i), signupFields("same@example.org"))
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, r := range replies {
		count[r.status]++
		switch r.status {
		case http.StatusCreated:
		case http.StatusConflict:
			wantError(t, r, http.StatusConflict, "invalid_request_error", "email_taken")
		case http.StatusTooManyRequests:
			wantError(t, r, http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded")
		default:
			t.Errorf("signup %d: %d %s", i, r.status, r.body)
		}
	}
	if count[201] != 1 || count[409] != 9 || count[429] != 10 {
		t.Fatalf("answers = %v, want 1 × 201, 9 × 409, 10 × 429", count)
	}
	if c := e.countUsers(t, "same@example.org"); c != 1 {
		t.Fatalf("users with the email = %d", c)
	}
}

// wantRetryAfter checks a 429 and returns its Retry-After in seconds.
func wantRetryAfter(t *testing.T, r reply) int {
	t.Helper()
	msg := wantError(t, r, http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded")
	s, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After = %q: want whole seconds in 1-60", r.header.Get("Retry-After"))
	}
	if !strings.Contains(msg, fmt.Sprintf("%d seconds", s)) {
		t.Errorf("message %q doesn't say the %d seconds of Retry-After", msg, s)
	}
	return s
}

func TestSignupRateLimitPerAddress(t *testing.T) {
	e := newTestEnv(t)
	// Ten attempts a minute from 127.0.0.1, each with another key so that
	// only the address counts.
	for i := range 10 {
		r := e.signup(t, with(signupFields("guess@example.org"), "signup_key", fmt.Sprintf("guessed-key-%02d", i)))
		wantError(t, r, http.StatusForbidden, "permission_error", "signup_denied")
	}
	// The eleventh is refused, even a valid one.
	if s := wantRetryAfter(t, e.signup(t, signupFields("ada@example.org"))); s != 60 {
		t.Fatalf("Retry-After = %d right after the tenth attempt, want 60", s)
	}
	if n := e.countUsers(t, "ada@example.org"); n != 0 {
		t.Fatalf("a rate-limited signup created %d users", n)
	}
	// Retry-After counts down with the window.
	e.clock.Advance(30 * time.Second)
	if s := wantRetryAfter(t, e.signup(t, signupFields("ada@example.org"))); s != 30 {
		t.Fatalf("Retry-After = %d 30s later, want 30", s)
	}
	// Another address is not limited.
	if r := e.serveFrom(t, "192.0.2.7:4000", signupFields("bob@example.org")); r.status != http.StatusCreated {
		t.Fatalf("another address: %d %s", r.status, r.body)
	}
	// Once the window has passed, 127.0.0.1 may try again.
	e.clock.Advance(31 * time.Second)
	if r := e.signup(t, signupFields("ada@example.org")); r.status != http.StatusCreated {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
}

// TestSignupRateLimitGroupsAddresses: one IPv6 /64 is one client; an
// IPv4-mapped address is its IPv4 address.
func TestSignupRateLimitGroupsAddresses(t *testing.T) {
	e := newTestEnv(t)
	attempt := func(addr string, i int) reply {
		return e.serveFrom(t, addr, with(signupFields("guess@example.org"), "signup_key", fmt.Sprintf("guessed-key-%02d", i)))
	}
	for i := range 10 {
		wantError(t, attempt(fmt.Sprintf("[2001:db8:1:2::%x]:5000", i+1), i), http.StatusForbidden, "permission_error", "signup_denied")
	}
	wantRetryAfter(t, attempt("[2001:db8:1:2:ffff:ffff:ffff:ffff]:5000", 10))
	wantError(t, attempt("[2001:db8:1:3::1]:5000", 11), http.StatusForbidden, "permission_error", "signup_denied")

	for i := range 10 {
		wantError(t, attempt("198.51.100.9:6000", 20+i), http.StatusForbidden, "permission_error", "signup_denied")
	}
	wantRetryAfter(t, attempt("[::ffff:198.51.100.9]:6001", 30))
	wantError(t, attempt("198.51.100.10:6000", 31), http.StatusForbidden, "permission_error", "signup_denied")
}

func TestSignupRateLimitPerKey(t *testing.T) {
	e := newTestEnv(t)
	// Ten attempts with acme's key from ten addresses (all bad input: they
	// count all the same).
	for i := range 10 {
		r := e.serveFrom(t, fmt.Sprintf("10.0.%d.1:1234", i), with(signupFields("ada@example.org"), "password", "short"))
		wantError(t, r, http.StatusBadRequest, "invalid_request_error", "invalid_request_error")
	}
	wantRetryAfter(t, e.serveFrom(t, "10.0.99.1:1234", signupFields("ada@example.org")))
	// Regression: the key padded with spaces is the same key to the limit,
	// as it is to the lookup; it used to count as a fresh key.
	wantRetryAfter(t, e.serveFrom(t, "10.0.98.1:1234", with(signupFields("ada@example.org"), "signup_key", " "+testSignupKey+" ")))
	if n := e.countUsers(t, "ada@example.org"); n != 0 {
		t.Fatalf("rate-limited signups created %d users", n)
	}
	// Other orgs' keys are not affected.
	e.createOrg(t, "beta", "Beta", "beta-signup-key-2026", true)
	if r := e.serveFrom(t, "10.0.97.1:1234", with(signupFields("bob@example.org"), "signup_key", "beta-signup-key-2026")); r.status != http.StatusCreated {
		t.Fatalf("another org's key: %d %s", r.status, r.body)
	}
	e.nextWindow()
	if r := e.serveFrom(t, "10.0.99.1:1234", signupFields("ada@example.org")); r.status != http.StatusCreated {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
}

// TestSignupRetryAfterNeverZero: with under a second left in the window,
// Retry-After is 1, not 0 (which it was, by rounding).
func TestSignupRetryAfterNeverZero(t *testing.T) {
	e := newTestEnv(t)
	for i := range 10 {
		e.signup(t, with(signupFields("guess@example.org"), "signup_key", fmt.Sprintf("guessed-key-%02d", i)))
	}
	e.clock.Advance(time.Minute - 500*time.Microsecond)
	if s := wantRetryAfter(t, e.signup(t, signupFields("ada@example.org"))); s != 1 {
		t.Fatalf("Retry-After = %d with 0.5ms left, want 1", s)
	}
}

// The HTML form.

var (
	inputRE = func(id string) *regexp.Regexp {
		return regexp.MustCompile(`<input id="` + id + `"[^>]*>`)
	}
	valueAttrRE = regexp.MustCompile(` value="([^"]*)"`)
	errorDivRE  = func(id string) *regexp.Regexp {
		return regexp.MustCompile(`<div class="error" id="` + id + `-error">([^<]*)</div>`)
	}
	alertRE = regexp.MustCompile(`<div class="alert" role="alert">([^<]*)</div>`)
)

// inputValue returns the value attribute of input id, unescaped.
func inputValue(t *testing.T, page []byte, id string) string {
	t.Helper()
	tag := inputRE(id).Find(page)
	if tag == nil {
		t.Fatalf("no input #%s in\n%s", id, page)
	}
	m := valueAttrRE.FindSubmatch(tag)
	if m == nil {
		return ""
	}
	return html.UnescapeString(string(m[1]))
}

// fieldError returns the error shown under field id, unescaped; "" if none.
func fieldError(page []byte, id string) string {
	m := errorDivRE(id).FindSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(string(m[1]))
}

func wantPage(t *testing.T, r reply, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; page\n%s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	csp := r.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
		}
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", r.header.Get("X-Content-Type-Options"))
	}
	return string(r.body)
}

func TestSignupFormPage(t *testing.T) {
	e := newTestEnv(t)
	page := wantPage(t, e.get(t, "/signup?key=abc-key-123"), http.StatusOK)
	if !strings.Contains(page, `<form method="post" action="/signup"`) {
		t.Fatalf("no form posting to /signup:\n%s", page)
	}
	for _, id := range []string{"email", "name", "password", "signup_key"} {
		inputValue(t, []byte(page), id)
	}
	if !strings.Contains(page, `<textarea id="ssh_public_key" name="ssh_public_key"`) {
		t.Fatalf("no ssh_public_key field:\n%s", page)
	}
	if got := inputValue(t, []byte(page), "signup_key"); got != "abc-key-123" {
		t.Fatalf("signup_key prefilled with %q", got)
	}
	if strings.Contains(page, "<script") {
		t.Fatal("the page has a script; it must work without JavaScript")
	}

	// The key is put into the page escaped.
	attack := `"><script>alert(1)</script>`
	page = wantPage(t, e.get(t, "/signup?key="+url.QueryEscape(attack)), http.StatusOK)
	if strings.Contains(page, "<script>alert(1)") {
		t.Fatalf("the key reached the page unescaped:\n%s", page)
	}
	if got := inputValue(t, []byte(page), "signup_key"); got != attack {
		t.Fatalf("signup_key prefilled with %q, want %q", got, attack)
	}
	page = wantPage(t, e.get(t, "/signup"), http.StatusOK)
	if got := inputValue(t, []byte(page), "signup_key"); got != "" {
		t.Fatalf("signup_key without ?key= = %q", got)
	}
}

// formFields is a valid form post into testOrgSlug.
func formFields(email string) url.Values {
	return url.Values{"email": {email}, "name": {`Grace "Amazing" <Hopper>`}, "password": {"hunter2-secret-pw"},
		"signup_key": {testSignupKey}, "ssh_public_key": {""}}
}

func withForm(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// TestSignupFormRoundTripsErrors: a refused form comes back with the
// message next to its field and what was typed kept, except the password.
func TestSignupFormRoundTripsErrors(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	if r := e.signup(t, signupFields("taken@example.org")); r.status != http.StatusCreated {
		t.Fatalf("seed signup: %d %s", r.status, r.body)
	}
	badKey := "ssh-ed25519 AAAA-not-a-key me@laptop"
	cases := []struct {
		name   string
		form   url.Values
		status int
		field  string // where the message shows; "form" for the alert
		want   string // part of the message
	}{
		{"bad email", withForm(formFields("not-an-email")), 400, "email", "is not an email address"},
		{"short password", withForm(formFields("grace@example.org"), "password", "short"), 400, "password", "at least 8 characters"},
		{"blank name", withForm(formFields("grace@example.org"), "name", " "), 400, "name", "1-100 characters"},
		{"bad ssh key", withForm(formFields("grace@example.org"), "ssh_public_key", badKey), 400, "ssh_public_key", "not an SSH public key"},
		{"unknown key", withForm(formFields("grace@example.org"), "signup_key", "no-such-key-123"), 403, "signup_key", service.ErrSignupDenied.Error()},
		{"email taken", withForm(formFields("Taken@example.org")), 409, "email", "already exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.nextWindow()
			page := wantPage(t, e.postForm(t, c.form), c.status)
			b := []byte(page)
			if got := fieldError(b, c.field); !strings.Contains(got, c.want) {
				t.Fatalf("error next to %s = %q, want it to say %q; page\n%s", c.field, got, c.want, page)
			}
			if !regexp.MustCompile(`<(input|textarea) id="` + c.field + `"[^>]* aria-invalid="true" aria-describedby="` + c.field + `-error"`).MatchString(page) {
				t.Errorf("field %s is not marked invalid", c.field)
			}
			for _, other := range []string{"email", "name", "password", "signup_key", "ssh_public_key"} {
				if other != c.field && fieldError(b, other) != "" {
					t.Errorf("unexpected error next to %s: %q", other, fieldError(b, other))
				}
			}
			for _, f := range []string{"email", "name", "signup_key"} {
				if got := inputValue(t, b, f); got != c.form.Get(f) {
					t.Errorf("%s came back as %q, want %q", f, got, c.form.Get(f))
				}
			}
			if got := inputValue(t, b, "password"); got != "" || strings.Contains(page, c.form.Get("password")) {
				t.Errorf("the password came back in the page")
			}
			if c.form.Get("ssh_public_key") != "" && !strings.Contains(page, ">"+html.EscapeString(c.form.Get("ssh_public_key"))+"</textarea>") {
				t.Errorf("the ssh key was not kept")
			}
			if strings.Contains(page, `<Hopper>`) {
				t.Errorf("the name reached the page unescaped")
			}
		})
	}

	t.Run("user limit", func(t *testing.T) {
		e.nextWindow()
		limits := config.UnlimitedLimits()
		limits.MaxUsers = 1
		if err := e.svc.SetLimits(ctx, e.admin, testOrgSlug, limits); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.svc.SetLimits(ctx, e.admin, testOrgSlug, config.UnlimitedLimits()) })
		page := wantPage(t, e.postForm(t, formFields("grace@example.org")), http.StatusForbidden)
		if m := alertRE.FindStringSubmatch(page); m == nil || !strings.Contains(m[1], "no room for more accounts") {
			t.Fatalf("no user-limit alert in\n%s", page)
		}
	})

	t.Run("rate limited", func(t *testing.T) {
		e.nextWindow()
		for i := range 10 {
			e.postForm(t, withForm(formFields("grace@example.org"), "signup_key", fmt.Sprintf("guessed-key-%02d", i)))
		}
		r := e.postForm(t, formFields("grace@example.org"))
		page := wantPage(t, r, http.StatusTooManyRequests)
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
		}
		if m := alertRE.FindStringSubmatch(page); m == nil || !strings.Contains(m[1], "too many signup attempts") {
			t.Fatalf("no rate-limit alert in\n%s", page)
		}
	})

	if n := e.countUsers(t, "grace@example.org"); n != 0 {
		t.Fatalf("refused forms created %d users", n)
	}
}

func TestSignupFormSuccess(t *testing.T) {
	e := newTestEnv(t)
	line, fp := newSSHKey(t, "grace@laptop")
	form := withForm(formFields(" Grace@Example.org "), "ssh_public_key", line+"\n")
	page := e.signupPage(t, form, http.StatusOK)
	for _, want := range []string{
		"<title>Welcome to Acme University · lamb</title>",
		"<h1>Welcome, Grace &#34;Amazing&#34; &lt;Hopper&gt;</h1>",
		"You joined <strong>Acme University</strong> as a member: your account <strong>grace@example.org</strong> is ready.",
		"with the SSH key you gave:",
		"<pre>" + testSSHHint + "</pre>",
		"<code>" + testPublicURL + "/v1</code>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the welcome page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<form") || strings.Contains(page, form.Get("password")) || strings.Contains(page, testSignupKey) {
		t.Errorf("the welcome page shows the form, the password or the key:\n%s", page)
	}
	a, err := e.svc.ActorForSSHKey(context.Background(), fp)
	if err != nil || a.Email != "grace@example.org" || a.OrgSlug != testOrgSlug {
		t.Fatalf("the key given in the form signs in as %+v, %v", a, err)
	}
	if evs := e.audit(t, testOrgSlug, "user.signup"); len(evs) != 1 || evs[0].Target != "grace@example.org" {
		t.Fatalf("user.signup events = %+v", evs)
	}

	// Without a key, the page says how the first sign-in links one.
	page = e.signupPage(t, withForm(formFields("nokey@example.org"), "name", "No Key"), http.StatusOK)
	if !strings.Contains(page, "sign in with your email and password and the key is linked") || !strings.Contains(page, "<pre>"+testSSHHint+"</pre>") {
		t.Fatalf("the welcome page without a key lacks the sign-in hint:\n%s", page)
	}
}

// Post/redirect/get: the form's answer sends the browser to a result page
// with a receipt in a cookie, so a reload shows the result again instead of
// posting the form twice ("already exists"). The receipt is the server's
// word: altered, expired, or without its account, the page shows nothing
// of anyone.
func TestSignupFormRedirectsToItsResult(t *testing.T) {
	e := newTestEnv(t)
	r := e.postForm(t, formFields("grace@example.org"))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/signup/done" {
		t.Fatalf("POST /signup = %d, Location %q", r.status, r.header.Get("Location"))
	}
	var receipt *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "lamb_signup" {
			receipt = c
		}
	}
	if receipt == nil || !receipt.HttpOnly || receipt.Path != "/signup" || receipt.MaxAge != 3600 || receipt.SameSite != http.SameSiteLaxMode {
		t.Fatalf("receipt cookie = %+v", receipt)
	}
	if strings.Contains(receipt.Value, "grace") || strings.Contains(receipt.Value, testSignupKey) {
		t.Fatalf("the receipt carries the email or the key: %q", receipt.Value)
	}
	// Reloaded three times: the same page, one account.
	for range 3 {
		done := e.getWith(t, "/signup/done", r)
		page := wantPage(t, done, http.StatusOK)
		if !strings.Contains(page, "You joined <strong>Acme University</strong>") || !strings.Contains(page, "grace@example.org") {
			t.Fatalf("the result page:\n%s", page)
		}
		if cc := done.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
	}
	if n := e.countUsers(t, "grace@example.org"); n != 1 {
		t.Fatalf("%d accounts after reloading the result", n)
	}

	nothing := func(what string, rep reply) {
		t.Helper()
		page := wantPage(t, rep, http.StatusNotFound)
		if !strings.Contains(page, "Nothing to show") || !strings.Contains(page, `href="/signup"`) || !strings.Contains(page, testSSHHint) {
			t.Fatalf("%s: the page\n%s", what, page)
		}
		if strings.Contains(page, "grace@example.org") || strings.Contains(page, testOrgName) {
			t.Fatalf("%s: the page names the account:\n%s", what, page)
		}
	}
	nothing("no receipt", e.get(t, "/signup/done"))
	// Another account's id in the receipt, its signature kept: refused.
	other := r
	other.header = http.Header{"Set-Cookie": {"lamb_signup=1" + receipt.Value[strings.Index(receipt.Value, "."):] + "; Path=/signup"}}
	nothing("an altered receipt", e.getWith(t, "/signup/done", other))
	nothing("a made-up receipt", e.getWith(t, "/signup/done", reply{header: http.Header{"Set-Cookie": {"lamb_signup=1.99999999999.0.abc; Path=/signup"}}}))
	e.clock.Advance(time.Hour + time.Second)
	nothing("an expired receipt", e.getWith(t, "/signup/done", r))
}

func TestSignupFormUnreadable(t *testing.T) {
	e := newTestEnv(t)
	big := withForm(formFields("big@example.org"), "ssh_public_key", strings.Repeat("A", 65<<10))
	page := wantPage(t, e.postForm(t, big), http.StatusRequestEntityTooLarge)
	if m := alertRE.FindStringSubmatch(page); m == nil || !strings.Contains(m[1], "too large") {
		t.Fatalf("no too-large alert in\n%s", page)
	}
	// A body that is not form encoding is not "too large" (it was).
	page = wantPage(t, e.post(t, "/signup", "application/x-www-form-urlencoded", []byte("email=%zz")), http.StatusBadRequest)
	if m := alertRE.FindStringSubmatch(page); m == nil || !strings.Contains(m[1], "could not be read") {
		t.Fatalf("no unreadable-form alert in\n%s", page)
	}
	if n := e.countUsers(t, "big@example.org"); n != 0 {
		t.Fatalf("unreadable forms created %d users", n)
	}
}

// The form shows every mistake at once, each next to its field.
func TestSignupFormShowsAllFieldErrors(t *testing.T) {
	e := newTestEnv(t)
	r := e.postForm(t, url.Values{"email": {"not-an-email"}, "name": {""}, "password": {"short"}, "signup_key": {"acme-signup-key-1"}})
	page := string(r.body)
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d", r.status)
	}
	for _, id := range []string{"email-error", "name-error", "password-error"} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("no message for %s:\n%s", id, page)
		}
	}
	// The JSON API names every field too.
	j := e.signup(t, map[string]any{"email": "x", "name": "", "password": "short", "signup_key": "acme-signup-key-1"})
	if j.status != 400 || !strings.Contains(string(j.body), "email:") || !strings.Contains(string(j.body), "password:") {
		t.Fatalf("JSON: %d %s", j.status, j.body)
	}
}
