package service

import (
	"sync"
	"time"
)

// window counts events per key in a sliding window, in memory: the one
// limiter of sign-in and signup attempts. A restart forgets the counts,
// which costs an attacker a restart they can't cause.
type window struct {
	mu     sync.Mutex
	limit  int
	period time.Duration
	events map[string][]time.Time
}

func newWindow(limit int, period time.Duration) *window {
	return &window{limit: limit, period: period, events: map[string][]time.Time{}}
}

// take records an event for key, or returns how long to wait when the
// limit is reached (and records nothing).
func (w *window) take(key string, now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wait := w.waitLocked(key, now, w.limit); wait > 0 {
		return wait
	}
	w.addLocked(key, now)
	return 0
}

// wait returns how long key must wait before its next event, 0 when it
// may go.
func (w *window) wait(key string, now time.Time) time.Duration {
	return w.waitAt(key, now, w.limit)
}

// waitAt is wait with another limit than the window's.
func (w *window) waitAt(key string, now time.Time, limit int) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waitLocked(key, now, limit)
}

// count is the number of events of key in the window.
func (w *window) count(key string, now time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.recent(key, now))
}

// add records an event for key.
func (w *window) add(key string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addLocked(key, now)
}

// reset forgets key's events.
func (w *window) reset(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.events, key)
}

func (w *window) waitLocked(key string, now time.Time, limit int) time.Duration {
	ev := w.recent(key, now)
	if len(ev) < limit {
		return 0
	}
	return ev[len(ev)-limit].Add(w.period).Sub(now)
}

func (w *window) addLocked(key string, now time.Time) {
	w.events[key] = append(w.recent(key, now), now)
	if len(w.events) > 100_000 { // bound memory under a flood of keys
		for k := range w.events {
			w.recent(k, now)
		}
	}
}

// recent drops key's events that left the window and returns the rest.
func (w *window) recent(key string, now time.Time) []time.Time {
	ev := w.events[key]
	i := 0
	for i < len(ev) && now.Sub(ev[i]) >= w.period {
		i++
	}
	ev = ev[i:]
	if len(ev) == 0 {
		delete(w.events, key)
		return nil
	}
	w.events[key] = ev
	return ev
}
