package service

import (
	"context"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"lamb/config"
	"lamb/store"
)

// Budget alerts (alerts.thresholds of an org's config): when the tokens of
// a month budget — the org's tokens_per_month, or a user's
// user_tokens_per_month — reach a threshold's percent of it, the crossing
// is recorded once for that month, audited (budget.alert), logged, counted
// for /metrics, shown on the org admins' dashboard and in whoami, and
// POSTed to the org's webhook if it has one.
//
// Every lamb process runs the checker (RunBudgetAlerts). It reads the
// usage rollups, which every process writes, so it sees the budgets as
// they are whoever spent them: soon after this process's usage is stored
// (the usage writer tells it which budgets moved), and every Scan for all
// orgs (usage of other processes, a limit lowered, a threshold added). A
// crossing is a row with a unique key (org, month, user, threshold): of
// the processes that see it, the one whose insert makes the row announces
// it, and a restart finds it recorded. Nothing of this runs on the path
// of a request: a completion only adds its event to the usage queue, as
// before, and the webhook is sent from a bounded queue of its own.

// AlertOptions tune the budget alerts; zero fields take the defaults.
type AlertOptions struct {
	// AllowPrivate lets webhooks reach loopback, link-local and private
	// addresses (LAMB_WEBHOOK_ALLOW_PRIVATE). Off, such URLs are refused
	// when set and such addresses when dialled.
	AllowPrivate bool
	// Scan is how often every org's budgets are checked; 30 s.
	Scan time.Duration
	// Gap is the least time between two checks; 1 s.
	Gap time.Duration
	// Queue bounds the webhook deliveries waiting to be sent; 256.
	Queue int
	// Workers send webhooks at once; 4.
	Workers int
	// Attempts bounds the tries of one delivery; 5.
	Attempts int
	// Backoff is the wait before the second try, doubled before each
	// next one (at most a minute); 2 s.
	Backoff time.Duration
	// Timeout bounds one try, from dialling to the answer's headers; 10 s.
	Timeout time.Duration
}

func (o AlertOptions) withDefaults() AlertOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Scan, 30*time.Second)
	def(&o.Gap, time.Second)
	def(&o.Backoff, 2*time.Second)
	def(&o.Timeout, 10*time.Second)
	if o.Queue <= 0 {
		o.Queue = 256
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	return o
}

// Alert scopes: whose budget was crossed.
const (
	ScopeOrg  = "org"
	ScopeUser = "user"
)

// BudgetAlert is a threshold of a month budget crossed, as people and the
// webhook see it.
type BudgetAlert struct {
	ID        int64     `json:"id"`
	Org       string    `json:"org"`
	Scope     string    `json:"scope"`          // org or user
	User      string    `json:"user,omitempty"` // the user's email, for scope user
	Threshold int       `json:"threshold"`      // percent
	Used      int64     `json:"used"`           // tokens used when it was crossed
	Limit     int64     `json:"limit"`          // the budget then
	Period    string    `json:"period"`         // the month: 2026-05
	ResetsAt  time.Time `json:"resets_at"`      // the next month's start (UTC)
	CrossedAt time.Time `json:"crossed_at"`
	Message   string    `json:"message"`
	// Webhook is how its webhook went: "" (none, or not yet sent),
	// "delivered (HTTP 200)", "failed after 5 tries: …", "dropped: …".
	Webhook string `json:"webhook,omitempty"`
}

// budgetAlerts is the checker's state.
type budgetAlerts struct {
	opts    AlertOptions
	running atomic.Bool
	nudge   chan struct{} // a batch of usage was stored: check its budgets

	mu     sync.Mutex
	dirty  map[movedBudget]struct{} // budgets this process's stored usage moved (user 0: the org's)
	fired  map[crossingKey]struct{} // crossings known to be recorded
	loaded map[budgetPeriod]bool    // fired holds every recorded crossing of this org and month

	hook                *webhookSender
	orgFired, userFired atomic.Int64
}

type movedBudget struct{ org, user int64 }

