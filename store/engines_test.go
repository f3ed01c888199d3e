package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"lamb/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// engine opens stores of one engine for a test.
type engine struct {
	name string
	// open returns a new, empty, unmigrated database of the engine,
	// closed when t ends; url names it for a second Store (PostgreSQL).
	open func(t *testing.T, opts Options) (st *Store, url string)
}

var allEngines = []engine{
	{EngineSQLite, func(t *testing.T, opts Options) (*Store, string) {
		path := filepath.Join(t.TempDir(), "lamb.db")
		st, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, path
	}},
	{EnginePostgres, func(t *testing.T, opts Options) (*Store, string) {
		url := pgtest.URL(t)
		st, err := OpenURL(context.Background(), url, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, url
	}},
}

// eachEngine runs fn as a subtest per engine.
func eachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	t.Helper()
	for _, e := range allEngines {
		t.Run(e.name, func(t *testing.T) { fn(t, e) })
	}
}

// migrated opens a migrated, empty store of e.
func (e engine) migrated(t *testing.T) *Store {
	t.Helper()
	st, _ := e.open(t, Options{})
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                                 `SELECT 1`,
		`a = ? AND b = ?`:                          `a = $1 AND b = $2`,
		`x = ?1 OR y = ?1`:                         `x = $1 OR y = $1`,
		`name LIKE ? ESCAPE '\' AND v = ?`:         `name LIKE $1 ESCAPE '\' AND v = $2`,
		`v = '?' AND "odd?" = ? AND w = 'it''s ?'`: `v = '?' AND "odd?" = $1 AND w = 'it''s ?'`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

// Rules that count then write ("at most 3 users") are checked in a write
// transaction. On SQLite the single writer runs them one at a time; on
// PostgreSQL several run at once, and only serializable transactions keep
// the count true. 20 writers race to add users past a limit of 3.
func TestCountThenWriteHoldsUnderConcurrentWriters(t *testing.T) {
	eachEngine(t, testCountThenWriteHoldsUnderConcurrentWriters)
}

func testCountThenWriteHoldsUnderConcurrentWriters(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	org, err := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	const limit, writers = 3, 20
	errFull := errors.New("full")
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.InTx(ctx, func(tx *Tx) error {
				c, err := tx.CountOrg(ctx, org.ID)
				if err != nil {
					return err
				}
				if c.Users >= limit {
					return errFull
				}
				_, err = tx.CreateUser(ctx, User{OrganizationID: org.ID, Email: fmt.Sprintf("u%d@acme.example", i), Name: "U", Enabled: true})
				return err
			})
			if err != nil && !errors.Is(err, errFull) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer failed: %v", err)
	}
	c, err := st.CountOrg(ctx, org.ID)
	if err != nil || c.Users != limit {
		t.Fatalf("%d users, %v; want exactly %d", c.Users, err, limit)
	}
}

