package pyengine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
)

func TestEngineWithoutPythonIsUnavailable(t *testing.T) {
	e, err := New("interleave-no-such-python")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.Available()
	if err == nil || err.Error() != "python3 not found on PATH: install it (apt-get install python3)" {
		t.Fatalf("Available() = %v, want the install hint", err)
	}
	if _, err := e.Program(scenarios.Spec{Scenario: "threads"}); err == nil {
		t.Errorf("Program succeeded without python3")
	}
	if _, code, ok := e.Source("threads"); !ok || code == "" {
		t.Errorf("the source is shown even without python3; got ok=%v", ok)
	}
}

func TestEngineWithOldPythonIsUnavailable(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "python3")
	script := "#!/bin/sh\necho 3.9.18\necho /nonexistent/python3.9\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := New(fake)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.Available()
	if err == nil || !strings.Contains(err.Error(), "3.9.18, older than 3.10") || !strings.Contains(err.Error(), "apt-get install python3") {
		t.Fatalf("Available() = %v, want: too old, and how to install", err)
	}
}

func TestEveryScenarioHasItsScript(t *testing.T) {
	for _, sc := range scenarios.All() {
		t.Run(sc.ID, func(t *testing.T) {
			name, code, ok := testEngine.Source(sc.ID)
			if sc.HasEngine(scenarios.EnginePython) != ok {
				t.Fatalf("%s: the catalog lists the python engine: %v, a script exists: %v", sc.ID, sc.HasEngine(scenarios.EnginePython), ok)
			}
			if !ok {
				t.Skipf("%s is not on the python engine", sc.ID)
			}
			// What the page shows is what runs.
			onDisk, err := os.ReadFile(filepath.Join(testEngine.dir, filepath.Base(name)))
			if err != nil {
				t.Fatal(err)
			}
			if string(onDisk) != code {
				t.Errorf("%s on disk differs from the source shown", name)
			}
		})
	}
	if _, _, ok := testEngine.Source("../harness"); ok {
		t.Errorf("Source accepted a path")
	}
}

func TestProgramTakesNothingFromTheUserOnTheCommandLine(t *testing.T) {
	e := needPython(t)
	params := scenarios.Params{"command": "list; rm -rf /", "count": int64(1)}
	prog, err := e.Program(scenarios.Spec{Scenario: "subprocess", Params: params})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range prog.Args {
		if strings.Contains(a, "rm -rf") {
			t.Errorf("a param reached the command line: %q", prog.Args)
		}
	}
	if !slices.Contains(prog.Args, "-E") || !slices.Contains(prog.Args, "-S") {
		t.Errorf("python runs without isolation flags: %q", prog.Args)
	}
	var names []string
	for _, kv := range prog.Env {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"INTERLEAVE_SPEC", "LC_ALL", "PATH"}; !slices.Equal(names, want) {
		t.Errorf("child environment has %v, want only %v", names, want)
	}
	if st, err := os.Stat(e.dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("script directory %s: mode %v, err %v; want 0700", e.dir, st.Mode().Perm(), err)
	}
}

func TestCloseRemovesTheScripts(t *testing.T) {
	e, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the script directory still exists: %v", err)
	}
}

// TestEveryScenarioRunsWithDefaults runs each scenario as a learner would,
// pressing Run: lanes, a summary and a verdict, and events in order per lane.
func TestEveryScenarioRunsWithDefaults(t *testing.T) {
	for _, sc := range scenarios.All() {
		if !sc.HasEngine(scenarios.EnginePython) {
			continue
		}
		t.Run(sc.ID, func(t *testing.T) {
			res := runOK(t, sc.ID, nil)
			if len(res.lanes("")) == 0 {
				t.Errorf("no lanes")
			}
			if res.summary.Verdict == "" || len(res.summary.Metrics) == 0 {
				t.Errorf("summary without verdict or metrics: %+v", res.summary)
			}
			checkLaneOrder(t, res)
			t.Logf("%d events, first after %v: %s", len(res.events), res.firstEvent.Round(time.Millisecond), res.summary.Verdict)
		})
	}
}

// checkLaneOrder checks what a timeline needs from the stream: a lane is
// declared before it is used, its states arrive in time order, and the end
// event comes last.
func checkLaneOrder(t *testing.T, res result) {
	t.Helper()
	declared := map[string]bool{}
	last := map[string]int64{}
	for i, ev := range res.events {
		switch ev.K {
		case event.KindLane:
			if declared[ev.ID] {
				t.Errorf("lane %s declared twice", ev.ID)
			}
			declared[ev.ID] = true
		case event.KindState:
			if !declared[ev.Lane] {
				t.Errorf("state %s of lane %s at t=%d before the lane was declared", ev.S, ev.Lane, ev.T)
			}
			if ev.T < last[ev.Lane] {
				t.Errorf("lane %s: state %s at t=%d arrived after a state at t=%d", ev.Lane, ev.S, ev.T, last[ev.Lane])
			}
			last[ev.Lane] = ev.T
		case event.KindEnd:
			if i != len(res.events)-1 {
				t.Errorf("end event is not the last one (%d of %d)", i, len(res.events))
			}
		}
	}
}

