package runs

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"interleave/scenarios/child"
)

// What the tests of the packages above the manager (the server's HTTP,
// socket and browser tests) need to set up runs of exact contents and to
// look at the store's file: a run is otherwise only made by executing it.

// DB returns the store's database, for tests and tools that inspect what
// the file holds. Writing through it bypasses the writer.
func (s *Store) DB() *sql.DB { return s.db }

// DropCachedChunks forgets the decoded chunks of run id kept in memory, so
// that the next read goes to the file (after a test damaged it).
func (s *Store) DropCachedChunks(ctx context.Context, id string) error {
	var key int64
	if err := s.db.QueryRowContext(ctx, `SELECT n FROM runs WHERE id = ?`, id).Scan(&key); err != nil {
		return fmt.Errorf("find run %s: %w", id, err)
	}
	s.cache.dropRun(key)
	return nil
}

// SetKeepBytes changes how many bytes of events retention keeps; it applies
// from the next run that finishes.
func (s *Store) SetKeepBytes(ctx context.Context, n int64) error {
	if n < 1 {
		return fmt.Errorf("keep-bytes: %d is not allowed; want a positive number of bytes", n)
	}
	return s.do(ctx, func(w *storeWriter) error {
		s.keepBytes = n // on the writer goroutine, which reads it
		return nil
	})
}

// RememberProcesses puts the processes of a running run on record, as the
// manager does when a contained run starts, so that the next start of a
// server on this data directory kills what is left of them.
func (s *Store) RememberProcesses(id string, l child.Leftover) { s.rememberProcesses(id, l) }

// RecordLines records a run of scenario whose events are lines, as if it
// had executed here, and returns its id once every line is in the store.
// final is its final status; "" leaves it running, as a run is when the
// server stops under it (the next start marks it interrupted).
func (s *Store) RecordLines(ctx context.Context, scenario, engine string, lines [][]byte, final string) (string, error) {
	run := &Run{ID: NewID(), Scenario: scenario, Engine: engine, Created: time.Now().UTC(), log: newRunLog(StatusQueued), done: make(chan struct{})}
	saved := make(chan struct{})
	if err := s.record(run, func() { close(saved) }); err != nil {
		return "", err
	}
	run.log.setStatus(StatusRunning, 0)
	run.mu.Lock()
	for _, line := range lines {
		run.events++
		run.bytes += int64(len(line))
		if isEnd(line) {
			var ev struct {
				Summary json.RawMessage `json:"summary"`
			}
			if json.Unmarshal(line, &ev) == nil && len(ev.Summary) > 0 {
				run.summary = ev.Summary
			}
		}
	}
	run.mu.Unlock()
	run.log.append(lines...)
	if final != "" {
		run.finish(final)
		select {
		case <-saved:
			return run.ID, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	// Unfinished: wait until its lines are written.
	for {
		var n int
		err := s.do(ctx, func(w *storeWriter) error {
			if rec, ok := w.active[run.ID]; ok {
				n = rec.cursor
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		if n == len(lines) {
			return run.ID, nil
		}
		select {
		case <-time.After(flushEvery):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// FinishedRun returns a run held in memory only, finished with status and
// summary: for tests of what reads a run's numbers (a comparison's table).
func FinishedRun(id, scenario, status string, summary json.RawMessage) *Run {
	r := &Run{ID: id, Scenario: scenario, log: newRunLog(status), done: make(chan struct{}), summary: summary, final: status, reported: true}
	close(r.done)
	return r
}

// isEnd reports whether line is an end event.
func isEnd(line []byte) bool {
	var ev struct {
		K string `json:"k"`
	}
	return json.Unmarshal(line, &ev) == nil && ev.K == "end"
}
