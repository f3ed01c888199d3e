package service

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lamb/config"
	"lamb/secret"
	"lamb/store"
)

// limitsKind is where a test's limits keep their state.
type limitsKind struct {
	name   string
	engine string
	shared bool
}

var limitsKinds = []limitsKind{
	{"memory", store.EngineSQLite, false},
	{"shared-sqlite", store.EngineSQLite, true},
	{"shared-postgres", store.EnginePostgres, true},
}

// testClock is a clock a test moves while the limits' background sync
// reads it.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *testClock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// newLimitsEnv is a test env whose service keeps its limits as kind says,
// with an org (returned) for them to count against, and the clock its
// processes run on.
func newLimitsEnv(t *testing.T, kind limitsKind) (*testEnv, int64, *testClock) {
	t.Helper()
	e := newTestEnvOn(t, kind.engine)
	e.svc.Close()
	clk := newTestClock(e.now)
	e.svc = e.process(t, e.st, kind.shared, clk)
	o, err := e.st.CreateOrg(context.Background(), storeOrg("acme"))
	if err != nil {
		t.Fatal(err)
	}
	return e, o.ID, clk
}

// process is another lamb process's service on st (e's database when st
// is nil), its limits shared or not, on clk.
func (e *testEnv) process(t *testing.T, st *store.Store, shared bool, clk *testClock) *Service {
	t.Helper()
	clock := clk.now
	if st == nil {
		var err error
		if e.url != "" {
			st, err = store.OpenURL(context.Background(), e.url, store.Options{Now: clock})
		} else {
			st, err = store.Open(filepath.Join(e.dir, "lamb.db"), store.Options{Now: clock})
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
	}
	box, err := secret.NewBox(e.key)
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: clock, SharedLimits: &shared})
	t.Cleanup(svc.Close)
	return svc
}

// The rules of admission hold whichever kind keeps the state: a budget is
// spent exactly, settling frees what wasn't used, a flexible request gets
// what is left, a user's budget binds within the org's, and the
// requests-per-minute window slides.
func TestLimitsHoldOnEveryKind(t *testing.T) {
	for _, kind := range limitsKinds {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1000
			r1, err := e.svc.admit(ctx, org, 0, l, need{prompt: 600})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 500}); !isQuota(err) {
				t.Fatalf("600 of 1000 reserved, 500 more: %v, want insufficient_quota", err)
			}
			e.svc.settle(r1, 100) // it used less than it reserved
			r2, err := e.svc.admit(ctx, org, 0, l, need{prompt: 500})
			if err != nil {
				t.Fatalf("100 of 1000 spent, 500 more: %v", err)
			}
			// Flexible (no max_tokens): admitted with what is left, while
			// its prompt fits.
			r3, err := e.svc.admit(ctx, org, 0, l, need{prompt: 50, output: 1000, choices: 1, flexible: true})
			if err != nil || r3.tokens != 400 {
				t.Fatalf("flexible with 400 left: reserved %d, %v; want 400", r3.tokens, err)
			}
			if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 1, flexible: true, choices: 1}); !isQuota(err) {
				t.Fatalf("nothing left, flexible: %v, want insufficient_quota", err)
			}
			e.svc.settle(r2, 500)
			e.svc.settle(r3, 400)

			// A user's budget within the org's.
			l.TokensPerMonth = config.Unlimited
			l.UserTokensPerMonth = 300
			if _, err := e.svc.admit(ctx, org, 7, l, need{prompt: 250}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.admit(ctx, org, 7, l, need{prompt: 100}); !isQuota(err) {
				t.Fatalf("user budget: %v, want insufficient_quota", err)
			}
			if _, err := e.svc.admit(ctx, org, 8, l, need{prompt: 100}); err != nil {
				t.Fatalf("another user's budget: %v", err)
			}

			// Requests per minute: a sliding window of 60 s.
			l = config.UnlimitedLimits()
			l.RequestsPerMinute = 3
			for i := range 3 {
				if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 1}); err != nil {
					t.Fatalf("request %d of 3: %v", i+1, err)
				}
			}
			_, err = e.svc.admit(ctx, org, 0, l, need{prompt: 1})
			var ge *GatewayError
			// Shared: permits in use count at the last second they may be
			// used, so the wait said is at most permitSeconds longer.
			if !errors.As(err, &ge) || ge.Code != "rate_limit_exceeded" || ge.RetryAfter < 60*time.Second || ge.RetryAfter >= (60+permitSeconds)*time.Second {
				t.Fatalf("4th request in a second: %v, want rate_limit_exceeded retry in 60 s", err)
			}
			clk.add(59 * time.Second)
			syncLimits(e.svc)
			if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 1}); err == nil {
				t.Fatal("59 s later the window still holds 3")
			}
			clk.add(time.Second)
			syncLimits(e.svc)
			if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 1}); err != nil {
				t.Fatalf("60 s later: %v", err)
			}
		})
	}
}

