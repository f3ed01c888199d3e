package service

import (
	"context"
	"errors"
	"fmt"

	"lamb/store"
)

// A database and the key its secrets are sealed with belong together. A
// lamb started with another key (a lost secret.key, a restored lamb.db,
// a mistyped LAMB_SECRET_KEY) would run, write a new key file, and then
// fail every provider call and signup with "internal error". So the
// database keeps a value sealed with its key, and every start checks it.

// keyCheckSetting holds a known value sealed with the database's key.
const (
	keyCheckSetting = "secret_key_check"
	keyCheckValue   = "lamb secret key check v1"
)

// ErrWrongSecretKey says the secret key at hand doesn't open the
// database's secrets.
var ErrWrongSecretKey = errors.New("the secret key does not open this database's secrets: start lamb with the key this database was written with " +
	"(LAMB_SECRET_KEY, or secret.key in the data directory; back it up together with lamb.db). Nothing was changed")

// CheckSecretKey verifies at start that the service's key opens the
// database's secrets. The first start stores the check; a database from
// before the check is checked against the secrets it holds.
func (s *Service) CheckSecretKey(ctx context.Context) error {
	sealed, err := s.st.Setting(ctx, keyCheckSetting)
	switch {
	case err == nil:
		if v, err := s.box.Open(sealed); err != nil || v != keyCheckValue {
			return ErrWrongSecretKey
		}
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("read the secret key check: %w", err)
	}
	orgs, err := s.st.OrgsWithSecrets(ctx, 50)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		if _, err := s.openConfig(o); err != nil {
			return ErrWrongSecretKey
		}
		if o.SignupKeyEnc != "" {
			if _, err := s.openSignupKey(o); err != nil {
				return ErrWrongSecretKey
			}
		}
	}
	check, err := s.box.Seal(keyCheckValue)
	if err != nil {
		return err
	}
	return s.st.SetSetting(ctx, keyCheckSetting, check)
}

// HoldsSecrets reports whether the database holds anything sealed with a
// key (the key check, a signup key, a provider key): then a missing key
// file is an error to report, never a reason to make a new key.
func HoldsSecrets(ctx context.Context, st *store.Store) (bool, error) {
	if _, err := st.Setting(ctx, keyCheckSetting); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	orgs, err := st.OrgsWithSecrets(ctx, 1)
	return len(orgs) > 0, err
}
