package runs

import (
	"errors"
	"sort"
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
	// StatusPartial is a comparison that ran to its end with a model that
	// did not finish well.
	StatusPartial = event.StatusPartial
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
	// chunks hold the lines in arrival order, packed back to back: a
	// million-event run neither copies its whole index to grow it nor
	// keeps a million small allocations for the garbage collector to
	// scan on every cycle (which cost more than the copy). A chunk's bytes
	// never move, so readers keep slices of them without a lock.
	chunks   []*logChunk
	total    int
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

// logChunk is a run of consecutive lines of a live run's log.
type logChunk struct {
	first int     // the log's index of the chunk's first line
	data  []byte  // the lines, back to back; never grown past its capacity
	ends  []int32 // where each line ends in data
}

// Chunk sizes: a chunk holds up to logChunkLines lines in logChunkBytes
// (a longer line gets a chunk of its own size).
const (
	logChunkLines = 4096
	logChunkBytes = 256 << 10
)

// fits reports whether line fits in c without moving its bytes.
func (c *logChunk) fits(line []byte) bool {
	return len(c.ends) < logChunkLines && len(c.data)+len(line) <= cap(c.data)
}

// append adds event lines; the log copies them (the caller may reuse them).
func (l *runLog) append(lines ...[]byte) {
	if len(lines) == 0 {
		return
	}
	l.mu.Lock()
	for _, line := range lines {
		n := len(l.chunks)
		if n == 0 || !l.chunks[n-1].fits(line) {
			l.chunks = append(l.chunks, &logChunk{first: l.total, data: make([]byte, 0, max(logChunkBytes, len(line))), ends: make([]int32, 0, logChunkLines)})
			n++
		}
		c := l.chunks[n-1]
		c.data = append(c.data, line...)
		c.ends = append(c.ends, int32(len(c.data)))
		l.total++
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

// Snapshot is what a viewer learns in one look at a run's log.
type Snapshot struct {
	Lines    [][]byte // lines from the viewer's cursor on, at most max
	Total    int      // lines in the log
	Status   string
	Position int
	// Changed is closed at the log's next change (a line or a status).
	Changed <-chan struct{}
}

// read returns up to max lines from cursor on, with the status and a
// channel closed at the next change.
func (l *runLog) read(cursor, max int) (Snapshot, error) {
	if l.page != nil {
		snap := Snapshot{Total: l.stored, Status: l.status, Changed: l.changed}
		if n := min(max, l.stored-cursor); n > 0 {
			lines, err := l.page(cursor, n)
			if err != nil {
				return snap, err
			}
			if len(lines) == 0 {
				return snap, errRunGone
			}
			snap.Lines = lines
		}
		return snap, nil
	}
	// Under the lock, only note which lines of which chunks to read; the
	// lines themselves are gathered after it (a chunk's bytes below its
	// current length never change), so that fifty viewers reading do not
	// hold up the run appending.
	type part struct {
		data []byte
		ends []int32
		from int // the part's first line, within the chunk
	}
	var parts []part
	l.mu.Lock()
	snap := Snapshot{Total: l.total, Status: l.status, Position: l.position, Changed: l.changed}
	end := min(l.total, cursor+max)
	if cursor >= 0 && cursor < end {
		// The chunk holding cursor: the last one that starts at or before it.
		i := sort.Search(len(l.chunks), func(i int) bool { return l.chunks[i].first > cursor }) - 1
		for at := cursor; at < end; i++ {
			c := l.chunks[i]
			from := at - c.first
			to := min(len(c.ends), end-c.first)
			parts = append(parts, part{data: c.data[:len(c.data):len(c.data)], ends: c.ends[:to:to], from: from})
			at = c.first + to
		}
	}
	l.mu.Unlock()
	if len(parts) == 0 {
		return snap, nil
	}
	snap.Lines = make([][]byte, 0, end-cursor)
	for _, p := range parts {
		start := int32(0)
		if p.from > 0 {
			start = p.ends[p.from-1]
		}
		for _, e := range p.ends[p.from:] {
			snap.Lines = append(snap.Lines, p.data[start:e:e])
			start = e
		}
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
