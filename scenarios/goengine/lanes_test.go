package goengine

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"interleave/scenarios/event"
	"interleave/scenarios/invariant"
)

// maxOverShare is the share of a run during which more lanes may be drawn
// running than there are cores: the switch jitter of two clocks (the
// scheduler's and the scenario's) lining up, nothing more.
const maxOverShare = 0.02

// laneLimits are the rule's limits for a run of the go engine: the machine's
// cores, and per process the cores it may use: the runner's GOMAXPROCS
// (procs) for lanes without a pid of their own, the machine's for each worker
// process.
func laneLimits(res result, procs int) invariant.Limits {
	return invariant.Limits{
		Machine: runtime.NumCPU(),
		Process: func(l event.Event) (string, int) {
			if l.PID == 0 || l.PID == res.pid {
				return "runner", procs
			}
			return fmt.Sprint("pid ", l.PID), runtime.NumCPU()
		},
	}
}

// checkLanes fails t when the run drew more lanes running than it had cores
// for more than maxOverShare of the run, and returns the report.
func checkLanes(t *testing.T, what string, res result, procs int) invariant.Report {
	t.Helper()
	rep := invariant.Check(res.events, laneLimits(res, procs))
	t.Logf("%s: at most %d lanes running at once; over the machine's %d cores for %v, over a process's limit (runner %d) for %v: %.2f%% of %v",
		what, rep.MaxRunning, runtime.NumCPU(), time.Duration(rep.OverMachine), procs, time.Duration(rep.OverProcess),
		100*rep.Share(), time.Duration(rep.Span))
	if rep.Share() > maxOverShare {
		t.Errorf("%s: more lanes drawn running than cores during %.1f%% of the run (machine %v, process %v; %d at once at %v), want <= %.0f%%",
			what, 100*rep.Share(), time.Duration(rep.OverMachine), time.Duration(rep.OverProcess), rep.MaxRunning, time.Duration(rep.Worst), 100*maxOverShare)
	}
	return rep
}

// drawnRunning reports whether some lane of kind was drawn running at some
// instant: the lanes must still show work on a core where it was recorded.
func drawnRunning(res result, laneKind string) bool {
	kinds := map[string]string{}
	for _, ev := range res.events {
		if ev.K == event.KindLane {
			kinds[ev.ID] = ev.Kind
		}
	}
	for _, ev := range res.events {
		if ev.K == event.KindState && ev.S == event.Running && kinds[ev.Lane] == laneKind {
			return true
		}
	}
	return false
}

// Every go scenario, with its defaults and the modes that matter, draws at
// most as many lanes running as the machine (and each process) has cores.
func TestLanesNeverRunOnMoreCoresThanThereAre(t *testing.T) {
	cores := runtime.NumCPU()
	cases := []struct {
		id     string
		params map[string]any
		procs  int    // the runner's GOMAXPROCS
		shows  string // a lane kind that must be drawn running somewhere ("" for none)
	}{
		{"mental-model", map[string]any{"mode": "concurrent"}, 1, event.LaneGoroutine},
		{"mental-model", map[string]any{"mode": "parallel"}, cores, event.LaneGoroutine},
		{"mental-model", map[string]any{"mode": "sequential"}, 1, event.LaneGoroutine},
		{"mental-model", map[string]any{"mode": "concurrent", "sched": false}, 1, ""},
		{"threads", map[string]any{}, cores, ""},
		{"threads", map[string]any{"work": "cpu", "workers": 8.0, "tasks": 16.0, "size": 50.0}, cores, event.LaneGoroutine},
		{"locks", map[string]any{}, cores, ""},
		{"locks", map[string]any{"lock": true}, cores, ""},
		{"asyncio", map[string]any{}, cores, ""},
		{"asyncio", map[string]any{"tasks": 20.0, "blocking": true}, cores, ""},
		{"multiprocessing", map[string]any{}, cores, event.LaneProcess},
		{"multiprocessing", map[string]any{"workers": 4.0, "payload_kb": 0.0}, cores, event.LaneProcess},
		{"multiprocessing", map[string]any{"mode": "threads"}, cores, event.LaneGoroutine},
		{"pools", map[string]any{}, cores, event.LaneProcess},
		{"pools", map[string]any{"kind": "goroutines"}, cores, event.LaneGoroutine},
		{"pools", map[string]any{"kind": "goroutines", "reuse": false}, cores, event.LaneGoroutine},
		{"gil", map[string]any{}, cores, event.LaneThread},
		{"gil", map[string]any{"threads": 4.0, "io_thread": true}, cores, event.LaneThread},
		{"subprocess", map[string]any{"command": "compute", "mode": "concurrent"}, cores, ""},
	}
	for _, c := range cases {
		name := fmt.Sprint(c.id, c.params)
		t.Run(name, func(t *testing.T) {
			res := mustRun(t, c.id, c.params)
			checkLanes(t, name, res, c.procs)
			if c.shows != "" && !drawnRunning(res, c.shows) {
				t.Errorf("%s: no %s lane was ever drawn running: the measured or recorded states are missing", name, c.shows)
			}
		})
	}
}
