package pyengine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
)

// benchUnitsPerMS fixes how much work a "ms" of CPU is in the observer
// benchmark (about a ms of one core here): the playground's scenario and
// the plain script then do exactly the same work, with no calibration noise
// between them.
const benchUnitsPerMS = 45_000

// workBody returns the statements of the Python function def (the line
// that starts it, e.g. "def spin(n):") in src: its indented lines after
// its docstring, without comments and blank lines.
func workBody(src, def string) []string {
	_, rest, ok := strings.Cut(src, "\n"+def)
	if !ok {
		return nil
	}
	var lines []string
	for _, line := range strings.Split(rest, "\n")[1:] { // [0]: the rest of the def line
		if line != "" && !strings.HasPrefix(line, " ") {
			break // the function ends at the next unindented line
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 && strings.HasPrefix(strings.TrimSpace(lines[0]), `"""`) {
		for i, line := range lines {
			if strings.HasSuffix(line, `"""`) && (i > 0 || len(strings.TrimSpace(line)) > 3) {
				lines = lines[i+1:]
				break
			}
		}
	}
	var body []string
	for _, line := range lines {
		if code := strings.TrimSpace(line); code != "" && !strings.HasPrefix(code, "#") {
			body = append(body, line)
		}
	}
	return body
}

// TestPlainScriptsComputeTheHarnessWork keeps the plain scripts' copies of
// the work (they must not import the harness, which starts a recorder)
// the same as harness_running._spin: the observer benchmarks compare the
// same work, and the harness's work allocates nothing (a work function
// that allocates is slowed by the harness's own allocations, see
// docs/performance.md, "The observer under the GIL").
func TestPlainScriptsComputeTheHarnessWork(t *testing.T) {
	harness, err := os.ReadFile("harness_running.py")
	if err != nil {
		t.Fatal(err)
	}
	want := workBody(string(harness), "def _spin(n):")
	if len(want) == 0 {
		t.Fatal("harness_running.py has no def _spin(n):")
	}
	for _, name := range []string{"plain_threads.py", "plain_processes.py", "cpu_plain.py"} {
		src, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.ReplaceAll(strings.Join(workBody(string(src), "def spin(n):"), "\n"), "repeat(", "_repeat(")
		if got != strings.Join(want, "\n") {
			t.Errorf("testdata/%s computes\n%s\nwhere the harness computes\n%s", name, got, strings.Join(want, "\n"))
		}
	}
}

// observerCase is one workload of the observer benchmark: a scenario run by
// the playground (the harness, its recorder, the states it emits, the GIL
// measurement) and the same work run by plain CPython.
type observerCase struct {
	name string
	// script is the scenario's module, run by testdata/observed.py.
	script string
	// plain is the testdata script that does the same work without the harness.
	plain  string
	params scenarios.Params
}

// observerCases are the two cases of the issue with every core busy: 2
// processes on 2 cores (multiprocessing, fork, no payload), each computing
// processSize ms, and 2 CPU threads under the GIL computing threadSize ms.
func observerCases(processSize, threadSize int64) []observerCase {
	return []observerCase{
		{"2-processes", "multiprocessing_scenario", "plain_processes.py", scenarios.Params{
			"workers": int64(2), "mode": "processes", "size": processSize, "payload_kb": int64(0), "start": "fork"}},
		{"2-threads-gil", "gil_scenario", "plain_threads.py", scenarios.Params{
			"threads": int64(2), "switch_ms": int64(5), "io_thread": false, "size": threadSize}},
	}
}

// observerRun is what one playground run and one plain run of a case took.
type observerRun struct {
	// plain and playground are the wall time of the work.
	plain, playground time.Duration
	// plainCPU and playgroundCPU are the CPU time every process of the run
	// used meanwhile (the recorder included): what the observers cost even
	// where the wall time hides it (under the GIL, one core does the work).
	plainCPU, playgroundCPU time.Duration
	// recorderCPU and rootCPU are the CPU time of the harness's recorder and
	// of the scenario's root process during the playground run.
	recorderCPU, rootCPU time.Duration
}

// runObserverCase runs the case plainly and in the playground, in the
// order given, and returns how long the work took in each.
func runObserverCase(tb testing.TB, c observerCase, plainFirst bool) observerRun {
	tb.Helper()
	var r observerRun
	plain := func() {
		params := clone(c.params)
		params["units_per_ms"] = int64(benchUnitsPerMS)
		res := runTestScript(tb, c.plain, params)
		if res.err != nil {
			tb.Fatalf("%s: %v; stderr: %s", c.plain, res.err, res.output["stderr"])
		}
		var wall, cpu int64
		if _, err := fmt.Sscan(res.output["stdout"], &wall, &cpu); err != nil {
			tb.Fatalf("%s printed %q: %v", c.plain, res.output["stdout"], err)
		}
		r.plain, r.plainCPU = time.Duration(wall), time.Duration(cpu)
	}
	playground := func() {
		params := clone(c.params)
		params["units_per_ms"] = int64(benchUnitsPerMS)
		params["script"] = c.script
		res := runTestScript(tb, "observed.py", params)
		if res.err != nil || res.summary == nil {
			tb.Fatalf("%s in the playground: %v; stderr: %s", c.script, res.err, res.output["stderr"])
		}
		r.playground = time.Duration(res.summary.WallNS)
		r.recorderCPU = time.Duration(res.metric(tb, "recorder_cpu") * 1e6)
		r.rootCPU = time.Duration(res.metric(tb, "root_cpu") * 1e6)
		r.playgroundCPU = time.Duration(res.metric(tb, "run_cpu") * 1e6)
	}
	if plainFirst {
		plain()
		playground()
	} else {
		playground()
		plain()
	}
	return r
}

func clone(p scenarios.Params) scenarios.Params {
	out := make(scenarios.Params, len(p)+2)
	for k, v := range p {
		out[k] = v
	}
	return out
}

// BenchmarkObserverCost alternates the playground and plain CPython on the
// same work with every core busy and reports playground/plain: the wall
// time of the best (shortest) run of each side, the median of the
// per-iteration ratios, and the median ratio of the CPU time all the run's
// processes used. It also reports the observers' CPU per second of the
// playground's run. Under the GIL the wall time is mostly the hand-offs'
// latency, which on a VM varies from run to run by more than the observers
// cost: there the CPU ratio is the steadier measure.
//
//	go test ./scenarios/pyengine -run '^$' -bench ObserverCost -benchtime 5x
func BenchmarkObserverCost(b *testing.B) {
	needPython(b)
	timingclaim.Claim(b)
	for _, c := range observerCases(1000, 1000) {
		b.Run(c.name, func(b *testing.B) {
			var runs []observerRun
			for i := range b.N {
				runs = append(runs, runObserverCase(b, c, i%2 == 0))
			}
			best := func(get func(observerRun) time.Duration) time.Duration {
				m := get(runs[0])
				for _, r := range runs[1:] {
					m = min(m, get(r))
				}
				return m
			}
			var ratios, cpuRatios []float64
			var recorder, root, wall time.Duration
			for _, r := range runs {
				ratios = append(ratios, float64(r.playground)/float64(r.plain))
				cpuRatios = append(cpuRatios, float64(r.playgroundCPU)/float64(r.plainCPU))
				recorder += r.recorderCPU
				root += r.rootCPU
				wall += r.playground
			}
			slices.Sort(ratios)
			slices.Sort(cpuRatios)
			bestRatio := float64(best(func(r observerRun) time.Duration { return r.playground })) / float64(best(func(r observerRun) time.Duration { return r.plain }))
			b.ReportMetric(bestRatio, "best-ratio")
			b.ReportMetric(ratios[len(ratios)/2], "median-ratio")
			b.ReportMetric(cpuRatios[len(cpuRatios)/2], "median-cpu-ratio")
			b.ReportMetric(float64(recorder)/float64(wall)*1000, "recorder-ms/s")
			b.ReportMetric(float64(root)/float64(wall)*1000, "root-ms/s")
			b.Logf("%s: plain best %v, playground best %v; ratios %s", c.name,
				best(func(r observerRun) time.Duration { return r.plain }).Round(time.Millisecond),
				best(func(r observerRun) time.Duration { return r.playground }).Round(time.Millisecond), fmt.Sprint(ratios))
			b.Logf("%s: CPU playground/plain %s", c.name, fmt.Sprint(cpuRatios))
		})
	}
}

// TestObserverCostWithEveryCoreBusy holds the observer to its bar: with
// every core busy the playground's run of the work takes at most 5 % longer
// than plain CPython's, comparing the fastest of up to ten alternating
// pairs (another process on the machine can only slow a run down). The two
// cases of the issue: 2 processes on 2 cores, each computing 1,000 ms (the
// cost of starting a process, 10-35 ms on this VM and a few ms more in the
// playground, is part of both runs but is not the observers' cost while the
// work runs; with less work it would weigh more than the bar), and 2 CPU
// threads under the GIL computing 500 ms each, where the harness measures
// every hand-off of the GIL (docs/performance.md, "The observer under the
// GIL": its work function allocates nothing, or the harness's own
// allocations between slices slow it down by 7-13 %).
func TestObserverCostWithEveryCoreBusy(t *testing.T) {
	timingClaim(t)
	// Up to pairs alternating pairs until the best of each side is within
	// the bar: on this VM's unequal cores (docs/performance.md) the same
	// plain program took 920-1,265 ms in six pairs of one CI run.
	const bar, pairs = 1.05, 10
	// hostSlowed is how much slower than its fastest on this machine the
	// plain work may run in the median pair before the test says the host
	// slowed the cores (pairs on a quiet host differ by 2-6 %).
	const hostSlowed = 1.2
	for _, c := range observerCases(1000, 500) {
		t.Run(c.name, func(t *testing.T) {
			var plain, playground time.Duration
			var plains []time.Duration // every pair's, for the host's speed
			ratio := func() float64 { return float64(playground) / float64(plain) }
			// A pair during which other processes used the cores, or after
			// which the host had lent them away, does not count against
			// the ten (timingclaim.Attempts): in one CI run the host slowed
			// six pairs in a row by a quarter.
			disturbed := timingclaim.Attempts(t, pairs, func(i int) (string, bool) {
				r := runObserverCase(t, c, i%2 == 0)
				plains = append(plains, r.plain)
				if i == 0 || r.plain < plain {
					plain = r.plain
				}
				if i == 0 || r.playground < playground {
					playground = r.playground
				}
				return fmt.Sprintf("plain %v, playground %v (recorder %v of CPU, CPU ratio %.3f); best so far %.3f",
					r.plain.Round(time.Millisecond), r.playground.Round(time.Millisecond), r.recorderCPU.Round(time.Millisecond),
					float64(r.playgroundCPU)/float64(r.plainCPU), ratio()), i >= 1 && ratio() <= bar
			})
			// The fastest the plain work has run on this machine: the
			// same work markedly slower in the typical pair (the median)
			// means the host slowed the cores for the test (in CI: 1.5-1.65
			// s for minutes where it takes 1.05 s; one lucky 1.24 s plain
			// run then made the best ratio 1.27).
			fastest := timingclaim.Fastest("observer-plain-"+c.name, plain)
			slices.Sort(plains)
			typical := plains[len(plains)/2]
			if slowed := float64(typical) / float64(fastest); ratio() > bar && (disturbed || slowed > hostSlowed) {
				t.Skipf("inconclusive: the host slowed or lent the cores (the plain work took %v in the median pair, %.0f%% longer than its fastest on this machine, %v), which measures the host, not the observer; best ratio %.3f (%v vs %v)",
					typical.Round(time.Millisecond), 100*(slowed-1), fastest.Round(time.Millisecond), ratio(), playground.Round(time.Millisecond), plain.Round(time.Millisecond))
			}
			if ratio() > bar {
				t.Errorf("the playground took %.1f%% longer than plain CPython on the same work (%v vs %v); want at most %.0f%%",
					100*(ratio()-1), playground.Round(time.Millisecond), plain.Round(time.Millisecond), 100*(bar-1))
			}
		})
	}
}
