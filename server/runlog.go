package server

import (
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
type runLog struct {
	mu       sync.Mutex
	lines    [][]byte
	status   string
	position int
	changed  chan struct{} // closed and replaced on every change
}

func newRunLog(status string) *runLog {
	return &runLog{status: status, changed: make(chan struct{})}
}

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
func (l *runLog) read(cursor, max int) snapshot {
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
	return snapshot{lines: lines, total: len(l.lines), status: l.status, position: l.position, changed: l.changed}
}

// count returns the number of event lines.
func (l *runLog) count() int {
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