// TestFirstEventArrivesQuickly checks the live bar of the python engine:
// the first event of every scenario reaches the reader within 250 ms of
// the start (the interpreter's start-up, the harness's and the recorder's
// first flush), best of three runs each.
func TestFirstEventArrivesQuickly(t *testing.T) {
	timingClaim(t)
	for _, sc := range scenarios.All() {
		if !sc.HasEngine(scenarios.EnginePython) {
			continue
		}
		t.Run(sc.ID, func(t *testing.T) {
			best := timingclaim.Best(t, 3, -0.250, func() float64 {
				// Only the first event matters: the run is cancelled there,
				// as a viewer leaving would, and its group killed.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				res := runScenario(t, sc.ID, nil, runOptions{ctx: ctx, onEvent: func(event.Event) { cancel() }})
				if res.firstEvent == 0 {
					t.Fatalf("no event at all: %v; stderr: %s", res.err, res.output["stderr"])
				}
				waitGroupGone(t, res.pid)
				return -res.firstEvent.Seconds()
			})
			if -best > 0.250 {
				t.Errorf("first event after %.0f ms at best, want <= 250 ms", -best*1000)
			}
		})
	}
}

// timingClaim marks a test that measures time: it is skipped under -short
// (CI checks the timing claims in its run without the race detector), and
// otherwise holds the machine-wide claim (package timingclaim) so that no
// other package's timing claim shares the cores while it measures. Claims
// take the best of a few attempts: another process can only slow a run.
func timingClaim(t *testing.T) {
	t.Helper()
	timingclaim.Claim(t)
}

// fastestUntil runs each configuration of scenario id rounds times, keeping
// each one's fastest run, then up to extra more rounds while holds says the
// fastest runs so far do not show the claim: on a shared machine another
// process can only make a run slower, and a busy spell needs more runs.
func fastestUntil(t *testing.T, rounds, extra int, holds func(best []result) bool, id string, configs ...map[string]any) []result {
	t.Helper()
	best := make([]result, len(configs))
	for round := range rounds + extra {
		if round >= rounds {
			if holds(best) {
				break
			}
			t.Logf("round %d: the claim does not hold yet (a busy machine?), running again", round+1)
			timingclaim.WaitQuiet(t)
		}
		for i, params := range configs {
			res := runOK(t, id, params)
			if best[i].summary == nil || res.summary.WallNS < best[i].summary.WallNS {
				best[i] = res
			}
		}
	}
	return best
}

func TestThreadsCPUWorkDoesNotSpeedUpUnderTheGIL(t *testing.T) {
	timingClaim(t)
	// Wall time per second of CPU each run used: each run calibrates its
	// own work, and on this VM's unequal cores two calibrations differ by
	// up to 40 % (seen in CI: 2 threads "1.37x" faster than 1).
	perCPU := func(r result) float64 { return float64(r.summary.WallNS) / float64(max(r.summary.CPUNS, 1)) }
	ratioOf := func(best []result) float64 { return perCPU(best[0]) / perCPU(best[1]) }
	best := fastestUntil(t, 2, 2, func(best []result) bool { return ratioOf(best) <= 1.15 }, "threads",
		map[string]any{"work": "cpu", "tasks": 8.0, "size": 50.0, "workers": 1.0},
		map[string]any{"work": "cpu", "tasks": 8.0, "size": 50.0, "workers": 2.0})
	one, two, ratio := best[0], best[1], ratioOf(best)
	waits := two.spans(event.GILWait)
	t.Logf("1 thread %.0f ms for %.0f ms of CPU, 2 threads %.0f ms for %.0f ms of CPU: %.2fx the work per second; %d gil-wait spans, median %v",
		float64(one.summary.WallNS)/1e6, float64(one.summary.CPUNS)/1e6, float64(two.summary.WallNS)/1e6, float64(two.summary.CPUNS)/1e6,
		ratio, len(waits), median(waits).Round(10*time.Microsecond))
	if ratio > 1.15 {
		t.Errorf("2 threads were %.2fx faster than 1 on CPU work; the GIL should keep them <= 1.15x", ratio)
	}
	if len(waits) < 10 {
		t.Errorf("%d gil-wait spans with 2 CPU threads, want the hand-offs drawn (>= 10)", len(waits))
	}
}

func TestThreadsIOWaitsOverlap(t *testing.T) {
	timingClaim(t)
	ratioOf := func(best []result) float64 { return float64(best[0].summary.WallNS) / float64(best[1].summary.WallNS) }
	best := fastestUntil(t, 1, 2, func(best []result) bool { return ratioOf(best) >= 5 }, "threads",
		map[string]any{"work": "io", "io": "sleep", "tasks": 16.0, "size": 50.0, "workers": 1.0},
		map[string]any{"work": "io", "io": "sleep", "tasks": 16.0, "size": 50.0, "workers": 8.0})
	one, eight, ratio := best[0], best[1], ratioOf(best)
	t.Logf("1 worker %.0f ms, 8 workers %.0f ms: %.2fx", float64(one.summary.WallNS)/1e6, float64(eight.summary.WallNS)/1e6, ratio)
	if ratio < 5 {
		t.Errorf("8 workers were only %.2fx faster than 1 on I/O; want >= 5x", ratio)
	}
	if got := len(eight.lanes(event.LaneThread)); got < 8 {
		t.Errorf("%d thread lanes, want one per worker", got)
	}
}

