package runs

import (
	"context"
	"encoding/json"
	"time"
)

// What the server reads of a run and of the manager, without reaching into
// their fields or locks: the HTTP side (pages, sockets, exports, rooms,
// comparisons) goes through these.

// Read returns up to max lines of the run's log from cursor on, with its
// status and a channel closed at the log's next change. A recorded run pages
// its lines in from the store.
func (r *Run) Read(cursor, max int) (Snapshot, error) { return r.log.read(cursor, max) }

// Status returns the status viewers see and the queue position (0 unless
// queued).
func (r *Run) Status() (string, int) { return r.log.Status() }

// WatchStatus returns the status, the queue position and a channel closed
// at the next change of either (not at new events).
func (r *Run) WatchStatus() (string, int, <-chan struct{}) { return r.log.watchStatus() }

// Span returns when the run left the queue and when it finished (each zero
// until then).
func (r *Run) Span() (started, finished time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.startedAt, r.finishedAt
}

// Summary returns the run's summary as JSON (nil until its end event).
func (r *Run) Summary() json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.summary
}

// Runner names what executed the run ("local" for this machine; "" while
// queued, and for a run recorded before runners were named).
func (r *Run) Runner() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runner
}

// Cores is how many cores a run on this machine may use.
func (m *Manager) Cores() int { return m.cores }

// Store returns the store the manager records runs in.
func (m *Manager) Store() *Store { return m.store }

// Live returns a run the manager still holds in memory (queued, running,
// or finished and not yet all stored).
func (m *Manager) Live(id string) (*Run, bool) { return m.live(id) }

// HoldSlot waits (at most maxWait, or until ctx ends) for a run slot that
// no queued run is waiting for, and takes it for work that is not a run (a
// search); release gives it back. A *BusyError says none came free.
func (m *Manager) HoldSlot(ctx context.Context, maxWait time.Duration) (release func(), err error) {
	return m.holdSlot(ctx, maxWait)
}

// Lines returns how many event lines the run's log holds.
func (r *Run) Lines() int { return r.log.count() }

// StepPaused returns, for a step run whose program has started, a channel
// closed once it first waits for its learner; nil before that, and for
// other runs.
func (r *Run) StepPaused() <-chan struct{} {
	r.mu.Lock()
	ctl := r.control
	r.mu.Unlock()
	if ctl == nil {
		return nil
	}
	return ctl.Paused()
}

// Counts returns how many runs the manager holds in memory (queued, running,
// or finished and not yet all stored), how many of them execute on this
// machine, and how many wait in the queue.
func (m *Manager) Counts() (held, executingHere, queued int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.runs), len(m.executing), len(m.queue)
}
