package goengine

// compare: one workload under one model, one row of the decision matrix.
// /compare runs every model that applies to a workload, one after another,
// and sets the measurements side by side; this file drives one of those
// runs, and each model's work is in a file of its own (compareModelFiles).
//
// Workloads (the same work for every model; size picks how much, see
// compareSizes):
//
//	cpu           tasks that compute (calibrated CPU work)
//	io            HTTP requests to a loopback server, inside the runner, that
//	              answers each after a delay (it stands for a remote server)
//	many-io       thousands of short waits
//	mixed         requests that wait for the server, then compute
//	external      runs of an external program that computes (the compute
//	              role of this binary, re-executed: its own process)
//	shared-state  read-modify-write updates of one shared counter
//
// Models, in Go, the same as the python engine's (compare_scenario.py), so
// that "Python threads vs Go goroutines" compares one model on two runtimes:
//
//	sequential  one task after another on the main goroutine
//	threads     one goroutine per task, Go's threads (a threading.Thread per
//	            task in Python). Go has no GIL: they compute on every core.
//	asyncio     a model: one goroutine runs the cooperative event loop of
//	            asyncio.go, a task per task. Waits are real: timers for
//	            many-io, non-blocking sockets and pidfds watched with
//	            epoll_wait for io, mixed and external. CPU work runs inline.
//	processes   one new process per task (this binary re-executed, as a
//	            multiprocessing.Process per task), at most `workers` at once:
//	            when `workers` run, the oldest is waited for before the next
//	            starts, as Python joins the oldest
//	pool        `workers` reused worker processes (multiprocessing.Pool), fed
//	            the tasks in chunks of Pool.map's default size (one task per
//	            chunk unless there are more than 4 tasks per worker); for
//	            many-io, `workers` goroutines taking waits from a queue (a
//	            ThreadPoolExecutor)
//	subprocess  (external) start every program, then wait for each
//
// HTTP requests (io, mixed) open a connection each, as urllib does against
// the python engine's HTTP/1.0 server.
//
// shared-state under processes and pool: the counter is shared memory every
// worker maps (a memfd) with a process-shared lock beside it, a futex, as a
// multiprocessing.Value is shared memory with a semaphore: every update takes
// the lock, reads, adds one and writes back. Nothing is lost; the lock is
// what it costs.
//
// wall_ns and cpu_ns cover the work only (not calibration or starting the
// loopback server); cpu_ns is the CPU time of the runner and of every child
// process it waited for during the work. peak_rss is the runner's own peak
// resident memory (VmHWM) plus the sum of its child processes' own private
// memory (Private_Clean + Private_Dirty, see ownMemoryOf), each reported by
// the process itself when its work is done: their peaks would count the
// pages they share with the runner (the binary) once per process, and
// getrusage's ru_maxrss would start at the parent's peak (see selfRSS).
// The python engine measures the same way.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

func init() {
	register(scenarios.CompareID, scenario{run: runCompare, source: "compare.go", more: compareModelFiles})
	childRoles[roleCompareWorker] = compareWorkerMain
}

// compareModelFiles hold the models' workloads, shown after this file on a
// comparison's page: this file is the driver every model shares.
var compareModelFiles = []string{
	"compare_threads.go",
	"compare_asyncio.go",
	"compare_programs.go",
	"compare_processes.go",
	"compare_shared.go",
}

// roleCompareWorker is the role of the processes and pool models' workers.
const roleCompareWorker = "compare-worker"

// compareSize is how much work one size of a workload is.
type compareSize struct {
	tasks int
	// waitMS is what one task waits: the server's delay (io, mixed) or a
	// sleep (many-io).
	waitMS int
	// cpuMS is one task's CPU work: cpu, mixed (after its wait), and the
	// external program's.
	cpuMS int
	// updates is how many times one task adds one to the shared counter.
	updates int
}

