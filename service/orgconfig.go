package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"lamb/config"
	"lamb/secret"
	"lamb/store"
)

// openConfig decodes an org's stored config and decrypts its secrets.
func (s *Service) openConfig(o store.Org) (*config.Org, error) {
	c, err := config.ParseOrg([]byte(o.Config))
	if err != nil {
		return nil, fmt.Errorf("organization %s: stored config: %w", o.Slug, err)
	}
	err = c.MapSecrets(func(path, v string) (string, error) {
		// A URL with credentials stored before they were sealed (the
		// next write seals it); its credentials still hold no more secret
		// than they did.
		if !secret.IsSealed(v) && strings.HasPrefix(v, "http") {
			return v, nil
		}
		if !secret.IsSealed(v) {
			return "", fmt.Errorf("organization %s: %s is stored unencrypted", o.Slug, path)
		}
		pt, err := s.box.Open(v)
		if err != nil {
			return "", fmt.Errorf("organization %s: %s: %w (is LAMB_SECRET_KEY the key this database was written with?)", o.Slug, path, err)
		}
		return pt, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// sealConfig validates c and returns the JSON to store, secrets encrypted.
func (s *Service) sealConfig(c *config.Org) (string, error) {
	if err := c.Validate(); err != nil {
		return "", fromConfig(err)
	}
	sealed := c.Clone()
	err := sealed.MapSecrets(func(_, v string) (string, error) { return s.box.Seal(v) })
	if err != nil {
		return "", err
	}
	return string(sealed.JSON()), nil
}

// openSignupKey decrypts an org's signup key ("" when none).
func (s *Service) openSignupKey(o store.Org) (string, error) {
	k, err := s.box.Open(o.SignupKeyEnc)
	if err != nil {
		return "", fmt.Errorf("organization %s: signup key: %w", o.Slug, err)
	}
	return k, nil
}

// setSignupKey stores key sealed with its keyed hash; "" clears it. A key
// that another org already uses is a conflict worded like any unusable key:
// it names no org and doesn't say "in use", so that it confirms no more
// than uniqueness must.
func (s *Service) setSignupKey(ctx context.Context, q *store.Queries, orgID int64, key string) error {
	if key == "" {
		return q.SetSignupKey(ctx, orgID, "", "")
	}
	if !config.SignupKeyRE.MatchString(key) {
		return invalid("signup_key", "want 8-64 characters of A-Z, a-z, 0-9, - and _, not starting or ending with - or _")
	}
	enc, err := s.box.Seal(key)
	if err != nil {
		return err
	}
	err = q.SetSignupKey(ctx, orgID, enc, s.box.Hash(key))
	if errors.Is(err, store.ErrConflict) {
		return conflict("signup_key: this key can't be used; choose another key (signup rotate generates one)")
	}
	return err
}