type budgetPeriod struct {
	org    int64
	period int
}

type crossingKey struct {
	org       int64
	period    int
	user      int64
	threshold int
}

func newBudgetAlerts(opts AlertOptions) *budgetAlerts {
	return &budgetAlerts{opts: opts.withDefaults(), nudge: make(chan struct{}, 1), dirty: map[movedBudget]struct{}{},
		fired: map[crossingKey]struct{}{}, loaded: map[budgetPeriod]bool{}}
}

// usageStored notes the budgets a stored batch of usage moved, and wakes
// the checker. It runs in the usage writer, never on a request's path.
func (b *budgetAlerts) usageStored(events []store.UsageEvent) {
	if !b.running.Load() {
		return
	}
	moved := false
	b.mu.Lock()
	for _, e := range events {
		if e.PromptTokens+e.CompletionTokens <= 0 {
			continue
		}
		b.dirty[movedBudget{e.OrganizationID, 0}] = struct{}{}
		if e.UserID != 0 {
			b.dirty[movedBudget{e.OrganizationID, e.UserID}] = struct{}{}
		}
		moved = true
	}
	b.mu.Unlock()
	if moved {
		select {
		case b.nudge <- struct{}{}:
		default:
		}
	}
}

// RunBudgetAlerts checks the budgets and sends the webhooks until ctx is
// done. Every process runs it (see the top of this file).
func (s *Service) RunBudgetAlerts(ctx context.Context) {
	b := s.alerts
	if !b.running.CompareAndSwap(false, true) {
		return
	}
	defer b.running.Store(false)
	var workers sync.WaitGroup
	b.hook.start(ctx, &workers)
	defer workers.Wait()
	scan := time.NewTicker(b.opts.Scan)
	defer scan.Stop()
	s.scanBudgets(ctx) // crossings made while no process was checking
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.nudge:
			s.checkMovedBudgets(ctx)
		case <-scan.C:
			s.scanBudgets(ctx)
		}
		// A busy process checks at most once a Gap.
		select {
		case <-ctx.Done():
			return
		case <-time.After(b.opts.Gap):
		}
	}
}

// checkMovedBudgets checks the budgets that this process's stored usage
// moved since the last check.
func (s *Service) checkMovedBudgets(ctx context.Context) {
	b := s.alerts
	b.mu.Lock()
	moved := b.dirty
	b.dirty = map[movedBudget]struct{}{}
	b.mu.Unlock()
	users := map[int64][]int64{}
	for k := range moved {
		if k.user == 0 {
			users[k.org] = users[k.org]
		} else {
			users[k.org] = append(users[k.org], k.user)
		}
	}
	for org, ids := range users {
		if ctx.Err() != nil {
			return
		}
		if err := s.checkOrgBudgets(ctx, org, ids, false); err != nil && ctx.Err() == nil {
			s.log.Error("check budget alerts", "org_id", org, "err", err)
		}
	}
}

// CheckBudgetAlerts checks every org's budgets once, now, as the
// checker does every Scan (for tools and tests; RunBudgetAlerts runs it).
func (s *Service) CheckBudgetAlerts(ctx context.Context) { s.scanBudgets(ctx) }

