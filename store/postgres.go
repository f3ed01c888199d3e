package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// The engines Store.Engine names.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// PostgreSQL error codes the store acts on.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgSerializationFail   = "40001"
	pgDeadlockDetected    = "40P01"
	// The server ended the session or won't take one: an operator's
	// shutdown, a crash and restart, a server still starting. Class 08
	// (connection exceptions) means the same.
	pgAdminShutdown    = "57P01"
	pgCrashShutdown    = "57P02"
	pgCannotConnectNow = "57P03"
)

// txAttempts bounds how often InTx runs a PostgreSQL transaction that
// lost a serialization conflict.
const txAttempts = 10

// IsPostgresURL reports whether rawURL names a PostgreSQL database.
func IsPostgresURL(rawURL string) bool {
	return strings.HasPrefix(rawURL, "postgres://") || strings.HasPrefix(rawURL, "postgresql://")
}

// OpenURL opens the PostgreSQL database at rawURL (postgres://…) and checks
// that it answers within opts.ConnectTimeout. Errors never contain the
// URL's password. Call Migrate before use.
func OpenURL(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if !IsPostgresURL(rawURL) {
		return nil, errors.New("open database: the URL must start with postgres:// or postgresql://")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 16
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", redact(err, rawURL))
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > opts.ConnectTimeout {
		cfg.ConnectTimeout = opts.ConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	pctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", Redacted(rawURL), redact(err, rawURL))
	}
	s := &Store{w: db, r: db, now: opts.Now, engine: EnginePostgres}
	c := newStmtCache(db, true, &s.statements)
	s.ws = c
	s.Queries = &Queries{r: pool{c}, w: pool{c}, now: opts.Now, postgres: true}
	return s, nil
}

// Redacted returns rawURL without its password, for messages and logs.
func Redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable database URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redact removes rawURL's password from err's text, whatever the driver
// put in it.
func redact(err error, rawURL string) error {
	var pws []string
	if u, perr := url.Parse(rawURL); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			pws = append(pws, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
		if pw := u.Query().Get("password"); pw != "" {
			pws = append(pws, pw, url.QueryEscape(pw))
		}
	}
	msg := err.Error()
	clean := msg
	for _, pw := range pws {
		clean = strings.ReplaceAll(clean, pw, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

// inPostgresTx is InTx on PostgreSQL: a serializable transaction, run
// again when it loses a serialization conflict or a deadlock.
func (s *Store) inPostgresTx(ctx context.Context, level sql.IsolationLevel, fn func(tx *Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.postgresTxOnce(ctx, level, fn)
		if !retryable(err) || attempt == txAttempts {
			return err
		}
		// Jittered, growing pause so that the transactions that collided
		// don't collide again in step.
		wait := time.Duration(rand.Int64N(int64(time.Millisecond)<<min(attempt, 7))) + time.Millisecond
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (s *Store) postgresTxOnce(ctx context.Context, level sql.IsolationLevel, fn func(tx *Tx) error) error {
	if err := s.postgresTxOn(ctx, level, fn); err != nil {
		return err
	}
	// With the transaction's connection back in the pool: the hooks read,
	// and a full pool must not wait for a connection its own transactions
	// hold.
	s.committed(ctx)
	return nil
}

func (s *Store) postgresTxOn(ctx context.Context, level sql.IsolationLevel, fn func(tx *Tx) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapErr(err))
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{Isolation: level})
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapErr(err))
	}
	defer tx.Rollback()
	q := txStmts{tx: tx, c: s.ws, conn: conn}
	if err := fn(&Tx{&Queries{r: q, w: q, now: s.now, postgres: true}}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

// aborted reports whether a statement of the PostgreSQL transaction on
// conn failed. PostgreSQL then refuses every further statement of the
// transaction, which can only roll back; SQLite lets it go on. A caller
// that answers a conflict by reading what it conflicted with (whose is
// this email?) reads committed data from the pool instead (txStmts).
func aborted(conn *sql.Conn) bool {
	failed := false
	conn.Raw(func(dc any) error {
		if c, ok := dc.(*stdlib.Conn); ok {
			failed = c.Conn().PgConn().TxStatus() == 'E'
		}
		return nil
	})
	return failed
}

// unreachable tells whether err says that the database can't be reached,
// went away, or didn't answer within the caller's bound (a frozen server,
// a network that drops packets, a stuck disk: lamb's statements are short,
// so one that runs out of time is a database not answering), rather than
// refusing one statement: mapErr turns it into ErrUnavailable, which every
// transport answers the same way (HTTP 503 service_unavailable, a status
// line in the console).
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller went away
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case pgAdminShutdown, pgCrashShutdown, pgCannotConnectNow:
			return true
		}
		return strings.HasPrefix(pe.Code, "08")
	}
	// A connection that broke mid-statement: database/sql retries the
	// ones that broke before, so these are the rest.
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF)
}

// retryable tells whether a PostgreSQL transaction failed only because a
// concurrent one won: running it again may succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == pgSerializationFail || pe.Code == pgDeadlockDetected)
}