// A knowledge base's context is added to an admitted request's
// reservation, within what is left.
func TestExtendHoldsOnEveryKind(t *testing.T) {
	for _, kind := range limitsKinds {
		t.Run(kind.name, func(t *testing.T) {
			e, org, _ := newLimitsEnv(t, kind)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1000
			n := need{prompt: 100, output: 100, choices: 1}
			r, err := e.svc.admit(ctx, org, 0, l, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.svc.extend(ctx, &r, l, n, 700); err != nil || r.tokens != 900 {
				t.Fatalf("extend by 700: %d, %v", r.tokens, err)
			}
			if err := e.svc.extend(ctx, &r, l, n, 200); !isQuota(err) {
				t.Fatalf("extend past the budget: %v, want insufficient_quota", err)
			}
		})
	}
}

// syncLimits writes what a process's shared limits hold, as their
// background sync does every limitsSync.
func syncLimits(svc *Service) {
	if sl, ok := svc.limits.(*sharedLimits); ok {
		sl.sync(false)
	}
}

func isQuota(err error) bool {
	var ge *GatewayError
	return errors.As(err, &ge) && ge.Code == "insufficient_quota"
}

// The attack: two lamb processes behind a load balancer, each with its own
// ledger in memory, let an org spend its budget once per process. With the
// limits in the database the processes together stay within it; the
// "memory" case shows what the test catches.
func TestTwoProcessesCannotSpendOneBudgetTwice(t *testing.T) {
	for _, kind := range limitsKinds {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			other := e.process(t, nil, kind.shared, clk)
			const budget, each = 2000, 50
			l := config.UnlimitedLimits()
			l.TokensPerMonth = budget
			var spent atomic.Int64
			var wg sync.WaitGroup
			for i := range 120 {
				svc := e.svc
				if i%2 == 1 {
					svc = other
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					r, err := svc.admit(ctx, org, 0, l, need{prompt: each})
					if err != nil {
						if !isQuota(err) {
							t.Errorf("admit: %v", err)
						}
						return
					}
					spent.Add(each)
					svc.settle(r, each)
				}()
			}
			wg.Wait()
			got := spent.Load()
			if !kind.shared {
				if got <= budget {
					t.Fatalf("two processes with ledgers in memory spent %d of %d: the test no longer shows the overspend", got, budget)
				}
				return
			}
			if got > budget {
				t.Fatalf("two processes spent %d of a budget of %d", got, budget)
			}
			// Near the end one process may be refused while the other
			// still holds a slice it took ahead of need.
			if got < budget/2 {
				t.Fatalf("two processes spent only %d of a budget of %d with 120 requests asking", got, budget)
			}
		})
	}
}

