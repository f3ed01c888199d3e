package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/store"
)

// usageEnv is memberEnv with usage rollups: a1 and a2 each own an
// assistant of A, used this month (November 2026) and last month; B has
// usage of its own that A's reports must never show.
type usageEnv struct {
	*memberEnv
	x1, x2 Assistant // of a1 and a2
}

func newUsageEnv(t *testing.T) *usageEnv {
	t.Helper()
	e := &usageEnv{memberEnv: newMemberEnv(t)}
	e.x1 = e.assistant(t, e.a1, AssistantInput{Name: "Tutor"})
	e.x2 = e.assistant(t, e.a2, AssistantInput{Name: "Grader"})
	e.enableOpenAI(t, e.adminB, "beta")
	xb := e.assistant(t, e.adminB, AssistantInput{Name: "Beta bot"})
	acme, beta := e.a1.OrgID, e.adminB.OrgID
	for _, u := range []struct {
		org, assistant, user int64
		day                  int
		req, errs, p, c      int64
	}{
		{acme, e.x1.ID, e.a1.UserID, 20261003, 100, 0, 1000, 500}, // last month
		{acme, e.x1.ID, e.a1.UserID, 20261102, 10, 1, 100, 50},
		{acme, e.x1.ID, e.a1.UserID, 20261129, 5, 0, 40, 20},
		{acme, e.x2.ID, e.a2.UserID, 20261102, 7, 2, 70, 30},
		{acme, e.x2.ID, e.a2.UserID, 20261015, 200, 0, 2000, 1000}, // last month
		{beta, xb.ID, e.adminB.UserID, 20261110, 9999, 0, 99999, 99999},
	} {
		if err := e.st.AddUsageDaily(context.Background(), u.org, u.day, u.assistant, u.user,
			store.UsageTotals{Requests: u.req, Errors: u.errs, PromptTokens: u.p, CompletionTokens: u.c}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

var (
	thisMonth = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	lastMonth = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
)

// rows renders a report's rows as "key:requests/errors/tokens" for
// comparisons.
func rows(r UsageReport) string {
	var parts []string
	for _, row := range r.Rows {
		parts = append(parts, fmt.Sprintf("%s:%d/%d/%d", row.Key, row.Requests, row.Errors, row.Tokens))
	}
	return strings.Join(parts, " ")
}

func TestUsageMemberSeesOwnOnly(t *testing.T) {
	e := newUsageEnv(t)
	ctx := context.Background()
	r, err := e.svc.Usage(ctx, e.a1, UsageQuery{From: thisMonth, By: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if r.OrgSlug != "acme" || r.User != emailA1 || r.From != "2026-11-01" || r.To != "2026-11-29" || r.By != "day" {
		t.Fatalf("report header %+v", r)
	}
	if got := rows(r); got != "2026-11-02:10/1/150 2026-11-29:5/0/60" {
		t.Fatalf("a1 by day: %s", got)
	}
	if r.Total != (UsageRow{Key: "total", Requests: 15, Errors: 1, PromptTokens: 140, CompletionTokens: 70, Tokens: 210}) {
		t.Fatalf("a1 total %+v", r.Total)
	}
	r, err = e.svc.Usage(ctx, e.a1, UsageQuery{Org: "acme", From: lastMonth, By: "assistant"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rows(r), fmt.Sprintf("Tutor (#%d):115/1/1710", e.x1.ID); got != want {
		t.Fatalf("a1 by assistant since last month: %s, want %s", got, want)
	}
	r, err = e.svc.Usage(ctx, e.a2, UsageQuery{From: thisMonth, By: "user"})
	if err != nil {
		t.Fatal(err)
	}
	if got := rows(r); got != emailA2+":7/2/100" || r.Total.Requests != 7 {
		t.Fatalf("a2 by user: %s", got)
	}
	// "mine" changes nothing for a member; another org is refused.
	if r2, err := e.svc.Usage(ctx, e.a2, UsageQuery{From: thisMonth, By: "user", Mine: true}); err != nil || rows(r2) != rows(r) {
		t.Fatalf("a2 mine: %+v, %v", r2, err)
	}
	if _, err := e.svc.Usage(ctx, e.a1, UsageQuery{Org: "beta", From: thisMonth, By: "day"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("member naming beta: %v", err)
	}
	// A member with no usage gets an empty report (rows [] in JSON).
	empty, err := e.svc.Usage(ctx, e.adminA, UsageQuery{From: thisMonth, By: "day", Mine: true})
	if err != nil || empty.Rows == nil || len(empty.Rows) != 0 || empty.Total.Requests != 0 || empty.User != emailAdminA {
		t.Fatalf("admin's own usage: %#v, %v", empty, err)
	}
}

func TestUsageOrgAdmin(t *testing.T) {
	e := newUsageEnv(t)
	ctx := context.Background()
	for _, c := range []struct {
		by    string
		since time.Time
		want  string
	}{
		{"day", thisMonth, "2026-11-02:17/3/250 2026-11-29:5/0/60"},
		{"day", lastMonth, "2026-10-03:100/0/1500 2026-10-15:200/0/3000 2026-11-02:17/3/250 2026-11-29:5/0/60"},
		{"user", thisMonth, emailA1 + ":15/1/210 " + emailA2 + ":7/2/100"},
		{"assistant", thisMonth, fmt.Sprintf("Tutor (#%d):15/1/210 Grader (#%d):7/2/100", e.x1.ID, e.x2.ID)},
		{"", thisMonth, fmt.Sprintf("Tutor (#%d):15/1/210 Grader (#%d):7/2/100", e.x1.ID, e.x2.ID)}, // by assistant by default
	} {
		r, err := e.svc.Usage(ctx, e.adminA, UsageQuery{From: c.since, By: c.by})
		if err != nil {
			t.Fatalf("by %q: %v", c.by, err)
		}
		if got := rows(r); got != c.want || r.User != "" || r.OrgSlug != "acme" {
			t.Fatalf("by %q since %s: %s, want %s", c.by, r.From, got, c.want)
		}
	}
	r, err := e.svc.Usage(ctx, e.adminA, UsageQuery{Org: "acme", From: lastMonth, By: "day"})
	if err != nil || r.Total.Requests != 322 || r.Total.Tokens != 4810 || r.Total.Errors != 3 {
		t.Fatalf("acme total since last month: %+v, %v", r.Total, err)
	}
	// The system admin names any org.
	r, err = e.svc.Usage(ctx, e.sys, UsageQuery{Org: "beta", From: thisMonth, By: "user"})
	if err != nil || rows(r) != emailAdminB+":9999/0/199998" {
		t.Fatalf("system admin on beta: %s, %v", rows(r), err)
	}
	// B's admin gets the answer for an org that doesn't exist.
	_, err = e.svc.Usage(ctx, e.adminB, UsageQuery{Org: "acme", From: thisMonth, By: "day"})
	_, errMissing := e.svc.Usage(ctx, e.adminB, UsageQuery{Org: "nope", From: thisMonth, By: "day"})
	if !errors.Is(err, ErrNotFound) || strings.ReplaceAll(err.Error(), "acme", "nope") != errMissing.Error() {
		t.Fatalf("B's admin naming acme: %v (missing: %v)", err, errMissing)
	}
	for _, by := range []string{"week", "Day", "model"} {
		_, err := e.svc.Usage(ctx, e.adminA, UsageQuery{From: thisMonth, By: by})
		wantInvalidSays(t, err, "by", "day, assistant, user, key or org")
	}
	for _, a := range []Actor{{}, {Role: RoleAPIKey, OrgID: e.a1.OrgID, OrgSlug: "acme", KeyID: 1}} {
		if _, err := e.svc.Usage(ctx, a, UsageQuery{Org: "acme", From: thisMonth, By: "day"}); !errors.Is(err, ErrForbidden) {
			t.Fatalf("%v: %v", a, err)
		}
	}
}

// Databases made before ids stopped being reused (schema 3 and older) may
// hold usage of a deleted user and assistant of A whose ids SQLite then
// gave to B's new user and assistant. A's reports must call them deleted,
// never by the names B gave them. The collision is built on purpose in a
// database at schema 3, then migrated to the current schema.
func TestUsageDoesNotNameAnotherOrgsReusedIDs(t *testing.T) {
	ctx := context.Background()
	var goneID, xID int64
	e := newTestEnvFrom(t, 3, func(db *sql.DB) {
		exec := func(q string, args ...any) int64 {
			t.Helper()
			r, err := db.Exec(q, args...)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			id, _ := r.LastInsertId()
			return id
		}
		now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC).Unix()
		cfg := string(config.NewOrg().JSON())
		acme := exec(`INSERT INTO organizations (slug, name, config, created_at, updated_at) VALUES ('acme', 'ACME', ?, ?, ?)`, cfg, now, now)
		beta := exec(`INSERT INTO organizations (slug, name, config, created_at, updated_at) VALUES ('beta', 'BETA', ?, ?, ?)`, cfg, now, now)
		goneID = exec(`INSERT INTO users (organization_id, email, name, created_at, updated_at) VALUES (?, 'gone@acme.edu', 'Gone', ?, ?)`, acme, now, now)
		xID = exec(`INSERT INTO assistants (organization_id, owner_user_id, name, provider, model, created_at, updated_at)
			VALUES (?, ?, 'Old tutor', 'openai', 'gpt-4o-mini', ?, ?)`, acme, goneID, now, now)
		exec(`INSERT INTO usage_daily (organization_id, day, assistant_id, user_id, requests) VALUES (?, 20261120, ?, ?, 3)`, acme, xID, goneID)
		exec(`DELETE FROM assistants WHERE id = ?`, xID)
		exec(`DELETE FROM users WHERE id = ?`, goneID)
		spy := exec(`INSERT INTO users (organization_id, email, name, created_at, updated_at) VALUES (?, 'spy@beta.edu', 'Spy', ?, ?)`, beta, now, now)
		secret := exec(`INSERT INTO assistants (organization_id, owner_user_id, name, provider, model, created_at, updated_at)
			VALUES (?, ?, 'Beta secret project', 'openai', 'gpt-4o-mini', ?, ?)`, beta, spy, now, now)
		if spy != goneID || secret != xID {
			t.Fatalf("schema 3 didn't reuse ids (user %d→%d, assistant %d→%d): the collision this test needs wasn't built", goneID, spy, xID, secret)
		}
	})
	mustSync(t, e, config.System{})
	sys := sysAdmin(t, e, "root@lamb.local")
	adminA, _ := userWithKey(t, e, sys, "acme", emailAdminA, "admin", "")
	for by, want := range map[string]string{
		"assistant": fmt.Sprintf("deleted assistant #%d:3/0/0", xID),
		"user":      fmt.Sprintf("deleted user #%d:3/0/0", goneID),
	} {
		r, err := e.svc.Usage(ctx, adminA, UsageQuery{From: thisMonth, By: by})
		if err != nil {
			t.Fatal(err)
		}
		if got := rows(r); got != want {
			t.Fatalf("A's usage by %s: %s, want %s", by, got, want)
		}
	}
}

// Reports by assistant carry the retrieval of assistants with collections:
// time and chunks per retrieving request, over the latest requests of the
// period (RetrievalSample of them at most), the member's own only.
func TestUsageShowsRetrieval(t *testing.T) {
	e := newMemberEnv(t)
	e.withKB(t)
	ctx := context.Background()
	kb := &AssistantKB{Collections: []string{"1"}}
	tutor := e.assistant(t, e.a1, AssistantInput{Name: "Tutor", KnowledgeBase: kb})
	plain := e.assistant(t, e.a1, AssistantInput{Name: "Plain"})
	other := e.assistant(t, e.a2, AssistantInput{Name: "Other", KnowledgeBase: kb})
	var events []store.UsageEvent
	at := func(d time.Duration) time.Time { return e.now.Add(-d) }
	ev := func(a Assistant, owner Actor, when time.Time, retrieved bool, ms, chunks int64) store.UsageEvent {
		return store.UsageEvent{OrganizationID: owner.OrgID, AssistantID: a.ID, UserID: owner.UserID, Status: "ok", HTTPStatus: 200,
			Retrieved: retrieved, KBMS: ms, KBChunks: chunks, CreatedAt: when}
	}
	// Earlier this month, slow: outside the sample once the latest fill it.
	for i := range 5 {
		events = append(events, ev(tutor, e.a1, at(48*time.Hour+time.Duration(i)*time.Minute), true, 5000, 1))
	}
	// Last month: outside the period.
	events = append(events, ev(tutor, e.a1, at(40*24*time.Hour), true, 9000, 9))
	// The latest: 20 ms and 3 chunks, and some requests without retrieval
	// (a question with no text, say).
	for i := range RetrievalSample - 10 {
		events = append(events, ev(tutor, e.a1, at(time.Duration(i)*time.Second), true, 20, 3))
	}
	for i := range 10 {
		events = append(events, ev(tutor, e.a1, at(time.Duration(i)*time.Second+time.Millisecond), false, 0, 0))
	}
	events = append(events, ev(plain, e.a1, at(time.Minute), false, 0, 0), ev(other, e.a2, at(time.Minute), true, 700, 2))
	if err := e.st.InTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, events) }); err != nil {
		t.Fatal(err)
	}

	check := func(r UsageReport, name string, want *RetrievalFigures) {
		t.Helper()
		for _, row := range r.Rows {
			if !strings.HasPrefix(row.Key, name+" ") {
				continue
			}
			switch {
			case want == nil && row.Retrieval != nil:
				t.Errorf("%s: retrieval %+v, want none", name, *row.Retrieval)
			case want != nil && (row.Retrieval == nil || *row.Retrieval != *want):
				t.Errorf("%s: retrieval %+v, want %+v", name, row.Retrieval, *want)
			}
			return
		}
		t.Errorf("%s: no row in %s", name, rows(r))
	}
	admin, err := e.svc.Usage(ctx, e.adminA, UsageQuery{From: thisMonth, By: "assistant"})
	if err != nil {
		t.Fatal(err)
	}
	check(admin, "Tutor", &RetrievalFigures{Sampled: RetrievalSample, Retrieved: RetrievalSample - 10, AvgMS: 20, AvgChunks: 3})
	check(admin, "Plain", nil) // no collections: nothing to show
	check(admin, "Other", &RetrievalFigures{Sampled: 1, Retrieved: 1, AvgMS: 700, AvgChunks: 2})

	mine, err := e.svc.Usage(ctx, e.a1, UsageQuery{From: thisMonth, By: "assistant"})
	if err != nil {
		t.Fatal(err)
	}
	check(mine, "Tutor", &RetrievalFigures{Sampled: RetrievalSample, Retrieved: RetrievalSample - 10, AvgMS: 20, AvgChunks: 3})
	if strings.Contains(rows(mine), "Other") {
		t.Errorf("a1 sees a2's assistant: %s", rows(mine))
	}
	// By day or user there is no assistant to describe.
	byDay, err := e.svc.Usage(ctx, e.adminA, UsageQuery{From: thisMonth, By: "day"})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range byDay.Rows {
		if row.Retrieval != nil {
			t.Errorf("by day, %s: retrieval %+v", row.Key, *row.Retrieval)
		}
	}
}
