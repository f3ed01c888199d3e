package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestMigrateFromEmptyTwice(t *testing.T) { eachEngine(t, testMigrateFromEmptyTwice) }

func testMigrateFromEmptyTwice(t *testing.T, e engine) {
	ctx := context.Background()
	st, _ := e.open(t, Options{})
	for i := range 2 {
		if err := st.Migrate(ctx); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
	all, _ := Migrations(e.name)
	v, err := st.SchemaVersion(ctx)
	if err != nil || v != len(all) {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(all))
	}
	var rows int
	st.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows)
	if rows != len(all) {
		t.Fatalf("schema_migrations has %d rows, want %d (a migration ran twice?)", rows, len(all))
	}
	for _, table := range []string{"organizations", "users", "ssh_keys", "assistants", "api_keys", "usage_events", "audit_events", "settings"} {
		var n int
		if err := st.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
			t.Errorf("table %s: %v", table, err)
		}
	}
}

func TestMigrateFromEveryOlderVersion(t *testing.T) { eachEngine(t, testMigrateFromEveryOlderVersion) }

func testMigrateFromEveryOlderVersion(t *testing.T, e engine) {
	ctx := context.Background()
	all, _ := Migrations(e.name)
	for v := 0; v < len(all); v++ {
		t.Run(fmt.Sprint("from ", v), func(t *testing.T) {
			st, _ := e.open(t, Options{})
			if err := st.MigrateTo(ctx, v); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.SchemaVersion(ctx); got != v {
				t.Fatalf("after MigrateTo(%d) version = %d", v, got)
			}
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := st.SchemaVersion(ctx); got != len(all) {
				t.Fatalf("version = %d, want %d", got, len(all))
			}
		})
	}
}

// A database at an older migration keeps its rows when newer migrations run.
func TestMigrateKeepsDataAcrossVersions(t *testing.T) {
	eachEngine(t, testMigrateKeepsDataAcrossVersions)
}

func testMigrateKeepsDataAcrossVersions(t *testing.T, e engine) {
	ctx := context.Background()
	fsys := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);`)},
		"migrations/0002_b.sql": {Data: []byte(`ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 7;`)},
	}
	ms, err := loadMigrations(fsys, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := e.open(t, Options{})
	if err := st.migrate(ctx, ms[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.w.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (1, 'kept')`); err != nil {
		t.Fatal(err)
	}
	if err := st.migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	var v string
	var w int
	if err := st.r.QueryRowContext(ctx, `SELECT v, w FROM t`).Scan(&v, &w); err != nil || v != "kept" || w != 7 {
		t.Fatalf("row after migration = %q %d %v", v, w, err)
	}
}

func TestMigrationFailureRollsBack(t *testing.T) { eachEngine(t, testMigrationFailureRollsBack) }

func testMigrationFailureRollsBack(t *testing.T, e engine) {
	ctx := context.Background()
	ms, err := loadMigrations(fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte(`CREATE TABLE t (id INTEGER PRIMARY KEY); CREATE TABLE oops (`)},
	}, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := e.open(t, Options{})
	if err := st.migrate(ctx, ms); err == nil {
		t.Fatal("broken migration applied without error")
	}
	if v, _ := st.SchemaVersion(ctx); v != 0 {
		t.Fatalf("version = %d after a failed migration", v)
	}
	if _, err := st.r.ExecContext(ctx, `SELECT COUNT(*) FROM t`); err == nil {
		t.Fatal("table of a failed migration was left behind")
	}
}

func TestBadMigrationNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"migrations/init.sql": {Data: []byte(``)}},
		"gap":       {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
	} {
		if _, err := loadMigrations(fsys, "migrations"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRefusesNewerDatabase(t *testing.T) { eachEngine(t, testRefusesNewerDatabase) }

func testRefusesNewerDatabase(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	if _, err := st.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	err := st.Migrate(ctx)
	if err == nil {
		t.Fatal("migrated a database from a newer lamb")
	}
}

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	st := allEngines[0].migrated(t)
	var mode string
	var fk int
	st.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	st.r.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk)
	if mode != "wal" || fk != 1 {
		t.Fatalf("journal_mode=%s foreign_keys=%d", mode, fk)
	}
	// The read pool can't write.
	if _, err := st.r.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ('x', 'y', 0)`); err == nil {
		t.Fatal("read pool accepted a write")
	}
}

// 50 goroutines writing at once: every write lands, none sees SQLITE_BUSY.
func TestConcurrentWritersNeverBusy(t *testing.T) { eachEngine(t, testConcurrentWritersNeverBusy) }

func testConcurrentWritersNeverBusy(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	org, err := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				if i%2 == 0 {
					err = st.InsertAudit(ctx, AuditEvent{OrganizationID: org.ID, Actor: "t", Action: "test.write", Target: fmt.Sprint(g, "/", i)})
				} else {
					err = st.InTx(ctx, func(tx *Tx) error {
						// Read-then-write in one transaction, the pattern
						// that deadlocks without immediate transactions.
						if _, err := tx.OrgByID(ctx, org.ID); err != nil {
							return err
						}
						return tx.InsertAudit(ctx, AuditEvent{OrganizationID: org.ID, Actor: "t", Action: "test.write", Target: fmt.Sprint(g, "/", i)})
					})
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	// Readers run beside the writers.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if _, err := st.ListAudit(ctx, AuditFilter{OrganizationID: org.ID, Limit: 10}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	<-done
	close(errs)
	for err := range errs {
		t.Errorf("write failed: %v", err)
	}
	var n int
	st.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE action = 'test.write'`).Scan(&n)
	if n != writers*each {
		t.Fatalf("%d rows, want %d", n, writers*each)
	}
}

func TestErrorMapping(t *testing.T) { eachEngine(t, testErrorMapping) }

func testErrorMapping(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	org, err := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Again", Config: "{}"}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate slug: %v, want ErrConflict", err)
	}
	if _, err := st.OrgBySlug(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing org: %v, want ErrNotFound", err)
	}
	if _, err := st.CreateUser(ctx, User{OrganizationID: 9999, Email: "a@b.c", Name: "A", Enabled: true}); !errors.Is(err, ErrForeignKey) {
		t.Errorf("user of missing org: %v, want ErrForeignKey", err)
	}
	u, err := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: "a@b.c", Name: "A", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: "a@b.c", Name: "B"}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate email: %v, want ErrConflict", err)
	}
	if _, err := st.AddSSHKey(ctx, SSHKey{OrganizationID: org.ID, UserID: u.ID, Fingerprint: "SHA256:x", PublicKey: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddSSHKey(ctx, SSHKey{OrganizationID: org.ID, UserID: u.ID, Fingerprint: "SHA256:x", PublicKey: "k"}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate fingerprint: %v, want ErrConflict", err)
	}
	if err := st.UpdateOrgName(ctx, 9999, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("update missing org: %v", err)
	}
	// Signup key hashes are unique across orgs.
	other, _ := st.CreateOrg(ctx, Org{Slug: "other", Name: "Other", Config: "{}"})
	if err := st.SetSignupKey(ctx, org.ID, "enc1", "h1"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSignupKey(ctx, other.ID, "enc2", "h1"); !errors.Is(err, ErrConflict) {
		t.Errorf("same signup key hash in two orgs: %v", err)
	}
	if got, err := st.OrgBySignupKeyHash(ctx, "h1"); err != nil || got.ID != org.ID {
		t.Errorf("lookup by signup hash = %v, %v", got.Slug, err)
	}
	// Only one system org.
	if _, err := st.CreateOrg(ctx, Org{Slug: "sys1", Name: "S", IsSystem: true, Config: "{}"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateOrg(ctx, Org{Slug: "sys2", Name: "S", IsSystem: true, Config: "{}"}); !errors.Is(err, ErrConflict) {
		t.Errorf("second system org: %v", err)
	}
}

func TestTransactionRollsBack(t *testing.T) { eachEngine(t, testTransactionRollsBack) }

func testTransactionRollsBack(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	boom := errors.New("boom")
	err := st.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v", err)
	}
	if _, err := st.OrgBySlug(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("org of a rolled-back transaction exists: %v", err)
	}
}

func TestTimestampsFromClock(t *testing.T) { eachEngine(t, testTimestampsFromClock) }

func testTimestampsFromClock(t *testing.T, e engine) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st, _ := e.open(t, Options{Now: func() time.Time { return at }})
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	o, _ := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"})
	got, _ := st.OrgByID(ctx, o.ID)
	if !got.CreatedAt.Equal(at) || !got.UpdatedAt.Equal(at) {
		t.Fatalf("created %v updated %v, want %v", got.CreatedAt, got.UpdatedAt, at)
	}
}

func TestDatabaseFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lamb.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Migrate(context.Background())
	for _, f := range []string{path, path + "-wal"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v: readable by others", filepath.Base(f), fi.Mode().Perm())
		}
	}
}

