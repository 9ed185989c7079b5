package goengine

import (
	"io"
	"sync"
	"time"

	"interleave/scenarios/event"
)

// flushEvery bounds how long an event may wait in the buffer: the browser
// should see the first event within 100 ms of pressing Run.
const flushEvery = 10 * time.Millisecond

// flushSize is the buffer size past which Emit writes at once.
const flushSize = 64 << 10

// Emitter writes a run's events as JSON lines to the server (fd 3). It is safe
// for concurrent use; events are buffered and flushed at least every
// flushEvery, so instrumentation costs a buffer append, not a syscall.
type Emitter struct {
	base int64

	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	count  int64
	err    error
	closed bool

	stop chan struct{}
	done chan struct{}

	// names holds each lane's display name by id, so the scheduler trace
	// can name the holder of a core the way the timeline names the lane.
	names map[string]string
}

// NewEmitter returns an Emitter writing to w, stamping events relative to
// base (CLOCK_MONOTONIC ns at the start of the run).
func NewEmitter(w io.Writer, base int64) *Emitter {
	e := &Emitter{base: base, w: w, buf: make([]byte, 0, flushSize+4096), stop: make(chan struct{}), done: make(chan struct{}), names: map[string]string{}}
	go e.flushLoop()
	return e
}

func (e *Emitter) flushLoop() {
	defer close(e.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.mu.Lock()
			e.flushLocked()
			e.mu.Unlock()
		}
	}
}

func (e *Emitter) flushLocked() {
	if len(e.buf) == 0 || e.err != nil {
		e.buf = e.buf[:0]
		return
	}
	_, e.err = e.w.Write(e.buf)
	e.buf = e.buf[:0]
}

// Now is the run's clock: ns since the run started.
func (e *Emitter) Now() int64 { return event.Monotonic() - e.base }

// Emit writes ev; a zero T is stamped with Now.
func (e *Emitter) Emit(ev event.Event) {
	if ev.T == 0 {
		ev.T = e.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if ev.K == event.KindLane {
		e.names[ev.ID] = ev.Name
	}
	e.buf = event.Append(e.buf, &ev)
	e.buf = append(e.buf, '\n')
	e.count++
	if len(e.buf) >= flushSize {
		e.flushLocked()
	}
}

// laneName returns the display name lane id was declared with ("" if none).
func (e *Emitter) laneName(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.names[id]
}

// Count returns how many events were emitted.
func (e *Emitter) Count() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.count
}

// Lane declares a row of the timeline.
func (e *Emitter) Lane(id, kind, name, parent string) {
	e.Emit(event.Event{K: event.KindLane, ID: id, Kind: kind, Name: name, Parent: parent})
}

// State puts lane in state s (why may be empty).
func (e *Emitter) State(lane, s, why string) {
	e.Emit(event.Event{K: event.KindState, Lane: lane, S: s, Why: why, Src: event.SrcApp})
}

// LockOp records a lock operation (want, got, free) by lane.
func (e *Emitter) LockOp(lane, lock, op string) {
	e.Emit(event.Event{K: event.KindLock, Lane: lane, Lock: lock, Op: op})
}

// Flow draws an arrow between two lanes.
func (e *Emitter) Flow(from, to, label string) {
	e.Emit(event.Event{K: event.KindFlow, From: from, To: to, Label: label})
}

// Counter records a value over time.
func (e *Emitter) Counter(name string, v float64) {
	e.Emit(event.Event{K: event.KindCounter, Name: name, V: event.Float(v)})
}

// Mark records an instant on lane (or the whole run when lane is empty).
func (e *Emitter) Mark(lane, label string) {
	e.Emit(event.Event{K: event.KindMark, Lane: lane, Label: label})
}

// Output records text a lane printed.
func (e *Emitter) Output(lane, stream, text string) {
	e.Emit(event.Event{K: event.KindOutput, Lane: lane, Stream: stream, Text: text})
}

// Close flushes what is buffered and stops the flusher; later events are dropped.
func (e *Emitter) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return e.err
	}
	e.closed = true
	e.flushLocked()
	err := e.err
	e.mu.Unlock()
	close(e.stop)
	<-e.done
	return err
}
