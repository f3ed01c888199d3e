package service

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"lamb/store"
)

// UsageRow is the usage of one day, organization, assistant, user or API
// key, or the total of a report.
type UsageRow struct {
	Key              string `json:"key"`          // 2026-11-29, an org's slug, an assistant's name, a user's email, a key's name
	ID               int64  `json:"id,omitempty"` // the org's, assistant's, user's or key's id (none by day)
	Requests         int64  `json:"requests"`
	Errors           int64  `json:"errors"`  // refusals included
	Refused          int64  `json:"refused"` // refused before reaching a provider (quota, rate limit…)
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	Tokens           int64  `json:"tokens"`
	Estimated        int64  `json:"estimated_requests"` // requests whose tokens lamb estimated (the provider gave none)
	EstimatedTokens  int64  `json:"estimated_tokens"`
	// P50MS and P95MS are latency percentiles of the requests that reached
	// a provider, from the rollups' histogram (within its bucket, so
	// approximate); nil when there were none.
	P50MS *int64 `json:"p50_ms"`
	P95MS *int64 `json:"p95_ms"`
	// Retrieval is the knowledge-base step of an assistant with
	// collections (reports by assistant only).
	Retrieval *RetrievalFigures `json:"retrieval,omitempty"`
}

// ErrorRate is the share of requests that failed or were refused (0–1).
func (r UsageRow) ErrorRate() float64 { return ratio(r.Errors, r.Requests) }

// RefusedRate is the share of requests refused before a provider (0–1).
func (r UsageRow) RefusedRate() float64 { return ratio(r.Refused, r.Requests) }

// EstimatedShare is the share of tokens that lamb estimated (0–1).
func (r UsageRow) EstimatedShare() float64 { return ratio(r.EstimatedTokens, r.Tokens) }

func ratio(a, b int64) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
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

// UsageGroupings are what a usage report groups by: "org" only across
// every organization.
var UsageGroupings = []string{"day", "assistant", "user", "key", "org"}

// UsageQuery selects usage.
type UsageQuery struct {
	Org     string // an organization's slug; "" is the actor's own
	AllOrgs bool   // every organization (system admins)
	Mine    bool   // only the usage of the actor's own assistants
	// Range names the days (a UsageRanges, or "Nd"), as of the server's
	// clock; or From and To give them.
	Range string
	From  time.Time // the first day (UTC); zero: the first of this month
	To    time.Time // the last day, inclusive; zero: today
	By    string    // a UsageGroupings; "" is assistant
}

// UsageReport is usage over a period, in total and grouped.
type UsageReport struct {
	OrgSlug string     `json:"organization,omitempty"` // "" across every organization
	AllOrgs bool       `json:"all_organizations,omitempty"`
	User    string     `json:"user,omitempty"` // the report covers this user's assistants only
	From    string     `json:"from"`
	To      string     `json:"to"`
	By      string     `json:"by"`
	Total   UsageRow   `json:"total"`
	Rows    []UsageRow `json:"rows"`
}

// usageScope is what a query may read, resolved for its actor.
type usageScope struct {
	filter store.UsageFilter
	org    store.Org // zero across every organization
	user   string    // the owner whose assistants are reported, or ""
	from   time.Time
	to     time.Time
	names  *usageNames
}

