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
	Action         string // exactly this action
	ActionPrefix   string // actions that start with this (user. for user.create, user.delete…)
	Actor          string // exactly this actor (an email, a key), any case
	Target         string // exactly this target, any case
	Since          time.Time
	Query          string // substring of action, actor or target
	BeforeID       int64  // paging: events with a smaller id
	Offset         int
	Limit          int
}

func auditWhere(f AuditFilter) (string, []any) {
	where, args := "", []any{}
	if f.OrganizationID != 0 {
		where += ` AND organization_id = ?`
		args = append(args, f.OrganizationID)
	}
	if f.Action != "" {
		where += ` AND action = ?`
		args = append(args, f.Action)
	}
	if f.ActionPrefix != "" {
		where += ` AND action LIKE ? ESCAPE '\'`
		args = append(args, escapeLike(f.ActionPrefix)+"%")
	}
	if f.Actor != "" {
		where += ` AND LOWER(actor) = LOWER(?)`
		args = append(args, f.Actor)
	}
	if f.Target != "" {
		where += ` AND LOWER(target) = LOWER(?)`
		args = append(args, f.Target)
	}
	if f.Query != "" {
		like := "%" + escapeLike(f.Query) + "%"
		where += ` AND (LOWER(action) LIKE LOWER(?) ESCAPE '\' OR LOWER(actor) LIKE LOWER(?) ESCAPE '\' OR LOWER(target) LIKE LOWER(?) ESCAPE '\')`
		args = append(args, like, like, like)
	}
	if !f.Since.IsZero() {
		where += ` AND created_at >= ?`
		args = append(args, f.Since.Unix())
	}
	if f.BeforeID != 0 {
		where += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	return where, args
}

// ListAudit returns events newest first.
func (q *Queries) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	where, args := auditWhere(f)
	query := `SELECT id, organization_id, COALESCE(actor_user_id, 0), actor, action, target, details, created_at
		FROM audit_events WHERE 1 = 1` + where
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	query += ` ORDER BY id DESC LIMIT ? OFFSET ?`
	args = append(args, f.Limit, f.Offset)
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

// CountAudit counts the events ListAudit would page through.
func (q *Queries) CountAudit(ctx context.Context, f AuditFilter) (int, error) {
	where, args := auditWhere(f)
	var n int
	err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE 1 = 1`+where, args...).Scan(&n)
	return n, mapErr(err)
}
