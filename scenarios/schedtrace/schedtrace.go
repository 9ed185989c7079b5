// Package schedtrace shows the real Go scheduler on a run's timeline. It runs
// runtime/trace in the scenario's own process, parses the stream with
// golang.org/x/exp/trace while the run goes, and emits one cpu lane per P
// (its `running` spans name the goroutine's lane in why: who holds the core)
// and the scheduler's states of the scenario's goroutines (state events with
// src "sched").
//
// # Where a goroutine's states are drawn
//
// A goroutine that called [Label] with an app lane id is drawn on that lane:
// its scheduler states (running, runnable, blocked...) go to the app lane's
// own id with src "sched", where they refine the scenario's `active` (busy,
// not recorded where) into running or runnable, as package invariant and the
// browser draw it. One goroutine owns a lane at a time: the latest to label
// it. A goroutine that a labelled one started (transitively) in user code
// (package main, the main module, a third-party module, or the function
// handed to sync.WaitGroup.Go) gets a lane of its own, "g15 · child of task
// 1", in the group "sched", until it labels itself. Goroutines started in the
// standard library on a scenario's behalf (net/http's connection loops,
// os/exec's copiers, time.AfterFunc) and in the runtime (GC workers) are not
// drawn, nor is anything else: the runtime's goroutines, this tracer's own,
// the runner's emitter, the test harness. A P running one of them says so in
// its why ("net/http goroutine", "GC worker", "runtime", "scheduler trace
// (this tool)", "other goroutine"). A child's lane is declared when the
// generation that started it has been read, so that its own label, if any,
// moves it to its app lane instead; the states it went through before are
// remembered (the first and the latest [maxPending]) and drawn from its
// start.
//
// # Latency
//
// The runtime hands out trace data a generation at a time, and x/exp/trace
// yields a generation's events only once it is complete. A FlightRecorder
// running alongside the trace.Start stream is asked for a snapshot every
// Config.FlushEvery (100 ms); each snapshot ends the current generation, so
// an event reaches emit between about 0 and FlushEvery after it happened,
// plus the parse time. Cutting a generation costs the scenario CPU, so when
// the cuts cost more than Config.FlushBudget of a core they are spaced out.
//
// # Clock
//
// Each generation starts with a clock snapshot (trace clock and
// CLOCK_MONOTONIC read together); trace timestamps are mapped through the
// latest one to CLOCK_MONOTONIC and then to the run clock by subtracting the
// run's base, the clock every process of a run shares.
//
// # Bounds
//
// Repeated states are not re-emitted; idle gaps on a P shorter than
// [mergeIdleBelow] are merged away. Past Config.MaxRate state events per
// second (counted in 100 ms windows) transitions are skipped, a mark says so
// and the lanes are brought up to date in the next window. Past
// Config.MaxEvents the trace stops with a mark. Tracing itself costs the
// scenario per scheduler event, so past Config.MaxTraceRate trace events per
// second the trace is sampled: it pauses for ten flush intervals and
// resumes, with marks. The reader never blocks the scenario: trace bytes are
// queued in memory, and if it falls Config.MaxBacklog behind, the backlog is
// dropped and the trace pauses the same way. While it is paused, the lanes
// it left running or runnable say `active` (not recorded) instead.
package schedtrace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	rtrace "runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/exp/trace"
	"golang.org/x/sys/unix"

	"interleave/scenarios/event"
)

// labelCategory is the runtime/trace log category Label writes; its message
// is the app lane id.
const labelCategory = "interleave.lane"

// selfCategory marks this package's own goroutines in the trace.
const selfCategory = "interleave.schedtrace"

