package service

import (
	"context"
	"errors"
	"testing"

	"lamb/config"
)

// AuditPage with an org names that org's events only, in its items and in
// its total; without one a system admin pages through every org's.
func TestAuditPageAppliesTheOrgFilter(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	sys := sysAdmin(t, e, "root@lamb.local")
	for _, slug := range []string{"acme", "beta"} {
		if _, err := e.svc.CreateOrg(ctx, sys, CreateOrgInput{Slug: slug, Name: slug}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.RenameOrg(ctx, sys, slug, slug+" renamed"); err != nil {
			t.Fatal(err)
		}
	}
	all, err := e.svc.AuditPage(ctx, sys, AuditQuery{}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	orgs := map[string]int{}
	for _, ev := range all.Items {
		orgs[ev.OrgSlug]++
	}
	if orgs["acme"] == 0 || orgs["beta"] == 0 || all.Total != len(all.Items) {
		t.Fatalf("unfiltered page: %d items of %d, by org %v", len(all.Items), all.Total, orgs)
	}
	for _, q := range []string{"", "org.rename"} {
		p, err := e.svc.AuditPage(ctx, sys, AuditQuery{Org: "acme", Query: q}, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		want := orgs["acme"]
		if q != "" {
			want = 1
		}
		if p.Total != want || len(p.Items) != want {
			t.Errorf("acme's page (query %q): %d items, total %d; want %d", q, len(p.Items), p.Total, want)
		}
		for _, ev := range p.Items {
			if ev.OrgSlug != "acme" {
				t.Errorf("acme's page (query %q) lists %s's event %s", q, ev.OrgSlug, ev.Action)
			}
		}
	}
	// An org admin naming another org gets the answer for a missing one.
	line, fp := newKey(t, "")
	if _, err := e.svc.CreateUser(ctx, sys, CreateUserInput{OrgSlug: "beta", Email: "admin@beta.edu", Name: "B", Role: "admin", SSHKey: line}); err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuditPage(ctx, b, AuditQuery{Org: "acme"}, 0, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("org admin of beta paging acme's audit: %v, want ErrNotFound", err)
	}
	own, err := e.svc.AuditPage(ctx, b, AuditQuery{}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range own.Items {
		if ev.OrgSlug != "beta" {
			t.Errorf("beta's admin sees %s's event %s", ev.OrgSlug, ev.Action)
		}
	}
}
