package runs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Writer tuning: how often live runs are flushed, and the most lines one
// flush writes (so one transaction never holds the write lock for long;
// a run further behind is caught up by the next flush, right away).
const (
	flushEvery    = 50 * time.Millisecond
	flushMaxLines = 50_000
)

// When a write fails (a full disk, an I/O error) the writer retries after
// minWriteBackoff, doubling up to MaxWriteBackoff, rather than as fast as it
// can: a failing disk is not made busier, and the log gets one line when
// writing stops working, one a writeLogEvery while it stays broken, and one
// when it works again.
const (
	minWriteBackoff = 100 * time.Millisecond
	MaxWriteBackoff = 5 * time.Second
	writeLogEvery   = time.Minute
	// saveGrace is how long a finished run may wait for a failing store
	// before its viewers are told it failed: a run is reported done only
	// once it is saved.
	saveGrace = 2 * time.Second
	// probeBytes is what a probe writes to learn whether the disk takes
	// writes again while no run is being recorded: about one flush's worth.
	probeBytes = 256 << 10
)

// notSavedLabel is the mark added to a run that ended while the store could
// not write.
const notSavedLabel = "not saved: the run store could not write when the run ended (%s); it is reported failed, and its events are written only if the store recovers before the server stops"

// recording is a run the writer is copying into the database.
type recording struct {
	run    *Run
	saved  func()
	key    int64  // runs.n once the row exists
	cursor int    // lines written
	bytes  int64  // their JSON size
	stored int64  // their size on disk
	status string // status written
}

// storeWriter is the state of the writer goroutine; only it touches it.
type storeWriter struct {
	store    *Store
	active   map[string]*recording
	drainers []chan struct{}
	codec    chunkCodec

	// While failing, no write is tried before nextTry.
	failing  bool
	since    time.Time
	lastLog  time.Time
	nextTry  time.Time
	backoff  time.Duration
	attempts int
}

func (w *storeWriter) loop() {
	s := w.store
	defer close(s.stopped)
	ticker := time.NewTicker(flushEvery)
	defer ticker.Stop()
	ctx := context.Background()
	behind := false
	for {
		var tick <-chan time.Time
		if len(w.active) > 0 || w.failing {
			tick = ticker.C
		}
		if behind && !w.failing {
			select {
			case op := <-s.ops:
				op(w)
			case <-s.quit:
				w.stop()
				return
			default:
			}
		} else {
			select {
			case op := <-s.ops:
				op(w)
			case <-tick:
			case <-s.wake:
			case <-s.quit:
				w.stop()
				return
			}
		}
		behind = false
		if w.failing {
			w.giveUp(time.Now())
			if time.Now().Before(w.nextTry) {
				continue
			}
			if len(w.active) == 0 {
				w.attempted(w.probe(ctx))
				continue
			}
		}
		var err error
		behind, err = w.flush(ctx)
		w.attempted(err)
	}
}

// stop writes what every live run has so far, on the way out; a finished
// run that could not be saved is reported failed.
func (w *storeWriter) stop() {
	for range 1000 {
		behind, err := w.flush(context.Background())
		if err != nil {
			w.store.logger.Error("store: last flush failed", "err", err)
			break
		}
		if !behind {
			break
		}
	}
	w.giveUp(time.Now().Add(saveGrace))
}

// attempted records the outcome of a write: the first failure is logged
// and makes the store refuse new runs; later ones back off and are logged
// once a minute; the first success after failures says so and lifts the
// refusal.
func (w *storeWriter) attempted(err error) {
	s := w.store
	now := time.Now()
	if err == nil {
		if w.failing {
			s.logger.Info("store: writing again; new runs are accepted", "failed_for", now.Sub(w.since).Round(time.Millisecond), "attempts", w.attempts)
			w.failing = false
			s.unwritable.Store(nil)
		}
		return
	}
	if !w.failing {
		w.failing, w.since, w.lastLog, w.attempts, w.backoff = true, now, now, 1, minWriteBackoff
		s.logger.Error("store: cannot write; new runs are refused and writes are retried with backoff until they succeed",
			"file", s.path, "problem", describeWriteError(err), "err", err, "runs_waiting", len(w.active))
	} else {
		w.attempts++
		w.backoff = min(2*w.backoff, MaxWriteBackoff)
		if now.Sub(w.lastLog) >= writeLogEvery {
			w.lastLog = now
			s.logger.Error("store: still cannot write", "file", s.path, "problem", describeWriteError(err), "err", err,
				"failing_for", now.Sub(w.since).Round(time.Second), "attempts", w.attempts, "runs_waiting", len(w.active))
		}
	}
	s.unwritable.Store(&StoreUnavailableError{Path: s.path, Since: w.since, Err: err})
	w.nextTry = now.Add(w.backoff)
	w.giveUp(now)
}

