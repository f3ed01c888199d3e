package service

import (
	"context"

	"lamb/config"
	"lamb/store"
)

// editConfig is how every screen that changes part of an org's config saves:
// it loads the config, lets fn change it, puts back secrets left masked,
// keeps the platform's credentials where they belong, refuses changes to fields the
// environment manages (system org), validates the whole document, stores it
// with secrets sealed and audits action with the changed paths. fn returns
// extra audit details (never secret values).
func (s *Service) editConfig(ctx context.Context, a Actor, slug, action string, fn func(tx *store.Tx, o store.Org, c *config.Org) (map[string]any, error)) error {
	_, err := s.editConfigPlan(ctx, a, slug, action, false, fn)
	return err
}

// editConfigPlan is editConfig returning the paths that changed; with
// dryRun every rule is checked and nothing is written.
func (s *Service) editConfigPlan(ctx context.Context, a Actor, slug, action string, dryRun bool, fn func(tx *store.Tx, o store.Org, c *config.Org) (map[string]any, error)) ([]string, error) {
	var changed []string
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		changed = nil
		o, err := s.orgForAdmin(ctx, tx.Queries, a, slug)
		if err != nil {
			return err
		}
		cur, err := s.openConfig(o)
		if err != nil {
			return err
		}
		next := cur.Clone()
		details, err := fn(tx, o, next)
		if err != nil {
			return err
		}
		if err := checkConfigChange(a, cur, next); err != nil {
			return err
		}
		if err := s.checkWebhook(cur, next); err != nil {
			return err
		}
		changed = diffPaths(cur, next)
		if len(changed) == 0 {
			return nil
		}
		if o.IsSystem {
			managed := s.ManagedFields()
			for _, p := range changed {
				if v, ok := managed[p]; ok {
					return invalid(p, "is managed by .env (%s); change it there and sync", v)
				}
			}
		}
		sealed, err := s.sealConfig(next)
		if err != nil || dryRun {
			return err
		}
		if err := tx.UpdateOrgConfig(ctx, o.ID, sealed); err != nil {
			return err
		}
		if details == nil {
			details = map[string]any{}
		}
		details["changed"] = changed
		return s.audit(ctx, tx.Queries, a, o.ID, action, o.Slug, details)
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// checkConfigChange applies the rules of every config change (next, from
// cur) by a: secrets sent back masked keep their stored values (forms and
// documents show them masked, URLs with credentials too), the platform's
// credentials stay where they belong, the ceiling is the system admins',
// and the whole document is valid.
func checkConfigChange(a Actor, cur, next *config.Org) error {
	if err := keepMaskedSecrets(cur, next); err != nil {
		return err
	}
	if err := guardPlatformCredentials(a, cur, next); err != nil {
		return err
	}
	if err := guardCeiling(a, cur, next); err != nil {
		return err
	}
	if err := next.Validate(); err != nil {
		return fromConfig(err)
	}
	return nil
}
