package runs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// statusImporting is the status of a run row while an upload is written
// into it: such a row is not listed or served, and a start of the server
// deletes it (its upload never got an answer).
const statusImporting = "importing"

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
	comparison    sql.NullString
	damaged       sql.NullString
	runner        sql.NullString
}

const runColumns = `n, id, scenario, engine, params, status, summary, created, finished, source_version, pinned, events, bytes, stored_bytes, peak_rss, comparison, damaged, runner`

func scanRun(row interface{ Scan(...any) error }) (storedRun, error) {
	var r storedRun
	err := row.Scan(&r.key, &r.id, &r.scenario, &r.engine, &r.params, &r.status, &r.summary, &r.created, &r.finished,
		&r.sourceVersion, &r.pinned, &r.events, &r.bytes, &r.storedBytes, &r.peakRSS, &r.comparison, &r.damaged, &r.runner)
	return r, err
}

// info is the row as the API shows it.
func (r storedRun) info() Info {
	in := Info{ID: r.id, Scenario: r.scenario, Engine: r.engine, Status: r.status, Created: time.Unix(0, r.created).UTC(),
		Summary: json.RawMessage("null"), Events: r.events, Bytes: r.bytes, StoredBytes: r.storedBytes, PeakRSS: r.peakRSS, Pinned: r.pinned,
		SourceVersion: r.sourceVersion, Comparison: r.comparison.String, Damaged: r.damaged.String, Runner: r.runner.String}
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
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ? AND status != ?`, id, statusImporting))
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
	run := &Run{ID: r.id, Scenario: r.scenario, Engine: r.engine, Params: in.Params, Created: in.Created, comparison: in.Comparison,
		SourceVersion: r.sourceVersion, done: done, pinned: r.pinned, events: r.events, bytes: r.bytes, storedBytes: r.storedBytes, peakRSS: r.peakRSS,
		damaged: in.Damaged, runner: in.Runner, final: status, reported: true}
	if in.Summary != nil && string(in.Summary) != "null" {
		run.summary = in.Summary
	}
	if in.Finished != nil {
		run.finishedAt = *in.Finished
	}
	key, runID := r.key, r.id
	run.log = newStoredLog(status, int(r.events), func(from, n int) ([][]byte, error) {
		return s.page(context.Background(), runID, key, from, n)
	})
	return run, nil
}

// page reads a recorded run's lines for its log: what lines returns, with
// the end of the chunks before the row's count told apart as a deleted run
// (retention took it while it was read) or a damaged one, and damage noted
// in the run's row so that its page says so from then on.
func (s *Store) page(ctx context.Context, id string, key int64, from, n int) ([][]byte, error) {
	lines, err := s.lines(ctx, id, key, from, n)
	if err == nil && len(lines) == 0 {
		var exists bool
		if qerr := s.db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM runs WHERE n = ? AND id = ?`, key, id).Scan(&exists); qerr != nil {
			return nil, damage(id, from, qerr)
		}
		if !exists {
			return nil, errRunGone
		}
		err = &DamagedError{Run: id, Line: from, Err: fmt.Errorf("%w: the events from %d on are missing", errChunk, from)}
	}
	var d *DamagedError
	if errors.As(err, &d) {
		s.noteDamaged(id, d)
	}
	return lines, err
}

// damage turns a database error met while reading run id's events into a
// *DamagedError when SQLite says the file is damaged; other errors (a
// cancelled read) pass unchanged.
func damage(id string, line int, err error) error {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return &DamagedError{Run: id, Line: line, Err: err}
		}
	}
	return err
}

// noteDamaged records, once, why run id's recording cannot be read, so
// that GET /api/runs/{id} and the run's page say so. It does not wait for
// the writer.
func (s *Store) noteDamaged(id string, d *DamagedError) {
	msg := d.Error()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.do(ctx, func(w *storeWriter) error {
			_, err := w.store.db.ExecContext(ctx, `UPDATE runs SET damaged = ? WHERE id = ? AND damaged IS NULL`, msg, id)
			return err
		})
	}()
}