// Instances starting together migrate the same database at once: each
// migration runs once, and both start.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	first, url := allEngines[1].open(t, Options{})
	second, err := OpenURL(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	errs := make(chan error, 2)
	for _, st := range []*Store{first, second} {
		go func() { errs <- st.Migrate(ctx) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	all, _ := Migrations(EnginePostgres)
	var rows int
	first.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows)
	if rows != len(all) {
		t.Fatalf("schema_migrations has %d rows, want %d", rows, len(all))
	}
}

// Nothing listens on the port: the error says which database failed, and
// never the password of its URL.
func TestOpenURLUnreachableHidesPassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, url := range []string{
		"postgres://lamb:s3cr3t-pw@" + addr + "/lamb?sslmode=disable",
		"postgres://lamb@" + addr + "/lamb?sslmode=disable&password=s3cr3t-pw",
	} {
		_, err = OpenURL(context.Background(), url, Options{ConnectTimeout: 5 * time.Second})
		if err == nil {
			t.Fatal("opened a database where nothing listens")
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("error shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("error doesn't say which database: %v", err)
		}
	}
}

// The queries whose SQL needed care to run on both engines: sums of
// integers (PostgreSQL returns numeric), a conditional count, upserts that
// add to the existing row, case-insensitive filters, and the change
// counter's triggers with the usage stamps they skip.
func TestPortableQueries(t *testing.T) { eachEngine(t, testPortableQueries) }

func testPortableQueries(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	org, _ := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme University", Config: "{}"})
	ana, _ := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: "ana@acme.example", Name: "Ana", Enabled: true})
	bob, _ := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: "bob@acme.example", Name: "Bob", Enabled: true})
	a1, err := st.CreateAssistant(ctx, Assistant{OrganizationID: org.ID, OwnerUserID: ana.ID, Name: "Tutor", Provider: "openai", Model: "m", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	st.CreateAssistant(ctx, Assistant{OrganizationID: org.ID, OwnerUserID: bob.ID, Name: "Grader", Provider: "openai", Model: "m", Enabled: true})
	if all, own, err := st.CountAssistants(ctx, org.ID, ana.ID); err != nil || all != 2 || own != 1 {
		t.Errorf("CountAssistants = %d, %d, %v; want 2, 1", all, own, err)
	}
	if got, _ := st.UserByID(ctx, ana.ID); !got.Enabled || got.SystemAdmin {
		t.Errorf("booleans read back as enabled=%v system_admin=%v", got.Enabled, got.SystemAdmin)
	}

	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	ev := UsageEvent{OrganizationID: org.ID, AssistantID: a1.ID, UserID: ana.ID, Provider: "openai", Model: "m",
		PromptTokens: 10, CompletionTokens: 5, Status: "ok", HTTPStatus: 200, Stream: true, CreatedAt: at}
	bad := ev
	bad.Status, bad.Refused, bad.PromptTokens, bad.CompletionTokens = "quota", true, 0, 0
	for range 2 { // the second batch adds to the rollup rows of the first
		if err := st.InTx(ctx, func(tx *Tx) error { return tx.InsertUsage(ctx, []UsageEvent{ev, ev, bad}) }); err != nil {
			t.Fatal(err)
		}
	}
	f := UsageFilter{OrganizationID: org.ID, From: Day(at), To: Day(at)}
	sum, err := st.SumUsage(ctx, f)
	if err != nil || sum != (UsageTotals{Requests: 6, Errors: 2, Refused: 2, PromptTokens: 40, CompletionTokens: 20, Latency: [LatencyBuckets]int64{4}}) {
		t.Errorf("SumUsage = %+v, %v", sum, err)
	}
	groups, err := st.GroupUsage(ctx, f, "assistant")
	if err != nil || len(groups) != 1 || groups[0].Key != a1.ID || groups[0].Tokens() != 60 {
		t.Errorf("GroupUsage = %+v, %v", groups, err)
	}
	if n, err := st.CountUsageEvents(ctx, org.ID); err != nil || n != 6 {
		t.Errorf("CountUsageEvents = %d, %v", n, err)
	}

	if _, total, err := st.ListOrgs(ctx, OrgFilter{Query: "UNIVERSITY"}); err != nil || total != 1 {
		t.Errorf("ListOrgs ignoring case: %d, %v", total, err)
	}
	if _, total, err := st.ListAssistants(ctx, AssistantFilter{OrganizationID: org.ID, Query: "tUTOR"}); err != nil || total != 1 {
		t.Errorf("ListAssistants ignoring case: %d, %v", total, err)
	}
	st.InsertAudit(ctx, AuditEvent{OrganizationID: org.ID, Actor: "ana@acme.example", Action: "user.create", Target: "100%_done"})
	if n, err := st.CountAudit(ctx, AuditFilter{Query: "USER.CREATE"}); err != nil || n != 1 {
		t.Errorf("CountAudit ignoring case: %d, %v", n, err)
	}
	if n, err := st.CountAudit(ctx, AuditFilter{Query: "0%_d"}); err != nil || n != 1 {
		t.Errorf("CountAudit with LIKE wildcards taken literally: %d, %v", n, err)
	}
	if n, _ := st.CountAudit(ctx, AuditFilter{Query: "0%%d"}); n != 0 {
		t.Errorf("a %% in the filter matched as a wildcard")
	}

	before, err := st.ChangeCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.TouchUser(ctx, ana.ID)
	k, _ := st.CreateAPIKey(ctx, APIKey{OrganizationID: org.ID, UserID: ana.ID, Name: "k", Prefix: "lamb_abc", Hash: "h"})
	afterKey, _ := st.ChangeCount(ctx)
	if afterKey != before+1 {
		t.Errorf("change counter %d → %d after a touch and a new key; want one move", before, afterKey)
	}
	st.TouchAPIKey(ctx, k.ID, at)
	if n, _ := st.ChangeCount(ctx); n != afterKey {
		t.Errorf("a usage stamp moved the change counter")
	}
	st.RevokeAPIKey(ctx, k.ID)
	if n, _ := st.ChangeCount(ctx); n != afterKey+1 {
		t.Errorf("revoking a key didn't move the change counter")
	}
}

// A caller that answers a conflict by reading what it conflicted with
// (whose email is this?) gets its answer on both engines, although
// PostgreSQL refuses further statements in a transaction after one failed;
// and nothing of that transaction is committed.
func TestReadAfterConflictInTx(t *testing.T) { eachEngine(t, testReadAfterConflictInTx) }

func testReadAfterConflictInTx(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	org, _ := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"})
	ana, _ := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: "ana@acme.example", Name: "Ana", Enabled: true})
	errTaken := errors.New("taken")
	err := st.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.CreateOrg(ctx, Org{Slug: "beta", Name: "Beta", Config: "{}"}); err != nil {
			return err
		}
		_, err := tx.CreateUser(ctx, User{OrganizationID: org.ID, Email: "ana@acme.example", Name: "Again"})
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("duplicate email: %v, want ErrConflict", err)
		}
		held, err := tx.UserByEmail(ctx, "ana@acme.example")
		if err != nil || held.ID != ana.ID {
			return fmt.Errorf("read after the conflict = %d, %v; want user %d", held.ID, err, ana.ID)
		}
		return errTaken
	})
	if !errors.Is(err, errTaken) {
		t.Fatal(err)
	}
	if _, err := st.OrgBySlug(ctx, "beta"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the org of the failed transaction was kept: %v", err)
	}
}

