package runs

import (
	"bytes"
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
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// Store keeps every run and its events in SQLite (one file in the data
// directory), so that a run's permalink works after it ends and after a
// restart.
//
// All writes go through one writer goroutine (storewriter.go): it copies new
// event lines from each live run's log into the database every flushEvery,
// in one transaction per flush. The child's reader never waits for the
// database: the run's in-memory log is the buffer, and the writer catches up
// at its own pace. Reads (a replay, the list of runs, an export) use the
// connection pool alongside the writer, which WAL mode allows.
//
// Events are stored as the exact JSON lines the viewers receive, in chunks
// of up to chunkLines consecutive lines per row, deflated and checksummed
// (storechunk.go). A row per line was measured first: 1,000,000 rows cost
// the writer about two CPU-seconds (enough to starve live viewers on a
// 2-core machine) and 100 MiB of disk; chunks cost a fraction of a second
// and about 6 MiB.
//
// Finished runs and comparisons live only here: the server's memory holds
// the live ones and a byte-capped cache of decoded chunks (chunkCache), so
// that what it holds does not grow with the runs it has served.
type Store struct {
	db        *sql.DB
	path      string
	logger    *slog.Logger
	keepRuns  int
	keepBytes int64
	cache     *chunkCache
	// cutOff are the runs this start marked interrupted that did not
	// execute on this machine (set once, before the store is shared).
	cutOff []string

	ops     chan func(*storeWriter)
	wake    chan struct{} // a run finished: flush now rather than at the next tick
	quit    chan struct{}
	stopped chan struct{}
	close   sync.Once

	// unwritable is set while the writer cannot write (disk full, I/O
	// errors): new runs are refused with it until a write succeeds again.
	unwritable atomic.Pointer[StoreUnavailableError]
}

// StoreFile is the database's name inside the data directory.
const StoreFile = "interleave.db"

// StoreOptions bound what the store keeps on disk and in memory.
type StoreOptions struct {
	// KeepRuns and KeepBytes bound the runs kept on disk (see Limits).
	KeepRuns  int
	KeepBytes int64
	// CacheBytes caps the decoded chunks kept in memory for replays and
	// exports (see Limits.CacheBytes).
	CacheBytes int64
	// ResetBad moves a database that cannot be opened (empty, damaged, of
	// another version) aside and starts an empty one, instead of refusing
	// to start.
	ResetBad bool
}

// storeVersion is the schema's version (PRAGMA user_version). Version 1
// had no checksums, no comparison column and no damage notes; version 2 did
// not name the runner of a run; migrations brings an older file up to date.
const storeVersion = 3

const schema = `
CREATE TABLE IF NOT EXISTS runs (
	n        INTEGER PRIMARY KEY,  -- insertion order; events refer to it
	id       TEXT NOT NULL UNIQUE, -- the permalink id
	scenario TEXT NOT NULL,
	engine   TEXT NOT NULL,
	params   TEXT NOT NULL,        -- JSON object
	status   TEXT NOT NULL,        -- a run status, or importing while an upload is written
	summary  TEXT,                 -- JSON: the end event's summary, or NULL
	created  INTEGER NOT NULL,     -- unix ns
	finished INTEGER,              -- unix ns, NULL while queued or running
	source_version TEXT NOT NULL,
	pinned   INTEGER NOT NULL DEFAULT 0,
	events   INTEGER NOT NULL DEFAULT 0, -- event lines stored for this run
	bytes    INTEGER NOT NULL DEFAULT 0, -- their size as JSON
	stored_bytes INTEGER NOT NULL DEFAULT 0, -- their size on disk (deflated)
	peak_rss INTEGER NOT NULL DEFAULT 0,
	comparison TEXT,               -- the comparison the run is a model of: it keeps the run
	damaged  TEXT,                 -- why the recording cannot be read back, once a reader found out
	runner   TEXT                  -- what executed the run ("local", or a pool's runner); NULL before version 3
);
CREATE INDEX IF NOT EXISTS runs_by_scenario ON runs (scenario, engine, n);
CREATE INDEX IF NOT EXISTS runs_by_comparison ON runs (comparison);
CREATE TABLE IF NOT EXISTS events (
	run  INTEGER NOT NULL, -- runs.n
	seq  INTEGER NOT NULL, -- of the chunk's first line: 0-based, in the order the run produced them
	n    INTEGER NOT NULL, -- lines in the chunk
	data BLOB NOT NULL,    -- the lines, each ending in a newline, deflated
	crc  INTEGER,          -- CRC-32 (IEEE) of the lines before deflating; NULL in version 1 files
	PRIMARY KEY (run, seq)
);
CREATE TABLE IF NOT EXISTS comparisons (
	id      TEXT PRIMARY KEY, -- the permalink id of /compare/{id}
	created INTEGER NOT NULL, -- unix ns
	data    TEXT NOT NULL,    -- JSON: ComparisonRecord
	status  TEXT NOT NULL DEFAULT 'running' -- as in data; retention evicts finished ones only
);
CREATE TABLE IF NOT EXISTS write_probe (
	data BLOB -- written and deleted to learn whether the disk takes writes again
);
`

// migrations bring a file of version i+1 to version i+2: migrations[0] is
// 1 → 2. Each runs in one transaction with the version bump.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	migrate1to2,
	migrate2to3,
}

