package server

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// Store keeps every run and its events in SQLite (one file in the data
// directory), so that a run's permalink works after it ends and after a
// restart.
//
// All writes go through one writer goroutine: it copies new event lines from
// each live run's log into the database every flushEvery, in one transaction
// per flush. The child's reader never waits for the database: the run's
// in-memory log is the buffer, and the writer catches up at its own pace.
// Reads (a replay, the list of runs, an export) use the connection pool
// alongside the writer, which WAL mode allows.
//
// Events are stored as the exact JSON lines the viewers receive, in chunks
// of up to chunkLines consecutive lines per row, deflated. A row per line
// was measured first: 1,000,000 rows cost the writer about two CPU-seconds
// (enough to starve live viewers on a 2-core machine) and 100 MiB of disk;
// chunks cost a fraction of a second and about 6 MiB.
type Store struct {
	db        *sql.DB
	logger    *slog.Logger
	keepRuns  int
	keepBytes int64

	ops     chan func(*storeWriter)
	quit    chan struct{}
	stopped chan struct{}
	close   sync.Once
}

// StoreFile is the database's name inside the data directory.
const StoreFile = "interleave.db"

// Writer tuning: how often live runs are flushed, and the most lines one
// flush writes (so one transaction never holds the write lock for long;
// a run further behind is caught up by the next flush, right away).
const (
	flushEvery    = 50 * time.Millisecond
	flushMaxLines = 50_000
	// A chunk (one row of events) holds at most chunkLines lines or
	// chunkBytes bytes of them: small enough that a replay page decodes
	// little it does not send, large enough to compress well.
	chunkLines = 1024
	chunkBytes = 64 << 10
)

// storeVersion is the schema's version (PRAGMA user_version).
const storeVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	n        INTEGER PRIMARY KEY,  -- insertion order; events refer to it
	id       TEXT NOT NULL UNIQUE, -- the permalink id
	scenario TEXT NOT NULL,
	engine   TEXT NOT NULL,
	params   TEXT NOT NULL,        -- JSON object
	status   TEXT NOT NULL,
	summary  TEXT,                 -- JSON: the end event's summary, or NULL
	created  INTEGER NOT NULL,     -- unix ns
	finished INTEGER,              -- unix ns, NULL while queued or running
	source_version TEXT NOT NULL,
	pinned   INTEGER NOT NULL DEFAULT 0,
	events   INTEGER NOT NULL DEFAULT 0, -- event lines stored for this run
	bytes    INTEGER NOT NULL DEFAULT 0, -- their size as JSON
	stored_bytes INTEGER NOT NULL DEFAULT 0, -- their size on disk (deflated)
	peak_rss INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, engine, n);
