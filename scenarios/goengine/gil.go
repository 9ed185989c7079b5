package goengine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"interleave/scenarios/event"
)

// gil (a model): Go has no global interpreter lock, so this file builds one
// the way CPython does (Python/ceval_gil.c). A thread that wants the GIL waits
// for it in a timed wait of one switch interval; when the interval passes with
// no switch meanwhile, it sets a drop request and waits again (at the back of
// the queue, as a thread re-entering a condition-variable wait). The holder
// checks for a request between small slices of work, as the interpreter does
// between bytecodes, and hands the GIL to the longest waiter; then it queues
// for the GIL again itself. The goroutines may run on every core: only the
// lock serialises them.
func init() {
	register("gil", scenario{run: runGIL, source: "gil.go"})
}

// Shape of the model.
const (
	// gilSlicesPerMS is how many work slices make a millisecond: the holder
	// looks for a drop request every 10 µs or so.
	gilSlicesPerMS = 100
	// gilIOWait is one wait of the I/O thread (a socket read), GIL released.
	gilIOWait = time.Millisecond
	// gilIOWork is what the I/O thread computes per read, holding the GIL.
	gilIOWork = 50 * time.Microsecond
	// gilIOAlone is how many reads the I/O thread does alone before the CPU
	// threads start, to measure its wake-up latency without contention.
	gilIOAlone = 10
	// gilMarksShown bounds the hand-off marks and arrows drawn; all are counted.
	gilMarksShown = 200
)

// gilWaiter is a thread in take_gil's timed wait.
type gilWaiter struct {
	lane  string
	woken chan struct{} // receives the GIL
	from  string        // the lane that handed it over
	// periodStart and saved are the start of the current timed wait and the
	// switch number then: if the period ends with no switch, it asks for a drop.
	periodStart int64
	saved       uint64
}

// gil is the lock.
//
// The waiters' timed waits are checked where the holder checks for a drop
// request, every work slice (about 10 µs), rather than by Go timers: a Go
// timer below a millisecond can fire a millisecond late when the other core
// is idle, which would turn a 0.1 ms switch interval into 1 ms.
type gil struct {
	r           *Run
	epoch       time.Time // the model's clock: ns since epoch, read through the vDSO
	interval    int64     // ns
	dropRequest atomic.Bool
	deadline    atomic.Int64 // earliest end of a waiter's timed wait

	mu          sync.Mutex
	holder      string // lane holding the GIL; "" when free
	last        string // last holder, to count hand-offs
	heldSince   int64
	switches    uint64 // CPython's switch_number: takes of the GIL
	queue       []*gilWaiter
	names       map[string]string // lane id -> name, for labels
	handoffs    int
	forcedHolds []int64          // how long a holder kept the GIL before a drop request made it let go
	waitNS      map[string]int64 // time each lane spent in gil-wait
}

// Lanes of the GIL holder and of the I/O thread.
// now is the model's clock, cheap enough to read between work slices.
func (g *gil) now() int64 { return int64(time.Since(g.epoch)) }

const (
	gilLane = "gil"
	ioLane  = "io"
)

func newGIL(r *Run, interval time.Duration) *gil {
	g := &gil{r: r, epoch: time.Now(), interval: int64(interval), names: map[string]string{}, waitNS: map[string]int64{}}
	g.deadline.Store(math.MaxInt64)
	return g
}

