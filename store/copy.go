package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
)

// Moving an embedded deployment to PostgreSQL: CopySQLite reads every
// table of a SQLite database and writes it into an empty PostgreSQL
// database in one transaction, so that a failed check leaves the target
// as it was. Tables and columns come from the schema, not from a list
// here, so tables added by later migrations are copied without edits.

// CopiedTable is one table of a copy: its rows in the source, and in the
// target once copied.
type CopiedTable struct {
	Name   string
	Source int64
	Target int64
}

// CopyReport says what CopySQLite copied.
type CopyReport struct {
	SchemaVersion int
	Tables        []CopiedTable
}

// Rows is the number of rows copied, over all tables.
func (r CopyReport) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Target
	}
	return n
}

// CopySQLite copies the lamb database in the SQLite file at path into dst,
// an empty PostgreSQL database, in one transaction: dst is migrated to the
// same schema version, every table is copied with its ids, the sequences
// that hand out ids continue after the copied ones, and the row counts of
// every table are compared. Sealed secrets are copied as they are, so dst
// needs the same secret key. The SQLite file is held with an exclusive
// lock throughout: a lamb using it makes the copy fail with ErrInUse, and
// a lamb started meanwhile waits or fails to open it.
func CopySQLite(ctx context.Context, path string, dst *Store) (CopyReport, error) {
	if dst.engine != EnginePostgres {
		return CopyReport{}, errors.New("the copy's target must be a PostgreSQL database")
	}
	if _, err := os.Stat(path); err != nil {
		return CopyReport{}, fmt.Errorf("no SQLite database at %s: %w", path, err)
	}
	src, err := openExclusive(path)
	if err != nil {
		return CopyReport{}, err
	}
	defer src.Close()
	stx, err := src.BeginTx(ctx, nil) // BEGIN EXCLUSIVE (see openExclusive)
	if err != nil {
		return CopyReport{}, sourceErr(path, err)
	}
	defer stx.Rollback() // the source is only read
	rep, err := readSource(ctx, path, stx)
	if err != nil {
		return CopyReport{}, err
	}

	conn, err := dst.w.Conn(ctx)
	if err != nil {
		return CopyReport{}, fmt.Errorf("connect to the target: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return CopyReport{}, fmt.Errorf("begin the target's transaction: %w", err)
	}
	defer tx.Rollback() // unless every step and check passed
	if err := copyInto(ctx, stx, conn, tx, dst.now(), &rep); err != nil {
		return CopyReport{}, err
	}
	if err := tx.Commit(); err != nil {
		return CopyReport{}, fmt.Errorf("commit the target's transaction: %w", err)
	}
	return rep, nil
}

// openExclusive opens the SQLite file at path for a copy: never creating
// it, with one connection that takes the file's lock exclusively on its
// first statement and keeps it. A lamb process keeps the file open (and
// so locked for sharing) while it runs, which makes the lock fail: that
// is how a running instance is detected.
func openExclusive(path string) (*sql.DB, error) {
	dsn := "file:" + path + "?mode=rw&_locking_mode=EXCLUSIVE&_txlock=exclusive&_busy_timeout=2000"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// sourceErr explains an error of the SQLite source, ErrInUse when another
// process holds it.
func sourceErr(path string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) {
		return fmt.Errorf("%w: %s is open in another process (a running lamb?): stop every lamb that uses this data directory, then copy again", ErrInUse, path)
	}
	return fmt.Errorf("read %s: %w", path, err)
}

// readSource checks the source's schema version and lists its tables
// with their row counts.
func readSource(ctx context.Context, path string, stx *sql.Tx) (CopyReport, error) {
	ms, err := Migrations(EngineSQLite)
	if err != nil {
		return CopyReport{}, err
	}
	var hasMigrations int
	if err := stx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&hasMigrations); err != nil {
		return CopyReport{}, sourceErr(path, err)
	}
	if hasMigrations == 0 {
		return CopyReport{}, fmt.Errorf("%s is not a lamb database (it has no schema_migrations table)", path)
	}
	version, err := schemaVersion(ctx, stx)
	if err != nil {
		return CopyReport{}, sourceErr(path, err)
	}
	switch {
	case version < len(ms):
		return CopyReport{}, fmt.Errorf("%s is at schema version %d, this lamb's is %d: start lamb once with this data directory so that it migrates the database, stop it, then copy again",
			path, version, len(ms))
	case version > len(ms):
		return CopyReport{}, fmt.Errorf("%s is at schema version %d, newer than this lamb knows (%d): copy with the newer lamb that migrated it",
			path, version, len(ms))
	}
	names, err := queryStrings(ctx, stx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return CopyReport{}, sourceErr(path, err)
	}
	rep := CopyReport{SchemaVersion: version}
	for _, name := range names {
		t := CopiedTable{Name: name}
		if err := stx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(name)).Scan(&t.Source); err != nil {
			return CopyReport{}, fmt.Errorf("count the rows of %s: %w", name, err)
		}
		rep.Tables = append(rep.Tables, t)
	}
	return rep, nil
}

