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
// usage, all under one lock, so concurrent requests can't together spend
// more than the budget. Month budgets start from the usage rollups the
// first time an org (or user) is seen in a month; after that the ledger in
// memory is the truth, including requests whose events are still waiting
// for the usage writer. This holds for one lamb process per database.
type limiter struct {
	mu     sync.Mutex
	months map[ledgerKey]*ledger
	minute map[int64]*minuteCount
}

type ledgerKey struct {
	org, user int64 // user 0: the whole org
	month     int   // YYYYMM in UTC
}

type ledger struct {
	used, reserved int64
}

type minuteCount struct {
	minute int64 // Unix minute
	n      int64
}

func newLimiter() *limiter {
	return &limiter{months: map[ledgerKey]*ledger{}, minute: map[int64]*minuteCount{}}
}

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

// admit checks and reserves. estimate is the tokens the request may use.
func (s *Service) admit(ctx context.Context, orgID, userID int64, l config.Limits, estimate int64) (reservation, error) {
	// A reservation is never negative: one would lower what every
	// concurrent request sees as reserved (a budget bypass).
	estimate = max(estimate, 1)
	now := s.now()
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
		if err := s.loadLedger(ctx, k, now); err != nil {
			return reservation{}, err
		}
	}
	lm := s.limits
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if rpm := l.RequestsPerMinute; rpm != config.Unlimited {
		m := now.Unix() / 60
		c := lm.minute[orgID]
		if c == nil || c.minute != m {
			c = &minuteCount{minute: m}
			lm.minute[orgID] = c
		}
		if c.n >= rpm {
			wait := time.Unix((m+1)*60, 0).Sub(now)
			return reservation{}, &GatewayError{Status: 429, Type: "rate_limit_error", Code: "rate_limit_exceeded",
				Message:    fmt.Sprintf("your organization's limit of %d requests per minute is reached; retry in %d s", rpm, ceilSeconds(wait)),
				RetryAfter: wait}
		}
	}
	for i, k := range keys {
		led := lm.months[k]
		if led == nil {
			// Pruned by a request of the next month between our load and
			// this lock: the month is over, its budget doesn't matter.
			led = &ledger{}
			lm.months[k] = led
		}
		if limits[i] != config.Unlimited && led.used+led.reserved+estimate > limits[i] {
			wait := nextMonth(now).Sub(now)
			which := "your organization's monthly token budget"
			if k.user != 0 {
				which = "the monthly token budget of this assistant's owner"
			}
			return reservation{}, &GatewayError{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota",
				Message:    which + " is used up (it resets on the 1st, UTC); ask an admin to raise it",
				RetryAfter: wait}
		}
	}
	for _, k := range keys {
		lm.months[k].reserved += estimate
	}
	if c := lm.minute[orgID]; c != nil && l.RequestsPerMinute != config.Unlimited {
		c.n++ // counted only when admitted
	}
	return reservation{keys: keys, tokens: estimate}, nil
}

// loadLedger creates the ledger of k from the rollups if it doesn't exist.
func (s *Service) loadLedger(ctx context.Context, k ledgerKey, now time.Time) error {
	lm := s.limits
	lm.mu.Lock()
	_, ok := lm.months[k]
	lm.mu.Unlock()
	if ok {
		return nil
	}
	start := time.Date(k.month/100, time.Month(k.month%100), 1, 0, 0, 0, 0, time.UTC)
	t, err := s.st.SumUsage(ctx, store.UsageFilter{OrganizationID: k.org, UserID: k.user, From: store.Day(start), To: store.Day(now)})
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

// settle replaces a reservation by the tokens really used (never
// negative, whatever a provider reports).
func (s *Service) settle(r reservation, used int64) {
	if len(r.keys) == 0 {
		return
	}
	used = max(used, 0)
	lm := s.limits
	lm.mu.Lock()
	defer lm.mu.Unlock()
	for _, k := range r.keys {
		if led := lm.months[k]; led != nil {
			led.reserved -= r.tokens
			led.used += used
		}
	}
}

func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
