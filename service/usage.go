package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"lamb/store"
)

// UsageRow is the usage of one day, assistant or user.
type UsageRow struct {
	Key              string `json:"key"` // 2026-11-29, an assistant's name, a user's email
	Requests         int64  `json:"requests"`
	Errors           int64  `json:"errors"`  // refusals included
	Refused          int64  `json:"refused"` // refused before reaching a provider (quota, rate limit…)
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	Tokens           int64  `json:"tokens"`
	// Retrieval is the knowledge-base step of an assistant with
	// collections (reports by assistant only).
	Retrieval *RetrievalFigures `json:"retrieval,omitempty"`
}

// RetrievalFigures describe an assistant's retrieval over its latest
// requests of the period (at most RetrievalSample of them).
type RetrievalFigures struct {
	Sampled   int64   `json:"sampled_requests"`   // requests looked at
	Retrieved int64   `json:"retrieved_requests"` // of them, those that ran retrieval
	AvgMS     float64 `json:"avg_ms"`             // retrieval time per retrieving request
	AvgChunks float64 `json:"avg_chunks"`         // chunks of context per retrieving request
}

// RetrievalSample bounds the requests a usage report reads per assistant
// for its retrieval figures: rollups don't hold them, and reading every
// raw event of a busy assistant would make the report slow.
const RetrievalSample = 1000

// UsageReport is usage over a period, in total and grouped.
type UsageReport struct {
	OrgSlug string     `json:"organization"`
	User    string     `json:"user,omitempty"`
	From    string     `json:"from"`
	To      string     `json:"to"`
	By      string     `json:"by"`
	Total   UsageRow   `json:"total"`
	Rows    []UsageRow `json:"rows"`
}

func usageRow(key string, t store.UsageTotals) UsageRow {
	return UsageRow{Key: key, Requests: t.Requests, Errors: t.Errors, Refused: t.Refused, PromptTokens: t.PromptTokens,
		CompletionTokens: t.CompletionTokens, Tokens: t.Tokens()}
}

// Usage reports usage since a time, grouped by day, assistant or user, from
// the daily rollups. Members see their own usage (as assistant owners); org
// admins their org (orgSlug "" = own); system admins any org. mine limits an
// admin's report to their own assistants.
func (s *Service) Usage(ctx context.Context, a Actor, orgSlug string, since time.Time, by string, mine bool) (UsageReport, error) {
	if a.UserID == 0 || a.Role == RoleAPIKey {
		return UsageReport{}, ErrForbidden
	}
	if by == "" {
		by = "assistant"
	}
	if by != "day" && by != "assistant" && by != "user" {
		return UsageReport{}, invalid("by", "want day, assistant or user, got %q", by)
	}
	f := store.UsageFilter{From: store.Day(since), To: store.Day(s.now())}
	var org store.Org
	var err error
	switch {
	case mine || a.Role == RoleMember:
		if orgSlug != "" && orgSlug != a.OrgSlug {
			return UsageReport{}, ErrForbidden
		}
		org, err = s.st.OrgByID(ctx, a.OrgID)
		f.UserID = a.UserID
	default:
		if orgSlug == "" {
			orgSlug = a.OrgSlug
		}
		org, err = s.orgForAdmin(ctx, s.st.Queries, a, orgSlug)
	}
	if err != nil {
		return UsageReport{}, storeErr(err, "organization")
	}
	f.OrganizationID = org.ID
	total, err := s.st.SumUsage(ctx, f)
	if err != nil {
		return UsageReport{}, err
	}
	groups, err := s.st.GroupUsage(ctx, f, by)
	if err != nil {
		return UsageReport{}, err
	}
	r := UsageReport{OrgSlug: org.Slug, From: dayString(f.From), To: dayString(f.To), By: by, Total: usageRow("total", total),
		Rows: make([]UsageRow, 0, len(groups))}
	if f.UserID != 0 {
		r.User = a.Email
	}
	for _, g := range groups {
		row := usageRow(s.usageKey(ctx, org.ID, by, g.Key), g.UsageTotals)
		if by == "assistant" {
			// From the start of the report's first day, as the rollups count.
			row.Retrieval, err = s.retrievalFigures(ctx, org.ID, g.Key, f.UserID, since.UTC().Truncate(24*time.Hour))
			if err != nil {
				return UsageReport{}, err
			}
		}
		r.Rows = append(r.Rows, row)
	}
	return r, nil
}

// retrievalFigures are the retrieval figures of assistant id of org orgID
// (requests of userID only, unless 0): nil for an assistant without
// collections, gone, or another org's.
func (s *Service) retrievalFigures(ctx context.Context, orgID, id, userID int64, since time.Time) (*RetrievalFigures, error) {
	if id == 0 {
		return nil, nil
	}
	a, err := s.st.AssistantByID(ctx, id)
	if err != nil || a.OrganizationID != orgID || a.KnowledgeBase == nil {
		return nil, nil
	}
	rt, err := s.st.RecentRetrieval(ctx, orgID, id, userID, since, RetrievalSample)
	if err != nil {
		return nil, err
	}
	out := &RetrievalFigures{Sampled: rt.Requests, Retrieved: rt.Retrieved}
	if rt.Retrieved > 0 {
		out.AvgMS = float64(rt.MS) / float64(rt.Retrieved)
		out.AvgChunks = float64(rt.Chunks) / float64(rt.Retrieved)
	}
	return out, nil
}

func dayString(d int) string { return fmt.Sprintf("%04d-%02d-%02d", d/10000, d/100%100, d%100) }

// usageKey names a group of org orgID: a day, an assistant, a user
// ("deleted" when gone). Rollups outlive assistants and users, and SQLite
// may give a deleted row's id to a new one, possibly in another org: only
// an assistant or user of orgID is named, so that another org's names
// never show.
func (s *Service) usageKey(ctx context.Context, orgID int64, by string, key int64) string {
	switch by {
	case "day":
		return dayString(int(key))
	case "assistant":
		if key == 0 { // refused before an assistant was known (unknown model, bad key use, malformed body)
			return "(no assistant: refused requests)"
		}
		if a, err := s.st.AssistantByID(ctx, key); err == nil && a.OrganizationID == orgID {
			return fmt.Sprintf("%s (#%d)", a.Name, a.ID)
		}
		return fmt.Sprintf("deleted assistant #%d", key)
	}
	if key == 0 {
		return "(no owner: refused requests)"
	}
	if u, err := s.st.UserByID(ctx, key); err == nil && u.OrganizationID == orgID {
		return u.Email
	}
	return strings.TrimSpace(fmt.Sprintf("deleted user #%d", key))
}
