package goengine

// compare: one workload under one model, one row of the decision matrix.
// /compare runs every model that applies to a workload, one after another,
// and sets the measurements side by side; this file is one of those runs.
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
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

func init() {
	register(scenarios.CompareID, scenario{run: runCompare, source: "compare.go"})
	childRoles[roleCompareWorker] = compareWorkerMain
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
		r.State(mainLane, event.Active, "calibrating the CPU work: how many rounds make 1 ms on one core")
		c.rounds = calibrate()
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

// --- threads: goroutines ------------------------------------------------------

// goroutinePool runs the tasks on c.workers goroutines taking them from a
// queue: the many-io pool, as a ThreadPoolExecutor of `workers` threads.
func (c *compareRun) goroutinePool(name string) error {
	queue := make(chan int, c.size.tasks)
	for i := 1; i <= c.size.tasks; i++ {
		queue <- i
	}
	close(queue)
	c.used = c.workers
	r := c.r
	r.State(mainLane, event.Blocked, fmt.Sprintf("waiting for %d goroutines to take every task from the queue", c.workers))
	c.track("tasks queued", &c.queued, int64(c.size.tasks))
	locked := c.workload == "shared-state"
	var wg sync.WaitGroup
	for w := 1; w <= c.workers; w++ {
		lane := fmt.Sprintf("worker-%d", w)
		r.Emit(event.Event{K: event.KindLane, ID: lane, Kind: event.LaneGoroutine, Name: fmt.Sprintf("%s %d (goroutine)", name, w), Parent: mainLane, Group: "goroutines"})
		r.State(lane, event.Runnable, "started, about to take a task")
		wg.Go(func() {
			labelGoroutine(c.ctx, lane)
			for i := range queue {
				c.track("tasks queued", &c.queued, -1)
				if err := c.doTask(lane, i, locked); err != nil {
					c.fail(err)
					break
				}
				c.finished()
			}
			r.State(lane, event.Done, "no task left in the queue")
		})
	}
	wg.Wait()
	return nil
}

// goroutinePerTask is the threads model: a goroutine for every task, all
// started at once, as the python engine starts a threading.Thread per task.
// Shared-state updates take counterMu.
func (c *compareRun) goroutinePerTask() error {
	c.used = c.size.tasks
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("starting %d goroutines, one per task, and waiting for them all", c.size.tasks))
	locked := c.workload == "shared-state"
	var wg sync.WaitGroup
	for i := 1; i <= c.size.tasks; i++ {
		lane := ""
		if c.drawn(i) {
			lane = fmt.Sprintf("g-%d", i)
			c.r.Emit(event.Event{K: event.KindLane, ID: lane, Kind: event.LaneGoroutine, Name: fmt.Sprintf("goroutine %d", i), Parent: mainLane, Group: "goroutines"})
		}
		wg.Go(func() {
			if lane != "" {
				labelGoroutine(c.ctx, lane)
			}
			if err := c.doTask(lane, i, locked); err != nil {
				c.fail(err)
				return
			}
			c.finished()
			c.state(lane, event.Done, "")
		})
	}
	wg.Wait()
	return nil
}

// --- external programs ----------------------------------------------------------

// program is one run of the external program: the compute role of this
// binary, re-executed with computeMSEnv, a process of its own.
type program struct {
	n    int
	lane string
	cmd  *exec.Cmd
	out  *os.File // read end of its stdout
}

// startProgram starts program n, drawn as a child of parent.
func (c *compareRun) startProgram(n int, parent string) (*program, error) {
	cmd, err := selfCommand(c.ctx, roleCompute, computeMSEnv+"="+strconv.Itoa(c.size.cpuMS), "LC_ALL=C")
	if err != nil {
		return nil, err
	}
	// Its stdout is a pipe read once it has exited: it prints one line, far
	// less than a pipe holds, so nothing waits for a reader meanwhile.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	cmd.Stdout = pw
	t0 := c.r.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("start program %d: %w", n, err)
	}
	if parent == "" {
		parent = mainLane
	}
	p := &program{n: n, lane: fmt.Sprintf("prog-%d", n), cmd: cmd, out: pr}
	pid := cmd.Process.Pid
	c.r.Emit(event.Event{T: t0, K: event.KindLane, ID: p.lane, Kind: event.LaneProcess, Name: fmt.Sprintf("program %d: compute (pid %d)", n, pid), Parent: parent, PID: pid, Group: "programs"})
	c.r.Emit(event.Event{T: t0, K: event.KindState, Lane: p.lane, S: event.Active, Why: fmt.Sprintf("computing %d ms: its own process, scheduled by the OS", c.size.cpuMS), Src: event.SrcApp})
	c.r.Flow(parent, p.lane, fmt.Sprintf("start pid %d (fork/exec)", pid))
	c.mu.Lock()
	c.children++
	c.mu.Unlock()
	return p, nil
}

