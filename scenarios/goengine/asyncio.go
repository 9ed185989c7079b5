package goengine

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	"interleave/scenarios/event"
)

// asyncio (a model): Go has no asyncio, so this file builds the mechanism
// itself. ONE goroutine runs a cooperative event loop with a ready queue, a
// timer heap (asyncio.sleep) and a selector that waits for simulated sockets
// to become readable (reader.read()). Tasks are coroutine-like state machines:
// they run until their next await, then give the loop back. Nothing preempts
// a task, so a blocking call inside one stalls every other task.
//
// The loop is one goroutine, so it runs on one core at a time whatever
// GOMAXPROCS is; the run keeps every core so that recording the timeline
// (encoding events, reading the scheduler trace) does not steal the loop's.
func init() {
	register("asyncio", scenario{run: runAsyncio, source: "asyncio.go"})
}

// Where a coroutine resumes.
const (
	stepStart = iota
	stepAfterAwait
	stepFinished
)

// asyncTask is one coroutine:
//
//	async def task(n):
//	    if n % 2: await asyncio.sleep(wait)   # timer heap
//	    else:     await reader.read()         # readable after wait (simulated)
//	    return n
//
// and with blocking=true task 1 is instead
//
//	async def task(1): time.sleep(blocking)  # no await: the loop stalls
type asyncTask struct {
	n        int
	lane     string
	step     int
	blocking bool
	created  int64 // run clock
	due      int64 // when its timer fires or its socket becomes readable
	finished int64
	// coro, when set, is the task's coroutine instead of the one above: it
	// runs the task from where it stopped to its next await (registering it
	// with a timer, a simulated socket or the selector) and reports whether
	// the task returned. The decision matrix (compare.go) writes its tasks
	// this way. A task with an empty lane is counted but not drawn.
	coro func(l *eventLoop, t *asyncTask) (returned bool)
}

// deadlineHeap orders waiting tasks by due time: the timer heap, and the
// simulated kernel's list of sockets that will become readable.
type deadlineHeap []*asyncTask

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(*asyncTask)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// eventLoop is the single-goroutine loop.
type eventLoop struct {
	r          *Run
	ctx        context.Context
	wait       time.Duration
	blockingMS int
	ready      []*asyncTask
	timers     deadlineHeap
	sockets    deadlineHeap
	pending    int
	iterations int
	busyNS     int64 // time spent running task steps
	stallNS    int64 // time spent inside the blocking call
	lastReady  int
	lastWait   int
	// steps draws every task's running steps; above stepsDrawnUpTo tasks
	// only their waits are drawn (a step lasts microseconds), which keeps
	// the events, and the loop time spent recording them, small.
	steps    bool
	whySleep string
	// selector, when set, waits for real file descriptors (sockets, process
	// exits) as well as the timers: epoll in compare.go. Without it the loop
	// knows only timers and simulated sockets.
	selector ioSelector
}

// ioSelector is the loop's view of a real selector (epoll).
type ioSelector interface {
	// waiting returns how many tasks wait for a file descriptor.
	waiting() int
	// wait blocks up to timeout for registered descriptors to become ready
	// and returns their tasks, no longer registered.
	wait(ctx context.Context, timeout time.Duration) ([]*asyncTask, error)
}

// stepsDrawnUpTo is the largest task count whose running steps are drawn.
const stepsDrawnUpTo = 200

// Reasons shared by every task, built once.
const (
	whyIO       = "await reader.read(): registered with the selector until its socket is readable (simulated)"
	whyTimerDue = "timer due: back in the ready queue"
	whyReadable = "socket readable: back in the ready queue"
)

const loopLane = "loop"