// Deleting the newest row must not hand its id to the next one: callers
// name assistants by id, and usage rollups are keyed by user id.
func TestIDsAreNeverReused(t *testing.T) { eachEngine(t, testIDsAreNeverReused) }

func testIDsAreNeverReused(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	org, _ := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"})
	u1, err := st.CreateUser(ctx, User{OrganizationID: org.ID, Email: "a@acme.example", Name: "A", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	a1, err := st.CreateAssistant(ctx, Assistant{OrganizationID: org.ID, OwnerUserID: u1.ID, Name: "T", Provider: "openai", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := st.CreateAPIKey(ctx, APIKey{OrganizationID: org.ID, UserID: u1.ID, Name: "k", Prefix: "lamb_abc", Hash: "h1"})
	if err := st.DeleteUser(ctx, u1.ID); err != nil { // takes the assistant and key with it
		t.Fatal(err)
	}
	if err := st.DeleteOrg(ctx, org.ID); err != nil {
		t.Fatal(err)
	}
	org2, _ := st.CreateOrg(ctx, Org{Slug: "beta", Name: "Beta", Config: "{}"})
	u2, _ := st.CreateUser(ctx, User{OrganizationID: org2.ID, Email: "b@beta.example", Name: "B", Enabled: true})
	a2, _ := st.CreateAssistant(ctx, Assistant{OrganizationID: org2.ID, OwnerUserID: u2.ID, Name: "T", Provider: "openai", Model: "m"})
	k2, _ := st.CreateAPIKey(ctx, APIKey{OrganizationID: org2.ID, UserID: u2.ID, Name: "k", Prefix: "lamb_def", Hash: "h2"})
	if org2.ID == org.ID || u2.ID == u1.ID || a2.ID == a1.ID || k2.ID == k1.ID {
		t.Fatalf("ids reused: org %d→%d user %d→%d assistant %d→%d key %d→%d", org.ID, org2.ID, u1.ID, u2.ID, a1.ID, a2.ID, k1.ID, k2.ID)
	}
}

func TestListUsersFilterMatchesOrgSlug(t *testing.T) {
	eachEngine(t, testListUsersFilterMatchesOrgSlug)
}

func testListUsersFilterMatchesOrgSlug(t *testing.T, e engine) {
	ctx := context.Background()
	st := e.migrated(t)
	acme, _ := st.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Config: "{}"})
	beta, _ := st.CreateOrg(ctx, Org{Slug: "beta", Name: "Beta", Config: "{}"})
	st.CreateUser(ctx, User{OrganizationID: acme.ID, Email: "ana@uni.example", Name: "Ana"})
	st.CreateUser(ctx, User{OrganizationID: beta.ID, Email: "bob@uni.example", Name: "Bob"})
	st.CreateUser(ctx, User{OrganizationID: beta.ID, Email: "acme-fan@uni.example", Name: "Fan"})
	rows, total, err := st.ListUsers(ctx, UserFilter{Query: "acme"})
	if err != nil || total != 2 || len(rows) != 2 {
		t.Fatalf("filter acme: %d rows, total %d, %v (want ana by org, acme-fan by email)", len(rows), total, err)
	}
	if _, total, _ := st.ListUsers(ctx, UserFilter{Query: "BOB"}); total != 1 {
		t.Fatalf("case-insensitive email filter: %d", total)
	}
}
