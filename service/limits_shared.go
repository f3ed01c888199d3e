package service

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"lamb/config"
	"lamb/store"
)

// sharedLimits keeps the limits' state in the database, so that any number
// of lamb processes on it admit as one (DESIGN §10).
//
// Month budgets are leased: a process takes a slice of a budget in one
// transaction that grants only while spent + every live lease + the slice
// fit under the limit, spends the slice in memory, and writes what it
// spent every limitsSync. So the common request touches no row, and the
// processes together never spend more than the limit plus what one
// admitted request may overrun. A slice is at most 1/leaseShare of what
// no one holds, so slices shrink as a budget runs out. A process renews
// its leases every leaseRenew; the lease of a process that died expires
// after leaseTTL, and its budget is free again.
//
// requests_per_minute is counted per org and second in the database. A
// process takes permits the same way, a slice at a time, usable for
// permitSeconds and counted meanwhile at the last second they may be used
// (so no 60-second span can hold more than the limit, whenever within
// their time they are used); once that is over, the count moves to the
// seconds they were really used in, and the unused ones go back.
type sharedLimits struct {
	st       *store.Store
	log      *slog.Logger
	now      func() time.Time
	instance string // names this process's leases

	grants [64]sync.Mutex // one grant at a time per budget (or org's permits), striped
	syncMu sync.Mutex     // one sync at a time: each writes what it took
	// txMu keeps grants (readers) and syncs (the writer) apart, from
	// reading the leases to writing what their transaction did: a sync's
	// bookkeeping never mixes with a grant's.
	txMu sync.RWMutex
	seed maphash.Seed

	mu        sync.Mutex
	leases    map[ledgerKey]*lease
	permits   map[int64][]*permits // by org, the oldest first
	refilling map[int64]bool       // orgs whose next permits are being taken
	retired   []retiredPermits     // permits past their time, to account for
	giveBack  []tokensOf           // parts of leases to give back at the next sync

	// Tests only: syncTxHook runs inside a sync's transaction (an error
	// fails it), afterGrantTx between a grant's transaction and its
	// bookkeeping.
	syncTxHook   func() error
	afterGrantTx func()
	validUntil   time.Time // the leases may be spent until then
	lastRenew    time.Time
	lastPrune    time.Time

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	closing bool           // no more refills (sl.mu)
	refills sync.WaitGroup // refills running in the background
}

const (
	leaseTTL = 2 * time.Minute
	// leaseMargin: a process stops spending its leases this long before
	// they may expire, should it fail to renew them (clocks of the
	// processes must agree within it).
	leaseMargin = 30 * time.Second
	leaseRenew  = 20 * time.Second
	leaseShare  = 8
	// leaseIdle: a lease nothing was admitted against for this long goes
	// back, so that another process can use it.
	leaseIdle  = 2 * time.Second
	limitsSync = 250 * time.Millisecond
	// permitSeconds is how long permits of requests_per_minute may be used.
	permitSeconds = 5
	// A budget this process holds less than refillBelow requests' worth
	// of (free) is refilled in the background to refillTo requests'
	// worth; permits likewise when a quarter or less are left, or their
	// last second has come.
	refillBelow, refillTo = 4, 8
	// takeAttempts bounds how often an admission retries when other
	// requests of this process took the slice it had asked for.
	takeAttempts = 8
)

// lease is what this process holds of one month budget.
type lease struct {
	tokens   int64 // granted and not yet written as spent
	pending  int64 // spent here, not yet written
	reserved int64 // held by admitted requests in flight
	used     time.Time
	// refilling: a grant runs in the background, asked for before this
	// process runs out, so that requests rarely wait for the database.
	refilling bool
	// limit is the budget's limit when it was last granted. Once the
	// limit is lower, what is held free goes back at the next admission
	// and the rest is granted again under the new limit: a lowered limit
	// binds at once, as on one process.
	limit int64
	// stale: tokens reserved by requests admitted under a limit since
	// lowered. What they leave unused goes back as they settle, instead
	// of becoming free to spend under the new limit.
	stale int64
}

func (l *lease) free() int64 { return l.tokens - l.pending - l.reserved }

// permits are requests of an org this process may admit until a second.
type permits struct {
	until   int64 // the last second they may be used, where they are counted
	granted int64
	left    int64
	used    []secondCount // what was admitted, by second
}

type secondCount struct{ second, n int64 }

