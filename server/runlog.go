package server

import (
	"errors"
	"sync"
)

// Run statuses.
const (
	StatusQueued      = "queued"
	StatusRunning     = "running"
	StatusDone        = "done"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
	StatusTimeout     = "timeout"
	StatusInterrupted = "interrupted"
)

// finished reports whether status is final.
func finished(status string) bool {
	switch status {
	case StatusDone, StatusFailed, StatusCancelled, StatusTimeout, StatusInterrupted:
		return true
	}
	return false
}

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
	mu       sync.Mutex
	lines    [][]byte
	status   string
	position int
	changed  chan struct{} // closed and replaced on every change
	// statusChanged is closed and replaced when the status or position
	// changes only, for those who follow a run's status and not its events.
	statusChanged chan struct{}

	// page, when set, reads the lines of a finished, recorded run; stored
	// is how many there are.
	page   func(from, n int) ([][]byte, error)
	stored int
}

func newRunLog(status string) *runLog {
	return &runLog{status: status, changed: make(chan struct{}), statusChanged: make(chan struct{})}
}

// newStoredLog returns the log of a finished run whose total lines are read
// by page.
func newStoredLog(status string, total int, page func(from, n int) ([][]byte, error)) *runLog {
	return &runLog{status: status, changed: make(chan struct{}), statusChanged: make(chan struct{}), page: page, stored: total}
}

// errRunGone is a recorded run deleted (by retention) while being read.
var errRunGone = errors.New("the run was deleted from the store while it was read")

// broadcastLocked wakes every viewer waiting for a change.
func (l *runLog) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// append adds event lines; the log keeps them (the caller must not reuse them).
func (l *runLog) append(lines ...[]byte) {
	if len(lines) == 0 {
		return
	}
	l.mu.Lock()
	l.lines = append(l.lines, lines...)
	l.broadcastLocked()
	l.mu.Unlock()
}

// setStatus records a new status and queue position.
func (l *runLog) setStatus(status string, position int) {
	l.mu.Lock()
	if l.status != status || l.position != position {
		l.status, l.position = status, position
		l.broadcastLocked()
		close(l.statusChanged)
		l.statusChanged = make(chan struct{})
	}
	l.mu.Unlock()
}

// watchStatus returns the status, the queue position and a channel closed
// at the next change of either.
func (l *runLog) watchStatus() (string, int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status, l.position, l.statusChanged
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
	end := len(l.lines)
	if end-cursor > max {
		end = cursor + max
	}
	var lines [][]byte
	if cursor < end {
		lines = l.lines[cursor:end:end]
	}
	return snapshot{lines: lines, total: len(l.lines), status: l.status, position: l.position, changed: l.changed}, nil
}

// count returns the number of event lines.
func (l *runLog) count() int {
	if l.page != nil {
		return l.stored
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// Status returns the status and queue position.
func (l *runLog) Status() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status, l.position
}
