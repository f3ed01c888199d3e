package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"lamb/internal/pgtest"
)

// copySource is a migrated SQLite database with a row or more in every
// table of lamb's schema, ids with gaps, NULLs, floats, 0/1 booleans and
// sealed-looking secrets.
func copySource(t *testing.T) (path string, st *Store) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "lamb.db")
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	st, err := Open(path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	err = st.InTx(ctx, func(tx *Tx) error {
		sys, err := tx.CreateOrg(ctx, Org{Slug: "lamb", Name: "LAMB", IsSystem: true, Status: "active", Config: `{"version":1}`})
		if err != nil {
			return err
		}
		acme, err := tx.CreateOrg(ctx, Org{Slug: "acme", Name: "Acme", Status: "suspended", Config: `{"version":1,"x":"enc:v1:AAAA"}`,
			SignupKeyEnc: "enc:v1:c2lnbnVw", SignupKeyHash: "hmac-1"})
		if err != nil {
			return err
		}
		gone, err := tx.CreateOrg(ctx, Org{Slug: "gone", Name: "Gone", Status: "active", Config: `{}`})
		if err != nil {
			return err
		}
		root, err := tx.CreateUser(ctx, User{OrganizationID: sys.ID, Email: "root@x.example", Name: "Root", Role: "admin", SystemAdmin: true, Enabled: true})
		if err != nil {
			return err
		}
		ana, err := tx.CreateUser(ctx, User{OrganizationID: acme.ID, Email: "ana@x.example", Name: "Ana", Role: "member", Enabled: false})
		if err != nil {
			return err
		}
		bob, err := tx.CreateUser(ctx, User{OrganizationID: acme.ID, Email: "bob@x.example", Name: "Bob", Role: "admin", Enabled: true})
		if err != nil {
			return err
		}
		if err := tx.TouchUser(ctx, root.ID); err != nil {
			return err
		}
		for i, u := range []User{root, ana, bob} {
			if _, err := tx.AddSSHKey(ctx, SSHKey{OrganizationID: u.OrganizationID, UserID: u.ID,
				Fingerprint: fmt.Sprintf("SHA256:fp%d", i), PublicKey: fmt.Sprintf("ssh-ed25519 AAAA%d", i)}); err != nil {
				return err
			}
		}
		temp := 0.7
		tutor, err := tx.CreateAssistant(ctx, Assistant{OrganizationID: acme.ID, OwnerUserID: bob.ID, Name: "Tutor", Provider: "openai",
			Model: "gpt-4o-mini", Temperature: &temp, KnowledgeBase: &AssistantKB{Collections: []string{"1"}, TopK: 3, Threshold: 0.25, OnError: "continue"},
			PromptTemplate: "{context}\n{user_input}", Enabled: true})
		if err != nil {
			return err
		}
		plain, err := tx.CreateAssistant(ctx, Assistant{OrganizationID: acme.ID, OwnerUserID: ana.ID, Name: "Plain", Provider: "ollama", Model: "llama3.1"})
		if err != nil {
			return err
		}
		orgKey, err := tx.CreateAPIKey(ctx, APIKey{OrganizationID: acme.ID, Name: "lms", Prefix: "lamb_abc", Hash: "h1", ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			return err
		}
		if _, err := tx.CreateAPIKey(ctx, APIKey{OrganizationID: acme.ID, UserID: ana.ID, Name: "mine", Prefix: "lamb_def", Hash: "h2"}); err != nil {
			return err
		}
		if err := tx.RevokeAPIKey(ctx, orgKey.ID); err != nil {
			return err
		}
		if err := tx.InsertUsage(ctx, []UsageEvent{
			{OrganizationID: acme.ID, AssistantID: tutor.ID, UserID: bob.ID, APIKeyID: orgKey.ID, Provider: "openai", Model: "gpt-4o-mini",
				PromptTokens: 12, CompletionTokens: 3, Status: "ok", HTTPStatus: 200, LatencyMS: 41, Stream: true, Retrieved: true, KBMS: 7, KBChunks: 2, CreatedAt: now},
			{OrganizationID: acme.ID, AssistantID: plain.ID, UserID: ana.ID, Provider: "ollama", Model: "llama3.1",
				PromptTokens: 5, Status: "provider_error", HTTPStatus: 502, Estimated: true, CreatedAt: now},
			{OrganizationID: acme.ID, Status: "insufficient_quota", HTTPStatus: 429, Refused: true, CreatedAt: now},
		}); err != nil {
			return err
		}
		if err := tx.InsertAudit(ctx, AuditEvent{OrganizationID: acme.ID, ActorUserID: root.ID, Actor: "root@x.example", Action: "org.create",
			Target: "acme", Details: `{"name":"Acme"}`, CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.InsertAudit(ctx, AuditEvent{OrganizationID: sys.ID, Actor: "system", Action: "config.sync", CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.SetSetting(ctx, "secret_key_check", "enc:v1:Y2hlY2s"); err != nil {
			return err
		}
		if err := tx.SetSetting(ctx, "claim_code", "hash"); err != nil {
			return err
		}
		// Gaps: ids handed out and deleted must stay unused after the copy.
		if _, err := tx.CreateUser(ctx, User{OrganizationID: acme.ID, Email: "gone@x.example", Name: "Gone", Role: "member", Enabled: true}); err != nil {
			return err
		}
		gu, err := tx.UserByEmail(ctx, "gone@x.example")
		if err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, gu.ID); err != nil {
			return err
		}
		return tx.DeleteOrg(ctx, gone.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return path, st
}

// emptyPostgres opens a new, empty PostgreSQL database.
func emptyPostgres(t *testing.T) (*Store, string) {
	t.Helper()
	url := pgtest.URL(t)
	st, err := OpenURL(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, url
}

// dump returns every row of a table as text, sorted, with the columns in
// name order: the same for the same data on either engine.
func dump(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM ` + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	order := make([]int, len(cols))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(cols[a], cols[b]) })
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, i := range order {
			v := vals[i]
			if x, ok := v.([]byte); ok {
				v = string(x)
			}
			fmt.Fprintf(&b, "%s=%v|", cols[i], v)
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// tableNames lists the tables of a database of either engine.
func tableNames(t *testing.T, st *Store) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
	if st.engine == EnginePostgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`
	}
	names, err := queryStrings(context.Background(), st.r, q)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Every table is copied row for row, ids kept; the migration-filled
// counters hold the source's values, not the target's fresh ones nor
// values moved by the target's triggers during the copy; and new rows
// continue after the copied ids on every kind of id.
func TestCopySQLiteCopiesEveryRow(t *testing.T) {
	ctx := context.Background()
	path, src := copySource(t)
	dst, _ := emptyPostgres(t)
	wantChanges, err := src.ChangeCount(ctx)
	if err != nil || wantChanges == 0 {
		t.Fatalf("source change counter = %d, %v; the fixture should have moved it", wantChanges, err)
	}
	src.Close() // a stopped lamb
	src, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	srcTables := tableNames(t, src)
	before := map[string][]string{}
	for _, table := range srcTables {
		before[table] = dump(t, src.r, table)
	}
	src.Close()

	rep, err := CopySQLite(ctx, path, dst)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := Migrations(EnginePostgres)
	if rep.SchemaVersion != len(all) {
		t.Errorf("report: schema version %d, want %d", rep.SchemaVersion, len(all))
	}
	if v, err := dst.SchemaVersion(ctx); err != nil || v != len(all) {
		t.Fatalf("target schema version = %d, %v; want %d", v, err, len(all))
	}
	var reported []string
	for _, tc := range rep.Tables {
		reported = append(reported, tc.Name)
		if tc.Source != tc.Target || tc.Source != int64(len(before[tc.Name])) {
			t.Errorf("report: %s has %d → %d rows, the source %d", tc.Name, tc.Source, tc.Target, len(before[tc.Name]))
		}
	}
	if want := slices.DeleteFunc(slices.Clone(srcTables), func(n string) bool { return n == "schema_migrations" }); !slices.Equal(reported, want) {
		t.Errorf("report lists %v, want every table but schema_migrations: %v", reported, want)
	}
	for _, table := range srcTables {
		if table == "schema_migrations" {
			continue // the target's own migrations filled it
		}
		got := dump(t, dst.r, table)
		if !slices.Equal(got, before[table]) {
			t.Errorf("%s differs after the copy:\nSQLite:     %q\nPostgreSQL: %q", table, before[table], got)
		}
	}
	if n, err := dst.ChangeCount(ctx); err != nil || n != wantChanges {
		t.Errorf("change counter = %d, %v; want the source's %d", n, err, wantChanges)
	}

	// New rows: ids from id_sequences (users), and from the target's
	// identity sequences (ssh keys, audit, usage), never a copied one.
	acme, err := dst.OrgBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := dst.CreateUser(ctx, User{OrganizationID: acme.ID, Email: "new@x.example", Name: "New", Role: "member", Enabled: true})
	if err != nil {
		t.Fatalf("a user after the copy: %v", err)
	}
	if u.ID != 5 { // four users were created in SQLite, the fourth deleted
		t.Errorf("new user id = %d, want 5 (after the deleted 4)", u.ID)
	}
	k, err := dst.AddSSHKey(ctx, SSHKey{OrganizationID: acme.ID, UserID: u.ID, Fingerprint: "SHA256:new", PublicKey: "ssh-ed25519 NEW"})
	if err != nil {
		t.Fatalf("an SSH key after the copy: %v", err)
	}
	if k.ID <= 3 {
		t.Errorf("new SSH key id = %d, a copied one's", k.ID)
	}
	if err := dst.InsertAudit(ctx, AuditEvent{OrganizationID: acme.ID, Actor: "x", Action: "user.create", CreatedAt: time.Now()}); err != nil {
		t.Fatalf("an audit event after the copy: %v", err)
	}
	if err := dst.InTx(ctx, func(tx *Tx) error {
		return tx.InsertUsage(ctx, []UsageEvent{{OrganizationID: acme.ID, Status: "ok", HTTPStatus: 200, CreatedAt: time.Now()}})
	}); err != nil {
		t.Fatalf("a usage event after the copy: %v", err)
	}
	var maxUsage, maxAudit int64
	dst.r.QueryRow(`SELECT MAX(id) FROM usage_events`).Scan(&maxUsage)
	dst.r.QueryRow(`SELECT MAX(id) FROM audit_events`).Scan(&maxAudit)
	if maxUsage != 4 || maxAudit != 3 {
		t.Errorf("new usage event id %d, audit event id %d; want 4 and 3, right after the copied ones", maxUsage, maxAudit)
	}
	if _, err := dst.CreateAssistant(ctx, Assistant{OrganizationID: acme.ID, OwnerUserID: u.ID, Name: "New", Provider: "openai", Model: "m"}); err != nil {
		t.Fatalf("an assistant after the copy: %v", err)
	}
	if n, _ := dst.ChangeCount(ctx); n != wantChanges+1 {
		t.Errorf("change counter after a new assistant = %d, want %d: its triggers are off after the copy", n, wantChanges+1)
	}
}

// emptyCheck describes a database to compare before and after a refused
// copy: its tables and their rows.
func snapshot(t *testing.T, st *Store) map[string][]string {
	t.Helper()
	s := map[string][]string{}
	for _, table := range tableNames(t, st) {
		s[table] = dump(t, st.r, table)
	}
	return s
}

func sameSnapshot(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// A database that already holds something is never written to: neither
// someone else's tables nor a lamb that ran on it.
func TestCopySQLiteRefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	path, src := copySource(t)
	src.Close()
	for name, fill := range map[string]func(t *testing.T, st *Store){
		"other tables": func(t *testing.T, st *Store) {
			if _, err := st.w.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'keep me')`); err != nil {
				t.Fatal(err)
			}
		},
		"a lamb ran on it": func(t *testing.T, st *Store) {
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateOrg(ctx, Org{Slug: "lamb", Name: "LAMB", IsSystem: true, Status: "active", Config: `{}`}); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dst, _ := emptyPostgres(t)
			fill(t, dst)
			before := snapshot(t, dst)
			_, err := CopySQLite(ctx, path, dst)
			if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "new, empty database") {
				t.Fatalf("copy into a non-empty database: %v, want ErrNotEmpty saying to use an empty one", err)
			}
			if after := snapshot(t, dst); !sameSnapshot(before, after) {
				t.Fatalf("the refused target changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// A row that PostgreSQL refuses (here a key of a user that no longer
// exists, which SQLite keeps when foreign keys were off) fails the copy
// late, after the migrations and the other tables: nothing of it stays.
func TestCopySQLiteFailingCheckWritesNothing(t *testing.T) {
	ctx := context.Background()
	path, src := copySource(t)
	src.Close()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=off")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO usage_events (organization_id, user_id, status, http_status, created_at) VALUES (2, 999, 'ok', 200, 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	dst, _ := emptyPostgres(t)
	_, err = CopySQLite(ctx, path, dst)
	if err == nil || !strings.Contains(err.Error(), "usage_events") {
		t.Fatalf("copy of a dangling reference: %v, want an error naming usage_events", err)
	}
	if tables := tableNames(t, dst); len(tables) != 0 {
		t.Fatalf("a failed copy left tables in the target: %v", tables)
	}
}

// A source that lamb hasn't migrated to this version is refused with the
// way forward; so is one migrated by a newer lamb.
func TestCopySQLiteRefusesOtherSchemaVersions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lamb.db")
	src, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.MigrateTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst, _ := emptyPostgres(t)
	_, err = CopySQLite(ctx, path, dst)
	if err == nil || !strings.Contains(err.Error(), "version 3") || !strings.Contains(err.Error(), "start lamb once") {
		t.Fatalf("copy of an old schema: %v, want it refused, saying to start lamb once", err)
	}
	if src, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := src.w.Exec(`INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	src.Close()
	_, err = CopySQLite(ctx, path, dst)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("copy of a newer schema: %v, want it refused", err)
	}
	if tables := tableNames(t, dst); len(tables) != 0 {
		t.Fatalf("a refused copy left tables in the target: %v", tables)
	}
}

// A table that PostgreSQL's migrations don't have (a schema drift, or a
// table someone added by hand) stops the copy, naming it.
func TestCopySQLiteRefusesDifferentSchemas(t *testing.T) {
	ctx := context.Background()
	path, src := copySource(t)
	if _, err := src.w.Exec(`CREATE TABLE extra (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst, _ := emptyPostgres(t)
	_, err := CopySQLite(ctx, path, dst)
	if err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("copy with an extra table: %v, want an error naming it", err)
	}
	if tables := tableNames(t, dst); len(tables) != 0 {
		t.Fatalf("a refused copy left tables in the target: %v", tables)
	}
}

// A lamb still running on the SQLite file would keep writing after the
// copy: the copy sees the file held and refuses, writing nothing.
func TestCopySQLiteRefusesDatabaseInUse(t *testing.T) {
	ctx := context.Background()
	path, src := copySource(t) // open, as a running lamb holds it
	if _, err := src.Setting(ctx, "claim_code"); err != nil {
		t.Fatal(err)
	}
	dst, _ := emptyPostgres(t)
	_, err := CopySQLite(ctx, path, dst)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "stop") {
		t.Fatalf("copy of a database in use: %v, want ErrInUse saying to stop lamb", err)
	}
	if tables := tableNames(t, dst); len(tables) != 0 {
		t.Fatalf("a refused copy left tables in the target: %v", tables)
	}
	if err := src.SetSetting(ctx, "after", "x"); err != nil {
		t.Fatalf("the running lamb can't write after the refused copy: %v", err)
	}
}

// A mistyped path is reported, and no empty database is made there.
func TestCopySQLiteMissingSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lamb.db")
	dst, _ := emptyPostgres(t)
	_, err := CopySQLite(context.Background(), path, dst)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("copy of a missing file: %v, want an error naming it", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the copy created the missing source file")
	}
}

// Values cross from SQLite's storage classes to PostgreSQL's column
// types; those that don't fit are errors that don't show the value.
func TestConvertValue(t *testing.T) {
	for _, c := range []struct {
		in     any
		pgType string
		want   any
	}{
		{nil, "bigint", nil},
		{int64(7), "integer", int64(7)},
		{float64(3), "bigint", int64(3)},
		{"42", "bigint", int64(42)},
		{true, "integer", int64(1)},
		{time.Unix(1700000000, 0), "bigint", int64(1700000000)},
		{int64(2), "double precision", float64(2)},
		{0.25, "double precision", 0.25},
		{int64(1), "boolean", true},
		{int64(0), "boolean", false},
		{"enc:v1:AAAA", "bytea", []byte("enc:v1:AAAA")},
		{[]byte{0, 1, 2}, "bytea", []byte{0, 1, 2}},
		{[]byte("text"), "text", "text"},
		{int64(5), "text", "5"},
		{"{}", "jsonb", "{}"},
		{"2026-01-01", "date", "2026-01-01"}, // left to pgx
	} {
		got, err := convertValue(c.in, c.pgType)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("convertValue(%#v, %s) = %#v, %v; want %#v", c.in, c.pgType, got, err, c.want)
		}
	}
	for _, c := range []struct {
		in     any
		pgType string
	}{
		{"sk-secret", "bigint"},
		{1.5, "integer"},
		{math.Inf(1), "bigint"},
		{int64(2), "boolean"},
		{[]byte{0xff, 0xfe}, "text"},
		{0.5, "bytea"},
	} {
		_, err := convertValue(c.in, c.pgType)
		if err == nil {
			t.Errorf("convertValue(%#v, %s) accepted it", c.in, c.pgType)
		} else if strings.Contains(err.Error(), "sk-secret") {
			t.Errorf("the error shows the value: %v", err)
		}
	}
}
