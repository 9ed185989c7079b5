package pyengine

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/scenarios/invariant"
)

// pythonFTEnv names a free-threaded CPython (3.13t, 3.14t) for the tests
// that check the harness without a GIL; without it they look for
// python3.14t and python3.13t on PATH, as the server does, and skip when
// there is none (fail when requireFTEnv is 1, as in CI).
const pythonFTEnv = "INTERLEAVE_PYTHON_FT"

// requireFTEnv makes a missing free-threaded CPython a failure.
const requireFTEnv = "INTERLEAVE_REQUIRE_PYTHON_FT"

// freeThreadedEngine returns the python-ft engine as the server discovers
// it, or skips.
func freeThreadedEngine(t testing.TB) *Engine {
	t.Helper()
	var candidates []string
	if p := os.Getenv(pythonFTEnv); p != "" {
		candidates = append(candidates, p)
	}
	e, _, err := NewFreeThreaded(append(candidates, FreeThreadedNames...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Available(); err != nil {
		if os.Getenv(requireFTEnv) == "1" {
			t.Fatalf("%s=1 but the python-ft engine is unavailable: %v", requireFTEnv, err)
		}
		t.Skipf("python-ft unavailable, skipping (set %s=1 to fail instead): %v", requireFTEnv, err)
	}
	return e
}

// TestHarnessRunsWithoutAGIL runs the scenarios whose threads the harness
// measures on a free-threaded build: they still run and end with a summary;
// without a GIL no thread ever waits for one (no gil-wait span, no GIL
// lane), every gap is the OS preempting a thread (runnable), and no more
// lanes are drawn running than the machine has cores.
func TestHarnessRunsWithoutAGIL(t *testing.T) {
	e := freeThreadedEngine(t)
	cases := []struct {
		scenario string
		params   map[string]any
	}{
		{"gil", map[string]any{"io_thread": true}},
		{"threads", map[string]any{"work": "cpu", "tasks": 8.0, "size": 50.0, "workers": 4.0}},
		{"mental-model", nil},
		{"locks", map[string]any{"lock": true, "increments": 2000.0}},
		{"multiprocessing", map[string]any{"workers": 2.0, "payload_kb": 16.0, "start": "fork"}},
		// main, left running after building the payload, starts 4 threads
		// while the first ones compute on the cores: the OS takes main off
		// its core, and its lane must not claim it meanwhile.
		{"multiprocessing", map[string]any{"mode": "threads", "workers": 4.0, "payload_kb": 1024.0, "size": 300.0}},
		{"pools", map[string]any{"kind": "goroutines"}},
		{"asyncio", nil},
		{"subprocess", map[string]any{"command": "compute", "mode": "concurrent"}},
		{"compare", map[string]any{"workload": "cpu", "model": "threads", "size": "small"}},
		{"compare", map[string]any{"workload": "shared-state", "model": "threads", "size": "small"}},
	}
	for _, c := range cases {
		t.Run(c.scenario+"/"+paramsName(c.params), func(t *testing.T) {
			sc, _ := scenarios.Lookup(c.scenario)
			params, err := scenarios.Validate(sc.ParamsFor(scenarios.EnginePythonFT), c.params)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := e.Program(scenarios.Spec{RunID: "test", Scenario: c.scenario, Engine: scenarios.EnginePythonFT,
				Params: params, ClockBase: event.Monotonic(), Cores: runtime.NumCPU()})
			if err != nil {
				t.Fatal(err)
			}
			res := runProgram(t, c.scenario, prog, runOptions{})
			if res.err != nil || res.summary == nil {
				t.Fatalf("run failed: %v; stderr: %s", res.err, res.output["stderr"])
			}
			if n := len(res.spans(event.GILWait)); n > 0 {
				t.Errorf("%d gil-wait spans on a build without a GIL", n)
			}
			if cpu := res.lanes(event.LaneCPU); len(cpu) > 0 {
				t.Errorf("a GIL lane on a build without a GIL: %+v", cpu[0])
			}
			// Without a GIL a process may run as many threads as it has cores.
			rep := invariant.Check(res.events, invariant.Limits{Machine: runtime.NumCPU(), Process: processLimit(res.pid, runtime.NumCPU())})
			t.Logf("%d events, %d runnable spans; %.2f%% over the machine's cores", len(res.events), len(res.spans(event.Runnable)), 100*rep.Share())
			if rep.Share() > 0.02 {
				t.Errorf("more lanes drawn running than cores during %.2f%% of the run (%d at t=%v: %s)", 100*rep.Share(),
					rep.MaxRunning, time.Duration(rep.Worst), strings.Join(runningAt(res.events, rep.Worst), ", "))
				logOverlap(t, res.events, rep.Worst)
			}
			checkLaneOrder(t, res)
		})
	}
}

// TestLaneLeftRunningAfterBusyIsMeasured: without a GIL, a lane that stays
// running after work drawn by busy (a scenario's main thread after
// building its payload) is measured from the end of that work, so the
// time the OS kept its thread off a core is drawn when it leaves running.
// Here main is off its core for 200 ms (a sleep the harness is not told
// of: wall time without CPU time, as a preemption is) while 2 threads
// compute on the 2 cores; in a CI run, multiprocessing with mode=threads
// drew main running for 40 ms while both workers computed (3 lanes
// running on 2 cores).
func TestLaneLeftRunningAfterBusyIsMeasured(t *testing.T) {
	e := freeThreadedEngine(t)
	if runtime.NumCPU() != 2 {
		t.Skipf("the 3 threads must outnumber the cores: written for 2 cores, this machine has %d", runtime.NumCPU())
	}
	res := runTestScriptOn(t, e, scenarios.EnginePythonFT, "left_running.py", scenarios.Params{"main_ms": int64(200), "size": int64(300)})
	if res.err != nil || res.summary == nil {
		t.Fatalf("run failed: %v; stderr: %s", res.err, res.output["stderr"])
	}
	rep := invariant.Check(res.events, invariant.Limits{Machine: runtime.NumCPU(), Process: processLimit(res.pid, runtime.NumCPU())})
	t.Logf("%.2f%% of the run over the machine's cores", 100*rep.Share())
	if rep.Share() > 0.02 {
		t.Errorf("more lanes drawn running than cores during %.2f%% of the run (%d at t=%v: %s)", 100*rep.Share(),
			rep.MaxRunning, time.Duration(rep.Worst), strings.Join(runningAt(res.events, rep.Worst), ", "))
		logOverlap(t, res.events, rep.Worst)
	}
}