// waitProgram reads what program p printed and waits for it to exit.
func (c *compareRun) waitProgram(p *program) error {
	out, _ := io.ReadAll(io.LimitReader(p.out, 64<<10))
	p.out.Close()
	err := p.cmd.Wait()
	code := p.cmd.ProcessState.ExitCode()
	// The program reports its own peak memory (see selfRSS for why rusage
	// cannot tell it).
	if _, rest, ok := bytes.Cut(out, []byte(computePeakPrefix+" ")); ok {
		kib, _, _ := bytes.Cut(rest, []byte(" "))
		if n, err := strconv.ParseInt(string(kib), 10, 64); err == nil {
			c.addChildPeak(n << 10)
		}
	}
	if len(out) > 0 {
		c.r.Output(p.lane, "stdout", string(out))
	}
	c.r.Mark(p.lane, fmt.Sprintf("exit code %d", code))
	c.r.State(p.lane, event.Done, fmt.Sprintf("exited with code %d", code))
	if err != nil {
		return fmt.Errorf("program %d: %w", p.n, err)
	}
	if !bytes.HasPrefix(out, []byte("compute: ")) {
		c.mu.Lock()
		c.wrong++
		c.mu.Unlock()
	}
	return nil
}

// subprocesses starts every program, then waits for each in turn.
func (c *compareRun) subprocesses() error {
	c.used = c.size.tasks
	var ps []*program
	for i := 1; i <= c.size.tasks; i++ {
		c.r.State(mainLane, event.Active, fmt.Sprintf("starting program %d (subprocess.Popen)", i))
		p, err := c.startProgram(i, mainLane)
		if err != nil {
			c.fail(err)
			break
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		c.r.State(mainLane, event.Blocked, fmt.Sprintf("waiting for program %d (pid %d) to exit", p.n, p.cmd.Process.Pid))
		if err := c.waitProgram(p); err != nil {
			c.fail(err)
			continue
		}
		c.finished()
	}
	return nil
}

// --- asyncio: the event loop model ---------------------------------------------------

// asyncio runs a task per task on the cooperative loop of asyncio.go: one
// goroutine; every wait is an await that gives the loop back.
func (c *compareRun) asyncio() error {
	l := &eventLoop{r: c.r, ctx: c.ctx, lastReady: -1, lastWait: -1}
	var sel *epollSelector
	if c.workload == "io" || c.workload == "mixed" || c.workload == "external" {
		var err error
		if sel, err = newEpollSelector(); err != nil {
			return err
		}
		defer sel.close()
		l.selector = sel
	}
	c.used = 1
	c.r.Lane(loopLane, event.LaneLoop, "event loop (one goroutine: a model of asyncio)", mainLane)
	c.r.State(mainLane, event.Blocked, "asyncio.run: the loop runs until every task has returned")
	labelGoroutine(c.ctx, loopLane)
	c.r.Mark(loopLane, asyncioModelNote(c.workload))
	progs := map[*asyncTask]*program{} // programs started and not yet waited for
	for i := 1; i <= c.size.tasks; i++ {
		t := &asyncTask{n: i}
		if c.drawn(i) {
			t.lane = fmt.Sprintf("task-%d", i)
			c.r.Emit(event.Event{K: event.KindLane, ID: t.lane, Kind: event.LaneTask, Name: fmt.Sprintf("task %d", i), Parent: loopLane, Group: "tasks"})
			c.r.State(t.lane, event.Runnable, "created: in the ready queue")
		}
		t.created = c.r.Now()
		t.coro = c.coroutine(sel, progs)
		l.ready = append(l.ready, t)
	}
	l.pending = c.size.tasks
	err := l.run(c.ctx)
	c.loopBusyNS = l.busyNS
	c.r.State(loopLane, event.Done, "every task returned")
	// Only a stopped run leaves programs behind: the context killed them;
	// reap them.
	for _, p := range progs {
		p.out.Close()
		_ = p.cmd.Wait()
	}
	return err
}

func asyncioModelNote(workload string) string {
	const model = "a model of asyncio: one goroutine, a ready queue, a timer heap"
	switch workload {
	case "io", "mixed":
		return model + " and epoll_wait on real non-blocking sockets to the loopback server"
	case "external":
		return model + " and epoll_wait on each program's pidfd (readable when it exits)"
	}
	return model
}

// coroutine returns the coroutine of one task of the workload: each call
// runs it to its next await (or its end, returning true).
func (c *compareRun) coroutine(sel *epollSelector, progs map[*asyncTask]*program) func(l *eventLoop, t *asyncTask) bool {
	sz := c.size
	var sock *loopSocket // io, mixed: the task's connection
	return func(l *eventLoop, t *asyncTask) bool {
		fail := func(err error) bool {
			c.fail(fmt.Errorf("task %d: %w", t.n, err))
			return true
		}
		switch c.workload {
		case "cpu":
			l.taskState(t, event.Active, fmt.Sprintf("computing %d ms inline: no await, every other task waits", sz.cpuMS))
			if err := cpuWork(c.ctx, c.rounds, sz.cpuMS); err != nil {
				return fail(err)
			}
		case "shared-state":
			l.taskState(t, event.Active, fmt.Sprintf("%d updates: one goroutine, no await between read and write, so no lock", sz.updates))
			if err := c.addOnes(sz.updates, false); err != nil {
				return fail(err)
			}
		case "many-io":
			if t.step == stepStart {
				l.taskState(t, event.Sleep, fmt.Sprintf("await asyncio.sleep(%d ms): a timer in the heap", sz.waitMS))
				c.track("waits in flight", &c.inFlight, 1)
				t.step, t.due = stepAfterAwait, c.r.Now()+int64(sz.waitMS)*1e6
				heap.Push(&l.timers, t)
				return false
			}
			c.track("waits in flight", &c.inFlight, -1)
		case "io", "mixed":
			if sock == nil {
				sock = &loopSocket{addr: c.srv.Listener.Addr().(*net.TCPAddr), req: fmt.Sprintf("GET /slow?ms=%d HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", sz.waitMS)}
			}
			doneIO, err := sock.step(l, t, sel, sz.waitMS)
			if err != nil {
				return fail(err)
			}
			if !doneIO {
				return false
			}
			if c.workload == "mixed" {
				l.taskState(t, event.Active, fmt.Sprintf("computing %d ms inline: every other task waits", sz.cpuMS))
				if err := cpuWork(c.ctx, c.rounds, sz.cpuMS); err != nil {
					return fail(err)
				}
			}
		case "external":
			if t.step == stepStart {
				p, err := c.startProgram(t.n, t.lane)
				if err != nil {
					return fail(err)
				}
				progs[t] = p
				pidfd, err := unix.PidfdOpen(p.cmd.Process.Pid, unix.PIDFD_NONBLOCK)
				if err == nil {
					err = sel.register(pidfd, unix.EPOLLIN, t)
				}
				if err != nil {
					return fail(fmt.Errorf("watch program %d: %w", t.n, err))
				}
				t.step = stepAfterAwait
				l.taskState(t, event.IO, "await proc.wait(): the loop watches the program's pidfd")
				return false
			}
			p := progs[t]
			delete(progs, t)
			if err := c.waitProgram(p); err != nil {
				return fail(err)
			}
		}
		c.finished()
		return true
	}
}

// loopSocket is one HTTP request of an asyncio task on a real non-blocking
// socket: connect, send the request, read the answer to its end.
type loopSocket struct {
	addr  *net.TCPAddr
	req   string
	fd    int
	phase int // 0 connect, 1 connecting, 2 reading
	resp  []byte
}

// step advances the request as far as it can without blocking; it reports
// whether the answer is complete, or registers the socket with the selector
// and returns false.
func (s *loopSocket) step(l *eventLoop, t *asyncTask, sel *epollSelector, waitMS int) (bool, error) {
	switch s.phase {
	case 0:
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return false, fmt.Errorf("socket: %w", err)
		}
		s.fd = fd
		sa := &unix.SockaddrInet4{Port: s.addr.Port}
		copy(sa.Addr[:], s.addr.IP.To4())
		if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
			unix.Close(fd)
			return false, fmt.Errorf("connect: %w", err)
		}
		s.phase = 1
		l.taskState(t, event.IO, "await open_connection(): connecting")
		return false, s.await(sel, t, unix.EPOLLOUT)
	case 1:
		soErr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soErr != 0 {
			err = syscall.Errno(soErr)
		}
		if err != nil {
			unix.Close(s.fd)
			return false, fmt.Errorf("connect: %w", err)
		}
		// The request is a few dozen bytes: a fresh socket's buffer takes it whole.
		if n, err := unix.Write(s.fd, []byte(s.req)); err != nil || n != len(s.req) {
			unix.Close(s.fd)
			return false, fmt.Errorf("send request: wrote %d of %d bytes: %v", n, len(s.req), err)
		}
		s.phase = 2
		l.taskState(t, event.IO, fmt.Sprintf("await reader.read(): the server answers after %d ms", waitMS))
		return false, s.await(sel, t, unix.EPOLLIN)
	}
	var buf [4096]byte
	for {
		n, err := unix.Read(s.fd, buf[:])
		switch {
		case errors.Is(err, unix.EAGAIN):
			return false, s.await(sel, t, unix.EPOLLIN)
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			unix.Close(s.fd)
			return false, fmt.Errorf("read answer: %w", err)
		case n > 0:
			s.resp = append(s.resp, buf[:n]...)
			continue
		}
		// End of the answer: the server closes an HTTP/1.0 connection.
		unix.Close(s.fd)
		status, _, _ := bytes.Cut(s.resp, []byte("\r\n"))
		if !bytes.HasPrefix(status, []byte("HTTP/1.")) || !bytes.Contains(status, []byte(" 200 ")) {
			return false, fmt.Errorf("answer %q, want 200", status)
		}
		return true, nil
	}
}