// requests_per_minute is one window for every process.
func TestTwoProcessesShareRequestsPerMinute(t *testing.T) {
	for _, kind := range limitsKinds[1:] {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			other := e.process(t, nil, true, clk)
			l := config.UnlimitedLimits()
			l.RequestsPerMinute = 10
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for i := range 40 {
				svc := e.svc
				if i%2 == 1 {
					svc = other
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := svc.admit(context.Background(), org, 0, l, need{prompt: 1}); err == nil {
						admitted.Add(1)
					}
				}()
			}
			wg.Wait()
			// At most the limit; fewer when a process still held permits
			// it had taken ahead of need while the other was refused.
			if got := admitted.Load(); got > 10 || got < 5 {
				t.Fatalf("40 requests in one second across two processes, limit 10 a minute: %d admitted", got)
			}
			// The permits a process took and didn't use go back once the
			// second is over.
			clk.add(30 * time.Second)
			syncLimits(e.svc)
			syncLimits(other)
			clk.add(30 * time.Second)
			if _, err := other.admit(context.Background(), org, 0, l, need{prompt: 1}); err != nil {
				t.Fatalf("a minute later: %v", err)
			}
		})
	}
}

// What one process spent is what the others see: settled tokens are
// written within limitsSync, and a lease nothing uses goes back.
func TestSpendingIsSeenByTheOtherProcess(t *testing.T) {
	for _, kind := range limitsKinds[1:] {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			other := e.process(t, nil, true, clk)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1000
			r, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100})
			if err != nil {
				t.Fatal(err)
			}
			e.svc.settle(r, 700)
			clk.add(leaseIdle)
			e.svc.limits.(*sharedLimits).sync(false) // writes the 700, gives the lease back
			if _, err := other.admit(ctx, org, 0, l, need{prompt: 301}); !isQuota(err) {
				t.Fatalf("700 of 1000 spent by the other process, 301 more: %v, want insufficient_quota", err)
			}
			if _, err := other.admit(ctx, org, 0, l, need{prompt: 300}); err != nil {
				rows, _ := e.rawDB(t).Query(`SELECT instance, tokens, expires_at FROM budget_leases`)
				for rows.Next() {
					var in string
					var tk, ex int64
					rows.Scan(&in, &tk, &ex)
					t.Logf("lease %s %d expires %d (now %d); e=%s other=%s", in, tk, ex, clk.now().Unix(), e.svc.limits.(*sharedLimits).instance, other.limits.(*sharedLimits).instance)
				}
				var sp int64
				e.rawDB(t).QueryRow(`SELECT spent FROM budget_ledgers`).Scan(&sp)
				t.Logf("spent %d", sp)
				t.Fatalf("700 of 1000 spent by the other process, 300 more: %v", err)
			}
			var spent int64
			if err := e.st.InTx(ctx, func(tx *store.Tx) error {
				b, err := tx.BudgetState(ctx, store.BudgetKey{OrganizationID: org, Month: monthKey(clk.now())}, "test", clk.now())
				spent = b.Spent
				return err
			}); err != nil || spent != 700 {
				t.Fatalf("ledger spent %d, %v; want 700", spent, err)
			}
		})
	}
}

// An admin lowers a budget because it is being overspent: the slice a
// process already holds, taken under the old limit, must not let it spend
// past the new one (on one process the new limit binds at the next
// request, and so must it here).
func TestLoweredLimitBindsASliceAlreadyHeld(t *testing.T) {
	for _, kind := range limitsKinds {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1_000_000
			// Plenty: the first request leases an eighth of the budget.
			r, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100})
			if err != nil {
				t.Fatal(err)
			}
			e.svc.settle(r, 100)
			clk.add(time.Second)

			l.TokensPerMonth = 1000 // lowered: 900 left
			if admitted := admitEach(t, e, org, l, 20, 100); admitted != 9 {
				t.Fatalf("limit lowered to 1000 with 100 spent: %d requests of 100 admitted, want 9", admitted)
			}
			if sl, ok := e.svc.limits.(*sharedLimits); ok {
				sl.refills.Wait()
				sl.sync(false)
				if held := leasedInDB(t, e); held > 0 {
					t.Errorf("the lowered budget is spent, yet %d tokens are still leased", held)
				}
			}
		})
	}
}

