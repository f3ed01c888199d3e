package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// BudgetAlert is a row of budget_alerts: a threshold of a month budget
// crossed. UserID 0 is the org's budget (tokens_per_month); another is
// that user's (user_tokens_per_month).
type BudgetAlert struct {
	ID             int64
	OrganizationID int64
	Period         int // YYYYMM in UTC
	UserID         int64
	Threshold      int   // percent
	Used           int64 // tokens used when the crossing was seen
	Budget         int64 // the budget then
	CreatedAt      time.Time
	Delivery       string // the webhook's outcome; "" while none or pending
	UserEmail      string // read only: the user's email, "" when gone or for the org
}

// InsertBudgetAlert records a crossing unless one with its key (org,
// period, user, threshold) exists, and reports whether this call made it:
// of several processes seeing the same crossing, exactly one does.
func (q *Queries) InsertBudgetAlert(ctx context.Context, a BudgetAlert) (int64, bool, error) {
	var id int64
	err := q.w.QueryRowContext(ctx, `INSERT INTO budget_alerts
		(organization_id, period, user_id, threshold, used, budget, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (organization_id, period, user_id, threshold) DO NOTHING RETURNING id`,
		a.OrganizationID, a.Period, a.UserID, a.Threshold, a.Used, a.Budget, q.stamp()).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("record budget alert: %w", mapErr(err))
	}
	return id, true, nil
}

// BudgetAlertFilter selects the alerts of an org in a period: all of
// them, or only those of one user's budget (UserID), or only the org's
// own (OrgOnly).
type BudgetAlertFilter struct {
	OrganizationID int64
	Period         int
	UserID         int64
	OrgOnly        bool
	Limit          int // 0: 1000
}

// BudgetAlerts lists alerts, the org's first, then by user and threshold.
func (q *Queries) BudgetAlerts(ctx context.Context, f BudgetAlertFilter) ([]BudgetAlert, error) {
	query := `SELECT b.id, b.organization_id, b.period, b.user_id, b.threshold, b.used, b.budget, b.created_at, b.delivery,
		COALESCE(u.email, '') FROM budget_alerts b LEFT JOIN users u ON u.id = b.user_id AND b.user_id <> 0
		WHERE b.organization_id = ? AND b.period = ?`
	args := []any{f.OrganizationID, f.Period}
	switch {
	case f.OrgOnly:
		query += ` AND b.user_id = 0`
	case f.UserID != 0:
		query += ` AND b.user_id = ?`
		args = append(args, f.UserID)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	rows, err := q.r.QueryContext(ctx, query+` ORDER BY b.user_id, b.threshold LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list budget alerts: %w", mapErr(err))
	}
	defer rows.Close()
	var out []BudgetAlert
	for rows.Next() {
		var a BudgetAlert
		var at int64
		if err := rows.Scan(&a.ID, &a.OrganizationID, &a.Period, &a.UserID, &a.Threshold, &a.Used, &a.Budget, &at,
			&a.Delivery, &a.UserEmail); err != nil {
			return nil, mapErr(err)
		}
		a.CreatedAt = unix(at)
		out = append(out, a)
	}
	return out, mapErr(rows.Err())
}

// SetBudgetAlertDelivery records how the webhook of an alert went.
func (q *Queries) SetBudgetAlertDelivery(ctx context.Context, id int64, delivery string) error {
	if _, err := q.w.ExecContext(ctx, `UPDATE budget_alerts SET delivery = ? WHERE id = ?`, delivery, id); err != nil {
		return fmt.Errorf("record webhook delivery: %w", mapErr(err))
	}
	return nil
}

// ActiveOrgIDs lists the ids of active organizations.
func (q *Queries) ActiveOrgIDs(ctx context.Context) ([]int64, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT id FROM organizations WHERE status = ? ORDER BY id`, OrgActive)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", mapErr(err))
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, id)
	}
	return out, mapErr(rows.Err())
}
