package service

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"lamb/config"
	"lamb/store"
)

// The usage screens' queries with 10 million usage events (DESIGN §9:
// ≤ 100 ms). The events are written the way the gateway writes them —
// through the usage writer's InsertUsage, in daily batches — as
// refusal-style "count only" events, so the database holds exactly the
// rollups 10 million events make and no raw rows (no screen reads them).
//
// The platform: 40 organizations of 25 members, each member with two
// assistants and a personal key, each org with 5 org keys; a year of
// traffic, 27,400 requests a day, on every assistant every day, 60 % of
// them through org keys. That is about 730,000 rows of usage_daily and
// 2 million of usage_daily_keys.
//
//	go test ./service -run '^$' -bench UsageScreens -benchtime 20x -timeout 30m
//	LAMB_BENCH_EVENTS=1000000 go test ./service -run '^$' -bench UsageScreens   # quicker, smaller
func BenchmarkUsageScreens10M(b *testing.B) {
	for _, engine := range []string{store.EngineSQLite, store.EnginePostgres} {
		b.Run(engine, func(b *testing.B) { benchUsageScreens(b, engine) })
	}
}

func benchUsageScreens(b *testing.B, engine string) {
	e := newTestEnvOn(b, engine)
	ctx := context.Background()
	mustSync(b, e, config.System{})
	const orgs, members, orgKeys, days = 40, 25, 5, 365
	events := benchEvents(b)
	type orgFixture struct {
		id                   int64
		slug                 string
		users, assistants    []int64 // assistants[2*i], [2*i+1] are users[i]'s
		personal             []int64 // users[i]'s key
		orgKeys              []int64
		adminActor, memberOf Actor
	}
	fx := make([]orgFixture, orgs)
	err := e.st.InTx(ctx, func(tx *store.Tx) error {
		for o := range orgs {
			f := &fx[o]
			f.slug = fmt.Sprintf("org-%02d", o)
			org, err := tx.CreateOrg(ctx, storeOrg(f.slug))
			if err != nil {
				return err
			}
			f.id = org.ID
			for u := range members {
				user, err := tx.CreateUser(ctx, store.User{OrganizationID: org.ID, Email: fmt.Sprintf("u%02d@%s.example", u, f.slug),
					Name: "U", Role: map[bool]string{true: "admin", false: "member"}[u == 0], Enabled: true})
				if err != nil {
					return err
				}
				f.users = append(f.users, user.ID)
				for a := range 2 {
					as, err := tx.CreateAssistant(ctx, store.Assistant{OrganizationID: org.ID, OwnerUserID: user.ID,
						Name: fmt.Sprintf("Assistant %d-%d", u, a), Provider: "openai", Model: "m", Enabled: true})
					if err != nil {
						return err
					}
					f.assistants = append(f.assistants, as.ID)
				}
				k, err := tx.CreateAPIKey(ctx, store.APIKey{OrganizationID: org.ID, UserID: user.ID, Name: "laptop",
					Prefix: "lamb_x", Hash: fmt.Sprintf("p-%d-%d", o, u)})
				if err != nil {
					return err
				}
				f.personal = append(f.personal, k.ID)
			}
			for k := range orgKeys {
				key, err := tx.CreateAPIKey(ctx, store.APIKey{OrganizationID: org.ID, Name: fmt.Sprintf("lms %d", k),
					Prefix: "lamb_y", Hash: fmt.Sprintf("o-%d-%d", o, k)})
				if err != nil {
					return err
				}
				f.orgKeys = append(f.orgKeys, key.ID)
			}
			f.adminActor = Actor{Role: RoleOrgAdmin, UserID: f.users[0], Email: fmt.Sprintf("u00@%s.example", f.slug), OrgID: org.ID, OrgSlug: f.slug}
			f.memberOf = Actor{Role: RoleMember, UserID: f.users[1], Email: fmt.Sprintf("u01@%s.example", f.slug), OrgID: org.ID, OrgSlug: f.slug}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}

	started := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	perDay := events / days
	batch := make([]store.UsageEvent, 0, perDay)
	statuses := []string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "provider_error"}
	for d := range days {
		at := e.now.AddDate(0, 0, -d).Add(-time.Hour)
		batch = batch[:0]
		for i := range perDay {
			// Every assistant every day, then at random.
			f := &fx[i%orgs]
			a := (i / orgs) % len(f.assistants)
			if i >= orgs*len(f.assistants) {
				f = &fx[rng.IntN(orgs)]
				a = rng.IntN(len(f.assistants))
			}
			owner := a / 2
			key := f.personal[owner]
			if rng.IntN(10) < 6 {
				key = f.orgKeys[rng.IntN(orgKeys)]
			}
			status := statuses[rng.IntN(len(statuses))]
			batch = append(batch, store.UsageEvent{OrganizationID: f.id, AssistantID: f.assistants[a], UserID: f.users[owner],
				APIKeyID: key, Status: status, PromptTokens: 200 + rng.Int64N(800), CompletionTokens: rng.Int64N(400),
				Estimated: rng.IntN(50) == 0, LatencyMS: 100 + rng.Int64N(4000), CreatedAt: at, RollupOnly: true})
		}
		if err := e.st.InTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, batch) }); err != nil {
			b.Fatal(err)
		}
	}
	var daily, keyed int64
	db := e.rawDB(b)
	db.QueryRow(`SELECT COUNT(*) FROM usage_daily`).Scan(&daily)
	db.QueryRow(`SELECT COUNT(*) FROM usage_daily_keys`).Scan(&keyed)
	b.Logf("%s: %d events as %d usage_daily and %d usage_daily_keys rows, written in %s", engine, perDay*days, daily, keyed,
		time.Since(started).Round(time.Second))

	sys := Actor{Role: RoleSystemAdmin, UserID: 1, Email: "bench@lamb.local", OrgSlug: SystemSlug}
	// A screen's load is what the console asks for: the summary with the
	// table by its grouping, one call.
	screen := func(a Actor, q UsageQuery) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				s, err := e.svc.UsageSummary(ctx, a, q)
				if err != nil || s.Total.Requests == 0 || len(s.Rows) == 0 {
					b.Fatalf("%v, %d requests, %d rows", err, s.Total.Requests, len(s.Rows))
				}
			}
		}
	}
	// A report by command: usage --by ….
	report := func(a Actor, q UsageQuery) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				if r, err := e.svc.Usage(ctx, a, q); err != nil || len(r.Rows) == 0 {
					b.Fatalf("%v, %d rows", err, len(r.Rows))
				}
			}
		}
	}
	f := fx[7]
	for _, bc := range []struct {
		name string
		a    Actor
		q    UsageQuery
	}{
		{"screen/org admin, this month", f.adminActor, UsageQuery{Range: "month", By: "assistant"}},
		{"screen/org admin, 90 days by key", f.adminActor, UsageQuery{Range: "90d", By: "key"}},
		{"screen/member, 90 days", f.memberOf, UsageQuery{Range: "90d", By: "assistant"}},
		{"screen/system admin, one org, last month by user", sys, UsageQuery{Org: f.slug, Range: "last-month", By: "user"}},
		{"screen/system admin, every org, 30 days", sys, UsageQuery{AllOrgs: true, Range: "30d", By: "org"}},
		{"screen/system admin, every org, 90 days by day", sys, UsageQuery{AllOrgs: true, Range: "90d", By: "day"}},
	} {
		b.Run(bc.name, screen(bc.a, bc.q))
	}
	for _, bc := range []struct {
		name string
		a    Actor
		q    UsageQuery
	}{
		{"command/org admin, 90 days by user", f.adminActor, UsageQuery{Range: "90d", By: "user"}},
		{"command/system admin, every org, 30 days by assistant", sys, UsageQuery{AllOrgs: true, Range: "30d", By: "assistant"}},
	} {
		b.Run(bc.name, report(bc.a, bc.q))
	}
	b.Run("dashboard", func(b *testing.B) {
		for b.Loop() {
			if d, err := e.svc.Dashboard(ctx, sys, f.slug); err != nil || d.TokensThisMonth == 0 {
				b.Fatalf("%v, %d", err, d.TokensThisMonth)
			}
		}
	})
}

// benchEvents is the number of events to make: 10 million, or
// LAMB_BENCH_EVENTS for a quicker look.
func benchEvents(b *testing.B) int {
	if v := os.Getenv("LAMB_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 365 {
			b.Fatalf("LAMB_BENCH_EVENTS=%q: want a number of events, at least 365", v)
		}
		return n
	}
	return 10_000_000
}
