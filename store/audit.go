package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AuditEvent is a row of audit_events. Details is a JSON object with
// secrets already redacted.
type AuditEvent struct {
	ID             int64
	OrganizationID int64
	ActorUserID    int64 // 0: not a user (the system, an API key)
	Actor          string
	Action         string
	Target         string
	Details        string
	CreatedAt      time.Time
}

// InsertAudit appends an audit event.
func (q *Queries) InsertAudit(ctx context.Context, e AuditEvent) error {
	if e.Details == "" {
		e.Details = "{}"
	}
	var actorID sql.NullInt64
	if e.ActorUserID != 0 {
		actorID = sql.NullInt64{Int64: e.ActorUserID, Valid: true}
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO audit_events
		(organization_id, actor_user_id, actor, action, target, details, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.OrganizationID, actorID, e.Actor, e.Action, e.Target, e.Details, q.stamp())
	if err != nil {
		return fmt.Errorf("write audit event %s: %w", e.Action, mapErr(err))
	}
	return nil
}

// AuditFilter selects audit events. Zero fields don't filter.
type AuditFilter struct {
	OrganizationID int64
	Action         string
	Since          time.Time
	BeforeID       int64 // paging: events with a smaller id
	Limit          int
}

// ListAudit returns events newest first.
func (q *Queries) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	query := `SELECT id, organization_id, COALESCE(actor_user_id, 0), actor, action, target, details, created_at
		FROM audit_events WHERE 1 = 1`
	var args []any
	if f.OrganizationID != 0 {
		query += ` AND organization_id = ?`
		args = append(args, f.OrganizationID)
	}
	if f.Action != "" {
		query += ` AND action = ?`
		args = append(args, f.Action)
	}
	if !f.Since.IsZero() {
		query += ` AND created_at >= ?`
		args = append(args, f.Since.Unix())
	}
	if f.BeforeID != 0 {
		query += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := q.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", mapErr(err))
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		var created int64
		if err := rows.Scan(&e.ID, &e.OrganizationID, &e.ActorUserID, &e.Actor, &e.Action, &e.Target, &e.Details, &created); err != nil {
			return nil, mapErr(err)
		}
		e.CreatedAt = unix(created)
		out = append(out, e)
	}
	return out, mapErr(rows.Err())
}
