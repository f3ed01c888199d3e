package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"lamb/config"
	"lamb/internal/pgtest"
	"lamb/secret"
	"lamb/store"
)

// testEnv is a service over a real database with migrations applied: a
// SQLite file, or a fresh PostgreSQL database (newTestEnvOn).
type testEnv struct {
	svc *Service
	st  *store.Store
	key []byte
	dir string
	url string // PostgreSQL's, "" for SQLite
	now time.Time
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	return newTestEnvOn(t, store.EngineSQLite)
}

// newTestEnvOn is newTestEnv on an engine: store.EngineSQLite or
// store.EnginePostgres (which skips, or fails in CI, without a server).
func newTestEnvOn(t testing.TB, engine string) *testEnv {
	t.Helper()
	dir := t.TempDir()
	key := make([]byte, secret.KeySize)
	rand.Read(key)
	e := &testEnv{key: key, dir: dir, now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	if engine == store.EnginePostgres {
		e.url = pgtest.URL(t)
	}
	e.open(t, key)
	return e
}

func (e *testEnv) open(t testing.TB, key []byte) {
	t.Helper()
	clock := func() time.Time { return e.now }
	var st *store.Store
	var err error
	if e.url != "" {
		st, err = store.OpenURL(context.Background(), e.url, store.Options{Now: clock})
	} else {
		st, err = store.Open(filepath.Join(e.dir, "lamb.db"), store.Options{Now: clock})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	// Limits in memory, whatever the engine: tests move e.now while the
	// service runs, and shared limits read the clock in the background
	// (the tests of shared limits give them a clock of their own).
	e.svc = New(Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: clock, SharedLimits: new(bool)})
}

// newKey returns a fresh ed25519 public key as an authorized-key line.
func newKey(t *testing.T, comment string) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment, ssh.FingerprintSHA256(pk)
}

func strp(s string) *string { return &s }

