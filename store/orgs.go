package store

import (
	"context"
	"database/sql"
	"fmt"
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
	res, err := q.w.ExecContext(ctx, `INSERT INTO organizations
		(slug, name, is_system, status, config, signup_key_enc, signup_key_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.Slug, o.Name, o.IsSystem, o.Status, o.Config, nullStr(o.SignupKeyEnc), nullStr(o.SignupKeyHash), now, now)
	if err != nil {
		return Org{}, fmt.Errorf("create organization %s: %w", o.Slug, mapErr(err))
	}
	o.ID, _ = res.LastInsertId()
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