// copyInto does the target's part in tx: checks that it is empty,
// migrates it, copies the tables of rep in foreign-key order, sets the
// sequences and compares the counts.
func copyInto(ctx context.Context, stx *sql.Tx, conn *sql.Conn, tx *sql.Tx, now time.Time, rep *CopyReport) error {
	// An instance starting on this database at the same moment would
	// migrate it: hold the migration lock until the end.
	var locked bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, migrationLock).Scan(&locked); err != nil {
		return fmt.Errorf("take the migration lock of the target: %w", err)
	}
	if !locked {
		return fmt.Errorf("%w: a lamb is migrating it right now: copy into a new, empty database", ErrNotEmpty)
	}
	existing, err := targetTables(ctx, tx, false)
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		shown := strings.Join(existing[:min(len(existing), 5)], ", ")
		if len(existing) > 5 {
			shown += ", …"
		}
		return fmt.Errorf("%w: it has tables (%s): copy into a new, empty database (createdb), or drop this one and create it again",
			ErrNotEmpty, shown)
	}

	ms, err := Migrations(EnginePostgres)
	if err != nil {
		return err
	}
	if len(ms) != rep.SchemaVersion {
		return fmt.Errorf("this lamb has %d PostgreSQL migrations for %d SQLite ones", len(ms), rep.SchemaVersion)
	}
	if err := createSchemaMigrations(ctx, tx, EnginePostgres); err != nil {
		return err
	}
	for _, m := range ms {
		if err := applyMigration(ctx, tx, EnginePostgres, m, now); err != nil {
			return fmt.Errorf("migrate the target: %w", err)
		}
	}

	tables, err := targetTables(ctx, tx, true)
	if err != nil {
		return err
	}
	tables = slices.DeleteFunc(tables, func(n string) bool { return n == "schema_migrations" })
	var srcNames []string
	for _, t := range rep.Tables {
		srcNames = append(srcNames, t.Name)
	}
	if !slices.Equal(srcNames, tables) {
		return fmt.Errorf("the schemas differ at version %d: SQLite has tables %s, PostgreSQL %s",
			rep.SchemaVersion, strings.Join(srcNames, ", "), strings.Join(tables, ", "))
	}
	order, err := foreignKeyOrder(ctx, tx, tables)
	if err != nil {
		return err
	}

	// A copy is not a series of changes: the target's own triggers (the
	// change counter's) stay off until it is complete. Rows that the
	// migrations put in (counters) make way for the source's.
	for _, name := range order {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+quoteIdent(name)+` DISABLE TRIGGER USER`); err != nil {
			return fmt.Errorf("disable the triggers of %s: %w", name, err)
		}
	}
	for _, name := range slices.Backward(order) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(name)); err != nil {
			return fmt.Errorf("empty %s: %w", name, err)
		}
	}
	for _, name := range order {
		if err := copyTable(ctx, stx, conn, tx, name); err != nil {
			return fmt.Errorf("copy table %s: %w", name, err)
		}
	}
	for _, name := range order {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+quoteIdent(name)+` ENABLE TRIGGER USER`); err != nil {
			return fmt.Errorf("enable the triggers of %s: %w", name, err)
		}
	}
	if err := setSequences(ctx, stx, tx); err != nil {
		return err
	}

	var mismatched []string
	for i := range rep.Tables {
		t := &rep.Tables[i]
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.Name)).Scan(&t.Target); err != nil {
			return fmt.Errorf("count the rows of %s: %w", t.Name, err)
		}
		if t.Target != t.Source {
			mismatched = append(mismatched, fmt.Sprintf("%s (%d in SQLite, %d in PostgreSQL)", t.Name, t.Source, t.Target))
		}
	}
	if len(mismatched) > 0 {
		return fmt.Errorf("the row counts differ: %s", strings.Join(mismatched, "; "))
	}
	return nil
}

