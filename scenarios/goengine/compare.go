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
// Models, in Go:
//
//	sequential  one task after another on the main goroutine
//	threads     goroutines, Go's threads: `workers` of them taking tasks from
//	            a queue; one per wait (many-io) or per program (external).
//	            Go has no GIL: they compute on every core at once.
//	asyncio     a model: one goroutine runs the cooperative event loop of
//	            asyncio.go, a task per task. Waits are real: timers for
//	            many-io, non-blocking sockets and pidfds watched with
//	            epoll_wait for io, mixed and external. CPU work runs inline.
//	processes   `workers` worker processes (this binary re-executed), the
//	            tasks split among them in one job each
//	pool        `workers` worker processes fed one task at a time; for
//	            many-io, `workers` goroutines taking waits from a queue
//	subprocess  (external) start every program, then wait for each
//
// shared-state under processes: processes share no memory, so the counter
// lives in the parent and every update is a message to it ("add one") and a
// reply (the new value) over the worker's pipes. That is correct, no update
// is lost, and slow: a round trip between processes per update. (The other
// honest choice, each process incrementing its own copy and sending it back,
// loses updates; the pool model shows the correct way to split such work:
// each worker counts its share alone and the parent sums the partial counts.)
//
// wall_ns and cpu_ns cover the work only (not calibration or starting the
// loopback server); cpu_ns is the CPU time of the runner and of every child
// process it waited for during the work. peak_rss is the runner's own peak
// resident memory plus the sum of its child processes' peaks, each read from
// VmHWM (the peak of one address space) and reported by the process itself:
// getrusage's ru_maxrss would start at the parent's peak (see selfRSS).

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
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
//	io            small  16 × 50 ms wait  sequential 0.8 s, threads 0.2 s, asyncio 0.05 s
//	              medium 32 × 100 ms      3.2 s / 0.8 s;  large 64 × 100 ms: 6.4 s / 1.6 s
//	many-io       small  200 × 20 ms      threads, asyncio 0.02 s; pool (4) 1 s
//	              medium 1000 × 20 ms     pool 5 s;       large 2000 × 20 ms: pool 10 s
//	mixed         small  8 × (50 ms wait, 20 ms CPU)     sequential 0.56 s
//	              medium 16 × (100, 50)   1.6 s;          large 32 × (100, 100): 6.4 s
//	external      small  4 programs × 50 ms CPU          sequential ~0.3 s
//	              medium 8 × 50 ms;       large 16 × 50 ms
//	shared-state  small  4 tasks × 10,000 updates; medium 4 × 50,000; large 8 × 100,000
//	              (milliseconds in one process; processes pay a round trip per update)
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
	// read-modify-write, and the parent's when processes ask it to update.
	counterMu sync.Mutex
	counter   int64

	mu         sync.Mutex
	errs       []error
	wrong      int              // tasks whose result was wrong
	used       int              // workers (goroutines, processes) that did the work
	children   int              // child processes started: workers or programs
	childRSS   int64            // sum of their peak resident memory, bytes
	workerPeak map[string]int64 // by worker lane, as the workers report it
	startupNS  int64            // worker processes' start-up, summed
	startupMax int64
	serialNS   int64 // encoding and decoding jobs and results
	messages   int64 // shared-state under processes: requests and replies
	loopBusyNS int64 // asyncio: time the loop ran task steps
}

