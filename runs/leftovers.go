package runs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"interleave/scenarios/child"
)

// The processes of each running run are on record in the store (table
// run_processes) from its start to its end, so that a server started after
// a crash or a kill -9 of the last one can kill what those runs left: see
// child.Leftover for how a process is proved to be the run's before it is
// killed. The table is the containment's: the rest of the store never
// reads it.
const leftoverSchema = `CREATE TABLE IF NOT EXISTS run_processes (
	run      TEXT PRIMARY KEY, -- runs.id
	leftover TEXT NOT NULL     -- JSON: child.Leftover
)`

// rememberProcesses records the processes of a run that has started. A
// failure is logged: the run goes on, only its clean-up after a crash is lost.
func (s *Store) rememberProcesses(id string, l child.Leftover) {
	b, err := json.Marshal(l)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = s.db.ExecContext(ctx, `INSERT OR REPLACE INTO run_processes (run, leftover) VALUES (?, ?)`, id, string(b))
	}
	if err != nil {
		s.logger.Warn("record the run's processes for a restart", "run", id, "err", err)
	}
}

// forgetProcesses drops the record of a run whose processes are gone.
func (s *Store) forgetProcesses(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM run_processes WHERE run = ?`, id); err != nil {
		s.logger.Warn("forget the run's processes", "run", id, "err", err)
	}
}

// SweepLeftovers kills what the runs still on record left (they were
// running when the last server stopped without ending them) and forgets
// them. It runs at start, before any run.
func (s *Store) SweepLeftovers(ctx context.Context, logger *slog.Logger) error {
	if _, err := s.db.ExecContext(ctx, leftoverSchema); err != nil {
		return fmt.Errorf("create the run_processes table: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT run, leftover FROM run_processes`)
	if err != nil {
		return fmt.Errorf("read run_processes: %w", err)
	}
	type record struct{ run, leftover string }
	var records []record
	for rows.Next() {
		var r record
		if err := rows.Scan(&r.run, &r.leftover); err != nil {
			rows.Close()
			return err
		}
		records = append(records, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range records {
		var l child.Leftover
		if err := json.Unmarshal([]byte(r.leftover), &l); err != nil {
			logger.Warn("a run's process record is damaged; nothing was killed for it", "run", r.run, "err", err)
		} else if l.ServerAlive() {
			logger.Warn("a run on record belongs to another server still running on this data directory; left alone", "run", r.run, "server pid", l.Server)
			continue
		} else {
			swept, err := child.Sweep(l)
			logger.Info("swept what an unfinished run left", "run", r.run, "killed", swept.Killed, "not provably the run's", swept.Skipped, "err", err)
		}
		if _, err := s.db.ExecContext(ctx, `DELETE FROM run_processes WHERE run = ?`, r.run); err != nil {
			return fmt.Errorf("forget run %s's processes: %w", r.run, err)
		}
	}
	return nil
}

// NewContainment probes how this machine lets runs be contained and logs
// every protection, saying why and what to do for each that is off. The
// runs' processes cannot see dataDir (the store); without turns protections
// off by name (see child.ContainConfig).
func NewContainment(dataDir string, limits Limits, without []string, logger *slog.Logger) (*child.Containment, error) {
	if limits.MemoryBytes < 0 {
		return nil, fmt.Errorf("memory: %d is not allowed; want 0 (no cap) or a number of bytes", limits.MemoryBytes)
	}
	if limits.MaxTasks < 0 {
		return nil, fmt.Errorf("max-tasks: %d is not allowed; want 0 (no cap) or a number of processes and threads", limits.MaxTasks)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for the sandbox: %w", err)
	}
	c, err := child.NewContainment(child.ContainConfig{
		Executable:  exe,
		Hidden:      []string{dataDir},
		MemoryBytes: limits.MemoryBytes,
		Tasks:       limits.MaxTasks,
		OpenFiles:   limits.MaxOpenFiles,
		FileBytes:   limits.MaxFileBytes,
		Without:     without,
	})
	if err != nil {
		return nil, err
	}
	for _, p := range c.Report() {
		if p.On {
			logger.Info("containment: "+p.Name, "how", p.How)
		} else {
			logger.Warn("containment: "+p.Name+" is off", "why", p.How)
		}
	}
	return c, nil
}
