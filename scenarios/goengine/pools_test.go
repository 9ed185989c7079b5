package goengine

import (
	"testing"
)

func TestPoolsEveryTaskRunsOnce(t *testing.T) {
	tests := []struct {
		kind  string
		reuse bool
		tasks float64
		chunk float64
	}{
		{"processes", true, 30, 4},
		{"processes", false, 6, 1},
		{"goroutines", true, 30, 4},
		{"goroutines", false, 30, 1},
	}
	for _, tt := range tests {
		name := tt.kind
		if !tt.reuse {
			name += " without reuse"
		}
		t.Run(name, func(t *testing.T) {
			res := mustRun(t, "pools", map[string]any{"kind": tt.kind, "reuse": tt.reuse, "tasks": tt.tasks, "chunksize": tt.chunk, "workers": 3.0, "size": 2.0, "skew": true})
			if once, runs := res.metric(t, "ran_once"), res.metric(t, "executions"); once != tt.tasks || runs != tt.tasks {
				t.Errorf("%v of %v tasks ran exactly once, %v executions", once, tt.tasks, runs)
			}
			t.Logf("%s", res.summary.Verdict)
		})
	}
}

func TestPoolsNoReuseCostsStartup(t *testing.T) {
	timed := timingClaim(t) // the start-up times compared are timings
	var pool, fresh result
	var p, f float64
	untilHeld(t, 3, func() bool {
		params := map[string]any{"kind": "processes", "tasks": 8.0, "chunksize": 1.0, "workers": 2.0, "size": 5.0, "reuse": true}
		pool = mustRun(t, "pools", params)
		params["reuse"] = false
		fresh = mustRun(t, "pools", params)
		p, f = pool.metric(t, "startup_total"), fresh.metric(t, "startup_total")
		t.Logf("8 tasks on 2 workers: start-up %.1f ms with reuse (%v starts), %.1f ms without (%v starts); wall %.0f vs %.0f ms",
			p, pool.metric(t, "starts"), f, fresh.metric(t, "starts"), pool.wallMS(), fresh.wallMS())
		return !timed || f > p
	})
	if timed && f <= p {
		t.Errorf("start-up without reuse %.1f ms <= with reuse %.1f ms", f, p)
	}
	if pool.metric(t, "starts") != 2 || fresh.metric(t, "starts") != 8 {
		t.Errorf("starts = %v with reuse, %v without; want 2 and 8", pool.metric(t, "starts"), fresh.metric(t, "starts"))
	}
}
