package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SSHKey is a row of ssh_keys.
type SSHKey struct {
	ID             int64
	OrganizationID int64
	UserID         int64
	Fingerprint    string // SHA256:…
	PublicKey      string // authorized-key line
	Comment        string
	CreatedAt      time.Time
	LastUsedAt     time.Time
}

const sshKeyColumns = `id, organization_id, user_id, fingerprint, public_key, comment, created_at, last_used_at`

func scanSSHKey(row interface{ Scan(...any) error }) (SSHKey, error) {
	var k SSHKey
	var created int64
	var used sql.NullInt64
	err := row.Scan(&k.ID, &k.OrganizationID, &k.UserID, &k.Fingerprint, &k.PublicKey, &k.Comment, &created, &used)
	if err != nil {
		return SSHKey{}, mapErr(err)
	}
	k.CreatedAt, k.LastUsedAt = unix(created), nullTime(used)
	return k, nil
}

// AddSSHKey inserts k; a fingerprint already present is ErrConflict.
func (q *Queries) AddSSHKey(ctx context.Context, k SSHKey) (SSHKey, error) {
	now := q.stamp()
	// RETURNING rather than LastInsertId, which PostgreSQL's driver lacks.
	err := q.w.QueryRowContext(ctx, `INSERT INTO ssh_keys
		(organization_id, user_id, fingerprint, public_key, comment, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, k.OrganizationID, k.UserID, k.Fingerprint, k.PublicKey, k.Comment, now).Scan(&k.ID)
	if err != nil {
		return SSHKey{}, fmt.Errorf("add ssh key %s: %w", k.Fingerprint, mapErr(err))
	}
	k.CreatedAt = unix(now)
	return k, nil
}

// SSHKeyByFingerprint returns the key with that SHA256 fingerprint.
func (q *Queries) SSHKeyByFingerprint(ctx context.Context, fp string) (SSHKey, error) {
	return scanSSHKey(q.r.QueryRowContext(ctx, `SELECT `+sshKeyColumns+` FROM ssh_keys WHERE fingerprint = ?`, fp))
}

// SSHKeysByUser lists a user's keys, oldest first.
func (q *Queries) SSHKeysByUser(ctx context.Context, userID int64) ([]SSHKey, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+sshKeyColumns+` FROM ssh_keys WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list ssh keys: %w", mapErr(err))
	}
	defer rows.Close()
	var keys []SSHKey
	for rows.Next() {
		k, err := scanSSHKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, mapErr(rows.Err())
}

// TouchSSHKey records that the key was just used to sign in.
func (q *Queries) TouchSSHKey(ctx context.Context, id int64) error {
	_, err := q.w.ExecContext(ctx, `UPDATE ssh_keys SET last_used_at = ? WHERE id = ?`, q.stamp(), id)
	return mapErr(err)
}

// DeleteSSHKey removes a key by id.
func (q *Queries) DeleteSSHKey(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM ssh_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("remove ssh key: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
