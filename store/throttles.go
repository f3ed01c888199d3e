package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Throttle names one limit's counts of one key: how many attempts of
// Scope the Key may make in Period (see migration 0009). Attempts are
// counted per second.
type Throttle struct {
	Scope  string
	Key    string
	Period time.Duration
	Limit  int
}

// ThrottleHit is the attempts of a key in one second: N of them at At,
// counted until Expires.
type ThrottleHit struct {
	Key     string
	At      time.Time
	Expires time.Time
	N       int
}

// expires is when attempts of t made at now stop counting.
func (t Throttle) expires(now int64) int64 { return now + int64(t.Period/time.Second) }

// TakeThrottle counts an attempt of t's key at now if the key has fewer
// than t.Limit attempts in its window, in one statement that concurrent
// callers (other processes included) can't overtake: it reports whether
// the attempt was counted, and when it wasn't, the key's attempts in the
// window, for the caller to say how long to wait. The statement is the
// engine's own: PostgreSQL's needs a lock that SQLite's single writer
// makes unnecessary.
func (s *Store) TakeThrottle(ctx context.Context, t Throttle, now time.Time) (bool, []ThrottleHit, error) {
	q, at := s.Queries, now.Unix()
	var taken bool
	if s.engine == EnginePostgres {
		// The count and the insert under a lock: see lamb_take_throttle.
		err := q.w.QueryRowContext(ctx, `SELECT lamb_take_throttle(?, ?, ?, ?, ?)`,
			t.Scope, t.Key, at, t.expires(at), t.Limit).Scan(&taken)
		if err != nil {
			return false, nil, fmt.Errorf("count attempt: %w", mapErr(err))
		}
	} else {
		// SQLite's single writer runs one statement at a time.
		res, err := q.w.ExecContext(ctx, `INSERT INTO throttle_hits (scope, key, at, n, expires_at)
			SELECT ?1, ?2, ?3, 1, ?4
			WHERE (SELECT COALESCE(SUM(n), 0) FROM throttle_hits
			       WHERE scope = ?1 AND key = ?2 AND expires_at > ?3) < ?5
			ON CONFLICT (scope, key, at) DO UPDATE SET n = n + 1`,
			t.Scope, t.Key, at, t.expires(at), t.Limit)
		if err != nil {
			return false, nil, fmt.Errorf("count attempt: %w", mapErr(err))
		}
		n, _ := res.RowsAffected()
		taken = n > 0
	}
	if taken {
		return true, nil, nil
	}
	hits, err := q.ThrottleHits(ctx, t.Scope, now, t.Key)
	return false, hits, err
}

// ThrottleHits returns the attempts of scope's keys that count at now,
// newest first.
func (q *Queries) ThrottleHits(ctx context.Context, scope string, now time.Time, keys ...string) ([]ThrottleHit, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := []any{scope, now.Unix()}
	for _, k := range keys {
		args = append(args, k)
	}
	rows, err := q.r.QueryContext(ctx, `SELECT key, at, n, expires_at FROM throttle_hits
		WHERE scope = ? AND expires_at > ? AND key IN (`+placeholders(len(keys))+`)
		ORDER BY at DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("read attempts: %w", mapErr(err))
	}
	defer rows.Close()
	var out []ThrottleHit
	for rows.Next() {
		var h ThrottleHit
		var at, expires int64
		if err := rows.Scan(&h.Key, &at, &h.N, &expires); err != nil {
			return nil, fmt.Errorf("read attempts: %w", mapErr(err))
		}
		h.At, h.Expires = unix(at), unix(expires)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts: %w", mapErr(err))
	}
	return out, nil
}

// AddThrottleHits counts an attempt at now for each of keys (of one
// scope and window), whatever their counts: one statement.
func (q *Queries) AddThrottleHits(ctx context.Context, scope string, period time.Duration, now time.Time, keys ...string) error {
	// Sorted and distinct: PostgreSQL updates a row once per statement,
	// and concurrent writers that lock rows in one order can't deadlock.
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	if len(keys) == 0 {
		return nil
	}
	t := Throttle{Scope: scope, Period: period}
	at := now.Unix()
	values := make([]string, len(keys))
	args := make([]any, 0, 4*len(keys))
	for i, k := range keys {
		values[i] = "(?, ?, ?, 1, ?)"
		args = append(args, scope, k, at, t.expires(at))
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO throttle_hits (scope, key, at, n, expires_at) VALUES `+
		strings.Join(values, ", ")+` ON CONFLICT (scope, key, at) DO UPDATE SET n = throttle_hits.n + excluded.n`, args...)
	if err != nil {
		return fmt.Errorf("count attempts: %w", mapErr(err))
	}
	return nil
}

// ResetThrottle forgets the attempts of scope's keys.
func (q *Queries) ResetThrottle(ctx context.Context, scope string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	args := []any{scope}
	for _, k := range keys {
		args = append(args, k)
	}
	_, err := q.w.ExecContext(ctx, `DELETE FROM throttle_hits WHERE scope = ? AND key IN (`+placeholders(len(keys))+`)`, args...)
	if err != nil {
		return fmt.Errorf("forget attempts: %w", mapErr(err))
	}
	return nil
}

// PurgeThrottles deletes up to batch attempts that no longer count at now
// and returns how many went.
func (q *Queries) PurgeThrottles(ctx context.Context, now time.Time, batch int) (int64, error) {
	res, err := q.w.ExecContext(ctx, `DELETE FROM throttle_hits WHERE (scope, key, at) IN
		(SELECT scope, key, at FROM throttle_hits WHERE expires_at <= ? LIMIT ?)`, now.Unix(), batch)
	if err != nil {
		return 0, fmt.Errorf("purge old attempts: %w", mapErr(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// CountThrottleHits counts the rows of attempts kept, expired or not.
func (q *Queries) CountThrottleHits(ctx context.Context) (int64, error) {
	var n int64
	err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM throttle_hits`).Scan(&n)
	return n, mapErr(err)
}

// placeholders returns n comma-separated ?.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
