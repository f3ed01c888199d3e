package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// User roles within an organization.
const (
	RoleMember = "member"
	RoleAdmin  = "admin"
)

// User is a row of users.
type User struct {
	ID             int64
	OrganizationID int64
	Email          string
	Name           string
	PasswordHash   string
	Role           string
	SystemAdmin    bool
	Enabled        bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastSeenAt     time.Time
}

const userColumns = `id, organization_id, email, name, password_hash, role, system_admin, enabled,
	created_at, updated_at, last_seen_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created, updated int64
	var seen sql.NullInt64
	err := row.Scan(&u.ID, &u.OrganizationID, &u.Email, &u.Name, &u.PasswordHash, &u.Role,
		&u.SystemAdmin, &u.Enabled, &created, &updated, &seen)
	if err != nil {
		return User{}, mapErr(err)
	}
	u.CreatedAt, u.UpdatedAt, u.LastSeenAt = unix(created), unix(updated), nullTime(seen)
	return u, nil
}

// CreateUser inserts u. The email must already be normalized.
func (q *Queries) CreateUser(ctx context.Context, u User) (User, error) {
	now := q.stamp()
	if u.Role == "" {
		u.Role = RoleMember
	}
	id, err := q.nextID(ctx, "users")
	if err != nil {
		return User{}, err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO users
		(id, organization_id, email, name, password_hash, role, system_admin, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, u.OrganizationID, u.Email, u.Name, u.PasswordHash, u.Role, u.SystemAdmin, u.Enabled, now, now)
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", u.Email, mapErr(err))
	}
	u.ID = id
	u.CreatedAt, u.UpdatedAt = unix(now), unix(now)
	return u, nil
}

// UserByEmail returns the user with that (normalized) email.
func (q *Queries) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(q.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
}

// UserByID returns the user with that id.
func (q *Queries) UserByID(ctx context.Context, id int64) (User, error) {
	return scanUser(q.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// CountSystemAdmins counts enabled system admins.
func (q *Queries) CountSystemAdmins(ctx context.Context) (int, error) {
	var n int
	err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE system_admin = 1 AND enabled = 1`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count system admins: %w", mapErr(err))
	}
	return n, nil
}