// Config bounds a scheduler trace; the zero value means the defaults.
type Config struct {
	// FlushEvery is how often the current trace generation is cut so its
	// events stream out: the latency of the scheduler lanes. Default 100 ms.
	FlushEvery time.Duration
	// FlushBudget is the share of one core the cuts may cost; past it the
	// cuts are spaced out (up to ten times FlushEvery). Default 0.005.
	FlushBudget float64
	// MaxRate caps state events per second of run time. Default 50,000.
	MaxRate int
	// MaxTraceRate is the rate of trace events (per second, over 100 ms)
	// past which the trace is sampled: it pauses for ten flush intervals,
	// then resumes. runtime/trace costs the traced program roughly 60 ns
	// per event and parsing costs this process roughly 250 ns more, so the
	// default, 100,000/s, keeps the cost near 3 %.
	MaxTraceRate int
	// MaxEvents caps the events emitted in all; then the trace stops with a
	// mark. Default 500,000 (a quarter of a run's event limit).
	MaxEvents int64
	// MaxLanes caps the goroutine lanes. Default 256.
	MaxLanes int
	// MaxBacklog caps the trace bytes waiting to be parsed. Default 16 MiB,
	// about 3 million events, under a second of parsing.
	MaxBacklog int
	// LaneName returns the display name of an app lane, so that a P lane
	// running a labelled goroutine names its holder the way the timeline
	// does ("task 1"). It is called from the reader goroutine; nil (or an
	// empty answer) means the lane id.
	LaneName func(id string) string
	// StopTimeout bounds how long stop waits for the reader to parse what
	// is left; then the rest is dropped with a mark. Default 2 s.
	StopTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.FlushEvery <= 0 {
		c.FlushEvery = 100 * time.Millisecond
	}
	if c.FlushBudget <= 0 {
		c.FlushBudget = 0.005
	}
	if c.MaxRate <= 0 {
		c.MaxRate = 50_000
	}
	if c.MaxTraceRate <= 0 {
		c.MaxTraceRate = 100_000
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 500_000
	}
	if c.MaxLanes <= 0 {
		c.MaxLanes = 256
	}
	if c.MaxBacklog <= 0 {
		c.MaxBacklog = 16 << 20
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 2 * time.Second
	}
	return c
}

// Start starts runtime/trace in this process and streams the scheduler's
// view as events (through emit) about every 100 ms until stop is called;
// stop flushes what is left and returns when nothing more will be emitted.
// base is the run's start on CLOCK_MONOTONIC (event.Monotonic); events are
// stamped relative to it. emit is called from one goroutine at a time.
// Start fails if a trace is already running in this process.
func Start(emit func(event.Event), base int64) (stop func(), err error) {
	return Config{}.Start(emit, base)
}

// Start is [Start] with the bounds of c.
func (c Config) Start(emit func(event.Event), base int64) (stop func(), err error) {
	t, err := start(c.withDefaults(), emit, base)
	if err != nil {
		return nil, err
	}
	return t.stop, nil
}

// Label ties the calling goroutine to the app lane laneID: from now on its
// scheduler states are drawn on that lane (src "sched"), the P lanes name the
// lane when they run it, and the goroutines it starts are drawn too. An empty
// laneID unties it. It costs nothing when no trace is running; a label set
// before Start is not seen.
func Label(ctx context.Context, laneID string) {
	if ctx == nil {
		ctx = context.Background()
	}
	rtrace.Log(ctx, labelCategory, laneID)
}

// tracer is one running scheduler trace.
type tracer struct {
	cfg  Config
	conv *converter // used by the reader goroutine, then by stop

	flushStop chan struct{} // closed by halt
	flushDone chan struct{}
	readDone  chan struct{}
	aborted   atomic.Bool // stop gave up waiting: the reader returns at once
	// flushCPU is the CPU time the flusher's cuts cost so far (ns), and
	// readBusy how long the reader was busy parsing (wall time, ns).
	flushCPU, readBusy atomic.Int64
	// sampling is set by the reader when it ended a session because the
	// scenario makes too many scheduler events to trace all the time.
	sampling bool

	haltOnce sync.Once
	stopOnce sync.Once

	// mu guards the fields below and orders the starts and stops of the
	// trace session and the flight recorder.
	mu      sync.Mutex
	q       *byteQueue             // the current trace session's stream
	tracing bool                   // a trace.Start session runs
	fr      *rtrace.FlightRecorder // nil when unavailable
	frOn    bool                   // fr is started
	halted  bool
	ended   time.Time // when the latest session ended
}