func runCompare(ctx context.Context, r *Run) (event.Summary, error) {
	workload, model := r.Params.String("workload"), r.Params.String("model")
	size, ok := compareSizes[workload][r.Params.String("size")]
	if !ok {
		return event.Summary{}, fmt.Errorf("no size %q for workload %q", r.Params.String("size"), workload)
	}
	c := &compareRun{r: r, ctx: ctx, workload: workload, model: model, size: size, workerPeak: map[string]int64{},
		workers: min(r.Params.Int("workers"), size.tasks), stride: (size.tasks + compareLanesDrawn - 1) / compareLanesDrawn}
	r.Lane(mainLane, event.LaneGoroutine, fmt.Sprintf("main goroutine (runner pid %d)", os.Getpid()), "")
	labelGoroutine(ctx, mainLane)
	if workload == "cpu" || workload == "mixed" {
		r.State(mainLane, event.Running, "calibrating the CPU work: how many rounds make 1 ms on one core")
		c.rounds = calibrate()
	}
	if workload == "io" || workload == "mixed" {
		c.srv, c.client = startLatencyServer(r, c.workers)
		defer c.srv.Close()
		defer c.client.CloseIdleConnections()
		c.url = c.srv.URL + "/slow?ms=" + strconv.Itoa(size.waitMS)
	}
	if c.stride > 1 {
		r.Mark(mainLane, fmt.Sprintf("drawing 1 task in %d (%d lanes); every one of the %d tasks is counted", c.stride, (size.tasks+c.stride-1)/c.stride, size.tasks))
	}
	r.Counter("tasks done", 0)
	if workload == "shared-state" {
		r.Counter("counter", 0)
	}

	cpu0, start := cpuTime(), r.Now()
	r.State(mainLane, event.Running, fmt.Sprintf("%s: %d %s tasks", model, size.tasks, workload))
	err := c.run()
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
		if c.workload == "many-io" || c.workload == "external" {
			return c.goroutinePerTask()
		}
		return c.goroutinePool("thread")
	case scenarios.ModelAsyncio:
		return c.asyncio()
	case scenarios.ModelProcesses:
		return c.processes()
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
		c.state(lane, event.Running, fmt.Sprintf("task %d: computing %d ms", i, sz.cpuMS))
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
		c.state(lane, event.Running, fmt.Sprintf("task %d: computing %d ms", i, sz.cpuMS))
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
			c.state(lane, event.Running, fmt.Sprintf("task %d: %d updates, each read-modify-write under a sync.Mutex", i, sz.updates))
		} else {
			c.state(lane, event.Running, fmt.Sprintf("task %d: %d updates, nobody else running: no lock", i, sz.updates))
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

// --- threads: goroutines ------------------------------------------------------

// goroutinePool runs the tasks on c.workers goroutines taking them from a
// queue (threads; the many-io pool).
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

// goroutinePerTask starts a goroutine for every task at once: one per wait
// (many-io) or per program (external).
func (c *compareRun) goroutinePerTask() error {
	c.used = c.size.tasks
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("started %d goroutines, one per task; waiting for them all", c.size.tasks))
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
			if err := c.doTask(lane, i, false); err != nil {
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
	c.r.Emit(event.Event{T: t0, K: event.KindState, Lane: p.lane, S: event.Running, Why: fmt.Sprintf("computing %d ms: its own process, scheduled by the OS", c.size.cpuMS), Src: event.SrcApp})
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
			c.mu.Lock()
			c.childRSS += n << 10
			c.mu.Unlock()
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
		c.r.State(mainLane, event.Running, fmt.Sprintf("starting program %d (subprocess.Popen)", i))
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
			l.taskState(t, event.Running, fmt.Sprintf("computing %d ms inline: no await, every other task waits", sz.cpuMS))
			if err := cpuWork(c.ctx, c.rounds, sz.cpuMS); err != nil {
				return fail(err)
			}
		case "shared-state":
			l.taskState(t, event.Running, fmt.Sprintf("%d updates: one goroutine, no await between read and write, so no lock", sz.updates))
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
				l.taskState(t, event.Running, fmt.Sprintf("computing %d ms inline: every other task waits", sz.cpuMS))
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
	// ViaParent makes every update of the shared counter a request to the
	// parent, which owns the counter (processes); otherwise the worker
	// counts its updates alone and returns the partial count (pool).
	ViaParent bool
}

// compareResult is a worker's answer to a job.
type compareResult struct {
	PID      int
	Done     int
	Partial  int64 // updates counted by the worker itself
	DecodeNS int64 // decoding the job, measured in the worker
	// PeakRSS is the worker's peak resident memory so far (VmHWM), bytes.
	PeakRSS int64
	Err     string
}

// Frames a compare worker writes start with a tag.
const (
	tagUpdate = 'u' // please add one to the counter; the reply is its new value
	tagResult = 'r' // the job's compareResult follows (gob)
)

// startWorkers starts n compare workers at once, as a pool starts its
// processes, and waits until each is ready.
func (c *compareRun) startWorkers(n int, name string) ([]*workerProcess, error) {
	ws := make([]*workerProcess, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ws[i], errs[i] = startRoleProcess(c.ctx, c.r, roleCompareWorker, fmt.Sprintf("worker-%d", i+1), fmt.Sprintf("%s %d", name, i+1), mainLane)
		})
	}
	wg.Wait()
	var started []*workerProcess
	for _, w := range ws {
		if w == nil {
			continue
		}
		started = append(started, w)
		c.children++
		d := w.readyT - w.spawnT
		c.startupNS += d
		c.startupMax = max(c.startupMax, d)
	}
	if err := errors.Join(errs...); err != nil {
		for _, w := range started {
			w.kill()
		}
		return nil, err
	}
	c.used = n
	return ws, nil
}

