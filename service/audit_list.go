package service

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"lamb/store"
)

// AuditEvent is one audited change.
type AuditEvent struct {
	ID        int64          `json:"id"`
	OrgSlug   string         `json:"organization"`
	Actor     string         `json:"actor"`
	Action    string         `json:"action"`
	Target    string         `json:"target"`
	Details   map[string]any `json:"details,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// AuditQuery selects audit events. Zero fields don't filter.
type AuditQuery struct {
	Org    string    // an organization's slug; "" is every org for system admins, the own org for org admins
	Since  time.Time // events at or after
	Actor  string    // who did it: an email or an SSH key's fingerprint (exactly, any case)
	Action string    // a prefix of the action: "user." for every change of a user, "user.signin_failed"
	Query  string    // a substring of the action, actor or target (the console's / filter)
	// BeforeID pages back from an event (ListAudit); Limit is at most 1000.
	BeforeID int64
	Limit    int
}

// auditFilter checks a query against its actor: system admins see every
// org (or the one named), org admins their own; another org is not found,
// like a missing one.
func (s *Service) auditFilter(ctx context.Context, a Actor, q AuditQuery) (store.AuditFilter, error) {
	f := store.AuditFilter{Since: q.Since, Query: strings.TrimSpace(q.Query), Actor: strings.TrimSpace(q.Actor),
		ActionPrefix: strings.ToLower(strings.TrimSpace(q.Action)), BeforeID: q.BeforeID, Limit: q.Limit}
	if len(f.Actor) > 320 {
		return store.AuditFilter{}, invalid("actor", "longer than 320 characters; give an email or an SSH key fingerprint")
	}
	for _, r := range f.ActionPrefix {
		if !(r >= 'a' && r <= 'z' || r == '_' || r == '.') {
			return store.AuditFilter{}, invalid("action", "%q: actions are lower-case words joined by dots, e.g. user. or user.signin_failed", q.Action)
		}
	}
	switch {
	case q.Org != "":
		o, err := s.orgForAdmin(ctx, s.st.Queries, a, q.Org)
		if err != nil {
			return store.AuditFilter{}, err
		}
		f.OrganizationID = o.ID
	case a.Role == RoleSystemAdmin:
	case a.Role == RoleOrgAdmin:
		f.OrganizationID = a.OrgID
	default:
		return store.AuditFilter{}, ErrForbidden
	}
	return f, nil
}

// ListAudit lists audit events newest first, at most q.Limit (100 when
// 0); q.BeforeID pages back.
func (s *Service) ListAudit(ctx context.Context, a Actor, q AuditQuery) ([]AuditEvent, error) {
	f, err := s.auditFilter(ctx, a, q)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	return s.auditViews(ctx, rows), nil
}

// AuditPage is ListAudit by offset, with the total, for paged screens.
func (s *Service) AuditPage(ctx context.Context, a Actor, q AuditQuery, offset, limit int) (Page[AuditEvent], error) {
	q.BeforeID, q.Limit = 0, limit
	f, err := s.auditFilter(ctx, a, q)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	f.Offset = offset
	total, err := s.st.CountAudit(ctx, f)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	rows, err := s.st.ListAudit(ctx, f)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	return Page[AuditEvent]{Items: s.auditViews(ctx, rows), Total: total}, nil
}

func (s *Service) auditViews(ctx context.Context, rows []store.AuditEvent) []AuditEvent {
	slugs := map[int64]string{}
	out := make([]AuditEvent, 0, len(rows))
	for _, r := range rows {
		slug, ok := slugs[r.OrganizationID]
		if !ok {
			if o, err := s.st.OrgByID(ctx, r.OrganizationID); err == nil {
				slug = o.Slug
			}
			slugs[r.OrganizationID] = slug
		}
		ev := AuditEvent{ID: r.ID, OrgSlug: slug, Actor: r.Actor, Action: r.Action, Target: r.Target, CreatedAt: r.CreatedAt}
		_ = json.Unmarshal([]byte(r.Details), &ev.Details)
		out = append(out, ev)
	}
	return out
}