// giveUp tells the viewers of every run that finished more than saveGrace
// before now, and is still not saved, that it failed: a run is never
// reported done unless it was kept. The run stays in memory and is written
// if the store recovers.
func (w *storeWriter) giveUp(now time.Time) {
	if !w.failing {
		return
	}
	problem := "unknown"
	if e := w.store.unwritable.Load(); e != nil {
		problem = describeWriteError(e.Err)
	}
	for _, rec := range w.active {
		run := rec.run
		run.mu.Lock()
		late := run.final != "" && !run.reported && now.Sub(run.finishedAt) >= saveGrace
		if late {
			run.final = StatusFailed
		}
		run.mu.Unlock()
		if late {
			run.appendMark(fmt.Sprintf(notSavedLabel, problem))
			run.reportFinal(StatusFailed)
			w.store.logger.Warn("store: a finished run could not be saved; reported failed", "run", run.ID)
		}
	}
}

// probe writes and deletes probeBytes to learn whether the disk takes
// writes again.
func (w *storeWriter) probe(ctx context.Context) error {
	db := w.store.db
	if _, err := db.ExecContext(ctx, `INSERT INTO write_probe (data) VALUES (zeroblob(?))`, probeBytes); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM write_probe`); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	return nil
}

// describeWriteError says in words why SQLite could not write.
func describeWriteError(err error) string {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 13: // SQLITE_FULL
			return "the disk holding it is full"
		case 10: // SQLITE_IOERR
			return "the disk reports I/O errors"
		case 8: // SQLITE_READONLY
			return "the file or its directory is read-only"
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return "the database file is damaged"
		case 14: // SQLITE_CANTOPEN
			return "the file cannot be opened"
		}
	}
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// flush writes, in one transaction, new rows, new events (at most
// flushMaxLines), status changes and finished runs. It reports whether some
// run has more lines waiting. A finished run is reported (its viewers get
// its final status) once its last line and final row are committed.
func (w *storeWriter) flush(ctx context.Context) (behind bool, err error) {
	if len(w.active) == 0 {
		w.releaseDrainers()
		return false, nil
	}
	tx, err := w.store.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	ins, err := w.inserter(ctx, tx)
	if err != nil {
		return false, err
	}
	defer ins.close()

	type change struct {
		rec      *recording
		cursor   int
		bytes    int64
		stored   int64
		status   string
		key      int64
		final    string
		finished bool
	}
	var changes []change
	budget := flushMaxLines
	for _, rec := range w.active {
		c := change{rec: rec, cursor: rec.cursor, bytes: rec.bytes, stored: rec.stored, status: rec.status, key: rec.key}
		if c.key == 0 {
			if c.key, err = insertRun(ctx, tx, rec.run); err != nil {
				return false, err
			}
		}
		// The final status is read before the lines: every line of a run
		// is appended before it finishes, so the snapshot then holds all.
		c.final = rec.run.finalStatus()
		snap, err := rec.run.log.read(c.cursor, max(budget, 0))
		if err != nil {
			return false, err
		}
		if len(snap.Lines) > 0 {
			n, z, err := ins.insert(c.key, c.cursor, snap.Lines)
			if err != nil {
				return false, err
			}
			c.bytes += n
			c.stored += z
			c.cursor += len(snap.Lines)
			budget -= len(snap.Lines)
		}
		if c.cursor < snap.Total {
			behind = true
		}
		c.finished = c.final != "" && c.cursor == snap.Total
		c.status = snap.Status
		if finished(c.status) {
			c.status = StatusRunning // reported failed while unsaved: the row stays open until all is written
		}
		if c.finished {
			c.status = c.final
		}
		if c.finished || c.cursor != rec.cursor || c.status != rec.status || c.key != rec.key {
			if err := updateRun(ctx, tx, c.key, rec.run, c.status, c.cursor, c.bytes, c.stored, c.finished); err != nil {
				return false, err
			}
		}
		changes = append(changes, c)
	}
	if err := ins.close(); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	anyFinished := false
	for _, c := range changes {
		c.rec.key, c.rec.cursor, c.rec.bytes, c.rec.stored, c.rec.status = c.key, c.cursor, c.bytes, c.stored, c.status
		if c.finished {
			delete(w.active, c.rec.run.ID)
			c.rec.run.reportFinal(c.final)
			if c.rec.saved != nil {
				c.rec.saved()
			}
			anyFinished = true
		}
	}
	if anyFinished {
		if err := w.enforceRetention(ctx); err != nil {
			w.store.logger.Error("store: retention failed", "err", err)
		}
	}
	if len(w.active) == 0 {
		w.releaseDrainers()
	}
	return behind, nil
}

func (w *storeWriter) releaseDrainers() {
	for _, c := range w.drainers {
		close(c)
	}
	w.drainers = nil
}

// insertRun writes a run's row and returns its key.
func insertRun(ctx context.Context, tx *sql.Tx, run *Run) (int64, error) {
	params, err := json.Marshal(run.Params)
	if err != nil {
		return 0, fmt.Errorf("params of %s: %w", run.ID, err)
	}
	if run.Params == nil {
		params = []byte("{}")
	}
	run.mu.Lock()
	pinned := run.pinned
	run.mu.Unlock()
	var comparison any // NULL for a run of its own
	if run.comparison != "" {
		comparison = run.comparison
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (id, scenario, engine, params, status, created, source_version, pinned, comparison)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		run.ID, run.Scenario, run.Engine, string(params), StatusQueued, run.Created.UnixNano(), run.SourceVersion, pinned, comparison)
	if err != nil {
		return 0, fmt.Errorf("insert run %s: %w", run.ID, err)
	}
	return res.LastInsertId()
}

// updateRun writes a run's progress; once finished, its summary too.
func updateRun(ctx context.Context, tx *sql.Tx, key int64, run *Run, status string, events int, bytes, stored int64, done bool) error {
	run.mu.Lock()
	var runner any // NULL until the run has started somewhere
	if run.runner != "" {
		runner = run.runner
	}
	run.mu.Unlock()
	if !done {
		_, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, events = ?, bytes = ?, stored_bytes = ?, runner = ? WHERE n = ?`, status, events, bytes, stored, runner, key)
		if err != nil {
			return fmt.Errorf("update run %s: %w", run.ID, err)
		}
		return nil
	}
	run.mu.Lock()
	summary, finishedAt, peak := run.summary, run.finishedAt, run.peakRSS
	run.mu.Unlock()
	var sum any // NULL without a summary
	if summary != nil {
		sum = string(summary)
	}
	if finishedAt.IsZero() {
		finishedAt = time.Now()
	}
	_, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, events = ?, bytes = ?, stored_bytes = ?, summary = ?, finished = ?, peak_rss = ?, runner = ? WHERE n = ?`,
		status, events, bytes, stored, sum, finishedAt.UnixNano(), peak, runner, key)
	if err != nil {
		return fmt.Errorf("finish run %s: %w", run.ID, err)
	}
	return nil
}

// chunkInserter writes event lines as deflated, checksummed chunks.
type chunkInserter struct {
	ctx   context.Context
	stmt  *sql.Stmt
	codec *chunkCodec
}

// inserter returns a chunk inserter for one flush's transaction.
func (w *storeWriter) inserter(ctx context.Context, tx *sql.Tx) (*chunkInserter, error) {
	return newChunkInserter(ctx, tx, &w.codec)
}

func newChunkInserter(ctx context.Context, tx *sql.Tx, codec *chunkCodec) (*chunkInserter, error) {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (run, seq, n, data, crc) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	return &chunkInserter{ctx: ctx, stmt: stmt, codec: codec}, nil
}

// insert writes lines as seq from, from+1, … of run key and returns their
// JSON size and their size on disk.
func (ins *chunkInserter) insert(key int64, from int, lines [][]byte) (raw, stored int64, err error) {
	for len(lines) > 0 {
		n, size := 0, 0
		for n < len(lines) && n < chunkLines && (n == 0 || size+len(lines[n]) < chunkBytes) {
			size += len(lines[n]) + 1
			n++
		}
		data, crc, err := ins.codec.encode(lines[:n])
		if err != nil {
			return raw, stored, err
		}
		if _, err := ins.stmt.ExecContext(ins.ctx, key, from, n, data, int64(crc)); err != nil {
			return raw, stored, fmt.Errorf("insert events: %w", err)
		}
		raw += int64(size - n)
		stored += int64(len(data))
		lines, from = lines[n:], from+n
	}
	return raw, stored, nil
}

func (ins *chunkInserter) close() error {
	if ins.stmt == nil {
		return nil
	}
	err := ins.stmt.Close()
	ins.stmt = nil
	return err
}
