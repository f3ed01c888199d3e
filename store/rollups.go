package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// LatencyBounds are the upper bounds, in milliseconds, of the latency
// histogram that every rollup row carries (columns lat_0 … lat_10); lat_11
// counts the slower requests. Fixed, so that rows of any day and any
// process add up.
var LatencyBounds = [...]int64{100, 250, 500, 1000, 2000, 4000, 8000, 15000, 30000, 60000, 120000}

// LatencyBuckets is the number of histogram buckets.
const LatencyBuckets = len(LatencyBounds) + 1

// LatencyBucket is the bucket of a latency in milliseconds.
func LatencyBucket(ms int64) int {
	for i, b := range LatencyBounds {
		if ms <= b {
			return i
		}
	}
	return len(LatencyBounds)
}

// UsageTotals are summed rollups.
type UsageTotals struct {
	Requests         int64
	Errors           int64 // refusals included
	Refused          int64 // refused before reaching a provider
	PromptTokens     int64
	CompletionTokens int64
	Estimated        int64 // requests whose tokens lamb estimated
	EstimatedTokens  int64 // their tokens
	// Latency counts the requests that reached a provider by
	// LatencyBucket of their latency.
	Latency [LatencyBuckets]int64
}

// Tokens is prompt plus completion tokens.
func (u UsageTotals) Tokens() int64 { return u.PromptTokens + u.CompletionTokens }

// Add counts one event.
func (u *UsageTotals) Add(e UsageEvent) {
	u.Requests++
	if e.Status != "ok" {
		u.Errors++
	}
	u.PromptTokens += e.PromptTokens
	u.CompletionTokens += e.CompletionTokens
	if e.Estimated {
		u.Estimated++
		u.EstimatedTokens += e.PromptTokens + e.CompletionTokens
	}
	if e.Refused {
		// Its latency is lamb's own refusal, not a provider's answer.
		u.Refused++
	} else {
		u.Latency[LatencyBucket(e.LatencyMS)]++
	}
}

// Merge adds o's counts.
func (u *UsageTotals) Merge(o UsageTotals) {
	u.Requests += o.Requests
	u.Errors += o.Errors
	u.Refused += o.Refused
	u.PromptTokens += o.PromptTokens
	u.CompletionTokens += o.CompletionTokens
	u.Estimated += o.Estimated
	u.EstimatedTokens += o.EstimatedTokens
	for i, n := range o.Latency {
		u.Latency[i] += n
	}
}

// rollupMetrics are the summed columns of both rollup tables, in the
// order of UsageTotals.values.
var rollupMetrics = func() []string {
	cols := []string{"requests", "errors", "refused", "prompt_tokens", "completion_tokens", "estimated", "estimated_tokens"}
	for i := range LatencyBuckets {
		cols = append(cols, "lat_"+strconv.Itoa(i))
	}
	return cols
}()

func (u UsageTotals) values() []int64 {
	v := []int64{u.Requests, u.Errors, u.Refused, u.PromptTokens, u.CompletionTokens, u.Estimated, u.EstimatedTokens}
	return append(v, u.Latency[:]...)
}

func (u *UsageTotals) targets() []any {
	t := []any{&u.Requests, &u.Errors, &u.Refused, &u.PromptTokens, &u.CompletionTokens, &u.Estimated, &u.EstimatedTokens}
	for i := range u.Latency {
		t = append(t, &u.Latency[i])
	}
	return t
}

// sums selects the sum of every metric (0 over no rows).
var sums = func() string {
	parts := make([]string, len(rollupMetrics))
	for i, c := range rollupMetrics {
		parts[i] = "COALESCE(SUM(" + c + "), 0)"
	}
	return strings.Join(parts, ", ")
}()

// rollupTable is a table of daily rollups: usage_daily is keyed by
// (org, day, assistant, owner), usage_daily_keys by (org, day, API key,
// owner), usage_daily_orgs by (org, day).
type rollupTable struct {
	name string
	keys []string // organization_id, day, then the table's own
}

var (
	dailyRollups = rollupTable{"usage_daily", []string{"organization_id", "day", "assistant_id", "user_id"}}
	keyRollups   = rollupTable{"usage_daily_keys", []string{"organization_id", "day", "api_key_id", "user_id"}}
	orgRollups   = rollupTable{"usage_daily_orgs", []string{"organization_id", "day"}}
)

// columns lists the table's key and metric columns.
func (r rollupTable) columns() string {
	return strings.Join(append(slices.Clone(r.keys), rollupMetrics...), ", ")
}

