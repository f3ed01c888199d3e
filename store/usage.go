package store

import (
	"context"
	"fmt"
	"time"
)

// Day is the YYYYMMDD number of t's UTC day, the key of usage rollups.
func Day(t time.Time) int {
	t = t.UTC()
	return t.Year()*10000 + int(t.Month())*100 + t.Day()
}

// UsageTotals are summed rollups.
type UsageTotals struct {
	Requests         int64
	Errors           int64
	PromptTokens     int64
	CompletionTokens int64
}

// Tokens is prompt plus completion tokens.
func (u UsageTotals) Tokens() int64 { return u.PromptTokens + u.CompletionTokens }

// UsageFilter selects rollups: an org (required), optionally one user, from
// day From to day To inclusive (YYYYMMDD).
type UsageFilter struct {
	OrganizationID int64
	UserID         int64
	From, To       int
}

// SumUsage sums the rollups of the filter.
func (q *Queries) SumUsage(ctx context.Context, f UsageFilter) (UsageTotals, error) {
	query := `SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(errors), 0), COALESCE(SUM(prompt_tokens), 0),
		COALESCE(SUM(completion_tokens), 0) FROM usage_daily WHERE organization_id = ? AND day BETWEEN ? AND ?`
	args := []any{f.OrganizationID, f.From, f.To}
	if f.UserID != 0 {
		query += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	var t UsageTotals
	err := q.r.QueryRowContext(ctx, query, args...).Scan(&t.Requests, &t.Errors, &t.PromptTokens, &t.CompletionTokens)
	if err != nil {
		return UsageTotals{}, fmt.Errorf("sum usage: %w", mapErr(err))
	}
	return t, nil
}

// AddUsageDaily adds to a rollup row, creating it when missing.
func (q *Queries) AddUsageDaily(ctx context.Context, orgID int64, day int, assistantID, userID int64, t UsageTotals) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO usage_daily
		(organization_id, day, assistant_id, user_id, requests, errors, prompt_tokens, completion_tokens)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (organization_id, day, assistant_id, user_id) DO UPDATE SET
		requests = requests + excluded.requests, errors = errors + excluded.errors,
		prompt_tokens = prompt_tokens + excluded.prompt_tokens,
		completion_tokens = completion_tokens + excluded.completion_tokens`,
		orgID, day, assistantID, userID, t.Requests, t.Errors, t.PromptTokens, t.CompletionTokens)
	if err != nil {
		return fmt.Errorf("add usage rollup: %w", mapErr(err))
	}
	return nil
}

// UsageGroup is the totals of one day, assistant or user.
type UsageGroup struct {
	Key int64 // the day (YYYYMMDD), assistant id or user id
	UsageTotals
}

// GroupUsage sums the rollups of the filter by "day", "assistant" or "user".
func (q *Queries) GroupUsage(ctx context.Context, f UsageFilter, by string) ([]UsageGroup, error) {
	col := map[string]string{"day": "day", "assistant": "assistant_id", "user": "user_id"}[by]
	if col == "" {
		return nil, fmt.Errorf("group usage by %q: want day, assistant or user", by)
	}
	query := `SELECT ` + col + `, SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens)
		FROM usage_daily WHERE organization_id = ? AND day BETWEEN ? AND ?`
	args := []any{f.OrganizationID, f.From, f.To}
	if f.UserID != 0 {
		query += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	rows, err := q.r.QueryContext(ctx, query+` GROUP BY `+col+` ORDER BY `+col, args...)
	if err != nil {
		return nil, fmt.Errorf("group usage: %w", mapErr(err))
	}
	defer rows.Close()
	var out []UsageGroup
	for rows.Next() {
		var g UsageGroup
		if err := rows.Scan(&g.Key, &g.Requests, &g.Errors, &g.PromptTokens, &g.CompletionTokens); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, g)
	}
	return out, mapErr(rows.Err())
}
