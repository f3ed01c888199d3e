package service

import (
	"context"
	"errors"
	"strings"

	"lamb/config"
	"lamb/store"
)

// userForAdmin loads a user by email for an actor who must administer the
// user's org. An org admin naming another org's user gets the same
// ErrNotFound as for nobody.
func (s *Service) userForAdmin(ctx context.Context, q *store.Queries, a Actor, email string) (store.User, store.Org, error) {
	if a.Role == RoleMember || a.Role == RoleAPIKey || a.Role == RoleNone {
		return store.User{}, store.Org{}, ErrForbidden
	}
	u, err := q.UserByEmail(ctx, normalizeLoose(email))
	if err == nil {
		err = requireOrgAdmin(a, u.OrganizationID)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound) {
		return store.User{}, store.Org{}, notFound("user %q", email)
	} else if err != nil {
		return store.User{}, store.Org{}, err
	}
	o, err := q.OrgByID(ctx, u.OrganizationID)
	if err != nil {
		return store.User{}, store.Org{}, err
	}
	return u, o, nil
}

// guardSystemAdmin refuses a change to a system admin's account by anyone
// but a system admin. An admin of org lamb administers lamb's users, but
// resetting a system admin's password or linking a key to their account
// would let them sign in as that system admin.
func guardSystemAdmin(a Actor, u store.User) error {
	if u.SystemAdmin && a.Role != RoleSystemAdmin && a.Role != RoleSystem {
		return ErrForbidden
	}
	return nil
}

// UserQuery selects users.
type UserQuery struct {
	Org   string // an organization's slug; "" is every org for system admins, the own org for org admins
	Query string // a substring of the email or name, or an org's slug
	// QuietDays, when positive, selects accounts unused for that many days:
	// older than that, with no sign-in (SSH or console) and no use of a
	// personal API key since.
	QuietDays int
}

// ListUsers lists users: system admins see every org (or the one named),
// org admins their own org (naming another is not found).
func (s *Service) ListUsers(ctx context.Context, a Actor, q UserQuery, offset, limit int) (Page[User], error) {
	f := store.UserFilter{Query: strings.TrimSpace(q.Query), Offset: offset, Limit: limit}
	switch {
	case q.Org != "":
		o, err := s.orgForAdmin(ctx, s.st.Queries, a, q.Org)
		if err != nil {
			return Page[User]{}, err
		}
		f.OrganizationID = o.ID
	case a.Role == RoleSystemAdmin:
	case a.Role == RoleOrgAdmin:
		f.OrganizationID = a.OrgID
	default:
		return Page[User]{}, ErrForbidden
	}
	switch {
	case q.QuietDays < 0 || q.QuietDays > maxUsageDays:
		return Page[User]{}, invalid("quiet", "want a number of days from 1 to %d, got %d", maxUsageDays, q.QuietDays)
	case q.QuietDays > 0:
		f.QuietSince = s.now().AddDate(0, 0, -q.QuietDays)
	}
	rows, total, err := s.st.ListUsers(ctx, f)
	if err != nil {
		return Page[User]{}, err
	}
	p := Page[User]{Items: make([]User, 0, len(rows)), Total: total}
	for _, r := range rows {
		p.Items = append(p.Items, userView(r.User, r.OrgSlug))
	}
	return p, nil
}

// GetUser returns one user, with the failed sign-ins on the account in
// the last FailedSignInDays days. System admins, the user's org admins,
// and the user themselves.
func (s *Service) GetUser(ctx context.Context, a Actor, email string) (User, error) {
	var u store.User
	var slug string
	if a.UserID != 0 && normalizeLoose(email) == a.Email {
		var err error
		if u, err = s.st.UserByID(ctx, a.UserID); err != nil {
			return User{}, storeErr(err, "user")
		}
		slug = a.OrgSlug
	} else {
		found, o, err := s.userForAdmin(ctx, s.st.Queries, a, email)
		if err != nil {
			return User{}, err
		}
		u, slug = found, o.Slug
	}
	v := userView(u, slug)
	f := store.AuditFilter{OrganizationID: u.OrganizationID, Action: "user.signin_failed", Target: u.Email,
		Since: s.now().AddDate(0, 0, -FailedSignInDays), Limit: 1}
	n, err := s.st.CountAudit(ctx, f)
	if err != nil {
		return User{}, err
	}
	if v.FailedSignIns = n; n > 0 {
		last, err := s.st.ListAudit(ctx, f)
		if err != nil {
			return User{}, err
		}
		if len(last) > 0 {
			v.LastFailedSignInAt = last[0].CreatedAt
		}
	}
	return v, nil
}