CREATE TABLE IF NOT EXISTS events (
	run  INTEGER NOT NULL, -- runs.n
	seq  INTEGER NOT NULL, -- of the chunk's first line: 0-based, in the order the run produced them
	n    INTEGER NOT NULL, -- lines in the chunk
	data BLOB NOT NULL,    -- the lines, each ending in a newline, deflated
	PRIMARY KEY (run, seq)
);
CREATE TABLE IF NOT EXISTS comparisons (
	id      TEXT PRIMARY KEY, -- the permalink id of /compare/{id}
	created INTEGER NOT NULL, -- unix ns
	data    TEXT NOT NULL     -- JSON: comparisonRecord
);
PRAGMA user_version = 1;
`

// OpenStore opens (or creates) the store in dir, marks runs that were cut
// off by a crash as interrupted, applies retention, and starts the writer.
// keepRuns and keepBytes bound what the store keeps (see Limits).
func OpenStore(dir string, keepRuns int, keepBytes int64, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		return nil, errors.New("store needs a logger")
	}
	if dir == "" {
		return nil, errors.New("store needs a data directory")
	}
	if keepRuns < 1 || keepBytes < 1 {
		return nil, fmt.Errorf("store: keep-runs %d and keep-bytes %d must be positive", keepRuns, keepBytes)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, StoreFile)
	// WAL lets replays read while the writer writes; NORMAL sync is durable
	// against a crash of the process (not of the machine), which is what a
	// kill -9 of the server is.
	dsn := "file:" + path + "?_busy_timeout=10000&_auto_vacuum=INCREMENTAL&_journal_mode=WAL&_synchronous=NORMAL"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	s := &Store{db: db, logger: logger, keepRuns: keepRuns, keepBytes: keepBytes,
		ops: make(chan func(*storeWriter), 64), quit: make(chan struct{}), stopped: make(chan struct{})}
	ctx := context.Background()
	var version int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if version != storeVersion && (version != 0 || tables > 0) {
		db.Close()
		return nil, fmt.Errorf("%s has store version %d; this server reads version %d: move the file away to start afresh", path, version, storeVersion)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create tables in %s: %w", path, err)
	}
	if err := s.markInterrupted(ctx); err != nil {
		db.Close()
		return nil, err
	}
	w := &storeWriter{store: s, active: map[string]*recording{}}
	if err := w.enforceRetention(ctx); err != nil {
		db.Close()
		return nil, err
	}
	go w.loop()
	return s, nil
}

// Close stops the writer after a last flush and closes the database. Runs
// still live at that point stay "running" in the database and come back
// interrupted on the next start.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		close(s.quit)
		<-s.stopped
		err = s.db.Close()
	})
	return err
}

// errStoreClosed is returned by operations after Close.
var errStoreClosed = errors.New("the run store is closed")

// do runs op on the writer goroutine and waits for it.
func (s *Store) do(ctx context.Context, op func(*storeWriter) error) error {
	errc := make(chan error, 1)
	select {
	case s.ops <- func(w *storeWriter) { errc <- op(w) }:
	case <-s.stopped:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-errc:
		return err
	case <-s.stopped:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// record starts recording run: its row is written right away and its
// events as they arrive. saved is called (on the writer goroutine) once the
// run has finished and everything it recorded is in the database.
func (s *Store) record(run *Run, saved func()) error {
	op := func(w *storeWriter) {
		w.active[run.ID] = &recording{run: run, saved: saved}
	}
	select {
	case s.ops <- op:
		return nil
	case <-s.stopped:
		return errStoreClosed
	}
}

// drain waits until every recorded run has finished and been written.
func (s *Store) drain(ctx context.Context) error {
	wait := make(chan struct{})
	if err := s.do(ctx, func(w *storeWriter) error {
		w.drainers = append(w.drainers, wait)
		return nil
	}); err != nil {
		return err
	}
	select {
	case <-wait:
		return nil
	case <-s.stopped:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setPinned pins or unpins a run: retention never evicts a pinned run.
func (s *Store) setPinned(ctx context.Context, id string, pinned bool) error {
	return s.do(ctx, func(w *storeWriter) error {
		if rec, ok := w.active[id]; ok {
			rec.run.mu.Lock()
			rec.run.pinned = pinned
			rec.run.mu.Unlock()
			if rec.key == 0 {
				return nil // written with its row on this flush
			}
		}
		res, err := s.db.ExecContext(ctx, `UPDATE runs SET pinned = ? WHERE id = ?`, pinned, id)
		if err != nil {
			return fmt.Errorf("pin run %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &NotFoundError{What: fmt.Sprintf("run %q", id)}
		}
		return nil
	})
}

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
	raw      bytes.Buffer // a chunk's lines before compression
	zw       *flate.Writer
}

func (w *storeWriter) loop() {
	s := w.store
	defer close(s.stopped)
	ticker := time.NewTicker(flushEvery)
	defer ticker.Stop()
	behind := false
	for {
		var tick <-chan time.Time
		if len(w.active) > 0 {
			tick = ticker.C
		}
		if behind {
			select {
			case op := <-s.ops:
				op(w)
			case <-s.quit:
				w.flushAll()
				return
			default:
			}
		} else {
			select {
			case op := <-s.ops:
				op(w)
			case <-tick:
			case <-s.quit:
				w.flushAll()
				return
			}
		}
		var err error
		behind, err = w.flush(context.Background())
		if err != nil {
			s.logger.Error("store: flush failed; will retry", "err", err)
			behind = false // retry on the next tick, not in a tight loop
		}
	}
}

// flushAll writes what every live run has so far, on the way out.
func (w *storeWriter) flushAll() {
	for range 1000 {
		behind, err := w.flush(context.Background())
		if err != nil {
			w.store.logger.Error("store: last flush failed", "err", err)
			return
		}
		if !behind {
			return
		}
	}
}

// flush writes, in one transaction, new rows, new events (at most
// flushMaxLines), status changes and finished runs. It reports whether some
// run has more lines waiting.
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
		snap, err := rec.run.log.read(c.cursor, max(budget, 0))
		if err != nil {
			return false, err
		}
		if len(snap.lines) > 0 {
			n, z, err := ins.insert(c.key, c.cursor, snap.lines)
			if err != nil {
				return false, err
			}
			c.bytes += n
			c.stored += z
			c.cursor += len(snap.lines)
			budget -= len(snap.lines)
		}
		if c.cursor < snap.total {
			behind = true
		}
		c.finished = finished(snap.status) && c.cursor == snap.total
		c.status = snap.status
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
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (id, scenario, engine, params, status, created, source_version, pinned)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		run.ID, run.Scenario, run.Engine, string(params), StatusQueued, run.Created.UnixNano(), run.SourceVersion, pinned)
	if err != nil {
		return 0, fmt.Errorf("insert run %s: %w", run.ID, err)
	}
	return res.LastInsertId()
}

// updateRun writes a run's progress; once finished, its summary too.
func updateRun(ctx context.Context, tx *sql.Tx, key int64, run *Run, status string, events int, bytes, stored int64, done bool) error {
	if !done {
		if finished(status) {
			status = StatusRunning // the final status waits for the last lines
		}
		_, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, events = ?, bytes = ?, stored_bytes = ? WHERE n = ?`, status, events, bytes, stored, key)
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
	_, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, events = ?, bytes = ?, stored_bytes = ?, summary = ?, finished = ?, peak_rss = ? WHERE n = ?`,
		status, events, bytes, stored, sum, finishedAt.UnixNano(), peak, key)
	if err != nil {
		return fmt.Errorf("finish run %s: %w", run.ID, err)
	}
	return nil
}

// chunkInserter writes event lines as deflated chunks.
type chunkInserter struct {
	ctx  context.Context
	stmt *sql.Stmt
	w    *storeWriter
}

// inserter returns a chunk inserter for one flush's transaction.
func (w *storeWriter) inserter(ctx context.Context, tx *sql.Tx) (*chunkInserter, error) {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (run, seq, n, data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("prepare insert: %w", err)
	}
	return &chunkInserter{ctx: ctx, stmt: stmt, w: w}, nil
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
		data, err := ins.w.deflate(lines[:n])
		if err != nil {
			return raw, stored, err
		}
		if _, err := ins.stmt.ExecContext(ins.ctx, key, from, n, data); err != nil {
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

// deflate compresses lines, each followed by a newline, reusing the
// writer's buffers (only the writer goroutine calls it).
func (w *storeWriter) deflate(lines [][]byte) ([]byte, error) {
	w.raw.Reset()
	for _, line := range lines {
		w.raw.Write(line)
		w.raw.WriteByte('\n')
	}
	var out bytes.Buffer
	if w.zw == nil {
		w.zw, _ = flate.NewWriter(&out, flate.BestSpeed)
	} else {
		w.zw.Reset(&out)
	}
	if _, err := w.zw.Write(w.raw.Bytes()); err != nil {
		return nil, err
	}
	if err := w.zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// inflate returns the lines of a stored chunk.
func inflate(data []byte, n int) ([][]byte, error) {
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, fmt.Errorf("inflate events: %w", err)
	}
	lines := make([][]byte, 0, n)
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return nil, errors.New("inflate events: a chunk does not end in a newline")
		}
		lines = append(lines, raw[:i:i])
		raw = raw[i+1:]
	}
	if len(lines) != n {
		return nil, fmt.Errorf("inflate events: a chunk holds %d lines, not %d", len(lines), n)
	}
	return lines, nil
}

// enforceRetention evicts the oldest unpinned finished runs while the store
// holds more than keepRuns runs or keepBytes bytes of events on disk.
func (w *storeWriter) enforceRetention(ctx context.Context) error {
	s := w.store
	var runs int
	var bytes int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(stored_bytes), 0) FROM runs`).Scan(&runs, &bytes); err != nil {
		return fmt.Errorf("measure store: %w", err)
	}
	if runs <= s.keepRuns && bytes <= s.keepBytes {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT n, id, stored_bytes FROM runs
		WHERE pinned = 0 AND status NOT IN (?, ?) ORDER BY n`, StatusQueued, StatusRunning)
	if err != nil {
		return fmt.Errorf("list evictable runs: %w", err)
	}
	type victim struct {
		key   int64
		id    string
		bytes int64
	}
	var victims []victim
	for rows.Next() && (runs > s.keepRuns || bytes > s.keepBytes) {
		var v victim
		if err := rows.Scan(&v.key, &v.id, &v.bytes); err != nil {
			rows.Close()
			return err
		}
		victims = append(victims, v)
		runs--
		bytes -= v.bytes
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, v := range victims {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE run = ?`, v.key); err != nil {
			tx.Rollback()
			return fmt.Errorf("evict events of %s: %w", v.id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE n = ?`, v.key); err != nil {
			tx.Rollback()
			return fmt.Errorf("evict run %s: %w", v.id, err)
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.logger.Info("store: evicted run", "run", v.id, "bytes", v.bytes)
	}
	if len(victims) > 0 {
		// Give the freed pages back to the file system.
		if _, err := s.db.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
	}
	return nil
}

// interruptedLabel is the mark added to a run the server did not see finish.
const interruptedLabel = "interrupted: the server stopped before the run finished; every event recorded before that is kept"

// markInterrupted ends the runs a crash or kill of the server cut off:
// they become interrupted, with a mark after the last event they recorded.
func (s *Store) markInterrupted(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT n, id, events FROM runs WHERE status IN (?, ?)`, StatusQueued, StatusRunning)
	if err != nil {
		return fmt.Errorf("find interrupted runs: %w", err)
	}
	type cut struct {
		key    int64
		id     string
		events int
	}
	var cuts []cut
	for rows.Next() {
		var c cut
		if err := rows.Scan(&c.key, &c.id, &c.events); err != nil {
			rows.Close()
			return err
		}
		cuts = append(cuts, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cuts {
		// The mark goes after the latest event recorded. Lines are not
		// strictly in time order (a load sample is stamped at the start
		// of the interval it measures), so look at the last ones.
		var last int64
		if c.events > 0 {
			from := max(0, c.events-256)
			if lines, err := s.lines(ctx, c.key, from, c.events-from); err == nil {
				for _, line := range lines {
					var ev struct {
						T int64 `json:"t"`
					}
					_ = json.Unmarshal(line, &ev)
					last = max(last, ev.T)
				}
			}
		}
		mark := event.Marshal(&event.Event{T: last, K: event.KindMark, Label: interruptedLabel})
		w := &storeWriter{store: s}
		data, err := w.deflate([][]byte{mark})
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO events (run, seq, n, data) VALUES (?, ?, 1, ?)`, c.key, c.events, data)
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished = ?, events = events + 1, bytes = bytes + ?, stored_bytes = stored_bytes + ? WHERE n = ?`,
				StatusInterrupted, time.Now().UnixNano(), len(mark), len(data), c.key)
		}
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("mark run %s interrupted: %w", c.id, err)
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		s.logger.Info("store: run was interrupted by a stop of the server", "run", c.id, "events", c.events)
	}
	return nil
}