func migrate2to3(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `ALTER TABLE runs ADD COLUMN runner TEXT`)
	return err
}

func migrate1to2(ctx context.Context, tx *sql.Tx) error {
	for _, stmt := range []string{
		`ALTER TABLE events ADD COLUMN crc INTEGER`,
		`ALTER TABLE runs ADD COLUMN comparison TEXT`,
		`ALTER TABLE runs ADD COLUMN damaged TEXT`,
		`ALTER TABLE comparisons ADD COLUMN status TEXT NOT NULL DEFAULT 'running'`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	// Each comparison's runs now name it, so that retention keeps them.
	rows, err := tx.QueryContext(ctx, `SELECT id, data FROM comparisons`)
	if err != nil {
		return err
	}
	type link struct {
		comparison, status string
		runs               []string
	}
	var links []link
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			rows.Close()
			return err
		}
		var rec ComparisonRecord
		_ = json.Unmarshal([]byte(data), &rec) // a record that does not decode keeps no runs
		l := link{comparison: id, status: rec.Status}
		for _, run := range rec.Runs {
			l.runs = append(l.runs, run)
		}
		links = append(links, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, l := range links {
		if l.status == "" {
			l.status = StatusRunning
		}
		if _, err := tx.ExecContext(ctx, `UPDATE comparisons SET status = ? WHERE id = ?`, l.status, l.comparison); err != nil {
			return err
		}
		for _, run := range l.runs {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET comparison = ? WHERE id = ?`, l.comparison, run); err != nil {
				return err
			}
		}
	}
	_, err = tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS runs_by_comparison ON runs (comparison)`)
	return err
}

// BadStoreError says the database in the data directory cannot be used
// as it is: empty, not a database, damaged or of another version. The
// server does not start on it (nothing is overwritten) unless asked to move
// it aside.
type BadStoreError struct {
	Path    string
	Problem string
}

func (e *BadStoreError) Error() string {
	return fmt.Sprintf("the run store %s %s; nothing was changed. Start with -reset-store to move it aside (it is kept as %s.bad-TIME) and begin an empty store, or move it away yourself",
		e.Path, e.Problem, filepath.Base(e.Path))
}

// sqliteHeader is how every SQLite database file begins.
var sqliteHeader = []byte("SQLite format 3\x00")

// OpenStore opens (or creates) the store in dir with the default cache;
// see OpenStoreWith.
func OpenStore(dir string, keepRuns int, keepBytes int64, logger *slog.Logger) (*Store, error) {
	return OpenStoreWith(dir, StoreOptions{KeepRuns: keepRuns, KeepBytes: keepBytes, CacheBytes: DefaultLimits().CacheBytes}, logger)
}

// OpenStoreWith opens (or creates) the store in dir, brings an older file up
// to the current schema, marks runs that were cut off by a crash as
// interrupted, applies retention, and starts the writer. A file that is not
// a usable store is a *BadStoreError, unless opts.ResetBad moves it aside.
func OpenStoreWith(dir string, opts StoreOptions, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		return nil, errors.New("store needs a logger")
	}
	if dir == "" {
		return nil, errors.New("store needs a data directory")
	}
	if opts.KeepRuns < 1 || opts.KeepBytes < 1 {
		return nil, fmt.Errorf("store: keep-runs %d and keep-bytes %d must be positive", opts.KeepRuns, opts.KeepBytes)
	}
	if opts.CacheBytes < 0 {
		return nil, fmt.Errorf("store: cache-bytes %d must not be negative", opts.CacheBytes)
	}
	if err := os.MkdirAll(dir, dataDirMode); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, StoreFile)
	s, err := openStoreFile(path, opts, logger)
	var bad *BadStoreError
	if errors.As(err, &bad) && opts.ResetBad {
		aside, merr := moveAside(path)
		if merr != nil {
			return nil, fmt.Errorf("%w (and moving it aside failed: %v)", err, merr)
		}
		logger.Warn("store: moved an unusable run store aside and started an empty one", "problem", bad.Problem, "moved_to", aside)
		s, err = openStoreFile(path, opts, logger)
	}
	return s, err
}

