package store

import (
	"context"
	"fmt"
)

// Setting returns a platform-wide value, ErrNotFound when unset.
func (q *Queries) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := q.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	return v, mapErr(err)
}

// SetSetting stores a platform-wide value.
func (q *Queries) SetSetting(ctx context.Context, key, value string) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, q.stamp())
	if err != nil {
		return fmt.Errorf("set %s: %w", key, mapErr(err))
	}
	return nil
}

// DeleteSetting removes a platform-wide value.
func (q *Queries) DeleteSetting(ctx context.Context, key string) error {
	_, err := q.w.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key)
	return mapErr(err)
}

// DeleteSettingsWithPrefix removes the values whose key starts with prefix
// (an org's remembered tests when it is deleted, say).
func (q *Queries) DeleteSettingsWithPrefix(ctx context.Context, prefix string) error {
	_, err := q.w.ExecContext(ctx, `DELETE FROM settings WHERE key LIKE ? ESCAPE '\'`, escapeLike(prefix)+"%")
	return mapErr(err)
}

// AddSetting stores a platform-wide value unless key has one already: of
// processes adding the same key at once, one value is kept. It reports
// whether value was stored.
func (q *Queries) AddSetting(ctx context.Context, key, value string) (bool, error) {
	res, err := q.w.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO NOTHING`, key, value, q.stamp())
	if err != nil {
		return false, fmt.Errorf("set %s: %w", key, mapErr(err))
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SettingOrAdd stores value under key unless the key holds one already, and
// returns the value the key holds afterwards: value when this call stored
// it, the earlier one otherwise. Of instances racing to store a first
// value, each gets the one that won (one statement, no read-then-write).
func (q *Queries) SettingOrAdd(ctx context.Context, key, value string) (string, error) {
	_, err := q.w.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO NOTHING`, key, value, q.stamp())
	if err != nil {
		return "", fmt.Errorf("add %s: %w", key, mapErr(err))
	}
	v, err := q.Setting(ctx, key)
	if err != nil {
		return "", fmt.Errorf("read %s back: %w", key, err)
	}
	return v, nil
}