func (s *loopSocket) await(sel *epollSelector, t *asyncTask, events uint32) error {
	if err := sel.register(s.fd, events, t); err != nil {
		unix.Close(s.fd)
		return err
	}
	return nil
}

// epollSelector is the loop's selector for real descriptors: epoll, as
// asyncio's default selector on Linux.
type epollSelector struct {
	epfd   int
	tasks  map[int]*asyncTask // registered descriptor -> the task awaiting it
	events []unix.EpollEvent
}

func newEpollSelector() (*epollSelector, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &epollSelector{epfd: fd, tasks: map[int]*asyncTask{}, events: make([]unix.EpollEvent, 256)}, nil
}

// register makes t wait until fd is ready for events.
func (s *epollSelector) register(fd int, events uint32, t *asyncTask) error {
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	s.tasks[fd] = t
	return nil
}

func (s *epollSelector) waiting() int { return len(s.tasks) }

// selectorMaxWait bounds one epoll_wait, so that a stopped run is noticed.
const selectorMaxWait = 100 * time.Millisecond

func (s *epollSelector) wait(ctx context.Context, timeout time.Duration) ([]*asyncTask, error) {
	timeout = min(max(timeout, 0), selectorMaxWait)
	n, err := unix.EpollWait(s.epfd, s.events, int((timeout+time.Millisecond-1)/time.Millisecond))
	if errors.Is(err, unix.EINTR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("epoll_wait: %w", err)
	}
	var woken []*asyncTask
	for _, ev := range s.events[:n] {
		fd := int(ev.Fd)
		if t, ok := s.tasks[fd]; ok {
			delete(s.tasks, fd)
			_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, fd, nil)
			woken = append(woken, t)
		}
	}
	return woken, nil
}