// storedRun is a run's row.
type storedRun struct {
	key           int64
	id            string
	scenario      string
	engine        string
	params        string
	status        string
	summary       sql.NullString
	created       int64
	finished      sql.NullInt64
	sourceVersion string
	pinned        bool
	events        int64
	bytes         int64
	storedBytes   int64
	peakRSS       int64
}

const runColumns = `n, id, scenario, engine, params, status, summary, created, finished, source_version, pinned, events, bytes, stored_bytes, peak_rss`

func scanRun(row interface{ Scan(...any) error }) (storedRun, error) {
	var r storedRun
	err := row.Scan(&r.key, &r.id, &r.scenario, &r.engine, &r.params, &r.status, &r.summary, &r.created, &r.finished,
		&r.sourceVersion, &r.pinned, &r.events, &r.bytes, &r.storedBytes, &r.peakRSS)
	return r, err
}

// info is the row as the API shows it.
func (r storedRun) info() Info {
	in := Info{ID: r.id, Scenario: r.scenario, Engine: r.engine, Status: r.status, Created: time.Unix(0, r.created).UTC(),
		Summary: json.RawMessage("null"), Events: r.events, Bytes: r.bytes, StoredBytes: r.storedBytes, PeakRSS: r.peakRSS, Pinned: r.pinned, SourceVersion: r.sourceVersion}
	_ = json.Unmarshal([]byte(r.params), &in.Params)
	if in.Params == nil {
		in.Params = scenarios.Params{}
	}
	if r.summary.Valid && json.Valid([]byte(r.summary.String)) {
		in.Summary = json.RawMessage(r.summary.String)
	}
	if r.finished.Valid {
		t := time.Unix(0, r.finished.Int64).UTC()
		in.Finished = &t
	}
	return in
}

