package service

import (
	"sync"
	"time"
)

// ttlCache remembers values for a short time. The gateway uses it for API
// keys, assistants and org configs so that a request costs no database
// round trip, while revocations, suspensions and config changes still take
// effect within the TTL.
type ttlCache[K comparable, V any] struct {
	mu    sync.RWMutex
	ttl   time.Duration
	max   int
	items map[K]ttlItem[V]
	// keep says which errors are answers worth remembering (not found);
	// others (a database hiccup) are not cached.
	keep func(error) bool
}

type ttlItem[V any] struct {
	v       V
	err     error
	expires time.Time
}

func newTTLCache[K comparable, V any](ttl time.Duration, max int, keep func(error) bool) *ttlCache[K, V] {
	return &ttlCache[K, V]{ttl: ttl, max: max, items: map[K]ttlItem[V]{}, keep: keep}
}

// get returns the cached value (or error) for k, loading it when missing or
// stale. Errors that keep accepts are cached too, so unknown keys don't
// reach the database on every attempt.
func (c *ttlCache[K, V]) get(k K, now time.Time, load func() (V, error)) (V, error) {
	c.mu.RLock()
	it, ok := c.items[k]
	c.mu.RUnlock()
	if ok && now.Before(it.expires) {
		return it.v, it.err
	}
	v, err := load()
	if err != nil && !c.keep(err) {
		return v, err
	}
	c.mu.Lock()
	if len(c.items) >= c.max {
		for key, old := range c.items { // drop what is stale, or everything
			if !now.Before(old.expires) {
				delete(c.items, key)
			}
		}
		if len(c.items) >= c.max {
			clear(c.items)
		}
	}
	c.items[k] = ttlItem[V]{v: v, err: err, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return v, err
}