// close closes the selector and what is still registered (a stopped run).
func (s *epollSelector) close() {
	for fd := range s.tasks {
		unix.Close(fd)
	}
	unix.Close(s.epfd)
}

// --- processes and pool: worker processes ----------------------------------------------

// compareJob is what the parent sends a compare worker: tasks to do one
// after another.
type compareJob struct {
	Workload      string
	Tasks         []int
	WaitMS, CPUMS int
	Updates       int
	RoundsPerMS   int64
	URL           string
}

// compareResult is a worker's answer to a job.
type compareResult struct {
	PID      int
	Done     int
	DecodeNS int64 // decoding the job, measured in the worker
	// PeakRSS is the worker's own peak resident memory so far (VmHWM),
	// bytes, read as it sends the result; it exits only after its last.
	PeakRSS int64
	Err     string
}

// startWorker starts one compare worker, drawn on lane as name, and waits
// until it is ready. The shared counter's memory, if any, is open in it.
func (c *compareRun) startWorker(lane, name, group string) (*workerProcess, error) {
	opt := roleProcessOptions{group: group}
	var env []string
	if c.shared != nil {
		opt.files = []*os.File{c.shared.file}
		env = append(env, sharedCounterFDEnv+"=4")
	}
	w, err := startRoleProcessWith(c.ctx, c.r, roleCompareWorker, lane, name, mainLane, opt, env...)
	if err != nil {
		return nil, err
	}
	w.ownMemoryOnly = true
	d := w.readyT - w.spawnT
	c.mu.Lock()
	c.children++
	c.startupNS += d
	c.startupMax = max(c.startupMax, d)
	c.mu.Unlock()
	return w, nil
}