// load returns a recorded run whose events are paged in from the database
// as viewers read them, or a *NotFoundError.
func (s *Store) load(ctx context.Context, id string) (*Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &NotFoundError{What: fmt.Sprintf("run %q", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("load run %s: %w", id, err)
	}
	in := r.info()
	done := make(chan struct{})
	close(done)
	status := r.status
	if !finished(status) {
		// Another server process is recording it (or crashed mid-run and
		// has not restarted): replay what is there.
		status = StatusInterrupted
	}
	run := &Run{ID: r.id, Scenario: r.scenario, Engine: r.engine, Params: in.Params, Created: in.Created,
		SourceVersion: r.sourceVersion, done: done, pinned: r.pinned, events: r.events, bytes: r.bytes, storedBytes: r.storedBytes, peakRSS: r.peakRSS}
	if in.Summary != nil && string(in.Summary) != "null" {
		run.summary = in.Summary
	}
	if in.Finished != nil {
		run.finishedAt = *in.Finished
	}
	key := r.key
	run.log = newStoredLog(status, int(r.events), func(from, n int) ([][]byte, error) {
		return s.lines(context.Background(), key, from, n)
	})
	return run, nil
}

// lines returns event lines of run key from seq from on: at most n, and
// fewer when the next chunk would not fit whole, so that a reader going
// through a run page by page decodes each chunk once.
func (s *Store) lines(ctx context.Context, key int64, from, n int) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, n, data FROM events
		WHERE run = ? AND seq >= (SELECT coalesce(max(seq), 0) FROM events WHERE run = ? AND seq <= ?)
		ORDER BY seq`, key, key, from)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var seq, count int
		var data []byte
		if err := rows.Scan(&seq, &count, &data); err != nil {
			return nil, err
		}
		if seq > from+len(out) {
			return nil, fmt.Errorf("read events: line %d is missing", from+len(out))
		}
		skip := from + len(out) - seq // lines of the chunk before from
		if len(out) > 0 && len(out)+count-skip > n {
			break
		}
		lines, err := inflate(data, count)
		if err != nil {
			return nil, err
		}
		out = append(out, lines[skip:]...)
		if len(out) >= n {
			return out[:n:n], nil
		}
	}
	return out, rows.Err()
}

// RunFilter selects runs for the recent-runs list.
type RunFilter struct {
	Scenario string
	Engine   string
	// Before is a run id: only runs recorded before it are listed.
	Before string
	Limit  int
}

// list returns recorded runs, newest first, and the id to pass as Before
// for the next page ("" when there is none).
func (s *Store) list(ctx context.Context, f RunFilter) ([]Info, string, error) {
	where := []string{"1 = 1"}
	var args []any
	if f.Scenario != "" {
		where = append(where, "scenario = ?")
		args = append(args, f.Scenario)
	}
	if f.Engine != "" {
		where = append(where, "engine = ?")
		args = append(args, f.Engine)
	}
	if f.Before != "" {
		var key int64
		err := s.db.QueryRowContext(ctx, `SELECT n FROM runs WHERE id = ?`, f.Before).Scan(&key)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, "", &badRequestError{msg: fmt.Sprintf("before: no run %q", f.Before)}
		}
		if err != nil {
			return nil, "", fmt.Errorf("find run %s: %w", f.Before, err)
		}
		where = append(where, "n < ?")
		args = append(args, key)
	}
	args = append(args, f.Limit+1)
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE `+strings.Join(where, " AND ")+` ORDER BY n DESC LIMIT ?`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	out := []Info{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r.info())
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// buildVersion is the revision of this binary when it was built from a
// VCS checkout, else its module version ("" when neither is known).
var buildVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty, _ = strconv.ParseBool(s.Value)
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "-dirty"
		}
		return rev
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return ""
})