// usageScope checks a query against its actor and the rules of a report.
// Members see their own usage (as the owners of assistants); org admins
// their org (another org is not found, like a missing one); system admins
// any org, or all of them. Mine limits an admin to their own assistants.
func (s *Service) usageScope(ctx context.Context, a Actor, q UsageQuery) (usageScope, error) {
	if a.UserID == 0 || a.Role == RoleAPIKey || a.Role == RoleNone {
		return usageScope{}, ErrForbidden
	}
	now := s.now()
	if q.Range != "" {
		if !q.From.IsZero() || !q.To.IsZero() {
			return usageScope{}, invalid("since", "give a named range or first and last days, not both")
		}
		var err error
		if q.From, q.To, err = UsageRange(q.Range, now); err != nil {
			return usageScope{}, err
		}
	}
	sc := usageScope{from: q.From.UTC().Truncate(24 * time.Hour), to: q.To.UTC().Truncate(24 * time.Hour)}
	if q.From.IsZero() {
		sc.from = monthStart(now)
	}
	if q.To.IsZero() {
		sc.to = now.UTC().Truncate(24 * time.Hour)
	}
	if sc.from.After(sc.to) {
		return usageScope{}, invalid("from", "%s is after the last day, %s: swap them", sc.from.Format(time.DateOnly), sc.to.Format(time.DateOnly))
	}
	sc.filter.From, sc.filter.To = store.Day(sc.from), store.Day(sc.to)
	var err error
	switch {
	case q.AllOrgs:
		if err := requireSystemAdmin(a); err != nil {
			return usageScope{}, err
		}
		if q.Org != "" || q.Mine {
			return usageScope{}, invalid("org", "a report of every organization can't also name one or be only yours: leave one out")
		}
		sc.filter.AllOrgs = true
	case q.Mine || a.Role == RoleMember:
		if q.Org != "" && q.Org != a.OrgSlug {
			return usageScope{}, ErrForbidden
		}
		sc.org, err = s.st.OrgByID(ctx, a.OrgID)
		sc.filter.UserID, sc.user = a.UserID, a.Email
	default:
		slug := q.Org
		if slug == "" {
			slug = a.OrgSlug
		}
		sc.org, err = s.orgForAdmin(ctx, s.st.Queries, a, slug)
	}
	if err != nil {
		return usageScope{}, storeErr(err, "organization")
	}
	sc.filter.OrganizationID = sc.org.ID
	sc.names = &usageNames{s: s, orgID: sc.org.ID, viewer: sc.filter.UserID, orgs: map[int64]string{}}
	return sc, nil
}

// Usage reports usage over a range of days, grouped by day, assistant,
// user, API key or (across every organization) org, from the daily
// rollups: its cost doesn't grow with the number of events.
func (s *Service) Usage(ctx context.Context, a Actor, q UsageQuery) (UsageReport, error) {
	by, err := usageBy(q.By)
	if err != nil {
		return UsageReport{}, err
	}
	sc, err := s.usageScope(ctx, a, q)
	if err != nil {
		return UsageReport{}, err
	}
	d := &usageData{groups: map[string][]store.UsageGroup{}}
	if d.total, err = s.st.SumUsage(ctx, sc.filter); err != nil {
		return UsageReport{}, err
	}
	r := UsageReport{OrgSlug: sc.org.Slug, AllOrgs: sc.filter.AllOrgs, User: sc.user, From: dayString(sc.filter.From),
		To: dayString(sc.filter.To), By: by, Total: usageRow("total", 0, d.total)}
	if r.Rows, err = s.usageRows(ctx, sc, d, by); err != nil {
		return UsageReport{}, err
	}
	return r, nil
}

// usageBy checks a grouping ("" is assistant).
func usageBy(by string) (string, error) {
	if by == "" {
		return "assistant", nil
	}
	if !slices.Contains(UsageGroupings, by) {
		return "", invalid("by", "want day, assistant, user, key or org (every organization), got %q", by)
	}
	return by, nil
}

// usageData is what a report or summary has read of the rollups, so that
// each grouping is read once however many lists show it.
type usageData struct {
	total  store.UsageTotals
	groups map[string][]store.UsageGroup // by grouping, ordered by key
}

