package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// The rollups are what every usage report reads, so they must be exactly
// the sum of the events: random events in random batches, on both
// engines, and then every rollup row, every sum and every grouping equals
// what the raw events (plus the refusals kept only as counts) add up to,
// counted here independently of the writer.
func TestRollupsEqualTheSumOfRawEvents(t *testing.T) { eachEngine(t, testRollupsEqualRawEvents) }

// latencyBucketOf is the histogram bucket of ms, found by its own loop
// over the published bounds.
func latencyBucketOf(ms int64) int {
	n := 0
	for _, b := range LatencyBounds {
		if ms > b {
			n++
		}
	}
	return n
}

func testRollupsEqualRawEvents(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 15))
	t.Logf("seed %d", seed)

	// Two orgs, each with two users, an assistant per user and two keys.
	type fixture struct{ org, users, assistants, keys []int64 }
	var fx fixture
	ids := map[int64]int64{} // assistant or key → its org
	for o := range 2 {
		org, err := st.CreateOrg(ctx, Org{Slug: fmt.Sprintf("org-%d", o), Name: "Org", Config: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		fx.org = append(fx.org, org.ID)
		for u := range 2 {
			user, err := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: fmt.Sprintf("u%d@org-%d.example", u, o), Name: "U", Enabled: true})
			if err != nil {
				t.Fatal(err)
			}
			fx.users = append(fx.users, user.ID)
			a, err := st.CreateAssistant(ctx, Assistant{OrganizationID: org.ID, OwnerUserID: user.ID, Name: "A", Provider: "openai", Model: "m", Enabled: true})
			if err != nil {
				t.Fatal(err)
			}
			fx.assistants = append(fx.assistants, a.ID)
			ids[a.ID] = org.ID
			k, err := st.CreateAPIKey(ctx, APIKey{OrganizationID: org.ID, UserID: user.ID, Name: "k", Prefix: "lamb_", Hash: fmt.Sprintf("h%d%d", o, u)})
			if err != nil {
				t.Fatal(err)
			}
			fx.keys = append(fx.keys, k.ID)
		}
	}
	start := time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC) // across a month's end
	statuses := []string{"ok", "ok", "ok", "provider_error", "timeout", "rate_limit_exceeded", "insufficient_quota"}
	refused := map[string]bool{"rate_limit_exceeded": true, "insufficient_quota": true}

	var all []UsageEvent
	for batch := range 12 {
		n := rng.IntN(300)
		events := make([]UsageEvent, 0, n)
		for range n {
			i := rng.IntN(len(fx.assistants)) // an owner, their assistant and their key, of one org
			status := statuses[rng.IntN(len(statuses))]
			ev := UsageEvent{OrganizationID: fx.org[i/2], AssistantID: fx.assistants[i], UserID: fx.users[i],
				APIKeyID: fx.keys[i], Provider: "openai", Model: "m", Status: status, HTTPStatus: 200,
				PromptTokens: rng.Int64N(2000), CompletionTokens: rng.Int64N(800), Estimated: rng.IntN(5) == 0,
				LatencyMS: rng.Int64N(200_000), CreatedAt: start.Add(time.Duration(rng.Int64N(5*24*3600)) * time.Second)}
			switch rng.IntN(6) {
			case 0:
				ev.AssistantID = 0 // refused before an assistant was known
			case 1:
				ev.APIKeyID = 0
			}
			if refused[status] {
				ev.Refused, ev.RollupOnly = true, rng.IntN(2) == 0
				ev.PromptTokens, ev.CompletionTokens = 0, 0
			}
			if ev.LatencyMS < 1000 && rng.IntN(3) == 0 {
				ev.LatencyMS = LatencyBounds[rng.IntN(len(LatencyBounds))] // exactly on a bound
			}
			events = append(events, ev)
		}
		if err := st.InTx(ctx, func(tx *Tx) error { return tx.InsertUsage(ctx, events) }); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		all = append(all, events...)
	}

	// What the raw rows add up to, read back from usage_events, plus the
	// refusals that were only counted. A raw row doesn't say it was
	// refused; its status does, here.
	type key struct {
		org  int64
		day  int
		id   int64
		user int64
	}
	want := map[string]map[key]*UsageTotals{"usage_daily": {}, "usage_daily_keys": {}, "usage_daily_orgs": {}}
	count := func(table string, k key, status string, p, c, lat int64, est bool) {
		tot := want[table][k]
		if tot == nil {
			tot = &UsageTotals{}
			want[table][k] = tot
		}
		tot.Requests++
		if status != "ok" {
			tot.Errors++
		}
		tot.PromptTokens += p
		tot.CompletionTokens += c
		if est {
			tot.Estimated++
			tot.EstimatedTokens += p + c
		}
		if refused[status] {
			tot.Refused++
		} else {
			tot.Latency[latencyBucketOf(lat)]++
		}
	}
	rows, err := st.r.QueryContext(ctx, `SELECT organization_id, COALESCE(assistant_id, 0), COALESCE(user_id, 0), COALESCE(api_key_id, 0),
		status, prompt_tokens, completion_tokens, latency_ms, estimated, created_at FROM usage_events`)
	if err != nil {
		t.Fatal(err)
	}
	raw := 0
	for rows.Next() {
		var org, aid, uid, kid, p, c, lat, at int64
		var status string
		var est bool
		if err := rows.Scan(&org, &aid, &uid, &kid, &status, &p, &c, &lat, &est, &at); err != nil {
			t.Fatal(err)
		}
		day := Day(time.Unix(at, 0))
		count("usage_daily", key{org, day, aid, uid}, status, p, c, lat, est)
		count("usage_daily_keys", key{org, day, kid, uid}, status, p, c, lat, est)
		count("usage_daily_orgs", key{org: org, day: day}, status, p, c, lat, est)
		raw++
	}
	rows.Close()
	only := 0
	for _, ev := range all {
		if ev.RollupOnly {
			day := Day(ev.CreatedAt)
			count("usage_daily", key{ev.OrganizationID, day, ev.AssistantID, ev.UserID}, ev.Status, 0, 0, ev.LatencyMS, ev.Estimated)
			count("usage_daily_keys", key{ev.OrganizationID, day, ev.APIKeyID, ev.UserID}, ev.Status, 0, 0, ev.LatencyMS, ev.Estimated)
			count("usage_daily_orgs", key{org: ev.OrganizationID, day: day}, ev.Status, 0, 0, ev.LatencyMS, ev.Estimated)
			only++
		}
	}
	if raw+only != len(all) {
		t.Fatalf("%d raw rows and %d counted only, for %d events", raw, only, len(all))
	}

	// Every rollup row, as stored.
	for table, rollups := range map[string]rollupTable{"usage_daily": dailyRollups, "usage_daily_keys": keyRollups, "usage_daily_orgs": orgRollups} {
		got := map[key]UsageTotals{}
		rows, err := st.r.QueryContext(ctx, `SELECT `+rollups.columns()+` FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k key
			var tot UsageTotals
			if err := rows.Scan(append([]any{&k.org, &k.day, &k.id, &k.user}[:len(rollups.keys)], tot.targets()...)...); err != nil {
				t.Fatal(err)
			}
			got[k] = tot
		}
		rows.Close()
		if len(got) != len(want[table]) {
			t.Errorf("%s has %d rows, the events make %d", table, len(got), len(want[table]))
		}
		for k, w := range want[table] {
			if got[k] != *w {
				t.Errorf("%s row %+v = %+v, the events add up to %+v", table, k, got[k], *w)
			}
		}
	}

	// The queries the reports use: sums, and every grouping, per org and
	// for all orgs, whole and for one user.
	from, to := Day(start), Day(start.AddDate(0, 0, 6))
	for _, f := range []UsageFilter{
		{OrganizationID: fx.org[0], From: from, To: to},
		{OrganizationID: fx.org[1], UserID: fx.users[3], From: from, To: to},
		{AllOrgs: true, From: from, To: to},
		{AllOrgs: true, From: Day(start.AddDate(0, 0, 2)), To: Day(start.AddDate(0, 0, 2))},
	} {
		in := func(k key) bool {
			return k.day >= f.From && k.day <= f.To && (f.AllOrgs || k.org == f.OrganizationID) && (f.UserID == 0 || k.user == f.UserID)
		}
		var total UsageTotals
		groups := map[string]map[int64]*UsageTotals{}
		for _, by := range UsageGroupings {
			groups[by] = map[int64]*UsageTotals{}
		}
		add := func(by string, id int64, t UsageTotals) {
			g := groups[by][id]
			if g == nil {
				g = &UsageTotals{}
				groups[by][id] = g
			}
			merge(g, t)
		}
		for k, w := range want["usage_daily"] {
			if in(k) {
				merge(&total, *w)
				add("day", int64(k.day), *w)
				add("org", k.org, *w)
				add("assistant", k.id, *w)
				add("user", k.user, *w)
			}
		}
		var keyTotal UsageTotals
		for k, w := range want["usage_daily_keys"] {
			if in(k) {
				add("key", k.id, *w)
				merge(&keyTotal, *w)
			}
		}
		if keyTotal != total {
			t.Errorf("%+v: the key rollups add up to %+v, the daily ones to %+v", f, keyTotal, total)
		}
		sum, err := st.SumUsage(ctx, f)
		if err != nil || sum != total {
			t.Errorf("SumUsage(%+v) = %+v, %v; want %+v", f, sum, err, total)
		}
		for _, by := range UsageGroupings {
			gs, err := st.GroupUsage(ctx, f, by)
			if err != nil {
				t.Fatalf("GroupUsage by %s: %v", by, err)
			}
			if len(gs) != len(groups[by]) {
				t.Errorf("GroupUsage(%+v) by %s: %d groups, want %d", f, by, len(gs), len(groups[by]))
			}
			for i, g := range gs {
				if w := groups[by][g.Key]; w == nil || g.UsageTotals != *w {
					t.Errorf("GroupUsage(%+v) by %s, %d: %+v, want %+v", f, by, g.Key, g.UsageTotals, w)
				}
				if i > 0 && gs[i-1].Key >= g.Key {
					t.Errorf("GroupUsage by %s not ordered by key: %d after %d", by, g.Key, gs[i-1].Key)
				}
			}
		}
		pairs, err := st.UsageByAssistant(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		wantPairs := map[[2]int64]*UsageTotals{}
		for k, w := range want["usage_daily"] {
			if in(k) {
				p := wantPairs[[2]int64{k.id, k.user}]
				if p == nil {
					p = &UsageTotals{}
					wantPairs[[2]int64{k.id, k.user}] = p
				}
				merge(p, *w)
			}
		}
		if len(pairs) != len(wantPairs) {
			t.Errorf("UsageByAssistant(%+v): %d pairs, want %d", f, len(pairs), len(wantPairs))
		}
		for _, p := range pairs {
			if w := wantPairs[[2]int64{p.AssistantID, p.UserID}]; w == nil || *w != p.UsageTotals {
				t.Errorf("UsageByAssistant(%+v), %d of %d: %+v, want %+v", f, p.AssistantID, p.UserID, p.UsageTotals, w)
			}
		}
		var orgTotal UsageTotals
		for k, w := range want["usage_daily_orgs"] {
			if in(k) && f.UserID == 0 {
				merge(&orgTotal, *w)
			}
		}
		if f.UserID == 0 && orgTotal != total {
			t.Errorf("%+v: the org rollups add up to %+v, the daily ones to %+v", f, orgTotal, total)
		}
	}
	if _, err := st.SumUsage(ctx, UsageFilter{From: from, To: to}); err == nil {
		t.Error("a filter without an org read usage instead of failing")
	}
}

func merge(into *UsageTotals, t UsageTotals) {
	into.Requests += t.Requests
	into.Errors += t.Errors
	into.Refused += t.Refused
	into.PromptTokens += t.PromptTokens
	into.CompletionTokens += t.CompletionTokens
	into.Estimated += t.Estimated
	into.EstimatedTokens += t.EstimatedTokens
	for i := range t.Latency {
		into.Latency[i] += t.Latency[i]
	}
}

// Rollups written before migration 0011 keep counting: the org rollups
// start with what usage_daily held, on both engines.
func TestMigrationCarriesRollupsToTheOrgTable(t *testing.T) {
	eachEngine(t, testMigrationCarriesRollups)
}

func testMigrationCarriesRollups(t *testing.T, e engine) {
	ctx := context.Background()
	st, _ := e.open(t, Options{})
	if err := st.MigrateTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		day                   int
		assistant, user       int64
		req, errs, ref, p, cp int64
	}{
		{20260301, 1, 1, 10, 1, 0, 100, 50}, {20260301, 2, 1, 5, 0, 2, 40, 0}, {20260302, 1, 2, 7, 3, 0, 70, 30},
	} {
		if _, err := st.Queries.w.ExecContext(ctx, `INSERT INTO usage_daily (organization_id, day, assistant_id, user_id, requests, errors, refused,
			prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, org.ID, r.day, r.assistant, r.user, r.req, r.errs, r.ref, r.p, r.cp); err != nil {
			t.Fatalf("seed usage_daily: %v", err)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	f := UsageFilter{OrganizationID: org.ID, From: 20260301, To: 20260331}
	sum, err := st.SumUsage(ctx, f)
	if err != nil || sum != (UsageTotals{Requests: 22, Errors: 4, Refused: 2, PromptTokens: 210, CompletionTokens: 80}) {
		t.Fatalf("after the migration: %+v, %v", sum, err)
	}
	days, err := st.GroupUsage(ctx, f, "day")
	if err != nil || len(days) != 2 || days[0].Requests != 15 || days[1].Requests != 7 {
		t.Fatalf("days after the migration: %+v, %v", days, err)
	}
}
