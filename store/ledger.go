package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// BudgetKey names a month budget: an org's (UserID 0) or one user's in it.
type BudgetKey struct {
	OrganizationID, UserID int64
	Month                  int // YYYYMM in UTC
}

// Budget is what the database knows of a month budget at one moment.
type Budget struct {
	Spent  int64 // settled tokens
	Leased int64 // held by other instances, in leases that haven't expired
	Mine   int64 // held by the asking instance (0 when its lease expired)
}

// BudgetState reads a budget's ledger and live leases, creating the
// ledger from the month's rollups the first time it is asked for. Run it
// in the transaction that then leases: on PostgreSQL a concurrent lease of
// the same budget makes one of the two transactions run again.
func (q *Queries) BudgetState(ctx context.Context, k BudgetKey, instance string, now time.Time) (Budget, error) {
	var b Budget
	err := q.w.QueryRowContext(ctx, `SELECT spent FROM budget_ledgers WHERE organization_id = ? AND user_id = ? AND month = ?`,
		k.OrganizationID, k.UserID, k.Month).Scan(&b.Spent)
	if errors.Is(mapErr(err), ErrNotFound) {
		b.Spent, err = q.startLedger(ctx, k)
	}
	if err != nil {
		return Budget{}, fmt.Errorf("read budget: %w", mapErr(err))
	}
	rows, err := q.w.QueryContext(ctx, `SELECT instance, tokens FROM budget_leases
		WHERE organization_id = ? AND user_id = ? AND month = ? AND expires_at > ?`,
		k.OrganizationID, k.UserID, k.Month, now.Unix())
	if err != nil {
		return Budget{}, fmt.Errorf("read budget leases: %w", mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var who string
		var n int64
		if err := rows.Scan(&who, &n); err != nil {
			return Budget{}, mapErr(err)
		}
		if who == instance {
			b.Mine = n
		} else {
			b.Leased += n
		}
	}
	return b, mapErr(rows.Err())
}

// startLedger creates a month's ledger with the tokens its rollups hold.
func (q *Queries) startLedger(ctx context.Context, k BudgetKey) (int64, error) {
	from := k.Month*100 + 1
	query := `SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage_daily
		WHERE organization_id = ? AND day BETWEEN ? AND ?`
	args := []any{k.OrganizationID, from, from + 30}
	if k.UserID != 0 {
		query += ` AND user_id = ?`
		args = append(args, k.UserID)
	}
	var spent int64
	if err := q.w.QueryRowContext(ctx, query, args...).Scan(&spent); err != nil {
		return 0, err
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO budget_ledgers (organization_id, user_id, month, spent) VALUES (?, ?, ?, ?)
		ON CONFLICT (organization_id, user_id, month) DO NOTHING`, k.OrganizationID, k.UserID, k.Month, spent)
	return spent, err
}

// SetLease records the tokens instance holds of a budget, live until
// expires.
func (q *Queries) SetLease(ctx context.Context, k BudgetKey, instance string, tokens int64, expires time.Time) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO budget_leases (organization_id, user_id, month, instance, tokens, expires_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (organization_id, user_id, month, instance)
		DO UPDATE SET tokens = excluded.tokens, expires_at = excluded.expires_at`,
		k.OrganizationID, k.UserID, k.Month, instance, tokens, expires.Unix())
	if err != nil {
		return fmt.Errorf("lease budget: %w", mapErr(err))
	}
	return nil
}

// Spent is what an instance spent of one budget since it last said.
type Spent struct {
	Key    BudgetKey
	Tokens int64
}

// Spend moves what an instance spent out of its leases into the ledgers'
// spent (tokens beyond a lease are added to spent all the same), a few
// statements for any number of budgets. On PostgreSQL the ledger rows are
// locked first in key order, so that instances writing at once wait for
// each other instead of deadlocking.
func (q *Queries) Spend(ctx context.Context, instance string, spent []Spent) error {
	if q.postgres {
		return q.spendPostgres(ctx, instance, spent)
	}
	const per = 50
	for start := 0; start < len(spent); start += per {
		chunk := spent[start:min(start+per, len(spent))]
		var sb strings.Builder
		args := make([]any, 0, len(chunk)*4)
		for i, s := range chunk {
			if i > 0 {
				sb.WriteString(" UNION ALL ")
			}
			sb.WriteString("SELECT CAST(? AS BIGINT) AS o, CAST(? AS BIGINT) AS u, CAST(? AS INTEGER) AS m, CAST(? AS BIGINT) AS n")
			args = append(args, s.Key.OrganizationID, s.Key.UserID, s.Key.Month, s.Tokens)
		}
		if err := q.spendFrom(ctx, "("+sb.String()+") AS v", instance, args); err != nil {
			return err
		}
	}
	return nil
}

// spendPostgres is Spend in one statement text whatever the number of
// budgets, their columns sent as arrays. The ledger rows are locked first
// in key order.
func (q *Queries) spendPostgres(ctx context.Context, instance string, spent []Spent) error {
	if len(spent) == 0 {
		return nil
	}
	cols := make([][]int64, 4)
	for _, s := range spent {
		for i, v := range []int64{s.Key.OrganizationID, s.Key.UserID, int64(s.Key.Month), s.Tokens} {
			cols[i] = append(cols[i], v)
		}
	}
	args := []any{cols[0], cols[1], cols[2], cols[3]}
	values := "unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[]) AS v(o, u, m, n)"
	rows, err := q.w.QueryContext(ctx, `SELECT b.organization_id FROM budget_ledgers b JOIN `+values+`
		ON b.organization_id = v.o AND b.user_id = v.u AND b.month = v.m
		ORDER BY b.organization_id, b.user_id, b.month FOR UPDATE OF b`, args...)
	if err != nil {
		return fmt.Errorf("record spent budget: %w", mapErr(err))
	}
	rows.Close()
	return q.spendFrom(ctx, values, instance, args)
}

// spendFrom runs Spend's updates from values, a table of (o, u, m, n).
func (q *Queries) spendFrom(ctx context.Context, values, instance string, args []any) error {
	if _, err := q.w.ExecContext(ctx, `UPDATE budget_ledgers SET spent = spent + v.n FROM `+values+`
		WHERE organization_id = v.o AND user_id = v.u AND month = v.m`, args...); err != nil {
		return fmt.Errorf("record spent budget: %w", mapErr(err))
	}
	if _, err := q.w.ExecContext(ctx, `UPDATE budget_leases SET tokens = CASE WHEN tokens > v.n THEN tokens - v.n ELSE 0 END
		FROM `+values+` WHERE organization_id = v.o AND user_id = v.u AND month = v.m AND instance = ?`,
		append(args, instance)...); err != nil {
		return fmt.Errorf("record spent budget: %w", mapErr(err))
	}
	return nil
}

// RenewLeases moves the expiry of an instance's live leases to expires;
// it never revives a lease that has already expired.
func (q *Queries) RenewLeases(ctx context.Context, instance string, now, expires time.Time) error {
	_, err := q.w.ExecContext(ctx, `UPDATE budget_leases SET expires_at = ? WHERE instance = ? AND expires_at > ?`,
		expires.Unix(), instance, now.Unix())
	if err != nil {
		return fmt.Errorf("renew budget leases: %w", mapErr(err))
	}
	return nil
}

// DropLeases deletes an instance's leases (it stopped), or with instance
// "" every lease that expired before t.
func (q *Queries) DropLeases(ctx context.Context, instance string, t time.Time) error {
	query, args := `DELETE FROM budget_leases WHERE instance = ?`, []any{instance}
	if instance == "" {
		query, args = `DELETE FROM budget_leases WHERE expires_at < ?`, []any{t.Unix()}
	}
	if _, err := q.w.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("drop budget leases: %w", mapErr(err))
	}
	return nil
}