func runAsyncio(ctx context.Context, r *Run) (event.Summary, error) {
	n, waitMS := r.Params.Int("tasks"), r.Params.Int("wait_ms")
	blocking, blockingMS := r.Params.Bool("blocking"), r.Params.Int("blocking_ms")
	l := &eventLoop{r: r, ctx: ctx, wait: time.Duration(waitMS) * time.Millisecond, blockingMS: blockingMS, lastReady: -1, lastWait: -1,
		steps: n <= stepsDrawnUpTo, whySleep: fmt.Sprintf("await asyncio.sleep(%d ms): a timer in the heap", waitMS)}

	r.Lane(loopLane, event.LaneLoop, "event loop (one goroutine)", "")
	labelGoroutine(ctx, loopLane)
	tasks := make([]*asyncTask, n)
	start := r.Now()
	for i := range n {
		t := &asyncTask{n: i + 1, lane: fmt.Sprintf("task-%d", i+1), blocking: blocking && i == 0}
		tasks[i] = t
		r.Emit(event.Event{K: event.KindLane, ID: t.lane, Kind: event.LaneTask, Name: fmt.Sprintf("task %d", t.n), Parent: loopLane, Group: "tasks"})
		t.created = r.Now()
		r.State(t.lane, event.Runnable, "created: in the ready queue")
		l.ready = append(l.ready, t)
	}
	l.pending = n
	err := l.run(ctx)
	wall := r.Now() - start
	r.State(loopLane, event.Done, "")
	return l.summary(ctx, tasks, wall), err
}

// run turns the loop until every task has finished.
func (l *eventLoop) run(ctx context.Context) error {
	for l.pending > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.iterations++
		l.counters()
		if len(l.ready) > 0 {
			l.runReady()
			continue
		}
		// Nothing is ready: block in the selector until the next timer is
		// due or the next socket becomes readable, as epoll_wait would.
		next := l.nextDue()
		wait := time.Duration(next - l.r.Now())
		if l.selector != nil && l.selector.waiting() > 0 {
			l.r.State(loopLane, event.IO, fmt.Sprintf("selector: epoll_wait for %d descriptor(s) and %d timer(s)", l.selector.waiting(), len(l.timers)))
			woken, err := l.selector.wait(ctx, wait)
			if err != nil {
				return err
			}
			l.ready = append(l.ready, woken...)
		} else if wait > 0 {
			l.r.State(loopLane, event.IO, fmt.Sprintf("selector: waiting %.1f ms for the next timer or readable socket (%d tasks waiting)", float64(wait)/1e6, len(l.timers)+len(l.sockets)))
			if err := sleepCtx(ctx, wait); err != nil {
				return err
			}
		}
		l.collectDue()
	}
	return nil
}

// runReady runs one step of every task that is ready now; tasks made ready
// meanwhile wait for the next turn of the loop.
func (l *eventLoop) runReady() {
	batch := l.ready
	l.ready = nil
	l.r.State(loopLane, event.Active, fmt.Sprintf("running %d ready task(s), one step each", len(batch)))
	t0, stalled := l.r.Now(), l.stallNS
	for _, t := range batch {
		l.resume(t)
	}
	// A blocking call is not work of the loop: it is counted as the stall.
	l.busyNS += l.r.Now() - t0 - (l.stallNS - stalled)
}

// resume runs task t from where it stopped to its next await or its end.
func (l *eventLoop) resume(t *asyncTask) {
	if t.coro != nil {
		if t.coro(l, t) {
			l.finish(t)
		}
		return
	}
	switch t.step {
	case stepStart:
		if l.steps || t.blocking {
			l.r.State(t.lane, event.Active, "started")
		}
		if t.blocking {
			l.r.State(loopLane, event.Blocked, fmt.Sprintf("stalled: task %d called time.sleep(%d ms), a blocking call; no other task can run", t.n, l.blockingMS))
			l.r.State(t.lane, event.Active, fmt.Sprintf("time.sleep(%d ms): blocks the loop's only thread", l.blockingMS))
			// The loop's goroutine itself blocks here, as time.sleep blocks
			// Python's loop thread: no other task can run until it returns.
			// (Only the end of the run cuts it short.)
			stallAt := l.r.Now()
			_ = sleepCtx(l.ctx, time.Duration(l.blockingMS)*time.Millisecond)
			l.stallNS += l.r.Now() - stallAt
			l.r.Mark(loopLane, fmt.Sprintf("loop stalled %.0f ms by one blocking call", float64(l.stallNS)/1e6))
			l.finish(t)
			l.r.State(loopLane, event.Active, "back from the blocking call")
			return
		}
		t.step = stepAfterAwait
		t.due = l.r.Now() + int64(l.wait)
		if t.n%2 == 1 {
			l.r.State(t.lane, event.Sleep, l.whySleep)
			heap.Push(&l.timers, t)
		} else {
			l.r.State(t.lane, event.IO, whyIO)
			heap.Push(&l.sockets, t)
		}
	case stepAfterAwait:
		if l.steps {
			l.r.State(t.lane, event.Active, "resumed after the await")
		}
		l.finish(t)
	}
}

