package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Org statuses.
const (
	OrgActive    = "active"
	OrgSuspended = "suspended"
)

// Org is a row of organizations. Config is the JSON document with its
// secrets sealed; SignupKeyEnc is the sealed signup key.
type Org struct {
	ID            int64
	Slug          string
	Name          string
	IsSystem      bool
	Status        string
	Config        string
	SignupKeyEnc  string
	SignupKeyHash string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

const orgColumns = `id, slug, name, is_system, status, config, COALESCE(signup_key_enc, ''),
	COALESCE(signup_key_hash, ''), created_at, updated_at`

func scanOrg(row interface{ Scan(...any) error }) (Org, error) {
	var o Org
	var created, updated int64
	err := row.Scan(&o.ID, &o.Slug, &o.Name, &o.IsSystem, &o.Status, &o.Config,
		&o.SignupKeyEnc, &o.SignupKeyHash, &created, &updated)
	if err != nil {
		return Org{}, mapErr(err)
	}
	o.CreatedAt, o.UpdatedAt = unix(created), unix(updated)
	return o, nil
}

// CreateOrg inserts o and returns it with its id and timestamps.
func (q *Queries) CreateOrg(ctx context.Context, o Org) (Org, error) {
	now := q.stamp()
	if o.Status == "" {
		o.Status = OrgActive
	}
	id, err := q.nextID(ctx, "organizations")
	if err != nil {
		return Org{}, err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO organizations
		(id, slug, name, is_system, status, config, signup_key_enc, signup_key_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, o.Slug, o.Name, o.IsSystem, o.Status, o.Config, nullStr(o.SignupKeyEnc), nullStr(o.SignupKeyHash), now, now)
	if err != nil {
		return Org{}, fmt.Errorf("create organization %s: %w", o.Slug, mapErr(err))
	}
	o.ID = id
	o.CreatedAt, o.UpdatedAt = unix(now), unix(now)
	return o, nil
}

// OrgBySlug returns the organization with that slug.
func (q *Queries) OrgBySlug(ctx context.Context, slug string) (Org, error) {
	return scanOrg(q.r.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE slug = ?`, slug))
}

// OrgByID returns the organization with that id.
func (q *Queries) OrgByID(ctx context.Context, id int64) (Org, error) {
	return scanOrg(q.r.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = ?`, id))
}

// SystemOrg returns the system organization.
func (q *Queries) SystemOrg(ctx context.Context) (Org, error) {
	return scanOrg(q.r.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE is_system = 1`))
}

// OrgBySignupKeyHash finds the organization whose signup key has that keyed hash.
func (q *Queries) OrgBySignupKeyHash(ctx context.Context, hash string) (Org, error) {
	return scanOrg(q.r.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE signup_key_hash = ?`, hash))
}

// UpdateOrgConfig replaces the config document.
func (q *Queries) UpdateOrgConfig(ctx context.Context, id int64, config string) error {
	return q.updateOrg(ctx, id, `config = ?`, config)
}

// UpdateOrgName renames an organization.
func (q *Queries) UpdateOrgName(ctx context.Context, id int64, name string) error {
	return q.updateOrg(ctx, id, `name = ?`, name)
}

// SetOrgStatus sets active or suspended.
func (q *Queries) SetOrgStatus(ctx context.Context, id int64, status string) error {
	return q.updateOrg(ctx, id, `status = ?`, status)
}

// SetSignupKey stores the sealed signup key and its keyed hash; empty
// strings clear it.
func (q *Queries) SetSignupKey(ctx context.Context, id int64, enc, hash string) error {
	return q.updateOrg(ctx, id, `signup_key_enc = ?, signup_key_hash = ?`, nullStr(enc), nullStr(hash))
}

