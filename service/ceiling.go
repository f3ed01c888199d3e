package service

import (
	"context"

	"lamb/config"
	"lamb/store"
)

// Central budgets: a system admin sets an org's ceiling, the org's admins
// set its limits within it. Without one, an org admin could raise or
// remove the limits a central IT team gave a department.

// guardCeiling is the rule for a config change (next, from cur): only a
// person who may see every org (a system admin) changes the ceiling, and
// lowering it brings the limits above it down to it (the change lists
// them, so the audit shows what was clamped). Limits an org admin sets
// above the ceiling are refused by validation, naming the ceiling.
func guardCeiling(a Actor, cur, next *config.Org) error {
	if next.CeilingLimits() == cur.CeilingLimits() {
		return nil
	}
	if !seesAllOrgs(a) {
		return invalid("ceiling", "is set by the platform's administrators; ask a system admin to change it")
	}
	next.Limits = next.Limits.Within(next.CeilingLimits())
	return nil
}

// UpdateCeiling changes some of an org's ceiling with change, which gets
// the current one, in one transaction, and returns the ceiling and the
// limits as saved (limits above a lowered ceiling come down to it).
// System admins only.
func (s *Service) UpdateCeiling(ctx context.Context, a Actor, slug string, change func(*config.Limits)) (ceiling, limits config.Limits, err error) {
	if !seesAllOrgs(a) {
		return ceiling, limits, ErrForbidden
	}
	err = s.editConfig(ctx, a, slug, "ceiling.update", func(_ *store.Tx, _ store.Org, c *config.Org) (map[string]any, error) {
		l := c.CeilingLimits()
		change(&l)
		c.SetCeiling(l)
		ceiling, limits = c.CeilingLimits(), c.Limits.Within(c.CeilingLimits())
		return nil, nil
	})
	return ceiling, limits, err
}
