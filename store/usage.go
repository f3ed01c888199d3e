package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Day is the YYYYMMDD number of t's UTC day, the key of usage rollups.
func Day(t time.Time) int {
	t = t.UTC()
	return t.Year()*10000 + int(t.Month())*100 + t.Day()
}

// UsageEvent is a row of usage_events: one completion request. IDs of 0
// are stored as NULL (unknown or not applicable).
type UsageEvent struct {
	OrganizationID   int64
	AssistantID      int64
	UserID           int64 // the assistant's owner
	APIKeyID         int64
	Provider         string
	Model            string
	PromptTokens     int64
	CompletionTokens int64
	Status           string // ok, or an error class
	HTTPStatus       int
	LatencyMS        int64
	Stream           bool
	Estimated        bool
	// Retrieved: the assistant has a knowledge base and retrieval ran,
	// taking KBMS milliseconds and using KBChunks chunks.
	Retrieved      bool
	KBMS, KBChunks int64
	CreatedAt      time.Time
	// Refused: the request never reached a provider. RollupOnly: count it
	// in the rollups without a raw row (refusals past the sample).
	Refused, RollupOnly bool
}

// InsertUsage writes events and adds them to the daily rollups, in the
// caller's transaction. Events are written with one multi-row statement per
// chunk, and rollups once per (org, day, assistant, user) of the batch.
// Events marked RollupOnly are only counted.
func (q *Queries) InsertUsage(ctx context.Context, events []UsageEvent) error {
	raw := make([]UsageEvent, 0, len(events))
	for _, e := range events {
		if !e.RollupOnly {
			raw = append(raw, e)
		}
	}
	if err := q.insertEvents(ctx, raw); err != nil {
		return err
	}
	return q.addRollups(ctx, events)
}

