package pyengine

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/event"
)

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

// TestHarnessOverhead runs the same CPU-bound work plain and instrumented
// (harness, recorder process, a lane, and the GIL-wait check every 100 µs
// slice) and compares how long the work took, best of several runs.
func TestHarnessOverhead(t *testing.T) {
	timingClaim(t)
	needPython(t)
	// Many short runs (about 250 ms each): the same run takes anything
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
			res := runTestScript(t, script, scenarios.Params{"units": int64(11_000_000)})
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