func start(cfg Config, emit func(event.Event), base int64) (*tracer, error) {
	t := &tracer{
		cfg: cfg,
		conv: newConverter(emit, base, limits{
			perWindow:   max(cfg.MaxRate/int(time.Second/time.Duration(rateWindow)), 1),
			maxEvents:   cfg.MaxEvents,
			maxLanes:    cfg.MaxLanes,
			rate:        cfg.MaxRate,
			traceWindow: max(int64(cfg.MaxTraceRate)*rateWindow/int64(time.Second), 1),
		}, cfg.LaneName),
		flushStop: make(chan struct{}),
		flushDone: make(chan struct{}),
		readDone:  make(chan struct{}),
	}
	now := event.Monotonic() - base // before the first traced event
	q := t.newQueue()
	if err := rtrace.Start(q); err != nil {
		return nil, fmt.Errorf("start runtime/trace: %w", err)
	}
	t.q, t.tracing = q, true

	// Declare the P lanes now, in order, before any goroutine lane.
	for pid := range runtime.GOMAXPROCS(0) {
		t.conv.proc(trace.ProcID(pid), now)
	}
	// The flight recorder only serves to cut generations: it keeps as
	// little as it may (one generation) and its snapshots are discarded.
	t.fr = rtrace.NewFlightRecorder(rtrace.FlightRecorderConfig{MinAge: time.Millisecond, MaxBytes: 1})
	if err := t.fr.Start(); err != nil {
		t.fr = nil
		t.conv.mark("", "scheduler trace: shown about once a second only (flight recorder: "+err.Error()+")", now)
	} else {
		t.frOn = true
	}
	go t.flushLoop()
	go t.readLoop(q)
	return t, nil
}

func (t *tracer) newQueue() *byteQueue {
	return newByteQueue(t.cfg.MaxBacklog, t.conv.caughtUp)
}

// flushLoop cuts a trace generation every FlushEvery, or less often when
// cutting costs more than FlushBudget of a core.
//
// Cutting a generation is the tracer's main cost to a busy scenario: the
// runtime visits every goroutine and every P (suspending those whose state
// it has not recorded in the generation, spinning until they stop), and on
// a machine whose cores are all busy that spinning waits for threads the OS
// is not running. The flusher runs on a thread of its own, so that thread's
// CPU time is exactly what the cuts cost; the next cut waits until the
// cost so far is within the budget.
func (t *tracer) flushLoop() {
	defer close(t.flushDone)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rtrace.Log(context.Background(), selfCategory, "flusher")
	timer := time.NewTimer(t.cfg.FlushEvery)
	defer timer.Stop()
	for {
		select {
		case <-t.flushStop:
			return
		case <-timer.C:
		}
		cpu0 := threadCPU()
		t.mu.Lock()
		if t.frOn {
			// WriteTo ends the current generation; the snapshot itself
			// is not needed. It fails only when one is in progress.
			_, _ = t.fr.WriteTo(io.Discard)
		}
		t.mu.Unlock()
		cost := time.Duration(threadCPU() - cpu0)
		t.flushCPU.Add(int64(cost))
		timer.Reset(flushWait(cost, t.cfg.FlushEvery, t.cfg.FlushBudget))
	}
}

// flushWait is how long to wait before the next cut after one that cost
// cost of CPU: every, unless that would spend more than budget (a share of
// one core) on cutting, then long enough to stay within it, but never more
// than ten times every.
func flushWait(cost, every time.Duration, budget float64) time.Duration {
	wait := time.Duration(float64(cost) / budget)
	return min(max(wait, every), 10*every)
}

// threadCPU returns the calling OS thread's CPU time in ns.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// readLoop parses the trace until it ends, pausing and starting a fresh
// session when the scenario is too busy to trace all the time or the reader
// fell too far behind.
func (t *tracer) readLoop(q *byteQueue) {
	defer close(t.readDone)
	rtrace.Log(context.Background(), selfCategory, "reader")
	final := false // the session being read is the last snapshot
	for {
		err := t.read(q)
		switch {
		case t.aborted.Load() || final || t.conv.exhausted:
			return
		case q.Overflowed():
			t.conv.paused(fmt.Sprintf("the reader fell more than %s behind, so the trace is skipped for %v",
				byteSize(t.cfg.MaxBacklog), cooldownFlushes*t.cfg.FlushEvery))
		case t.sampling && (err == nil || errors.Is(err, io.EOF)):
			t.sampling = false
			t.conv.paused(fmt.Sprintf("more than %d scheduler events/s, too many to trace without slowing the run, so it is sampled: %v off",
				t.cfg.MaxTraceRate, cooldownFlushes*t.cfg.FlushEvery))
		case err == nil || errors.Is(err, io.EOF):
			return
		default:
			t.conv.mark("", "scheduler trace stopped: "+err.Error(), t.conv.lastT)
			t.halt()
			return
		}
		if q, final = t.pauseAndRestart(); q == nil {
			return
		}
		label := "scheduler trace resumed"
		if final {
			label = "scheduler trace: a last snapshot shows how the goroutines ended"
		}
		t.conv.resumed(event.Monotonic()-t.conv.base, label)
	}
}