// compareSizes are the same as the python engine's (SIZES in
// pyengine/py/compare_scenario.py), so that the two engines do the same work.
// On 2 cores (4 workers) the go engine takes about:
//
//	cpu           small  8 × 25 ms CPU    sequential 0.2 s, threads 0.1 s
//	              medium 8 × 100 ms       0.8 s / 0.4 s;  large 16 × 200 ms: 3.2 s / 1.6 s
//	io            small  16 × 50 ms wait  sequential 0.8 s, threads and asyncio 0.05 s,
//	              processes and pool (4 at a time) 0.2 s
//	              medium 32 × 100 ms      3.2 s / 0.1 s;  large 64 × 100 ms: 6.4 s / 0.1 s
//	many-io       small  200 × 20 ms      threads, asyncio 0.02 s; pool (4) 1 s
//	              medium 1000 × 20 ms     pool 5 s;       large 2000 × 20 ms: pool 10 s
//	mixed         small  8 × (50 ms wait, 20 ms CPU)     sequential 0.56 s, threads 0.13 s
//	              medium 16 × (100, 50)   1.6 s;          large 32 × (100, 100): 6.4 s
//	external      small  4 programs × 50 ms CPU          sequential ~0.25 s, the others ~0.13 s
//	              medium 8 × 50 ms;       large 16 × 50 ms
//	shared-state  small  4 tasks × 10,000 updates; medium 4 × 50,000; large 8 × 100,000
//	              (milliseconds; processes add their start-up and a lock per update)
var compareSizes = map[string]map[string]compareSize{
	"cpu": {
		"small":  {tasks: 8, cpuMS: 25},
		"medium": {tasks: 8, cpuMS: 100},
		"large":  {tasks: 16, cpuMS: 200},
	},
	"io": {
		"small":  {tasks: 16, waitMS: 50},
		"medium": {tasks: 32, waitMS: 100},
		"large":  {tasks: 64, waitMS: 100},
	},
	"many-io": {
		"small":  {tasks: 200, waitMS: 20},
		"medium": {tasks: 1000, waitMS: 20},
		"large":  {tasks: 2000, waitMS: 20},
	},
	"mixed": {
		"small":  {tasks: 8, waitMS: 50, cpuMS: 20},
		"medium": {tasks: 16, waitMS: 100, cpuMS: 50},
		"large":  {tasks: 32, waitMS: 100, cpuMS: 100},
	},
	"external": {
		"small":  {tasks: 4, cpuMS: 50},
		"medium": {tasks: 8, cpuMS: 50},
		"large":  {tasks: 16, cpuMS: 50},
	},
	"shared-state": {
		"small":  {tasks: 4, updates: 10_000},
		"medium": {tasks: 4, updates: 50_000},
		"large":  {tasks: 8, updates: 100_000},
	},
}

// Drawing bounds: with thousands of tasks only one in compareDrawStride is
// drawn as a lane (at most compareLanesDrawn), and every task is counted.
const (
	compareLanesDrawn = 100
	// counterEvery is how many updates pass between two samples of the
	// shared counter's track.
	counterEvery = 1000
)

const mainLane = "main"

// compareRun is the state of one run.
type compareRun struct {
	r        *Run
	ctx      context.Context
	workload string
	model    string
	size     compareSize
	// workers is the workers param, at most one per task.
	workers int
	// rounds is the CPU work's calibration: spin rounds per ms on one core.
	rounds int64
	// stride: task i is drawn when (i-1) % stride == 0.
	stride int

	srv    *httptest.Server // the loopback server (io, mixed)
	client *http.Client
	url    string // GET url: the server answers after waitMS

	// Counter tracks: trackMu orders the values several goroutines make,
	// so that a track never steps back (199 drawn after 200).
	trackMu  sync.Mutex
	done     atomic.Int64 // tasks finished
	inFlight atomic.Int64 // many-io: waits in flight
	queued   atomic.Int64 // tasks waiting in the queue (pools)

	// counterMu is the threads model's lock around the shared counter's
	// read-modify-write.
	counterMu sync.Mutex
	counter   int64
	// shared is the counter of the processes and pool models: shared
	// memory and a lock every process can take (shared-state).
	shared *sharedCounter

	mu         sync.Mutex
	errs       []error
	wrong      int   // tasks whose result was wrong
	used       int   // workers (goroutines, processes) that did the work at once
	children   int   // child processes started: workers or programs
	childRSS   int64 // sum of their peak resident memory as each reported it, bytes
	childMax   int64 // the largest of those peaks
	childPeaks int   // children whose peaks are in childRSS
	startupNS  int64 // worker processes' start-up, summed
	startupMax int64
	serialNS   int64 // encoding and decoding jobs and results
	loopBusyNS int64 // asyncio: time the loop ran task steps
}