// finishWorkers closes the workers' stdin, waits for them to exit and adds
// up their peak memory as they reported it: the rusage finish returns starts
// at the runner's own peak (see selfRSS), so it is not used.
func (c *compareRun) finishWorkers(ws []*workerProcess) error {
	var errs []error
	for _, w := range ws {
		if _, err := w.finish(); err != nil && c.ctx.Err() == nil {
			errs = append(errs, err)
		}
		c.mu.Lock()
		c.childRSS += c.workerPeak[w.lane]
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (c *compareRun) job(tasks []int, viaParent bool) compareJob {
	return compareJob{Workload: c.workload, Tasks: tasks, WaitMS: c.size.waitMS, CPUMS: c.size.cpuMS, Updates: c.size.updates,
		RoundsPerMS: c.rounds, URL: c.url, ViaParent: viaParent}
}

// processes splits the tasks among c.workers worker processes, one job each.
func (c *compareRun) processes() error {
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("starting %d worker processes", c.workers))
	ws, err := c.startWorkers(c.workers, "process")
	if err != nil {
		return err
	}
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("waiting for the results of %d worker processes", len(ws)))
	var wg sync.WaitGroup
	per := (c.size.tasks + len(ws) - 1) / len(ws)
	for k, w := range ws {
		var share []int
		for i := k*per + 1; i <= min((k+1)*per, c.size.tasks); i++ {
			share = append(share, i)
		}
		if len(share) == 0 {
			continue
		}
		wg.Go(func() {
			if err := c.exchange(w, c.job(share, c.workload == "shared-state")); err != nil {
				c.fail(err)
				w.kill()
			}
		})
	}
	wg.Wait()
	c.r.State(mainLane, event.Blocked, "closing the workers' stdin and waiting for them to exit")
	return c.finishWorkers(ws)
}

// processPool feeds the tasks one at a time to c.workers worker processes.
func (c *compareRun) processPool() error {
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("starting a pool of %d worker processes", c.workers))
	ws, err := c.startWorkers(c.workers, "pool worker")
	if err != nil {
		return err
	}
	queue := make(chan int, c.size.tasks)
	for i := 1; i <= c.size.tasks; i++ {
		queue <- i
	}
	close(queue)
	c.track("tasks queued", &c.queued, int64(c.size.tasks))
	c.r.State(mainLane, event.Blocked, fmt.Sprintf("pool.map: %d tasks, one at a time to %d workers", c.size.tasks, len(ws)))
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for i := range queue {
				c.track("tasks queued", &c.queued, -1)
				if err := c.exchange(w, c.job([]int{i}, false)); err != nil {
					c.fail(err)
					w.kill()
					return
				}
			}
		})
	}
	wg.Wait()
	c.r.State(mainLane, event.Blocked, "pool.close(); pool.join(): the workers exit")
	return c.finishWorkers(ws)
}

