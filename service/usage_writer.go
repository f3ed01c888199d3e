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

// usageWriter takes usage events off the response path: requests hand their
// event to a channel and the writer stores them in batches, one transaction
// for up to maxBatch events or flushInterval, with the daily rollups. A
// full channel makes requests wait (back-pressure) rather than lose events.
//
// A batch that can't be stored (a full or failing disk) is kept and
// retried, never thrown away; while that lasts the writer reports itself
// unhealthy (/healthz, /metrics), and once the queue passes admitBound the
// gateway stops admitting billable requests (see accepting) instead of
// answering requests it can't account for.
type usageWriter struct {
	st     *store.Store
	log    *slog.Logger
	ch     chan store.UsageEvent
	done   chan struct{}
	once   sync.Once
	closed chan struct{}
	giveUp chan struct{} // closed when close's bound has passed
	mu     sync.RWMutex  // held for reading while sending, for writing by close

	held       atomic.Int64 // events taken off the channel and not yet stored
	failure    atomic.Pointer[writeFailure]
	unrecorded atomic.Int64 // refusals counted in metrics only (queue too full to keep them)
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
	// admitBound is the queue length past which billable requests are
	// refused: the rest of the queue is room for the events of requests
	// already in flight.
	admitBound = usageQueue / 2
	// refusalBound is the queue length past which refusals are no longer
	// queued: a flood of refused requests must not crowd out billable ones.
	refusalBound = usageQueue / 4
	retryMin     = 100 * time.Millisecond
	retryMax     = 5 * time.Second
	// closeBound is how long close keeps retrying a failing database.
	closeBound = 10 * time.Second
)

func newUsageWriter(st *store.Store, logger *slog.Logger) *usageWriter {
	w := &usageWriter{st: st, log: logger, ch: make(chan store.UsageEvent, usageQueue),
		done: make(chan struct{}), closed: make(chan struct{}), giveUp: make(chan struct{})}
	go w.run()
	return w
}

// record queues one event. After close, events are written directly so a
// late request still leaves its row.
func (w *usageWriter) record(e store.UsageEvent) {
	w.mu.RLock()
	select {
	case <-w.closed:
		w.mu.RUnlock()
		w.persist([]store.UsageEvent{e})
		return
	default:
	}
	w.ch <- e
	w.mu.RUnlock()
}

// recordRefusal queues the event of a refused request unless the queue is
// already long: refusals are counted in metrics either way, and a client
// that hammers a refusal must not make billable events wait.
func (w *usageWriter) recordRefusal(e store.UsageEvent) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	select {
	case <-w.closed:
		return // shutting down: the metrics counted it
	default:
	}
	if len(w.ch) >= refusalBound {
		w.unrecorded.Add(1)
		return
	}
	select {
	case w.ch <- e:
	default:
		w.unrecorded.Add(1)
	}
}

// pending is the number of events not yet stored.
func (w *usageWriter) pending() int { return len(w.ch) + int(w.held.Load()) }

// accepting reports whether a billable request may be admitted: the
// events already waiting are below admitBound.
func (w *usageWriter) accepting() bool { return w.pending() < admitBound }

// healthy returns why events can't be stored right now, or nil.
func (w *usageWriter) healthy() error {
	if f := w.failure.Load(); f != nil {
		return fmt.Errorf("usage events can't be written since %s (%d waiting): %w", f.since.UTC().Format(time.RFC3339), w.pending(), f.err)
	}
	return nil
}

func (w *usageWriter) run() {
	defer close(w.done)
	batch := make([]store.UsageEvent, 0, maxBatch)
	timer := time.NewTimer(flushInterval)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-w.ch:
			if !ok {
				w.persist(batch)
				return
			}
			batch = append(batch, e)
			if len(batch) < maxBatch {
				continue
			}
		case <-timer.C:
			timer.Reset(flushInterval)
			if len(batch) == 0 {
				continue
			}
		}
		// Take what else is already waiting, up to a full batch.
	drain:
		for len(batch) < maxBatch {
			select {
			case e, ok := <-w.ch:
				if !ok {
					break drain
				}
				batch = append(batch, e)
			default:
				break drain
			}
		}
		w.persist(batch)
		batch = batch[:0]
	}
}

// persist stores a batch, retrying with backoff until it is stored or
// close's bound has passed: a failing disk delays events, it doesn't lose
// them.
func (w *usageWriter) persist(batch []store.UsageEvent) {
	w.held.Store(int64(len(batch)))
	defer w.held.Store(0)
	wait := retryMin
	for len(batch) > 0 {
		var err error
		batch, err = w.write(batch)
		if err == nil {
			if f := w.failure.Swap(nil); f != nil {
				w.log.Info("usage events are written again", "failing_for", time.Since(f.since).Round(time.Second))
			}
			return
		}
		w.held.Store(int64(len(batch)))
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
	err := w.st.InTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, batch) })
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, store.ErrForeignKey) {
		return batch, err
	}
	for i, e := range batch {
		err := w.st.InTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, []store.UsageEvent{e}) })
		switch {
		case errors.Is(err, store.ErrForeignKey):
			w.log.Warn("usage event dropped: its organization was deleted", "org_id", e.OrganizationID)
		case err != nil:
			return batch[i:], err
		}
	}
	return nil, nil
}

// close flushes what is queued and stops the writer. A database that
// can't store the events is retried for closeBound, then they are logged
// as lost.
func (w *usageWriter) close() {
	w.once.Do(func() {
		w.mu.Lock()
		close(w.closed)
		close(w.ch)
		w.mu.Unlock()
		select {
		case <-w.done:
		case <-time.After(closeBound):
		}
		close(w.giveUp) // late events (record after close) get one try each
		<-w.done
	})
}
