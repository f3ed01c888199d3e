package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Writes of the organization lifecycle: many users at once, users moving
// between organizations, and one organization merged into another. Each
// runs in the caller's transaction.

// batchRows is how many rows one multi-row statement inserts: 10 columns ×
// 200 rows stays far below both engines' limits on parameters.
const batchRows = 200

// nextIDs takes n consecutive ids of a table from id_sequences in one
// statement and returns the first.
func (q *Queries) nextIDs(ctx context.Context, table string, n int) (int64, error) {
	var last int64
	err := q.w.QueryRowContext(ctx, `UPDATE id_sequences SET last = last + ? WHERE name = ? RETURNING last`, n, table).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("next %s ids: %w", table, mapErr(err))
	}
	return last - int64(n) + 1, nil
}

// insertRows runs INSERT head VALUES (row), (row)… for n rows of cols
// placeholders each, batchRows at a time; args(i) gives row i's values.
func (q *Queries) insertRows(ctx context.Context, head string, cols, n int, args func(i int) []any) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	for start := 0; start < n; start += batchRows {
		end := min(start+batchRows, n)
		var sb strings.Builder
		sb.WriteString(head + " VALUES ")
		vals := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			if i > start {
				sb.WriteString(", ")
			}
			sb.WriteString(row)
			vals = append(vals, args(i)...)
		}
		if _, err := q.w.ExecContext(ctx, sb.String(), vals...); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// CreateUsers inserts users (emails normalized) with multi-row statements
// and returns them with their ids. A taken email is ErrConflict.
func (q *Queries) CreateUsers(ctx context.Context, users []User) ([]User, error) {
	if len(users) == 0 {
		return nil, nil
	}
	first, err := q.nextIDs(ctx, "users", len(users))
	if err != nil {
		return nil, err
	}
	now := q.stamp()
	out := make([]User, len(users))
	for i, u := range users {
		if u.Role == "" {
			u.Role = RoleMember
		}
		u.ID, u.CreatedAt, u.UpdatedAt = first+int64(i), unix(now), unix(now)
		out[i] = u
	}
	err = q.insertRows(ctx, `INSERT INTO users (id, organization_id, email, name, password_hash, role, system_admin, enabled, created_at, updated_at)`,
		10, len(out), func(i int) []any {
			u := out[i]
			return []any{u.ID, u.OrganizationID, u.Email, u.Name, u.PasswordHash, u.Role, u.SystemAdmin, u.Enabled, now, now}
		})
	if err != nil {
		return nil, fmt.Errorf("create users: %w", err)
	}
	return out, nil
}

// AddSSHKeys inserts keys with multi-row statements. A fingerprint already
// present is ErrConflict.
func (q *Queries) AddSSHKeys(ctx context.Context, keys []SSHKey) error {
	now := q.stamp()
	err := q.insertRows(ctx, `INSERT INTO ssh_keys (organization_id, user_id, fingerprint, public_key, comment, created_at)`,
		6, len(keys), func(i int) []any {
			k := keys[i]
			return []any{k.OrganizationID, k.UserID, k.Fingerprint, k.PublicKey, k.Comment, now}
		})
	if err != nil {
		return fmt.Errorf("add ssh keys: %w", err)
	}
	return nil
}

// InsertAudits appends audit events with multi-row statements.
func (q *Queries) InsertAudits(ctx context.Context, events []AuditEvent) error {
	now := q.stamp()
	err := q.insertRows(ctx, `INSERT INTO audit_events (organization_id, actor_user_id, actor, action, target, details, created_at)`,
		7, len(events), func(i int) []any {
			e := events[i]
			if e.Details == "" {
				e.Details = "{}"
			}
			var actorID sql.NullInt64
			if e.ActorUserID != 0 {
				actorID = sql.NullInt64{Int64: e.ActorUserID, Valid: true}
			}
			return []any{e.OrganizationID, actorID, e.Actor, e.Action, e.Target, e.Details, now}
		})
	if err != nil {
		return fmt.Errorf("write audit events: %w", err)
	}
	return nil
}