// exchange sends job to worker w, answers its update requests, and takes its
// result.
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
	var reply [12]byte
	binary.BigEndian.PutUint32(reply[:4], 8)
	var messages int64
	for {
		f, err := readFrame(w.out)
		if err != nil {
			return fmt.Errorf("worker pid %d: %w %s", w.pid, err, w.stderr.String())
		}
		if len(f) > 0 && f[0] == tagUpdate {
			// The parent owns the counter: one update, then its new value back.
			c.counterMu.Lock()
			c.counter++
			v := c.counter
			if v%counterEvery == 0 {
				c.r.Counter("counter", float64(v))
			}
			c.counterMu.Unlock()
			binary.BigEndian.PutUint64(reply[4:], uint64(v))
			if _, err := w.in.Write(reply[:]); err != nil {
				return fmt.Errorf("reply to worker pid %d: %w", w.pid, err)
			}
			messages += 2
			continue
		}
		if len(f) == 0 || f[0] != tagResult {
			return fmt.Errorf("worker pid %d sent a frame of unknown kind", w.pid)
		}
		t1 := time.Now()
		var res compareResult
		err = gobDecode(f[1:], &res)
		decodeNS := int64(time.Since(t1))
		if err != nil {
			return fmt.Errorf("decode result of worker pid %d: %w", w.pid, err)
		}
		c.r.Flow(w.lane, mainLane, fmt.Sprintf("result: %s (gob)", formatBytes(len(f)-1)))
		c.mu.Lock()
		c.serialNS += encodeNS + res.DecodeNS + decodeNS
		c.messages += messages
		c.workerPeak[w.lane] = max(c.workerPeak[w.lane], res.PeakRSS)
		c.mu.Unlock()
		if res.Err != "" {
			return fmt.Errorf("worker pid %d: %s", res.PID, res.Err)
		}
		if res.Partial != 0 {
			// map/reduce: the partial count joins the total in the parent.
			c.counterMu.Lock()
			c.counter += res.Partial
			c.r.Counter("counter", float64(c.counter))
			c.counterMu.Unlock()
		}
		for range res.Done {
			c.finished()
		}
		return nil
	}
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
	base, err := strconv.ParseInt(os.Getenv(clockBaseEnv), 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %w", clockBaseEnv, err)
	}
	lane := os.Getenv(laneEnv)
	em := NewEmitter(os.NewFile(3, "events"), base)
	defer em.Close()
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	send := func(f []byte) error {
		if err := writeFrame(out, f); err != nil {
			return err
		}
		return out.Flush()
	}
	hello, err := gobEncode(workerHello{PID: os.Getpid(), ReadyT: em.Now()})
	if err != nil {
		return err
	}
	if err := send(hello); err != nil {
		return fmt.Errorf("write hello: %w", err)
	}
	em.State(lane, event.Idle, "ready: idle until a task arrives on stdin")
	w := &compareWorker{em: em, lane: lane, in: in, send: send, client: &http.Client{}}
	for {
		frame, err := readFrame(in)
		if errors.Is(err, io.EOF) {
			em.State(lane, event.Done, "stdin closed: the worker exits")
			return nil
		}
		if err != nil {
			return fmt.Errorf("read job: %w", err)
		}
		t0 := time.Now()
		var job compareJob
		if err := gobDecode(frame, &job); err != nil {
			return fmt.Errorf("decode job: %w", err)
		}
		res := compareResult{PID: os.Getpid(), DecodeNS: int64(time.Since(t0))}
		if err := w.do(job, &res); err != nil {
			res.Err = err.Error()
		}
		res.PeakRSS = selfRSS()
		b, err := gobEncode(res)
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		if err := send(append([]byte{tagResult}, b...)); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		em.State(lane, event.Idle, "idle: waiting for the next task on stdin")
	}
}

// compareWorker is the state of a compare worker process.
type compareWorker struct {
	em     *Emitter
	lane   string
	in     *bufio.Reader
	send   func([]byte) error
	client *http.Client // one keep-alive connection to the loopback server
}

// do does the job's tasks one after another.
func (w *compareWorker) do(job compareJob, res *compareResult) error {
	ctx := context.Background() // the parent kills the worker to stop it
	for _, i := range job.Tasks {
		switch job.Workload {
		case "cpu":
			w.em.State(w.lane, event.Running, fmt.Sprintf("task %d: computing %d ms", i, job.CPUMS))
			_ = cpuWork(ctx, job.RoundsPerMS, job.CPUMS)
		case "io", "mixed":
			w.em.State(w.lane, event.IO, fmt.Sprintf("task %d: HTTP GET, the server answers after %d ms", i, job.WaitMS))
			if err := httpGet(ctx, w.client, job.URL); err != nil {
				return err
			}
			if job.Workload == "mixed" {
				w.em.State(w.lane, event.Running, fmt.Sprintf("task %d: computing %d ms", i, job.CPUMS))
				_ = cpuWork(ctx, job.RoundsPerMS, job.CPUMS)
			}
		case "shared-state":
			if err := w.addOnes(i, job, res); err != nil {
				return err
			}
		default:
			return fmt.Errorf("workload %q does not run in worker processes", job.Workload)
		}
		res.Done++
	}
	return nil
}