// finishWorker closes the worker's stdin, waits for it to exit and adds its
// own peak memory (see workerProcess.finish) to the children's.
func (c *compareRun) finishWorker(w *workerProcess) error {
	peak, err := w.finish()
	c.addChildPeak(peak)
	c.r.Mark(w.lane, fmt.Sprintf("exited; its own (private) memory %s", formatBytes(int(peak))))
	if err != nil && c.ctx.Err() == nil {
		return err
	}
	return nil
}

// addChildPeak adds one child process's own peak memory (VmHWM), bytes.
func (c *compareRun) addChildPeak(peak int64) {
	if peak <= 0 {
		return
	}
	c.mu.Lock()
	c.childRSS += peak
	c.childMax = max(c.childMax, peak)
	c.childPeaks++
	c.mu.Unlock()
}

func (c *compareRun) job(tasks []int) compareJob {
	return compareJob{Workload: c.workload, Tasks: tasks, WaitMS: c.size.waitMS, CPUMS: c.size.cpuMS, Updates: c.size.updates,
		RoundsPerMS: c.rounds, URL: c.url}
}

// processPerTask starts a new process for every task, at most c.workers at
// once: with c.workers running, it waits for the oldest to exit before it
// starts the next, as the python engine joins the oldest
// multiprocessing.Process.
func (c *compareRun) processPerTask() error {
	c.used = c.workers
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("starting a process per task, %d at a time", c.workers))
	var running []chan struct{} // oldest first; closed when the process has exited
	for i := 1; i <= c.size.tasks && c.ctx.Err() == nil; i++ {
		for len(running) >= c.workers {
			<-running[0]
			running = running[1:]
		}
		exited := make(chan struct{})
		running = append(running, exited)
		go func() {
			defer close(exited)
			if err := c.taskProcess(i); err != nil {
				c.fail(err)
			}
		}()
	}
	for _, exited := range running {
		<-exited
	}
	return nil
}

// taskProcess is the life of one task's process: start, its one task, exit.
func (c *compareRun) taskProcess(i int) error {
	w, err := c.startWorker(fmt.Sprintf("task-%d", i), fmt.Sprintf("task %d (a process of its own)", i), "processes")
	if err != nil {
		return err
	}
	if err := c.exchange(w, c.job([]int{i})); err != nil {
		w.kill()
		return err
	}
	return c.finishWorker(w)
}

// mapChunksize is how many tasks Pool.map sends a worker at once by default:
// the tasks over four times the workers, rounded up.
func mapChunksize(tasks, workers int) int {
	return (tasks + 4*workers - 1) / (4 * workers)
}

// processPool starts `workers` worker processes, as multiprocessing.Pool
// does (even when there are fewer tasks), and feeds them chunks of tasks
// (Pool.map's default chunk size) as each becomes free.
func (c *compareRun) processPool() error {
	n := c.r.Params.Int("workers")
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("starting a pool of %d worker processes", n))
	ws := make([]*workerProcess, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			ws[k], errs[k] = c.startWorker(fmt.Sprintf("worker-%d", k+1), fmt.Sprintf("pool worker %d", k+1), "workers")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, w := range ws {
			if w != nil {
				w.kill()
			}
		}
		return err
	}
	c.used = n
	chunk := mapChunksize(c.size.tasks, n)
	queue := make(chan []int, c.size.tasks)
	for i := 1; i <= c.size.tasks; i += chunk {
		var tasks []int
		for j := i; j < i+chunk && j <= c.size.tasks; j++ {
			tasks = append(tasks, j)
		}
		queue <- tasks
	}
	close(queue)
	c.track("tasks queued", &c.queued, int64(c.size.tasks))
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("pool.map: %d tasks to %d workers, %d at a time (chunksize %d)", c.size.tasks, n, chunk, chunk))
	for _, w := range ws {
		wg.Go(func() {
			for tasks := range queue {
				c.track("tasks queued", &c.queued, -int64(len(tasks)))
				if err := c.exchange(w, c.job(tasks)); err != nil {
					c.fail(err)
					w.kill()
					return
				}
			}
		})
	}
	wg.Wait()
	c.r.State(mainLane, event.Blocked, "pool.close(); pool.join(): the workers exit")
	var ferrs []error
	for _, w := range ws {
		ferrs = append(ferrs, c.finishWorker(w))
	}
	return errors.Join(ferrs...)
}

