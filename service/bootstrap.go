package service

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"lamb/secret"
	"lamb/store"
)

// claimSetting holds the first-run claim code, sealed: every instance on
// the database prints the same code, so each must be able to read it.
const claimSetting = "claim_code"

// BootstrapAdmins attaches each authorized-key line to the bootstrap admin
// (created in the system org if missing, with system_admin set). It runs at
// every start; keys already attached are left alone.
func (s *Service) BootstrapAdmins(ctx context.Context, a Actor, keyLines []string, email, name string) error {
	if err := requireProcess(a); err != nil {
		return err
	}
	if len(keyLines) == 0 {
		return nil
	}
	keys := make([]parsedKey, 0, len(keyLines))
	for i, line := range keyLines {
		k, err := parseSSHKey(fmt.Sprintf("admin key %d", i+1), line)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	email, err := normalizeEmail(email)
	if err != nil {
		return err
	}
	if err := checkText("LAMB_ADMIN_NAME", name); err != nil {
		return err
	}
	// Under the bootstrap lock: instances starting at once on an empty
	// database would each find no admin and create one.
	return s.st.Exclusive(ctx, store.LockBootstrap, func(ctx context.Context) error {
		return s.bootstrapAdmins(ctx, a, keys, email, name)
	})
}

func (s *Service) bootstrapAdmins(ctx context.Context, a Actor, keys []parsedKey, email, name string) error {
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		sys, err := tx.SystemOrg(ctx)
		if err != nil {
			return fmt.Errorf("system organization: %w", err)
		}
		u, err := tx.UserByEmail(ctx, email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			u, err = tx.CreateUser(ctx, store.User{OrganizationID: sys.ID, Email: email, Name: name,
				Role: store.RoleAdmin, SystemAdmin: true, Enabled: true})
			if err != nil {
				return err
			}
			if err := s.audit(ctx, tx.Queries, a, sys.ID, "user.create", email, map[string]any{"system_admin": true, "bootstrap": true}); err != nil {
				return err
			}
		case err != nil:
			return err
		case u.OrganizationID != sys.ID:
			return invalid("LAMB_ADMIN_EMAIL", "%s belongs to another organization; system admins must be in %s", email, SystemSlug)
		case !u.SystemAdmin:
			// Promoting an existing account would hand system admin to
			// whoever holds its password and keys (someone who signed up
			// with this email, say). A person must do that on purpose.
			return invalid("LAMB_ADMIN_EMAIL", "%s is an existing account that is not a system admin; make it one with `user set-system-admin %s on`, or set LAMB_ADMIN_EMAIL to another address", email, email)
		case !u.Enabled || u.Role != store.RoleAdmin:
			if err := tx.MakeSystemAdmin(ctx, u.ID); err != nil {
				return err
			}
			if err := s.audit(ctx, tx.Queries, a, sys.ID, "user.enable", email, map[string]any{"bootstrap": true}); err != nil {
				return err
			}
		}
		for _, k := range keys {
			existing, err := tx.SSHKeyByFingerprint(ctx, k.fingerprint)
			if err == nil {
				if existing.UserID != u.ID {
					return conflict("admin key %s is already linked to another user; remove it there first or use another key", k.fingerprint)
				}
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if _, err := tx.AddSSHKey(ctx, store.SSHKey{OrganizationID: sys.ID, UserID: u.ID,
				Fingerprint: k.fingerprint, PublicKey: k.line, Comment: k.comment}); err != nil {
				return err
			}
			if err := s.audit(ctx, tx.Queries, a, sys.ID, "sshkey.add", email, map[string]any{"fingerprint": k.fingerprint, "bootstrap": true}); err != nil {
				return err
			}
		}
		return tx.DeleteSetting(ctx, claimSetting)
	})
}