func runCompare(ctx context.Context, r *Run) (event.Summary, error) {
	workload, model := r.Params.String("workload"), r.Params.String("model")
	size, ok := compareSizes[workload][r.Params.String("size")]
	if !ok {
		return event.Summary{}, fmt.Errorf("no size %q for workload %q", r.Params.String("size"), workload)
	}
	c := &compareRun{r: r, ctx: ctx, workload: workload, model: model, size: size,
		workers: min(r.Params.Int("workers"), size.tasks), stride: (size.tasks + compareLanesDrawn - 1) / compareLanesDrawn}
	r.Lane(mainLane, event.LaneGoroutine, fmt.Sprintf("main goroutine (runner pid %d)", os.Getpid()), "")
	labelGoroutine(ctx, mainLane)
	if workload == "cpu" || workload == "mixed" {
		// /compare gives every model the calibration its first model
		// measured, so that every model does the same work.
		if c.rounds = int64(r.Params.Int(scenarios.ParamCalibration)); c.rounds <= 0 {
			r.State(mainLane, event.Active, "calibrating the CPU work: how many rounds make 1 ms on one core")
			c.rounds = calibrate()
		}
	}
	if workload == "io" || workload == "mixed" {
		// The server's own client (a connection pool) is not used: every
		// request opens a connection, as urllib's do on the python engine.
		var pooled *http.Client
		c.srv, pooled = startLatencyServer(r, size.tasks)
		pooled.CloseIdleConnections()
		defer c.srv.Close()
		c.client = newRequestClient()
		c.url = c.srv.URL + "/slow?ms=" + strconv.Itoa(size.waitMS)
	}
	if workload == "shared-state" && (model == scenarios.ModelProcesses || model == scenarios.ModelPool) {
		var err error
		if c.shared, err = newSharedCounter(); err != nil {
			return event.Summary{}, err
		}
		defer c.shared.close()
	}
	if c.stride > 1 {
		r.Mark(mainLane, fmt.Sprintf("drawing 1 task in %d (%d lanes); every one of the %d tasks is counted", c.stride, (size.tasks+c.stride-1)/c.stride, size.tasks))
	}
	r.Counter("tasks done", 0)
	if workload == "shared-state" {
		r.Counter("counter", 0)
	}

	cpu0, start := cpuTime(), r.Now()
	r.State(mainLane, event.Active, fmt.Sprintf("%s: %d %s tasks", model, size.tasks, workload))
	var err error
	if c.shared != nil {
		stop, sampled := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(sampled)
			c.sampleShared(stop)
		}()
		err = c.run()
		close(stop)
		<-sampled
		c.counter = c.shared.load()
	} else {
		err = c.run()
	}
	wall, cpu := r.Now()-start, cpuTime()-cpu0
	r.State(mainLane, event.Done, "")
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && len(c.errs) > 0 {
		// The first errors say what went wrong; thousands would only repeat it.
		const shown = 3
		if n := len(c.errs); n > shown {
			c.errs = append(c.errs[:shown], fmt.Errorf("and %d more errors", n-shown))
		}
		err = errors.Join(c.errs...)
	}
	return c.summary(wall, cpu, err), err
}

// run does the work under the model.
func (c *compareRun) run() error {
	switch c.model {
	case scenarios.ModelSequential:
		c.used = 1
		for i := 1; i <= c.size.tasks; i++ {
			if err := c.doTask(mainLane, i, false); err != nil {
				return err
			}
			c.finished()
		}
		return nil
	case scenarios.ModelThreads:
		return c.goroutinePerTask()
	case scenarios.ModelAsyncio:
		return c.asyncio()
	case scenarios.ModelProcesses:
		return c.processPerTask()
	case scenarios.ModelPool:
		if c.workload == "many-io" {
			return c.goroutinePool("pool worker")
		}
		return c.processPool()
	case scenarios.ModelSubprocess:
		return c.subprocesses()
	}
	return fmt.Errorf("model %q is not implemented for %s", c.model, c.workload)
}