// insertEvents writes raw events: on SQLite as multi-row statements of a
// few sizes, kept prepared; on PostgreSQL as one statement of one text
// whatever the batch's size, its columns sent as arrays (one round trip,
// planned once).
func (q *Queries) insertEvents(ctx context.Context, raw []UsageEvent) error {
	if q.postgres {
		return q.insertEventsPostgres(ctx, raw)
	}
	const perStatement = 50 // 16 columns × 50 rows stays far below SQLite's variable limit
	for start := 0; start < len(raw); start += perStatement {
		chunk := raw[start:min(start+perStatement, len(raw))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO usage_events (organization_id, assistant_id, user_id, api_key_id, provider, model,
			prompt_tokens, completion_tokens, status, http_status, latency_ms, stream, estimated, kb_ms, kb_chunks, created_at) VALUES `)
		args := make([]any, 0, len(chunk)*16)
		for i, e := range chunk {
			if i > 0 {
				sb.WriteString(", ")
			}
			// Ids are looked up so that an assistant, user or key deleted
			// while its events waited for the writer becomes NULL, as the
			// foreign keys would make it, instead of failing the batch.
			sb.WriteString(`(?, (SELECT id FROM assistants WHERE id = ?), (SELECT id FROM users WHERE id = ?),
				(SELECT id FROM api_keys WHERE id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			var kbMS, kbChunks any // NULL without retrieval
			if e.Retrieved {
				kbMS, kbChunks = e.KBMS, e.KBChunks
			}
			args = append(args, e.OrganizationID, nullID(e.AssistantID), nullID(e.UserID), nullID(e.APIKeyID), e.Provider,
				e.Model, e.PromptTokens, e.CompletionTokens, e.Status, e.HTTPStatus, e.LatencyMS, e.Stream, e.Estimated,
				kbMS, kbChunks, e.CreatedAt.Unix())
		}
		if _, err := q.w.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("insert usage events: %w", mapErr(err))
		}
	}
	return nil
}

func (q *Queries) insertEventsPostgres(ctx context.Context, raw []UsageEvent) error {
	if len(raw) == 0 {
		return nil
	}
	n := len(raw)
	org, aid, uid, kid := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	prov, model, status := make([]string, n), make([]string, n), make([]string, n)
	pt, ct, hs, lat := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	stream, est, ret, kbms, kbc, at := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	flag := func(b bool) int64 {
		if b {
			return 1
		}
		return 0
	}
	for i, e := range raw {
		org[i], aid[i], uid[i], kid[i] = e.OrganizationID, e.AssistantID, e.UserID, e.APIKeyID
		prov[i], model[i], status[i] = e.Provider, e.Model, e.Status
		pt[i], ct[i], hs[i], lat[i] = e.PromptTokens, e.CompletionTokens, int64(e.HTTPStatus), e.LatencyMS
		stream[i], est[i], ret[i], kbms[i], kbc[i], at[i] = flag(e.Stream), flag(e.Estimated), flag(e.Retrieved), e.KBMS, e.KBChunks, e.CreatedAt.Unix()
	}
	// Ids are joined so that an assistant, user or key deleted while its
	// events waited for the writer becomes NULL, as the foreign keys would
	// make it, instead of failing the batch.
	_, err := q.w.ExecContext(ctx, `INSERT INTO usage_events (organization_id, assistant_id, user_id, api_key_id, provider, model,
			prompt_tokens, completion_tokens, status, http_status, latency_ms, stream, estimated, kb_ms, kb_chunks, created_at)
		SELECT v.org, a.id, u.id, k.id, v.provider, v.model, v.pt, v.ct, v.status, v.hs, v.lat, v.stream, v.est,
			CASE WHEN v.ret = 1 THEN v.kbms END, CASE WHEN v.ret = 1 THEN v.kbc END, v.at
		FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::bigint[], ?::bigint[],
			?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[])
			WITH ORDINALITY AS v(org, aid, uid, kid, provider, model, pt, ct, status, hs, lat, stream, est, ret, kbms, kbc, at, i)
		LEFT JOIN assistants a ON a.id = v.aid
		LEFT JOIN users u ON u.id = v.uid
		LEFT JOIN api_keys k ON k.id = v.kid
		ORDER BY v.i`,
		org, aid, uid, kid, prov, model, pt, ct, status, hs, lat, stream, est, ret, kbms, kbc, at)
	if err != nil {
		return fmt.Errorf("insert usage events: %w", mapErr(err))
	}
	return nil
}

// Retrieval sums the knowledge-base step of a sample of requests.
type Retrieval struct {
	Requests  int64 // requests looked at
	Retrieved int64 // of them, those that ran retrieval
	MS        int64 // their retrieval time, summed
	Chunks    int64 // the chunks of context they used, summed
}

// RecentRetrieval sums the retrieval of an assistant's latest requests
// since a time: of its latest limit requests, those of userID (any user
// for 0). Rollups don't carry retrieval, and the raw events of a busy
// assistant are many: the sample keeps the cost of a usage report bounded
// whatever the traffic, walking the (assistant_id, created_at) index
// backwards.
func (q *Queries) RecentRetrieval(ctx context.Context, orgID, assistantID, userID int64, since time.Time, limit int) (Retrieval, error) {
	query := `SELECT COUNT(*), COUNT(kb_ms), COALESCE(SUM(kb_ms), 0), COALESCE(SUM(kb_chunks), 0) FROM
		(SELECT organization_id, user_id, kb_ms, kb_chunks FROM usage_events
		 WHERE assistant_id = ? AND created_at >= ? ORDER BY created_at DESC LIMIT ?) AS recent
		WHERE organization_id = ?`
	args := []any{assistantID, since.Unix(), limit, orgID}
	if userID != 0 {
		query += ` AND user_id = ?`
		args = append(args, userID)
	}
	var r Retrieval
	if err := q.r.QueryRowContext(ctx, query, args...).Scan(&r.Requests, &r.Retrieved, &r.MS, &r.Chunks); err != nil {
		return Retrieval{}, fmt.Errorf("sum retrieval: %w", mapErr(err))
	}
	return r, nil
}

// CountUsageEvents counts raw events of an org (all orgs for 0).
func (q *Queries) CountUsageEvents(ctx context.Context, orgID int64) (int64, error) {
	query, args := `SELECT COUNT(*) FROM usage_events`, []any{}
	if orgID != 0 {
		query += ` WHERE organization_id = ?`
		args = append(args, orgID)
	}
	var n int64
	err := q.r.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, mapErr(err)
}

// CountUsageEventsWithStatus counts the raw events of every org with a
// status ("ok": answered requests).
func (q *Queries) CountUsageEventsWithStatus(ctx context.Context, status string) (int64, error) {
	var n int64
	err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM usage_events WHERE status = ?`, status).Scan(&n)
	return n, mapErr(err)
}

// DeleteUsageBefore deletes raw events older than t (rollups stay), in
// batches so the writer is never held for long. It returns how many went.
func (q *Queries) DeleteUsageBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	res, err := q.w.ExecContext(ctx, `DELETE FROM usage_events WHERE id IN
		(SELECT id FROM usage_events WHERE created_at < ? ORDER BY id LIMIT ?)`, t.Unix(), batch)
	if err != nil {
		return 0, fmt.Errorf("delete old usage events: %w", mapErr(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
