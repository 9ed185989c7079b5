package runs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ComparisonRecord is what the store keeps of a comparison: its settings and
// the run of each model (the runs themselves are recorded as usual, each
// naming the comparison, which keeps them from retention).
type ComparisonRecord struct {
	ID       string `json:"id"`
	Workload string `json:"workload"`
	Engine   string `json:"engine"`
	// Engines lists the engines of a comparison over several (the first is
	// Engine); runs and spans of the others are keyed engine/model.
	Engines []string                `json:"engines,omitempty"`
	Size    string                  `json:"size"`
	Workers int                     `json:"workers"`
	Created time.Time               `json:"created"`
	Status  string                  `json:"status"`
	Error   string                  `json:"error,omitempty"`
	Runs    map[string]string       `json:"runs"`
	Spans   map[string][2]time.Time `json:"spans"`
}

// SaveComparison writes (or rewrites) a comparison's record.
func (s *Store) SaveComparison(ctx context.Context, rec ComparisonRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.do(ctx, func(w *storeWriter) error {
		_, err := w.store.db.ExecContext(ctx, `INSERT INTO comparisons (id, created, data, status) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data, status = excluded.status`, rec.ID, rec.Created.UnixNano(), string(data), rec.Status)
		return err
	})
}

// LoadComparison reads a comparison's record; a missing one is a *NotFoundError.
func (s *Store) LoadComparison(ctx context.Context, id string) (ComparisonRecord, error) {
	var rec ComparisonRecord
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

// markComparisonsInterrupted ends the comparisons a stop of the server cut
// off, so that retention may evict them (their record still says how far
// they got; comparisons.get reports them interrupted).
func (s *Store) markComparisonsInterrupted(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `UPDATE comparisons SET status = ? WHERE status NOT IN (?, ?, ?, ?, ?)`,
		StatusInterrupted, StatusDone, StatusPartial, StatusFailed, StatusCancelled, StatusInterrupted)
	if err != nil {
		return fmt.Errorf("mark interrupted comparisons: %w", err)
	}
	return nil
}