// addOnes does one shared-state task: through the parent, or alone.
func (w *compareWorker) addOnes(i int, job compareJob, res *compareResult) error {
	if !job.ViaParent {
		w.em.State(w.lane, event.Running, fmt.Sprintf("task %d: %d updates of the worker's own counter (map); the parent sums the counts (reduce)", i, job.Updates))
		var own int64
		for range job.Updates {
			own++
		}
		res.Partial += own
		return nil
	}
	w.em.State(w.lane, event.IO, fmt.Sprintf("task %d: %d updates, each a message to the parent, which owns the counter, and a wait for its reply", i, job.Updates))
	for range job.Updates {
		if err := w.send([]byte{tagUpdate}); err != nil {
			return fmt.Errorf("ask for an update: %w", err)
		}
		if reply, err := readFrame(w.in); err != nil || len(reply) != 8 {
			return fmt.Errorf("reply to an update: %d bytes, %v", len(reply), err)
		}
	}
	return nil
}

// --- summary ------------------------------------------------------------------------------

func (c *compareRun) summary(wall, cpu int64, err error) event.Summary {
	peak := selfRSS() + c.childRSS
	ms := func(ns int64) float64 { return round2(float64(ns) / 1e6) }
	util := float64(cpu) / float64(max(wall, 1))
	done := c.done.Load()
	correct := err == nil && c.wrong == 0 && done == int64(c.size.tasks)
	rssLabel := "peak resident memory: the runner's own peak (VmHWM)"
	if c.children > 0 {
		rssLabel += fmt.Sprintf(" plus the sum of the peaks of its %d child processes, as each reported its own (an upper bound when they did not all run at once)", c.children)
	}
	m := map[string]event.Metric{
		"wall":            {Value: ms(wall), Unit: "ms", Label: "wall time of the work"},
		"cpu":             {Value: ms(cpu), Unit: "ms", Label: "CPU time of the runner (the loopback server's goroutines included) and of the child processes it waited for, during the work"},
		"cpu_utilization": {Value: round2(util), Label: "CPU time over wall time: above 1, several cores worked at once"},
		"tasks":           {Value: float64(c.size.tasks), Label: "tasks (" + c.workload + ")"},
		"tasks_done":      {Value: float64(done), Label: "tasks finished"},
		"workers":         {Value: float64(c.used), Label: c.workersLabel()},
		"peak_rss":        {Value: float64(peak), Unit: "bytes", Label: rssLabel},
		"correct":         {Value: b2f(correct), Label: "1 when every task finished with the right result"},
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
		if c.messages > 0 {
			m["messages"] = event.Metric{Value: float64(c.messages), Label: "messages between processes: a request and a reply per update"}
			m["per_update"] = event.Metric{Value: round2(float64(wall) / 1e3 / float64(max(c.counter, 1))), Unit: "µs", Label: "wall time per update"}
		}
	}
	if c.model == scenarios.ModelAsyncio {
		m["loop_busy"] = event.Metric{Value: ms(c.loopBusyNS), Unit: "ms", Label: "time the loop spent running task steps (the rest it waited in the selector)"}
	}
	return event.Summary{WallNS: wall, CPUNS: cpu, Metrics: m, Verdict: c.verdict(wall, cpu, peak, lost, correct, err)}
}

