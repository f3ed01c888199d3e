package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Every query of the store goes through this file, on both engines.
//
// SQLite compiles a statement's SQL on every call unless it is prepared;
// the gateway's lookups and the usage writer's batches run the same few
// statements all day. Each pool keeps its statements prepared, once each.
//
// PostgreSQL takes $1, $2… where the queries say ?: the text is rewritten
// once per distinct query and kept here beside it. Statements are not
// prepared through database/sql there: pgx prepares each text once per
// connection and keeps it (its statement cache), which database/sql's
// statements, tied to one connection each, would only duplicate. Booleans
// are stored as 0/1 integers on both engines, so that queries stay the
// same text; pgx is given them as integers.

// maxPrepared bounds the statements a pool keeps (queries are built from
// a fixed set of shapes; the bound only guards against a mistake).
const maxPrepared = 512

// stmtCache holds a pool's prepared statements (SQLite) or rewritten
// texts (PostgreSQL) by SQL text.
type stmtCache struct {
	db       *sql.DB
	postgres bool
	sent     *atomic.Int64 // statements sent, counted for the store
	mu       sync.Mutex
	stmts    map[string]*sql.Stmt
	texts    map[string]string
}

func newStmtCache(db *sql.DB, postgres bool, sent *atomic.Int64) *stmtCache {
	return &stmtCache{db: db, postgres: postgres, sent: sent, stmts: map[string]*sql.Stmt{}, texts: map[string]string{}}
}

// lookup returns query's statement if it is prepared already.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// prepare returns query's statement, preparing it the first time; nil
// when it can't be kept (the caller then runs the SQL unprepared, which
// reports any error in it). Always nil on PostgreSQL.
func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	if c.postgres {
		return nil
	}
	if st := c.lookup(query); st != nil {
		return st
	}
	c.mu.Lock()
	full := len(c.stmts) >= maxPrepared
	c.mu.Unlock()
	if full {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have := c.stmts[query]; have != nil {
		st.Close()
		return have
	}
	c.stmts[query] = st
	return st
}

// text returns the SQL to send for query: itself on SQLite, rebound to
// $n placeholders on PostgreSQL (rewritten once, then kept).
func (c *stmtCache) text(query string) string {
	if !c.postgres {
		return query
	}
	c.mu.Lock()
	t, ok := c.texts[query]
	c.mu.Unlock()
	if ok {
		return t
	}
	t = rebind(query)
	c.mu.Lock()
	if len(c.texts) < maxPrepared {
		c.texts[query] = t
	}
	c.mu.Unlock()
	return t
}

// args returns the arguments to send: as given on SQLite; on PostgreSQL
// with booleans as 0/1, the integer columns that hold them.
func (c *stmtCache) args(args []any) []any {
	if !c.postgres {
		return args
	}
	var out []any
	for i, a := range args {
		b, ok := a.(bool)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = int64(0)
		if b {
			out[i] = int64(1)
		}
	}
	if out == nil {
		return args
	}
	return out
}

// rebind rewrites SQLite's placeholders for PostgreSQL: each ? becomes the
// next $n, and ?NNN becomes $NNN. Quoted strings and identifiers are left
// alone (LIKE … ESCAPE '\' has no placeholder in it).
func rebind(query string) string {
	var sb strings.Builder
	sb.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch ch {
		case '\'', '"':
			end := strings.IndexByte(query[i+1:], ch)
			if end < 0 {
				sb.WriteString(query[i:])
				return sb.String()
			}
			sb.WriteString(query[i : i+end+2])
			i += end + 1
		case '?':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			sb.WriteByte('$')
			if j > i+1 {
				sb.WriteString(query[i+1 : j])
				i = j - 1
			} else {
				n++
				sb.WriteString(strconv.Itoa(n))
			}
		default:
			sb.WriteByte(ch)
		}
	}
	return sb.String()
}

// isRead reports whether query only reads (a SELECT), so that running it
// outside a failed transaction can't write anything that transaction
// would have rolled back.
func isRead(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// pool runs queries on a pool through its prepared statements.
type pool struct{ c *stmtCache }

func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	p.c.sent.Add(1)
	if st := p.c.prepare(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.c.db.ExecContext(ctx, p.c.text(query), p.c.args(args)...)
}

func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	p.c.sent.Add(1)
	if st := p.c.prepare(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.c.db.QueryContext(ctx, p.c.text(query), p.c.args(args)...)
}

func (p pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	p.c.sent.Add(1)
	if st := p.c.prepare(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.c.db.QueryRowContext(ctx, p.c.text(query), p.c.args(args)...)
}

// txStmts runs a transaction's queries through the writer's prepared
// statements. On SQLite, a statement not prepared yet can't be prepared
// while the transaction holds the writer's only connection: it runs
// unprepared and is noted, and InTx prepares it once the connection is
// free again. On PostgreSQL the rebound text runs (pgx prepares it), and
// reads after a failed statement go to the pool (see aborted).
type txStmts struct {
	tx     *sql.Tx
	c      *stmtCache
	missed *[]string
	conn   *sql.Conn // the transaction's connection, on PostgreSQL
}

func (t txStmts) stmt(ctx context.Context, query string) *sql.Stmt {
	if t.c.postgres {
		return nil
	}
	if st := t.c.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	*t.missed = append(*t.missed, query)
	return nil
}

func (t txStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	t.c.sent.Add(1)
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, t.c.text(query), t.c.args(args)...)
}

func (t txStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.c.sent.Add(1)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if t.conn != nil && isRead(query) && aborted(t.conn) {
		return pool{t.c}.QueryContext(ctx, query, args...)
	}
	return t.tx.QueryContext(ctx, t.c.text(query), t.c.args(args)...)
}

func (t txStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	t.c.sent.Add(1)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if t.conn != nil && isRead(query) && aborted(t.conn) {
		return pool{t.c}.QueryRowContext(ctx, query, args...)
	}
	return t.tx.QueryRowContext(ctx, t.c.text(query), t.c.args(args)...)
}