func (q *Queries) updateOrg(ctx context.Context, id int64, set string, args ...any) error {
	args = append(args, q.stamp(), id)
	res, err := q.w.ExecContext(ctx, `UPDATE organizations SET `+set+`, updated_at = ? WHERE id = ?`, args...)
	if err != nil {
		return fmt.Errorf("update organization: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func nullStr(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// OrgSummary is an org with its counts, for lists.
type OrgSummary struct {
	Org
	Users      int
	Assistants int
}

// OrgFilter selects organizations. Query matches slug or name (substring,
// case-insensitive). Paging is by offset, which stays fast for the
// thousands of orgs a platform has.
type OrgFilter struct {
	Query  string
	Offset int
	Limit  int
}

// ListOrgs returns organizations ordered by slug, with the total that
// match the filter.
func (q *Queries) ListOrgs(ctx context.Context, f OrgFilter) ([]OrgSummary, int, error) {
	where, args := ` WHERE 1 = 1`, []any{}
	if f.Query != "" {
		where += ` AND (LOWER(slug) LIKE LOWER(?) ESCAPE '\' OR LOWER(name) LIKE LOWER(?) ESCAPE '\')`
		like := "%" + escapeLike(f.Query) + "%"
		args = append(args, like, like)
	}
	var total int
	if err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM organizations`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count organizations: %w", mapErr(err))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	rows, err := q.r.QueryContext(ctx, `SELECT `+orgColumns+`,
		(SELECT COUNT(*) FROM users u WHERE u.organization_id = organizations.id),
		(SELECT COUNT(*) FROM assistants a WHERE a.organization_id = organizations.id)
		FROM organizations`+where+` ORDER BY slug LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list organizations: %w", mapErr(err))
	}
	defer rows.Close()
	var out []OrgSummary
	for rows.Next() {
		var s OrgSummary
		var created, updated int64
		if err := rows.Scan(&s.ID, &s.Slug, &s.Name, &s.IsSystem, &s.Status, &s.Config, &s.SignupKeyEnc,
			&s.SignupKeyHash, &created, &updated, &s.Users, &s.Assistants); err != nil {
			return nil, 0, mapErr(err)
		}
		s.CreatedAt, s.UpdatedAt = unix(created), unix(updated)
		out = append(out, s)
	}
	return out, total, mapErr(rows.Err())
}

// OrgCounts are what deleting an org would remove.
type OrgCounts struct {
	Users, EnabledUsers, Admins, Assistants, APIKeys, SSHKeys int
}

// CountOrg counts an organization's rows.
func (q *Queries) CountOrg(ctx context.Context, orgID int64) (OrgCounts, error) {
	var c OrgCounts
	err := q.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM users WHERE organization_id = ?1),
		(SELECT COUNT(*) FROM users WHERE organization_id = ?1 AND enabled = 1),
		(SELECT COUNT(*) FROM users WHERE organization_id = ?1 AND role = 'admin'),
		(SELECT COUNT(*) FROM assistants WHERE organization_id = ?1),
		(SELECT COUNT(*) FROM api_keys WHERE organization_id = ?1 AND revoked_at IS NULL),
		(SELECT COUNT(*) FROM ssh_keys WHERE organization_id = ?1)`, orgID).
		Scan(&c.Users, &c.EnabledUsers, &c.Admins, &c.Assistants, &c.APIKeys, &c.SSHKeys)
	if err != nil {
		return OrgCounts{}, fmt.Errorf("count organization: %w", mapErr(err))
	}
	return c, nil
}

// DeleteOrg deletes an organization and, through foreign keys, its
// assistants, API keys, usage and audit events. Its users must have been
// deleted or moved first.
func (q *Queries) DeleteOrg(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM organizations WHERE id = ? AND is_system = 0`, id)
	if err != nil {
		return fmt.Errorf("delete organization: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// escapeLike escapes the LIKE wildcards of user input. Filters compare
// LOWER(column) LIKE LOWER(pattern): SQLite's LIKE ignores ASCII case and
// PostgreSQL's does not, and lowering both sides matches alike on both.
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