// checkStoreFile refuses, before SQLite sees it, a file that exists but is
// not a database: SQLite would take an empty file for a new database and
// start without a word.
func checkStoreFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return &BadStoreError{Path: path, Problem: "is empty (0 bytes): it is not a store this server wrote, or it was cut short (a full disk, an interrupted copy)"}
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("read %s: %w", path, err)
	case !bytes.Equal(head[:n], sqliteHeader):
		return &BadStoreError{Path: path, Problem: fmt.Sprintf("is not an SQLite database (it begins %q)", head[:n])}
	}
	return nil
}

// moveAside renames path and its WAL and shared-memory files to
// path.bad-TIME and returns the new name of path.
func moveAside(path string) (string, error) {
	aside := path + ".bad-" + time.Now().UTC().Format("20060102T150405Z")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(path+suffix, aside+suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return aside, nil
}

func openStoreFile(path string, opts StoreOptions, logger *slog.Logger) (*Store, error) {
	if err := checkStoreFile(path); err != nil {
		return nil, err
	}
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
	s := &Store{db: db, path: path, logger: logger, keepRuns: opts.KeepRuns, keepBytes: opts.KeepBytes, cache: newChunkCache(opts.CacheBytes),
		ops: make(chan func(*storeWriter), 64), wake: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
	ctx := context.Background()
	if err := s.prepare(ctx); err != nil {
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

// prepare checks the file's version, creates or migrates the tables, and
// tidies what a stop of the server left behind.
func (s *Store) prepare(ctx context.Context) error {
	var version, tables int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return &BadStoreError{Path: s.path, Problem: "cannot be read as a database: " + err.Error()}
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil {
		return &BadStoreError{Path: s.path, Problem: "cannot be read as a database: " + err.Error()}
	}
	switch {
	case version == 0 && tables == 0: // a new file
		if _, err := s.db.ExecContext(ctx, schema+fmt.Sprintf("PRAGMA user_version = %d;", storeVersion)); err != nil {
			return fmt.Errorf("create tables in %s: %w", s.path, err)
		}
	case version >= 1 && version < storeVersion:
		if err := s.migrate(ctx, version); err != nil {
			return err
		}
	case version != storeVersion:
		return &BadStoreError{Path: s.path, Problem: fmt.Sprintf("has store version %d; this server reads versions 1 to %d", version, storeVersion)}
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil { // tables added since (none yet), idempotent
		return fmt.Errorf("create tables in %s: %w", s.path, err)
	}
	if err := makeStoreFilesPrivate(s.path); err != nil {
		return err
	}
	if err := s.dropUnfinishedImports(ctx); err != nil {
		return err
	}
	if err := s.markInterrupted(ctx); err != nil {
		return err
	}
	return s.markComparisonsInterrupted(ctx)
}

// migrate brings a file of an older version up to storeVersion.
func (s *Store) migrate(ctx context.Context, from int) error {
	for v := from; v < storeVersion; v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := migrations[v-1](ctx, tx); err != nil {
			tx.Rollback()
			return fmt.Errorf("upgrade %s from store version %d: %w", s.path, v, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("upgrade %s from store version %d: %w", s.path, v, err)
		}
		s.logger.Info("store: upgraded the run store", "file", s.path, "from", v, "to", v+1)
	}
	return nil
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

// ErrStoreClosed is returned by operations after Close.
var ErrStoreClosed = errors.New("the run store is closed")

// StoreUnavailableError says the store cannot write: new runs, comparisons
// and imports are refused (503) until it can, since they would not be kept.
type StoreUnavailableError struct {
	Path  string
	Since time.Time
	Err   error
}

func (e *StoreUnavailableError) Error() string {
	return fmt.Sprintf("the run store cannot save new runs (%v); new runs are refused until it can write again, and recorded runs still replay", describeWriteError(e.Err))
}

func (e *StoreUnavailableError) Unwrap() error { return e.Err }

// RetryAfter is what a refused client is told to wait: the longest pause
// between two attempts to write.
func (e *StoreUnavailableError) RetryAfter() time.Duration { return MaxWriteBackoff }

// Writable returns nil while the store can write, else why not.
func (s *Store) Writable() error {
	if e := s.unwritable.Load(); e != nil {
		return e
	}
	return nil
}

// do runs op on the writer goroutine and waits for it.
func (s *Store) do(ctx context.Context, op func(*storeWriter) error) error {
	errc := make(chan error, 1)
	select {
	case s.ops <- func(w *storeWriter) { errc <- op(w) }:
	case <-s.stopped:
		return ErrStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-errc:
		return err
	case <-s.stopped:
		return ErrStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nudge asks the writer to flush now: a run has finished, and its viewers
// learn its final status only once it is saved.
func (s *Store) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// record starts recording run: its row is written right away and its
// events as they arrive. Once the run has finished and everything it
// recorded is in the database, the store reports the run's final status
// (see Run.reportFinal) and calls saved, on the writer goroutine.
func (s *Store) record(run *Run, saved func()) error {
	run.mu.Lock()
	run.onFinish = s.nudge
	run.mu.Unlock()
	op := func(w *storeWriter) {
		w.active[run.ID] = &recording{run: run, saved: saved}
	}
	select {
	case s.ops <- op:
		return nil
	case <-s.stopped:
		return ErrStoreClosed
	}
}

// Drain waits until every recorded run has finished and been written.
func (s *Store) Drain(ctx context.Context) error {
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
		return ErrStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetPinned pins or unpins a run: retention never evicts a pinned run.
func (s *Store) SetPinned(ctx context.Context, id string, pinned bool) error {
	return s.do(ctx, func(w *storeWriter) error {
		if rec, ok := w.active[id]; ok {
			rec.run.mu.Lock()
			rec.run.pinned = pinned
			rec.run.mu.Unlock()
			if rec.key == 0 {
				return nil // written with its row on this flush
			}
		}
		res, err := s.db.ExecContext(ctx, `UPDATE runs SET pinned = ? WHERE id = ? AND status != ?`, pinned, id, statusImporting)
		if err != nil {
			return fmt.Errorf("pin run %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &NotFoundError{What: fmt.Sprintf("run %q", id)}
		}
		return nil
	})
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