// exchange sends job to worker w and takes its result.
func (c *compareRun) exchange(w *workerProcess, job compareJob) error {
	t0 := time.Now()
	frame, err := gobEncode(job)
	encodeNS := int64(time.Since(t0))
	if err != nil {
		return fmt.Errorf("encode job: %w", err)
	}
	c.r.Flow(mainLane, w.lane, fmt.Sprintf("%s: %s (gob)", taskRange(job.Tasks), formatBytes(len(frame))))
	if err := w.send(frame); err != nil {
		return err
	}
	f, err := readFrame(w.out)
	if err != nil {
		return fmt.Errorf("worker pid %d: %w %s", w.pid, err, w.stderr.String())
	}
	t1 := time.Now()
	var res compareResult
	err = gobDecode(f, &res)
	decodeNS := int64(time.Since(t1))
	if err != nil {
		return fmt.Errorf("decode result of worker pid %d: %w", w.pid, err)
	}
	c.r.Flow(w.lane, mainLane, fmt.Sprintf("result: %s (gob)", formatBytes(len(f))))
	w.reportPeak(res.PeakRSS)
	c.mu.Lock()
	c.serialNS += encodeNS + res.DecodeNS + decodeNS
	c.mu.Unlock()
	if res.Err != "" {
		return fmt.Errorf("worker pid %d: %s", res.PID, res.Err)
	}
	for range res.Done {
		c.finished()
	}
	return nil
}

func taskRange(tasks []int) string {
	if len(tasks) == 1 {
		return fmt.Sprintf("task %d", tasks[0])
	}
	return fmt.Sprintf("tasks %d-%d", tasks[0], tasks[len(tasks)-1])
}

// compareWorkerMain is a compare worker process: it announces itself, then
// does jobs from stdin until stdin closes.
func compareWorkerMain() error {
	w, err := openWorkerSide()
	if err != nil {
		return err
	}
	defer w.close()
	cw := &compareWorker{em: w.em, lane: w.lane, client: newRequestClient()}
	if fd := os.Getenv(sharedCounterFDEnv); fd != "" {
		n, err := strconv.Atoi(fd)
		if err != nil {
			return fmt.Errorf("%s: %w", sharedCounterFDEnv, err)
		}
		if cw.shared, err = mapSharedCounter(os.NewFile(uintptr(n), "shared-counter")); err != nil {
			return err
		}
		defer cw.shared.close()
	}
	return w.serve(func(frame []byte) ([][]byte, error) {
		t0 := time.Now()
		var job compareJob
		if err := gobDecode(frame, &job); err != nil {
			return nil, fmt.Errorf("decode job: %w", err)
		}
		res := compareResult{PID: os.Getpid(), DecodeNS: int64(time.Since(t0))}
		if err := cw.do(job, &res); err != nil {
			res.Err = err.Error()
		}
		res.PeakRSS = ownMemoryOf("self")
		b, err := gobEncode(res)
		if err != nil {
			return nil, fmt.Errorf("encode result: %w", err)
		}
		return [][]byte{b}, nil
	})
}

// compareWorker is the state of a compare worker process.
type compareWorker struct {
	em     *Emitter
	lane   string
	client *http.Client
	shared *sharedCounter // shared-state: the counter every worker maps
}