// drawn reports whether task i has a lane of its own.
func (c *compareRun) drawn(i int) bool { return (i-1)%c.stride == 0 }

// state draws lane's state; an undrawn task (empty lane) is only counted.
func (c *compareRun) state(lane, s, why string) {
	if lane != "" {
		c.r.State(lane, s, why)
	}
}

func (c *compareRun) finished() { c.track("tasks done", &c.done, 1) }

// track adds delta to n and draws its new value on the track name.
func (c *compareRun) track(name string, n *atomic.Int64, delta int64) {
	c.trackMu.Lock()
	c.r.Counter(name, float64(n.Add(delta)))
	c.trackMu.Unlock()
}

func (c *compareRun) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

// --- The work of one task, on the calling goroutine -------------------------

// doTask does task i (1-based) on the calling goroutine, drawn on lane.
// locked makes shared-state updates take counterMu.
func (c *compareRun) doTask(lane string, i int, locked bool) error {
	sz := c.size
	switch c.workload {
	case "cpu":
		c.state(lane, event.Active, fmt.Sprintf("task %d: computing %d ms", i, sz.cpuMS))
		return cpuWork(c.ctx, c.rounds, sz.cpuMS)
	case "io":
		c.state(lane, event.IO, fmt.Sprintf("task %d: HTTP GET, the server answers after %d ms", i, sz.waitMS))
		return httpGet(c.ctx, c.client, c.url)
	case "many-io":
		c.state(lane, event.Sleep, fmt.Sprintf("task %d: waiting %d ms", i, sz.waitMS))
		c.track("waits in flight", &c.inFlight, 1)
		err := sleepCtx(c.ctx, time.Duration(sz.waitMS)*time.Millisecond)
		c.track("waits in flight", &c.inFlight, -1)
		return err
	case "mixed":
		c.state(lane, event.IO, fmt.Sprintf("task %d: HTTP GET, the server answers after %d ms", i, sz.waitMS))
		if err := httpGet(c.ctx, c.client, c.url); err != nil {
			return err
		}
		c.state(lane, event.Active, fmt.Sprintf("task %d: computing %d ms", i, sz.cpuMS))
		return cpuWork(c.ctx, c.rounds, sz.cpuMS)
	case "external":
		p, err := c.startProgram(i, lane)
		if err != nil {
			return err
		}
		c.state(lane, event.Blocked, fmt.Sprintf("task %d: waiting for program %d (pid %d) to exit", i, i, p.cmd.Process.Pid))
		return c.waitProgram(p)
	case "shared-state":
		if locked {
			c.state(lane, event.Active, fmt.Sprintf("task %d: %d updates, each read-modify-write under a sync.Mutex", i, sz.updates))
		} else {
			c.state(lane, event.Active, fmt.Sprintf("task %d: %d updates, nobody else running: no lock", i, sz.updates))
		}
		return c.addOnes(sz.updates, locked)
	}
	return fmt.Errorf("unknown workload %q", c.workload)
}

// addOnes adds one to the shared counter n times: read, add one, write back.
func (c *compareRun) addOnes(n int, locked bool) error {
	for k := 0; k < n; k++ {
		if k%1024 == 0 && c.ctx.Err() != nil {
			return c.ctx.Err()
		}
		if locked {
			c.counterMu.Lock()
		}
		v := c.counter + 1 // read, add one
		c.counter = v      // write back
		if v%counterEvery == 0 {
			c.r.Counter("counter", float64(v))
		}
		if locked {
			c.counterMu.Unlock()
		}
	}
	return nil
}

// newRequestClient returns the client of the io and mixed tasks: a new
// connection per request, closed after the answer, as the python engine's
// urllib makes against its HTTP/1.0 server.
func newRequestClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// --- summary ------------------------------------------------------------------------------

