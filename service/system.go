package service

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"lamb/config"
	"lamb/store"
)

// SystemSlug is the slug of the system organization.
const SystemSlug = "lamb"

// SyncSystemOrg creates the system organization if it is missing and writes
// into it every field whose environment variable is set (DESIGN §4). Fields
// whose variable is unset keep what admins stored. It returns the changes,
// logged and audited without secret values; a second sync with the same
// environment changes and audits nothing.
func (s *Service) SyncSystemOrg(ctx context.Context, a Actor, env config.System) ([]config.Change, error) {
	if err := requireSystem(a); err != nil {
		return nil, err
	}
	var changes []config.Change
	// Under the bootstrap lock: instances starting at once on an empty
	// database would each find no system org and create one.
	err := s.st.Exclusive(ctx, store.LockBootstrap, func(ctx context.Context) error {
		var err error
		changes, err = s.syncSystemOrg(ctx, a, env)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		s.log.Info("system organization synced from environment", "change", c.String())
	}
	// SIGNUP_SECRET_KEY is the system admin's own choice, set where the
	// process is deployed: a key weaker than the rule for chosen keys still
	// works, so that an upgrade doesn't refuse to start, but every start
	// says so.
	if k := env.SignupSecretKey; k != nil && *k != "" && !strongSignupKey(*k) {
		s.log.Warn("SIGNUP_SECRET_KEY is easy to guess; use at least 16 characters, at least 8 of them different, with no runs like aaaa or 1234 (for example the output of: openssl rand -base64 24 | tr -d '+/=')")
	}
	s.mu.Lock()
	s.managed = env.ManagedFields()
	s.mu.Unlock()
	return changes, nil
}

// syncSystemOrg applies env to the system org, creating it if missing, in
// one transaction.
func (s *Service) syncSystemOrg(ctx context.Context, a Actor, env config.System) ([]config.Change, error) {
	var changes []config.Change
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		changes = nil
		org, err := tx.SystemOrg(ctx)
		created := false
		if errors.Is(err, store.ErrNotFound) {
			cfg, serr := s.sealConfig(config.NewOrg())
			if serr != nil {
				return serr
			}
			org, err = tx.CreateOrg(ctx, store.Org{Slug: SystemSlug, Name: "LAMB", IsSystem: true, Config: cfg})
			created = true
		}
		if err != nil {
			return fmt.Errorf("system organization: %w", err)
		}
		cfg, err := s.openConfig(org)
		if err != nil {
			return err
		}
		changes = env.Apply(cfg)
		if len(changes) > 0 {
			sealed, err := s.sealConfig(cfg)
			if err != nil {
				return fmt.Errorf("system organization config after applying the environment: %w", err)
			}
			if err := tx.UpdateOrgConfig(ctx, org.ID, sealed); err != nil {
				return err
			}
		}
		if key := env.SignupSecretKey; key != nil {
			current, err := s.openSignupKey(org)
			if err != nil {
				return err
			}
			if current != *key {
				if err := s.setSignupKey(ctx, tx.Queries, org.ID, *key); err != nil {
					return fmt.Errorf("SIGNUP_SECRET_KEY: %w", err)
				}
				changes = append(changes, config.Change{Field: "signup_key", Variable: "SIGNUP_SECRET_KEY", Secret: true})
			}
		}
		if !created && len(changes) == 0 {
			return nil
		}
		details := map[string]any{"changes": changeDetails(changes)}
		if created {
			details["created"] = true
		}
		return s.audit(ctx, tx.Queries, a, org.ID, "system.sync", SystemSlug, details)
	})
	return changes, err
}

// SyncSystemOrgNow re-reads the .env file and the environment and syncs the
// system organization ("sync now"). System admins only.
func (s *Service) SyncSystemOrgNow(ctx context.Context, a Actor) ([]config.Change, error) {
	if err := requireSystemAdmin(a); err != nil {
		return nil, err
	}
	if s.systemEnv == nil {
		return nil, invalid("", "this server was started without an environment to sync from")
	}
	env, err := s.systemEnv()
	if err != nil {
		return nil, invalid("", "read the environment: %v", err)
	}
	return s.SyncSystemOrg(ctx, a, env)
}

// ManagedFields returns the system-org config paths that the environment
// manages, each with its variable: screens show them read-only.
func (s *Service) ManagedFields() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.managed)
}

// changeDetails renders changes for the audit log. Secret values never
// reach it: Apply leaves Old and New empty for them.
func changeDetails(changes []config.Change) []any {
	out := make([]any, 0, len(changes))
	for _, c := range changes {
		m := map[string]any{"field": c.Field}
		if c.Variable != "" {
			m["variable"] = c.Variable
		}
		if c.Secret {
			m["changed"] = true
		} else {
			m["old"], m["new"] = c.Old, c.New
		}
		out = append(out, m)
	}
	return out
}
