package goengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

// The decision matrix on the go engine: every model of every workload runs
// in a real child process at size small, and what each model is for shows in
// the numbers.

func runCompareSmall(t *testing.T, workload, model string) result {
	t.Helper()
	return mustRun(t, scenarios.CompareID, map[string]any{"workload": workload, "model": model, "size": "small"})
}

func TestCompareEveryModel(t *testing.T) {
	// The speedups, memory and in-flight counts compared below are
	// measured while the runs go: they need the cores to themselves.
	timingClaim(t)
	for _, w := range scenarios.Workloads {
		t.Run(w.ID, func(t *testing.T) {
			runs := map[string]result{}
			for _, model := range w.Models() {
				res := runCompareSmall(t, w.ID, model)
				checkCompareRun(t, w.ID, model, res)
				runs[model] = res
				lost := "-"
				if m, ok := res.summary.Metrics["lost_updates"]; ok {
					lost = fmt.Sprint(m.Value)
				}
				t.Logf("%-10s wall %7.1f ms  cpu %7.1f ms  peak_rss %6.1f MiB (main %5.1f MiB + %2.0f child processes)  lost_updates %s  %s",
					model, res.wallMS(), float64(res.summary.CPUNS)/1e6, res.metric(t, "peak_rss")/(1<<20),
					res.metric(t, "peak_rss_main")/(1<<20), res.metric(t, "child_processes"), lost, res.summary.Verdict)
			}
			if claim, ok := compareClaims[w.ID]; ok {
				claim(t, runs)
			}
		})
	}
}

// checkCompareRun checks what every run of compare must show.
func checkCompareRun(t *testing.T, workload, model string, res result) {
	t.Helper()
	checkLanes(t, workload+"/"+model, res, runtime.NumCPU())
	size := compareSizes[workload]["small"]
	if got := res.metric(t, "correct"); got != 1 {
		t.Errorf("%s/%s: correct = %v; verdict: %s", workload, model, got, res.summary.Verdict)
	}
	if got := res.metric(t, "tasks_done"); got != float64(size.tasks) {
		t.Errorf("%s/%s: %v of %d tasks done", workload, model, got, size.tasks)
	}
	if res.metric(t, "tasks") != float64(size.tasks) || res.metric(t, "workers") < 1 || res.metric(t, "peak_rss") < 1<<20 {
		t.Errorf("%s/%s: tasks, workers or peak_rss missing: %v", workload, model, res.summary.Metrics)
	}
	if res.summary.WallNS <= 0 || res.summary.CPUNS <= 0 {
		t.Errorf("%s/%s: wall %d ns, cpu %d ns", workload, model, res.summary.WallNS, res.summary.CPUNS)
	}
	if _, ok := res.summary.Metrics["lost_updates"]; ok != (workload == "shared-state") {
		t.Errorf("%s/%s: lost_updates reported: %v, want it for shared-state only", workload, model, ok)
	}
	if !strings.Contains(res.summary.Verdict, model) {
		t.Errorf("%s/%s: the verdict does not name the model: %q", workload, model, res.summary.Verdict)
	}
	// The "tasks done" track ends at every task.
	var last float64
	for _, ev := range res.events {
		if ev.K == event.KindCounter && ev.Name == "tasks done" {
			last = *ev.V
		}
	}
	if last != float64(size.tasks) {
		t.Errorf("%s/%s: the tasks done track ends at %v, want %d", workload, model, last, size.tasks)
	}

	// Lanes: one per worker, process or task, with real pids for processes.
	procs := res.lanes(event.LaneProcess)
	pids := map[int]bool{}
	for _, l := range procs {
		pids[l.PID] = true
	}
	if len(pids) != len(procs) || pids[0] {
		t.Errorf("%s/%s: process lanes need distinct pids: %+v", workload, model, procs)
	}
	switch {
	case workload == "external":
		if len(procs) != size.tasks {
			t.Errorf("%s/%s: %d program lanes, want %d", workload, model, len(procs), size.tasks)
		}
		for _, l := range procs {
			if out := res.outputText(l.ID, "stdout"); !strings.HasPrefix(out, "compute: ") {
				t.Errorf("%s/%s: program %s printed %q", workload, model, l.ID, out)
			}
		}
	case model == scenarios.ModelProcesses || (model == scenarios.ModelPool && workload != "many-io"):
		// A process per task, as the python engine starts a
		// multiprocessing.Process per task; a pool of `workers` processes
		// (the scenario's default when the test does not set it).
		want := size.tasks
		if model == scenarios.ModelPool {
			sc, _ := scenarios.Lookup(scenarios.CompareID)
			p, _ := sc.Validate(scenarios.EngineGo, map[string]any{"workload": workload, "model": model})
			want = p.Int("workers")
		}
		if len(procs) != want || res.metric(t, "processes") != float64(want) {
			t.Errorf("%s/%s: %d process lanes, want %d", workload, model, len(procs), want)
		}
		if res.metric(t, "startup_max") <= 0 {
			t.Errorf("%s/%s: no start-up cost measured", workload, model)
		}
		if model == scenarios.ModelProcesses {
			// At most `workers` (4) at once: a process starts only once the
			// oldest of the 4 before it has exited.
			if most := maxOverlap(res, procs); most > 4 {
				t.Errorf("%s/processes: %d processes ran at once, want at most 4", workload, most)
			}
		}
	case len(procs) > 0:
		t.Errorf("%s/%s: %d process lanes for an in-process model", workload, model, len(procs))
	}
	if model == scenarios.ModelAsyncio {
		if len(res.lanes(event.LaneLoop)) != 1 {
			t.Errorf("%s/asyncio: want one event loop lane", workload)
		}
		if got, want := len(res.lanes(event.LaneTask)), min(size.tasks, compareLanesDrawn); got != want {
			t.Errorf("%s/asyncio: %d task lanes, want %d", workload, got, want)
		}
	}
	if n := len(res.lanes("")); n > compareLanesDrawn+10 {
		t.Errorf("%s/%s: %d lanes drawn; thousands of tasks must be sampled", workload, model, n)
	}
	checkComparePeak(t, workload, model, res, len(procs))
}