// TestMultiprocessingTwoProcessesComputeInParallel: the same CPU work in 2
// processes takes at most 1/1.6 of the wall time per second of CPU it takes
// in 1. Each run calibrates its work when it starts, and on a busy machine
// (other packages' tests, the compiler) a calibration can come out 40 %
// low, so two runs' "1,200 ms" are not the same work: the wall time is
// measured per second of CPU the run used (all its processes), which the
// calibration does not change. Starting a process costs 10-35 ms on this
// VM: 1,200 ms of work keeps that price small against the bar's margin.
func TestMultiprocessingTwoProcessesComputeInParallel(t *testing.T) {
	timingClaim(t)
	perCPU := func(r result) float64 { return float64(r.summary.WallNS) / float64(max(r.summary.CPUNS, 1)) }
	configs := []map[string]any{
		{"workers": 1.0, "size": 1200.0, "payload_kb": 0.0, "start": "fork"},
		{"workers": 2.0, "size": 600.0, "payload_kb": 0.0, "start": "fork"},
	}
	// The claim is that the two processes compute at the same time: the
	// stretches their lanes are drawn running overlap for at least 80 % of
	// the shorter one's. Their CPU per second of wall time (against one
	// process's) must show more than one core's worth too, but with a bar
	// that allows for unequal cores: when one core computes at half the
	// other's speed (this VM's host did that for hours), the quicker worker
	// finishes its half first and idles, and two processes that computed
	// in parallel throughout measured 1.55x.
	const minOverlap, minRatio = 0.8, 1.3
	best := make([]result, len(configs))
	ratio, overlap := 0.0, 0.0
	for round := range 4 {
		for i, params := range configs {
			if r := runOK(t, "multiprocessing", params); best[i].summary == nil || perCPU(r) < perCPU(best[i]) {
				best[i] = r
			}
		}
		ratio = perCPU(best[0]) / perCPU(best[1])
		overlap = runningOverlap(best[1])
		if round >= 1 && ratio >= minRatio && overlap >= minOverlap {
			break
		}
		t.Logf("round %d: %.2fx so far, running at once %.0f%% of the time (a busy machine?)", round+1, ratio, 100*overlap)
		timingclaim.WaitQuiet(t)
	}
	one, two := best[0], best[1]
	t.Logf("1 process: %.0f ms for %.0f ms of CPU; 2 processes: %.0f ms for %.0f ms of CPU: %.2fx the work per second; the workers ran at once %.0f%% of the shorter one's running time",
		float64(one.summary.WallNS)/1e6, float64(one.summary.CPUNS)/1e6, float64(two.summary.WallNS)/1e6, float64(two.summary.CPUNS)/1e6, ratio, 100*overlap)
	if ratio < minRatio {
		t.Errorf("2 processes did only %.2fx the CPU work per second of 1; want >= %.1fx", ratio, minRatio)
	}
	if overlap < minOverlap {
		t.Errorf("the two workers were drawn running at once for %.0f%% of the shorter one's running time; want >= %.0f%%", 100*overlap, 100*minOverlap)
	}
	if got := len(two.lanes(event.LaneProcess)); got != 2 {
		t.Errorf("%d process lanes, want 2", got)
	}
	for _, l := range two.lanes(event.LaneProcess) {
		if l.PID == 0 || l.PID == two.pid {
			t.Errorf("worker lane %s has pid %d (runner %d)", l.ID, l.PID, two.pid)
		}
	}
}

func TestMultiprocessingMeasuresPickling(t *testing.T) {
	small := runOK(t, "multiprocessing", map[string]any{"workers": 1.0, "size": 10.0, "payload_kb": 64.0, "start": "fork"})
	big := runOK(t, "multiprocessing", map[string]any{"workers": 1.0, "size": 10.0, "payload_kb": 4096.0, "start": "fork"})
	s, b := small.metric(t, "serialization"), big.metric(t, "serialization")
	t.Logf("pickling both ways: 64 KiB %.2f ms, 4 MiB %.2f ms", s, b)
	if b <= s {
		t.Errorf("serialization time did not grow with the payload: %.2f ms for 64 KiB, %.2f ms for 4 MiB", s, b)
	}
	if big.metric(t, "results_ok") != 1 {
		t.Errorf("the result did not come back intact")
	}
}

func TestLocksLoseUpdatesOnlyWithoutALock(t *testing.T) {
	tests := []struct {
		name     string
		lock     bool
		wantLost bool
	}{
		{"read-modify-write with a pause loses updates", false, true},
		{"threading.Lock loses none", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runOK(t, "locks", map[string]any{"workers": 4.0, "increments": 2000.0, "lock": tt.lock, "yield": true, "variant": "rmw"})
			lost := res.metric(t, "lost")
			if tt.wantLost && lost <= 0 {
				t.Errorf("lost = %v, want lost updates without a lock", lost)
			}
			if !tt.wantLost && lost != 0 {
				t.Errorf("lost = %v, want 0 with a lock", lost)
			}
			if tt.lock && len(res.spans(event.LockWait)) == 0 {
				t.Errorf("no lock-wait span with 4 workers contending")
			}
			t.Logf("%s", res.summary.Verdict)
		})
	}
	// counter += 1 is not atomic either, but CPython 3.10+ rarely switches
	// inside it: reported, not asserted.
	res := runOK(t, "locks", map[string]any{"workers": 4.0, "increments": 1_000_000.0, "lock": false, "variant": "naive"})
	t.Logf("naive counter += 1, 4 × 1,000,000: lost %v, %d gil-wait spans: %s", res.metric(t, "lost"), len(res.spans(event.GILWait)), res.summary.Verdict)
}

