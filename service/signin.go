package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"lamb/store"
)

// Sign-in throttling: DESIGN §5.
const (
	signInMaxFailures = 5
	signInWindow      = 15 * time.Minute
)

// ErrBadCredentials is the one answer to an unknown email and a wrong
// password, so that sign-in can't be used to find accounts.
var ErrBadCredentials = errors.New("email or password is not right")

// ThrottledError says sign-in is paused for a key or an email.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins; try again in %s", e.RetryAfter.Round(time.Minute))
}

// throttle counts failures per key in a sliding window. It lives in memory:
// a restart forgets failures, which costs an attacker a restart they can't
// cause.
type throttle struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

func newThrottle() *throttle { return &throttle{failures: map[string][]time.Time{}} }

// check returns how long key must wait, 0 when it may try.
func (t *throttle) check(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	fs := t.recent(key, now)
	if len(fs) < signInMaxFailures {
		return 0
	}
	return fs[len(fs)-signInMaxFailures].Add(signInWindow).Sub(now)
}

func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures[key] = append(t.recent(key, now), now)
	if len(t.failures) > 100_000 { // bound memory under a flood of keys
		for k := range t.failures {
			if len(t.recent(k, now)) == 0 {
				delete(t.failures, k)
			}
		}
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}

func (t *throttle) recent(key string, now time.Time) []time.Time {
	fs := t.failures[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= signInWindow {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(t.failures, key)
		return nil
	}
	t.failures[key] = fs
	return fs
}

// SignIn checks an email and password for an SSH key that is not linked to
// any account yet. On success the key is linked to the account (audited)
// and the account's actor is returned. Failures are throttled per key and
// per email; an unknown email and a wrong password answer the same.
func (s *Service) SignIn(ctx context.Context, keyLine, email, password string) (Actor, error) {
	k, err := parseSSHKey("ssh_key", keyLine)
	if err != nil {
		return Actor{}, err
	}
	now := s.now()
	byKey, byEmail := "key:"+k.fingerprint, "email:"+normalizeLoose(email)
	if wait := max(s.signIns.check(byKey, now), s.signIns.check(byEmail, now)); wait > 0 {
		return Actor{}, &ThrottledError{RetryAfter: wait}
	}
	fail := func() (Actor, error) {
		s.signIns.fail(byKey, now)
		s.signIns.fail(byEmail, now)
		return Actor{}, ErrBadCredentials
	}
	addr, err := normalizeEmail(email)
	if err != nil {
		verifyPassword(dummyHash, password)
		return fail()
	}
	u, err := s.st.UserByEmail(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		verifyPassword(dummyHash, password)
		return fail()
	} else if err != nil {
		return Actor{}, err
	}
	if u.PasswordHash == "" {
		verifyPassword(dummyHash, password) // as long as for a wrong password
		return fail()
	}
	if !verifyPassword(u.PasswordHash, password) {
		return fail()
	}
	s.signIns.reset(byKey)
	s.signIns.reset(byEmail)
	var actor Actor
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		org, err := tx.OrgByID(ctx, u.OrganizationID)
		if err != nil {
			return err
		}
		if !u.Enabled {
			return ErrDisabled
		}
		if org.Status != store.OrgActive {
			return ErrOrgSuspended
		}
		if _, err := tx.AddSSHKey(ctx, store.SSHKey{OrganizationID: org.ID, UserID: u.ID,
			Fingerprint: k.fingerprint, PublicKey: k.line, Comment: k.comment}); err != nil {
			return storeErr(err, "ssh key "+k.fingerprint)
		}
		actor = actorFor(u, org, k.fingerprint)
		return s.audit(ctx, tx.Queries, actor, org.ID, "sshkey.link", u.Email, map[string]any{"fingerprint": k.fingerprint, "via": "sign-in"})
	})
	if err != nil {
		return Actor{}, err
	}
	return actor, nil
}
