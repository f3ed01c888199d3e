// Package service holds every rule of lamb: who may do what, to which
// organization's data, and how. It is transport-free: the TUI, the SSH
// commands and the HTTP API all call the same methods with an Actor.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"lamb/config"
	"lamb/provider"
	"lamb/secret"
	"lamb/store"
)

// Deps are what the service is built from.
type Deps struct {
	Store *store.Store
	Box   *secret.Box // seals secrets at rest
	// Providers calls AI providers; a new pool when nil.
	Providers *provider.Clients
	Logger    *slog.Logger
	Now       func() time.Time // time.Now when nil
	// SystemEnv re-reads the system-org variables (the .env file and the
	// environment) for "sync now"; nil when the process has none.
	SystemEnv func() (config.System, error)
	// PublicURL is the base URL of the HTTP listener, for signup links.
	PublicURL string
	// ProviderTimeout bounds a provider's silence: the wait for its
	// answer, and each gap between streamed chunks. 120 s when zero.
	ProviderTimeout time.Duration
	// KBTimeout bounds a completion's knowledge-base retrieval, all its
	// collections together. 10 s when zero.
	KBTimeout time.Duration
	// HashGate bounds the password hashing in progress; nil: 4 at once,
	// 32 more waiting up to 2 s.
	HashGate *HashGate
	// SharedLimits keeps budgets, the requests-per-minute window and what
	// they need in the database, as several processes on one database
	// need; otherwise in memory. Nil: shared on PostgreSQL.
	SharedLimits *bool
	// LookupTimeout bounds the database work of resolving an SSH session's
	// identity and of signing in; 5 s when zero.
	LookupTimeout time.Duration
	// Alerts tune the budget alerts and their webhooks (alerts.go).
	Alerts AlertOptions
}

// Service is the application. It is safe for concurrent use.
type Service struct {
	st        *store.Store
	box       *secret.Box
	log       *slog.Logger
	now       func() time.Time
	systemEnv func() (config.System, error)
	publicURL string
	providers *provider.Clients
	signIns   signInLimits
	// The throttles, counted in the database (window.go).
	// signups limits signup attempts per address, signupKeys per key.
	signups, signupKeys *window
	// signupKeySets limits signup set-key per person, uniqueness the
	// "already used" answers per person (probes.go).
	signupKeySets, uniqueness *window
	hashes                    *HashGate
	lookupTimeout             time.Duration

	// The gateway's caches, limits and usage writer.
	providerTimeout time.Duration
	kbTimeout       time.Duration
	keys            *cache[string, store.APIKeyWithOwner]
	assistants      *cache[int64, routedAssistant]
	orgConfigs      *cache[int64, orgConfigEntry]
	changesSeen     atomic.Int64 // the change counter when the caches were last checked
	stopWatching    chan struct{}
	closeOnce       sync.Once
	limits          limiter
	usage           *usageWriter
	refusals        *refusalSampler
	keyTouched      map[int64]time.Time
	stats           gatewayStats
	alerts          *budgetAlerts

	mu      sync.Mutex
	managed map[string]string // system-org fields managed by the environment → variable
}

// New returns a Service over an open, migrated store.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Providers == nil {
		d.Providers = provider.NewClients()
	}
	if d.ProviderTimeout == 0 {
		d.ProviderTimeout = 120 * time.Second
	}
	if d.KBTimeout == 0 {
		d.KBTimeout = 10 * time.Second
	}
	if d.HashGate == nil {
		d.HashGate = NewHashGate(defaultHashSlots, defaultHashQueue, defaultHashWait)
	}
	if d.LookupTimeout == 0 {
		d.LookupTimeout = defaultLookupTimeout
	}
	alerts := newBudgetAlerts(d.Alerts)
	s := &Service{
		st: d.Store, box: d.Box, log: d.Logger, now: d.Now,
		systemEnv: d.SystemEnv, publicURL: d.PublicURL, providers: d.Providers,
		hashes: d.HashGate, lookupTimeout: d.LookupTimeout,
		managed:         map[string]string{},
		providerTimeout: d.ProviderTimeout, kbTimeout: d.KBTimeout,
		keys:         newCache[string, store.APIKeyWithOwner](200_000, isAnswer),
		assistants:   newCache[int64, routedAssistant](200_000, isAnswer),
		orgConfigs:   newCache[int64, orgConfigEntry](20_000, isAnswer),
		stopWatching: make(chan struct{}),
		usage:        newUsageWriter(d.Store, d.Logger, alerts.usageStored),
		alerts:       alerts,
		refusals:     newRefusalSampler(),
		keyTouched:   map[int64]time.Time{},
	}
	alerts.hook = newWebhookSender(alerts.opts, d.Logger, s.recordDelivery)
	shared := d.Store.Engine() == store.EnginePostgres
	if d.SharedLimits != nil {
		shared = *d.SharedLimits
	}
	s.limits = newMemoryLimits(d.Store, d.Now)
	if shared {
		s.limits = newSharedLimits(d.Store, d.Logger, d.Now)
	}
	s.signIns = s.newSignInLimits()
	s.signups = s.newWindow(scopeSignupAddrs, signupPerMinute, signupWindow)
	s.signupKeys = s.newWindow(scopeSignupKeys, signupPerMinute, signupWindow)
	s.signupKeySets = s.newWindow(scopeSignupKeySets, signupKeySetsPerHour, signupKeySetWindow)
	s.uniqueness = s.newWindow(scopeUniqueness, uniquenessProbes, uniquenessWindow)
	// The caches follow the database's change counter: at once after this
	// process's writes, within changePoll for other processes'.
	s.syncCaches(context.Background())
	d.Store.OnCommit(s.syncCaches)
	go s.watchChanges(s.stopWatching)
	go s.runThrottlePurge(s.stopWatching)
	return s
}

// isAnswer tells the gateway caches which errors are facts to remember:
// a row that doesn't exist, a key that isn't valid.
func isAnswer(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, errInvalidKey)
}

// Close flushes the usage events still queued. Call it after the HTTP
// server has stopped taking requests.
func (s *Service) Close() {
	s.closeOnce.Do(func() { close(s.stopWatching) })
	s.usage.close()
	s.limits.close()
}

// Database names the database engine lamb runs on ("sqlite" or
// "postgres"), for health checks and logs.
func (s *Service) Database() string { return s.st.Engine() }

// Healthy reports whether the database answers and usage events are
// being stored.
func (s *Service) Healthy(ctx context.Context) error {
	if err := s.st.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrDatabaseDown, err)
	}
	if err := s.usage.healthy(); err != nil {
		return fmt.Errorf("%w: %w", ErrUsageNotStored, err)
	}
	return nil
}