func TestAsyncioThousandsOfWaitsAreCheapAndOneBlockingCallStallsAll(t *testing.T) {
	timingClaim(t)
	var cheap, cured result
	timingclaim.Best(t, 3, -500, func() float64 {
		if res := runOK(t, "asyncio", map[string]any{"tasks": 1000.0, "wait_ms": 100.0}); cheap.summary == nil || res.metric(t, "latency_max") < cheap.metric(t, "latency_max") {
			cheap = res
		}
		return -cheap.metric(t, "latency_max")
	})
	if got := cheap.metric(t, "latency_max"); got > 500 {
		t.Errorf("1,000 tasks waiting 100 ms took up to %.0f ms; want every one done within 500 ms", got)
	}
	if got := len(cheap.lanes(event.LaneTask)); got != 1000 {
		t.Errorf("%d task lanes, want 1000", got)
	}
	stalled := runOK(t, "asyncio", map[string]any{"tasks": 1000.0, "wait_ms": 100.0, "blocking": true, "blocking_ms": 500.0})
	if got := stalled.metric(t, "delay_min"); got < 450 {
		t.Errorf("a 500 ms time.sleep delayed the other tasks by only %.0f ms (the least); want >= 450 ms", got)
	}
	timingclaim.Best(t, 3, -100, func() float64 {
		res := runOK(t, "asyncio", map[string]any{"tasks": 1000.0, "wait_ms": 100.0, "blocking": true, "blocking_ms": 500.0, "to_thread": true})
		if cured.summary == nil || res.metric(t, "delay_min") < cured.metric(t, "delay_min") {
			cured = res
		}
		return -cured.metric(t, "delay_min")
	})
	if got := cured.metric(t, "delay_min"); got > 100 {
		t.Errorf("with asyncio.to_thread the blocking call still delayed every task by %.0f ms", got)
	}
	t.Logf("1,000 × 100 ms: done within %.0f ms; blocking 500 ms: every task >= %.0f ms late; to_thread: %.0f ms",
		cheap.metric(t, "latency_max"), stalled.metric(t, "delay_min"), cured.metric(t, "delay_min"))
}

func TestGILHandOffsFollowTheSwitchInterval(t *testing.T) {
	timingClaim(t)
	for _, switchMS := range []float64{5, 20} {
		t.Run(fmt.Sprintf("switch_%gms", switchMS), func(t *testing.T) {
			// The score is how far the median hand-off is from the switch
			// interval (0 at best): a busy machine only makes it longer.
			var res result
			best := math.Inf(-1)
			timingclaim.Best(t, 3, -0.5, func() float64 {
				r := runOK(t, "gil", map[string]any{"threads": 2.0, "switch_ms": switchMS, "size": 200.0})
				score := -math.Abs(r.metric(t, "handoff_median")/switchMS - 1)
				if score > best {
					best, res = score, r // the run judged is the best attempt, not the last
				}
				return score
			})
			handoff := res.metric(t, "handoff_median")
			waits := res.spans(event.GILWait)
			t.Logf("switch %g ms: hand-off median %.2f ms, %v hand-offs, gil-wait spans median %v (n=%d), speedup %.2fx",
				switchMS, handoff, res.metric(t, "handoffs"), median(waits).Round(10*time.Microsecond), len(waits), res.metric(t, "speedup"))
			if handoff < 0.5*switchMS || handoff > 1.5*switchMS {
				t.Errorf("median hand-off %.2f ms, want within ±50%% of switch_ms %g", handoff, switchMS)
			}
		})
	}
	t.Run("convoy", func(t *testing.T) {
		var res result
		best := math.Inf(-1)
		timingclaim.Best(t, 3, 1, func() float64 {
			r := runOK(t, "gil", map[string]any{"threads": 2.0, "switch_ms": 5.0, "size": 200.0, "io_thread": true})
			alone, next := r.metric(t, "io_latency_alone"), r.metric(t, "io_latency_median")
			score := min(next, next/(3*max(alone, 1e-9)))
			if score > best {
				best, res = score, r
			}
			return score
		})
		alone, next := res.metric(t, "io_latency_alone"), res.metric(t, "io_latency_median")
		t.Logf("I/O thread wake-up: alone %.2f ms, next to 2 CPU threads %.2f ms", alone, next)
		if next < 1 || next < 3*alone {
			t.Errorf("the I/O thread's wait for the GIL did not grow next to CPU threads: alone %.2f ms, with them %.2f ms", alone, next)
		}
	})
}