// grouped returns the scope's usage grouped by "day", "org", "assistant",
// "user" or "key". Assistants and users are read together (each assistant
// has one owner): one pass over usage_daily for both.
func (s *Service) grouped(ctx context.Context, sc usageScope, d *usageData, by string) ([]store.UsageGroup, error) {
	if g, ok := d.groups[by]; ok {
		return g, nil
	}
	if by == "org" && !sc.filter.AllOrgs {
		return nil, invalid("by", "org groups a report of every organization; this one is of %s", sc.org.Slug)
	}
	if by != "assistant" && by != "user" {
		g, err := s.st.GroupUsage(ctx, sc.filter, by)
		d.groups[by] = g
		return g, err
	}
	pairs, err := s.st.UsageByAssistant(ctx, sc.filter)
	if err != nil {
		return nil, err
	}
	assistants, users := map[int64]*store.UsageTotals{}, map[int64]*store.UsageTotals{}
	for _, p := range pairs {
		for _, m := range []struct {
			into map[int64]*store.UsageTotals
			key  int64
		}{{assistants, p.AssistantID}, {users, p.UserID}} {
			t := m.into[m.key]
			if t == nil {
				t = &store.UsageTotals{}
				m.into[m.key] = t
			}
			t.Merge(p.UsageTotals)
		}
	}
	for name, m := range map[string]map[int64]*store.UsageTotals{"assistant": assistants, "user": users} {
		g := make([]store.UsageGroup, 0, len(m))
		for k, t := range m {
			g = append(g, store.UsageGroup{Key: k, UsageTotals: *t})
		}
		slices.SortFunc(g, func(a, b store.UsageGroup) int { return cmp.Compare(a.Key, b.Key) })
		d.groups[name] = g
	}
	return d.groups[by], nil
}

