package service

import (
	"context"
	"errors"
	"net/url"

	"lamb/config"
	"lamb/secret"
	"lamb/store"
)

// Signup is an org's signup state. Key is empty unless revealed.
type Signup struct {
	Enabled bool   `json:"enabled"`
	HasKey  bool   `json:"has_key"`
	Key     string `json:"key,omitempty"`
	URL     string `json:"url,omitempty"` // with the key, when revealed
	Managed string `json:"managed_by_env,omitempty"`
}

// APIBase is the base URL OpenAI clients use for the gateway.
func (s *Service) APIBase() string { return s.publicURL + "/v1" }

func (s *Service) signupURL(key string) string {
	return s.publicURL + "/signup?key=" + url.QueryEscape(key)
}

// SignupInfo returns whether signup is on and whether a key is set. With
// reveal the key and the URL to hand out are included (audited).
func (s *Service) SignupInfo(ctx context.Context, a Actor, slug string, reveal bool) (Signup, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return Signup{}, err
	}
	c, err := config.ParseOrg([]byte(o.Config))
	if err != nil {
		return Signup{}, err
	}
	out := Signup{Enabled: c.Features.SignupEnabled, HasKey: o.SignupKeyHash != ""}
	if o.IsSystem {
		out.Managed = s.ManagedFields()["signup_key"]
	}
	if reveal && out.HasKey {
		key, err := s.openSignupKey(o)
		if err != nil {
			return Signup{}, err
		}
		if err := s.audit(ctx, s.st.Queries, a, o.ID, "signup_key.reveal", o.Slug, nil); err != nil {
			return Signup{}, err
		}
		out.Key, out.URL = key, s.signupURL(key)
	}
	return out, nil
}

// SetSignupEnabled switches signup on or off. Turning it on without a key
// generates one.
func (s *Service) SetSignupEnabled(ctx context.Context, a Actor, slug string, on bool) (Signup, error) {
	generated := false
	action := map[bool]string{true: "signup.enable", false: "signup.disable"}[on]
	err := s.editConfig(ctx, a, slug, action,
		func(tx *store.Tx, o store.Org, c *config.Org) (map[string]any, error) {
			already := c.Features.SignupEnabled == on
			c.Features.SignupEnabled = on
			// A key that SIGNUP_SECRET_KEY manages is the environment's to set.
			_, envKey := s.ManagedFields()["signup_key"]
			if on && o.SignupKeyHash == "" && !(o.IsSystem && envKey) {
				key, err := secret.Token(20, secret.Base62)
				if err != nil {
					return nil, err
				}
				if err := s.setSignupKey(ctx, tx.Queries, o.ID, key); err != nil {
					return nil, err
				}
				generated = true
				// Signup was already on, so the document doesn't change and
				// editConfig writes no event; the new key still needs one.
				if already {
					if err := s.audit(ctx, tx.Queries, a, o.ID, action, o.Slug, map[string]any{"signup_key_generated": true}); err != nil {
						return nil, err
					}
				}
			}
			return map[string]any{"signup_key_generated": generated}, nil
		})
	if err != nil {
		return Signup{}, err
	}
	return s.SignupInfo(ctx, a, slug, generated)
}

// SetSignupKey sets an org's chosen signup key: strong (requireStrongSignupKey)
// and unique across all orgs. Attack: set-key used to answer "in use" for
// another org's key, so guessing through it found a key to sign up into
// that org with; now every attempt is limited per person and audited in
// the acting org (refusals as signup_key.set_refused, without the key), and
// the collision answer names nobody.
func (s *Service) SetSignupKey(ctx context.Context, a Actor, slug, key string) (Signup, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return Signup{}, err
	}
	out, err := s.setChosenSignupKey(ctx, a, slug, key)
	if reason := refusalReason(err); reason != "" {
		if aerr := s.audit(ctx, s.st.Queries, a, o.ID, "signup_key.set_refused", o.Slug, map[string]any{"reason": reason}); aerr != nil {
			return Signup{}, aerr
		}
	}
	return out, err
}