func mustSync(t testing.TB, e *testEnv, env config.System) []config.Change {
	t.Helper()
	ch, err := e.svc.SyncSystemOrg(context.Background(), SystemActor(), env)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func (e *testEnv) auditCount(t *testing.T, action string) int {
	t.Helper()
	if action == "*" {
		return e.count(t, `SELECT COUNT(*) FROM audit_events`)
	}
	evs, err := e.st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func (e *testEnv) systemConfig(t *testing.T) *config.Org {
	t.Helper()
	org, err := e.st.SystemOrg(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.openConfig(org)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func storeFilterAll() store.AuditFilter { return store.AuditFilter{Limit: 1000} }

func storeOrg(slug string) store.Org {
	return store.Org{Slug: slug, Name: slug, Config: string(config.NewOrg().JSON())}
}

func readFileIfExists(path string) ([]byte, error) { return os.ReadFile(path) }

// rawDB opens a second connection to the test database, for rows the store
// has no query for yet (assistants, API keys) and for whole-table checks.
func (e *testEnv) rawDB(t testing.TB) *sql.DB {
	t.Helper()
	driver, dsn := "sqlite3", "file:"+filepath.Join(e.dir, "lamb.db")+"?_foreign_keys=on&_busy_timeout=5000"
	if e.url != "" {
		driver, dsn = "pgx", e.url
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// count runs a SELECT COUNT(*) query on the raw database.
func (e *testEnv) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.rawDB(t).QueryRow(e.sql(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// sql returns query for the raw database: on PostgreSQL with $1, $2…
// for the ? placeholders (test queries have no ? in their literals).
func (e *testEnv) sql(query string) string {
	if e.url == "" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dump renders every row of every table: a refused operation must leave it
// byte for byte the same.
func (e *testEnv) dump(t *testing.T) string {
	t.Helper()
	db := e.rawDB(t)
	tables := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if e.url != "" {
		tables = `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`
	}
	rows, err := db.Query(tables)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	var b strings.Builder
	for _, table := range names {
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&b, "%s %v\n", table, cols)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					vals[i] = string(bs)
				}
			}
			fmt.Fprintf(&b, "  %v\n", vals)
		}
		rows.Close()
	}
	return b.String()
}

// snapshotDir closes e and returns the directory of its database file, to
// be copied by cloneEnv: building a populated database once and copying it
// per test case is much faster than hashing its passwords again.
func (e *testEnv) snapshotDir(t *testing.T) string {
	t.Helper()
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	return e.dir
}

// cloneEnv opens a copy of the database that snapshotDir left in dir,
// under the same secret key and clock.
func cloneEnv(t *testing.T, dir string, key []byte) *testEnv {
	t.Helper()
	e := &testEnv{key: key, dir: t.TempDir(), now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	for _, f := range []string{"lamb.db", "lamb.db-wal"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.open(t, key)
	return e
}

// mustUser reads a user row by email.
func (e *testEnv) mustUser(t *testing.T, email string) store.User {
	t.Helper()
	u, err := e.st.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

// mustOrg reads an org row by slug.
func (e *testEnv) mustOrg(t *testing.T, slug string) store.Org {
	t.Helper()
	o, err := e.st.OrgBySlug(context.Background(), slug)
	if err != nil {
		t.Fatalf("organization %s: %v", slug, err)
	}
	return o
}

// sysAdmin bootstraps a system admin with a key and returns their actor.
func sysAdmin(t *testing.T, e *testEnv, email string) Actor {
	t.Helper()
	ctx := context.Background()
	line, fp := newKey(t, email)
	if err := e.svc.BootstrapAdmins(ctx, SystemActor(), []string{line}, email, "Root"); err != nil {
		t.Fatal(err)
	}
	a, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// userWithKey creates a user through the service (as a) with a fresh SSH
// key and password, and returns the actor that key signs in as.
func userWithKey(t *testing.T, e *testEnv, a Actor, org, email, role, password string) (Actor, string) {
	t.Helper()
	ctx := context.Background()
	line, fp := newKey(t, email)
	if _, err := e.svc.CreateUser(ctx, a, CreateUserInput{OrgSlug: org, Email: email, Name: email, Role: role, Password: password, SSHKey: line}); err != nil {
		t.Fatalf("create %s: %v", email, err)
	}
	u, err := e.svc.ActorForSSHKey(ctx, fp)
	if err != nil {
		t.Fatal(err)
	}
	return u, fp
}

// lastAudit returns the newest audit event of action.
func (e *testEnv) lastAudit(t *testing.T, action string) store.AuditEvent {
	t.Helper()
	evs, err := e.st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatalf("no %s audit event", action)
	}
	return evs[0]
}

// matrixCell runs one cell of a permission matrix and checks its answer:
// 'a' allowed (audited as audit, any action for "*"; with readsUnchanged,
// a read must change nothing), 'F' ErrForbidden, 'N' ErrNotFound, the
// answer for a missing object, 'D' ErrDisabled or ErrOrgSuspended, the
// answer to a session whose user or org was switched off, 'I' ErrInvalid
// (a rule of the input, not a permission). A refused call
// must leave every table as it was.
// bookkeeping, as a matrix row's audit action, marks an operation that
// records state (a connection test's result) without changing anything
// an audit should show.
const bookkeeping = "-"

func matrixCell(t *testing.T, e *testEnv, name string, want byte, audit string, readsUnchanged bool, run func() error) {
	t.Helper()
	before := e.dump(t)
	auditsBefore := 0
	if audit != "" {
		auditsBefore = e.auditCount(t, audit)
	}
	err := run()
	switch want {
	case 'a':
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		if n := e.auditCount(t, audit); audit == "*" && n <= auditsBefore || audit != "*" && audit != "" && audit != bookkeeping && n != auditsBefore+1 {
			t.Errorf("allowed %s not audited as %s", name, audit)
		}
		if readsUnchanged && audit == "" && e.dump(t) != before {
			t.Errorf("read %s changed the database", name)
		}
		return
	case 'F':
		if !errors.Is(err, ErrForbidden) {
			t.Fatalf("got %v, want ErrForbidden", err)
		}
	case 'N':
		if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) {
			t.Fatalf("got %v, want ErrNotFound (the answer for a missing object)", err)
		}
	case 'D':
		if !errors.Is(err, ErrDisabled) && !errors.Is(err, ErrOrgSuspended) {
			t.Fatalf("got %v, want ErrDisabled or ErrOrgSuspended", err)
		}
	case 'I':
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v, want ErrInvalid", err)
		}
	default:
		t.Fatalf("bad letter %q", want)
	}
	if after := e.dump(t); after != before {
		t.Errorf("refused %s changed the database:\nbefore:\n%s\nafter:\n%s", name, before, after)
	}
}

// newTestEnvFrom is newTestEnv over a database first migrated only to
// schema version, where prepare writes rows as that schema held them; the
// database is then migrated to the current schema, as an upgrade does.
func newTestEnvFrom(t *testing.T, version int, prepare func(db *sql.DB)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "lamb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MigrateTo(context.Background(), version); err != nil {
		st.Close()
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{dir: dir, now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	prepare(e.rawDB(t))
	e.key = make([]byte, secret.KeySize)
	rand.Read(e.key)
	e.open(t, e.key)
	return e
}