// usageRows are the rows of a report by by, named; by assistant with the
// retrieval of assistants with collections.
func (s *Service) usageRows(ctx context.Context, sc usageScope, d *usageData, by string) ([]UsageRow, error) {
	groups, err := s.grouped(ctx, sc, d, by)
	if err != nil {
		return nil, err
	}
	rows := make([]UsageRow, 0, len(groups))
	for _, g := range groups {
		row := sc.names.row(ctx, by, g)
		if by == "assistant" {
			if row.Retrieval, err = s.retrievalFigures(ctx, sc, g.Key); err != nil {
				return nil, err
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// topUsage is the n groups with the most tokens (then requests), named.
func (s *Service) topUsage(ctx context.Context, sc usageScope, d *usageData, by string, n int) ([]UsageRow, error) {
	groups, err := s.grouped(ctx, sc, d, by)
	if err != nil {
		return nil, err
	}
	top := slices.Clone(groups)
	slices.SortFunc(top, func(a, b store.UsageGroup) int {
		return cmp.Or(cmp.Compare(b.Tokens(), a.Tokens()), cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Key, b.Key))
	})
	rows := make([]UsageRow, 0, min(n, len(top)))
	for _, g := range top[:min(n, len(top))] {
		rows = append(rows, sc.names.row(ctx, by, g))
	}
	return rows, nil
}

func usageRow(key string, id int64, t store.UsageTotals) UsageRow {
	r := UsageRow{Key: key, ID: id, Requests: t.Requests, Errors: t.Errors, Refused: t.Refused, PromptTokens: t.PromptTokens,
		CompletionTokens: t.CompletionTokens, Tokens: t.Tokens(), Estimated: t.Estimated, EstimatedTokens: t.EstimatedTokens}
	if p, ok := latencyPercentile(t.Latency, 0.50); ok {
		r.P50MS = &p
	}
	if p, ok := latencyPercentile(t.Latency, 0.95); ok {
		r.P95MS = &p
	}
	return r
}

// latencyPercentile estimates the p-th latency (0 < p ≤ 1) of a
// histogram of store.LatencyBounds: the bucket that holds it is exact;
// within the bucket requests are taken as spread evenly. The slowest
// bucket has no upper bound: its percentiles are its lower bound.
func latencyPercentile(hist [store.LatencyBuckets]int64, p float64) (int64, bool) {
	var total int64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0, false
	}
	rank := p * float64(total) // the rank-th request, counting from the fastest
	var below int64
	for i, n := range hist {
		if n == 0 || float64(below+n) < rank {
			below += n
			continue
		}
		lower := int64(0)
		if i > 0 {
			lower = store.LatencyBounds[i-1]
		}
		if i == len(store.LatencyBounds) {
			return lower, true
		}
		upper := store.LatencyBounds[i]
		within := (rank - float64(below)) / float64(n)
		return lower + int64(within*float64(upper-lower)+0.5), true
	}
	return store.LatencyBounds[len(store.LatencyBounds)-1], true
}

// retrievalFigures are the retrieval figures of assistant id in the
// scope: nil for an assistant without collections, gone, or outside it.
func (s *Service) retrievalFigures(ctx context.Context, sc usageScope, id int64) (*RetrievalFigures, error) {
	if id == 0 {
		return nil, nil
	}
	a, err := sc.names.assistant(ctx, id)
	if err != nil || (!sc.filter.AllOrgs && a.OrganizationID != sc.org.ID) || a.KnowledgeBase == nil {
		return nil, nil
	}
	// From the start of the report's first day, as the rollups count.
	rt, err := s.st.RecentRetrieval(ctx, a.OrganizationID, id, sc.filter.UserID, sc.from, RetrievalSample)
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

// usageNames names the groups of a report. Rollups outlive assistants,
// users and keys, and a report of one org names only what belongs to it
// (orgID), so that another org's names never show; a report of every org
// (orgID 0) names each with its org's slug. A member's report (viewer: the
// member) names their own keys, and an org key only by its id.
type usageNames struct {
	s          *Service
	orgID      int64
	viewer     int64
	orgs       map[int64]string // slugs, looked up once
	assistants map[int64]store.Assistant
}

// assistant looks an assistant up once per report.
func (n *usageNames) assistant(ctx context.Context, id int64) (store.Assistant, error) {
	if a, ok := n.assistants[id]; ok {
		return a, nil
	}
	a, err := n.s.st.AssistantByID(ctx, id)
	if err == nil {
		if n.assistants == nil {
			n.assistants = map[int64]store.Assistant{}
		}
		n.assistants[id] = a
	}
	return a, err
}

func (n *usageNames) row(ctx context.Context, by string, g store.UsageGroup) UsageRow {
	if by == "day" {
		return usageRow(dayString(int(g.Key)), 0, g.UsageTotals)
	}
	return usageRow(n.name(ctx, by, g.Key), g.Key, g.UsageTotals)
}

// in reports whether an object of org may be named, and how: with the
// org's slug in front across every organization.
func (n *usageNames) in(ctx context.Context, org int64) (prefix string, ok bool) {
	if n.orgID != 0 {
		return "", org == n.orgID
	}
	return n.slug(ctx, org) + " · ", true
}

func (n *usageNames) slug(ctx context.Context, org int64) string {
	slug, ok := n.orgs[org]
	if !ok {
		slug = fmt.Sprintf("deleted organization #%d", org)
		if o, err := n.s.st.OrgByID(ctx, org); err == nil {
			slug = o.Slug
		}
		n.orgs[org] = slug
	}
	return slug
}

func (n *usageNames) name(ctx context.Context, by string, id int64) string {
	switch by {
	case "org":
		return n.slug(ctx, id)
	case "assistant":
		if id == 0 { // refused before an assistant was known (unknown model, bad key use, malformed body)
			return "(no assistant: refused requests)"
		}
		if a, err := n.assistant(ctx, id); err == nil {
			if prefix, ok := n.in(ctx, a.OrganizationID); ok {
				return fmt.Sprintf("%s%s (#%d)", prefix, a.Name, a.ID)
			}
		}
		return fmt.Sprintf("deleted assistant #%d", id)
	case "key":
		if id == 0 {
			return "(no API key)"
		}
		if k, err := n.s.st.APIKeyByID(ctx, id); err == nil {
			if prefix, ok := n.in(ctx, k.OrganizationID); ok {
				if n.viewer != 0 && k.UserID != n.viewer {
					return fmt.Sprintf("organization key #%d", k.ID)
				}
				return fmt.Sprintf("%s%s (#%d)", prefix, k.Name, k.ID)
			}
		}
		return fmt.Sprintf("deleted API key #%d", id)
	}
	if id == 0 {
		return "(no owner: refused requests)"
	}
	if u, err := n.s.st.UserByID(ctx, id); err == nil {
		if prefix, ok := n.in(ctx, u.OrganizationID); ok {
			return prefix + u.Email
		}
	}
	return strings.TrimSpace(fmt.Sprintf("deleted user #%d", id))
}