// sourceVersion names the code that produced a run: a hash of the
// scenario's source as the engine shows it, and the binary's revision when
// known. Two runs with the same source version ran the same scenario code.
func sourceVersion(source string) string {
	sum := sha256.Sum256([]byte(source))
	v := "src:" + hex.EncodeToString(sum[:6])
	if b := buildVersion(); b != "" {
		v += " build:" + b
	}
	return v
}

// comparisonRecord is what the store keeps of a comparison: its settings and
// the run of each model (the runs themselves are recorded as usual).
type comparisonRecord struct {
	ID       string                  `json:"id"`
	Workload string                  `json:"workload"`
	Engine   string                  `json:"engine"`
	Size     string                  `json:"size"`
	Workers  int                     `json:"workers"`
	Created  time.Time               `json:"created"`
	Status   string                  `json:"status"`
	Error    string                  `json:"error,omitempty"`
	Runs     map[string]string       `json:"runs"`
	Spans    map[string][2]time.Time `json:"spans"`
}

// saveComparison writes (or rewrites) a comparison's record.
func (s *Store) saveComparison(ctx context.Context, rec comparisonRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *storeWriter) error {
		_, err := w.store.db.ExecContext(ctx, `INSERT INTO comparisons (id, created, data) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data`, rec.ID, rec.Created.UnixNano(), string(data))
		return err
	})
}

// loadComparison reads a comparison's record; a missing one is a *NotFoundError.
func (s *Store) loadComparison(ctx context.Context, id string) (comparisonRecord, error) {
	var rec comparisonRecord
	var data string
	err := s.db.QueryRowContext(ctx, `SELECT data FROM comparisons WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, &NotFoundError{What: fmt.Sprintf("comparison %q", id)}
	}
	if err != nil {
		return rec, fmt.Errorf("load comparison %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(data), &rec); err != nil {
		return rec, fmt.Errorf("decode comparison %s: %w", id, err)
	}
	return rec, nil
}
