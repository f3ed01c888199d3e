// Package store keeps lamb's data in SQLite or PostgreSQL: migrations,
// queries and transactions. Both engines run the same query code; what
// differs between them is in this file, prepared.go, the migrations of
// each engine, and the few methods of Store that name the engine (locks.go,
// TakeThrottle). It knows nothing of permissions; the service layer does.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
)

// Errors returned by store methods. Callers check them with errors.Is.
var (
	ErrNotFound   = errors.New("not found")
	ErrConflict   = errors.New("already exists")
	ErrForeignKey = errors.New("referenced row missing or still referenced")
	// ErrInUse: another process holds the database (CopySQLite's source).
	ErrInUse = errors.New("the database is in use")
	// ErrNotEmpty: a copy's target already holds tables.
	ErrNotEmpty = errors.New("the target database is not empty")
	// ErrUnavailable says the database can't be reached: the server is
	// stopped or restarting, or the network to it is down. The cause is
	// kept beside it (errors.Is finds both) for the log; what people are
	// told is this text. The pool reconnects on its own once the server
	// answers again, so the same call may succeed a moment later.
	ErrUnavailable = errors.New("the server can't reach its database; try again in a moment")
)

// Store is the database. Writes go through a single connection so that
// concurrent writers queue in Go instead of failing with SQLITE_BUSY; reads
// use a pool of their own, which WAL lets run beside the writer.
//
// On PostgreSQL (OpenURL) one pool serves reads and writes, and write
// transactions are serializable (see InTx).
type Store struct {
	*Queries
	w  *sql.DB
	r  *sql.DB
	ws *stmtCache // the writer's prepared statements
	// statements counts what was sent to the database (Statements).
	statements atomic.Int64
	now        func() time.Time
	engine     string // EngineSQLite or EnginePostgres
	// onCommit runs after each committed write transaction (OnCommit).
	hooksMu  sync.Mutex
	onCommit []func(ctx context.Context)
}

// Options tune Open.
type Options struct {
	// Now stamps created_at and updated_at; time.Now when nil.
	Now func() time.Time
	// BusyTimeout bounds how long a connection waits for a lock held by
	// another process; 5s when zero. SQLite only.
	BusyTimeout time.Duration
	// ConnectTimeout bounds connecting to PostgreSQL; 10s when zero.
	ConnectTimeout time.Duration
	// MaxConns bounds the PostgreSQL pool; 16 when zero.
	MaxConns int
}

// Open opens (creating if needed) the database file at path. Call Migrate
// before use.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	// Create the file private to lamb's user; SQLite gives the WAL and
	// shared-memory files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	f.Close()
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", fmt.Sprint(opts.BusyTimeout.Milliseconds()))
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()

	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}

	q.Set("_query_only", "true")
	q.Del("_txlock")
	r, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	n := max(4, runtime.NumCPU()*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)

	s := &Store{w: w, r: r, now: opts.Now, engine: EngineSQLite}
	s.ws = newStmtCache(w, false, &s.statements)
	s.Queries = &Queries{r: pool{newStmtCache(r, false, &s.statements)}, w: pool{s.ws}, now: opts.Now}
	return s, nil
}

// Close closes the pools.
func (s *Store) Close() error {
	if s.r == s.w {
		return s.w.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// Statements is the number of statements sent to the database since it
// was opened, for /metrics and the benchmark's statements per request.
func (s *Store) Statements() int64 { return s.statements.Load() }

// Engine names the database engine: EngineSQLite or EnginePostgres.
func (s *Store) Engine() string { return s.engine }

// Shared reports whether several lamb instances may use this database
// (PostgreSQL): then what must be the same on every instance, such as the
// SSH host key, is kept in it rather than in one instance's data directory.
func (s *Store) Shared() bool { return s.engine == EnginePostgres }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", mapErr(err))
	}
	return nil
}

// Tx is a write transaction. Its Queries read and write through it.
type Tx struct {
	*Queries
}

// InTx runs fn in one write transaction, committed when fn returns nil.
//
// On SQLite the single writer connection runs one transaction at a time,
// so a rule that counts then writes ("at most N users", "not the last
// admin") holds. On PostgreSQL the transaction is SERIALIZABLE, so the
// same rules hold under concurrent writers from any number of processes:
// when two transactions' reads and writes overlap, one fails with a
// serialization failure and fn runs again from the start on fresh data
// (a bounded number of times). fn must therefore only read and write
// through tx and assign its results, which is how every caller uses it.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if s.engine == EnginePostgres {
		return s.inPostgresTx(ctx, sql.LevelSerializable, fn)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapErr(err))
	}
	// Rolled back unless committed, also when fn panics: the single write
	// connection must never be left inside an open transaction.
	defer tx.Rollback()
	var missed []string
	q := txStmts{tx: tx, c: s.ws, missed: &missed}
	if err := fn(&Tx{&Queries{r: q, w: q, now: s.now}}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	for _, query := range missed { // the connection is free: prepare them for next time
		s.ws.prepare(ctx, query)
	}
	s.committed(ctx)
	return nil
}

// InCountingTx is InTx for a transaction whose writes only insert rows and
// add to counters, each statement on its own (usage events and their
// rollups, spent budgets): nothing it reads decides what it writes. On
// PostgreSQL it runs at READ COMMITTED, so that processes writing the same
// rollups at once wait for each other's row locks, taken in key order,
// instead of failing with serialization errors and running again; on
// SQLite it is InTx.
func (s *Store) InCountingTx(ctx context.Context, fn func(tx *Tx) error) error {
	if s.engine == EnginePostgres {
		return s.inPostgresTx(ctx, sql.LevelReadCommitted, fn)
	}
	return s.InTx(ctx, fn)
}

// dbtx is what Queries need of *sql.DB and *sql.Tx.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Queries are the reads and writes of every table. On a Store, reads use
// the read pool and writes the writer; in a Tx both use the transaction.
type Queries struct {
	r, w dbtx
	now  func() time.Time
	// postgres: statements go over the network, so a batch is sent in as
	// few of them as the engine takes.
	postgres bool
}

func (q *Queries) stamp() int64 { return q.now().Unix() }

// mapErr turns SQLite and PostgreSQL errors into the store's errors,
// keeping the cause.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case pgUniqueViolation:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case pgForeignKeyViolation:
			return fmt.Errorf("%w: %v", ErrForeignKey, err)
		}
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case sqlite3.ErrConstraintForeignKey:
			return fmt.Errorf("%w: %v", ErrForeignKey, err)
		}
	}
	return err
}

// nullTime maps a nullable Unix-seconds column.
func nullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0).UTC()
}

func unix(v int64) time.Time { return time.Unix(v, 0).UTC() }

// timeArg stores a zero time as NULL.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}
