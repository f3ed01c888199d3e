package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"lamb/config"
	"lamb/store"
)

// limiter admits completion requests against an org's requests_per_minute,
// tokens_per_month and user_tokens_per_month. Admission reserves tokens
// before the call and settlement replaces the reservation with the real
// usage, so concurrent requests can't together spend more than the budget.
//
// Two kinds keep the state: memoryLimits, for one lamb process on its
// database (SQLite), and sharedLimits, for any number of processes on one
// database (PostgreSQL).
type limiter interface {
	// admit checks and reserves what a request may spend (see need).
	admit(ctx context.Context, orgID, userID int64, l config.Limits, n need) (reservation, error)
	// extend adds to an admitted request's reservation what it turned out
	// to need after admission (context a knowledge base found), by admit's
	// rule: a request that set max_tokens must fit whole; a flexible one
	// stays admitted, with what is left, while its prompt and one token a
	// choice fit. n is what it was admitted with.
	extend(ctx context.Context, r *reservation, l config.Limits, n need, extra int64) error
	// settle replaces a reservation by the tokens really used (never
	// negative, whatever a provider reports).
	settle(r reservation, used int64)
	// close writes what is left to write; the limiter admits no more.
	close()
}

func (s *Service) admit(ctx context.Context, orgID, userID int64, l config.Limits, n need) (reservation, error) {
	return s.limits.admit(ctx, orgID, userID, l, n)
}

func (s *Service) extend(ctx context.Context, r *reservation, l config.Limits, n need, extra int64) error {
	return s.limits.extend(ctx, r, l, n, extra)
}

func (s *Service) settle(r reservation, used int64) { s.limits.settle(r, used) }

// memoryLimits keeps the limits' state in memory, under one lock. Month
// budgets start from the usage rollups the first time an org (or user) is
// seen in a month; after that the ledger in memory is the truth,
// including requests whose events are still waiting for the usage writer.
// This holds for one lamb process per database.
type memoryLimits struct {
	st  *store.Store
	now func() time.Time

	mu     sync.Mutex
	months map[ledgerKey]*ledger
	minute map[int64]*rpmWindow
}

type ledgerKey struct {
	org, user int64 // user 0: the whole org
	month     int   // YYYYMM in UTC
}

type ledger struct {
	used, reserved int64
}

// rpmWindow counts an org's admitted requests in the last 60 seconds, in
// one-second buckets: a sliding window, so no 60 s span ever holds more
// than requests_per_minute (a calendar minute let twice the limit through
// across its boundary).
type rpmWindow struct {
	n   [60]int64 // admitted requests of each second
	sec [60]int64 // the Unix second each bucket counts
}

// count is the requests admitted in the 60 seconds up to now.
func (w *rpmWindow) count(now int64) int64 {
	var sum int64
	for i := range w.n {
		if now-w.sec[i] < 60 {
			sum += w.n[i]
		}
	}
	return sum
}

func (w *rpmWindow) add(now int64) {
	i := now % 60
	if w.sec[i] != now {
		w.sec[i], w.n[i] = now, 0
	}
	w.n[i]++
}

// retryAfter is how many seconds until fewer than limit requests remain
// in the window.
func (w *rpmWindow) retryAfter(now, limit int64) int64 {
	rest := w.count(now)
	for s := now - 59; s <= now; s++ {
		if i := s % 60; w.sec[i] == s {
			rest -= w.n[i]
		}
		if rest < limit {
			return s + 60 - now
		}
	}
	return 60
}

func newMemoryLimits(st *store.Store, now func() time.Time) *memoryLimits {
	return &memoryLimits{st: st, now: now, months: map[ledgerKey]*ledger{}, minute: map[int64]*rpmWindow{}}
}

func (lm *memoryLimits) close() {}

// reservation is what admit took; settle gives it back with real usage.
type reservation struct {
	keys   []ledgerKey
	tokens int64
}

func monthKey(t time.Time) int {
	t = t.UTC()
	return t.Year()*100 + int(t.Month())
}

