package runs

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// evictable is what retention may delete: a finished run of its own, or a
// finished comparison with every run of it that is not pinned. A comparison
// goes as a whole, so that its permalink shows what it measured or nothing,
// never a table with holes.
type evictable struct {
	created    int64
	comparison string // "" for a run of its own
	key        int64  // the run's key, for a run of its own
	id         string // the run's or the comparison's id
	runs       int
	bytes      int64
}

// enforceRetention evicts the oldest evictable runs and comparisons while
// the store holds more than keepRuns runs or keepBytes bytes of events on
// disk. Pinned runs, runs still live, and the runs of a comparison that
// exists are never evicted on their own.
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
	var candidates []evictable
	rows, err := s.db.QueryContext(ctx, `SELECT n, id, created, stored_bytes FROM runs
		WHERE pinned = 0 AND status NOT IN (?, ?, ?)
		AND (comparison IS NULL OR comparison NOT IN (SELECT id FROM comparisons))`, StatusQueued, StatusRunning, statusImporting)
	if err != nil {
		return fmt.Errorf("list evictable runs: %w", err)
	}
	for rows.Next() {
		e := evictable{runs: 1}
		if err := rows.Scan(&e.key, &e.id, &e.created, &e.bytes); err != nil {
			rows.Close()
			return err
		}
		candidates = append(candidates, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT c.id, c.created, count(r.n), coalesce(sum(r.stored_bytes), 0)
		FROM comparisons c JOIN runs r ON r.comparison = c.id AND r.pinned = 0
		WHERE c.status IN (?, ?, ?, ?, ?) GROUP BY c.id`,
		StatusDone, StatusPartial, StatusFailed, StatusCancelled, StatusInterrupted)
	if err != nil {
		return fmt.Errorf("list evictable comparisons: %w", err)
	}
	for rows.Next() {
		var e evictable
		if err := rows.Scan(&e.id, &e.created, &e.runs, &e.bytes); err != nil {
			rows.Close()
			return err
		}
		e.comparison = e.id
		candidates = append(candidates, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	slices.SortStableFunc(candidates, func(a, b evictable) int {
		return cmp.Or(cmp.Compare(a.created, b.created), cmp.Compare(a.key, b.key))
	})
	evicted := 0
	for _, e := range candidates {
		if runs <= s.keepRuns && bytes <= s.keepBytes {
			break
		}
		if err := w.evict(ctx, e); err != nil {
			return err
		}
		runs -= e.runs
		bytes -= e.bytes
		evicted++
	}
	if evicted > 0 {
		// Give the freed pages back to the file system.
		if _, err := s.db.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
	}
	return nil
}

// evict deletes one run, or one comparison and its unpinned runs (a pinned
// run of it stays, as a run of its own), in one transaction.
func (w *storeWriter) evict(ctx context.Context, e evictable) error {
	s := w.store
	keys := []int64{e.key}
	if e.comparison != "" {
		keys = keys[:0]
		rows, err := s.db.QueryContext(ctx, `SELECT n FROM runs WHERE comparison = ? AND pinned = 0`, e.comparison)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k int64
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE run = ?`, k); err != nil {
			return fmt.Errorf("evict events of %s: %w", e.id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE n = ?`, k); err != nil {
			return fmt.Errorf("evict %s: %w", e.id, err)
		}
	}
	if e.comparison != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET comparison = NULL WHERE comparison = ?`, e.comparison); err != nil {
			return fmt.Errorf("evict comparison %s: %w", e.id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM comparisons WHERE id = ?`, e.comparison); err != nil {
			return fmt.Errorf("evict comparison %s: %w", e.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, k := range keys {
		s.cache.dropRun(k)
	}
	if e.comparison != "" {
		s.logger.Info("store: evicted comparison", "comparison", e.id, "runs", len(keys), "bytes", e.bytes)
	} else {
		s.logger.Info("store: evicted run", "run", e.id, "bytes", e.bytes)
	}
	return nil
}