func TestSubprocessExitCodesOutputAndTimeouts(t *testing.T) {
	t.Run("exit code and stderr, check=false", func(t *testing.T) {
		res := runOK(t, "subprocess", map[string]any{"command": "fail", "count": 1.0, "check": false})
		if got := res.metric(t, "exit_1"); got != 3 {
			t.Errorf("exit code %v, want 3", got)
		}
		if !strings.Contains(outputOf(res, "proc-1", "stderr"), "no such file or directory") {
			t.Errorf("the child's stderr was not captured: %q", outputOf(res, "proc-1", "stderr"))
		}
	})
	t.Run("check=true fails the run", func(t *testing.T) {
		res := runScenario(t, "subprocess", map[string]any{"command": "fail", "count": 2.0, "check": true})
		if exitCode(res.err) != 1 {
			t.Fatalf("run ended with %v, want exit status 1 (failed)", res.err)
		}
		if !hasMark(res, "CalledProcessError") || !strings.Contains(res.output["stderr"], "subprocess.CalledProcessError") {
			t.Errorf("no CalledProcessError: marks %q, stderr %q", res.marks(), res.output["stderr"])
		}
		if n := res.metric(t, "children"); n != 1 {
			t.Errorf("%v children ran; the exception must stop the sequence after the first", n)
		}
	})
	t.Run("timeout kills the child", func(t *testing.T) {
		for _, mode := range []string{"sequential", "concurrent"} {
			res := runScenario(t, "subprocess", map[string]any{"command": "sleep", "count": 1.0, "timeout_ms": 50.0, "mode": mode})
			if exitCode(res.err) != 1 || !hasMark(res, "TimeoutExpired") {
				t.Errorf("%s: run ended with %v, marks %q; want TimeoutExpired and status failed", mode, res.err, res.marks())
			}
			pids := res.lanes(event.LaneProcess)
			var child int
			for _, l := range pids {
				if l.ID == "proc-1" {
					child = l.PID
				}
			}
			if child == 0 {
				t.Fatalf("%s: the child's lane has no pid", mode)
			}
			if !hasMark(res, "is gone") || !errors.Is(syscall.Kill(child, 0), syscall.ESRCH) {
				t.Errorf("%s: pid %d should be gone after the timeout; marks %q", mode, child, res.marks())
			}
		}
	})
	t.Run("timeout kills the child within 100 ms of it", func(t *testing.T) {
		timingClaim(t)
		for _, mode := range []string{"sequential", "concurrent"} {
			ran := -timingclaim.Best(t, 3, -150, func() float64 {
				res := runScenario(t, "subprocess", map[string]any{"command": "sleep", "count": 1.0, "timeout_ms": 50.0, "mode": mode})
				return -res.metric(t, "children_max")
			})
			if ran > 150 {
				t.Errorf("%s: the child ran %v ms despite a 50 ms timeout", mode, ran)
			}
		}
	})
	t.Run("concurrent takes about the longest, sequential the sum", func(t *testing.T) {
		timingClaim(t)
		best := fastestUntil(t, 1, 2, func(best []result) bool {
			return float64(best[1].summary.WallNS)/float64(best[0].summary.WallNS) <= 0.6
		}, "subprocess", map[string]any{"command": "sleep", "count": 4.0, "mode": "sequential"},
			map[string]any{"command": "sleep", "count": 4.0, "mode": "concurrent"})
		seq, con := best[0], best[1]
		if r := float64(con.summary.WallNS) / float64(seq.summary.WallNS); r > 0.6 {
			t.Errorf("concurrent took %.2f of sequential; want < 0.6", r)
		}
	})
	t.Run("pipeline passes data", func(t *testing.T) {
		res := runOK(t, "subprocess", map[string]any{"command": "list", "mode": "pipeline"})
		lines := res.metric(t, "pipeline_lines")
		if lines < 3 || !strings.Contains(outputOf(res, "proc-3", "stdout"), "1\t") {
			t.Errorf("cat -n printed %v lines: %q", lines, outputOf(res, "proc-3", "stdout"))
		}
	})
}

func outputOf(res result, lane, stream string) string {
	var b strings.Builder
	for _, ev := range res.events {
		if ev.K == event.KindOutput && ev.Lane == lane && ev.Stream == stream {
			b.WriteString(ev.Text)
		}
	}
	return b.String()
}

func hasMark(res result, substr string) bool {
	return slices.ContainsFunc(res.marks(), func(m string) bool { return strings.Contains(m, substr) })
}

func exitCode(err error) int {
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// TestAnExceptionFailsTheRunAtOnce: a scenario that raises while a
// non-daemon thread, a multiprocessing child and a subprocess would keep it
// alive for a minute ends at once, failed, with the traceback and nothing
// left running.
func TestAnExceptionFailsTheRunAtOnce(t *testing.T) {
	tests := []struct {
		script, mark string
	}{
		{"fails_in_main.py", "ValueError: boom"},
		{"fails_in_thread.py", "KeyError"},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			res := runTestScript(t, tt.script, scenarios.Params{"start": "fork"})
			if exitCode(res.err) != 1 {
				t.Errorf("run ended with %v, want exit status 1 (failed)", res.err)
			}
			if res.wall > 10*time.Second {
				t.Errorf("the failed run took %v to end", res.wall)
			}
			if !hasMark(res, tt.mark) {
				t.Errorf("no mark with the exception %q: %q", tt.mark, res.marks())
			}
			if !strings.Contains(res.output["stderr"], "Traceback (most recent call last)") {
				t.Errorf("no traceback on stderr: %q", res.output["stderr"])
			}
			if res.summary == nil || !strings.Contains(res.summary.Verdict, "failed") {
				t.Errorf("end summary missing or silent about the failure: %+v", res.summary)
			}
			waitGroupGone(t, res.pid)
			for _, l := range res.lanes(event.LaneProcess) {
				waitGone(t, l.PID)
			}
		})
	}
}

