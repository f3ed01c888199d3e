package sshserver

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
	"lamb/store"
)

// createKey runs apikey create --json as signer and returns the key.
func (e *memberOrgs) createKey(t *testing.T, signer gossh.Signer, args ...string) service.NewAPIKey {
	t.Helper()
	var k service.NewAPIKey
	r := e.run(t, signer, "", append([]string{"apikey", "create", "--json"}, args...)...).wantOK(t)
	decode(t, r, &k)
	if !strings.HasPrefix(k.Key, "lamb_") || k.Prefix != k.Key[:8] || !strings.Contains(r.stderr, "shown once; store it now") {
		t.Fatalf("created %+v, stderr %q", k, r.stderr)
	}
	return k
}

// keyByKey looks a key up the way the gateway does, by its hash.
func (e *memberOrgs) keyByKey(t *testing.T, key string) store.APIKeyWithOwner {
	t.Helper()
	k, err := e.st.APIKeyByHash(context.Background(), service.HashAPIKey(key))
	if err != nil {
		t.Fatalf("key %s…: %v", key[:8], err)
	}
	return k
}

func TestAPIKeyCreatePersonal(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	r := e.run(t, e.acmeMember, "", "apikey", "create", "--name", "laptop", "--personal").wantOK(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	key := lines[len(lines)-1]
	if !regexp.MustCompile(`^lamb_[0-9A-Za-z]{35,}$`).MatchString(key) ||
		!regexp.MustCompile(`^Created personal key "laptop" \(id \d+\) of ana@acme\.example in acme; never expires\.$`).MatchString(lines[0]) ||
		len(lines) != 2 {
		t.Fatalf("apikey create stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "shown once; store it now") || strings.Contains(r.stderr, key) {
		t.Fatalf("apikey create stderr %q", r.stderr)
	}
	// The printed key is the one stored (as its hash): ana's personal key.
	if row := e.keyByKey(t, key); row.OwnerEmail != acmeMemberEmail || row.OrgSlug != "acme" || row.Name != "laptop" {
		t.Fatalf("the printed key is stored as %+v", row)
	}

	// --json carries the key too.
	k := e.createKey(t, e.acmeMember, "--name", "phone", "--personal", "--expires", "30d")
	if k.Owner != acmeMemberEmail || k.OrgSlug != "acme" || k.Name != "phone" ||
		k.ExpiresAt.Before(time.Now().AddDate(0, 0, 29)) || k.ExpiresAt.After(time.Now().AddDate(0, 0, 31)) {
		t.Fatalf("created %+v", k)
	}
	k = e.createKey(t, e.acmeMember, "--name", "far", "--personal", "--expires", "2099-12-31")
	if !k.ExpiresAt.Equal(time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("expires %v", k.ExpiresAt)
	}

	// Members list their personal keys by default, never a key itself.
	r = e.run(t, e.acmeMember, "", "apikey", "list").wantOK(t)
	if !regexp.MustCompile(`(?m)^\d+\s+laptop\s+`+regexp.QuoteMeta(key[:8])+`…\s+ana@acme\.example\s+acme\s+.*\s+never\s+never\s+active$`).MatchString(r.stdout) ||
		strings.Contains(r.stdout, key) || !strings.Contains(r.stdout, "2099-12-31 00:00") {
		t.Fatalf("apikey list:\n%s", r.stdout)
	}
	var page service.Page[service.APIKey]
	r = e.run(t, e.acmeMember, "", "apikey", "list", "--personal", "--json").wantOK(t)
	decode(t, r, &page)
	if page.Total != 3 || strings.Contains(r.stdout, key) || strings.Contains(r.stdout, `"key"`) {
		t.Fatalf("apikey list --json: %s", r.stdout)
	}
	decode(t, e.run(t, e.acmeMember2, "", "apikey", "list", "--json").wantOK(t), &page)
	if page.Total != 0 || page.Items == nil {
		t.Fatalf("another member's list: %+v", page)
	}

	// Every signed-in user has personal keys; the system admin's are in lamb.
	if k := e.createKey(t, e.admin, "--name", "root's", "--personal"); k.OrgSlug != "lamb" || k.Owner != "admin@lamb.local" {
		t.Fatalf("system admin's personal key %+v", k)
	}
	e.run(t, e.acmeMember, "", "apikey", "create", "--name", "x", "--personal", "--org", "globex").
		wantFail(t, 1, "org: personal keys belong to your own organization")
}

func TestAPIKeyCreateOrgKey(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	// Members create personal keys only, and are told how.
	r := e.run(t, e.acmeMember, "", "apikey", "create", "--name", "lms").wantFail(t, 1, "members create personal keys: add --personal")
	if r.stdout != "" {
		t.Fatalf("stdout %q", r.stdout)
	}
	e.run(t, e.acmeMember, "", "apikey", "create", "--name", "lms", "--org", "acme").wantFail(t, 1, "add --personal")
	e.run(t, e.acmeMember, "", "apikey", "list", "--org", "acme").wantFail(t, 1, "permission denied")

	r = e.run(t, e.acmeAdmin, "", "apikey", "create", "--name", "moodle").wantOK(t)
	if !strings.HasPrefix(r.stdout, `Created org key "moodle" (id `) || !strings.Contains(r.stdout, " in acme; never expires.\nlamb_") {
		t.Fatalf("org key create:\n%s", r.stdout)
	}
	org := e.createKey(t, e.admin, "--name", "from root", "--org", "acme")
	if org.Owner != "" || org.OrgSlug != "acme" {
		t.Fatalf("system admin's org key %+v", org)
	}
	e.run(t, e.admin, "", "apikey", "create", "--name", "x").wantFail(t, 2, "--org SLUG is required for system admins")
	e.createKey(t, e.acmeMember, "--name", "ana's", "--personal")

	// The admin's list is the org's: org keys and members' personal keys.
	r = e.run(t, e.acmeAdmin, "", "apikey", "list").wantOK(t)
	for _, want := range []string{"moodle", "from root", "(org key)", "ana's", acmeMemberEmail} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("admin's list lacks %q:\n%s", want, r.stdout)
		}
	}
	var page service.Page[service.APIKey]
	decode(t, e.run(t, e.acmeAdmin, "", "apikey", "list", "--personal", "--json").wantOK(t), &page)
	if page.Total != 0 {
		t.Fatalf("admin's personal list %+v", page)
	}
	decode(t, e.run(t, e.admin, "", "apikey", "list", "--org", "acme", "--json", "--limit", "2").wantOK(t), &page)
	if page.Total != 3 || len(page.Items) != 2 {
		t.Fatalf("system admin's page of acme %+v", page)
	}

	// Another org's admin: the answer for an org that doesn't exist.
	e.run(t, e.globexAdmin, "", "apikey", "list", "--org", "acme").wantFail(t, 1, `organization "acme" not found`)
	e.run(t, e.globexAdmin, "", "apikey", "create", "--name", "x", "--org", "acme").wantFail(t, 1, `organization "acme" not found`)
}