func nextMonth(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

func (lm *memoryLimits) admit(ctx context.Context, orgID, userID int64, l config.Limits, n need) (reservation, error) {
	// A reservation is never negative: one would lower what every
	// concurrent request sees as reserved (a budget bypass).
	estimate := max(n.total(), 1)
	now := lm.now()
	month := monthKey(now)
	// Ledgers are kept whether or not a limit is set, so that a limit set
	// in the middle of a month starts from the right figure.
	keys := []ledgerKey{{orgID, 0, month}}
	limits := []int64{l.TokensPerMonth}
	if userID != 0 {
		keys, limits = append(keys, ledgerKey{orgID, userID, month}), append(limits, l.UserTokensPerMonth)
	}
	// Load month ledgers from the rollups outside the lock, once.
	for _, k := range keys {
		if err := lm.loadLedger(ctx, k, now); err != nil {
			return reservation{}, err
		}
	}
	lm.mu.Lock()
	defer lm.mu.Unlock()
	sec := now.Unix()
	if rpm := l.RequestsPerMinute; rpm != config.Unlimited {
		w := lm.minute[orgID]
		if w == nil {
			w = &rpmWindow{}
			lm.minute[orgID] = w
		}
		if w.count(sec) >= rpm {
			return reservation{}, rateError(rpm, w.retryAfter(sec, rpm))
		}
	}
	// What is left of the tightest budget decides.
	left, tightest := int64(-1), ledgerKey{}
	for i, k := range keys {
		led := lm.months[k]
		if led == nil {
			// Pruned by a request of the next month between our load and
			// this lock: the month is over, its budget doesn't matter.
			led = &ledger{}
			lm.months[k] = led
		}
		if limits[i] == config.Unlimited {
			continue
		}
		if rest := max(limits[i]-led.used-led.reserved, 0); left < 0 || rest < left {
			left, tightest = rest, k
		}
	}
	if left >= 0 && estimate > left {
		if !n.flexible || left < max(n.least(), 1) {
			return reservation{}, quotaError(tightest, estimate, left, now)
		}
		estimate = left // all that is left: the answer may be short
	}
	for _, k := range keys {
		lm.months[k].reserved += estimate
	}
	if w := lm.minute[orgID]; w != nil && l.RequestsPerMinute != config.Unlimited {
		w.add(sec) // counted only when admitted
	}
	return reservation{keys: keys, tokens: estimate}, nil
}

func (lm *memoryLimits) extend(_ context.Context, r *reservation, l config.Limits, n need, extra int64) error {
	if extra <= 0 || len(r.keys) == 0 {
		return nil
	}
	limits := []int64{l.TokensPerMonth, l.UserTokensPerMonth} // admit's order of keys: org, then user
	lm.mu.Lock()
	defer lm.mu.Unlock()
	left, tightest := int64(-1), ledgerKey{}
	for i, k := range r.keys {
		led := lm.months[k]
		if led == nil || limits[i] == config.Unlimited {
			continue
		}
		if rest := max(limits[i]-led.used-led.reserved, 0); left < 0 || rest < left {
			left, tightest = rest, k
		}
	}
	add := extra
	if left >= 0 && extra > left {
		n.prompt += extra
		if !n.flexible || left+r.tokens < max(n.least(), 1) {
			return quotaError(tightest, n.total(), left+r.tokens, lm.now())
		}
		add = left
	}
	for _, k := range r.keys {
		if led := lm.months[k]; led != nil {
			led.reserved += add
		}
	}
	r.tokens += add
	return nil
}

// loadLedger creates the ledger of k from the rollups if it doesn't exist.
func (lm *memoryLimits) loadLedger(ctx context.Context, k ledgerKey, now time.Time) error {
	lm.mu.Lock()
	_, ok := lm.months[k]
	lm.mu.Unlock()
	if ok {
		return nil
	}
	start := time.Date(k.month/100, time.Month(k.month%100), 1, 0, 0, 0, 0, time.UTC)
	t, err := lm.st.SumUsage(ctx, store.UsageFilter{OrganizationID: k.org, UserID: k.user, From: store.Day(start), To: store.Day(now)})
	if err != nil {
		return fmt.Errorf("read usage for limits: %w", err)
	}
	lm.mu.Lock()
	if _, ok := lm.months[k]; !ok {
		lm.months[k] = &ledger{used: t.Tokens()}
		for old, led := range lm.months { // last month's ledgers, once settled
			if old.month < k.month && led.reserved == 0 {
				delete(lm.months, old)
			}
		}
	}
	lm.mu.Unlock()
	return nil
}

func (lm *memoryLimits) settle(r reservation, used int64) {
	if len(r.keys) == 0 {
		return
	}
	used = max(used, 0)
	lm.mu.Lock()
	defer lm.mu.Unlock()
	for _, k := range r.keys {
		if led := lm.months[k]; led != nil {
			led.reserved -= r.tokens
			led.used += used
		}
	}
}

// quotaError refuses a request that may need more tokens than a budget
// has left, saying both and what helps.
func quotaError(k ledgerKey, need, left int64, now time.Time) *GatewayError {
	which := "your organization's monthly token budget"
	if k.user != 0 {
		which = "the monthly token budget of this assistant's owner"
	}
	msg := fmt.Sprintf("%s is used up (it resets on the 1st, UTC); ask an admin to raise it", which)
	if left > 0 {
		msg = fmt.Sprintf("this request may need up to %d tokens (its prompt and max_tokens for each choice) but %s has %d left; "+
			"set a lower max_tokens, or ask an admin to raise the budget (it resets on the 1st, UTC)", need, which, left)
	}
	return &GatewayError{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota", Message: msg, RetryAfter: nextMonth(now).Sub(now)}
}

// rateError refuses a request past requests_per_minute.
func rateError(rpm, wait int64) *GatewayError {
	return &GatewayError{Status: 429, Type: "rate_limit_error", Code: "rate_limit_exceeded",
		Message:    fmt.Sprintf("your organization's limit of %d requests per minute (any 60 seconds) is reached; retry in %d s", rpm, wait),
		RetryAfter: time.Duration(wait) * time.Second}
}

func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