// waitGroupGone fails unless the run's process group is empty soon after
// the run: SIGKILL takes a moment to take a process down.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := child.GroupPIDs(pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left in the run's group: %v", left)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone fails unless pid disappears soon: killed processes are reaped by
// their parent or, once orphaned, by init.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Errorf("pid %d is still running", pid)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether pid no longer runs: no such process, or a
// zombie waiting to be reaped.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// TestKilledMultiprocessingRunLeavesNoProcess cancels a run mid-way as the
// server does (the ctx of child.Run: the whole group is killed) and checks
// that the worker processes are gone.
func TestKilledMultiprocessingRunLeavesNoProcess(t *testing.T) {
	for _, start := range []string{"spawn", "fork", "forkserver"} {
		t.Run(start, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var workers []int
			res := runScenario(t, "multiprocessing", map[string]any{"workers": 4.0, "size": 2000.0, "payload_kb": 16.0, "start": start}, runOptions{
				ctx: ctx,
				onEvent: func(ev event.Event) {
					// Cancel once every worker runs its computation.
					if ev.K == event.KindLane && ev.Kind == event.LaneProcess {
						workers = append(workers, ev.PID)
					}
					if ev.K == event.KindState && strings.HasPrefix(ev.Why, "computing") && len(workers) == 4 {
						cancel()
					}
				},
			})
			if !errors.Is(res.err, context.Canceled) {
				t.Fatalf("run ended with %v, want it cancelled mid-way", res.err)
			}
			if len(workers) != 4 {
				t.Fatalf("saw %d worker pids, want 4", len(workers))
			}
			waitGroupGone(t, res.pid)
			for _, pid := range workers {
				waitGone(t, pid)
			}
		})
	}
}

// TestHarnessOverhead runs the same CPU-bound work plain and instrumented
// (harness, recorder process, a lane, and the GIL-wait check every 100 µs
// slice) and compares how long the work took, best of several runs.
func TestHarnessOverhead(t *testing.T) {
	timingClaim(t)
	needPython(t)
	// Many short runs (about 200 ms each): the same run takes anything
	// from 380 to 500 ms on this VM, whose vCPUs change speed from one
	// second to the next (another guest on the host's cores); the best of
	// many short runs catches each script at the cores' quickest.
	const rounds, bound = 10, 1.03
	best := map[string]time.Duration{}
	ratioOf := func() float64 { return float64(best["cpu_instrumented.py"]) / float64(best["cpu_plain.py"]) }
	for round := range 3 * rounds {
		// Best of 10; up to 20 more while the machine is busy (another
		// process can only make a run slower).
		if round >= rounds && round%rounds == 0 {
			if ratioOf() <= bound {
				break
			}
			timingclaim.WaitQuiet(t)
		}
		for _, script := range []string{"cpu_plain.py", "cpu_instrumented.py"} {
			res := runTestScript(t, script, scenarios.Params{"units": int64(5_000_000)})
			if res.err != nil {
				t.Fatalf("%s: %v", script, res.err)
			}
			d, err := time.ParseDuration(strings.TrimSpace(res.output["stdout"]) + "ns")
			if err != nil {
				t.Fatalf("%s printed %q", script, res.output["stdout"])
			}
			if b, ok := best[script]; !ok || d < b {
				best[script] = d
			}
		}
	}
	ratio := ratioOf()
	t.Logf("CPU-bound work, best of %d or more: plain %v, instrumented %v: ratio %.4f (%+.2f%%)",
		rounds, best["cpu_plain.py"].Round(time.Millisecond), best["cpu_instrumented.py"].Round(time.Millisecond), ratio, 100*(ratio-1))
	if ratio > bound {
		t.Errorf("instrumentation costs %.1f%% of a CPU-bound run; want <= 3%%", 100*(ratio-1))
	}
}

