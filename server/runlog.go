package server

import (
	"errors"
	"sync"

	"interleave/scenarios/event"
)

// Run statuses: the protocol's, defined once in package event.
const (
	StatusQueued      = event.StatusQueued
	StatusRunning     = event.StatusRunning
	StatusDone        = event.StatusDone
	StatusFailed      = event.StatusFailed
	StatusCancelled   = event.StatusCancelled
	StatusTimeout     = event.StatusTimeout
	StatusInterrupted = event.StatusInterrupted
)

// finished reports whether status is final.
func finished(status string) bool { return event.Final(status) }

// runLog is the hub's record of one run: every event line in arrival order
// plus the run's status. Viewers read it at their own pace (each keeps its
// own cursor), so a slow viewer never holds up the run or other viewers, and
// a late joiner simply starts at zero.
//
// A live run's log holds its lines in memory (the store's writer copies them
// to the database from there). A recorded run loaded from the store holds
// none: it pages them in from the database as each viewer reads, so a
// 1,000,000-event replay starts as soon as its first page is read.
type runLog struct {
	mu sync.Mutex
	// chunks hold the lines in arrival order, logChunk to a chunk (the last
	// one filling up): a million-event run never copies its whole index to
	// grow it, and readers keep slices of full chunks that never move.
	chunks   [][][]byte
	total    int
	status   string
	position int
	changed  chan struct{} // closed and replaced on every change

	// page, when set, reads the lines of a finished, recorded run; stored
	// is how many there are.
	page   func(from, n int) ([][]byte, error)
	stored int
}

func newRunLog(status string) *runLog {
	return &runLog{status: status, changed: make(chan struct{})}
}

// newStoredLog returns the log of a finished run whose total lines are read
// by page.
func newStoredLog(status string, total int, page func(from, n int) ([][]byte, error)) *runLog {
	return &runLog{status: status, changed: make(chan struct{}), page: page, stored: total}
}

// errRunGone is a recorded run deleted (by retention) while being read.
var errRunGone = errors.New("the run was deleted from the store while it was read")

// broadcastLocked wakes every viewer waiting for a change.
func (l *runLog) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// logChunk is how many lines one chunk of a live run's log holds.
const logChunk = 4096

// append adds event lines; the log keeps them (the caller must not reuse them).
func (l *runLog) append(lines ...[]byte) {
	if len(lines) == 0 {
		return
	}
	l.mu.Lock()
	for len(lines) > 0 {
		n := len(l.chunks)
		if n == 0 || len(l.chunks[n-1]) == logChunk {
			l.chunks = append(l.chunks, make([][]byte, 0, logChunk))
			n++
		}
		last := l.chunks[n-1]
		take := min(len(lines), logChunk-len(last))
		l.chunks[n-1] = append(last, lines[:take]...)
		l.total += take
		lines = lines[take:]
	}
	l.broadcastLocked()
	l.mu.Unlock()
}

// setStatus records a new status and queue position.
func (l *runLog) setStatus(status string, position int) {
	l.mu.Lock()
	if l.status != status || l.position != position {
		l.status, l.position = status, position
		l.broadcastLocked()
	}
	l.mu.Unlock()
}

// snapshot is what a viewer learns in one look at the log.
type snapshot struct {
	lines    [][]byte // lines from the viewer's cursor on, at most max
	total    int      // lines in the log
	status   string
	position int
	changed  <-chan struct{}
}

// read returns up to max lines from cursor on, with the status and a
// channel closed at the next change.
func (l *runLog) read(cursor, max int) (snapshot, error) {
	if l.page != nil {
		snap := snapshot{total: l.stored, status: l.status, changed: l.changed}
		if n := min(max, l.stored-cursor); n > 0 {
			lines, err := l.page(cursor, n)
			if err != nil {
				return snap, err
			}
			if len(lines) == 0 {
				return snap, errRunGone
			}
			snap.lines = lines
		}
		return snap, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	snap := snapshot{total: l.total, status: l.status, position: l.position, changed: l.changed}
	end := min(l.total, cursor+max)
	if cursor < 0 || cursor >= end {
		return snap, nil
	}
	first, last := cursor/logChunk, (end-1)/logChunk
	if first == last {
		// Within one chunk: share it (lines before end never change).
		c := l.chunks[first]
		snap.lines = c[cursor-first*logChunk : end-first*logChunk : end-first*logChunk]
		return snap, nil
	}
	snap.lines = make([][]byte, 0, end-cursor)
	for i := first; i <= last; i++ {
		c := l.chunks[i]
		from, to := 0, len(c)
		if i == first {
			from = cursor - first*logChunk
		}
		if i == last {
			to = end - last*logChunk
		}
		snap.lines = append(snap.lines, c[from:to]...)
	}
	return snap, nil
}

// count returns the number of event lines.
func (l *runLog) count() int {
	if l.page != nil {
		return l.stored
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Status returns the status and queue position.
func (l *runLog) Status() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status, l.position
}