// take blocks until lane holds the GIL and returns how long it waited. shown
// says the lane is already drawn as waiting.
func (g *gil) take(ctx context.Context, lane string, shown bool) (time.Duration, error) {
	t0 := g.now()
	g.mu.Lock()
	if g.holder == "" && len(g.queue) == 0 {
		from := g.acquireLocked(lane, t0)
		g.mu.Unlock()
		g.drawTake(from, lane, 0)
		return 0, nil
	}
	w := &gilWaiter{lane: lane, woken: make(chan struct{}, 1), periodStart: t0, saved: g.switches}
	g.queue = append(g.queue, w)
	g.updateDeadlineLocked()
	g.mu.Unlock()
	if !shown {
		g.r.State(lane, event.GILWait, "waiting for the GIL")
	}
	select {
	case <-w.woken:
	case <-ctx.Done():
		g.mu.Lock()
		i := slices.Index(g.queue, w)
		if i >= 0 {
			g.queue = slices.Delete(g.queue, i, i+1)
			g.updateDeadlineLocked()
		}
		g.mu.Unlock()
		if i < 0 { // handed the GIL just now: pass it on
			g.drop(lane, false)
		}
		return time.Duration(g.now() - t0), ctx.Err()
	}
	waited := g.now() - t0
	g.mu.Lock()
	g.waitNS[lane] += waited
	g.mu.Unlock()
	g.drawTake(w.from, lane, waited)
	return time.Duration(waited), nil
}

// acquireLocked makes lane the holder and returns the previous holder.
func (g *gil) acquireLocked(lane string, now int64) (prev string) {
	g.holder, g.heldSince = lane, now
	g.switches++
	g.dropRequest.Store(false)
	prev = g.last
	if prev != "" && prev != lane {
		g.handoffs++
	}
	g.last = lane
	return prev
}

// drawTake draws lane taking the GIL, with a hand-off mark and arrow for the
// first gilMarksShown hand-offs.
func (g *gil) drawTake(from, lane string, waited int64) {
	g.mu.Lock()
	n := g.handoffs
	g.mu.Unlock()
	g.r.State(lane, event.Active, "holds the GIL: runs bytecode")
	g.r.State(gilLane, event.Running, g.names[lane])
	if from != "" && from != lane && n <= gilMarksShown {
		g.r.Flow(from, lane, "GIL hand-off")
		g.r.Mark(gilLane, fmt.Sprintf("hand-off: %s → %s after %.2f ms of waiting", g.names[from], g.names[lane], float64(waited)/1e6))
	}
}

// shouldDrop is the holder's check between work slices: is there a drop
// request, or has a waiter's timed wait just ended with no switch?
func (g *gil) shouldDrop() bool {
	if g.dropRequest.Load() {
		return true
	}
	d := g.deadline.Load()
	if d == math.MaxInt64 { // nobody waits
		return false
	}
	now := g.now()
	if now < d {
		return false
	}
	g.mu.Lock()
	g.expireWaitsLocked(now)
	g.mu.Unlock()
	return g.dropRequest.Load()
}

// expireWaitsLocked ends the timed waits that are over: a wait that saw no
// switch sets the drop request, and every such waiter waits again, at the back.
func (g *gil) expireWaitsLocked(now int64) {
	var stay, again []*gilWaiter
	for _, w := range g.queue {
		if w.periodStart+g.interval > now {
			stay = append(stay, w)
			continue
		}
		for w.periodStart+g.interval <= now {
			if g.switches == w.saved {
				g.dropRequest.Store(true)
			}
			w.periodStart += g.interval
			w.saved = g.switches
		}
		again = append(again, w)
	}
	g.queue = append(stay, again...)
	g.updateDeadlineLocked()
}

func (g *gil) updateDeadlineLocked() {
	d := int64(math.MaxInt64)
	for _, w := range g.queue {
		d = min(d, w.periodStart+g.interval)
	}
	g.deadline.Store(d)
}

// drop releases the GIL, straight to the longest waiter if there is one.
// forced says a drop request made the holder let go.
func (g *gil) drop(lane string, forced bool) {
	now := g.now()
	g.mu.Lock()
	if forced {
		g.forcedHolds = append(g.forcedHolds, now-g.heldSince)
	}
	g.holder = ""
	var next *gilWaiter
	if len(g.queue) > 0 {
		next = g.queue[0]
		g.queue = g.queue[1:]
		next.from = g.acquireLocked(next.lane, now)
		g.updateDeadlineLocked()
	}
	// Stamped under the lock: a thread that takes the free GIL next is
	// drawn after this.
	freeT := g.r.Now()
	g.mu.Unlock()
	if next == nil {
		g.r.Emit(event.Event{T: freeT, K: event.KindState, Lane: gilLane, S: event.Idle, Why: "free", Src: event.SrcApp})
		return
	}
	next.woken <- struct{}{}
}