// targetTables lists the tables of the target's schema, and its views
// unless baseOnly.
func targetTables(ctx context.Context, tx *sql.Tx, baseOnly bool) ([]string, error) {
	names, err := queryStrings(ctx, tx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND (NOT $1 OR table_type = 'BASE TABLE') ORDER BY table_name`, baseOnly)
	if err != nil {
		return nil, fmt.Errorf("list the target's tables: %w", err)
	}
	return names, nil
}

// foreignKeyOrder orders tables so that each comes after the tables its
// foreign keys reference, by name among equals.
func foreignKeyOrder(ctx context.Context, tx *sql.Tx, tables []string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT child.relname, parent.relname
		FROM pg_constraint c
		JOIN pg_class child ON child.oid = c.conrelid
		JOIN pg_class parent ON parent.oid = c.confrelid
		WHERE c.contype = 'f' AND c.connamespace = to_regnamespace(current_schema())`)
	if err != nil {
		return nil, fmt.Errorf("read the foreign keys: %w", err)
	}
	defer rows.Close()
	parents := map[string][]string{}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			return nil, fmt.Errorf("read the foreign keys: %w", err)
		}
		if child != parent { // a row may reference its own table; not an order
			parents[child] = append(parents[child], parent)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the foreign keys: %w", err)
	}
	var order []string
	placed := map[string]bool{}
	for len(order) < len(tables) {
		progress := false
		for _, t := range tables { // sorted by name
			if placed[t] || slices.ContainsFunc(parents[t], func(p string) bool { return !placed[p] }) {
				continue
			}
			order, placed[t], progress = append(order, t), true, true
		}
		if !progress {
			return nil, errors.New("the tables' foreign keys form a cycle; no order to copy them in")
		}
	}
	return order, nil
}