func (l *eventLoop) finish(t *asyncTask) {
	t.step = stepFinished
	t.finished = l.r.Now()
	l.pending--
	l.taskState(t, event.Done, "returned")
}

// taskState draws a task's state, unless the task is not drawn.
func (l *eventLoop) taskState(t *asyncTask, s, why string) {
	if t.lane != "" {
		l.r.State(t.lane, s, why)
	}
}

func (l *eventLoop) nextDue() int64 {
	next := int64(1<<63 - 1)
	if len(l.timers) > 0 {
		next = l.timers[0].due
	}
	if len(l.sockets) > 0 {
		next = min(next, l.sockets[0].due)
	}
	return next
}

// collectDue moves tasks whose timer fired or whose socket became readable
// to the ready queue.
func (l *eventLoop) collectDue() {
	now := l.r.Now()
	for len(l.timers) > 0 && l.timers[0].due <= now {
		t := heap.Pop(&l.timers).(*asyncTask)
		l.taskState(t, event.Runnable, whyTimerDue)
		l.ready = append(l.ready, t)
	}
	for len(l.sockets) > 0 && l.sockets[0].due <= now {
		t := heap.Pop(&l.sockets).(*asyncTask)
		l.taskState(t, event.Runnable, whyReadable)
		l.ready = append(l.ready, t)
	}
}

// counters draws the ready queue and the waiting tasks when they change.
func (l *eventLoop) counters() {
	if len(l.ready) != l.lastReady {
		l.lastReady = len(l.ready)
		l.r.Counter("ready queue", float64(l.lastReady))
	}
	w := len(l.timers) + len(l.sockets)
	if l.selector != nil {
		w += l.selector.waiting()
	}
	if w != l.lastWait {
		l.lastWait = w
		l.r.Counter("tasks waiting", float64(w))
	}
}

func (l *eventLoop) summary(ctx context.Context, tasks []*asyncTask, wall int64) event.Summary {
	var lat []float64 // completion latency of the tasks that awaited, ms
	for _, t := range tasks {
		if t.step == stepFinished && !t.blocking {
			lat = append(lat, float64(t.finished-t.created)/1e6)
		}
	}
	slices.Sort(lat)
	waitMS := float64(l.wait) / 1e6
	ms := func(ns int64) float64 { return round2(float64(ns) / 1e6) }
	m := map[string]event.Metric{
		"tasks":      {Value: float64(len(tasks)), Label: "tasks on one event loop"},
		"wall":       {Value: ms(wall), Unit: "ms", Label: "wall time until every task finished"},
		"wait":       {Value: waitMS, Unit: "ms", Label: "what each task awaits (wait_ms)"},
		"iterations": {Value: float64(l.iterations), Label: "turns of the loop"},
		"loop_busy":  {Value: ms(l.busyNS), Unit: "ms", Label: "time the loop spent running task steps (events included), blocking call excluded"},
	}
	if len(lat) > 0 {
		med, worst := lat[len(lat)/2], lat[len(lat)-1]
		m["latency_median"] = event.Metric{Value: round2(med), Unit: "ms", Label: "median completion time of a waiting task, from creation"}
		m["latency_max"] = event.Metric{Value: round2(worst), Unit: "ms", Label: "slowest completion time of a waiting task, from creation"}
		m["delay_min"] = event.Metric{Value: round2(lat[0] - waitMS), Unit: "ms", Label: "least time any waiting task took beyond its wait"}
		m["busy_per_task"] = event.Metric{Value: round2(float64(l.busyNS) / 1e3 / float64(len(tasks))), Unit: "µs", Label: "loop time per task"}
	}
	if l.stallNS > 0 {
		m["stall"] = event.Metric{Value: ms(l.stallNS), Unit: "ms", Label: "the loop was stalled by the blocking call"}
	}
	return event.Summary{WallNS: wall, Metrics: m}
}