// Requests in flight when a budget is lowered were admitted under the old
// limit: what they leave unused must not become spendable under the new
// one.
func TestLoweredLimitBindsTokensOfRequestsInFlight(t *testing.T) {
	for _, kind := range limitsKinds {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1_000_000
			var inFlight []reservation
			for range 10 {
				r, err := e.svc.admit(ctx, org, 0, l, need{prompt: 1000})
				if err != nil {
					t.Fatal(err)
				}
				inFlight = append(inFlight, r)
			}
			l.TokensPerMonth = 1000 // lowered while 10,000 are reserved
			if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100}); !isQuota(err) {
				t.Fatalf("10,000 reserved against a budget lowered to 1,000: %v, want insufficient_quota", err)
			}
			for _, r := range inFlight {
				e.svc.settle(r, 10) // 100 used in all
			}
			clk.add(time.Second)
			if admitted := admitEach(t, e, org, l, 20, 100); admitted != 9 {
				t.Fatalf("100 of a lowered 1,000 spent by requests in flight: %d requests of 100 admitted after, want 9", admitted)
			}
		})
	}
}

// A grant's transaction may overlap a sync that gives up the (still
// empty) lease it is for: what the grant leased must stay held where the
// process sees it, or the database keeps it leased forever.
func TestGrantDuringSyncKeepsItsLease(t *testing.T) {
	for _, kind := range limitsKinds[1:] {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1_000_000
			sl := e.svc.limits.(*sharedLimits)
			var once sync.Once
			sl.afterGrantTx = func() { once.Do(func() { go sl.sync(false) }) } // the new lease looks idle
			r, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100})
			if err != nil {
				t.Fatal(err)
			}
			sl.afterGrantTx = nil
			e.svc.settle(r, 100)
			sl.refills.Wait()
			sl.sync(false)
			leased := func() int64 { return leasedInDB(t, e) }
			held := heldLocally(sl)
			if db := leased(); db != held {
				t.Fatalf("the database has %d tokens leased to this process, which holds %d", db, held)
			}
			clk.add(leaseIdle)
			sl.sync(false)
			if db := leased(); db != 0 {
				t.Fatalf("idle for %s, yet %d tokens are still leased", leaseIdle, db)
			}
		})
	}
}

// leasedInDB is what the database says this test's processes lease, and
// heldLocally what sl holds or has yet to give back: the two must agree.
func leasedInDB(t *testing.T, e *testEnv) (n int64) {
	t.Helper()
	if err := e.rawDB(t).QueryRow(`SELECT COALESCE(SUM(tokens), 0) FROM budget_leases`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// admitEach admits times requests of tokens against l one after the
// other, settling each in full, and returns how many were admitted; a
// refusal other than insufficient_quota fails the test.
func admitEach(t *testing.T, e *testEnv, org int64, l config.Limits, times int, tokens int64) int {
	t.Helper()
	admitted := 0
	for range times {
		r, err := e.svc.admit(context.Background(), org, 0, l, need{prompt: tokens})
		if err != nil {
			if !isQuota(err) {
				t.Fatalf("want insufficient_quota once the budget is spent, got %v", err)
			}
			continue
		}
		e.svc.settle(r, tokens)
		admitted++
	}
	return admitted
}

func heldLocally(sl *sharedLimits) (n int64) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for _, l := range sl.leases {
		n += l.tokens
	}
	for _, g := range sl.giveBack {
		n += g.n
	}
	return n
}

// A request that spends more than its lease held, then a grant racing a
// sync: the database and the process must still agree on the lease.
func TestOverrunAndGrantDuringSyncAgree(t *testing.T) {
	for _, kind := range limitsKinds[1:] {
		t.Run(kind.name, func(t *testing.T) {
			e, org, _ := newLimitsEnv(t, kind)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1_000_000
			sl := e.svc.limits.(*sharedLimits)
			sl.stopForTest()
			r, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100})
			if err != nil {
				t.Fatal(err)
			}
			e.svc.settle(r, 200_000) // far past its lease
			// The sync runs between the grant's transaction and its
			// bookkeeping if it can: it may not (grants and syncs are kept
			// apart), and then it runs after.
			var once sync.Once
			sl.afterGrantTx = func() {
				once.Do(func() {
					done := make(chan struct{})
					go func() { sl.sync(false); close(done) }()
					select {
					case <-done:
					case <-time.After(200 * time.Millisecond):
					}
				})
			}
			r, err = e.svc.admit(ctx, org, 0, l, need{prompt: 100})
			sl.afterGrantTx = nil
			if err != nil {
				t.Fatal(err)
			}
			e.svc.settle(r, 100)
			sl.refills.Wait()
			sl.sync(false)
			if db, here := leasedInDB(t, e), heldLocally(sl); db != here {
				t.Errorf("the database leases %d, the process holds %d", db, here)
			}
		})
	}
}

