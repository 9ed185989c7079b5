package pyengine

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"interleave/scenarios/event"
	"interleave/scenarios/invariant"
)

// invariantCases are the python scenarios with their defaults and the modes
// that matter for who runs when: threads under the GIL, processes (more
// workers than cores too), event loops, programs the harness cannot see.
var invariantCases = []struct {
	scenario string
	params   map[string]any
}{
	{"mental-model", nil},
	{"mental-model", map[string]any{"mode": "sequential"}},
	{"mental-model", map[string]any{"mode": "parallel"}},
	{"mental-model", map[string]any{"mode": "parallel", "tasks": 2.0}},
	{"mental-model", map[string]any{"work": "io"}},
	{"threads", nil},
	{"threads", map[string]any{"work": "cpu", "tasks": 8.0, "size": 50.0}},
	{"threads", map[string]any{"io": "http", "tasks": 16.0}},
	{"locks", nil},
	{"locks", map[string]any{"lock": true}},
	{"locks", map[string]any{"variant": "naive", "increments": 200_000.0}},
	{"asyncio", nil},
	{"asyncio", map[string]any{"blocking": true}},
	{"asyncio", map[string]any{"blocking": true, "to_thread": true}},
	{"multiprocessing", nil},
	{"multiprocessing", map[string]any{"workers": 2.0, "payload_kb": 0.0, "start": "fork"}},
	{"multiprocessing", map[string]any{"mode": "threads"}},
	{"pools", nil},
	{"pools", map[string]any{"kind": "goroutines"}},
	{"pools", map[string]any{"reuse": false, "start": "fork"}},
	{"pools", map[string]any{"kind": "goroutines", "api": "executor", "reuse": false}},
	{"gil", nil},
	{"gil", map[string]any{"io_thread": true}},
	{"gil", map[string]any{"threads": 4.0, "switch_ms": 1.0}},
	{"subprocess", nil},
	{"subprocess", map[string]any{"command": "compute", "mode": "concurrent"}},
	{"subprocess", map[string]any{"command": "list", "mode": "pipeline"}},
	{"compare", map[string]any{"workload": "cpu", "model": "sequential", "size": "small"}},
	{"compare", map[string]any{"workload": "cpu", "model": "threads", "size": "small"}},
	{"compare", map[string]any{"workload": "cpu", "model": "asyncio", "size": "small"}},
	{"compare", map[string]any{"workload": "cpu", "model": "processes", "size": "small"}},
	{"compare", map[string]any{"workload": "cpu", "model": "pool", "size": "small"}},
	{"compare", map[string]any{"workload": "mixed", "model": "threads", "size": "small"}},
	{"compare", map[string]any{"workload": "shared-state", "model": "threads", "size": "small"}},
	{"compare", map[string]any{"workload": "shared-state", "model": "asyncio", "size": "small"}},
	{"compare", map[string]any{"workload": "external", "model": "subprocess", "size": "small"}},
	{"compare", map[string]any{"workload": "external", "model": "threads", "size": "small"}},
}

// TestRunningMeansOnACore runs every python scenario (defaults, and the
// modes that matter) and checks with package invariant that no more lanes
// are drawn running than the machine has cores, nor more than one thread
// of a process while it holds the GIL, beyond 2 % of the run.
func TestRunningMeansOnACore(t *testing.T) {
	needPython(t)
	perProcess := 0 // no limit but the machine's without a GIL
	if hasGIL(t) {
		perProcess = 1
	}
	for _, c := range invariantCases {
		name := c.scenario
		if len(c.params) > 0 {
			name += "/" + paramsName(c.params)
		}
		t.Run(name, func(t *testing.T) {
			res := runOK(t, c.scenario, c.params)
			limits := invariant.Limits{Machine: runtime.NumCPU(), Process: processLimit(res.pid, perProcess)}
			// The ledger draws some states after the fact: every lane's
			// states must still arrive in time order.
			checkLaneOrder(t, res)
			rep := invariant.Check(res.events, limits)
			t.Logf("%.2f%% of %v over the limits (machine %v, one process %v), at most %d lanes running at once",
				100*rep.Share(), time.Duration(rep.Span).Round(time.Millisecond), time.Duration(rep.OverMachine), time.Duration(rep.OverProcess), rep.MaxRunning)
			if rep.Share() > 0.02 {
				t.Errorf("more lanes drawn running than may run during %.2f%% of the run (machine %v, one process %v; %d at t=%v: %s)",
					100*rep.Share(), time.Duration(rep.OverMachine), time.Duration(rep.OverProcess), rep.MaxRunning,
					time.Duration(rep.Worst), strings.Join(runningAt(res.events, rep.Worst), ", "))
				logOverlap(t, res.events, rep.Worst)
			}
		})
	}
}

