package service

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lamb/config"
)

// A key nobody has cached loads once, however many requests ask for it at
// the same moment.
func TestCacheLoadsAMissOnce(t *testing.T) {
	c := newCache[string, int](100, isAnswer)
	var loads atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.get("k", func() (int, error) {
				loads.Add(1)
				<-release
				return 7, nil
			})
			if v != 7 || err != nil {
				t.Errorf("get = %d, %v", v, err)
			}
		}()
	}
	// Give the callers time to pile up behind the one load; the count
	// below holds whether or not they all did.
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for one key", n)
	}
}

// Memory stays bounded under a flood of distinct keys, and an entry in
// use survives the flood.
func TestCacheIsBoundedAndKeepsWhatIsUsed(t *testing.T) {
	c := newCache[int, int](100, isAnswer)
	load := func(v int) func() (int, error) { return func() (int, error) { return v, nil } }
	c.get(-1, load(-1))
	loadsOfHot := 0
	for i := range 10_000 {
		c.get(i, load(i))
		c.get(-1, func() (int, error) { loadsOfHot++; return -1, nil })
	}
	c.mu.Lock()
	n := len(c.cur) + len(c.old)
	c.mu.Unlock()
	if n > 100 {
		t.Fatalf("%d entries kept, bound 100", n)
	}
	if loadsOfHot != 0 {
		t.Fatalf("the entry in use was loaded again %d times", loadsOfHot)
	}
}

// A load that began before a change was seen isn't kept: it may have read
// the row as it was before the change.
func TestCacheDropsALoadThatRacedAFlush(t *testing.T) {
	c := newCache[string, int](100, isAnswer)
	c.get("k", func() (int, error) {
		c.flush() // the change is seen while this load is under way
		return 1, nil
	})
	v, _ := c.get("k", func() (int, error) { return 2, nil })
	if v != 2 {
		t.Fatalf("got %d: a value loaded before the change was kept", v)
	}
}

// Only changes move the counter: recording that a key or a user was used
// (every minute, per key) must not empty the gateway's caches.
func TestUsageStampsDontCountAsChanges(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	mustSync(t, e, config.System{})
	admin := sysAdmin(t, e, "root@lamb.local")
	key, err := e.svc.CreateAPIKey(ctx, admin, "lamb", "lms", false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.st.ChangeCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.TouchAPIKey(ctx, key.ID, e.now); err != nil {
		t.Fatal(err)
	}
	if err := e.st.TouchUser(ctx, admin.UserID); err != nil {
		t.Fatal(err)
	}
	if after, _ := e.st.ChangeCount(ctx); after != before {
		t.Fatalf("usage stamps moved the change counter %d → %d", before, after)
	}
	if err := e.svc.RevokeAPIKey(ctx, admin, key.ID); err != nil {
		t.Fatal(err)
	}
	if after, _ := e.st.ChangeCount(ctx); after == before {
		t.Fatal("revoking a key did not move the change counter")
	}
}