// A sync that fails after an earlier one gave the lease up must not lose
// what it was giving back: the database would keep it leased for good and
// refuse every request.
func TestFailedSyncKeepsWhatItGivesBack(t *testing.T) {
	for _, kind := range limitsKinds[1:] {
		t.Run(kind.name, func(t *testing.T) {
			e, org, _ := newLimitsEnv(t, kind)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1_000_000
			sl := e.svc.limits.(*sharedLimits)
			sl.stopForTest()
			a, err := e.svc.admit(ctx, org, 0, l, need{prompt: 1000})
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.svc.admit(ctx, org, 0, l, need{prompt: 1000})
			if err != nil {
				t.Fatal(err)
			}
			l.TokensPerMonth = 1000 // lowered while both are in flight
			if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100}); !isQuota(err) {
				t.Fatalf("2,000 reserved against a budget lowered to 1,000: %v, want insufficient_quota", err)
			}
			e.svc.settle(a, 0)
			sl.syncTxHook = func() error { sl.syncTxHook = nil; e.svc.settle(b, 0); return nil }
			sl.sync(false)
			sl.syncTxHook = func() error { return errors.New("the database blinked") }
			sl.sync(false)
			sl.syncTxHook = nil
			sl.sync(false)
			if db, here := leasedInDB(t, e), heldLocally(sl); db != here {
				t.Errorf("the database leases %d, the process holds %d", db, here)
			}
			if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100}); err != nil {
				t.Errorf("nothing spent of 1,000, yet: %v", err)
			}
		})
	}
}

// Tokens leased under the old limit that a failed sync was giving back
// must not become spendable under the lowered one, whatever a grant
// running at the same time does.
func TestFailedSyncDuringGrantKeepsALoweredLimit(t *testing.T) {
	for _, kind := range limitsKinds[1:] {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1_000_000
			sl := e.svc.limits.(*sharedLimits)
			sl.stopForTest()
			r, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100})
			if err != nil {
				t.Fatal(err)
			}
			e.svc.settle(r, 100)
			sl.sync(false)
			clk.add(leaseIdle) // the lease is idle: the next sync gives it back
			l.TokensPerMonth = 1000
			granted := make(chan error, 1)
			sl.syncTxHook = func() error {
				go func() {
					_, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100})
					granted <- err
				}()
				return errors.New("the database blinked")
			}
			sl.sync(false)
			sl.syncTxHook = nil
			select {
			case <-granted:
			case <-time.After(10 * time.Second):
				t.Fatal("the admission during the failed sync never ended")
			}
			// 100 spent before, at most one more during the failed sync.
			if admitted := admitEach(t, e, org, l, 50, 100); admitted > 9 {
				t.Errorf("limit lowered to 1,000 with 100 spent: %d more requests of 100 admitted", admitted)
			}
		})
	}
}