func (c *compareRun) workersLabel() string {
	switch c.model {
	case scenarios.ModelSequential:
		return "goroutines doing the work: the main one"
	case scenarios.ModelAsyncio:
		return "goroutines running tasks: the event loop's one"
	case scenarios.ModelProcesses, scenarios.ModelSubprocess:
		return "processes doing the work at once"
	case scenarios.ModelPool:
		if c.workload == "many-io" {
			return "pool goroutines taking tasks from the queue"
		}
		return "pool worker processes, fed one task at a time"
	}
	return "goroutines doing the work"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// verdict says in one sentence what the run showed, from its numbers.
func (c *compareRun) verdict(wall, cpu, peak, lost int64, correct bool, err error) string {
	if c.ctx.Err() != nil {
		return "The run was stopped before every task finished."
	}
	if err != nil {
		return fmt.Sprintf("%s on %s failed: %v", c.model, c.workload, err)
	}
	util := float64(cpu) / float64(max(wall, 1))
	cores := "mostly waiting"
	switch {
	case wall < 5e6:
		// The recorder's own goroutines weigh too much in a run this short.
		cores = "too short a run to tell"
	case util > 1.2:
		cores = "several cores worked at once"
	case util > 0.6:
		cores = "about one core's worth of CPU"
	}
	model := c.model
	if model == scenarios.ModelAsyncio {
		model = "asyncio (modelled: an event loop on one goroutine)"
	}
	head := fmt.Sprintf("%s ran %d %s tasks in %s with %s of CPU (%.2f× the wall time: %s)",
		model, c.size.tasks, c.workload, formatDuration(wall), formatDuration(cpu), util, cores)
	if !correct {
		return head + "; some results were wrong."
	}
	mib := float64(peak) / (1 << 20)
	procCost := fmt.Sprintf("%d processes cost %.0f ms of start-up in all (the slowest %.0f ms) and %.0f MiB of memory together", c.children, float64(c.startupNS)/1e6, float64(c.startupMax)/1e6, mib)
	var why string
	switch c.workload + "/" + c.model {
	case "shared-state/sequential":
		why = "one goroutine has nobody to race with: no update lost"
	case "shared-state/threads":
		why = fmt.Sprintf("%d goroutines took a sync.Mutex around every read-modify-write: %d updates lost", c.used, lost)
	case "shared-state/asyncio":
		why = fmt.Sprintf("one goroutine and no await between read and write needs no lock: %d updates lost", lost)
	case "shared-state/processes":
		why = fmt.Sprintf("processes share no memory, so the counter lived in the parent and each update was a request and a reply (%d messages, %.1f µs per update): %d updates lost, but slowly",
			c.messages, float64(wall)/1e3/float64(max(c.counter, 1)), lost)
	case "shared-state/pool":
		why = fmt.Sprintf("map/reduce: each worker counted its share in its own memory and the parent summed the counts, sharing nothing: %d updates lost", lost)
	case "cpu/sequential", "mixed/sequential":
		why = "one task after another on one core"
	case "cpu/threads":
		why = fmt.Sprintf("%d goroutines computed on %d cores at once: Go has no GIL (CPython threads would take turns)", c.used, gomaxprocs())
	case "cpu/asyncio", "mixed/asyncio":
		why = "the loop ran each task's computing inline, one at a time: an event loop overlaps waits, never computing"
	case "cpu/processes", "cpu/pool", "io/processes", "io/pool", "mixed/processes", "mixed/pool":
		why = procCost
	case "io/sequential":
		why = "each request waited for the one before it"
	case "io/threads", "mixed/threads":
		why = fmt.Sprintf("%d goroutines waited for their requests at the same time", c.used)
	case "io/asyncio":
		why = fmt.Sprintf("all %d requests were in flight at once on one goroutine: real non-blocking sockets and epoll_wait", c.size.tasks)
	case "many-io/threads":
		why = fmt.Sprintf("one goroutine per wait, %d at once, in %.1f MiB", c.size.tasks, mib)
	case "many-io/asyncio":
		why = fmt.Sprintf("one task per wait on one goroutine (a timer heap), in %.1f MiB", mib)
	case "many-io/pool":
		why = fmt.Sprintf("only %d goroutines, so the waits went %d at a time", c.used, c.used)
	case "external/sequential":
		why = "each program started only once the one before it had exited"
	case "external/threads":
		why = "a goroutine per program waited for it while the OS ran the programs in parallel"
	case "external/asyncio":
		why = "one goroutine started every program and waited on their pidfds with epoll"
	case "external/subprocess":
		why = "every program was started, then each waited for: the OS ran them in parallel"
	}
	if why == "" {
		return head + "."
	}
	return head + ": " + why + "."
}