// scanBudgets checks every active org's budgets, on one process at a
// time (the others skip their round: the rows make crossings fire once
// anyway, this only spares the database the same reads).
func (s *Service) scanBudgets(ctx context.Context) {
	_, err := s.st.TryExclusive(ctx, store.LockBudgetAlerts, func(ctx context.Context) error {
		ids, err := s.st.ActiveOrgIDs(ctx)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return nil
			}
			if err := s.checkOrgBudgets(ctx, id, nil, true); err != nil && ctx.Err() == nil {
				s.log.Error("check budget alerts", "org_id", id, "err", err)
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Error("check budget alerts", "err", err)
	}
}

// checkOrgBudgets checks an org's budget and, when it sets
// user_tokens_per_month, its users' budgets: those of users, or with
// allUsers every user who used tokens this month.
func (s *Service) checkOrgBudgets(ctx context.Context, orgID int64, users []int64, allUsers bool) error {
	cfg, slug, active, err := s.orgConfig(ctx, orgID)
	if err != nil {
		if isAnswer(err) { // deleted meanwhile
			return nil
		}
		return err
	}
	levels := cfg.Alerts.Levels()
	limits := cfg.EffectiveLimits()
	if !active || len(levels) == 0 || (limits.TokensPerMonth <= 0 && limits.UserTokensPerMonth <= 0) {
		return nil
	}
	now := s.now()
	for _, month := range alertMonths(now) {
		if err := s.loadCrossings(ctx, orgID, month); err != nil {
			return err
		}
		f := store.UsageFilter{OrganizationID: orgID, From: store.Day(month), To: store.Day(lastDay(month))}
		period := monthKey(month)
		if limits.TokensPerMonth > 0 {
			t, err := s.st.SumUsage(ctx, f)
			if err != nil {
				return err
			}
			if err := s.checkBudget(ctx, cfg, slug, orgID, period, 0, t.Tokens(), limits.TokensPerMonth); err != nil {
				return err
			}
		}
		if limits.UserTokensPerMonth <= 0 {
			continue
		}
		used := map[int64]int64{}
		if allUsers || len(users) > perUserSums {
			groups, err := s.st.GroupUsage(ctx, f, "user")
			if err != nil {
				return err
			}
			for _, g := range groups {
				used[g.Key] = g.Tokens()
			}
		} else {
			for _, u := range users {
				uf := f
				uf.UserID = u
				t, err := s.st.SumUsage(ctx, uf)
				if err != nil {
					return err
				}
				used[u] = t.Tokens()
			}
		}
		for u, n := range used {
			if u == 0 { // refused before an assistant was known
				continue
			}
			if err := s.checkBudget(ctx, cfg, slug, orgID, period, u, n, limits.UserTokensPerMonth); err != nil {
				return err
			}
		}
	}
	return nil
}

// perUserSums bounds the per-user sums of a check: past it, one grouped
// sum of the org's month answers for every user at once.
const perUserSums = 32

// alertMonths are the months whose budgets are checked at now: this one,
// and in its first minutes the last one too, whose final requests may
// have been stored after it ended.
func alertMonths(now time.Time) []time.Time {
	this := monthStart(now)
	if now.Sub(this) < 10*time.Minute {
		return []time.Time{this, this.AddDate(0, -1, 0)}
	}
	return []time.Time{this}
}

func lastDay(month time.Time) time.Time { return month.AddDate(0, 1, -1) }

// loadCrossings reads the crossings recorded for an org's month once, so
// that the checker doesn't try again to record each of them.
func (s *Service) loadCrossings(ctx context.Context, orgID int64, month time.Time) error {
	b, key := s.alerts, budgetPeriod{orgID, monthKey(month)}
	b.mu.Lock()
	done := b.loaded[key]
	b.mu.Unlock()
	if done {
		return nil
	}
	rows, err := s.st.BudgetAlerts(ctx, store.BudgetAlertFilter{OrganizationID: orgID, Period: key.period, Limit: 100_000})
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range rows {
		b.fired[crossingKey{orgID, r.Period, r.UserID, r.Threshold}] = struct{}{}
	}
	b.loaded[key] = true
	// Months before the last one are over for good.
	for k := range b.loaded {
		if k.period < monthKey(month.AddDate(0, -1, 0)) {
			delete(b.loaded, k)
		}
	}
	for k := range b.fired {
		if k.period < monthKey(month.AddDate(0, -1, 0)) {
			delete(b.fired, k)
		}
	}
	return nil
}

// checkBudget records each threshold of a budget that used reaches and
// that isn't recorded yet.
func (s *Service) checkBudget(ctx context.Context, cfg *config.Org, slug string, orgID int64, period int, userID, used, limit int64) error {
	for _, t := range cfg.Alerts.Levels() {
		if !reached(used, limit, t) {
			return nil // thresholds increase
		}
		key := crossingKey{orgID, period, userID, t}
		s.alerts.mu.Lock()
		_, known := s.alerts.fired[key]
		s.alerts.mu.Unlock()
		if known {
			continue
		}
		if err := s.recordCrossing(ctx, cfg, slug, key, used, limit); err != nil {
			return err
		}
	}
	return nil
}

// reached reports whether used is at least pct percent of limit, without
// overflowing whatever the figures.
func reached(used, limit int64, pct int) bool {
	if used <= 0 || limit <= 0 {
		return false
	}
	uh, ul := bits.Mul64(uint64(used), 100)
	lh, ll := bits.Mul64(uint64(limit), uint64(pct))
	return uh > lh || (uh == lh && ul >= ll)
}

// recordCrossing records a crossing with its audit event in one
// transaction; if this process made the row, it announces it.
func (s *Service) recordCrossing(ctx context.Context, cfg *config.Org, slug string, k crossingKey, used, limit int64) error {
	email := ""
	if k.user != 0 {
		u, err := s.st.UserByID(ctx, k.user)
		if err == nil && u.OrganizationID == k.org {
			email = u.Email
		}
		if err != nil && !isAnswer(err) {
			return err
		}
		if email == "" { // deleted, or moved to another org: its budget here is gone
			s.markFired(k)
			return nil
		}
	}
	row := store.BudgetAlert{OrganizationID: k.org, Period: k.period, UserID: k.user, Threshold: k.threshold,
		Used: used, Budget: limit, CreatedAt: s.now().Truncate(time.Second), UserEmail: email}
	alert := s.alertView(cfg, slug, row)
	var inserted bool
	err := s.st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		row.ID, inserted, err = tx.InsertBudgetAlert(ctx, row)
		if err != nil || !inserted {
			return err
		}
		target := slug
		if email != "" {
			target = email
		}
		return s.audit(ctx, tx.Queries, SystemActor(), k.org, "budget.alert", target, map[string]any{
			"scope": alert.Scope, "threshold": k.threshold, "used": used, "limit": limit, "period": alert.Period,
			"message": alert.Message,
		})
	})
	if err != nil {
		return fmt.Errorf("record budget alert: %w", err)
	}
	s.markFired(k)
	if !inserted {
		return nil // another process recorded it first, and announces it
	}
	alert.ID = row.ID
	if k.user == 0 {
		s.alerts.orgFired.Add(1)
	} else {
		s.alerts.userFired.Add(1)
	}
	s.log.Warn("budget alert", "org", slug, "scope", alert.Scope, "user", email, "threshold", k.threshold,
		"used", used, "limit", limit, "period", alert.Period, "message", alert.Message)
	if url := cfg.Alerts.WebhookURL; url != "" {
		s.alerts.hook.enqueue(webhookJob{id: row.ID, url: url, body: webhookBody("budget.alert", alert)})
	}
	return nil
}