// TestCompareCPUWorkloadFavoursProcesses checks the first row of the
// decision matrix on CPython: CPU-heavy work finishes sooner in a process
// pool than in threads, because the pool computes on several cores.
func TestCompareCPUWorkloadFavoursProcesses(t *testing.T) {
	timingClaim(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 cores to show parallelism")
	}
	best := fastestUntil(t, 2, 2, func(best []result) bool {
		return best[1].summary.WallNS < best[0].summary.WallNS && best[1].metric(t, "cpu_utilization") >= 1.2
	}, "compare",
		map[string]any{"workload": "cpu", "model": "threads", "size": "medium"},
		map[string]any{"workload": "cpu", "model": "pool", "size": "medium"})
	threads, pool := best[0], best[1]
	t.Logf("cpu, medium: threads %.0f ms (CPU %.2f× wall), pool %.0f ms (CPU %.2f× wall)",
		float64(threads.summary.WallNS)/1e6, threads.metric(t, "cpu_utilization"), float64(pool.summary.WallNS)/1e6, pool.metric(t, "cpu_utilization"))
	if pool.summary.WallNS >= threads.summary.WallNS {
		t.Errorf("the process pool (%d ms) was not faster than threads (%d ms) on CPU work", pool.summary.WallNS/1e6, threads.summary.WallNS/1e6)
	}
	if u := pool.metric(t, "cpu_utilization"); u < 1.2 {
		t.Errorf("the pool used %.2f cores on average; want several at once (> 1.2)", u)
	}
}

// TestCompareEveryModel runs every model of every workload at size small, as
// /compare does, checks what each run must show and logs the measured
// table: go test -run TestCompareEveryModel -v ./scenarios/pyengine/
func TestCompareEveryModel(t *testing.T) {
	for _, w := range scenarios.Workloads {
		t.Run(w.ID, func(t *testing.T) {
			runs := map[string]result{}
			for _, model := range w.Models() {
				res := runOK(t, "compare", map[string]any{"workload": w.ID, "model": model, "size": "small"})
				checkCompareRun(t, w.ID, model, res)
				runs[model] = res
				lost := "-"
				if m, ok := res.summary.Metrics["lost_updates"]; ok {
					lost = fmt.Sprint(m.Value)
				}
				t.Logf("%-10s wall %7.1f ms  cpu %7.1f ms  peak_rss %6.1f MiB (main %5.1f MiB + %2.0f child processes)  lost_updates %s",
					model, float64(res.summary.WallNS)/1e6, float64(res.summary.CPUNS)/1e6, res.metric(t, "peak_rss")/(1<<20),
					res.metric(t, "peak_rss_main")/(1<<20), res.metric(t, "child_processes"), lost)
			}
			if w.ID == "many-io" {
				// 200 waits: a thread started per wait against 200 coroutines
				// on one loop. The loop finishes sooner; the peak memory is
				// logged, not judged: a thread's stack is mostly untouched
				// (measured 16 MiB for 200 threads, 21 MiB for 2,000), and a
				// threads program does not pay for importing asyncio (6 MiB).
				threads, asyncio := runs["threads"], runs["asyncio"]
				t.Logf("many-io: 200 threads %.0f ms, peak %.2f MiB; 200 asyncio tasks %.0f ms, peak %.2f MiB",
					float64(threads.summary.WallNS)/1e6, threads.metric(t, "peak_rss")/(1<<20), float64(asyncio.summary.WallNS)/1e6, asyncio.metric(t, "peak_rss")/(1<<20))
				if asyncio.summary.WallNS >= threads.summary.WallNS {
					t.Errorf("many-io: asyncio took %d ms, not less than threads' %d ms", asyncio.summary.WallNS/1e6, threads.summary.WallNS/1e6)
				}
			}
		})
	}
}

// checkCompareRun checks what every run of compare must show: the right
// results, and peak memory added up over exactly the model's processes.
func checkCompareRun(t *testing.T, workload, model string, res result) {
	t.Helper()
	if got := res.metric(t, "correct"); got != 1 {
		t.Errorf("%s/%s: correct = %v; verdict: %s", workload, model, got, res.summary.Verdict)
	}
	if _, ok := res.summary.Metrics["lost_updates"]; ok != (workload == "shared-state") {
		t.Errorf("%s/%s: lost_updates reported: %v, want it for shared-state only", workload, model, ok)
	} else if ok && res.metric(t, "lost_updates") != 0 {
		t.Errorf("%s/%s lost %v updates of the shared counter", workload, model, res.metric(t, "lost_updates"))
	}
	tasks, kids := res.metric(t, "tasks"), res.metric(t, "child_processes")
	peak, main := res.metric(t, "peak_rss"), res.metric(t, "peak_rss_main")
	if main < 1<<20 {
		t.Errorf("%s/%s: the main process peaked at %v bytes", workload, model, main)
	}
	var want float64 // child processes of the model, at least
	switch {
	case workload == "external":
		want = tasks // the programs, whichever model runs them
	case model == scenarios.ModelProcesses:
		want = tasks // a process per task
	case model == scenarios.ModelPool && workload != "many-io":
		// The pool's workers: the scenario's default.
		sc, _ := scenarios.Lookup(scenarios.CompareID)
		p, _ := sc.Validate(scenarios.EnginePython, map[string]any{"workload": workload, "model": model})
		want = float64(p.Int("workers"))
	}
	if want == 0 {
		if kids != 0 || peak != main {
			t.Errorf("%s/%s: an in-process model counted %v child processes; peak_rss %v, main %v", workload, model, kids, peak, main)
		}
		return
	}
	if kids < want {
		t.Errorf("%s/%s: peaks of %v child processes added, want at least %v", workload, model, kids, want)
		return
	}
	if children := res.metric(t, "peak_rss_children"); peak != main+children {
		t.Errorf("%s/%s: peak_rss %v is not the main process's %v plus the children's %v", workload, model, peak, main, children)
	}
	if max := res.metric(t, "peak_rss_child_max"); max < 1<<20 || max > 100<<20 {
		t.Errorf("%s/%s: a child process peaked at %.1f MiB", workload, model, max/(1<<20))
	}
}