// CreateUserInput is a user created directly by an admin.
type CreateUserInput struct {
	OrgSlug  string
	Email    string
	Name     string
	Role     string // member (default) or admin
	Password string // optional
	SSHKey   string // optional
}

// CreateUserResult is the new user and, when neither a password nor a key
// was given, the one-time password generated for them (shown once).
type CreateUserResult struct {
	User     User   `json:"user"`
	Password string `json:"one_time_password,omitempty"`
}

// CreateUser creates a user in an org. System admins, and that org's admins.
// The org's max_users limit applies.
func (s *Service) CreateUser(ctx context.Context, a Actor, in CreateUserInput) (CreateUserResult, error) {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return CreateUserResult{}, err
	}
	name, err := checkName("name", in.Name)
	if err != nil {
		return CreateUserResult{}, err
	}
	role := strings.TrimSpace(in.Role)
	if role == "" {
		role = store.RoleMember
	}
	if role != store.RoleMember && role != store.RoleAdmin {
		return CreateUserResult{}, invalid("role", "must be admin or member, got %q", in.Role)
	}
	var key *parsedKey
	if strings.TrimSpace(in.SSHKey) != "" {
		k, err := parseSSHKey("ssh_key", in.SSHKey)
		if err != nil {
			return CreateUserResult{}, err
		}
		key = &k
	}
	hash, generated := "", ""
	switch {
	case in.Password != "":
		if err := checkPassword("password", in.Password); err != nil {
			return CreateUserResult{}, err
		}
		if hash, err = s.hashPassword(ctx, in.Password); err != nil {
			return CreateUserResult{}, err
		}
	case key == nil:
		if generated, hash, err = s.newOneTimePassword(ctx); err != nil {
			return CreateUserResult{}, err
		}
	}
	if err := s.requireUniquenessProbeAllowed(ctx, a); err != nil {
		return CreateUserResult{}, err
	}
	var res CreateUserResult
	err = s.st.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.orgForAdmin(ctx, tx.Queries, a, in.OrgSlug)
		if err != nil {
			return err
		}
		if err := s.checkMaxUsers(ctx, tx.Queries, o); err != nil {
			return err
		}
		u, err := tx.CreateUser(ctx, store.User{OrganizationID: o.ID, Email: email, Name: name,
			PasswordHash: hash, Role: role, Enabled: true})
		if errors.Is(err, store.ErrConflict) {
			return emailConflict(ctx, tx.Queries, a, email)
		} else if err != nil {
			return err
		}
		if err := s.audit(ctx, tx.Queries, a, o.ID, "user.create", email, map[string]any{"role": role}); err != nil {
			return err
		}
		if key != nil {
			if err := s.addKey(ctx, tx.Queries, a, u, *key); err != nil {
				return err
			}
		}
		res = CreateUserResult{User: userView(u, o.Slug), Password: generated}
		return nil
	})
	if errors.Is(err, ErrConflict) {
		s.countUniquenessProbe(ctx, a)
	}
	return res, err
}

// emailConflict answers a new account whose email is taken. Attack: user
// create answered "already registered" for another org's user while user
// show answered "not found", so an org admin could test which addresses
// had accounts elsewhere. Only an actor who may see that account (a system
// admin, or an admin of its org) is told it exists; everyone else gets the
// answer that uniqueness needs, and such answers are limited per person.
func emailConflict(ctx context.Context, q *store.Queries, a Actor, email string) error {
	u, err := q.UserByEmail(ctx, email)
	if seesAllOrgs(a) || (err == nil && a.Role == RoleOrgAdmin && u.OrganizationID == a.OrgID) {
		return conflict("email: %s is already registered", email)
	}
	return conflict("email: can't be used for a new account (choose another address, or ask a system admin if the person already has an account)")
}

