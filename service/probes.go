package service

import (
	"context"
	"time"
)

// Limits on answers that say something exists somewhere else on the
// platform. Keys, emails and SSH keys are unique across all organizations,
// so refusing a duplicate tells an org admin that another org holds it;
// without a limit those refusals are an oracle (200 guesses of signup keys
// in a few seconds found another org's key). They are counted per person,
// in the database like the other throttles.
const (
	signupKeySetsPerHour = 10 // signup set-key attempts, refused or not
	signupKeySetWindow   = time.Hour
	uniquenessProbes     = 20 // "already used" answers of user create and sshkey add
	uniquenessWindow     = 10 * time.Minute
)

// seesAllOrgs reports whether the actor is a person who may read every
// organization: a system admin, also while working as an org's admin. Such
// an actor learns nothing from a uniqueness answer, so it gets the precise
// one and no limit.
func seesAllOrgs(a Actor) bool {
	return a.Role == RoleSystem || a.Role == RoleSystemAdmin || a.ActingSystemAdmin
}

// probeKey names the person a probe limit counts for.
func probeKey(a Actor) string { return "user:" + itoa(a.UserID) }

// requireUniquenessProbeAllowed refuses a user create or SSH key add by an
// actor who has had too many "already used" answers lately. The limit
// counts some outcomes (refusals) but stops every attempt once reached:
// otherwise a success would still answer what a refusal hides.
func (s *Service) requireUniquenessProbeAllowed(ctx context.Context, a Actor) error {
	if seesAllOrgs(a) {
		return nil
	}
	key := probeKey(a)
	seen, err := s.uniqueness.look(ctx, s.now(), key)
	if err != nil {
		return err
	}
	if wait := seen.wait(key); wait > 0 {
		return &RetryLaterError{What: "attempts with addresses or keys that are already used", RetryAfter: wait}
	}
	return nil
}

// countUniquenessProbe records an "already used" answer given to a. The
// answer stands when it can't be counted (the database failing now): it
// is logged, and the next attempt meets the same database.
func (s *Service) countUniquenessProbe(ctx context.Context, a Actor) {
	if seesAllOrgs(a) {
		return
	}
	if _, err := s.uniqueness.take(context.WithoutCancel(ctx), probeKey(a), s.now()); err != nil {
		s.log.Warn("count an already-used answer", "user_id", a.UserID, "err", err)
	}
}