// processLimit groups lanes by the process they belong to (their pid; lanes
// without one are the scenario's own process, root) and allows perProcess
// of them to run at once.
func processLimit(root, perProcess int) func(event.Event) (string, int) {
	return func(l event.Event) (string, int) {
		pid := l.PID
		if pid == 0 {
			pid = root
		}
		return fmt.Sprint(pid), perProcess
	}
}

// runningAt lists the lanes drawn running at instant t (app states only, as
// the python engine records no scheduler).
func runningAt(events []event.Event, t int64) []string {
	last := map[string]string{}
	for _, ev := range events {
		if ev.K == event.KindState && ev.T <= t {
			last[ev.Lane] = ev.S
		}
	}
	var out []string
	for lane, s := range last {
		if s == event.Running {
			out = append(out, lane)
		}
	}
	sort.Strings(out)
	return out
}

func paramsName(p map[string]any) string {
	var parts []string
	for k, v := range p {
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

var gilOnce struct {
	sync.Once
	gil bool
	err error
}

// hasGIL reports whether the tests' interpreter runs with a GIL (false on a
// free-threaded build with the GIL disabled).
func hasGIL(t testing.TB) bool {
	t.Helper()
	e := needPython(t)
	gilOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, e.python, "-E", "-S", "-c",
			"import sys; print(getattr(sys, '_is_gil_enabled', lambda: True)())").Output()
		gilOnce.gil, gilOnce.err = strings.TrimSpace(string(out)) == "True", err
	})
	if gilOnce.err != nil {
		t.Fatalf("ask %s whether it has a GIL: %v", e.python, gilOnce.err)
	}
	return gilOnce.gil
}

// logOverlap logs, for a run that draws more lanes running than may run,
// each lane's states within 5 ms of the worst instant, how long each lane
// is drawn running in all and its longest stretch: what a failure needs to
// be understood without the events.
func logOverlap(t *testing.T, events []event.Event, worst int64) {
	t.Helper()
	const near = int64(5 * time.Millisecond)
	running := map[string]int64{}
	since := map[string]int64{}
	longest := map[string][2]int64{}
	var b strings.Builder
	for _, ev := range events {
		if ev.K != event.KindState {
			continue
		}
		if s, ok := since[ev.Lane]; ok {
			running[ev.Lane] += ev.T - s
			if d := ev.T - s; d > longest[ev.Lane][1] {
				longest[ev.Lane] = [2]int64{s, d}
			}
			delete(since, ev.Lane)
		}
		if ev.S == event.Running {
			since[ev.Lane] = ev.T
		}
		if ev.T >= worst-near && ev.T <= worst+near {
			fmt.Fprintf(&b, "\n  %9.3f ms %-8s %-9s %s", float64(ev.T)/1e6, ev.Lane, ev.S, ev.Why)
		}
	}
	lanes := make([]string, 0, len(running))
	for l := range running {
		lanes = append(lanes, l)
	}
	sort.Strings(lanes)
	var total strings.Builder
	for _, l := range lanes {
		fmt.Fprintf(&total, " %s %v (longest %v from %v);", l, time.Duration(running[l]).Round(10*time.Microsecond),
			time.Duration(longest[l][1]).Round(10*time.Microsecond), time.Duration(longest[l][0]).Round(10*time.Microsecond))
	}
	t.Logf("drawn running in all:%s\nstates within 5 ms of %v:%s", total.String(), time.Duration(worst), b.String())
}
