package service

import (
	"context"
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

// SetSignupKey sets an org's signup key: 8-64 characters of A-Z, a-z, 0-9,
// - and _, unique across all orgs (the answer doesn't say which org has it).
func (s *Service) SetSignupKey(ctx context.Context, a Actor, slug, key string) (Signup, error) {
	if !config.SignupKeyRE.MatchString(key) {
		return Signup{}, invalid("signup_key", "want 8-64 characters of A-Z, a-z, 0-9, - and _, not starting or ending with - or _")
	}
	return s.replaceSignupKey(ctx, a, slug, key, "signup_key.set")
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
