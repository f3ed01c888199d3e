package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// APIKey is a row of api_keys. UserID 0 is an org key.
type APIKey struct {
	ID             int64
	OrganizationID int64
	UserID         int64
	Name           string
	Prefix         string
	Hash           string
	CreatedAt      time.Time
	LastUsedAt     time.Time
	ExpiresAt      time.Time
	RevokedAt      time.Time
}

// APIKeyWithOwner adds the owner's email ("" for org keys) and org slug.
type APIKeyWithOwner struct {
	APIKey
	OwnerEmail string
	OrgSlug    string
	OrgStatus  string
}

const apiKeyColumns = `k.id, k.organization_id, COALESCE(k.user_id, 0), k.name, k.prefix, k.hash, k.created_at,
	k.last_used_at, k.expires_at, k.revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }, extra ...any) (APIKey, error) {
	var k APIKey
	var created int64
	var used, expires, revoked sql.NullInt64
	dest := append([]any{&k.ID, &k.OrganizationID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &created, &used, &expires, &revoked}, extra...)
	if err := row.Scan(dest...); err != nil {
		return APIKey{}, mapErr(err)
	}
	k.CreatedAt, k.LastUsedAt, k.ExpiresAt, k.RevokedAt = unix(created), nullTime(used), nullTime(expires), nullTime(revoked)
	return k, nil
}

// CreateAPIKey inserts k.
func (q *Queries) CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	now := q.stamp()
	var user any
	if k.UserID != 0 {
		user = k.UserID
	}
	id, err := q.nextID(ctx, "api_keys")
	if err != nil {
		return APIKey{}, err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO api_keys (id, organization_id, user_id, name, prefix, hash, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, k.OrganizationID, user, k.Name, k.Prefix, k.Hash, now, timeArg(k.ExpiresAt))
	if err != nil {
		return APIKey{}, fmt.Errorf("create api key: %w", mapErr(err))
	}
	k.ID = id
	k.CreatedAt = unix(now)
	return k, nil
}

// APIKeyByHash finds a key by the SHA-256 of the whole key, with its org's
// slug and status.
func (q *Queries) APIKeyByHash(ctx context.Context, hash string) (APIKeyWithOwner, error) {
	var out APIKeyWithOwner
	k, err := scanAPIKey(q.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+`, COALESCE(u.email, ''), o.slug, o.status
		FROM api_keys k JOIN organizations o ON o.id = k.organization_id LEFT JOIN users u ON u.id = k.user_id
		WHERE k.hash = ?`, hash), &out.OwnerEmail, &out.OrgSlug, &out.OrgStatus)
	out.APIKey = k
	return out, err
}

// APIKeyByID returns one key.
func (q *Queries) APIKeyByID(ctx context.Context, id int64) (APIKey, error) {
	return scanAPIKey(q.r.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.id = ?`, id))
}

// APIKeyFilter selects keys of an org: all, org keys only, or one user's.
type APIKeyFilter struct {
	OrganizationID int64
	UserID         int64 // only this user's personal keys
	OrgKeysOnly    bool
	Offset, Limit  int
}

// ListAPIKeys returns keys newest first, and the total.
func (q *Queries) ListAPIKeys(ctx context.Context, f APIKeyFilter) ([]APIKeyWithOwner, int, error) {
	where, args := ` WHERE k.organization_id = ?`, []any{f.OrganizationID}
	switch {
	case f.UserID != 0:
		where += ` AND k.user_id = ?`
		args = append(args, f.UserID)
	case f.OrgKeysOnly:
		where += ` AND k.user_id IS NULL`
	}
	var total int
	if err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys k`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count api keys: %w", mapErr(err))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	rows, err := q.r.QueryContext(ctx, `SELECT `+apiKeyColumns+`, COALESCE(u.email, ''), o.slug, o.status
		FROM api_keys k JOIN organizations o ON o.id = k.organization_id LEFT JOIN users u ON u.id = k.user_id`+where+
		` ORDER BY k.id DESC LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list api keys: %w", mapErr(err))
	}
	defer rows.Close()
	var out []APIKeyWithOwner
	for rows.Next() {
		var o APIKeyWithOwner
		k, err := scanAPIKey(rows, &o.OwnerEmail, &o.OrgSlug, &o.OrgStatus)
		if err != nil {
			return nil, 0, err
		}
		o.APIKey = k
		out = append(out, o)
	}
	return out, total, mapErr(rows.Err())
}

// RevokeAPIKey marks a key revoked (kept for the usage history).
func (q *Queries) RevokeAPIKey(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, q.stamp(), id)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchAPIKey records when a key was last used.
func (q *Queries) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	_, err := q.w.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, at.Unix(), id)
	return mapErr(err)
}