func (s *Service) markFired(k crossingKey) {
	s.alerts.mu.Lock()
	s.alerts.fired[k] = struct{}{}
	s.alerts.mu.Unlock()
}

// alertView is a recorded crossing as people and the webhook see it.
func (s *Service) alertView(cfg *config.Org, slug string, r store.BudgetAlert) BudgetAlert {
	month := time.Date(r.Period/100, time.Month(r.Period%100), 1, 0, 0, 0, 0, time.UTC)
	a := BudgetAlert{ID: r.ID, Org: slug, Scope: ScopeOrg, Threshold: r.Threshold, Used: r.Used, Limit: r.Budget,
		Period: month.Format("2006-01"), ResetsAt: month.AddDate(0, 1, 0), CrossedAt: r.CreatedAt, Webhook: r.Delivery}
	if r.UserID != 0 {
		a.Scope, a.User = ScopeUser, r.UserEmail
		if a.User == "" {
			a.User = fmt.Sprintf("deleted user #%d", r.UserID)
		}
	}
	a.Message = alertMessage(a, month, fromCeiling(cfg, a.Scope))
	return a
}

// fromCeiling reports whether the budget of scope is the platform's
// ceiling rather than the org admins' limit: then only system admins can
// raise it.
func fromCeiling(cfg *config.Org, scope string) bool {
	if cfg == nil || cfg.Ceiling == nil {
		return false
	}
	limit, ceiling := cfg.Limits.TokensPerMonth, cfg.Ceiling.TokensPerMonth
	if scope == ScopeUser {
		limit, ceiling = cfg.Limits.UserTokensPerMonth, cfg.Ceiling.UserTokensPerMonth
	}
	return ceiling != config.Unlimited && (limit == config.Unlimited || ceiling <= limit)
}

