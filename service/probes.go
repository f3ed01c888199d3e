package service

import "time"

// Limits on answers that say something exists somewhere else on the
// platform. Keys, emails and SSH keys are unique across all organizations,
// so refusing a duplicate tells an org admin that another org holds it;
// without a limit those refusals are an oracle (200 guesses of signup keys
// in a few seconds found another org's key). They are counted per person,
// in memory like the other throttles.
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

// waitFor returns how long key must wait before its next attempt without
// recording one (0: it may try). take records; this only looks, for limits
// that count some outcomes (refusals) but must stop every attempt once
// reached — otherwise a success would still answer what a refusal hides.
func (w *window) waitFor(key string, now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := w.events[key]
	i := 0
	for i < len(ev) && now.Sub(ev[i]) >= w.period {
		i++
	}
	if len(ev)-i < w.limit {
		return 0
	}
	return ev[i].Add(w.period).Sub(now)
}

// requireUniquenessProbeAllowed refuses a user create or SSH key add by an
// actor who has had too many "already used" answers lately.
func (s *Service) requireUniquenessProbeAllowed(a Actor) error {
	if seesAllOrgs(a) {
		return nil
	}
	if wait := s.uniqueness.waitFor(probeKey(a), s.now()); wait > 0 {
		return &RetryLaterError{What: "attempts with addresses or keys that are already used", RetryAfter: wait}
	}
	return nil
}

// countUniquenessProbe records an "already used" answer given to a.
func (s *Service) countUniquenessProbe(a Actor) {
	if !seesAllOrgs(a) {
		s.uniqueness.take(probeKey(a), s.now())
	}
}
