package main

import (
	"io"
	"sync"
	"time"
)

// logWriter collects log lines in memory and writes them out every
// logFlushEvery (or once logBufferLimit bytes wait), so that the
// gateway's line per request costs a copy instead of a write system call
// made under the log handler's lock, where concurrent requests queued
// behind each other. What a kill -9 can lose is the last logFlushEvery of
// lines; Close writes everything.
type logWriter struct {
	out   io.Writer
	mu    sync.Mutex // guards buf
	buf   []byte
	wmu   sync.Mutex // orders writes to out; guards spare
	spare []byte
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

const (
	logFlushEvery  = 100 * time.Millisecond
	logBufferLimit = 256 << 10
)

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	full := len(w.buf) >= logBufferLimit
	w.mu.Unlock()
	if full {
		w.flush()
	}
	return len(p), nil
}

// flush writes out what is buffered, in order.
func (w *logWriter) flush() {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	data := w.buf
	w.buf = w.spare[:0]
	w.mu.Unlock()
	if len(data) > 0 {
		w.out.Write(data) // nowhere to report a failing log
	}
	w.spare = data
}

func (w *logWriter) run() {
	defer close(w.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			w.flush()
			return
		case <-t.C:
			w.flush()
		}
	}
}

// Close writes what is buffered and stops the flushing.
func (w *logWriter) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return nil
}
