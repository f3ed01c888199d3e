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

// ListAudit lists audit events newest first: system admins see every org
// (or the one named), org admins their own. beforeID pages back.
func (s *Service) ListAudit(ctx context.Context, a Actor, orgSlug string, since time.Time, beforeID int64, limit int) ([]AuditEvent, error) {
	f := store.AuditFilter{Since: since, BeforeID: beforeID, Limit: limit}
	switch {
	case orgSlug != "":
		o, err := s.orgForAdmin(ctx, s.st.Queries, a, orgSlug)
		if err != nil {
			return nil, err
		}
		f.OrganizationID = o.ID
	case a.Role == RoleSystemAdmin:
	case a.Role == RoleOrgAdmin:
		f.OrganizationID = a.OrgID
	default:
		return nil, ErrForbidden
	}
	rows, err := s.st.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	return s.auditViews(ctx, rows), nil
}

// AuditPage is ListAudit by offset with a filter (substring of action,
// actor or target) and the total, for paged screens.
func (s *Service) AuditPage(ctx context.Context, a Actor, orgSlug, query string, offset, limit int) (Page[AuditEvent], error) {
	f := store.AuditFilter{Query: strings.TrimSpace(query), Offset: offset, Limit: limit}
	switch {
	case orgSlug != "":
		o, err := s.orgForAdmin(ctx, s.st.Queries, a, orgSlug)
		if err != nil {
			return Page[AuditEvent]{}, err
		}
		f.OrganizationID = o.ID
	case a.Role == RoleSystemAdmin:
	case a.Role == RoleOrgAdmin:
		f.OrganizationID = a.OrgID
	default:
		return Page[AuditEvent]{}, ErrForbidden
	}
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
