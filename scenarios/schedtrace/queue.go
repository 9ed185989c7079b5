package schedtrace

import (
	"errors"
	"io"
	"sync"

	"interleave/scenarios/event"
)

// errBacklog is what the parser reads once the queue overflowed: the bytes
// that were waiting are gone, so the trace stream cannot be parsed further.
var errBacklog = errors.New("scheduler trace backlog overflowed")

// byteQueue connects runtime/trace (the writer) to the parser (the reader).
//
// Write never blocks: the runtime's trace machinery waits on whoever consumes
// the stream (FlightRecorder.Start and the generation switch both do), so a
// blocking writer would stall the scenario. Instead the queue holds up to max
// bytes; past that it drops everything it holds and everything after, and
// Read reports errBacklog, so the parser can restart a fresh trace.
type byteQueue struct {
	max int

	mu       sync.Mutex
	chunks   [][]byte
	off      int // read offset into chunks[0]
	size     int // bytes held
	closed   bool
	overflow bool

	// wake holds one pending wake-up for a Read waiting for data.
	wake chan struct{}

	// caughtUp is called by Read, on the reader's goroutine, each time the
	// reader has consumed everything written so far and is about to wait.
	caughtUp func()

	// busy is the time the reader spent between its waits (ns), and since
	// when it last woke (or started, on the monotonic clock): how long
	// parsing this stream took. It is wall time, an upper bound of the CPU
	// time (a thread's CPU clock cannot follow a goroutine that moves
	// between threads). Used by the reader's goroutine only.
	busy, since int64
}

// readBusy returns the time the reader spent on this stream so far; it is
// called on the reader's goroutine.
func (q *byteQueue) readBusy() int64 {
	if q.since == 0 {
		return q.busy
	}
	return q.busy + event.Monotonic() - q.since
}

func newByteQueue(max int, caughtUp func()) *byteQueue {
	return &byteQueue{max: max, wake: make(chan struct{}, 1), caughtUp: caughtUp}
}

// Write implements io.Writer for runtime/trace.Start; it copies b and never blocks.
func (q *byteQueue) Write(b []byte) (int, error) {
	q.mu.Lock()
	switch {
	case q.closed || q.overflow:
	case q.size+len(b) > q.max:
		q.overflow = true
		q.chunks, q.off, q.size = nil, 0, 0
	default:
		q.chunks = append(q.chunks, append([]byte(nil), b...))
		q.size += len(b)
	}
	q.mu.Unlock()
	q.signal()
	return len(b), nil
}

func (q *byteQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Read implements io.Reader for the trace parser; it waits for data.
func (q *byteQueue) Read(p []byte) (int, error) {
	if q.since == 0 {
		q.since = event.Monotonic()
	}
	for {
		q.mu.Lock()
		if q.overflow {
			q.mu.Unlock()
			return 0, errBacklog
		}
		if len(q.chunks) > 0 {
			n := copy(p, q.chunks[0][q.off:])
			q.off += n
			q.size -= n
			if q.off == len(q.chunks[0]) {
				q.chunks[0] = nil
				q.chunks = q.chunks[1:]
				q.off = 0
			}
			q.mu.Unlock()
			return n, nil
		}
		if q.closed {
			q.mu.Unlock()
			return 0, io.EOF
		}
		q.mu.Unlock()
		if q.caughtUp != nil {
			q.caughtUp()
		}
		q.busy += event.Monotonic() - q.since
		<-q.wake
		q.since = event.Monotonic()
	}
}

// Close ends the stream: Read returns what is left, then io.EOF.
func (q *byteQueue) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
	return nil
}

// Abort drops what is left: the next Read returns io.EOF.
func (q *byteQueue) Abort() {
	q.mu.Lock()
	q.closed = true
	q.chunks, q.off, q.size = nil, 0, 0
	q.mu.Unlock()
	q.signal()
}

// Overflowed reports whether the reader fell behind by more than max bytes.
func (q *byteQueue) Overflowed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overflow
}