// read parses one trace session until its stream ends.
func (t *tracer) read(q *byteQueue) error {
	defer func() { t.readBusy.Add(q.readBusy()) }()
	r, err := trace.NewReader(q)
	if err != nil {
		return fmt.Errorf("read trace header: %w", err)
	}
	for !t.aborted.Load() {
		ev, err := r.ReadEvent()
		if err != nil {
			return err
		}
		t.conv.handle(&ev)
		if t.conv.exhausted {
			t.halt() // then read on to the end of the stream, ignoring it
		}
		if t.conv.overRate && !t.sampling {
			// End the session and parse what it still holds; readLoop
			// then marks the pause and waits before a fresh session.
			t.sampling = true
			t.endSession()
		}
	}
	return nil
}

// endSession stops the trace session and the flight recorder, so that the
// current stream ends after what the runtime still holds.
func (t *tracer) endSession() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.frOn {
		t.fr.Stop()
		t.frOn = false
	}
	if t.tracing {
		rtrace.Stop()
		t.tracing = false
		t.ended = time.Now()
	}
	t.q.Close()
}

// pauseAndRestart ends the trace session and starts a fresh one after
// letting the scenario run untraced for cooldownFlushes flush intervals:
// whatever made the trace too busy is likely still going, and tracing it
// costs the scenario too. When the tracer is stopping it does not wait: the
// fresh session is a final snapshot, ended at once, that tells how every
// goroutine ended up (final is then true). It returns nil when no session
// could start.
func (t *tracer) pauseAndRestart() (q *byteQueue, final bool) {
	t.endSession()
	t.mu.Lock()
	off := cooldownFlushes*t.cfg.FlushEvery - time.Since(t.ended) // parsing the rest took some of it
	t.mu.Unlock()
	cooldown := time.NewTimer(max(off, 0))
	defer cooldown.Stop()
	select {
	case <-t.flushStop:
		final = true
	case <-cooldown.C:
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	final = final || t.halted
	q = t.newQueue()
	if err := rtrace.Start(q); err != nil {
		t.conv.mark("", "scheduler trace stopped: restart: "+err.Error(), t.conv.lastT)
		return nil, final
	}
	t.q, t.tracing = q, true
	if final {
		rtrace.Stop()
		t.tracing = false
		q.Close()
		return q, true
	}
	if t.fr != nil && t.fr.Start() == nil {
		t.frOn = true
	}
	return q, false
}

// cooldownFlushes is how many flush intervals the trace pauses when the
// scenario is too busy to trace or the reader fell behind.
const cooldownFlushes = 10

// halt stops tracing: no more generations are cut and the current stream
// ends after what the runtime still holds. It is safe to call more than once.
func (t *tracer) halt() {
	t.haltOnce.Do(func() {
		close(t.flushStop)
		<-t.flushDone
		t.mu.Lock()
		t.halted = true
		t.mu.Unlock()
		t.endSession()
	})
}

// stop halts the trace, waits (up to StopTimeout) for the reader to emit
// what is left, and emits the states held back.
func (t *tracer) stop() {
	t.stopOnce.Do(func() {
		t.halt()
		timeout := time.NewTimer(t.cfg.StopTimeout)
		defer timeout.Stop()
		select {
		case <-t.readDone:
		case <-timeout.C:
			t.aborted.Store(true)
			t.mu.Lock()
			t.q.Abort()
			t.mu.Unlock()
			<-t.readDone
			t.conv.mark("", "scheduler trace cut short: the reader was still behind "+t.cfg.StopTimeout.String()+" after the run ended", t.conv.lastT)
		}
		t.conv.finish()
		// What the trace cost this process, as far as the tracer measures
		// it (runtime/trace's own writing is not included).
		t.conv.mark("", fmt.Sprintf("scheduler trace cost: cutting generations %.1f ms of CPU; parsing busy %.1f ms (wall time)",
			float64(t.flushCPU.Load())/1e6, float64(t.readBusy.Load())/1e6), t.conv.lastT)
	})
}

// byteSize formats n bytes for a mark: "16 MiB", "512 KiB".
func byteSize(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", max(n>>10, 1))
}
