package service

import (
	"sync"
	"time"

	"lamb/store"
)

// refusalRowsPerMinute bounds the raw usage rows kept for refused requests
// per org and minute. Past it a refusal is still counted (rollups,
// metrics) but leaves no row: one key hammering a spent budget once wrote
// half a million rows in 75 seconds.
const refusalRowsPerMinute = 60

// minuteCount counts events of one Unix minute.
type minuteCount struct {
	minute int64
	n      int64
}

// refusalSampler decides which refusals keep a raw row.
type refusalSampler struct {
	mu    sync.Mutex
	count map[int64]*minuteCount // org → rows kept this minute
}

func newRefusalSampler() *refusalSampler {
	return &refusalSampler{count: map[int64]*minuteCount{}}
}

// keep reports whether the refusal of org at now gets a raw row.
func (r *refusalSampler) keep(org int64, now time.Time) bool {
	m := now.Unix() / 60
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.count[org]
	if c == nil || c.minute != m {
		if len(r.count) > 10_000 { // orgs come and go: forget past minutes
			for k, v := range r.count {
				if v.minute != m {
					delete(r.count, k)
				}
			}
		}
		c = &minuteCount{minute: m}
		r.count[org] = c
	}
	c.n++
	return c.n <= refusalRowsPerMinute
}

// recordRefusal counts a request refused before reaching a provider: in
// the metrics always, in the rollups when the usage queue has room, and
// as a raw row for a bounded sample.
func (s *Service) recordRefusal(e store.UsageEvent) {
	e.Refused = true
	e.RollupOnly = !s.refusals.keep(e.OrganizationID, e.CreatedAt)
	s.stats.add(e.Status, 0, 0, 0, false)
	s.usage.recordRefusal(e)
}
