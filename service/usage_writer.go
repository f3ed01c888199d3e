package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"lamb/store"
)

// usageWriter takes usage events off the response path: a request appends
// its event to a queue in memory (no goroutine is woken for it) and the
// writer stores the queue every flushInterval, or as soon as maxBatch
// events wait, in one transaction with the daily rollups. A full queue
// makes requests wait (back-pressure) rather than lose events.
//
// A batch that can't be stored (a full or failing disk) is kept and
// retried, never thrown away; while that lasts the writer reports itself
// unhealthy (/healthz, /metrics), and once admitBound events wait the
// gateway stops admitting billable requests (see accepting) instead of
// answering requests it can't account for.
type usageWriter struct {
	st  *store.Store
	log *slog.Logger

	mu      sync.Mutex
	room    *sync.Cond // signalled when stored events leave room in the queue
	queue   []store.UsageEvent
	spare   []store.UsageEvent // the previous batch's slice, reused
	closed  bool
	waiting atomic.Int64 // events queued or being stored

	ready  chan struct{} // a batch is ready: write it now
	done   chan struct{}
	giveUp chan struct{} // closed when close's bound has passed
	once   sync.Once

	failure    atomic.Pointer[writeFailure]
	unrecorded atomic.Int64 // refusals counted in metrics only (queue too long to keep them)

	// stored is told of each batch once it is in the rollups (budget
	// alerts check what it spent); it must not keep the slice.
	stored func([]store.UsageEvent)
}

// writeFailure is why the writer can't store events, and since when.
type writeFailure struct {
	err   error
	since time.Time
}

const (
	usageQueue    = 16384
	maxBatch      = 512
	flushInterval = 100 * time.Millisecond
	// admitBound is the number of waiting events past which billable
	// requests are refused: the rest of the queue is room for the events
	// of requests already in flight.
	admitBound = usageQueue / 2
	// refusalBound is the number of waiting events past which refusals
	// are no longer queued: a flood of refused requests must not crowd
	// out billable ones.
	refusalBound = usageQueue / 4
	retryMin     = 100 * time.Millisecond
	retryMax     = 5 * time.Second
	// closeBound is how long close keeps retrying a failing database.
	closeBound = 10 * time.Second
)

func newUsageWriter(st *store.Store, logger *slog.Logger, stored func([]store.UsageEvent)) *usageWriter {
	w := &usageWriter{st: st, log: logger, ready: make(chan struct{}, 1),
		done: make(chan struct{}), giveUp: make(chan struct{}), stored: stored}
	w.room = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// record queues one event. After close, events are written directly so a
// late request still leaves its row.
func (w *usageWriter) record(e store.UsageEvent) {
	w.mu.Lock()
	for w.waiting.Load() >= usageQueue && !w.closed {
		w.room.Wait()
	}
	if w.closed {
		w.mu.Unlock()
		w.persist([]store.UsageEvent{e})
		return
	}
	w.append(e)
	w.mu.Unlock()
}

// recordRefusal queues the event of a refused request unless many events
// wait already: refusals are counted in metrics either way, and a client
// that hammers a refusal must not make billable events wait.
func (w *usageWriter) recordRefusal(e store.UsageEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		// shutting down: the metrics counted it
	case w.waiting.Load() >= refusalBound:
		w.unrecorded.Add(1)
	default:
		w.append(e)
	}
}

// append adds e to the queue; w.mu is held.
func (w *usageWriter) append(e store.UsageEvent) {
	w.queue = append(w.queue, e)
	w.waiting.Add(1)
	if len(w.queue) == maxBatch {
		select {
		case w.ready <- struct{}{}:
		default:
		}
	}
}

// pending is the number of events not yet stored.
func (w *usageWriter) pending() int { return int(w.waiting.Load()) }

// accepting reports whether a billable request may be admitted: the
// events already waiting are below admitBound.
func (w *usageWriter) accepting() bool { return w.waiting.Load() < admitBound }

// healthy returns why events can't be stored right now, or nil.
func (w *usageWriter) healthy() error {
	if f := w.failure.Load(); f != nil {
		return fmt.Errorf("usage events can't be written since %s (%d waiting): %w", f.since.UTC().Format(time.RFC3339), w.pending(), f.err)
	}
	return nil
}

func (w *usageWriter) run() {
	defer close(w.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.ready:
		}
		w.mu.Lock()
		batch, closed := w.queue, w.closed
		w.queue = w.spare[:0]
		w.mu.Unlock()
		n := len(batch)
		w.persist(batch)
		w.mu.Lock()
		w.spare = batch[:0]
		w.waiting.Add(-int64(n))
		w.room.Broadcast()
		w.mu.Unlock()
		if closed {
			return
		}
	}
}

// persist stores a batch, retrying with backoff until it is stored or
// close's bound has passed: a failing disk delays events, it doesn't lose
// them.
func (w *usageWriter) persist(batch []store.UsageEvent) {
	wait := retryMin
	all := batch
	for len(batch) > 0 {
		var err error
		batch, err = w.write(batch)
		if err == nil {
			if w.stored != nil {
				w.stored(all)
			}
			if f := w.failure.Swap(nil); f != nil {
				w.log.Info("usage events are written again", "failing_for", time.Since(f.since).Round(time.Second))
			}
			return
		}
		if w.failure.CompareAndSwap(nil, &writeFailure{err: err, since: time.Now()}) {
			w.log.Error("write usage events; keeping them and retrying", "events", len(batch), "err", err)
		}
		select {
		case <-time.After(wait):
		case <-w.giveUp:
			w.log.Error("usage events lost: the database could not store them before the server stopped", "events", len(batch), "err", err)
			return
		}
		wait = min(wait*2, retryMax)
	}
}

// write stores a batch in one transaction and returns what is left to
// store. If an org was deleted while its events waited, the batch is
// written one event at a time and only those events are dropped.
func (w *usageWriter) write(batch []store.UsageEvent) ([]store.UsageEvent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := w.st.InCountingTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, batch) })
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, store.ErrForeignKey) {
		return batch, err
	}
	for i, e := range batch {
		err := w.st.InCountingTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, []store.UsageEvent{e}) })
		switch {
		case errors.Is(err, store.ErrForeignKey):
			w.log.Warn("usage event dropped: its organization was deleted", "org_id", e.OrganizationID)
		case err != nil:
			return batch[i:], err
		}
	}
	return nil, nil
}

// close stores what is queued and stops the writer. A database that
// can't store the events is retried for closeBound, then they are logged
// as lost.
func (w *usageWriter) close() {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.room.Broadcast() // requests waiting for room write directly now
		w.mu.Unlock()
		select {
		case w.ready <- struct{}{}:
		default:
		}
		select {
		case <-w.done:
		case <-time.After(closeBound):
		}
		close(w.giveUp) // late events (record after close) get one try each
		<-w.done
	})
}
