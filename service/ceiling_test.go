package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	"lamb/config"
)

// An org admin once raised or removed their own org's limits
// (`org limits set physics --tokens-per-month -1`), so central IT couldn't
// give a department a budget. The ceiling is the system admins'; limits
// stay within it, whichever way the org admin tries.
func TestOrgAdminCannotLiftTheCeiling(t *testing.T) {
	oe := newOrgAdminEnv(t, config.System{})
	ctx := context.Background()
	if _, _, err := oe.svc.UpdateCeiling(ctx, oe.sys, "acme", func(l *config.Limits) { l.TokensPerMonth = 1000 }); err != nil {
		t.Fatal(err)
	}
	// Raising the limit past it, or removing it, names the ceiling.
	for _, v := range []int64{-1, 1001} {
		_, err := oe.svc.UpdateLimits(ctx, oe.acme, "acme", func(l *config.Limits) { l.TokensPerMonth = v })
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != "limits.tokens_per_month" || !strings.Contains(ie.Message, "ceiling") {
			t.Fatalf("org admin sets tokens_per_month %d: %v", v, err)
		}
	}
	// Changing the ceiling itself: not through the ceiling operation, nor
	// through a whole config document.
	if _, _, err := oe.svc.UpdateCeiling(ctx, oe.acme, "acme", func(l *config.Limits) { l.TokensPerMonth = -1 }); !errors.Is(err, ErrForbidden) {
		t.Fatalf("org admin changes the ceiling: %v", err)
	}
	c, err := oe.svc.OrgConfig(ctx, oe.acme, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	c.Ceiling = nil
	c.Limits.TokensPerMonth = -1
	if _, err := oe.svc.SetOrgConfig(ctx, oe.acme, "acme", c, false); err == nil || !strings.Contains(err.Error(), "ceiling") {
		t.Fatalf("org admin drops the ceiling in the config document: %v", err)
	}
	// Within it, the limits are theirs.
	if _, err := oe.svc.UpdateLimits(ctx, oe.acme, "acme", func(l *config.Limits) { l.TokensPerMonth = 800 }); err != nil {
		t.Fatalf("org admin sets a limit under the ceiling: %v", err)
	}
	d, err := oe.svc.GetOrg(ctx, oe.acme, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if d.Ceiling.TokensPerMonth != 1000 || d.Limits.TokensPerMonth != 800 {
		t.Fatalf("org admin reads limits %+v and ceiling %+v", d.Limits, d.Ceiling)
	}
}

// Lowering a ceiling below a limit brings the limit down with it, and the
// audit says so.
func TestLoweringTheCeilingClampsLimits(t *testing.T) {
	oe := newOrgAdminEnv(t, config.System{})
	ctx := context.Background()
	if _, err := oe.svc.UpdateLimits(ctx, oe.acme, "acme", func(l *config.Limits) { l.TokensPerMonth, l.MaxUsers = 5000, 50 }); err != nil {
		t.Fatal(err)
	}
	ceiling, limits, err := oe.svc.UpdateCeiling(ctx, oe.sys, "acme", func(l *config.Limits) { l.TokensPerMonth, l.RequestsPerMinute = 1000, 60 })
	if err != nil {
		t.Fatal(err)
	}
	if limits.TokensPerMonth != 1000 || limits.RequestsPerMinute != 60 || limits.MaxUsers != 50 || ceiling.MaxUsers != config.Unlimited {
		t.Fatalf("limits %+v under ceiling %+v", limits, ceiling)
	}
	ev := oe.lastAudit(t, "ceiling.update")
	if !strings.Contains(ev.Details, "limits.tokens_per_month") || !strings.Contains(ev.Details, "ceiling.tokens_per_month") {
		t.Fatalf("audit of the clamp: %s", ev.Details)
	}
	// An export carries the ceiling, and an import keeps it.
	ex, err := oe.svc.ExportOrg(ctx, oe.sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseOrg(ex.Config)
	if err != nil || cfg.CeilingLimits().TokensPerMonth != 1000 {
		t.Fatalf("export's ceiling: %v %s", err, ex.Config)
	}
}
