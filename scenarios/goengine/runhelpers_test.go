package goengine

import (
	"strings"
	"testing"

	"interleave/scenarios/child"
	"interleave/scenarios/event"
)

// Helpers for the scenario tests: they read what a real child run emitted.

// mustRun runs a scenario that must succeed and leave no process behind.
func mustRun(t *testing.T, id string, params map[string]any) result {
	t.Helper()
	res := runScenario(t, id, params)
	if res.err != nil {
		t.Fatalf("%s %v failed: %v", id, params, res.err)
	}
	if res.summary == nil {
		t.Fatalf("%s %v: no summary", id, params)
	}
	checkNoStrays(t, res)
	return res
}

// checkNoStrays fails when a process of the run's process group outlived it:
// workers and subprocesses must be reaped by the runner.
func checkNoStrays(t *testing.T, res result) {
	t.Helper()
	if pids := child.GroupPIDs(res.pid); len(pids) > 0 {
		t.Errorf("processes left in the run's group %d: %v", res.pid, pids)
	}
}

func (r result) marks(lane string) []string {
	var out []string
	for _, ev := range r.events {
		if ev.K == event.KindMark && (lane == "*" || ev.Lane == lane) {
			out = append(out, ev.Label)
		}
	}
	return out
}

func (r result) hasMark(lane, substr string) bool {
	for _, m := range r.marks(lane) {
		if strings.Contains(m, substr) {
			return true
		}
	}
	return false
}

func (r result) outputText(lane, stream string) string {
	var b strings.Builder
	for _, ev := range r.events {
		if ev.K == event.KindOutput && ev.Lane == lane && ev.Stream == stream {
			b.WriteString(ev.Text)
		}
	}
	return b.String()
}

func (r result) lane(id string) (event.Event, bool) {
	for _, ev := range r.events {
		if ev.K == event.KindLane && ev.ID == id {
			return ev, true
		}
	}
	return event.Event{}, false
}

func (r result) count(match func(event.Event) bool) int {
	n := 0
	for _, ev := range r.events {
		if match(ev) {
			n++
		}
	}
	return n
}

func (r result) wallMS() float64 { return float64(r.summary.WallNS) / 1e6 }
