package pyengine

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/scenarios/invariant"
	"interleave/scenarios/verdict"
)

// runOn runs scenario id on engine e (python or python-ft) in a real child
// process, as the server does, and derives its verdict as the server does.
// extraArgs go to the interpreter before the script (e.g. -X gil=1).
func runOn(t testing.TB, e *Engine, id string, raw map[string]any, extraArgs ...string) result {
	t.Helper()
	sc, ok := scenarios.Lookup(id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	params, err := sc.Validate(e.Name(), raw)
	if err != nil {
		t.Fatalf("params: %v", err)
	}
	prog, err := e.Program(scenarios.Spec{RunID: "test", Scenario: id, Engine: e.Name(), Params: params, ClockBase: event.Monotonic(), Cores: runtime.NumCPU()})
	if err != nil {
		t.Fatal(err)
	}
	if len(extraArgs) > 0 {
		prog.Args = append(slices.Clone(extraArgs), prog.Args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60e9)
	defer cancel()
	res := runProgram(t, id, prog, runOptions{ctx: ctx})
	if res.err != nil || res.summary == nil {
		t.Fatalf("%s on %s failed: %v; stderr: %s", id, e.Name(), res.err, res.output["stderr"])
	}
	res.summary.Verdict = verdict.Derive(verdict.Input{Scenario: id, Engine: e.Name(), Params: params, Summary: *res.summary, Cores: runtime.NumCPU()}).Sentence
	return res
}

// TestEngineInfoSaysWhetherThereIsAGIL checks what /api/engines and the
// badge show: the version, and no GIL on the free-threaded build.
func TestEngineInfoSaysWhetherThereIsAGIL(t *testing.T) {
	ft := freeThreadedEngine(t)
	in := ft.Info()
	if in.ID != scenarios.EnginePythonFT || in.GIL || !in.Available || in.Version == "" {
		t.Errorf("python-ft info = %+v, want available, a version, no GIL", in)
	}
	if want := "CPython " + in.Version + " · free-threaded: no GIL"; in.Label != want {
		t.Errorf("label %q, want %q", in.Label, want)
	}
	py := needPython(t).Info()
	if py.ID != scenarios.EnginePython || !py.GIL {
		t.Errorf("python info = %+v, want the GIL", py)
	}
}

// TestFreeThreadedWithoutAnInterpreterSaysHowToGetOne: a machine without a
// free-threaded CPython lists the engine as unavailable, with how to get one;
// a GIL build given in its place is named as such.
func TestFreeThreadedWithoutAnInterpreterSaysHowToGetOne(t *testing.T) {
	e, probes, err := NewFreeThreaded([]string{"interleave-no-such-python3.14t"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if len(probes) != 1 || e.Available() == nil {
		t.Fatalf("probes %+v, available %v: want one probe and the engine unavailable", probes, e.Available())
	}
	for _, want := range []string{"no free-threaded CPython found", "uv python install 3.14t", "-python python-ft=PATH"} {
		if !strings.Contains(e.Available().Error(), want) {
			t.Errorf("why = %q, want it to say %q", e.Available(), want)
		}
	}
	if _, err := e.Program(scenarios.Spec{Scenario: "threads"}); err == nil {
		t.Errorf("Program succeeded without an interpreter")
	}
	gil := needPython(t)
	e2, _, err := NewFreeThreaded([]string{gil.python})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if err := e2.Available(); err == nil || !strings.Contains(err.Error(), "has the GIL") {
		t.Errorf("a GIL build as python-ft: %v, want it refused as having the GIL", err)
	}
}

// TestPythonEngineRefusesAFreeThreadedInterpreter: the python engine's
// pages and verdicts speak of the GIL, so a python3 that is a free-threaded
// build is not offered under that name: it says to run it as python-ft,
// which takes it.
func TestPythonEngineRefusesAFreeThreadedInterpreter(t *testing.T) {
	ft := freeThreadedEngine(t)
	e, err := New(ft.python)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Available(); err == nil || !strings.Contains(err.Error(), "built without the GIL: it runs as the engine python-ft") {
		t.Errorf("python engine on %s: %v, want it refused and pointed at python-ft", ft.python, err)
	}
	e2, _, err := NewFreeThreaded([]string{"interleave-no-such-python3.14t", ft.python})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if err := e2.Available(); err != nil {
		t.Errorf("python-ft with %s among its candidates: %v, want it available", ft.python, err)
	}
}

// TestCPUThreadsScaleOnlyWithoutAGIL is the claim in one test: the
// same script, CPU work in 2 threads computes on >= 1.6 cores at once on
// the free-threaded build (2 cores) and on <= 1.15 under the GIL.
func TestCPUThreadsScaleOnlyWithoutAGIL(t *testing.T) {
	ft, gil := freeThreadedEngine(t), needPython(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 cores")
	}
	timingClaim(t)
	// 16 tasks of 25 ms rather than 4 of 100: the workers take tasks from
	// a queue, so with small tasks a worker on a quicker core takes more
	// of them and both finish within a task of each other. This VM's two
	// cores differ in speed by up to 1.6x, which with 4 large tasks left
	// the quicker core idle for the last third of the run (1.55 cores'
	// worth of CPU per second in three rounds in a row in CI).
	two := map[string]any{"work": "cpu", "tasks": 16.0, "size": 25.0, "workers": 2.0}
	// Whether the threads computed at once is measured by the CPU time
	// the run used per second of wall time: cores' worth of computing.
	// The run's speedup metric compares the wall time with the work's
	// calibration, which the run measures in a few ms when it starts and
	// which this VM's varying speed puts tens of per cent off now and
	// then (seen in CI: 1.42x under the GIL with 0.98 cores' worth of CPU
	// per second). Each build keeps its best run, and runs again (up to 3
	// rounds, on a quiet machine) only while its claim does not hold yet.
	cores := func(r result) float64 { return float64(r.summary.CPUNS) / float64(max(r.summary.WallNS, 1)) }
	measure := func(e *Engine, holds func(float64) bool, better func(v, x float64) bool) (float64, result) {
		var best result
		var x float64
		for round := 1; round <= 3; round++ {
			r := runOn(t, e, "threads", two)
			if v := cores(r); best.summary == nil || better(v, x) {
				best, x = r, v
			}
			t.Logf("%s round %d: 2 threads %.0f ms, %.2f cores' worth of CPU per second (speedup metric %.2fx)",
				e.Name(), round, float64(r.summary.WallNS)/1e6, cores(r), r.metric(t, "speedup"))
			if holds(x) {
				break
			}
			timingclaim.WaitQuiet(t)
		}
		return x, best
	}
	ftX, ftRun := measure(ft, func(x float64) bool { return x >= 1.6 }, func(v, x float64) bool { return v > x })
	gilX, gilRun := measure(gil, func(x float64) bool { return x <= 1.15 }, func(v, x float64) bool { return v < x })
	t.Logf("2 CPU threads, cores' worth of CPU per second: python-ft %.2f (%s), python %.2f (%s)", ftX, ftRun.summary.Verdict, gilX, gilRun.summary.Verdict)
	if ftX < 1.6 {
		t.Errorf("python-ft: 2 threads used %.2f cores at once, want >= 1.6 on 2 cores without a GIL", ftX)
	}
	if gilX > 1.15 {
		t.Errorf("python: 2 threads used %.2f cores at once, want <= 1.15 under the GIL", gilX)
	}
	if ftRun.metric(t, "speedup") >= 1.6 && !strings.Contains(ftRun.summary.Verdict, "on 2 cores at once") {
		t.Errorf("python-ft verdict %q, want it to say the threads computed on 2 cores at once", ftRun.summary.Verdict)
	}
	if n := len(ftRun.spans(event.GILWait)); n > 0 {
		t.Errorf("python-ft drew %d gil-wait spans", n)
	}
}

// TestNaiveCounterLosesUpdatesWithoutAGIL: counter += 1 in 4 threads,
// 100,000 times each, loses updates on the free-threaded build (at least
// one lost in up to 3 attempts), and the verdict says why the GIL build
// almost never does; on the GIL build the verdict explains its 0.
func TestNaiveCounterLosesUpdatesWithoutAGIL(t *testing.T) {
	ft, gil := freeThreadedEngine(t), needPython(t)
	// Updates are lost when two threads run at the same instant: that needs
	// two free cores, so the test holds them as a timing claim does.
	timingClaim(t)
	params := map[string]any{"variant": "naive", "workers": 4.0, "increments": 100000.0, "lock": false}
	// Best repeats an attempt during which other processes had a core
	// (seen in a README run: 0 lost in 3 attempts while other packages'
	// tests computed, the threads' lanes one after another), once the
	// machine is quiet.
	var res result
	lost := timingclaim.Best(t, 3, 1, func() float64 {
		res = runOn(t, ft, "locks", params)
		lost := res.metric(t, "lost")
		t.Logf("python-ft: %.0f of %.0f lost: %s", lost, res.metric(t, "expected"), res.summary.Verdict)
		return lost
	})
	if lost < 1 {
		t.Fatalf("python-ft: no update lost in 3 attempts of 4 × 100,000 counter += 1")
	}
	if v := res.summary.Verdict; !strings.Contains(v, "with no GIL") || !strings.Contains(v, "The GIL build almost never loses one") {
		t.Errorf("python-ft verdict %q, want why it lost and why the GIL build almost never does", v)
	}
	if _, ok := res.summary.Metrics["gil_waits"]; ok {
		t.Errorf("python-ft reports gil_waits, but there is no GIL to wait for")
	}
	// The GIL build gets 10 times the increments, so that its threads hand
	// the GIL over while they count (100,000 take less than a switch
	// interval on 3.11) and the 0 is the one the implementation explains.
	g := runOn(t, gil, "locks", map[string]any{"variant": "naive", "workers": 4.0, "increments": 1000000.0, "lock": false})
	gLost := g.metric(t, "lost")
	t.Logf("python: %.0f lost: %s", gLost, g.summary.Verdict)
	if gLost == 0 && !strings.Contains(g.summary.Verdict, "not because counter += 1 is atomic") {
		t.Errorf("python verdict %q, want it to explain its 0", g.summary.Verdict)
	}
}

// TestGILScenarioWithoutAGIL: on python-ft the gil scenario says there is
// no GIL to hand over (a mark, no hand-off, no gil-wait, no GIL lane) and
// its CPU threads are drawn computing at the same time; the invariant holds
// with the process allowed as many running threads as cores.
func TestGILScenarioWithoutAGIL(t *testing.T) {
	ft := freeThreadedEngine(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 cores")
	}
	timingClaim(t)
	var res result
	var rep invariant.Report
	best := timingclaim.Best(t, 3, 2, func() float64 {
		res = runOn(t, ft, "gil", map[string]any{"threads": 2.0, "size": 200.0})
		rep = invariant.Check(res.events, invariant.Limits{Machine: runtime.NumCPU(), Process: processLimit(res.pid, runtime.NumCPU())})
		return float64(rep.MaxRunning)
	})
	t.Logf("verdict: %s; at most %.0f lanes running at once", res.summary.Verdict, best)
	if best < 2 {
		t.Errorf("the CPU threads were never drawn running at the same time")
	}
	if !hasMark(res, "no GIL to hand over") {
		t.Errorf("no mark saying there is no GIL to hand over; marks: %v", res.marks())
	}
	if h := res.metric(t, "handoffs"); h != 0 {
		t.Errorf("%v hand-offs counted without a GIL", h)
	}
	if n := len(res.spans(event.GILWait)); n > 0 {
		t.Errorf("%d gil-wait spans without a GIL", n)
	}
	if !strings.Contains(res.summary.Verdict, "no GIL to hand over") {
		t.Errorf("verdict %q, want it to say there is no GIL to hand over", res.summary.Verdict)
	}
	if rep.Share() > 0.02 {
		t.Errorf("more lanes drawn running than cores during %.2f%% of the run", 100*rep.Share())
	}
}

// TestGILComingBackIsMarked: a free-threaded CPython run with its GIL on
// (PYTHON_GIL=1; the engine runs python with -E, so the test passes the
// same switch as -X gil=1) says so in a mark, in the summary and in the
// verdict.
func TestGILComingBackIsMarked(t *testing.T) {
	ft := freeThreadedEngine(t)
	res := runOn(t, ft, "threads", map[string]any{"work": "cpu", "tasks": 2.0, "size": 50.0, "workers": 2.0}, "-X", "gil=1")
	if !hasMark(res, "The GIL is on") {
		t.Errorf("no mark saying the GIL is on; marks: %v", res.marks())
	}
	if v := res.metric(t, "gil_enabled"); v != 1 {
		t.Errorf("gil_enabled = %v, want 1", v)
	}
	if !strings.Contains(res.summary.Verdict, "The GIL was on during this run") {
		t.Errorf("verdict %q, want it to say the GIL was on", res.summary.Verdict)
	}
	// Without the switch, nothing is said.
	plain := runOn(t, ft, "threads", map[string]any{"work": "cpu", "tasks": 2.0, "size": 50.0, "workers": 2.0})
	if hasMark(plain, "GIL is on") || hasMark(plain, "GIL came back") {
		t.Errorf("a GIL mark on a run without the GIL: %v", plain.marks())
	}
	if _, ok := plain.summary.Metrics["gil_enabled"]; ok {
		t.Errorf("gil_enabled on a run without the GIL")
	}
}