// checkComparePeak checks the peak memory convention, the python engine's
// too: the runner's own peak plus each child process's own, summed.
func checkComparePeak(t *testing.T, workload, model string, res result, procs int) {
	t.Helper()
	peak, main, kids := res.metric(t, "peak_rss"), res.metric(t, "peak_rss_main"), res.metric(t, "child_processes")
	if main < 1<<20 {
		t.Errorf("%s/%s: the runner peaked at %v bytes", workload, model, main)
	}
	if procs == 0 {
		if kids != 0 || peak != main {
			t.Errorf("%s/%s: an in-process model counted %v child processes; peak_rss %v, main %v", workload, model, kids, peak, main)
		}
		return
	}
	if kids != float64(procs) {
		t.Errorf("%s/%s: the peaks of %v child processes added, want all %d", workload, model, kids, procs)
	}
	if children := res.metric(t, "peak_rss_children"); peak != main+children {
		t.Errorf("%s/%s: peak_rss %v is not the runner's %v plus the children's %v", workload, model, peak, main, children)
	}
	// Each child's own peak: a few MiB, not its parent's (the rusage of a
	// re-executed child starts at its parent's peak).
	if top := res.metric(t, "peak_rss_child_max"); top < 1<<20 || top > 100<<20 {
		t.Errorf("%s/%s: a child process peaked at %.1f MiB", workload, model, top/(1<<20))
	}
}