// RequestCounts are an org's admitted requests of each Unix second from
// since on.
func (q *Queries) RequestCounts(ctx context.Context, orgID, since int64) (map[int64]int64, error) {
	rows, err := q.w.QueryContext(ctx, `SELECT second, n FROM rpm_counts WHERE organization_id = ? AND second >= ?`, orgID, since)
	if err != nil {
		return nil, fmt.Errorf("read request counts: %w", mapErr(err))
	}
	defer rows.Close()
	counts := map[int64]int64{}
	for rows.Next() {
		var sec, n int64
		if err := rows.Scan(&sec, &n); err != nil {
			return nil, mapErr(err)
		}
		counts[sec] += n
	}
	return counts, mapErr(rows.Err())
}

// AddRequests adds n (negative: gives back) to an org's count of second.
func (q *Queries) AddRequests(ctx context.Context, orgID, second, n int64) error {
	_, err := q.w.ExecContext(ctx, `INSERT INTO rpm_counts (organization_id, second, n) VALUES (?, ?, ?)
		ON CONFLICT (organization_id, second) DO UPDATE SET n = rpm_counts.n + excluded.n`, orgID, second, n)
	if err != nil {
		return fmt.Errorf("count requests: %w", mapErr(err))
	}
	return nil
}

// PruneRequestCounts deletes the counts of seconds before t.
func (q *Queries) PruneRequestCounts(ctx context.Context, t time.Time) error {
	if _, err := q.w.ExecContext(ctx, `DELETE FROM rpm_counts WHERE second < ?`, t.Unix()); err != nil {
		return fmt.Errorf("prune request counts: %w", mapErr(err))
	}
	return nil
}

// DropLease gives back tokens of an instance's lease, deleting it when
// nothing is left.
func (q *Queries) DropLease(ctx context.Context, k BudgetKey, instance string, tokens int64) error {
	if _, err := q.w.ExecContext(ctx, `UPDATE budget_leases SET tokens = tokens - ?
		WHERE organization_id = ? AND user_id = ? AND month = ? AND instance = ?`,
		tokens, k.OrganizationID, k.UserID, k.Month, instance); err != nil {
		return fmt.Errorf("give back budget lease: %w", mapErr(err))
	}
	if _, err := q.w.ExecContext(ctx, `DELETE FROM budget_leases
		WHERE organization_id = ? AND user_id = ? AND month = ? AND instance = ? AND tokens <= 0`,
		k.OrganizationID, k.UserID, k.Month, instance); err != nil {
		return fmt.Errorf("give back budget lease: %w", mapErr(err))
	}
	return nil
}