// retiredPermits are permits past their time: their count moves from
// until to the seconds they were used in.
type retiredPermits struct {
	org int64
	*permits
}

func newSharedLimits(st *store.Store, logger *slog.Logger, now func() time.Time) *sharedLimits {
	var id [8]byte
	rand.Read(id[:])
	sl := &sharedLimits{st: st, log: logger, now: now, instance: hex.EncodeToString(id[:]), seed: maphash.MakeSeed(),
		leases: map[ledgerKey]*lease{}, permits: map[int64][]*permits{}, refilling: map[int64]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	sl.validUntil = now().Add(leaseTTL - leaseMargin)
	sl.lastRenew, sl.lastPrune = now(), now()
	go sl.run()
	return sl
}

func (sl *sharedLimits) admit(ctx context.Context, orgID, userID int64, l config.Limits, n need) (reservation, error) {
	estimate := max(n.total(), 1)
	now := sl.now()
	month := monthKey(now)
	var keys []ledgerKey
	var limits []int64
	if l.TokensPerMonth != config.Unlimited {
		keys, limits = append(keys, ledgerKey{orgID, 0, month}), append(limits, l.TokensPerMonth)
	}
	if userID != 0 && l.UserTokensPerMonth != config.Unlimited {
		keys, limits = append(keys, ledgerKey{orgID, userID, month}), append(limits, l.UserTokensPerMonth)
	}
	rpm := l.RequestsPerMinute
	if rpm != config.Unlimited {
		if err := sl.permit(ctx, orgID, rpm, now); err != nil {
			return reservation{}, err
		}
	}
	floor := estimate
	if n.flexible {
		floor = min(max(n.least(), 1), estimate)
	}
	took, short, err := sl.take(ctx, keys, limits, estimate, floor, now)
	if err == nil && short != nil {
		err = quotaError(short.key, estimate, short.left, now)
	}
	if err != nil {
		if rpm != config.Unlimited {
			sl.unpermit(orgID, now.Unix()) // counted only when admitted
		}
		return reservation{}, err
	}
	return reservation{keys: keys, tokens: took}, nil
}

func (sl *sharedLimits) extend(ctx context.Context, r *reservation, l config.Limits, n need, extra int64) error {
	if extra <= 0 || len(r.keys) == 0 {
		return nil
	}
	limits := make([]int64, len(r.keys))
	for i, k := range r.keys {
		limits[i] = l.TokensPerMonth
		if k.user != 0 {
			limits[i] = l.UserTokensPerMonth
		}
	}
	n.prompt += extra
	floor := extra
	if n.flexible {
		floor = min(max(max(n.least(), 1)-r.tokens, 0), extra)
	}
	now := sl.now()
	took, short, err := sl.take(ctx, r.keys, limits, extra, floor, now)
	if err != nil {
		return err
	}
	if short != nil {
		return quotaError(short.key, n.total(), short.left+r.tokens, now)
	}
	r.tokens += took
	return nil
}

// shortfall is the budget that can't give what a request needs, and what
// it has left.
type shortfall struct {
	key  ledgerKey
	left int64
}

// take reserves want tokens (or, when less is left, down to floor) on
// every key, leasing more from the database where this process holds too
// little. It returns what it reserved, or the budget that refused.
func (sl *sharedLimits) take(ctx context.Context, keys []ledgerKey, limits []int64, want, floor int64, now time.Time) (int64, *shortfall, error) {
	if len(keys) == 0 {
		return want, nil, nil
	}
	for range takeAttempts {
		sl.mu.Lock()
		sl.expireLocked(now)
		tight, tightFree := -1, int64(0)
		for i, k := range keys {
			l := sl.leases[k]
			if l == nil {
				l = &lease{}
				sl.leases[k] = l
			}
			lowered := l.limit > limits[i]
			if f := l.free(); limits[i] != config.Unlimited && (f < want || lowered) && (tight < 0 || f < tightFree || lowered) {
				tight, tightFree = i, f
			}
		}
		if tight < 0 {
			var low []int
			var seen []int64 // the limit each low lease was granted under
			for i, k := range keys {
				l := sl.leases[k]
				l.reserved += want
				l.used = now
				if limits[i] != config.Unlimited && l.free() < refillBelow*want && !l.refilling && !sl.closing {
					l.refilling = true
					low, seen = append(low, i), append(seen, l.limit)
					sl.refills.Add(1)
				}
			}
			sl.mu.Unlock()
			for j, i := range low {
				go sl.refill(keys[i], limits[i], refillTo*want, now, seen[j])
			}
			return want, nil, nil
		}
		sl.mu.Unlock()
		left, ok, err := sl.grant(ctx, keys[tight], want, limits[tight], now, anyLimit)
		if err != nil {
			return 0, nil, err
		}
		if !ok && left < want {
			if left < floor {
				return 0, &shortfall{keys[tight], left}, nil
			}
			want = left // all that is left: the answer may be short
		}
	}
	return 0, nil, &GatewayError{Status: 503, Type: "api_error", Code: "service_unavailable",
		Message: "this organization's budget is in heavy demand right now; retry in a moment", RetryAfter: time.Second}
}

// grant leases more of k's budget so that this process holds at least
// need free, when the budget has room for it: need, or 1/leaseShare of
// what no process holds when that is more. ok tells that this process
// now holds need free; if not, left is what it could have had: what it
// holds free and what no process holds.
//
// seen is the lease's limit when a refill was asked for: the refill is
// skipped if another grant has leased under another limit since (it
// would lease under a limit that may be stale). anyLimit for a grant a
// request waits for.
func (sl *sharedLimits) grant(ctx context.Context, k ledgerKey, need, limit int64, now time.Time, seen int64) (left int64, ok bool, err error) {
	mu := &sl.grants[sl.stripe(k.org, k.user, k.month)]
	mu.Lock()
	defer mu.Unlock()
	sl.txMu.RLock()
	defer sl.txMu.RUnlock()
	sl.mu.Lock()
	l := sl.leases[k]
	if l == nil {
		l = &lease{}
		sl.leases[k] = l
	}
	if seen != anyLimit && l.limit != seen {
		sl.mu.Unlock()
		return 0, false, nil // a refill overtaken by a grant under another limit
	}
	// The limit was lowered since the last grant: what this process holds
	// free was granted under the old one, and goes back; so does what the
	// requests in flight leave unused.
	var back int64
	if l.limit > limit {
		back = max(l.free(), 0)
		l.tokens -= back
		l.stale = l.reserved
		if back == 0 {
			l.limit = limit
		}
	}
	have := l.free()
	if have >= need && back == 0 { // another request's grant came first
		sl.mu.Unlock()
		return have, true, nil
	}
	// What settling requests gave back and sync hasn't written yet is
	// written by this grant instead, so that it doesn't count as held.
	given := sl.takeGiveBackLocked(k)
	sl.mu.Unlock()
	short := max(need-have, 0)
	key := store.BudgetKey{OrganizationID: k.org, UserID: k.user, Month: k.month}
	var got, room int64
	err = sl.st.InTx(ctx, func(tx *store.Tx) error {
		got = 0
		b, err := tx.BudgetState(ctx, key, sl.instance, now)
		if err != nil {
			return err
		}
		mine := max(b.Mine-back-given, 0)
		room = max(limit-b.Spent-b.Leased-mine, 0)
		if room < short {
			if back+given > 0 {
				return tx.SetLease(ctx, key, sl.instance, mine, now.Add(leaseTTL))
			}
			return nil
		}
		if short > 0 {
			got = min(room, max(short, room/leaseShare))
		}
		return tx.SetLease(ctx, key, sl.instance, mine+got, now.Add(leaseTTL))
	})
	if sl.afterGrantTx != nil {
		sl.afterGrantTx()
	}
	sl.mu.Lock() // l is still sl.leases[k]: only sync drops leases, and txMu keeps it out
	if err != nil {
		if back+given > 0 {
			sl.giveBack = append(sl.giveBack, tokensOf{k, back + given})
		}
		sl.mu.Unlock()
		return 0, false, fmt.Errorf("lease budget: %w", err) // asGatewayError: 503 when the database is unreachable
	}
	l.limit = limit
	l.tokens += got
	if got > 0 {
		l.used = now // not idle: it was just asked for
	}
	sl.mu.Unlock()
	if have+got < need {
		return max(have+room, 0), false, nil
	}
	return have + got, true, nil
}

// takeGiveBackLocked removes k's tokens waiting to be given back and
// returns how many they were. sl.mu is held.
func (sl *sharedLimits) takeGiveBackLocked(k ledgerKey) int64 {
	var n int64
	kept := sl.giveBack[:0]
	for _, g := range sl.giveBack {
		if g.key == k {
			n += g.n
		} else {
			kept = append(kept, g)
		}
	}
	sl.giveBack = kept
	return n
}

// refill leases more of k's budget in the background, to hold need free.
// seen is the lease's limit when the refill was asked for.
func (sl *sharedLimits) refill(k ledgerKey, limit, need int64, now time.Time, seen int64) {
	defer sl.refills.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := sl.grant(ctx, k, need, limit, now, seen); err != nil {
		sl.log.Warn("lease budget ahead of need", "org_id", k.org, "err", err)
	}
	sl.mu.Lock()
	if l := sl.leases[k]; l != nil {
		l.refilling = false
	}
	sl.mu.Unlock()
}

// permit admits one request against an org's requests_per_minute.
func (sl *sharedLimits) permit(ctx context.Context, orgID, rpm int64, now time.Time) error {
	sec := now.Unix()
	if ok, refill := sl.usePermit(orgID, sec); ok {
		if refill {
			go sl.refillPermits(orgID, rpm)
		}
		return nil
	}
	mu := &sl.grants[sl.stripe(orgID, -1, 0)]
	mu.Lock()
	defer mu.Unlock()
	for range takeAttempts {
		if ok, refill := sl.usePermit(orgID, sec); ok {
			if refill {
				go sl.refillPermits(orgID, rpm)
			}
			return nil
		}
		wait, err := sl.grantPermits(ctx, orgID, rpm, now)
		if err != nil {
			return err
		}
		if wait > 0 {
			return rateError(rpm, wait)
		}
	}
	return &GatewayError{Status: 503, Type: "api_error", Code: "service_unavailable",
		Message: "this organization's requests are in heavy demand right now; retry in a moment", RetryAfter: time.Second}
}

// grantPermits takes permits of an org's requests_per_minute from the
// database, usable from now for permitSeconds: up to 1/leaseShare of what
// the window has room for. wait > 0 is the seconds until the window has
// room again, when it has none. The stripe's grant lock is held.
func (sl *sharedLimits) grantPermits(ctx context.Context, orgID, rpm int64, now time.Time) (wait int64, err error) {
	sec := now.Unix()
	until := sec + permitSeconds - 1
	var got int64
	err = sl.st.InTx(ctx, func(tx *store.Tx) error {
		got, wait = 0, 0
		counts, err := tx.RequestCounts(ctx, orgID, sec-59)
		if err != nil {
			return err
		}
		var used int64
		for _, n := range counts {
			used += n
		}
		room := rpm - used
		if room <= 0 {
			wait = rpmRetryAfter(counts, used, rpm, sec)
			return nil
		}
		got = min(room, max(1, room/leaseShare))
		return tx.AddRequests(ctx, orgID, until, got)
	})
	if err != nil {
		return 0, fmt.Errorf("count requests: %w", err)
	}
	if got > 0 {
		sl.mu.Lock()
		sl.permits[orgID] = append(sl.permits[orgID], &permits{until: until, granted: got, left: got})
		sl.mu.Unlock()
	}
	return wait, nil
}

// refillPermits takes an org's next permits in the background, before
// the ones this process holds run out.
func (sl *sharedLimits) refillPermits(orgID, rpm int64) {
	defer sl.refills.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mu := &sl.grants[sl.stripe(orgID, -1, 0)]
	mu.Lock()
	if _, err := sl.grantPermits(ctx, orgID, rpm, sl.now()); err != nil {
		sl.log.Warn("count requests ahead of need", "org_id", orgID, "err", err)
	}
	mu.Unlock()
	sl.mu.Lock()
	delete(sl.refilling, orgID)
	sl.mu.Unlock()
}

// rpmRetryAfter is how many seconds until fewer than limit of the counted
// requests remain in the window: each second's count leaves it 60 s after.
func rpmRetryAfter(counts map[int64]int64, total, limit, now int64) int64 {
	secs := slices.Sorted(maps.Keys(counts))
	for _, s := range secs {
		total -= counts[s]
		if total < limit {
			return max(s+60-now, 1)
		}
	}
	return 60
}

// take uses one permit in second sec; sl.mu is held.
func (p *permits) take(sec int64) {
	p.left--
	if n := len(p.used); n > 0 && p.used[n-1].second == sec {
		p.used[n-1].n++
		return
	}
	p.used = append(p.used, secondCount{sec, 1})
}

// usePermit takes one of the permits this process holds for an org, if
// any is left and in its time; refill tells that few are left, and that
// this caller is to take the next ones in the background.
func (sl *sharedLimits) usePermit(orgID, sec int64) (ok, refill bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	ps := sl.permits[orgID]
	for len(ps) > 0 && ps[0].until < sec { // past their time
		sl.retired = append(sl.retired, retiredPermits{orgID, ps[0]})
		ps = ps[1:]
	}
	sl.permits[orgID] = ps
	var left int64
	for _, p := range ps {
		if !ok && p.left > 0 {
			p.take(sec)
			ok = true
		}
		left += p.left
	}
	if !ok || sl.refilling[orgID] || sl.closing {
		return ok, false
	}
	last := ps[len(ps)-1]
	if left*4 <= last.granted || last.until <= sec {
		sl.refilling[orgID] = true
		sl.refills.Add(1)
		return true, true
	}
	return true, false
}

// unpermit gives back a permit taken for a request that was then refused.
func (sl *sharedLimits) unpermit(orgID, sec int64) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for _, p := range sl.permits[orgID] {
		if n := len(p.used); n > 0 && p.used[n-1].second == sec && p.used[n-1].n > 0 {
			p.used[n-1].n--
			p.left++
			return
		}
	}
}