// alertMessage says what happened and what can be done: "acme has used
// 80 % (800,000 of 1,000,000 tokens) of its May budget; it resets on 1
// June; an org admin can raise tokens_per_month".
func alertMessage(a BudgetAlert, month time.Time, ceiling bool) string {
	pct := int64(0)
	if a.Limit > 0 {
		hi, lo := bits.Mul64(uint64(max(a.Used, 0)), 100)
		if hi < uint64(a.Limit) {
			q, _ := bits.Div64(hi, lo, uint64(a.Limit))
			pct = int64(q)
		}
	}
	next := month.AddDate(0, 1, 0)
	resets := fmt.Sprintf("%d %s", next.Day(), next.Month())
	if next.Month() == time.January {
		resets += fmt.Sprint(" ", next.Year())
	}
	who, whose, field, refused := a.Org, "its", "tokens_per_month", "completions are refused"
	if a.Scope == ScopeUser {
		who, whose, field, refused = a.User, "their", "user_tokens_per_month", "completions of their assistants are refused"
	}
	msg := fmt.Sprintf("%s has used %d %% (%s of %s tokens) of %s %s budget", who, pct, grouped(a.Used), grouped(a.Limit), whose, month.Month())
	if a.Scope == ScopeUser {
		msg += " in " + a.Org
	}
	if pct != int64(a.Threshold) {
		msg += fmt.Sprintf(", past the %d %% alert", a.Threshold)
	}
	if a.Used >= a.Limit {
		msg += fmt.Sprintf("; %s until it resets on %s", refused, resets)
	} else {
		msg += "; it resets on " + resets
	}
	if ceiling {
		return msg + "; the platform's administrators can raise the ceiling of " + field
	}
	return msg + "; an org admin can raise " + field
}

// grouped writes n with thousands separators: 1,000,000.
func grouped(n int64) string {
	s := fmt.Sprint(n)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// currentAlerts are the crossings of an org in this month (and, in its
// first minutes, the last one): every one, or those of one user's budget.
func (s *Service) currentAlerts(ctx context.Context, o store.Org, userID int64, limit int) ([]BudgetAlert, error) {
	cfg, err := s.openConfig(o)
	if err != nil {
		return nil, err
	}
	out := []BudgetAlert{}
	for _, month := range alertMonths(s.now()) {
		rows, err := s.st.BudgetAlerts(ctx, store.BudgetAlertFilter{OrganizationID: o.ID, Period: monthKey(month), UserID: userID, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			out = append(out, s.alertView(cfg, o.Slug, r))
		}
	}
	return out, nil
}

// AlertStats counts the budget alerts of this process, for /metrics.
type AlertStats struct {
	Fired    map[string]int64 // by scope: org, user
	Webhooks map[string]int64 // by result: delivered, failed, dropped
	Queue    int              // deliveries waiting
}

// AlertStats returns the budget alerts' counters since start.
func (s *Service) AlertStats() AlertStats {
	h := s.alerts.hook
	return AlertStats{
		Fired:    map[string]int64{ScopeOrg: s.alerts.orgFired.Load(), ScopeUser: s.alerts.userFired.Load()},
		Webhooks: map[string]int64{"delivered": h.delivered.Load(), "failed": h.failed.Load(), "dropped": h.dropped.Load()},
		Queue:    len(h.queue),
	}
}