// PrepareClaim returns the one-time claim code while the platform has no
// system admin, and "" once one exists. The code is made by the first
// instance that prepares one and kept, sealed, until it is claimed: every
// instance, and every restart, returns the same code, so whichever
// instance a load balancer sends the claim to accepts the code that any of
// them printed.
func (s *Service) PrepareClaim(ctx context.Context, a Actor) (string, error) {
	if err := requireProcess(a); err != nil {
		return "", err
	}
	var code string
	err := s.st.Exclusive(ctx, store.LockBootstrap, func(ctx context.Context) error {
		n, err := s.st.CountSystemAdmins(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return s.st.DeleteSetting(ctx, claimSetting)
		}
		token, err := secret.Token(10, secret.ClaimAlphabet)
		if err != nil {
			return err
		}
		fresh := token[:5] + "-" + token[5:]
		sealed, err := s.box.Seal(fresh)
		if err != nil {
			return err
		}
		// Kept if another instance's code is stored already.
		if _, err := s.st.AddSetting(ctx, claimSetting, sealed); err != nil {
			return err
		}
		code, err = s.claimCode(ctx, s.st.Queries)
		if !errors.Is(err, ErrBadClaim) {
			return err
		}
		// A stored code this key can't open can't be claimed either:
		// replaced, so that the start prints one that works.
		code = fresh
		return s.st.SetSetting(ctx, claimSetting, sealed)
	})
	return code, err
}

// claimCode reads the stored claim code; ErrBadClaim when there is none
// or it can't be opened.
func (s *Service) claimCode(ctx context.Context, q *store.Queries) (string, error) {
	sealed, err := q.Setting(ctx, claimSetting)
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrBadClaim
	} else if err != nil {
		return "", err
	}
	code, err := s.box.Open(sealed)
	if err != nil {
		return "", ErrBadClaim
	}
	return code, nil
}

// ErrBadClaim is the answer to a wrong or used claim code.
var ErrBadClaim = errors.New("that claim code is not valid (it works once, and only while no system admin exists)")

// Claim makes the holder of the first-run claim code the system admin: a
// user is created in the system org with the given email and name, and the
// SSH key that entered the code is linked to it. The code then stops
// working, platform-wide: the transaction that reads it deletes it, so of
// two claims at the same moment (on two instances, say) one commits and
// the other, run again, finds no code.
func (s *Service) Claim(ctx context.Context, code, keyLine, email, name string) (Actor, error) {
	k, err := parseSSHKey("ssh_key", keyLine)
	if err != nil {
		return Actor{}, err
	}
	if email, err = normalizeEmail(email); err != nil {
		return Actor{}, err
	}
	if name, err = checkName("name", name); err != nil {
		return Actor{}, err
	}
	var actor Actor
	var keyID int64
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		want, err := s.claimCode(ctx, tx.Queries)
		if err != nil {
			return err
		}
		got, stored := s.box.Hash(normalizeClaim(code)), s.box.Hash(normalizeClaim(want))
		if subtle.ConstantTimeCompare([]byte(got), []byte(stored)) != 1 {
			return ErrBadClaim
		}
		if n, err := tx.CountSystemAdmins(ctx); err != nil {
			return err
		} else if n > 0 {
			return ErrBadClaim
		}
		sys, err := tx.SystemOrg(ctx)
		if err != nil {
			return err
		}
		u, err := tx.CreateUser(ctx, store.User{OrganizationID: sys.ID, Email: email, Name: name,
			Role: store.RoleAdmin, SystemAdmin: true, Enabled: true})
		if err != nil {
			return storeErr(err, "user "+email)
		}
		added, err := tx.AddSSHKey(ctx, store.SSHKey{OrganizationID: sys.ID, UserID: u.ID,
			Fingerprint: k.fingerprint, PublicKey: k.line, Comment: k.comment})
		if err != nil {
			return storeErr(err, "ssh key "+k.fingerprint)
		}
		keyID = added.ID
		actor = actorFor(u, sys, k.fingerprint)
		if err := s.audit(ctx, tx.Queries, actor, sys.ID, "system.claim", email, map[string]any{"fingerprint": k.fingerprint}); err != nil {
			return err
		}
		return tx.DeleteSetting(ctx, claimSetting)
	})
	if err != nil {
		return Actor{}, err
	}
	s.recordSignIn(ctx, keyID, actor.UserID)
	return actor, nil
}

func normalizeClaim(code string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
}

// ClaimOpen reports whether the first-run claim code can still be used
// (no system admin yet), so the sign-in screen offers it only then.
func (s *Service) ClaimOpen(ctx context.Context) bool {
	_, err := bounded(ctx, s.lookupTimeout, func(ctx context.Context) (string, error) {
		return s.st.Setting(ctx, claimSetting)
	})
	return err == nil
}