// checkMaxUsers enforces limits.max_users of an org.
func (s *Service) checkMaxUsers(ctx context.Context, q *store.Queries, o store.Org) error {
	cfg, err := config.ParseOrg([]byte(o.Config))
	if err != nil {
		return err
	}
	max := cfg.EffectiveLimits().MaxUsers
	if max == config.Unlimited {
		return nil
	}
	c, err := q.CountOrg(ctx, o.ID)
	if err != nil {
		return err
	}
	if int64(c.Users) >= max {
		return &LimitError{Limit: "max_users", Message: "the organization has reached its user limit; an admin can raise limits.max_users"}
	}
	return nil
}

// LimitError says which limit of an org stops an operation.
type LimitError struct {
	Limit   string
	Message string
}

func (e *LimitError) Error() string        { return e.Message }
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// ErrLimit matches every LimitError.
var ErrLimit = errors.New("limit reached")

// userChange applies fn to a user the actor administers, then checks the
// protections every change must keep: the org keeps an enabled admin, the
// platform keeps an enabled system admin, and nobody disables or deletes
// themselves.
func (s *Service) userChange(ctx context.Context, a Actor, email, action string, details map[string]any, fn func(u *store.User) (bool, error)) (User, error) {
	var out User
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		u, o, err := s.userForAdmin(ctx, tx.Queries, a, email)
		if err != nil {
			return err
		}
		if err := guardSystemAdmin(a, u); err != nil {
			return err
		}
		before := u
		changed, err := fn(&u)
		if err != nil || !changed {
			out = userView(u, o.Slug)
			return err
		}
		if err := s.checkProtections(ctx, tx.Queries, a, o, before, &u); err != nil {
			return err
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		out = userView(u, o.Slug)
		return s.audit(ctx, tx.Queries, a, o.ID, action, u.Email, details)
	})
	return out, err
}

// checkProtections refuses a change (after == nil: deletion) that would
// leave the org without an enabled admin or the platform without an enabled
// system admin, or that disables or deletes the actor.
func (s *Service) checkProtections(ctx context.Context, q *store.Queries, a Actor, o store.Org, before store.User, after *store.User) error {
	wasAdmin := before.Enabled && before.Role == store.RoleAdmin
	staysAdmin := after != nil && after.Enabled && after.Role == store.RoleAdmin
	if before.ID == a.UserID && (after == nil || !after.Enabled) {
		return invalid("email", "you can't disable or delete your own account; ask another admin")
	}
	if wasAdmin && !staysAdmin {
		n, err := q.CountEnabledAdmins(ctx, o.ID)
		if err != nil {
			return err
		}
		if n <= 1 {
			return invalid("email", "%s is the last enabled admin of %s; make another user admin first", before.Email, o.Slug)
		}
	}
	wasSys := before.Enabled && before.SystemAdmin
	staysSys := after != nil && after.Enabled && after.SystemAdmin
	if wasSys && !staysSys {
		n, err := q.CountSystemAdmins(ctx)
		if err != nil {
			return err
		}
		if n <= 1 {
			return invalid("email", "%s is the last system admin; make another user system admin first", before.Email)
		}
	}
	return nil
}

// SetUserEnabled enables or disables a user. A disabled user can't sign in
// and their API keys stop working.
func (s *Service) SetUserEnabled(ctx context.Context, a Actor, email string, enabled bool) (User, error) {
	action := "user.disable"
	if enabled {
		action = "user.enable"
	}
	return s.userChange(ctx, a, email, action, nil, func(u *store.User) (bool, error) {
		if u.Enabled == enabled {
			return false, nil
		}
		u.Enabled = enabled
		return true, nil
	})
}

// SetUserRole makes a user admin or member of their org.
func (s *Service) SetUserRole(ctx context.Context, a Actor, email, role string) (User, error) {
	role = strings.TrimSpace(role)
	if role != store.RoleAdmin && role != store.RoleMember {
		return User{}, invalid("role", "must be admin or member, got %q", role)
	}
	return s.userChange(ctx, a, email, "user.set_role", map[string]any{"role": role}, func(u *store.User) (bool, error) {
		if u.Role == role {
			return false, nil
		}
		if u.SystemAdmin && role == store.RoleMember {
			return false, invalid("role", "%s is a system admin; remove system admin first", u.Email)
		}
		u.Role = role
		return true, nil
	})
}

