package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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