func (c *compareRun) summary(wall, cpu int64, err error) event.Summary {
	self := selfRSS()
	peak := self + c.childRSS
	ms := func(ns int64) float64 { return round2(float64(ns) / 1e6) }
	util := float64(cpu) / float64(max(wall, 1))
	done := c.done.Load()
	correct := err == nil && c.wrong == 0 && done == int64(c.size.tasks)
	// The same convention on both engines: every process's own peak
	// (VmHWM), the runner's and each child's as it reported it, summed.
	const rssLabel = "memory: the main process's peak plus each child process's own private memory (read when it finished its work), summed"
	m := map[string]event.Metric{
		"wall":            {Value: ms(wall), Unit: "ms", Label: "wall time of the work"},
		"cpu":             {Value: ms(cpu), Unit: "ms", Label: "CPU time of the runner (the loopback server's goroutines included) and of the child processes it waited for, during the work"},
		"cpu_utilization": {Value: round2(util), Label: "CPU time over wall time: above 1, several cores worked at once"},
		"tasks":           {Value: float64(c.size.tasks), Label: "tasks (" + c.workload + ")"},
		"tasks_done":      {Value: float64(done), Label: "tasks finished"},
		"workers":         {Value: float64(c.used), Label: c.workersLabel()},
		"peak_rss":        {Value: float64(peak), Unit: "bytes", Label: rssLabel},
		"peak_rss_main":   {Value: float64(self), Unit: "bytes", Label: "peak memory of the runner, the main process (its own VmHWM; the loopback server's goroutines included)"},
		"child_processes": {Value: float64(c.childPeaks), Label: "child processes of the model whose peaks are added"},
		"correct":         {Value: b2f(correct), Label: "1 when every task finished with the right result"},
	}
	if c.rounds > 0 {
		how := "measured at the start of this run"
		if c.r.Params.Int(scenarios.ParamCalibration) > 0 {
			how = "given: measured by the comparison's first model"
		}
		m[scenarios.ParamCalibration] = event.Metric{Value: float64(c.rounds), Unit: "rounds/ms", Label: "the CPU work's calibration: spin rounds one core computes per ms (" + how + ")"}
	}
	if c.childPeaks > 0 {
		m["peak_rss_children"] = event.Metric{Value: float64(c.childRSS), Unit: "bytes", Label: "the child processes' own private memory, summed (pages they share with the runner, like the binary, counted once)"}
		m["peak_rss_child_max"] = event.Metric{Value: float64(c.childMax), Unit: "bytes", Label: "the largest private memory of one child process"}
	}
	if c.children > 0 {
		m["processes"] = event.Metric{Value: float64(c.children), Label: "child processes started"}
	}
	if c.startupNS > 0 {
		m["startup_total"] = event.Metric{Value: msPrecise(c.startupNS), Unit: "ms", Label: "worker processes' start-up (fork, exec, runtime start), summed"}
		m["startup_max"] = event.Metric{Value: msPrecise(c.startupMax), Unit: "ms", Label: "the slowest worker process's start-up"}
		m["serialization"] = event.Metric{Value: msPrecise(c.serialNS), Unit: "ms", Label: "encoding and decoding jobs and results (gob, as pickle): the parent's encode and decode, the worker's decode"}
	}
	var lost int64
	if c.workload == "shared-state" {
		expected := int64(c.size.tasks) * int64(c.size.updates)
		lost = expected - c.counter
		m["lost_updates"] = event.Metric{Value: float64(lost), Label: fmt.Sprintf("updates lost (expected %d, counted %d)", expected, c.counter)}
		m["per_update"] = event.Metric{Value: round2(float64(wall) / 1e3 / float64(max(c.counter, 1))), Unit: "µs", Label: "wall time per update (start-up included)"}
	}
	if c.model == scenarios.ModelAsyncio {
		m["loop_busy"] = event.Metric{Value: ms(c.loopBusyNS), Unit: "ms", Label: "time the loop spent running task steps (the rest it waited in the selector)"}
	}
	return event.Summary{WallNS: wall, CPUNS: cpu, Metrics: m}
}

func (c *compareRun) workersLabel() string {
	switch c.model {
	case scenarios.ModelSequential:
		return "goroutines doing the work: the main one"
	case scenarios.ModelAsyncio:
		return "goroutines running tasks: the event loop's one"
	case scenarios.ModelProcesses:
		return "processes at once, at most: one process per task"
	case scenarios.ModelSubprocess:
		return "programs running at once"
	case scenarios.ModelPool:
		if c.workload == "many-io" {
			return "pool goroutines taking tasks from the queue"
		}
		return "pool worker processes, fed chunks of tasks"
	}
	return "goroutines: one per task"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