func (sl *sharedLimits) settle(r reservation, used int64) {
	if len(r.keys) == 0 {
		return
	}
	used = max(used, 0)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for _, k := range r.keys {
		l := sl.leases[k]
		if l == nil {
			continue
		}
		l.reserved -= r.tokens
		l.pending += used
		if l.stale > 0 { // admitted under a limit since lowered
			unused := min(max(r.tokens-used, 0), l.stale, max(l.free(), 0))
			l.stale = max(l.stale-r.tokens, 0)
			if unused > 0 {
				l.tokens -= unused
				sl.giveBack = append(sl.giveBack, tokensOf{k, unused})
			}
		}
	}
}

// expireLocked forgets the leases once they may have expired in the
// database (this process couldn't renew them): they can't be spent, and
// new ones are leased. sl.mu is held.
func (sl *sharedLimits) expireLocked(now time.Time) {
	if now.Before(sl.validUntil) {
		return
	}
	for k, l := range sl.leases {
		// Not to be spent, and given back: the rows may still be live.
		if l.tokens > 0 {
			sl.giveBack = append(sl.giveBack, tokensOf{k, l.tokens})
		}
		l.tokens = 0
	}
	sl.validUntil = now.Add(leaseTTL - leaseMargin) // what is leased from now on
}

func (sl *sharedLimits) stripe(org, user int64, month int) int {
	var h maphash.Hash
	h.SetSeed(sl.seed)
	var b [24]byte
	for i, v := range []int64{org, user, int64(month)} {
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	h.Write(b[:])
	return int(h.Sum64() % uint64(len(sl.grants)))
}

func (sl *sharedLimits) run() {
	defer close(sl.done)
	t := time.NewTicker(limitsSync)
	defer t.Stop()
	for {
		select {
		case <-sl.stop:
			return
		case <-t.C:
			sl.sync(false)
		}
	}
}

// close writes what this process spent, and gives back its permits and
// leases.
func (sl *sharedLimits) close() {
	sl.once.Do(func() {
		sl.stopBackground()
		sl.sync(true)
	})
}

// stopBackground stops the sync loop and the refills, and waits for them.
func (sl *sharedLimits) stopBackground() {
	sl.mu.Lock()
	sl.closing = true
	sl.mu.Unlock()
	sl.refills.Wait()
	close(sl.stop)
	<-sl.done
}

// sync writes to the database what this process spent, gives back the
// permits of past seconds and the leases it stopped using (every one when
// final), renews its leases and prunes what expired. Writes are in a fixed
// key order, so that processes writing at once never deadlock.
func (sl *sharedLimits) sync(final bool) {
	sl.syncMu.Lock()
	defer sl.syncMu.Unlock()
	sl.txMu.Lock()
	defer sl.txMu.Unlock()
	now := sl.now()
	type spend = tokensOf
	var spends []spend
	var idle []spend // leases given back, with the tokens they held
	sl.mu.Lock()
	idle = append(idle, sl.giveBack...) // parts of leases, as they settled under a lowered limit
	sl.giveBack = nil
	month := monthKey(now)
	for k, l := range sl.leases {
		if l.pending > 0 {
			spends = append(spends, spend{k, l.pending})
		}
		if l.reserved == 0 && l.pending == 0 && (final || k.month != month || now.Sub(l.used) >= leaseIdle) {
			idle = append(idle, spend{k, l.tokens})
			l.tokens = 0
		}
	}
	retired := sl.retired
	sl.retired = nil
	for org, ps := range sl.permits {
		kept := ps[:0]
		for _, p := range ps {
			if p.until < now.Unix() || final {
				retired = append(retired, retiredPermits{org, p})
			} else {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			delete(sl.permits, org)
		} else {
			sl.permits[org] = kept
		}
	}
	var counts []requestCount // in the order written: by org, then second
	for _, r := range retired {
		counts = append(counts, requestCount{r.org, r.until, -r.granted})
		for _, u := range r.used {
			counts = append(counts, requestCount{r.org, u.second, u.n})
		}
	}
	renew := !final && now.Sub(sl.lastRenew) >= leaseRenew
	prune := !final && now.Sub(sl.lastPrune) >= time.Minute
	sl.mu.Unlock()
	if len(spends) == 0 && len(idle) == 0 && len(counts) == 0 && !renew && !prune && !final {
		return
	}
	byKey := func(a, b spend) int {
		return cmp.Or(cmp.Compare(a.key.org, b.key.org), cmp.Compare(a.key.user, b.key.user), cmp.Compare(a.key.month, b.key.month))
	}
	slices.SortFunc(spends, byKey)
	slices.SortFunc(idle, byKey)
	slices.SortStableFunc(counts, func(a, b requestCount) int {
		return cmp.Or(cmp.Compare(a.org, b.org), cmp.Compare(a.second, b.second))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := sl.st.InCountingTx(ctx, func(tx *store.Tx) error {
		if h := sl.syncTxHook; h != nil {
			if err := h(); err != nil {
				return err
			}
		}
		spent := make([]store.Spent, len(spends))
		for i, s := range spends {
			spent[i] = store.Spent{Key: budgetKey(s.key), Tokens: s.n}
		}
		if err := tx.Spend(ctx, sl.instance, spent); err != nil {
			return err
		}
		for _, s := range idle {
			if err := tx.DropLease(ctx, budgetKey(s.key), sl.instance, s.n); err != nil {
				return err
			}
		}
		for _, c := range counts {
			if c.n != 0 {
				if err := tx.AddRequests(ctx, c.org, c.second, c.n); err != nil {
					return err
				}
			}
		}
		if final {
			if err := tx.DropLeases(ctx, sl.instance, now); err != nil {
				return err
			}
		}
		if renew {
			if err := tx.RenewLeases(ctx, sl.instance, now, now.Add(leaseTTL)); err != nil {
				return err
			}
		}
		if prune {
			if err := tx.DropLeases(ctx, "", now.Add(-10*time.Minute)); err != nil {
				return err
			}
			return tx.PruneRequestCounts(ctx, now.Add(-2*time.Minute))
		}
		return nil
	})
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if err != nil {
		// Kept for the next round: spends are still pending, permits
		// still to account for, and what was given back waits to be
		// written by the next sync or grant of its budget (never put back
		// in a lease, where a limit lowered meanwhile wouldn't see it).
		sl.retired = append(sl.retired, retired...)
		sl.giveBack = append(sl.giveBack, idle...)
		sl.log.Error("write shared limits; retrying", "err", err)
		return
	}
	for _, s := range spends {
		if l := sl.leases[s.key]; l != nil {
			l.pending -= s.n
			l.tokens -= min(l.tokens, s.n)
		}
	}
	for _, s := range idle {
		if l := sl.leases[s.key]; l != nil && l.tokens == 0 && l.reserved == 0 && l.pending == 0 {
			delete(sl.leases, s.key)
		}
	}
	if renew {
		sl.lastRenew = now
		sl.validUntil = now.Add(leaseTTL - leaseMargin)
	}
	if prune {
		sl.lastPrune = now
	}
}

type requestCount struct{ org, second, n int64 }

// anyLimit: a grant that doesn't depend on the limit its lease was last
// granted under (see grant).
const anyLimit = -2

// tokensOf are tokens of one budget: spent, or given back.
type tokensOf struct {
	key ledgerKey
	n   int64
}

func budgetKey(k ledgerKey) store.BudgetKey {
	return store.BudgetKey{OrganizationID: k.org, UserID: k.user, Month: k.month}
}
