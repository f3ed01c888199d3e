package service

import (
	"context"
	"time"

	"lamb/store"
)

// window counts events per key in a sliding window: the one limiter of
// sign-in and signup attempts and of the answers that probe other
// organizations. The counts live in the database, so that every lamb
// process on it counts the same attempts (a limit kept in each process
// lets an attacker behind a load balancer try once per instance). Events
// are counted per second; keys are stored as keyed hashes, so no email or
// address is kept at rest. Each operation is one statement.
type window struct {
	st     *store.Store
	hash   func(string) string
	scope  string // the limit's name in the database
	limit  int
	period time.Duration
}

// The scopes of the windows, as the database names them.
const (
	scopeSignInFailures = "signin.failure"
	scopeSignInAddrs    = "signin.address"
	scopeSignupAddrs    = "signup.address"
	scopeSignupKeys     = "signup.key"
	scopeSignupKeySets  = "signup_key.set"
	scopeUniqueness     = "uniqueness"
)

func (s *Service) newWindow(scope string, limit int, period time.Duration) *window {
	return &window{st: s.st, hash: s.box.Hash, scope: scope, limit: limit, period: period}
}

// take records an event for key, or returns how long to wait when the
// limit is reached (and records nothing). Concurrent takes, from any
// process, never let more than the limit through.
func (w *window) take(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	taken, hits, err := w.st.TakeThrottle(ctx, store.Throttle{Scope: w.scope, Key: w.hash(key), Period: w.period, Limit: w.limit}, now)
	if err != nil || taken {
		return 0, err
	}
	return waitAt(hits, now, w.limit), nil
}

// look returns the events of keys in the window at now.
func (w *window) look(ctx context.Context, now time.Time, keys ...string) (seen, error) {
	hashed := make([]string, len(keys))
	for i, k := range keys {
		hashed[i] = w.hash(k)
	}
	hits, err := w.st.ThrottleHits(ctx, w.scope, now, hashed...)
	if err != nil {
		return seen{}, err
	}
	out := seen{now: now, limit: w.limit, hits: map[string][]store.ThrottleHit{}}
	for _, h := range hits {
		for i, hk := range hashed {
			if h.Key == hk {
				out.hits[keys[i]] = append(out.hits[keys[i]], h)
			}
		}
	}
	return out, nil
}

// add records an event for each of keys.
func (w *window) add(ctx context.Context, now time.Time, keys ...string) error {
	return w.st.AddThrottleHits(ctx, w.scope, w.period, now, w.hashAll(keys)...)
}

// reset forgets keys' events.
func (w *window) reset(ctx context.Context, keys ...string) error {
	return w.st.ResetThrottle(ctx, w.scope, w.hashAll(keys)...)
}

func (w *window) hashAll(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = w.hash(k)
	}
	return out
}

// seen is the events of some keys in a window at one moment.
type seen struct {
	now   time.Time
	limit int
	hits  map[string][]store.ThrottleHit // newest first
}

// count is the number of events of key.
func (s seen) count(key string) int {
	n := 0
	for _, h := range s.hits[key] {
		n += h.N
	}
	return n
}

// wait returns how long key must wait before its next event, 0 when it
// may go.
func (s seen) wait(key string) time.Duration { return s.waitAt(key, s.limit) }

// waitAt is wait with another limit than the window's.
func (s seen) waitAt(key string, limit int) time.Duration {
	return waitAt(s.hits[key], s.now, limit)
}

// waitAt returns how long until fewer than limit of hits (one key's,
// newest first) are in the window: until the limit-th newest leaves it.
func waitAt(hits []store.ThrottleHit, now time.Time, limit int) time.Duration {
	n := 0
	for _, h := range hits {
		n += h.N
		if n >= limit {
			return h.Expires.Sub(now)
		}
	}
	return 0
}

// throttlePurge is how often expired events are deleted, and
// throttlePurgeBatch bounds each delete.
const (
	throttlePurge      = time.Minute
	throttlePurgeBatch = 5000
)

// purgeThrottles deletes the events that no window counts any more, so
// that keys nobody tries again (a flood of made-up addresses) don't stay.
// It returns how many went.
func (s *Service) purgeThrottles(ctx context.Context) (int64, error) {
	var total int64
	for range 1000 { // bounded: 5 million rows a round at most
		n, err := s.st.PurgeThrottles(ctx, s.now(), throttlePurgeBatch)
		total += n
		if err != nil || n < throttlePurgeBatch {
			return total, err
		}
	}
	return total, nil
}

// runThrottlePurge purges expired events every throttlePurge until stop
// is closed. Every process purges; a delete that finds nothing costs an
// index lookup.
func (s *Service) runThrottlePurge(stop <-chan struct{}) {
	t := time.NewTicker(throttlePurge)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), throttlePurge)
			if _, err := s.purgeThrottles(ctx); err != nil {
				s.log.Warn("purge expired sign-in and signup attempts", "err", err)
			}
			cancel()
		}
	}
}
