package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// Processes that take one lock run what it guards one at a time: 8
// Stores on one database, each counting how many hold the lock at once.
func TestExclusiveRunsOneHolderAtATime(t *testing.T) {
	ctx := context.Background()
	first, url := allEngines[1].open(t, Options{})
	stores := []*Store{first}
	for range 7 {
		stores = append(stores, allEngines[1].reopen(t, url))
	}
	var inside, most atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(stores))
	for _, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.Exclusive(ctx, LockBootstrap, func(ctx context.Context) error {
				n := inside.Add(1)
				defer inside.Add(-1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				// A query while holding it, so that holders overlap if
				// the lock lets them.
				return st.Ping(ctx)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if most.Load() != 1 {
		t.Fatalf("%d held the lock at once", most.Load())
	}
}

// A job guarded by TryExclusive is skipped, not queued, while another
// process holds its lock, and runs again once it is free; the lock is
// released when fn fails too. On SQLite (one process) it always runs.
func TestTryExclusiveSkipsWhileAnotherHolds(t *testing.T) {
	ctx := context.Background()
	first, url := allEngines[1].open(t, Options{})
	second := allEngines[1].reopen(t, url)
	ran, err := first.TryExclusive(ctx, LockRetention, func(ctx context.Context) error {
		inner, err := second.TryExclusive(ctx, LockRetention, func(context.Context) error {
			t.Error("ran while another process held the lock")
			return nil
		})
		if inner || err != nil {
			t.Errorf("second: ran %v, %v", inner, err)
		}
		// Another lock is not held.
		if ok, err := second.TryExclusive(ctx, LockBootstrap, func(context.Context) error { return nil }); !ok || err != nil {
			t.Errorf("another lock: ran %v, %v", ok, err)
		}
		return context.Canceled // a failing job
	})
	if !ran || err != context.Canceled {
		t.Fatalf("first: ran %v, %v", ran, err)
	}
	if ok, err := second.TryExclusive(ctx, LockRetention, func(context.Context) error { return nil }); !ok || err != nil {
		t.Fatalf("after release: ran %v, %v", ok, err)
	}

	sqlite := allEngines[0].migrated(t)
	if ok, err := sqlite.TryExclusive(ctx, LockRetention, func(context.Context) error { return nil }); !ok || err != nil {
		t.Fatalf("sqlite: ran %v, %v", ok, err)
	}
}