// upsert adds a new row's metrics to the row of its key.
func (r rollupTable) upsert() string {
	set := make([]string, len(rollupMetrics))
	for i, c := range rollupMetrics {
		set[i] = fmt.Sprintf("%s = %s.%s + excluded.%s", c, r.name, c, c)
	}
	return "\n\tON CONFLICT (" + strings.Join(r.keys, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// rollupKey is a row of a rollup table: org, day, assistant or key, user
// (the last two zero in usage_daily_orgs).
type rollupKey struct {
	org  int64
	day  int
	id   int64
	user int64
}

func (k rollupKey) compare(o rollupKey) int {
	return cmp.Or(cmp.Compare(k.org, o.org), cmp.Compare(k.day, o.day), cmp.Compare(k.id, o.id), cmp.Compare(k.user, o.user))
}

// values are the key's columns in table.
func (k rollupKey) values(table rollupTable) []int64 {
	return []int64{k.org, int64(k.day), k.id, k.user}[:len(table.keys)]
}

// addRollups adds events to the rollup tables, one row per key of the
// batch in each.
func (q *Queries) addRollups(ctx context.Context, events []UsageEvent) error {
	daily, keyed, orgs := map[rollupKey]*UsageTotals{}, map[rollupKey]*UsageTotals{}, map[rollupKey]*UsageTotals{}
	for _, e := range events {
		day := Day(e.CreatedAt)
		for _, r := range []struct {
			m map[rollupKey]*UsageTotals
			k rollupKey
		}{
			{daily, rollupKey{e.OrganizationID, day, e.AssistantID, e.UserID}},
			{keyed, rollupKey{e.OrganizationID, day, e.APIKeyID, e.UserID}},
			{orgs, rollupKey{org: e.OrganizationID, day: day}},
		} {
			t := r.m[r.k]
			if t == nil {
				t = &UsageTotals{}
				r.m[r.k] = t
			}
			t.Add(e)
		}
	}
	for _, w := range []struct {
		table rollupTable
		rows  map[rollupKey]*UsageTotals
	}{{dailyRollups, daily}, {keyRollups, keyed}, {orgRollups, orgs}} {
		if err := q.writeRollups(ctx, w.table, w.rows); err != nil {
			return err
		}
	}
	return nil
}

// writeRollups adds rows to table in key order: two processes writing
// rollups of the same keys at once then wait for each other instead of
// deadlocking. On PostgreSQL it is one statement of one text whatever the
// number of rows (columns as arrays); on SQLite multi-row statements.
func (q *Queries) writeRollups(ctx context.Context, table rollupTable, rows map[rollupKey]*UsageTotals) error {
	if len(rows) == 0 {
		return nil
	}
	order := make([]rollupKey, 0, len(rows))
	for k := range rows {
		order = append(order, k)
	}
	slices.SortFunc(order, rollupKey.compare)
	width := len(table.keys) + len(rollupMetrics)
	row := func(k rollupKey) []int64 { return append(k.values(table), rows[k].values()...) }
	if q.postgres {
		cols := make([][]int64, width)
		for _, k := range order {
			for i, v := range row(k) {
				cols[i] = append(cols[i], v)
			}
		}
		args := make([]any, width)
		arrays := make([]string, width)
		for i, c := range cols {
			args[i], arrays[i] = c, "?::bigint[]"
		}
		// unnest keeps the arrays' order, so rows are locked in key order.
		_, err := q.w.ExecContext(ctx, `INSERT INTO `+table.name+` (`+table.columns()+`)
			SELECT * FROM unnest(`+strings.Join(arrays, ", ")+`)`+table.upsert(), args...)
		if err != nil {
			return fmt.Errorf("add usage rollups to %s: %w", table.name, mapErr(err))
		}
		return nil
	}
	const per = 50 // 23 columns × 50 rows stays far below SQLite's variable limit
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	for start := 0; start < len(order); start += per {
		chunk := order[start:min(start+per, len(order))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO ` + table.name + ` (` + table.columns() + `) VALUES `)
		args := make([]any, 0, len(chunk)*width)
		for i, k := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(tuple)
			for _, v := range row(k) {
				args = append(args, v)
			}
		}
		sb.WriteString(table.upsert())
		if _, err := q.w.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("add usage rollups to %s: %w", table.name, mapErr(err))
		}
	}
	return nil
}

// AddUsageDaily adds to a row of usage_daily (org, day, assistant, user),
// creating it when missing, and to its org's row of the day.
func (q *Queries) AddUsageDaily(ctx context.Context, orgID int64, day int, assistantID, userID int64, t UsageTotals) error {
	if err := q.writeRollups(ctx, dailyRollups, map[rollupKey]*UsageTotals{{orgID, day, assistantID, userID}: &t}); err != nil {
		return err
	}
	return q.writeRollups(ctx, orgRollups, map[rollupKey]*UsageTotals{{org: orgID, day: day}: &t})
}

// AddUsageDailyKey adds to a row of usage_daily_keys (org, day, API key,
// user), creating it when missing.
func (q *Queries) AddUsageDailyKey(ctx context.Context, orgID int64, day int, keyID, userID int64, t UsageTotals) error {
	return q.writeRollups(ctx, keyRollups, map[rollupKey]*UsageTotals{{orgID, day, keyID, userID}: &t})
}

// UsageFilter selects rollups: an org, or every org with AllOrgs;
// optionally one user (the assistants' owner); from day From to day To
// inclusive (YYYYMMDD).
type UsageFilter struct {
	OrganizationID int64
	// AllOrgs must be set to read every org: a filter whose org was left
	// out by mistake reads nothing instead of everyone's usage.
	AllOrgs  bool
	UserID   int64
	From, To int
}

// errNoOrg is a filter that names neither an org nor AllOrgs.
var errNoOrg = errors.New("usage filter: no organization (set AllOrgs to read every one)")

func (f UsageFilter) where() (string, []any, error) {
	where, args := ` WHERE day BETWEEN ? AND ?`, []any{f.From, f.To}
	switch {
	case f.OrganizationID != 0:
		where += ` AND organization_id = ?`
		args = append(args, f.OrganizationID)
	case !f.AllOrgs:
		return "", nil, errNoOrg
	}
	if f.UserID != 0 {
		where += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	return where, args, nil
}

// SumUsage sums the rollups of the filter: of usage_daily_orgs, or of
// usage_daily for one user.
func (q *Queries) SumUsage(ctx context.Context, f UsageFilter) (UsageTotals, error) {
	where, args, err := f.where()
	if err != nil {
		return UsageTotals{}, err
	}
	table := orgRollups
	if f.UserID != 0 {
		table = dailyRollups
	}
	var t UsageTotals
	if err := q.r.QueryRowContext(ctx, `SELECT `+sums+` FROM `+table.name+where, args...).Scan(t.targets()...); err != nil {
		return UsageTotals{}, fmt.Errorf("sum usage: %w", mapErr(err))
	}
	return t, nil
}

// UsageGroup is the totals of one day, org, assistant, user or API key.
type UsageGroup struct {
	Key int64 // the day (YYYYMMDD), or the org's, assistant's, user's or key's id (0: none known)
	UsageTotals
}

// UsageGroupings are what GroupUsage groups by.
var UsageGroupings = []string{"day", "org", "assistant", "user", "key"}

// grouping is the table and column of a grouping: days and orgs come from
// usage_daily_orgs unless one user's usage is asked for.
func grouping(by string, f UsageFilter) (rollupTable, string, error) {
	whole := orgRollups
	if f.UserID != 0 {
		whole = dailyRollups
	}
	switch by {
	case "day":
		return whole, "day", nil
	case "org":
		return whole, "organization_id", nil
	case "assistant":
		return dailyRollups, "assistant_id", nil
	case "user":
		return dailyRollups, "user_id", nil
	case "key":
		return keyRollups, "api_key_id", nil
	}
	return rollupTable{}, "", fmt.Errorf("group usage by %q: want one of %s", by, strings.Join(UsageGroupings, ", "))
}

// GroupUsage sums the rollups of the filter by "day", "org", "assistant",
// "user" or "key", ordered by the group's key.
func (q *Queries) GroupUsage(ctx context.Context, f UsageFilter, by string) ([]UsageGroup, error) {
	table, col, err := grouping(by, f)
	if err != nil {
		return nil, err
	}
	return groupRows(ctx, q, f, table, []string{col}, func(keys []int64, t UsageTotals) UsageGroup { return UsageGroup{keys[0], t} })
}

// AssistantUsage is the usage of one assistant and owner.
type AssistantUsage struct {
	AssistantID, UserID int64
	UsageTotals
}

// UsageByAssistant sums usage_daily by assistant and owner: one read for
// a report's assistants and users together.
func (q *Queries) UsageByAssistant(ctx context.Context, f UsageFilter) ([]AssistantUsage, error) {
	return groupRows(ctx, q, f, dailyRollups, []string{"assistant_id", "user_id"}, func(keys []int64, t UsageTotals) AssistantUsage {
		return AssistantUsage{keys[0], keys[1], t}
	})
}

// groupRows sums table's rows of the filter grouped by cols, ordered by
// them, each made a T by row.
func groupRows[T any](ctx context.Context, q *Queries, f UsageFilter, table rollupTable, cols []string, row func([]int64, UsageTotals) T) ([]T, error) {
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	by := strings.Join(cols, ", ")
	rows, err := q.r.QueryContext(ctx, `SELECT `+by+`, `+sums+` FROM `+table.name+where+` GROUP BY `+by+` ORDER BY `+by, args...)
	if err != nil {
		return nil, fmt.Errorf("group usage by %s: %w", by, mapErr(err))
	}
	defer rows.Close()
	var out []T
	keys := make([]int64, len(cols))
	for rows.Next() {
		var t UsageTotals
		dest := make([]any, 0, len(cols)+len(rollupMetrics))
		for i := range keys {
			dest = append(dest, &keys[i])
		}
		if err := rows.Scan(append(dest, t.targets()...)...); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, row(keys, t))
	}
	return out, mapErr(rows.Err())
}
