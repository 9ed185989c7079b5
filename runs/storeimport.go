package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"interleave/scenarios"
)

// importBatchBytes is how many bytes of event lines an import hands to the
// writer at a time: one transaction of about 16 chunks. An import holds at
// most this much of its events in memory, whatever the size of its file.
const importBatchBytes = 1 << 20

// ImportWriter streams an upload's events into the store as they are
// converted: the run's row is written first with status importing (not
// listed, not served, deleted by the next start if the server stops), its
// chunks in batches, and its final row on commit. abort deletes it all.
type ImportWriter struct {
	store   *Store
	ctx     context.Context
	id      string
	created time.Time
	key     int64

	pending      [][]byte
	pendingBytes int
	lines        int   // lines written
	bytes        int64 // their JSON size
	stored       int64 // their size on disk
	// err is the first write that failed: the import cannot complete.
	err  error
	done bool
}

// BeginImport writes the row of a run that did not execute here (an
// uploaded trace being converted, of the given scenario and engine) and
// returns the writer of its events. The run is created now and finished
// when committed.
func (s *Store) BeginImport(ctx context.Context, scenario, engine string) (*ImportWriter, error) {
	if err := s.Writable(); err != nil {
		return nil, err
	}
	iw := &ImportWriter{store: s, ctx: ctx, id: NewID(), created: time.Now().UTC()}
	err := s.do(ctx, func(w *storeWriter) error {
		res, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, scenario, engine, params, status, created, source_version)
			VALUES (?, ?, ?, '{}', ?, ?, '')`, iw.id, scenario, engine, statusImporting, iw.created.UnixNano())
		if err == nil {
			iw.key, err = res.LastInsertId()
		}
		return w.wrote(err)
	})
	if err != nil {
		return nil, storeWriteError(s, err)
	}
	return iw, nil
}

// ID is the imported run's id, its permalink.
func (iw *ImportWriter) ID() string { return iw.id }

// Err is the first write that failed: the import cannot complete.
func (iw *ImportWriter) Err() error { return iw.err }

// Lines is how many event lines have been written.
func (iw *ImportWriter) Lines() int { return iw.lines }

// Add queues one event line (kept, not copied) and writes a batch when
// enough are queued. After a failed write it does nothing: see err.
func (iw *ImportWriter) Add(line []byte) {
	if iw.err != nil {
		return
	}
	iw.pending = append(iw.pending, line)
	iw.pendingBytes += len(line)
	if iw.pendingBytes >= importBatchBytes {
		iw.err = iw.writePending()
	}
}

// writePending writes the queued lines as chunks, in one transaction.
func (iw *ImportWriter) writePending() error {
	if len(iw.pending) == 0 {
		return nil
	}
	s := iw.store
	err := s.do(iw.ctx, func(w *storeWriter) error {
		tx, err := s.db.BeginTx(iw.ctx, nil)
		if err != nil {
			return w.wrote(err)
		}
		defer tx.Rollback()
		ins, err := newChunkInserter(iw.ctx, tx, &w.codec)
		if err != nil {
			return w.wrote(err)
		}
		raw, stored, err := ins.insert(iw.key, iw.lines, iw.pending)
		if cerr := ins.close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			return w.wrote(err)
		}
		iw.bytes += raw
		iw.stored += stored
		return w.wrote(nil)
	})
	if err != nil {
		return storeWriteError(s, err)
	}
	iw.lines += len(iw.pending)
	clear(iw.pending)
	iw.pending, iw.pendingBytes = iw.pending[:0], 0
	return nil
}

// Commit writes what is queued and the run's final row, with its params,
// the version of its source and its summary (nil for none): the import is
// a finished run from then on.
func (iw *ImportWriter) Commit(params scenarios.Params, sourceVersion string, summary json.RawMessage) error {
	if iw.err != nil {
		return iw.err
	}
	if err := iw.writePending(); err != nil {
		iw.err = err
		return err
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	var sum any
	if summary != nil {
		sum = string(summary)
	}
	s := iw.store
	err = s.do(iw.ctx, func(w *storeWriter) error {
		_, err := s.db.ExecContext(iw.ctx, `UPDATE runs SET status = ?, params = ?, summary = ?, finished = ?, source_version = ?,
			events = ?, bytes = ?, stored_bytes = ? WHERE n = ?`,
			StatusDone, string(p), sum, iw.created.UnixNano(), sourceVersion, iw.lines, iw.bytes, iw.stored, iw.key)
		if err := w.wrote(err); err != nil {
			return err
		}
		iw.done = true
		if err := w.enforceRetention(iw.ctx); err != nil {
			s.logger.Error("store: retention failed", "err", err)
		}
		return nil
	})
	if err != nil {
		return storeWriteError(s, err)
	}
	return nil
}

// Abort deletes what the import wrote, unless it was committed. A failed
// delete leaves a row marked importing, which the next start deletes.
func (iw *ImportWriter) Abort() {
	if iw.done {
		return
	}
	s := iw.store
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.do(ctx, func(w *storeWriter) error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE run = ?`, iw.key); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE n = ? AND status = ?`, iw.key, statusImporting); err != nil {
			return err
		}
		return tx.Commit()
	})
	s.cache.dropRun(iw.key)
	if err != nil {
		s.logger.Warn("store: an aborted import could not be deleted; the next start deletes it", "run", iw.id, "err", err)
	}
}

// wrote feeds the outcome of a write done by an operation (an import)
// into the writer's health, as flushes do, and returns err.
func (w *storeWriter) wrote(err error) error {
	if err != nil && errors.Is(err, context.Canceled) {
		return err // the client went away: the disk is not to blame
	}
	w.attempted(err)
	return err
}

// storeWriteError turns a failed write into the error the client sees:
// *StoreUnavailableError (503) when the store cannot write, else err.
func storeWriteError(s *Store, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrStoreClosed) {
		return err
	}
	var su *StoreUnavailableError
	if errors.As(err, &su) {
		return err
	}
	if e := s.unwritable.Load(); e != nil {
		return e
	}
	return fmt.Errorf("store the import: %w", err)
}