// do does the job's tasks one after another.
func (w *compareWorker) do(job compareJob, res *compareResult) error {
	ctx := context.Background() // the parent kills the worker to stop it
	for _, i := range job.Tasks {
		switch job.Workload {
		case "cpu":
			_, _ = measuredCPUWork(ctx, w.em, w.lane, fmt.Sprintf("task %d: computing %d ms", i, job.CPUMS), job.RoundsPerMS, job.CPUMS)
		case "io", "mixed":
			w.em.State(w.lane, event.IO, fmt.Sprintf("task %d: HTTP GET, the server answers after %d ms", i, job.WaitMS))
			if err := httpGet(ctx, w.client, job.URL); err != nil {
				return err
			}
			if job.Workload == "mixed" {
				_, _ = measuredCPUWork(ctx, w.em, w.lane, fmt.Sprintf("task %d: computing %d ms", i, job.CPUMS), job.RoundsPerMS, job.CPUMS)
			}
		case "shared-state":
			if w.shared == nil {
				return errors.New("shared-state: no shared counter in this worker")
			}
			w.em.State(w.lane, event.Active, fmt.Sprintf("task %d: %d updates of the shared counter (shared memory), each under the process-shared lock", i, job.Updates))
			for range job.Updates {
				w.shared.addOne()
			}
		default:
			return fmt.Errorf("workload %q does not run in worker processes", job.Workload)
		}
		res.Done++
	}
	return nil
}

// --- the shared counter of processes: shared memory and a futex --------------------------

// sharedCounterFDEnv names the descriptor a compare worker finds the shared
// counter's memory on.
const sharedCounterFDEnv = "INTERLEAVE_SHARED_COUNTER_FD"

// Linux futex operations (not private: the word is shared between processes).
const (
	futexWait = 0
	futexWake = 1
)

// sharedCounter is the shared-state counter of the processes and pool
// models, as multiprocessing.Value("q", 0) is on the python engine: an int64
// in shared memory (a memfd that every worker maps) and, beside it, a lock
// every process can take: a futex word, as a POSIX semaphore is. Taking it
// is one compare-and-swap while it is free; a process that finds it held
// sleeps in the kernel until the holder wakes it.
type sharedCounter struct {
	file  *os.File
	mem   []byte
	value *int64
	lock  *uint32 // 0 free, 1 held, 2 held and someone may be waiting
}

// newSharedCounter creates the counter's shared memory, at zero.
func newSharedCounter() (*sharedCounter, error) {
	fd, err := unix.MemfdCreate("interleave-shared-counter", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "shared-counter")
	if err := unix.Ftruncate(fd, int64(os.Getpagesize())); err != nil {
		f.Close()
		return nil, fmt.Errorf("ftruncate: %w", err)
	}
	return mapSharedCounter(f)
}

// mapSharedCounter maps the counter's memory from f, which it then owns.
func mapSharedCounter(f *os.File) (*sharedCounter, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mmap the shared counter: %w", err)
	}
	return &sharedCounter{file: f, mem: mem, value: (*int64)(unsafe.Pointer(&mem[0])), lock: (*uint32)(unsafe.Pointer(&mem[8]))}, nil
}

func (s *sharedCounter) close() {
	_ = unix.Munmap(s.mem)
	s.file.Close()
}

func (s *sharedCounter) load() int64 { return atomic.LoadInt64(s.value) }

// addOne is one update: take the lock, read, add one, write back, release.
func (s *sharedCounter) addOne() {
	s.acquire()
	v := atomic.LoadInt64(s.value)  // read
	atomic.StoreInt64(s.value, v+1) // add one, write back
	s.release()
}

func (s *sharedCounter) acquire() {
	if atomic.CompareAndSwapUint32(s.lock, 0, 1) {
		return
	}
	// Held: mark it contended and sleep until the word changes.
	for atomic.SwapUint32(s.lock, 2) != 0 {
		_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(s.lock)), futexWait, 2, 0, 0, 0)
	}
}

func (s *sharedCounter) release() {
	if atomic.SwapUint32(s.lock, 0) == 2 {
		_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(s.lock)), futexWake, 1, 0, 0, 0)
	}
}

// sampleShared draws the shared counter's track until stop is closed, then
// its final value.
func (c *compareRun) sampleShared(stop <-chan struct{}) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	last := int64(0)
	for {
		select {
		case <-stop:
			c.r.Counter("counter", float64(c.shared.load()))
			return
		case <-t.C:
			if v := c.shared.load(); v != last {
				last = v
				c.r.Counter("counter", float64(v))
			}
		}
	}
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