// inChunks calls fn with values, at most batchRows at a time, and the
// placeholders for them ("?, ?, ?").
func inChunks[T any](values []T, fn func(chunk []any, marks string) error) error {
	for start := 0; start < len(values); start += batchRows {
		end := min(start+batchRows, len(values))
		chunk := make([]any, 0, end-start)
		for _, v := range values[start:end] {
			chunk = append(chunk, v)
		}
		if err := fn(chunk, strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")); err != nil {
			return err
		}
	}
	return nil
}

// UsersByEmails returns the users that have one of emails (normalized), by
// email.
func (q *Queries) UsersByEmails(ctx context.Context, emails []string) (map[string]User, error) {
	out := map[string]User{}
	err := inChunks(emails, func(chunk []any, marks string) error {
		rows, err := q.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE email IN (`+marks+`)`, chunk...)
		if err != nil {
			return fmt.Errorf("look up users: %w", mapErr(err))
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out[u.Email] = u
		}
		return mapErr(rows.Err())
	})
	return out, err
}

// SSHKeysByFingerprints returns the keys that have one of fingerprints, by
// fingerprint.
func (q *Queries) SSHKeysByFingerprints(ctx context.Context, fps []string) (map[string]SSHKey, error) {
	out := map[string]SSHKey{}
	err := inChunks(fps, func(chunk []any, marks string) error {
		rows, err := q.r.QueryContext(ctx, `SELECT `+sshKeyColumns+` FROM ssh_keys WHERE fingerprint IN (`+marks+`)`, chunk...)
		if err != nil {
			return fmt.Errorf("look up ssh keys: %w", mapErr(err))
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanSSHKey(rows)
			if err != nil {
				return err
			}
			out[k.Fingerprint] = k
		}
		return mapErr(rows.Err())
	})
	return out, err
}

// MoveUserOnly moves a user and their SSH keys into another org with a
// role there. What else they own (assistants, API keys) is the caller's
// to move, reassign or revoke.
func (q *Queries) MoveUserOnly(ctx context.Context, userID, toOrgID int64, role string) error {
	if _, err := q.w.ExecContext(ctx, `UPDATE ssh_keys SET organization_id = ? WHERE user_id = ?`, toOrgID, userID); err != nil {
		return fmt.Errorf("move user: %w", mapErr(err))
	}
	res, err := q.w.ExecContext(ctx, `UPDATE users SET organization_id = ?, role = ?, updated_at = ? WHERE id = ?`,
		toOrgID, role, q.stamp(), userID)
	if err != nil {
		return fmt.Errorf("move user: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// AssistantsOwnedBy lists a user's assistants, by id.
func (q *Queries) AssistantsOwnedBy(ctx context.Context, userID int64) ([]Assistant, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+assistantColumns+` FROM assistants a WHERE a.owner_user_id = ? ORDER BY a.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list assistants: %w", mapErr(err))
	}
	defer rows.Close()
	var out []Assistant
	for rows.Next() {
		a, err := scanAssistant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, mapErr(rows.Err())
}

// MoveAssistant gives an assistant another org, owner and name.
func (q *Queries) MoveAssistant(ctx context.Context, id, toOrgID, ownerID int64, name string) error {
	res, err := q.w.ExecContext(ctx, `UPDATE assistants SET organization_id = ?, owner_user_id = ?, name = ?, updated_at = ? WHERE id = ?`,
		toOrgID, ownerID, name, q.stamp(), id)
	if err != nil {
		return fmt.Errorf("move assistant: %w", mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// ActivePersonalKeys lists a user's API keys that are not revoked, by id.
func (q *Queries) ActivePersonalKeys(ctx context.Context, userID int64) ([]APIKey, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.user_id = ? AND k.revoked_at IS NULL ORDER BY k.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", mapErr(err))
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err())
}

// ActiveOrgKeys lists an org's API keys (org and personal) that are not
// revoked, by id.
func (q *Queries) ActiveOrgKeys(ctx context.Context, orgID int64) ([]APIKey, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k WHERE k.organization_id = ? AND k.revoked_at IS NULL ORDER BY k.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", mapErr(err))
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, mapErr(rows.Err())
}

// MergeOrgRows moves every row of org src into org dst: its users (as
// members), their SSH keys and assistants, its API keys (revoked: an org
// key of src must not call dst's assistants), and its history — usage
// events, daily rollups and audit events — so that nothing is lost when
// src is deleted. Rollups dst already has for the same day, assistant and
// user are added together, and so are month ledgers (shared limits).
func (q *Queries) MergeOrgRows(ctx context.Context, src, dst int64) error {
	now := q.stamp()
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE api_keys SET revoked_at = ? WHERE organization_id = ? AND revoked_at IS NULL`, []any{now, src}},
		{`UPDATE api_keys SET organization_id = ? WHERE organization_id = ?`, []any{dst, src}},
		{`UPDATE ssh_keys SET organization_id = ? WHERE organization_id = ?`, []any{dst, src}},
		{`UPDATE assistants SET organization_id = ?, updated_at = ? WHERE organization_id = ?`, []any{dst, now, src}},
		{`UPDATE users SET organization_id = ?, role = 'member', updated_at = ? WHERE organization_id = ?`, []any{dst, now, src}},
		{`UPDATE usage_events SET organization_id = ? WHERE organization_id = ?`, []any{dst, src}},
		{mergeRollups("usage_daily", "day", "assistant_id", "user_id"), []any{dst, src}},
		{`DELETE FROM usage_daily WHERE organization_id = ?`, []any{src}},
		{mergeRollups("usage_daily_keys", "day", "api_key_id", "user_id"), []any{dst, src}},
		{`DELETE FROM usage_daily_keys WHERE organization_id = ?`, []any{src}},
		{mergeRollups("usage_daily_orgs", "day"), []any{dst, src}},
		{`DELETE FROM usage_daily_orgs WHERE organization_id = ?`, []any{src}},
		// A month ledger dst has already started gets src's spending; one
		// it hasn't starts from the rollups, which now hold src's.
		{`UPDATE budget_ledgers SET spent = spent + COALESCE((SELECT s.spent FROM budget_ledgers s
				WHERE s.organization_id = ? AND s.user_id = budget_ledgers.user_id AND s.month = budget_ledgers.month), 0)
			WHERE organization_id = ?`, []any{src, dst}},
		{`DELETE FROM budget_ledgers WHERE organization_id = ?`, []any{src}},
		{`UPDATE audit_events SET organization_id = ? WHERE organization_id = ?`, []any{dst, src}},
	} {
		if _, err := q.w.ExecContext(ctx, st.sql, st.args...); err != nil {
			return fmt.Errorf("merge organizations: %w", mapErr(err))
		}
	}
	return nil
}

// rollupCounts are the columns every rollup table adds up.
var rollupCounts = []string{"requests", "errors", "refused", "prompt_tokens", "completion_tokens", "estimated", "estimated_tokens",
	"lat_0", "lat_1", "lat_2", "lat_3", "lat_4", "lat_5", "lat_6", "lat_7", "lat_8", "lat_9", "lat_10", "lat_11"}

// mergeRollups is the statement that adds a rollup table's rows of one org
// (the second argument) to another's (the first), by the table's key
// after organization_id.
func mergeRollups(table string, key ...string) string {
	cols := strings.Join(append(append([]string{}, key...), rollupCounts...), ", ")
	sets := make([]string, len(rollupCounts))
	for i, c := range rollupCounts {
		sets[i] = c + " = " + table + "." + c + " + excluded." + c
	}
	return `INSERT INTO ` + table + ` (organization_id, ` + cols + `)
		SELECT ?, ` + cols + ` FROM ` + table + ` WHERE organization_id = ?
		ON CONFLICT (organization_id, ` + strings.Join(key, ", ") + `) DO UPDATE SET ` + strings.Join(sets, ", ")
}
