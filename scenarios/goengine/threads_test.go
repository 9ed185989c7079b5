package goengine

import (
	"runtime"
	"strings"
	"testing"

	"interleave/scenarios/event"
)

func TestThreadsIOOverlaps(t *testing.T) {
	for _, io := range []string{"sleep", "http"} {
		t.Run(io, func(t *testing.T) {
			timed := timingClaim(t)
			var eight result
			ratio := 0.0
			untilHeld(t, 3, func() bool {
				params := map[string]any{"work": "io", "io": io, "tasks": 16.0, "size": 25.0, "workers": 1.0}
				one := mustRun(t, "threads", params)
				params["workers"] = 8.0
				eight = mustRun(t, "threads", params)
				ratio = one.wallMS() / eight.wallMS()
				t.Logf("io=%s, 16 tasks of 25 ms: 1 worker %.0f ms, 8 workers %.0f ms: %.2fx", io, one.wallMS(), eight.wallMS(), ratio)
				return !timed || ratio >= 5
			})
			if timed && ratio < 5 {
				t.Errorf("8 workers are %.2fx faster than 1, want >= 5x", ratio)
			}
			if got := eight.metric(t, "tasks_done"); got != 16 {
				t.Errorf("tasks_done = %v, want 16", got)
			}
			if got := eight.count(func(ev event.Event) bool {
				return ev.K == event.KindLane && strings.HasPrefix(ev.ID, "worker-")
			}); got != 8 {
				t.Errorf("%d worker lanes, want 8", got)
			}
		})
	}
}

func TestThreadsCPUUsesEveryCore(t *testing.T) {
	cores := runtime.NumCPU()
	if cores < 2 {
		t.Skip("needs 2 cores")
	}
	ratio := parallelClaim(t, 3, func() float64 {
		params := map[string]any{"work": "cpu", "tasks": float64(2 * cores), "size": 50.0, "workers": 1.0}
		one := mustRun(t, "threads", params)
		params["workers"] = float64(cores)
		all := mustRun(t, "threads", params)
		ratio := one.wallMS() / all.wallMS()
		t.Logf("cpu, %d tasks of 50 ms: 1 worker %.0f ms, %d workers %.0f ms: %.2fx", 2*cores, one.wallMS(), cores, all.wallMS(), ratio)
		return ratio
	})
	if ratio < 1.6 {
		t.Errorf("%d workers on %d cores are %.2fx faster than 1, want >= 1.6x", cores, cores, ratio)
	}
}
