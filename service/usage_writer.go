package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/charmbracelet/log"

	"lamb/store"
)

// usageWriter takes usage events off the response path: requests hand their
// event to a channel and the writer stores them in batches, one transaction
// for up to maxBatch events or flushInterval, with the daily rollups. A
// full channel makes requests wait (back-pressure) rather than lose events.
type usageWriter struct {
	st     *store.Store
	log    *log.Logger
	ch     chan store.UsageEvent
	done   chan struct{}
	once   sync.Once
	closed chan struct{}
	mu     sync.RWMutex // held for reading while sending, for writing by close
}

const (
	usageQueue    = 16384
	maxBatch      = 512
	flushInterval = 100 * time.Millisecond
)

func newUsageWriter(st *store.Store, logger *log.Logger) *usageWriter {
	w := &usageWriter{st: st, log: logger, ch: make(chan store.UsageEvent, usageQueue),
		done: make(chan struct{}), closed: make(chan struct{})}
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
		w.write([]store.UsageEvent{e})
		return
	default:
	}
	w.ch <- e
	w.mu.RUnlock()
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
				w.write(batch)
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
		w.write(batch)
		batch = batch[:0]
	}
}

// write stores a batch. If an org was deleted while its events waited, the
// batch is retried one event at a time and only those events are dropped.
func (w *usageWriter) write(batch []store.UsageEvent) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := w.st.InTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, batch) })
	if err == nil {
		return
	}
	if !errors.Is(err, store.ErrForeignKey) {
		w.log.Error("write usage events", "events", len(batch), "err", err)
		return
	}
	for _, e := range batch {
		if err := w.st.InTx(ctx, func(tx *store.Tx) error { return tx.InsertUsage(ctx, []store.UsageEvent{e}) }); err != nil {
			w.log.Warn("usage event dropped", "org_id", e.OrganizationID, "err", err)
		}
	}
}

// close flushes what is queued and stops the writer.
func (w *usageWriter) close() {
	w.once.Do(func() {
		w.mu.Lock()
		close(w.closed)
		close(w.ch)
		w.mu.Unlock()
		<-w.done
	})
}
