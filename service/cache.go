package service

import (
	"context"
	"sync"
	"time"
)

// cache keeps what the gateway reads — API keys, assistants, org configs
// (decrypted once) — until it changes, so that a request costs no
// database round trip however its traffic is spread. Every change to those
// rows moves the database's change counter (store.ChangeCount); a process
// drops its caches when it sees the counter move: right after its own
// writes (store.OnCommit), and within changePoll for another process's.
//
// Memory is bounded by max entries in two generations: hits are served
// from the current one, an entry found in the previous one moves back, and
// when the current one is full it becomes the previous one. What hasn't
// been used for a while falls out, whatever floods the cache (unknown
// keys, say). A key missing from both loads once however many requests
// ask for it at the same moment.
type cache[K comparable, V any] struct {
	mu       sync.RWMutex
	cur, old map[K]cached[V]
	max      int
	gen      uint64 // moved by flush: a load begun before a flush isn't kept
	loading  map[K]*loadCall[V]
	// keep says which errors are answers worth remembering (not found);
	// others (a database hiccup) are not cached.
	keep func(error) bool
}

type cached[V any] struct {
	v   V
	err error
}

type loadCall[V any] struct {
	done chan struct{}
	cached[V]
}

func newCache[K comparable, V any](max int, keep func(error) bool) *cache[K, V] {
	return &cache[K, V]{cur: map[K]cached[V]{}, old: map[K]cached[V]{}, max: max,
		loading: map[K]*loadCall[V]{}, keep: keep}
}

// get returns the cached value (or error) for k, loading it when missing.
// Errors that keep accepts are cached too, so unknown keys don't reach the
// database on every attempt.
func (c *cache[K, V]) get(k K, load func() (V, error)) (V, error) {
	c.mu.RLock()
	e, ok := c.cur[k]
	c.mu.RUnlock()
	if ok {
		return e.v, e.err
	}
	c.mu.Lock()
	if e, ok := c.cur[k]; ok {
		c.mu.Unlock()
		return e.v, e.err
	}
	if e, ok := c.old[k]; ok {
		c.put(k, e)
		c.mu.Unlock()
		return e.v, e.err
	}
	if l := c.loading[k]; l != nil {
		c.mu.Unlock()
		<-l.done
		return l.v, l.err
	}
	l := &loadCall[V]{done: make(chan struct{})}
	c.loading[k] = l
	gen := c.gen
	c.mu.Unlock()

	l.v, l.err = load()
	c.mu.Lock()
	delete(c.loading, k)
	if c.gen == gen && (l.err == nil || c.keep(l.err)) {
		c.put(k, l.cached)
	}
	c.mu.Unlock()
	close(l.done)
	return l.v, l.err
}

// put stores an entry; c.mu is held.
func (c *cache[K, V]) put(k K, e cached[V]) {
	if len(c.cur) >= c.max/2 {
		c.old, c.cur = c.cur, make(map[K]cached[V], len(c.cur))
	}
	c.cur[k] = e
}

// flush forgets everything, and what loads are under way will load.
func (c *cache[K, V]) flush() {
	c.mu.Lock()
	c.gen++
	c.cur, c.old = map[K]cached[V]{}, map[K]cached[V]{}
	c.mu.Unlock()
}

// changePoll is how often a process looks for changes made by others.
const changePoll = time.Second

// syncCaches drops the gateway's caches if the change counter moved since
// it was last seen. A counter that can't be read changes nothing: the
// next look will tell.
func (s *Service) syncCaches(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	n, err := s.st.ChangeCount(ctx)
	if err != nil {
		return
	}
	if s.changesSeen.Swap(n) != n {
		s.keys.flush()
		s.assistants.flush()
		s.orgConfigs.flush()
	}
}

// watchChanges looks for changes every changePoll until stop is closed.
func (s *Service) watchChanges(stop <-chan struct{}) {
	t := time.NewTicker(changePoll)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.syncCaches(context.Background())
		}
	}
}