// copyTable streams the rows of one table from the source into the
// target with COPY, converting each value to its target column's type.
func copyTable(ctx context.Context, stx *sql.Tx, conn *sql.Conn, tx *sql.Tx, table string) error {
	srcCols, err := queryStrings(ctx, stx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return fmt.Errorf("read SQLite columns: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return fmt.Errorf("read PostgreSQL columns: %w", err)
	}
	types := map[string]string{}
	var dstCols []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return fmt.Errorf("read PostgreSQL columns: %w", err)
		}
		types[name] = typ
		dstCols = append(dstCols, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read PostgreSQL columns: %w", err)
	}
	if a, b := slices.Sorted(slices.Values(srcCols)), slices.Sorted(slices.Values(dstCols)); !slices.Equal(a, b) {
		return fmt.Errorf("the columns differ: SQLite has %s, PostgreSQL %s", strings.Join(a, ", "), strings.Join(b, ", "))
	}

	quoted := make([]string, len(srcCols))
	for i, c := range srcCols {
		quoted[i] = quoteIdent(c)
	}
	srcRows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM `+quoteIdent(table))
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	defer srcRows.Close()
	in := &rowSource{rows: srcRows, table: table, cols: srcCols, vals: make([]any, len(srcCols)), ptrs: make([]any, len(srcCols))}
	for i, c := range srcCols {
		in.types = append(in.types, types[c])
		in.ptrs[i] = &in.vals[i]
	}
	// COPY on the transaction's own connection: pgx's, under database/sql.
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("the target's driver connection is a %T, not pgx's", dc)
		}
		_, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, srcCols, in)
		return err
	})
}

// rowSource feeds the rows of a SQLite query to pgx's CopyFrom.
type rowSource struct {
	rows       *sql.Rows
	table      string
	cols       []string
	types      []string // the target columns' types
	vals, ptrs []any
	n          int64
	err        error
}

func (s *rowSource) Next() bool {
	if s.err != nil || !s.rows.Next() {
		return false
	}
	s.n++
	return true
}

func (s *rowSource) Values() ([]any, error) {
	if err := s.rows.Scan(s.ptrs...); err != nil {
		s.err = err
		return nil, err
	}
	out := make([]any, len(s.vals))
	for i, v := range s.vals {
		c, err := convertValue(v, s.types[i])
		if err != nil {
			// The value itself is not shown: it may be a secret or
			// someone's personal data.
			s.err = fmt.Errorf("row %d, column %s: %w", s.n, s.cols[i], err)
			return nil, s.err
		}
		out[i] = c
	}
	return out, nil
}

func (s *rowSource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// convertValue turns a value read from SQLite, whose columns take any
// type, into one that a PostgreSQL column of type pgType (as
// information_schema names it) takes. NULL stays NULL.
func convertValue(v any, pgType string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch pgType {
	case "smallint", "integer", "bigint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n, nil
			}
		case time.Time:
			return x.Unix(), nil
		}
	case "double precision", "real", "numeric":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			if x == 0 || x == 1 {
				return x == 1, nil
			}
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "text", "character varying", "character", "json", "jsonb":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			if utf8.Valid(x) {
				return string(x), nil
			}
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
	default:
		return v, nil // pgx converts what it can, and says what it can't
	}
	return nil, fmt.Errorf("a %s value doesn't fit a %s column", sqliteTypeName(v), pgType)
}

// sqliteTypeName names the SQLite storage class of a value read from it.
func sqliteTypeName(v any) string {
	switch v.(type) {
	case int64, bool:
		return "INTEGER"
	case float64:
		return "REAL"
	case string:
		return "TEXT"
	case []byte:
		return "BLOB"
	}
	return fmt.Sprintf("%T", v)
}

// setSequences makes every sequence of the target (identity and serial
// columns) continue after the copied ids, and after ids that SQLite
// handed out and deleted when it kept count of them (AUTOINCREMENT's
// sqlite_sequence): an id is never given twice.
func setSequences(ctx context.Context, stx *sql.Tx, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, column_name, seq FROM (
		SELECT table_name::text, column_name::text,
		       pg_get_serial_sequence(quote_ident(table_name), column_name) AS seq
		FROM information_schema.columns WHERE table_schema = current_schema()) c
		WHERE seq IS NOT NULL ORDER BY table_name, column_name`)
	if err != nil {
		return fmt.Errorf("list the sequences: %w", err)
	}
	type sequence struct{ table, column, name string }
	var seqs []sequence
	for rows.Next() {
		var s sequence
		if err := rows.Scan(&s.table, &s.column, &s.name); err != nil {
			rows.Close()
			return fmt.Errorf("list the sequences: %w", err)
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list the sequences: %w", err)
	}
	handedOut, err := sqliteSequences(ctx, stx)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(`+quoteIdent(s.column)+`), 0) FROM `+quoteIdent(s.table)).Scan(&last); err != nil {
			return fmt.Errorf("highest id of %s: %w", s.table, err)
		}
		last = max(last, handedOut[s.table])
		// setval(seq, n, is_called): the next value is n+1, or 1 when
		// nothing was copied.
		if _, err := tx.ExecContext(ctx, `SELECT setval($1, $2, $3)`, s.name, max(last, 1), last > 0); err != nil {
			return fmt.Errorf("set the sequence of %s.%s: %w", s.table, s.column, err)
		}
	}
	return nil
}

// sqliteSequences reads AUTOINCREMENT's high-water marks by table, if
// the source keeps any.
func sqliteSequences(ctx context.Context, stx *sql.Tx) (map[string]int64, error) {
	var n int
	if err := stx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'`).Scan(&n); err != nil || n == 0 {
		return nil, err
	}
	rows, err := stx.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence`)
	if err != nil {
		return nil, fmt.Errorf("read sqlite_sequence: %w", err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, fmt.Errorf("read sqlite_sequence: %w", err)
		}
		m[name] = seq
	}
	return m, rows.Err()
}

// queryStrings runs a query of one text column.
func queryStrings(ctx context.Context, db dbtx, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// quoteIdent quotes a table or column name for either engine.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