// On PostgreSQL write transactions are serializable (what keeps counted
// rules true, see InTx), and reads and writes share one bounded pool.
func TestPostgresTransactionsAreSerializable(t *testing.T) {
	ctx := context.Background()
	st := allEngines[1].migrated(t)
	var level string
	if err := st.InTx(ctx, func(tx *Tx) error {
		return tx.r.QueryRowContext(ctx, `SHOW transaction_isolation`).Scan(&level)
	}); err != nil || level != "serializable" {
		t.Fatalf("isolation in InTx = %q, %v", level, err)
	}
	if st.r != st.w || st.w.Stats().MaxOpenConnections != 16 {
		t.Fatalf("want one pool of 16 connections, got separate=%v max=%d", st.r != st.w, st.w.Stats().MaxOpenConnections)
	}
}

// An assistant's retrieval settings and template survive a write and a
// read on both engines, and an update can remove them.
func TestAssistantKnowledgeBase(t *testing.T) { eachEngine(t, testAssistantKnowledgeBase) }

func testAssistantKnowledgeBase(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	org, _ := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme University", Config: "{}"})
	ana, _ := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: "ana@acme.example", Name: "Ana", Enabled: true})
	kb := &AssistantKB{Collections: []string{"1", "syllabus"}, TopK: 5, Threshold: 0.25, OnError: "continue"}
	a, err := st.CreateAssistant(ctx, Assistant{OrganizationID: org.ID, OwnerUserID: ana.ID, Name: "Tutor", Provider: "openai", Model: "m",
		KnowledgeBase: kb, PromptTemplate: "{context}\n\n{user_input}", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.AssistantByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.KnowledgeBase == nil || strings.Join(got.KnowledgeBase.Collections, ",") != "1,syllabus" || got.KnowledgeBase.TopK != 5 ||
		got.KnowledgeBase.Threshold != 0.25 || got.KnowledgeBase.OnError != "continue" || got.PromptTemplate != "{context}\n\n{user_input}" {
		t.Fatalf("read back %+v %+v", got, got.KnowledgeBase)
	}
	got.KnowledgeBase, got.PromptTemplate = nil, ""
	if err := st.UpdateAssistant(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ = st.AssistantByID(ctx, a.ID); got.KnowledgeBase != nil || got.PromptTemplate != "" {
		t.Errorf("after clearing: %+v", got)
	}
}

// Retrieval figures come from a bounded sample of an assistant's latest
// events, on both engines: the limit counts the latest requests, those
// without retrieval included, and a user filter applies within them.
func TestRecentRetrieval(t *testing.T) { eachEngine(t, testRecentRetrieval) }

func testRecentRetrieval(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	org, _ := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme University", Config: "{}"})
	other, _ := st.CreateOrg(ctx, Org{Slug: "beta", Name: "Beta", Config: "{}"})
	ana, _ := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: "ana@acme.example", Name: "Ana", Enabled: true})
	a, err := st.CreateAssistant(ctx, Assistant{OrganizationID: org.ID, OwnerUserID: ana.ID, Name: "Tutor", Provider: "openai", Model: "m", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	ev := func(min int, retrieved bool, ms, chunks int64) UsageEvent {
		return UsageEvent{OrganizationID: org.ID, AssistantID: a.ID, UserID: ana.ID, Status: "ok", HTTPStatus: 200,
			Retrieved: retrieved, KBMS: ms, KBChunks: chunks, CreatedAt: at.Add(time.Duration(min) * time.Minute)}
	}
	events := []UsageEvent{ev(-90, true, 900, 9), ev(1, true, 10, 2), ev(2, true, 30, 4), ev(3, false, 0, 0)}
	if err := st.InTx(ctx, func(tx *Tx) error { return tx.InsertUsage(ctx, events) }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		org   int64
		user  int64
		since time.Time
		limit int
		want  Retrieval
	}{
		{"the latest three", org.ID, 0, at.Add(-time.Hour), 10, Retrieval{Requests: 3, Retrieved: 2, MS: 40, Chunks: 6}},
		{"the latest two only", org.ID, 0, at.Add(-2 * time.Hour), 2, Retrieval{Requests: 2, Retrieved: 1, MS: 30, Chunks: 4}},
		{"all four", org.ID, ana.ID, at.Add(-2 * time.Hour), 10, Retrieval{Requests: 4, Retrieved: 3, MS: 940, Chunks: 15}},
		{"another user", org.ID, ana.ID + 1000, at.Add(-2 * time.Hour), 10, Retrieval{}},
		{"another org", other.ID, 0, at.Add(-2 * time.Hour), 10, Retrieval{}},
	} {
		got, err := st.RecentRetrieval(ctx, c.org, a.ID, c.user, c.since, c.limit)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}
