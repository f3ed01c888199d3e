package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// Migration is one forward-only schema change, numbered by its file name
// (0001_init.sql). Each engine has its own set, with the same versions and
// the same schema meaning, in migrations/sqlite and migrations/postgres.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations of an engine (EngineSQLite or
// EnginePostgres) in order.
func Migrations(engine string) ([]Migration, error) {
	switch engine {
	case EngineSQLite, EnginePostgres:
		return loadMigrations(migrationFiles, "migrations/"+engine)
	}
	return nil, fmt.Errorf("migrations: unknown engine %q", engine)
}

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		data, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(data)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// Migrate applies the migrations that haven't run yet, each in its own
// transaction, and records them in schema_migrations.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations(s.engine)
	if err != nil {
		return err
	}
	return s.migrate(ctx, ms)
}

// MigrateTo applies migrations up to and including version; tests use it to
// build a database at an older schema.
func (s *Store) MigrateTo(ctx context.Context, version int) error {
	ms, err := Migrations(s.engine)
	if err != nil {
		return err
	}
	if version < len(ms) {
		ms = ms[:version]
	}
	return s.migrate(ctx, ms)
}

// migrationLock is the PostgreSQL advisory lock that instances take
// around migrating, so that instances starting together apply each
// migration once, one after the other ("lamb" in ASCII).
const migrationLock = 0x6c616d62

// migrationLockWait bounds the wait for another instance's migrations.
const migrationLockWait = 5 * time.Minute

func (s *Store) migrate(ctx context.Context, ms []Migration) error {
	// One connection for the whole run: on PostgreSQL the advisory lock
	// belongs to it.
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if s.engine == EnginePostgres {
		lctx, cancel := context.WithTimeout(ctx, migrationLockWait)
		_, err := conn.ExecContext(lctx, `SELECT pg_advisory_lock($1)`, migrationLock)
		cancel()
		if err != nil {
			return fmt.Errorf("migrate: wait for the migration lock (another instance migrating?): %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	}
	if err := createSchemaMigrations(ctx, conn, s.engine); err != nil {
		return err
	}
	current, err := schemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	if all, _ := Migrations(s.engine); current > len(all) {
		// A newer lamb migrated this database; older code could damage it.
		return fmt.Errorf("database schema is at version %d, newer than this lamb knows (%d): run the newer lamb", current, len(all))
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: begin: %w", m.Name, err)
		}
		if err := applyMigration(ctx, tx, s.engine, m, s.now()); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: commit: %w", m.Name, err)
		}
	}
	return nil
}

// execer runs statements: a connection or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// createSchemaMigrations creates the table that records applied
// migrations, when missing.
func createSchemaMigrations(ctx context.Context, db execer, engine string) error {
	stampType := "INTEGER"
	if engine == EnginePostgres {
		stampType = "BIGINT"
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at `+stampType+` NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

// applyMigration runs m and records it in schema_migrations, in tx.
func applyMigration(ctx context.Context, tx execer, engine string, m Migration, now time.Time) error {
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	record := `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`
	if engine == EnginePostgres {
		record = rebind(record)
	}
	if _, err := tx.ExecContext(ctx, record, m.Version, m.Name, now.Unix()); err != nil {
		return fmt.Errorf("migration %s: record: %w", m.Name, err)
	}
	return nil
}

// SchemaVersion returns the highest applied migration, 0 for a new database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.w)
}

func schemaVersion(ctx context.Context, db interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