// TestEveryProcessReportsItsOwnPeakMemory grows the scenario's main process
// by 200 MiB before it starts workers (spawn, forkserver) or programs: each
// must report its own peak, far below its parent's, where getrusage's
// ru_maxrss says that every child started with exec peaked at its parent's.
func TestEveryProcessReportsItsOwnPeakMemory(t *testing.T) {
	const ballast = 200 << 20
	const mib = 1 << 20
	tests := []struct {
		name          string
		params        scenarios.Params
		parent, child string  // the metrics of the parent's and the largest child's peak
		unit          float64 // bytes per unit of those metrics
	}{
		{"compare processes (spawn)", scenarios.Params{"scenario": "compare", "workload": "cpu", "model": "processes", "size": "small"}, "peak_rss_main", "peak_rss_child_max", 1},
		{"compare pool (spawn)", scenarios.Params{"scenario": "compare", "workload": "cpu", "model": "pool", "size": "small"}, "peak_rss_main", "peak_rss_child_max", 1},
		{"compare external programs", scenarios.Params{"scenario": "compare", "workload": "external", "model": "subprocess", "size": "small"}, "peak_rss_main", "peak_rss_child_max", 1},
		{"multiprocessing spawn", scenarios.Params{"scenario": "multiprocessing", "start": "spawn", "workers": int64(2), "size": int64(20), "payload_kb": int64(16)}, "rss_runner", "rss_worker_max", mib},
		{"multiprocessing forkserver", scenarios.Params{"scenario": "multiprocessing", "start": "forkserver", "workers": int64(2), "size": int64(20), "payload_kb": int64(16)}, "rss_runner", "rss_worker_max", mib},
		{"pools Pool spawn", scenarios.Params{"scenario": "pools", "kind": "processes", "api": "pool", "start": "spawn", "workers": int64(2), "tasks": int64(8), "size": int64(5)}, "rss_runner", "rss_worker_max", mib},
		{"pools ProcessPoolExecutor forkserver", scenarios.Params{"scenario": "pools", "kind": "processes", "api": "executor", "start": "forkserver", "workers": int64(2), "tasks": int64(8), "size": int64(5)}, "rss_runner", "rss_worker_max", mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params["ballast_mb"] = int64(ballast / mib)
			res := runTestScript(t, "ballast.py", tt.params)
			if res.err != nil || res.summary == nil {
				t.Fatalf("run failed: %v; stderr: %s", res.err, res.output["stderr"])
			}
			parent, child := res.metric(t, tt.parent)*tt.unit, res.metric(t, tt.child)*tt.unit
			rusage := res.metric(t, "children_ru_maxrss")
			t.Logf("parent %.1f MiB, largest child %.1f MiB (its own VmHWM); getrusage would say %.1f MiB", parent/mib, child/mib, rusage/mib)
			if parent < ballast {
				t.Errorf("the parent peaked at %.1f MiB with %d MiB of ballast", parent/mib, ballast/mib)
			}
			if child < 1*mib || child > ballast/2 {
				t.Errorf("the largest child peaked at %.1f MiB; want its own peak, far below the parent's %.1f MiB", child/mib, parent/mib)
			}
		})
	}
}

// runningOverlap returns how much of the shorter of a run's two worker
// process lanes' running time the two were drawn running at once (0 when
// the run has not two such lanes).
func runningOverlap(r result) float64 {
	var lanes []string
	for _, l := range r.lanes(event.LaneProcess) {
		if l.PID != r.pid {
			lanes = append(lanes, l.ID)
		}
	}
	if len(lanes) != 2 {
		return 0
	}
	a, b := runningSpans(r, lanes[0]), runningSpans(r, lanes[1])
	var both, ta, tb int64
	for _, x := range a {
		ta += x[1] - x[0]
		for _, y := range b {
			if lo, hi := max(x[0], y[0]), min(x[1], y[1]); hi > lo {
				both += hi - lo
			}
		}
	}
	for _, y := range b {
		tb += y[1] - y[0]
	}
	if shorter := min(ta, tb); shorter > 0 {
		return float64(both) / float64(shorter)
	}
	return 0
}

// runningSpans returns the stretches a lane was drawn running, as [start,
// end) in run time: a state lasts until the lane's next state, the last one
// until the run's last event.
func runningSpans(r result, lane string) [][2]int64 {
	var states []event.Event
	var end int64
	for _, ev := range r.events {
		end = max(end, ev.T)
		if ev.K == event.KindState && ev.Lane == lane {
			states = append(states, ev)
		}
	}
	slices.SortStableFunc(states, func(a, b event.Event) int { return cmp.Compare(a.T, b.T) })
	var spans [][2]int64
	for i, ev := range states {
		if ev.S != event.Running {
			continue
		}
		until := end
		if i+1 < len(states) {
			until = states[i+1].T
		}
		spans = append(spans, [2]int64{ev.T, until})
	}
	return spans
}