// cpuThread computes ms milliseconds of work holding the GIL, handing it over
// whenever asked.
func (g *gil) cpuThread(ctx context.Context, lane string, rounds int64, ms int) error {
	if _, err := g.take(ctx, lane, false); err != nil {
		return err
	}
	slice := max(rounds/gilSlicesPerMS, 1)
	for i := range ms * gilSlicesPerMS {
		if i%gilSlicesPerMS == 0 && ctx.Err() != nil {
			g.drop(lane, false)
			return ctx.Err()
		}
		sink.Add(spin(slice))
		if g.shouldDrop() {
			g.r.State(lane, event.GILWait, "dropped the GIL on request; waiting to get it back")
			g.drop(lane, true)
			if _, err := g.take(ctx, lane, true); err != nil {
				return err
			}
		}
	}
	g.drop(lane, false)
	g.r.State(lane, event.Done, "")
	return nil
}

// ioThread reads from a socket (simulated by a 1 ms wait with the GIL
// released) and handles each read holding the GIL, until stop closes. It
// returns how long each wake-up waited for the GIL.
func (g *gil) ioThread(ctx context.Context, lane string, rounds int64, stop <-chan struct{}, reads int) ([]time.Duration, error) {
	var latency []time.Duration
	work := max(rounds*int64(gilIOWork)/int64(time.Millisecond), 1)
	for i := 0; reads <= 0 || i < reads; i++ {
		select {
		case <-stop:
			return latency, nil
		default:
		}
		g.r.State(lane, event.IO, "reading a socket (GIL released)")
		if err := sleepCtx(ctx, gilIOWait); err != nil {
			return latency, err
		}
		waited, err := g.take(ctx, lane, false)
		if err != nil {
			return latency, err
		}
		latency = append(latency, waited)
		sink.Add(spin(work))
		g.drop(lane, false)
	}
	return latency, nil
}

func runGIL(ctx context.Context, r *Run) (event.Summary, error) {
	threads, size, ioThread := r.Params.Int("threads"), r.Params.Int("size"), r.Params.Bool("io_thread")
	interval := time.Duration(r.Params.Float("switch_ms") * float64(time.Millisecond))
	rounds := calibrate()
	g := newGIL(r, interval)

	r.Lane(gilLane, event.LaneCPU, "GIL (model): who holds it", "")
	r.State(gilLane, event.Idle, "free")
	lanes := make([]string, threads)
	for i := range threads {
		lanes[i] = fmt.Sprintf("thread-%d", i+1)
		g.names[lanes[i]] = fmt.Sprintf("CPU thread %d", i+1)
		r.Lane(lanes[i], event.LaneThread, g.names[lanes[i]], "")
	}
	g.names[ioLane] = "I/O thread"

	var alone, contended []time.Duration
	var ioErr error
	stopIO := make(chan struct{})
	ioDone := make(chan struct{})
	if ioThread {
		r.Lane(ioLane, event.LaneThread, g.names[ioLane], "")
		labelGoroutine(ctx, ioLane)
		// First alone: the wake-up latency with no CPU thread to wait for.
		alone, ioErr = g.ioThread(ctx, ioLane, rounds, nil, gilIOAlone)
		r.Mark(ioLane, "CPU threads start")
		go func() {
			defer close(ioDone)
			labelGoroutine(ctx, ioLane)
			var err error
			contended, err = g.ioThread(ctx, ioLane, rounds, stopIO, 0)
			if err != nil && ioErr == nil {
				ioErr = err
			}
			r.State(ioLane, event.Done, "")
		}()
	} else {
		close(ioDone)
	}

	start, cpu0 := r.Now(), cpuTime()
	var wg sync.WaitGroup
	errs := make([]error, threads)
	for i := range threads {
		wg.Go(func() {
			labelGoroutine(ctx, lanes[i])
			errs[i] = g.cpuThread(ctx, lanes[i], rounds, size)
		})
	}
	wg.Wait()
	wall, cpu := r.Now()-start, cpuTime()-cpu0
	close(stopIO)
	<-ioDone
	r.State(gilLane, event.Done, "")

	var runErr error
	for _, err := range append(errs, ioErr) {
		if err != nil {
			runErr = err
			break
		}
	}
	if runErr == nil {
		runErr = ctx.Err()
	}
	s := gilSummary(g, threads, size, wall, ioThread, alone, contended)
	s.CPUNS = cpu
	return s, runErr
}