// A process that dies (kill -9) holds its leases only until they expire:
// its budget is not locked for the month.
func TestDeadProcessLeaseExpires(t *testing.T) {
	for _, kind := range limitsKinds[1:] {
		t.Run(kind.name, func(t *testing.T) {
			e, org, clk := newLimitsEnv(t, kind)
			other := e.process(t, nil, true, clk)
			ctx := context.Background()
			l := config.UnlimitedLimits()
			l.TokensPerMonth = 1000
			// The first process leases all that is left, one request at a
			// time, and then stops answering without giving anything back.
			for {
				r, err := e.svc.admit(ctx, org, 0, l, need{prompt: 100})
				if err != nil {
					break
				}
				_ = r // in flight when the process died
			}
			if _, err := other.admit(ctx, org, 0, l, need{prompt: 100}); !isQuota(err) {
				t.Fatalf("budget leased by a live process: %v, want insufficient_quota", err)
			}
			e.svc.limits.(*sharedLimits).stopForTest()
			clk.add(leaseTTL + time.Second)
			if _, err := other.admit(ctx, org, 0, l, need{prompt: 900}); err != nil {
				var b store.Budget
				e.st.InTx(ctx, func(tx *store.Tx) error {
					var err error
					b, err = tx.BudgetState(ctx, store.BudgetKey{OrganizationID: org, Month: monthKey(clk.now())}, "test", clk.now())
					return err
				})
				rows, _ := e.rawDB(t).Query(`SELECT instance, tokens, expires_at FROM budget_leases`)
				for rows.Next() {
					var in string
					var tk, ex int64
					rows.Scan(&in, &tk, &ex)
					t.Logf("lease %s %d expires %d (now %d); e=%s other=%s", in, tk, ex, clk.now().Unix(), e.svc.limits.(*sharedLimits).instance, other.limits.(*sharedLimits).instance)
				}
				t.Fatalf("the dead process's leases expired: %v (budget now %+v)", err, b)
			}
		})
	}
}

// A process that can't renew its leases stops spending them before they
// may expire, so that no other process's grant overlaps them.
func TestLeasesAreNotSpentPastTheirRenewal(t *testing.T) {
	e, org, clk := newLimitsEnv(t, limitsKinds[1])
	ctx := context.Background()
	l := config.UnlimitedLimits()
	l.TokensPerMonth = 100_000
	if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 10}); err != nil {
		t.Fatal(err)
	}
	sl := e.svc.limits.(*sharedLimits)
	sl.mu.Lock()
	held := sl.leases[ledgerKey{org, 0, monthKey(clk.now())}].tokens
	sl.mu.Unlock()
	if held < 10 {
		t.Fatalf("holds %d tokens after a grant", held)
	}
	sl.stopForTest() // no renewal from now on
	clk.add(leaseTTL - leaseMargin)
	sl.mu.Lock()
	sl.expireLocked(clk.now())
	got := sl.leases[ledgerKey{org, 0, monthKey(clk.now())}].tokens
	sl.mu.Unlock()
	if got != 0 {
		t.Fatalf("still spends %d tokens of a lease it couldn't renew", got)
	}
	// The rows may still be live: once the database answers again, what
	// the process gave up is given back there too, not renewed forever.
	if _, err := e.svc.admit(ctx, org, 0, l, need{prompt: 10}); err != nil {
		t.Fatal(err)
	}
	sl.refills.Wait()
	sl.sync(false)
	if db, here := leasedInDB(t, e), heldLocally(sl); db != here {
		t.Errorf("after an expiry the database leases %d, the process holds %d", db, here)
	}
}

// stopForTest stops the background sync, as a process that died would.
func (sl *sharedLimits) stopForTest() {
	sl.once.Do(sl.stopBackground)
}