// setChosenSignupKey counts the attempt (every one, so that guesses run
// out), checks the key's strength, and stores it.
func (s *Service) setChosenSignupKey(ctx context.Context, a Actor, slug, key string) (Signup, error) {
	if !seesAllOrgs(a) {
		if wait, err := s.signupKeySets.take(ctx, probeKey(a), s.now()); err != nil {
			return Signup{}, err
		} else if wait > 0 {
			return Signup{}, &RetryLaterError{What: "signup key changes", RetryAfter: wait}
		}
	}
	if err := requireStrongSignupKey("signup_key", key); err != nil {
		return Signup{}, err
	}
	return s.replaceSignupKey(ctx, a, slug, key, "signup_key.set")
}

// refusalReason names why an attempt was refused, for its audit event; ""
// for a failure of the server, which isn't the person's attempt.
func refusalReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, ErrConflict):
		return "in_use"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return ""
}

// Chosen signup keys: what guessing is up against. A key people choose
// tends to be a pattern; these bounds make the simplest ones too short or
// too plain, and generated keys (signup rotate) are 20 random characters.
const (
	minChosenSignupKey   = 16
	minDistinctSignupKey = 8 // different characters a chosen key must hold
	maxSignupKeyRun      = 3 // aaaa, abcd, 4321: a run of 4 is refused
)

// weakSignupKeyMessage says the rule and the way out.
const weakSignupKeyMessage = "is too easy to guess: a chosen key needs at least 16 characters of A-Z, a-z, 0-9, - and _, " +
	"at least 8 of them different, and no runs like aaaa or 1234 (signup rotate generates a strong one)"

// requireStrongSignupKey is the rule for signup keys that people choose
// (signup set-key, org create --signup-key, org import): the format, at
// least 16 characters, at least 8 different ones, and no run of four equal
// or consecutive characters. Keys already stored keep working; the
// environment's SIGNUP_SECRET_KEY only gets a warning (SyncSystemOrg).
func requireStrongSignupKey(field, key string) error {
	if !config.SignupKeyRE.MatchString(key) {
		return invalid(field, "want 16-64 characters of A-Z, a-z, 0-9, - and _, not starting or ending with - or _")
	}
	if !strongSignupKey(key) {
		return invalid(field, "%s", weakSignupKeyMessage)
	}
	return nil
}

// strongSignupKey applies the length, variety and run rules.
func strongSignupKey(key string) bool {
	if len(key) < minChosenSignupKey {
		return false
	}
	distinct := map[byte]bool{}
	for i := 0; i < len(key); i++ {
		distinct[key[i]] = true
	}
	if len(distinct) < minDistinctSignupKey {
		return false
	}
	same, up, down := 0, 0, 0
	for i := 1; i < len(key); i++ {
		d := int(key[i]) - int(key[i-1])
		same, up, down = extendRun(d == 0, same), extendRun(d == 1, up), extendRun(d == -1, down)
		if same >= maxSignupKeyRun || up >= maxSignupKeyRun || down >= maxSignupKeyRun {
			return false
		}
	}
	return true
}

// extendRun extends a run of steps or restarts it.
func extendRun(step bool, run int) int {
	if step {
		return run + 1
	}
	return 0
}

// RotateSignupKey replaces an org's signup key with a random one; the old
// key stops working at once.
func (s *Service) RotateSignupKey(ctx context.Context, a Actor, slug string) (Signup, error) {
	key, err := secret.Token(20, secret.Base62)
	if err != nil {
		return Signup{}, err
	}
	return s.replaceSignupKey(ctx, a, slug, key, "signup_key.rotate")
}

// replaceSignupKey stores key as the org's signup key (unless the
// environment manages it) and audits action; it returns the key revealed.
func (s *Service) replaceSignupKey(ctx context.Context, a Actor, slug, key, action string) (Signup, error) {
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.orgForAdmin(ctx, tx.Queries, a, slug)
		if err != nil {
			return err
		}
		if o.IsSystem {
			if v, ok := s.ManagedFields()["signup_key"]; ok {
				return invalid("signup_key", "is managed by .env (%s); change it there and sync", v)
			}
		}
		if err := s.setSignupKey(ctx, tx.Queries, o.ID, key); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, o.ID, action, o.Slug, nil)
	})
	if err != nil {
		return Signup{}, err
	}
	return s.SignupInfo(ctx, a, slug, true)
}