func medianDuration(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func meanDuration(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

// gilSummary measures the run for its verdict, which the server derives
// (package verdict): the same metrics as the CPython script's.
func gilSummary(g *gil, threads, size int, wall int64, ioThread bool, alone, contended []time.Duration) event.Summary {
	g.mu.Lock()
	defer g.mu.Unlock()
	holds := make([]time.Duration, len(g.forcedHolds))
	for i, h := range g.forcedHolds {
		holds[i] = time.Duration(h)
	}
	sequential := float64(threads) * float64(size) * 1e6
	speedup := sequential / float64(max(wall, 1))
	msd := func(d time.Duration) float64 { return round2(float64(d) / 1e6) }
	// Wake-ups without contention take microseconds: keep three decimals.
	msd3 := func(d time.Duration) float64 { return msPrecise(int64(d)) }
	switchMS := float64(g.interval) / 1e6
	var cpuWait int64
	for lane, ns := range g.waitNS {
		if lane != ioLane {
			cpuWait += ns
		}
	}
	m := map[string]event.Metric{
		"threads":      {Value: float64(threads), Label: "CPU-bound threads"},
		"cores":        {Value: float64(gomaxprocs()), Label: "cores the goroutines may run on (GOMAXPROCS)"},
		"wall":         {Value: round2(float64(wall) / 1e6), Unit: "ms", Label: "wall time of the CPU threads"},
		"sequential":   {Value: round2(sequential / 1e6), Unit: "ms", Label: "one thread doing all the work: threads × size, CPU work calibrated on one core (estimate)"},
		"switch_ms":    {Value: switchMS, Unit: "ms", Label: "switch interval"},
		"handoffs":     {Value: float64(g.handoffs), Label: "times the GIL went to another thread"},
		"forced_drops": {Value: float64(len(holds)), Label: "times a holder dropped the GIL on request"},
		"gil_wait_pct": {Value: round2(100 * float64(cpuWait) / float64(max(int64(threads)*wall, 1))), Unit: "%", Label: "share of the CPU threads' time spent waiting for the GIL"},
	}
	if len(holds) > 0 {
		m["handoff_median"] = event.Metric{Value: msd(medianDuration(holds)), Unit: "ms", Label: "median time a thread held the GIL before a drop request made it hand over"}
	}
	if ioThread {
		m["io_latency_alone"] = event.Metric{Value: msd3(medianDuration(alone)), Unit: "ms", Label: "I/O thread: median wait for the GIL after a read, before the CPU threads started"}
		m["io_latency_median"] = event.Metric{Value: msd3(medianDuration(contended)), Unit: "ms", Label: "I/O thread: median wait for the GIL after a read, next to the CPU threads"}
		m["io_latency_mean"] = event.Metric{Value: msd(meanDuration(contended)), Unit: "ms", Label: "I/O thread: mean wait for the GIL after a read, next to the CPU threads"}
		m["io_latency_max"] = event.Metric{Value: msd(slices.Max(append([]time.Duration{0}, contended...))), Unit: "ms", Label: "I/O thread: longest wait for the GIL after a read"}
		m["io_reads"] = event.Metric{Value: float64(len(contended)), Label: fmt.Sprintf("reads of %d ms the I/O thread completed next to the CPU threads", gilIOWait.Milliseconds())}
	}
	// One thread has nobody to take turns with: nothing to compare.
	if threads > 1 {
		m["speedup"] = event.Metric{Value: round2(speedup), Unit: "x", Label: "speedup vs one thread (against the estimate)"}
	}
	return event.Summary{WallNS: wall, Metrics: m}
}