// maxOverlap returns how many of the process lanes were alive at once, from
// each one's first event to its done state.
func maxOverlap(res result, procs []event.Event) int {
	type span struct{ from, to int64 }
	spans := map[string]*span{}
	for _, l := range procs {
		spans[l.ID] = &span{from: l.T, to: -1}
	}
	for _, ev := range res.events {
		if s, ok := spans[ev.Lane]; ok && ev.K == event.KindState && ev.S == event.Done {
			s.to = ev.T
		}
	}
	most := 0
	for _, a := range spans {
		n := 0
		for _, b := range spans {
			if b.from <= a.from && (b.to < 0 || b.to > a.from) {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// compareClaims are what each workload must show, from its runs.
var compareClaims = map[string]func(t *testing.T, runs map[string]result){
	"cpu": func(t *testing.T, runs map[string]result) {
		if runtime.NumCPU() < 2 {
			t.Skip("needs 2 cores")
		}
		// The claim is checked at the size /compare runs by default
		// (medium): at size small, 8 tasks of 25 ms, starting 8 processes
		// (about 20 ms of CPU each on a virtual machine, a runtime's
		// start-up) costs as much CPU as the work itself, and no model of
		// processes can beat sequential code on 2 cores.
		const claimSize = "medium"
		if testing.Short() {
			t.Log("-short: the parallel speedups are checked in the run without -short")
			return
		}
		walls := map[string]float64{}
		// The guide's rule for CPU work is processes, which on 2 cores
		// means a pool of one worker per core (what multiprocessing.Pool()
		// starts by default, and what /compare gives the pool): 8 processes
		// for 8 tasks on 2 cores pay for 8 starts and, measured on this VM,
		// about 25 % more CPU per task than 2 (comparecpu's
		// BenchmarkCompareCPU). So the claim is threads, and the better of
		// the two process models.
		// A race-enabled build starts each worker process 3 times slower
		// (its runtime's start-up, not the product's): the processes' ratio
		// is checked only without the race detector.
		models := []string{"sequential", "threads", "processes", "pool"}
		if raceEnabled() {
			t.Log("race detector on: the processes' speedup is not checked")
			models = models[:2]
		}
		procs := func() float64 {
			if raceEnabled() {
				return walls["sequential"]
			}
			return min(walls["processes"], walls["pool"])
		}
		fast := func() bool {
			return walls["sequential"] >= 1.4*walls["threads"] && (raceEnabled() || walls["sequential"] >= 1.4*procs())
		}
		// Best of 3 attempts: another process on the machine can only make
		// a run slower, never faster.
		for attempt := 0; attempt < 3 && (attempt == 0 || !fast()); attempt++ {
			for _, model := range models {
				wall := mustRun(t, scenarios.CompareID, map[string]any{"workload": "cpu", "model": model, "size": claimSize, "workers": runtime.NumCPU()}).wallMS()
				if attempt == 0 || wall < walls[model] {
					walls[model] = wall
				}
			}
		}
		t.Logf("cpu, size "+claimSize+", %d workers: sequential %.0f ms, threads %.0f ms (%.2fx), processes %.0f ms, pool %.0f ms (best %.2fx)", runtime.NumCPU(), walls["sequential"],
			walls["threads"], walls["sequential"]/walls["threads"], walls["processes"], walls["pool"], walls["sequential"]/procs())
		if !fast() {
			load, _ := os.ReadFile("/proc/loadavg")
			t.Errorf("want threads and the better process model >= 1.4x faster than sequential on %d cores (load average now: %s)", runtime.NumCPU(), strings.TrimSpace(string(load)))
		}
	},
	"io": func(t *testing.T, runs map[string]result) {
		seq := runs["sequential"].wallMS()
		for _, model := range []string{"threads", "asyncio"} {
			if x := seq / runs[model].wallMS(); x < 2 {
				t.Errorf("io: %s is %.2fx faster than sequential, want >= 2x", model, x)
			}
		}
		// The server saw it: one request at a time, or every request at once,
		// from a goroutine per task or from the loop, on real sockets. (Every
		// request at once is a timing, which the -short race run slows past.)
		for model, want := range map[string]float64{"sequential": 1, "threads": 16, "asyncio": 16} {
			if got := maxCounter(runs[model], "requests in flight (server)"); got != want && (want == 1 || !testing.Short()) {
				t.Errorf("io/%s: the server had at most %v requests in flight, want %v", model, got, want)
			}
		}
	},
	"many-io": func(t *testing.T, runs map[string]result) {
		threads, asyncio := runs["threads"].metric(t, "peak_rss"), runs["asyncio"].metric(t, "peak_rss")
		t.Logf("many-io: 200 goroutines peak at %.2f MiB, 200 loop tasks at %.2f MiB", threads/(1<<20), asyncio/(1<<20))
		if asyncio >= threads {
			t.Errorf("many-io: asyncio's peak memory %.0f B is not below threads' %.0f B", asyncio, threads)
		}
		// All 200 at once is a timing: every goroutine must start within
		// the first one's wait, which the race detector (the -short run)
		// slows past it.
		if got := maxCounter(runs["threads"], "waits in flight"); got != 200 && !testing.Short() {
			t.Errorf("many-io/threads: at most %v waits in flight, want all 200 at once", got)
		}
		if got := maxCounter(runs["pool"], "waits in flight"); got > 4 {
			t.Errorf("many-io/pool: %v waits in flight with 4 workers", got)
		}
		if !runs["asyncio"].hasMark(mainLane, "drawing 1 task in 2") {
			t.Errorf("many-io/asyncio: no mark saying the drawing is sampled: %v", runs["asyncio"].marks("*"))
		}
	},
	"shared-state": func(t *testing.T, runs map[string]result) {
		for model, res := range runs {
			if lost := res.metric(t, "lost_updates"); lost != 0 {
				t.Errorf("shared-state/%s lost %v updates", model, lost)
			}
		}
		// Processes and pool count in shared memory, which the parent reads.
		for _, model := range []string{"threads", "processes", "pool"} {
			if got := maxCounter(runs[model], "counter"); got != 40_000 {
				t.Errorf("shared-state/%s: the counter track reaches %v, want 40000", model, got)
			}
		}
	},
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	return ok && slices.ContainsFunc(bi.Settings, func(s debug.BuildSetting) bool { return s.Key == "-race" && s.Value == "true" })
}

func maxCounter(res result, name string) float64 {
	var top float64
	for _, ev := range res.events {
		if ev.K == event.KindCounter && ev.Name == name && ev.V != nil {
			top = max(top, *ev.V)
		}
	}
	return top
}

func TestCompareRefusesModelsThatDoNotApply(t *testing.T) {
	sc, _ := scenarios.Lookup(scenarios.CompareID)
	if !sc.HasEngine(scenarios.EngineGo) || !Has(scenarios.CompareID) {
		t.Fatal("compare is not offered on the go engine")
	}
	for _, w := range scenarios.Workloads {
		if _, ok := compareSizes[w.ID]; !ok {
			t.Errorf("no sizes for workload %s", w.ID)
		}
		for _, model := range []string{"sequential", "threads", "asyncio", "processes", "pool", "subprocess"} {
			_, err := sc.Validate(scenarios.EngineGo, map[string]any{"workload": w.ID, "model": model})
			var pe *scenarios.ParamError
			if applies := slices.Contains(w.Models(), model); applies != (err == nil) || (!applies && (!errors.As(err, &pe) || pe.Field != "model")) {
				t.Errorf("%s/%s: validate error %v; applies %v", w.ID, model, err, applies)
			}
		}
		for _, size := range []string{"small", "medium", "large"} {
			if s := compareSizes[w.ID][size]; s.tasks == 0 {
				t.Errorf("%s/%s: no tasks", w.ID, size)
			}
		}
	}
	if src, _, ok := (&Engine{}).Source(scenarios.CompareID); !ok || src != "compare.go" {
		t.Errorf("compare shows %q as its source", src)
	}
}

// TestCompareSourceShowsEveryModel: a comparison's page shows the driver and
// then every model's file, so the code of the model that ran is on the page.
func TestCompareSourceShowsEveryModel(t *testing.T) {
	name, code, ok := (&Engine{}).Source(scenarios.CompareID)
	if !ok || name != "compare.go" {
		t.Fatalf("compare shows %q as its source (ok %v)", name, ok)
	}
	for _, want := range []string{"func runCompare(", "func (c *compareRun) goroutinePool(", "func (c *compareRun) asyncio(",
		"func (c *compareRun) subprocesses(", "func (c *compareRun) processPool(", "func newSharedCounter("} {
		if !strings.Contains(code, want) {
			t.Errorf("the source shown lacks %q", want)
		}
	}
	for _, file := range compareModelFiles {
		if !strings.Contains(code, "// ==== "+file+" ====") {
			t.Errorf("the source shown does not name %s", file)
		}
	}
}

// TestCompareSharedCounterAcrossProcesses has two worker processes update
// the shared counter at the same moment, a million times each: shared memory
// and the process-shared lock must lose none of them.
func TestCompareSharedCounterAcrossProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := event.Monotonic()
	r := &Run{Emitter: NewEmitter(io.Discard, base), Spec: scenarios.Spec{ClockBase: base}}
	defer r.Close()
	shared, err := newSharedCounter()
	if err != nil {
		t.Fatal(err)
	}
	defer shared.close()
	const updates = 1_000_000
	c := &compareRun{r: r, ctx: ctx, workload: "shared-state", size: compareSize{tasks: 2, updates: updates}, shared: shared}
	var ws []*workerProcess
	for k := range 2 {
		w, err := c.startWorker(fmt.Sprintf("worker-%d", k+1), "worker", "workers")
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	// Both are ready: the two jobs start together.
	var wg sync.WaitGroup
	for k, w := range ws {
		wg.Go(func() {
			if err := c.exchange(w, c.job([]int{k + 1})); err != nil {
				t.Error(err)
				w.kill()
			}
		})
	}
	wg.Wait()
	for _, w := range ws {
		if err := c.finishWorker(w); err != nil {
			t.Error(err)
		}
	}
	if got := shared.load(); got != 2*updates {
		t.Errorf("the shared counter is %d after 2 processes added %d each: %d updates lost", got, updates, 2*updates-got)
	}
	if c.done.Load() != 2 || c.childPeaks != 2 {
		t.Errorf("%d tasks done, %d peaks reported; want 2 and 2", c.done.Load(), c.childPeaks)
	}
}