// MakeSystemAdmin grants system admin, admin role, and enables the user.
func (q *Queries) MakeSystemAdmin(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `UPDATE users SET system_admin = 1, role = 'admin', enabled = 1, updated_at = ?
		WHERE id = ?`, q.stamp(), id)
	if err != nil {
		return fmt.Errorf("update user: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchUser records that the user was just seen.
func (q *Queries) TouchUser(ctx context.Context, id int64) error {
	_, err := q.w.ExecContext(ctx, `UPDATE users SET last_seen_at = ? WHERE id = ?`, q.stamp(), id)
	return mapErr(err)
}

// UserWithOrg is a user and the slug of their org, for lists across orgs.
type UserWithOrg struct {
	User
	OrgSlug string
}

// UserFilter selects users. OrganizationID 0 means all orgs; Query matches
// email or name (substring, case-insensitive) or the org's slug (exactly).
type UserFilter struct {
	OrganizationID int64
	Query          string
	Role           string
	// QuietSince selects accounts unused since then: created before it,
	// not signed in since, and no personal API key used since.
	QuietSince time.Time
	Offset     int
	Limit      int
}

// ListUsers returns users ordered by email, and the total that match. The
// page is fetched with LIMIT/OFFSET on the (organization_id, email) index,
// so it stays fast with 100,000 users in an org.
func (q *Queries) ListUsers(ctx context.Context, f UserFilter) ([]UserWithOrg, int, error) {
	where, args := ` WHERE 1 = 1`, []any{}
	if f.OrganizationID != 0 {
		where += ` AND u.organization_id = ?`
		args = append(args, f.OrganizationID)
	}
	if f.Query != "" {
		where += ` AND (LOWER(u.email) LIKE LOWER(?) ESCAPE '\' OR LOWER(u.name) LIKE LOWER(?) ESCAPE '\' OR o.slug = ?)`
		like := "%" + escapeLike(f.Query) + "%"
		args = append(args, like, like, strings.ToLower(strings.TrimSpace(f.Query)))
	}
	if f.Role != "" {
		where += ` AND u.role = ?`
		args = append(args, f.Role)
	}
	if !f.QuietSince.IsZero() {
		cut := f.QuietSince.Unix()
		where += ` AND COALESCE(u.last_seen_at, u.created_at) < ? AND u.created_at < ?
			AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = u.id AND k.last_used_at >= ?)`
		args = append(args, cut, cut, cut)
	}
	var total int
	if err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u JOIN organizations o ON o.id = u.organization_id`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", mapErr(err))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	rows, err := q.r.QueryContext(ctx, `SELECT u.id, u.organization_id, u.email, u.name, u.password_hash, u.role,
		u.system_admin, u.enabled, u.created_at, u.updated_at, u.last_seen_at, o.slug
		FROM users u JOIN organizations o ON o.id = u.organization_id`+where+
		` ORDER BY u.email LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", mapErr(err))
	}
	defer rows.Close()
	var out []UserWithOrg
	for rows.Next() {
		var u UserWithOrg
		var created, updated int64
		var seen sql.NullInt64
		if err := rows.Scan(&u.ID, &u.OrganizationID, &u.Email, &u.Name, &u.PasswordHash, &u.Role,
			&u.SystemAdmin, &u.Enabled, &created, &updated, &seen, &u.OrgSlug); err != nil {
			return nil, 0, mapErr(err)
		}
		u.CreatedAt, u.UpdatedAt, u.LastSeenAt = unix(created), unix(updated), nullTime(seen)
		out = append(out, u)
	}
	return out, total, mapErr(rows.Err())
}

// CountEnabledAdmins counts the enabled admins of an org.
func (q *Queries) CountEnabledAdmins(ctx context.Context, orgID int64) (int, error) {
	var n int
	err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE organization_id = ? AND role = 'admin' AND enabled = 1`, orgID).Scan(&n)
	return n, mapErr(err)
}

// UpdateUser writes the mutable fields of u (name, password hash, role,
// system admin, enabled).
func (q *Queries) UpdateUser(ctx context.Context, u User) error {
	res, err := q.w.ExecContext(ctx, `UPDATE users SET name = ?, password_hash = ?, role = ?, system_admin = ?,
		enabled = ?, updated_at = ? WHERE id = ?`, u.Name, u.PasswordHash, u.Role, u.SystemAdmin, u.Enabled, q.stamp(), u.ID)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.Email, mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// MoveUser moves a user and everything they own into another org.
func (q *Queries) MoveUser(ctx context.Context, userID, toOrgID int64) error {
	for _, stmt := range []string{
		`UPDATE ssh_keys SET organization_id = ? WHERE user_id = ?`,
		`UPDATE assistants SET organization_id = ? WHERE owner_user_id = ?`,
		`UPDATE api_keys SET organization_id = ? WHERE user_id = ?`,
		`UPDATE users SET organization_id = ? WHERE id = ?`,
	} {
		if _, err := q.w.ExecContext(ctx, stmt, toOrgID, userID); err != nil {
			return fmt.Errorf("move user: %w", mapErr(err))
		}
	}
	return nil
}

// MoveOrgUsersDisabled moves every user of an org into another org as
// disabled members, with their SSH keys; what they owned in the old org
// (assistants, personal API keys) stays there to be deleted with it.
func (q *Queries) MoveOrgUsersDisabled(ctx context.Context, fromOrgID, toOrgID int64) (int, error) {
	if _, err := q.w.ExecContext(ctx, `DELETE FROM assistants WHERE organization_id = ?`, fromOrgID); err != nil {
		return 0, fmt.Errorf("move users: %w", mapErr(err))
	}
	if _, err := q.w.ExecContext(ctx, `DELETE FROM api_keys WHERE organization_id = ?`, fromOrgID); err != nil {
		return 0, fmt.Errorf("move users: %w", mapErr(err))
	}
	if _, err := q.w.ExecContext(ctx, `UPDATE ssh_keys SET organization_id = ? WHERE organization_id = ?`, toOrgID, fromOrgID); err != nil {
		return 0, fmt.Errorf("move users: %w", mapErr(err))
	}
	res, err := q.w.ExecContext(ctx, `UPDATE users SET organization_id = ?, enabled = 0, role = 'member', system_admin = 0,
		updated_at = ? WHERE organization_id = ?`, toOrgID, q.stamp(), fromOrgID)
	if err != nil {
		return 0, fmt.Errorf("move users: %w", mapErr(err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteOrgUsers deletes every user of an org (their keys and assistants
// go with them).
func (q *Queries) DeleteOrgUsers(ctx context.Context, orgID int64) (int, error) {
	res, err := q.w.ExecContext(ctx, `DELETE FROM users WHERE organization_id = ?`, orgID)
	if err != nil {
		return 0, fmt.Errorf("delete users: %w", mapErr(err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteUser deletes a user; their SSH keys, assistants and personal API
// keys go with them.
func (q *Queries) DeleteUser(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