// lines returns event lines of run key (whose id is id) from seq from on:
// at most n, and fewer when the next chunk would not fit whole, so that a
// reader going through a run page by page decodes each chunk once. A chunk
// that is missing or cannot be decoded is a *DamagedError.
func (s *Store) lines(ctx context.Context, id string, key int64, from, n int) ([][]byte, error) {
	type chunk struct{ seq, count, skip int }
	var plan []chunk
	rows, err := s.db.QueryContext(ctx, `SELECT seq, n FROM events
		WHERE run = ? AND seq >= (SELECT coalesce(max(seq), 0) FROM events WHERE run = ? AND seq <= ?)
		ORDER BY seq`, key, key, from)
	if err != nil {
		return nil, damage(id, from, fmt.Errorf("read events: %w", err))
	}
	next, planned := from, 0
	for rows.Next() {
		var c chunk
		if err := rows.Scan(&c.seq, &c.count); err != nil {
			rows.Close()
			return nil, damage(id, next, err)
		}
		if c.seq > next || c.count < 1 || c.seq+c.count <= next {
			rows.Close()
			return nil, &DamagedError{Run: id, Line: next, Err: fmt.Errorf("%w: event %d is missing", errChunk, next)}
		}
		c.skip = next - c.seq // lines of the chunk before from
		if planned > 0 && planned+c.count-c.skip > n {
			break
		}
		plan = append(plan, c)
		planned += c.count - c.skip
		next = c.seq + c.count
		if planned >= n {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, damage(id, next, err)
	}
	var out [][]byte
	for _, c := range plan {
		lines, err := s.chunk(ctx, id, key, c.seq, c.count)
		if err != nil {
			return nil, err
		}
		out = append(out, lines[c.skip:]...)
	}
	if len(out) > n {
		out = out[:n:n]
	}
	return out, nil
}

// chunk returns the decoded lines of one chunk, from the cache or the database.
func (s *Store) chunk(ctx context.Context, id string, key int64, seq, count int) ([][]byte, error) {
	k := chunkKey{run: key, seq: seq}
	if lines, ok := s.cache.get(k); ok && len(lines) == count {
		return lines, nil
	}
	var data []byte
	var crc sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT data, crc FROM events WHERE run = ? AND seq = ?`, key, seq).Scan(&data, &crc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errRunGone // deleted between the plan and the read
	}
	if err != nil {
		return nil, damage(id, seq, fmt.Errorf("read events: %w", err))
	}
	lines, err := decodeChunk(data, count, crc)
	if err != nil {
		return nil, &DamagedError{Run: id, Line: seq, Err: err}
	}
	s.cache.put(k, lines)
	return lines, nil
}

// RunFilter selects runs for the recent-runs list.
type RunFilter struct {
	Scenario string
	Engine   string
	// Before is a run id: only runs recorded before it are listed.
	Before string
	Limit  int
}

// List returns recorded runs, newest first, and the id to pass as Before
// for the next page ("" when there is none).
func (s *Store) List(ctx context.Context, f RunFilter) ([]Info, string, error) {
	where := []string{"status != ?"}
	args := []any{statusImporting}
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
			return nil, "", &scenarios.ParamError{Field: "before", Message: fmt.Sprintf("no run %q", f.Before)}
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

// interruptedLabel is the mark added to a run the server did not see finish.
const interruptedLabel = "interrupted: the server stopped before the run finished; every event recorded before that is kept"

// markInterrupted ends the runs a crash or kill of the server cut off:
// they become interrupted, with a mark after the last event they recorded.
func (s *Store) markInterrupted(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT n, id, events, runner FROM runs WHERE status IN (?, ?)`, StatusQueued, StatusRunning)
	if err != nil {
		return fmt.Errorf("find interrupted runs: %w", err)
	}
	type cut struct {
		key    int64
		id     string
		events int
		runner sql.NullString
	}
	var cuts []cut
	for rows.Next() {
		var c cut
		if err := rows.Scan(&c.key, &c.id, &c.events, &c.runner); err != nil {
			rows.Close()
			return err
		}
		cuts = append(cuts, c)
		if c.runner.String != LocalName {
			// A pool's runner may still execute it (or, not started yet,
			// take it from the stream): see Store.cutOffElsewhere.
			s.cutOff = append(s.cutOff, c.id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var codec chunkCodec
	for _, c := range cuts {
		// The mark goes after the latest event recorded. Lines are not
		// strictly in time order (a load sample is stamped at the start
		// of the interval it measures), so look at the last ones.
		var last int64
		if c.events > 0 {
			from := max(0, c.events-256)
			if lines, err := s.lines(ctx, c.id, c.key, from, c.events-from); err == nil {
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
		data, crc, err := codec.encode([][]byte{mark})
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO events (run, seq, n, data, crc) VALUES (?, ?, 1, ?, ?)`, c.key, c.events, data, int64(crc))
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

// cutOffElsewhere returns the runs this start of the store marked
// interrupted that were not executing on this machine: a pool's runner
// may still execute them (their web node died without cancelling them),
// so the manager tells the pool to stop them (runner.Abandoner).
func (s *Store) cutOffElsewhere() []string { return s.cutOff }

// dropUnfinishedImports deletes the rows of uploads a stop of the server
// cut off: their client never got an answer, so nobody has their link.
func (s *Store) dropUnfinishedImports(ctx context.Context) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM events WHERE run IN (SELECT n FROM runs WHERE status = ?)`, statusImporting)
	if err == nil {
		res, err = s.db.ExecContext(ctx, `DELETE FROM runs WHERE status = ?`, statusImporting)
	}
	if err != nil {
		return fmt.Errorf("delete unfinished imports: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.logger.Info("store: deleted imports a stop of the server cut off", "imports", n)
	}
	return nil
}
