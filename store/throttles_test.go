package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reopen opens a second Store on e's database (another lamb process, as
// far as the database can tell), closed when t ends.
func (e engine) reopen(t *testing.T, where string) *Store {
	t.Helper()
	var st *Store
	var err error
	if e.name == EnginePostgres {
		st, err = OpenURL(context.Background(), where, Options{})
	} else {
		st, err = Open(where, Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Attack: a flood of attempts sent at once to two lamb processes, so that
// each process's check passes before the other's count lands. The take is
// one statement that no concurrent take can overtake: 60 takes at once
// through two Stores against a limit of 10 count exactly 10, in each of
// five rounds (a race shows in some rounds, not in every one).
func TestThrottleTakeIsExactAcrossProcessesUnderConcurrency(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		first, where := e.open(t, Options{})
		if err := first.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		second := e.reopen(t, where)
		now := time.Unix(1_800_000_000, 0)
		var th Throttle
		for round := range 5 {
			th = Throttle{Scope: "test", Key: fmt.Sprintf("addr:192.0.2.%d", round+1), Period: time.Minute, Limit: 10}
			var taken, refused atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 60)
			for i := range 60 {
				st := []*Store{first, second}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, hits, err := st.TakeThrottle(ctx, th, now)
					switch {
					case err != nil:
						errs <- err
					case ok:
						taken.Add(1)
					case len(hits) == 0:
						errs <- fmt.Errorf("refused without the attempts that fill the window")
					default:
						refused.Add(1)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if taken.Load() != 10 || refused.Load() != 50 {
				t.Fatalf("round %d: taken %d, refused %d; want 10 and 50", round+1, taken.Load(), refused.Load())
			}
		}
		hits, err := second.ThrottleHits(ctx, "test", now, th.Key)
		if err != nil || len(hits) != 1 || hits[0].N != 10 || !hits[0].Expires.Equal(now.Add(time.Minute)) {
			t.Fatalf("hits %+v, %v; want 10 in one second, counted for a minute", hits, err)
		}
		// Another key, and another scope, have their own counts.
		if ok, _, err := first.TakeThrottle(ctx, Throttle{Scope: "test", Key: "addr:198.51.100.1", Period: time.Minute, Limit: 10}, now); !ok || err != nil {
			t.Fatalf("another key: %v, %v", ok, err)
		}
		if ok, _, err := first.TakeThrottle(ctx, Throttle{Scope: "other", Key: th.Key, Period: time.Minute, Limit: 10}, now); !ok || err != nil {
			t.Fatalf("another scope: %v, %v", ok, err)
		}
		// A second before the window ends the key is still full; at its
		// end it may go again.
		if ok, _, _ := second.TakeThrottle(ctx, th, now.Add(time.Minute-time.Second)); ok {
			t.Fatal("taken a second before the window ended")
		}
		if ok, _, err := second.TakeThrottle(ctx, th, now.Add(time.Minute)); !ok || err != nil {
			t.Fatalf("at the window's end: %v, %v", ok, err)
		}
	})
}

func TestThrottleAddResetAndPurge(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		st := e.migrated(t)
		now := time.Unix(1_800_000_000, 0)
		period := 15 * time.Minute
		// The same key twice in one call counts once (PostgreSQL refuses
		// to update a row twice in one statement).
		if err := st.AddThrottleHits(ctx, "fail", period, now, "b", "a", "b"); err != nil {
			t.Fatal(err)
		}
		if err := st.AddThrottleHits(ctx, "fail", period, now.Add(time.Minute), "a"); err != nil {
			t.Fatal(err)
		}
		if err := st.AddThrottleHits(ctx, "fail", period, now.Add(time.Minute), "a"); err != nil {
			t.Fatal(err)
		}
		hits, err := st.ThrottleHits(ctx, "fail", now.Add(time.Minute), "a", "b", "c")
		if err != nil || len(hits) != 3 {
			t.Fatalf("hits %+v, %v", hits, err)
		}
		if h := hits[0]; h.Key != "a" || h.N != 2 || !h.At.Equal(now.Add(time.Minute)) {
			t.Fatalf("newest first: %+v", hits)
		}
		if err := st.ResetThrottle(ctx, "fail", "a"); err != nil {
			t.Fatal(err)
		}
		if hits, _ := st.ThrottleHits(ctx, "fail", now, "a", "b"); len(hits) != 1 || hits[0].Key != "b" {
			t.Fatalf("after reset of a: %+v", hits)
		}
		// Purging deletes only what no window counts any more, in batches.
		for i := range 12 {
			if err := st.AddThrottleHits(ctx, "spray", time.Minute, now, fmt.Sprintf("addr:%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.PurgeThrottles(ctx, now.Add(time.Minute-time.Second), 5); n != 0 || err != nil {
			t.Fatalf("purged %d, %v while all still count", n, err)
		}
		if n, err := st.PurgeThrottles(ctx, now.Add(time.Minute), 5); n != 5 || err != nil {
			t.Fatalf("purged %d, %v; want a batch of 5", n, err)
		}
		for range 3 {
			st.PurgeThrottles(ctx, now.Add(time.Minute), 5)
		}
		if n, _ := st.CountThrottleHits(ctx); n != 1 { // b's, counted for 15 minutes
			t.Fatalf("%d rows left, want 1", n)
		}
	})
}
