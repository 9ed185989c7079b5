package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// importBatchBytes is how many bytes of event lines an import hands to the
// writer at a time: one transaction of about 16 chunks. An import holds at
// most this much of its events in memory, whatever the size of its file.
const importBatchBytes = 1 << 20

// importWriter streams an upload's events into the store as they are
// converted: the run's row is written first with status importing (not
// listed, not served, deleted by the next start if the server stops), its
// chunks in batches, and its final row on commit. abort deletes it all.
type importWriter struct {
	store *Store
	ctx   context.Context
	id    string
	key   int64

	pending      [][]byte
	pendingBytes int
	lines        int   // lines written
	bytes        int64 // their JSON size
	stored       int64 // their size on disk
	// err is the first write that failed: the import cannot complete.
	err  error
	done bool
}

// beginImport writes the row of run, an upload being converted, and
// returns the writer of its events.
func (s *Store) beginImport(ctx context.Context, run *Run) (*importWriter, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	iw := &importWriter{store: s, ctx: ctx, id: run.ID}
	err := s.do(ctx, func(w *storeWriter) error {
		res, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, scenario, engine, params, status, created, source_version)
			VALUES (?, ?, ?, '{}', ?, ?, '')`, run.ID, run.Scenario, run.Engine, statusImporting, run.Created.UnixNano())
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

// add queues one event line (kept, not copied) and writes a batch when
// enough are queued. After a failed write it does nothing: see err.
func (iw *importWriter) add(line []byte) {
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
func (iw *importWriter) writePending() error {
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

// commit writes what is queued and the run's final row: the import is a
// finished run from then on.
func (iw *importWriter) commit(run *Run) error {
	if iw.err != nil {
		return iw.err
	}
	if err := iw.writePending(); err != nil {
		iw.err = err
		return err
	}
	params, err := json.Marshal(run.Params)
	if err != nil {
		return err
	}
	var summary any
	if run.summary != nil {
		summary = string(run.summary)
	}
	s := iw.store
	err = s.do(iw.ctx, func(w *storeWriter) error {
		_, err := s.db.ExecContext(iw.ctx, `UPDATE runs SET status = ?, params = ?, summary = ?, finished = ?, source_version = ?,
			events = ?, bytes = ?, stored_bytes = ? WHERE n = ?`,
			StatusDone, string(params), summary, run.finishedAt.UnixNano(), run.SourceVersion, iw.lines, iw.bytes, iw.stored, iw.key)
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

// abort deletes what the import wrote, unless it was committed. A failed
// delete leaves a row marked importing, which the next start deletes.
func (iw *importWriter) abort() {
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
	if errors.Is(err, context.Canceled) || errors.Is(err, errStoreClosed) {
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
