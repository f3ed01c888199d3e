package service

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"lamb/store"
)

// ActorForSSHKey resolves the identity of an SSH session from the
// fingerprint of the key that signed it. An unknown key is ErrNotFound (the
// caller offers the sign-in screen); a disabled user is ErrDisabled and a
// suspended org ErrOrgSuspended. A database that doesn't answer within the
// lookup bound is ErrUnavailable: a frozen disk must not hang logins.
func (s *Service) ActorForSSHKey(ctx context.Context, fingerprint string) (Actor, error) {
	type found struct {
		k   store.SSHKey
		u   store.User
		org store.Org
	}
	f, err := bounded(ctx, s.lookupTimeout, func(ctx context.Context) (found, error) {
		k, err := s.st.SSHKeyByFingerprint(ctx, fingerprint)
		if err != nil {
			return found{}, storeErr(err, "ssh key")
		}
		u, err := s.st.UserByID(ctx, k.UserID)
		if err != nil {
			return found{}, storeErr(err, "user")
		}
		org, err := s.st.OrgByID(ctx, u.OrganizationID)
		if err != nil {
			return found{}, storeErr(err, "organization")
		}
		return found{k, u, org}, nil
	})
	if err != nil {
		return Actor{}, err
	}
	if !f.u.Enabled {
		return Actor{}, ErrDisabled
	}
	if f.org.Status != store.OrgActive {
		return Actor{}, ErrOrgSuspended
	}
	s.recordSignIn(ctx, f.k.ID, f.u.ID)
	return actorFor(f.u, f.org, fingerprint), nil
}

// recordSignIn stamps a key's last use and its user's last sighting, for
// every way in: a known key, the sign-in screen, the claim code. A busy or
// frozen writer may delay a login by touchTimeout at most, and never fails
// it.
func (s *Service) recordSignIn(ctx context.Context, keyID, userID int64) {
	_, err := bounded(ctx, touchTimeout, func(ctx context.Context) (struct{}, error) {
		if err := s.st.TouchSSHKey(ctx, keyID); err != nil {
			return struct{}{}, fmt.Errorf("record ssh key use: %w", err)
		}
		if err := s.st.TouchUser(ctx, userID); err != nil {
			return struct{}{}, fmt.Errorf("record user seen: %w", err)
		}
		return struct{}{}, nil
	})
	if err != nil {
		s.log.Warn("record sign-in", "err", err)
	}
}

// touchTimeout bounds recording when a key was last used.
const touchTimeout = time.Second

func actorFor(u store.User, org store.Org, via string) Actor {
	a := Actor{UserID: u.ID, Email: u.Email, OrgID: org.ID, OrgSlug: org.Slug, Via: via, Role: RoleMember,
		MustChoosePassword: mustChoosePassword(u.PasswordHash)}
	switch {
	case u.SystemAdmin && org.IsSystem:
		a.Role = RoleSystemAdmin
	case u.Role == store.RoleAdmin:
		a.Role = RoleOrgAdmin
	}
	return a
}

// Identity is what whoami shows.
type Identity struct {
	Email   string `json:"email"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	OrgSlug string `json:"organization"`
	OrgName string `json:"organization_name"`
	Via     string `json:"signed_in_with,omitempty"`
	// HasPassword says whether the account can sign in with a password
	// (a new SSH key is linked that way), not only with its keys.
	HasPassword bool `json:"has_password"`
	// Alerts are this month's budget alerts the account should know of:
	// for an org's admins, the org's (its budget and its users'); for a
	// member, only those of their own budget.
	Alerts []BudgetAlert `json:"alerts"`
}

// whoamiAlerts bounds the budget alerts whoami shows.
const whoamiAlerts = 20

// Whoami describes the actor.
func (s *Service) Whoami(ctx context.Context, a Actor) (Identity, error) {
	if a.UserID == 0 {
		return Identity{}, ErrForbidden
	}
	u, err := s.st.UserByID(ctx, a.UserID)
	if err != nil {
		return Identity{}, storeErr(err, "user")
	}
	org, err := s.st.OrgByID(ctx, u.OrganizationID)
	if err != nil {
		return Identity{}, storeErr(err, "organization")
	}
	// A member sees the alerts of their own budget only: the org's
	// budget and colleagues' are for its admins.
	mine := u.ID
	if u.Role == store.RoleAdmin || (u.SystemAdmin && org.IsSystem) {
		mine = 0
	}
	alerts, err := s.currentAlerts(ctx, org, mine, whoamiAlerts)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Email: u.Email, Name: u.Name, Role: a.Role.String(), OrgSlug: org.Slug, OrgName: org.Name, Via: a.Via,
		HasPassword: u.PasswordHash != "", Alerts: alerts}, nil
}

// normalizeEmail lower-cases and checks an email address.
func normalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return "", invalid("email", "is required")
	}
	// net/mail accepts C1 controls and bidi overrides in the local part.
	if err := checkText("email", e); err != nil {
		return "", err
	}
	if len(e) > 254 {
		return "", invalid("email", "is longer than 254 characters")
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || !strings.Contains(e[strings.LastIndex(e, "@"):], ".") {
		return "", invalid("email", "%q is not an email address like name@example.org", email)
	}
	return e, nil
}

// checkName trims a display name and checks it is 1-100 characters.
func checkName(field, name string) (string, error) {
	n := strings.TrimSpace(name)
	if l := utf8.RuneCountInString(n); l < 1 || l > 100 {
		return "", invalid(field, "must be 1-100 characters")
	}
	if err := checkText(field, n); err != nil {
		return "", err
	}
	return n, nil
}

// normalizeLoose lower-cases and trims, for keys of throttles and lookups
// of input that may not be valid.
func normalizeLoose(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ErrSessionChanged says the account behind an open session changed (its
// role, or the key it signed in with) so the session must sign in again.
var ErrSessionChanged = errors.New("your account changed since you signed in (role or SSH key); connect again")

// CheckActor confirms that a signed-in actor still holds: the key it signed
// in with still belongs to its user, who is still enabled, in an active
// org, with the same role. Long-lived sessions (the console) call it before
// each action, so disabling a user, removing a key or demoting an admin
// takes effect in sessions already open. It only reads.
func (s *Service) CheckActor(ctx context.Context, a Actor) error {
	if a.Role == RoleSystem || a.Role == RoleAPIKey || a.Role == RoleNone {
		return nil
	}
	// Only a row that is gone means the account changed; any other error
	// (a busy database) is returned as it is.
	gone := func(err error) error {
		if errors.Is(err, store.ErrNotFound) {
			return ErrSessionChanged
		}
		return err
	}
	k, err := s.st.SSHKeyByFingerprint(ctx, a.Via)
	if err != nil {
		return gone(err)
	}
	if k.UserID != a.UserID {
		return ErrSessionChanged
	}
	u, err := s.st.UserByID(ctx, a.UserID)
	if err != nil {
		return gone(err)
	}
	home, err := s.st.OrgByID(ctx, u.OrganizationID)
	if err != nil {
		return gone(err)
	}
	switch {
	case !u.Enabled:
		return ErrDisabled
	case home.Status != store.OrgActive:
		return ErrOrgSuspended
	}
	now := actorFor(u, home, a.Via)
	if a.ActingSystemAdmin {
		if now.Role != RoleSystemAdmin {
			return ErrSessionChanged
		}
		return nil
	}
	if now.Role != a.Role || now.OrgID != a.OrgID {
		return ErrSessionChanged
	}
	return nil
}
