package service

import (
	"context"
	"errors"
	"strings"

	"golang.org/x/crypto/ssh"

	"lamb/internal/safetext"
	"lamb/store"
)

// parsedKey is an SSH public key checked and normalized for storage.
type parsedKey struct {
	key         ssh.PublicKey
	line        string // authorized-key line without options or comment
	fingerprint string // SHA256:…
	comment     string
}

// parseSSHKey accepts one authorized-key line ("ssh-ed25519 AAAA… comment").
func parseSSHKey(field, line string) (parsedKey, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return parsedKey{}, invalid(field, "is empty; paste a public key line such as \"ssh-ed25519 AAAA… you@laptop\"")
	}
	if strings.Contains(line, "PRIVATE KEY") {
		return parsedKey{}, invalid(field, "this is a private key; paste the public key (the .pub file) instead")
	}
	k, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return parsedKey{}, invalid(field, "not an SSH public key; paste one line of a .pub file such as \"ssh-ed25519 AAAA… you@laptop\"")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return parsedKey{}, invalid(field, "holds more than one key; add them one at a time")
	}
	// The comment is drawn in admins' consoles: an escape sequence in it
	// would run on their terminal (OSC 52 writes their clipboard).
	if err := safetext.Check(comment); err != nil {
		return parsedKey{}, invalid(field, "the comment after the key %v", err)
	}
	return parsedKey{
		key:         k,
		line:        strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))),
		fingerprint: ssh.FingerprintSHA256(k),
		comment:     comment,
	}, nil
}

// addKey links a parsed key to u and audits it.
func (s *Service) addKey(ctx context.Context, q *store.Queries, a Actor, u store.User, k parsedKey) error {
	_, err := q.AddSSHKey(ctx, store.SSHKey{OrganizationID: u.OrganizationID, UserID: u.ID,
		Fingerprint: k.fingerprint, PublicKey: k.line, Comment: k.comment})
	if errors.Is(err, store.ErrConflict) {
		return sshKeyConflict(ctx, q, a, k)
	} else if err != nil {
		return err
	}
	return s.audit(ctx, q, a, u.OrganizationID, "sshkey.add", u.Email, map[string]any{"fingerprint": k.fingerprint})
}

// sshKeyConflict answers a key that is linked already. Attack: sshkey add
// answered "already linked to an account" for a key of another org, which
// confirmed whose keys those were; only an actor who may see the account
// that holds it is told so.
func sshKeyConflict(ctx context.Context, q *store.Queries, a Actor, k parsedKey) error {
	held, err := q.SSHKeyByFingerprint(ctx, k.fingerprint)
	mayKnow := err == nil && (held.UserID == a.UserID || (a.Role == RoleOrgAdmin && held.OrganizationID == a.OrgID))
	if seesAllOrgs(a) || mayKnow {
		return conflict("ssh_key: this key (%s) is already linked to an account", k.fingerprint)
	}
	return conflict("ssh_key: this key can't be added (use another key, or ask a system admin if it should move from another account)")
}

// keyOwner resolves whose keys an operation is about: the actor's own when
// email is "" or theirs, otherwise a user the actor administers.
func (s *Service) keyOwner(ctx context.Context, q *store.Queries, a Actor, email string) (store.User, error) {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return store.User{}, ErrForbidden
	}
	if email == "" || normalizeLoose(email) == a.Email {
		u, err := q.UserByID(ctx, a.UserID)
		return u, storeErr(err, "user")
	}
	u, _, err := s.userForAdmin(ctx, q, a, email)
	return u, err
}

// ListSSHKeys lists a user's SSH keys (the actor's own for email "").
func (s *Service) ListSSHKeys(ctx context.Context, a Actor, email string) ([]SSHKey, error) {
	u, err := s.keyOwner(ctx, s.st.Queries, a, email)
	if err != nil {
		return nil, err
	}
	keys, err := s.st.SSHKeysByUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := make([]SSHKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, sshKeyView(k, u.Email))
	}
	return out, nil
}

// AddSSHKey links a public key to a user (the actor's own for email "").
func (s *Service) AddSSHKey(ctx context.Context, a Actor, email, keyLine string) (SSHKey, error) {
	k, err := parseSSHKey("ssh_key", keyLine)
	if err != nil {
		return SSHKey{}, err
	}
	if err := s.requireUniquenessProbeAllowed(ctx, a); err != nil {
		return SSHKey{}, err
	}
	var out SSHKey
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		u, err := s.keyOwner(ctx, tx.Queries, a, email)
		if err != nil {
			return err
		}
		if u.ID != a.UserID {
			if err := guardSystemAdmin(a, u); err != nil {
				return err
			}
		}
		if err := s.addKey(ctx, tx.Queries, a, u, k); err != nil {
			return err
		}
		out = SSHKey{Fingerprint: k.fingerprint, Type: keyType(k.line), PublicKey: k.line, Comment: k.comment, UserEmail: u.Email, CreatedAt: s.now().UTC()}
		return nil
	})
	if errors.Is(err, ErrConflict) {
		s.countUniquenessProbe(ctx, a)
	}
	return out, err
}

// RemoveSSHKey unlinks a key by fingerprint: the actor's own keys, or keys
// of users the actor administers. Another org's key is not found.
func (s *Service) RemoveSSHKey(ctx context.Context, a Actor, fingerprint string) error {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return ErrForbidden
	}
	fingerprint = strings.TrimSpace(fingerprint)
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		k, err := tx.SSHKeyByFingerprint(ctx, fingerprint)
		if err != nil {
			return storeErr(err, "ssh key "+fingerprint)
		}
		if k.UserID != a.UserID {
			if err := requireOrgAdmin(a, k.OrganizationID); err != nil {
				if errors.Is(err, ErrNotFound) || a.Role == RoleMember {
					return notFound("ssh key %s", fingerprint)
				}
				return err
			}
		}
		u, err := tx.UserByID(ctx, k.UserID)
		if err != nil {
			return err
		}
		if k.UserID != a.UserID {
			if err := guardSystemAdmin(a, u); err != nil {
				return err
			}
		} else if u.PasswordHash == "" {
			// Your own last key, without a password to sign in with and
			// link a new one: removing it would lock you out for good
			// (only an admin could let you back in).
			keys, err := tx.SSHKeysByUser(ctx, u.ID)
			if err != nil {
				return err
			}
			if len(keys) <= 1 {
				return invalid("fingerprint", "this is your only SSH key and your account has no password, so you could not sign in again; add another key or set a password first, then remove this one")
			}
		}
		if err := tx.DeleteSSHKey(ctx, k.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, k.OrganizationID, "sshkey.remove", u.Email, map[string]any{"fingerprint": fingerprint})
	})
}