// SetSystemAdmin grants or removes system admin. Only users of the system
// org can hold it; system admins only.
func (s *Service) SetSystemAdmin(ctx context.Context, a Actor, email string, on bool) (User, error) {
	if err := requireSystemAdmin(a); err != nil {
		return User{}, err
	}
	return s.userChange(ctx, a, email, "user.set_system_admin", map[string]any{"system_admin": on}, func(u *store.User) (bool, error) {
		if u.SystemAdmin == on {
			return false, nil
		}
		sys, err := s.st.SystemOrg(ctx)
		if err != nil {
			return false, err
		}
		if on && u.OrganizationID != sys.ID {
			return false, invalid("email", "only users of %s can be system admins; %s belongs to another organization", SystemSlug, u.Email)
		}
		u.SystemAdmin = on
		if on {
			u.Role = store.RoleAdmin
		}
		return true, nil
	})
}

// ResetPassword sets a user's password; with password "" a one-time
// password is generated and returned (shown once).
func (s *Service) ResetPassword(ctx context.Context, a Actor, email, password string) (string, error) {
	var generated, hash string
	var err error
	if password == "" {
		generated, hash, err = s.newOneTimePassword(ctx)
	} else if err = checkPassword("password", password); err == nil {
		hash, err = s.hashPassword(ctx, password)
	}
	if err != nil {
		return "", err
	}
	_, err = s.userChange(ctx, a, email, "user.reset_password", map[string]any{"generated": generated != ""}, func(u *store.User) (bool, error) {
		u.PasswordHash = hash
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return generated, nil
}

// ChangePassword changes the actor's own password after checking the old
// one. Both argon2 runs happen before the transaction.
func (s *Service) ChangePassword(ctx context.Context, a Actor, oldPassword, newPassword string) error {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return ErrForbidden
	}
	if err := checkPassword("new_password", newPassword); err != nil {
		return err
	}
	u, err := s.st.UserByID(ctx, a.UserID)
	if err != nil {
		return storeErr(err, "user")
	}
	// Someone signed in with a one-time password chooses a password
	// without the old one: it was good for that one sign-in only.
	if u.PasswordHash != "" && !mustChoosePassword(u.PasswordHash) {
		hash, _, _ := splitStored(u.PasswordHash)
		ok, err := s.verifyPassword(ctx, hash, oldPassword)
		if err != nil {
			return err
		}
		if !ok {
			return invalid("old_password", "is not your current password")
		}
	}
	hash, err := s.hashPassword(ctx, newPassword)
	if err != nil {
		return err
	}
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		cur, err := tx.UserByID(ctx, a.UserID)
		if err != nil {
			return storeErr(err, "user")
		}
		if cur.PasswordHash != u.PasswordHash {
			return conflict("old_password: your password changed meanwhile; try again")
		}
		cur.PasswordHash = hash
		if err := tx.UpdateUser(ctx, cur); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, cur.OrganizationID, "user.change_password", cur.Email, nil)
	})
}

// DeleteUser deletes a user with their SSH keys, assistants and personal
// API keys. System admins, and the user's org admins.
func (s *Service) DeleteUser(ctx context.Context, a Actor, email string) error {
	return s.st.InTx(ctx, func(tx *store.Tx) error {
		u, o, err := s.userForAdmin(ctx, tx.Queries, a, email)
		if err != nil {
			return err
		}
		if err := guardSystemAdmin(a, u); err != nil {
			return err
		}
		if err := s.checkProtections(ctx, tx.Queries, a, o, u, nil); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx.Queries, a, o.ID, "user.delete", u.Email, nil)
	})
}

// AddOrgAdmin makes a user of org slug its admin. The user must already
// belong to that org; a user of another org is not found, as if missing.
func (s *Service) AddOrgAdmin(ctx context.Context, a Actor, slug, email string) (User, error) {
	o, err := s.orgForAdmin(ctx, s.st.Queries, a, slug)
	if err != nil {
		return User{}, err
	}
	u, err := s.st.UserByEmail(ctx, normalizeLoose(email))
	if err != nil || u.OrganizationID != o.ID {
		return User{}, notFound("user %q in %s (create them on the Users screen first)", email, o.Slug)
	}
	return s.SetUserRole(ctx, a, u.Email, store.RoleAdmin)
}
