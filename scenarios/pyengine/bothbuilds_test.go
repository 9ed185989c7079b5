package pyengine

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"interleave/scenarios/event"
	"interleave/scenarios/invariant"
)

// buildRow is one row of docs/scenarios.md's table of both builds: a
// scenario with settings that show what the GIL changes, and what to read
// from a run's numbers.
type buildRow struct {
	name     string
	scenario string
	params   map[string]any
	// show writes the cell of one build from its run.
	show func(t *testing.T, r result) string
}

// buildRows cover every CPython scenario. internal/docfigures reads the
// logged rows by these names (its table "builds"): rename both together.
var buildRows = []buildRow{
	{"mental-model, 2 CPU tasks of 200 ms, concurrent (threads)", "mental-model", map[string]any{"mode": "concurrent", "work": "cpu", "tasks": 2.0, "size": 200.0},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.2fx, %.2f cores' worth of CPU", r.metric(t, "speedup"), cpuPerWall(r))
		}},
	{"mental-model, parallel (processes)", "mental-model", map[string]any{"mode": "parallel", "work": "cpu", "tasks": 2.0, "size": 200.0},
		func(t *testing.T, r result) string { return fmt.Sprintf("%.2fx", r.metric(t, "speedup")) }},
	{"subprocess, 2 computing programs at once", "subprocess", map[string]any{"mode": "concurrent", "command": "compute", "count": 2.0},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.0f ms, longest program %.0f ms", r.metric(t, "wall"), r.metric(t, "children_max"))
		}},
	{"threads, 4 CPU tasks of 100 ms, 2 workers", "threads", map[string]any{"work": "cpu", "tasks": 4.0, "size": 100.0, "workers": 2.0},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.2fx, %d gil-wait spans", r.metric(t, "speedup"), len(r.spans(event.GILWait)))
		}},
	{"threads, 32 waits of 100 ms, 8 workers", "threads", nil,
		func(t *testing.T, r result) string { return fmt.Sprintf("%.2fx", r.metric(t, "speedup")) }},
	{"locks, `counter += 1`, 4 × 100,000, no lock", "locks", map[string]any{"variant": "naive", "increments": 100000.0, "lock": false},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.0f of %.0f lost", r.metric(t, "lost"), r.metric(t, "expected"))
		}},
	{"locks, read-modify-write with a pause, no lock", "locks", map[string]any{"lock": false},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.0f of %.0f lost", r.metric(t, "lost"), r.metric(t, "expected"))
		}},
	{"locks, with `threading.Lock`", "locks", map[string]any{"lock": true},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.0f lost, %.1f ms waiting for the lock", r.metric(t, "lost"), r.metric(t, "lock_wait"))
		}},
	{"deadlock, opposite lock order", "deadlock", nil,
		func(t *testing.T, r result) string {
			if r.metric(t, "deadlock") == 1 {
				return fmt.Sprintf("deadlock detected, a cycle of %.0f threads, %.0f transfers", r.metric(t, "cycle"), r.metric(t, "transfers"))
			}
			return fmt.Sprintf("no deadlock, %.0f transfers", r.metric(t, "transfers"))
		}},
	{"asyncio, 1,000 waits of 100 ms", "asyncio", nil,
		func(t *testing.T, r result) string { return fmt.Sprintf("%.0f ms", r.metric(t, "wall")) }},
	{"multiprocessing, 2 processes", "multiprocessing", nil,
		func(t *testing.T, r result) string { return fmt.Sprintf("%.2fx", r.metric(t, "speedup")) }},
	{"multiprocessing, mode=threads", "multiprocessing", map[string]any{"mode": "threads"},
		func(t *testing.T, r result) string { return fmt.Sprintf("%.2fx", r.metric(t, "speedup")) }},
	{"pools, thread workers", "pools", map[string]any{"kind": "threads"},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.0f ms, %.2f cores' worth of CPU", r.metric(t, "wall"), cpuPerWall(r))
		}},
	{"gil, 2 CPU threads", "gil", nil,
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.2fx, %.0f hand-offs, %.1f %% waiting for the GIL", r.metric(t, "speedup"), r.metric(t, "handoffs"), r.metric(t, "gil_wait_pct"))
		}},
	{"compare, cpu workload, threads", "compare", map[string]any{"workload": "cpu", "model": "threads", "size": "small"},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.0f ms, %.2f cores' worth of CPU", r.metric(t, "wall"), r.metric(t, "cpu_utilization"))
		}},
	{"compare, shared-state workload, threads", "compare", map[string]any{"workload": "shared-state", "model": "threads", "size": "small"},
		func(t *testing.T, r result) string {
			return fmt.Sprintf("%.0f lost updates", r.metric(t, "lost_updates"))
		}},
}

// cpuPerWall is a run's CPU time over its wall time, in cores.
func cpuPerWall(r result) float64 {
	if r.summary == nil || r.summary.WallNS == 0 {
		return 0
	}
	return float64(r.summary.CPUNS) / float64(r.summary.WallNS)
}

// TestEveryScenarioOnBothBuilds runs every CPython scenario on the GIL
// build and on the free-threaded one, checks that each run ends well and
// keeps the invariant (one running thread per process under the GIL, the
// cores without it), and logs one line per row for docs/scenarios.md (go
// run ./internal/docfigures -only builds). Each configuration's fastest of
// two runs is the one reported: another process can only slow a run.
func TestEveryScenarioOnBothBuilds(t *testing.T) {
	ft, gil := freeThreadedEngine(t), needPython(t)
	timingClaim(t)
	for _, row := range buildRows {
		t.Run(row.name, func(t *testing.T) {
			var cells [2]string
			for i, e := range []*Engine{gil, ft} {
				best := runOn(t, e, row.scenario, row.params)
				perProcess := runtime.NumCPU()
				if i == 0 {
					perProcess = 1
				}
				rep := invariant.Check(best.events, invariant.Limits{Machine: runtime.NumCPU(), Process: processLimit(best.pid, perProcess)})
				if rep.Share() > 0.02 {
					t.Errorf("%s: more lanes drawn running than may run during %.2f%% of the run (%d at t=%v: %s)", e.Name(), 100*rep.Share(),
						rep.MaxRunning, time.Duration(rep.Worst), strings.Join(runningAt(best.events, rep.Worst), ", "))
					logOverlap(t, best.events, rep.Worst)
				}
				if i == 1 && len(best.spans(event.GILWait)) > 0 {
					t.Errorf("python-ft drew gil-wait spans")
				}
				cells[i] = row.show(t, best)
				t.Logf("%s on %s: %s", row.name, e.Name(), best.summary.Verdict)
			}
			t.Logf("both builds | %s | %s | %s |", row.name, cells[0], cells[1])
		})
	}
}