func TestAPIKeyRevoke(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	mine := e.createKey(t, e.acmeMember, "--name", "ana's", "--personal")
	theirs := e.createKey(t, e.acmeMember2, "--name", "cy's", "--personal")
	org := e.createKey(t, e.acmeAdmin, "--name", "lms")

	// Someone else's key answers like a missing one, and keeps working.
	for _, c := range []struct {
		signer gossh.Signer
		id     int64
	}{{e.acmeMember, theirs.ID}, {e.acmeMember, org.ID}, {e.globexAdmin, mine.ID}} {
		e.run(t, c.signer, "", "apikey", "revoke", fmt.Sprint(c.id)).wantFail(t, 1, fmt.Sprintf("api key %d not found", c.id))
	}
	for _, k := range []service.NewAPIKey{mine, theirs, org} {
		if row := e.keyByKey(t, k.Key); !row.RevokedAt.IsZero() {
			t.Fatalf("key %s revoked by a refused revocation", k.Name)
		}
	}

	r := e.run(t, e.acmeMember, "", "apikey", "revoke", fmt.Sprint(mine.ID)).wantOK(t)
	if r.stdout != fmt.Sprintf("Revoked API key %d.\n", mine.ID) {
		t.Fatalf("revoke: %q", r.stdout)
	}
	if e.keyByKey(t, mine.Key).RevokedAt.IsZero() {
		t.Fatal("key not revoked")
	}
	e.run(t, e.acmeMember, "", "apikey", "revoke", fmt.Sprint(mine.ID)).wantOK(t) // twice is fine
	r = e.run(t, e.acmeMember, "", "apikey", "list").wantOK(t)
	if !regexp.MustCompile(`(?m)^` + fmt.Sprint(mine.ID) + `\s+ana's\s+.*\s+revoked$`).MatchString(r.stdout) {
		t.Fatalf("list after revoke:\n%s", r.stdout)
	}
	// The org's admin revokes a member's key and org keys.
	for _, k := range []service.NewAPIKey{theirs, org} {
		var out map[string]int64
		decode(t, e.run(t, e.acmeAdmin, "", "apikey", "revoke", fmt.Sprint(k.ID), "--json").wantOK(t), &out)
		if out["revoked"] != k.ID {
			t.Fatalf("revoke --json %v", out)
		}
	}

	for _, args := range [][]string{{"revoke"}, {"revoke", "lamb_abc"}, {"revoke", "0"}, {"revoke", "1", "2"}} {
		e.run(t, e.acmeMember, "", append([]string{"apikey"}, args...)...).wantFail(t, 2, "Usage:")
	}
}

func TestAPIKeyBadArguments(t *testing.T) {
	t.Parallel()
	e := newMemberOrgs(t)
	cases := []struct {
		args []string
		err  string
	}{
		{[]string{"apikey"}, `"apikey" needs a command`},
		{[]string{"apikey", "craete"}, `did you mean "create"?`},
		{[]string{"apikey", "create", "--personal"}, `required flag(s) "name" not set`},
		{[]string{"apikey", "create", "--name", "x", "--personal", "--expires", "soon"}, `--expires "soon"`},
		{[]string{"apikey", "create", "--name", "x", "--personal", "--expires", "-5d"}, "want a positive duration"},
		{[]string{"apikey", "create", "--name", "x", "--personal", "--expires", "2026-02-30"}, `--expires "2026-02-30"`},
		{[]string{"apikey", "list", "--limit", "501"}, "--limit must be 1-500"},
		{[]string{"apikey", "list", "--offset", "-1"}, "--offset can't be negative"},
		{[]string{"apikey", "revoke", "twelve"}, `API key ID "twelve"`},
	}
	for _, c := range cases {
		r := e.run(t, e.acmeMember, "", c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.err) || !strings.Contains(r.stderr, "Usage:") || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 with %q and the usage", c.args, r.code, r.stdout, r.stderr, c.err)
		}
	}
	// A past expiry is the service's answer, naming the field.
	e.run(t, e.acmeMember, "", "apikey", "create", "--name", "x", "--personal", "--expires", "2001-01-01").
		wantFail(t, 1, "expires: must be in the future")
	var page service.Page[service.APIKey]
	decode(t, e.run(t, e.acmeMember, "", "apikey", "list", "--json").wantOK(t), &page)
	if page.Total != 0 {
		t.Fatalf("keys created by bad commands: %+v", page)
	}
}
