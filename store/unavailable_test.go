package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"lamb/internal/pgtest"
)

// AddSetting stores a first value once: racing writers each get the one
// that won, and a later value never replaces it.
func TestSettingOrAdd(t *testing.T) { eachEngine(t, testSettingOrAdd) }

func testSettingOrAdd(t *testing.T, e engine) {
	st := e.migrated(t)
	ctx := context.Background()
	const n = 8
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = st.SettingOrAdd(ctx, "first", fmt.Sprint("value-", i))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] || !strings.HasPrefix(got[0], "value-") {
			t.Fatalf("writer %d got %q, %v; writer 0 got %q", i, got[i], errs[i], got[0])
		}
	}
	if v, err := st.SettingOrAdd(ctx, "first", "later"); err != nil || v != got[0] {
		t.Fatalf("a later AddSetting = %q, %v; want %q kept", v, err, got[0])
	}
	if v, _ := st.Setting(ctx, "first"); v != got[0] {
		t.Fatalf("Setting = %q, want %q", v, got[0])
	}
}

// Errors that say the server can't be reached, or didn't answer in time,
// become ErrUnavailable (the cause kept); a statement the server refused,
// or a caller that went away, does not.
func TestUnreachableErrorsAreErrUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"network", fmt.Errorf("read: %w", refused), true},
		{"broken mid-statement", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"bad connection", driver.ErrBadConn, true},
		{"unique violation", &pgconn.PgError{Code: pgUniqueViolation}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"serialization", &pgconn.PgError{Code: pgSerializationFail}, false},
		{"caller went away", fmt.Errorf("query: %w", context.Canceled), false},
		{"no answer within the caller's bound", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"plain", errors.New("something else"), false},
	} {
		err := mapErr(tc.err)
		if got := errors.Is(err, ErrUnavailable); got != tc.want {
			t.Errorf("%s: errors.Is(mapErr(%v), ErrUnavailable) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
		if tc.want && !errors.Is(err, tc.err) {
			t.Errorf("%s: the cause was dropped: %v", tc.name, err)
		}
	}
}

// The database stopped under a running store: reads, writes and
// transactions fail at once with ErrUnavailable; once it is back, the
// same store works again without being reopened.
func TestStoreSurvivesADatabaseOutage(t *testing.T) {
	c := pgtest.NewCluster(t)
	st, err := OpenURL(context.Background(), c.URL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSetting(ctx, "k", "before"); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	ops := map[string]func(context.Context) error{
		"read":  func(ctx context.Context) error { _, err := st.Setting(ctx, "k"); return err },
		"write": func(ctx context.Context) error { return st.SetSetting(ctx, "k", "during") },
		"tx": func(ctx context.Context) error {
			return st.InTx(ctx, func(tx *Tx) error { return tx.SetSetting(ctx, "k", "during") })
		},
		"ping": st.Ping,
	}
	for name, op := range ops {
		for range 2 { // a pooled connection the stop ended, then a new one refused
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			err := op(ctx)
			cancel()
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%s with the database stopped: %v, want ErrUnavailable", name, err)
			}
		}
	}
	c.Start(t)
	for name, op := range ops {
		if name == "write" || name == "tx" {
			continue
		}
		var err error
		for range 3 { // a connection from before the restart may fail once more
			if err = op(ctx); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("%s after the database came back: %v", name, err)
		}
	}
	if err := st.SetSetting(ctx, "k", "after"); err != nil {
		t.Fatalf("write after the database came back: %v", err)
	}
	if v, _ := st.Setting(ctx, "k"); v != "after" {
		t.Fatalf("read back %q, want after", v)
	}
}
