package store

import (
	"context"
	"database/sql"
	"fmt"
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
	res, err := q.w.ExecContext(ctx, `INSERT INTO users
		(organization_id, email, name, password_hash, role, system_admin, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.OrganizationID, u.Email, u.Name, u.PasswordHash, u.Role, u.SystemAdmin, u.Enabled, now, now)
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", u.Email, mapErr(err))
	}
	u.ID, _ = res.LastInsertId()
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
