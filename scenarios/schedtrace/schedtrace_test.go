package schedtrace

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"interleave/internal/timingclaim"
	"interleave/scenarios/event"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder collects what the tracer emits, with the run time each event
// arrived at.
type recorder struct {
	base int64

	mu      sync.Mutex
	evs     []event.Event
	arrived []int64
	first   chan struct{} // closed at the first scheduler state of a goroutine's lane
	once    sync.Once
}

func newRecorder() *recorder {
	return &recorder{base: event.Monotonic(), first: make(chan struct{})}
}

func (r *recorder) now() int64 { return event.Monotonic() - r.base }

func (r *recorder) emit(ev event.Event) {
	now := r.now()
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.arrived = append(r.arrived, now)
	r.mu.Unlock()
	if ev.K == event.KindState && ev.Src == event.SrcSched && !strings.HasPrefix(ev.Lane, "P") {
		r.once.Do(func() { close(r.first) })
	}
}

func (r *recorder) events() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// startTrace starts a tracer into a new recorder; stop is also deferred.
func startTrace(t *testing.T, cfg Config) (*recorder, func()) {
	t.Helper()
	rec := newRecorder()
	stop, err := cfg.Start(rec.emit, rec.base)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(stop)
	return rec, stop
}

// laneSpan is one state of a lane from t to end.
type laneSpan struct {
	s, why string
	t, end int64
}

// spans rebuilds each lane's spans from the state events; the last one of a
// lane ends at end.
func spans(evs []event.Event, end int64) map[string][]laneSpan {
	out := map[string][]laneSpan{}
	for _, ev := range evs {
		if ev.K != event.KindState {
			continue
		}
		ss := out[ev.Lane]
		if n := len(ss); n > 0 {
			ss[n-1].end = ev.T
		}
		out[ev.Lane] = append(ss, laneSpan{s: ev.S, why: ev.Why, t: ev.T, end: end})
	}
	return out
}

// laneOf returns the lane a goroutine labelled label is drawn on: the app
// lane label itself, which must have received scheduler states.
func laneOf(t *testing.T, evs []event.Event, label string) string {
	t.Helper()
	for _, ev := range evs {
		if ev.K == event.KindLane && ev.ID == label {
			t.Fatalf("the tracer declared lane %q itself: %+v; the app declares it", label, ev)
		}
	}
	for _, ev := range evs {
		if ev.K == event.KindState && ev.Lane == label && ev.Src == event.SrcSched {
			return label
		}
	}
	t.Fatalf("no scheduler state on lane %q", label)
	return ""
}

// overlap returns how long spans of a and b (those matching keep) overlap.
func overlap(a, b []laneSpan, keep func(laneSpan) bool) time.Duration {
	var total int64
	for _, x := range a {
		if !keep(x) {
			continue
		}
		for _, y := range b {
			if keep(y) {
				total += max(0, min(x.end, y.end)-max(x.t, y.t))
			}
		}
	}
	return time.Duration(total)
}

func total(ss []laneSpan, keep func(laneSpan) bool) time.Duration {
	var d int64
	for _, s := range ss {
		if keep(s) {
			d += s.end - s.t
		}
	}
	return time.Duration(d)
}

func running(s laneSpan) bool { return s.s == event.Running }

var spinSink atomic.Uint64

// spinRounds does n rounds of integer work and returns a value that
// depends on all of it, so the compiler cannot drop it.
func spinRounds(n int) uint64 {
	x := uint64(n) | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// calibrate returns spin rounds per millisecond on one core.
func calibrate() int {
	const probe = 1 << 20
	best := time.Hour
	for range 5 {
		start := time.Now()
		spinSink.Add(spinRounds(probe))
		best = min(best, time.Since(start))
	}
	return max(int(float64(probe)/(float64(best)/float64(time.Millisecond))), 1)
}

// cpuPair runs two labelled CPU-bound goroutines of ms milliseconds each.
func cpuPair(labels [2]string, roundsPerMS, ms int) {
	var wg sync.WaitGroup
	for _, l := range labels {
		wg.Go(func() {
			Label(context.Background(), l)
			for range ms {
				spinSink.Add(spinRounds(roundsPerMS))
			}
		})
	}
	wg.Wait()
}

// The visible claim of the mental-model scenario: with one P (concurrent)
// one cpu lane carries everything and the two goroutines take turns; with
// two Ps (parallel) both Ps are busy at the same time.
func TestOnePCarriesEverythingTwoPsRunInParallel(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 cores")
	}
	timingclaim.Claim(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	// Other programs on the machine can take a core from the parallel pair
	// (or slow the calibration) for a while: the best of a few attempts is
	// what the cores can do.
	for attempt := 1; ; attempt++ {
		if onePTwoPs(t, attempt == 3) || attempt == 3 {
			return
		}
		t.Logf("attempt %d: the machine was busy; trying again", attempt)
	}
}

// onePTwoPs runs the check once; it reports whether the timings held, and
// fails t on them only when final (the rest always).
func onePTwoPs(t *testing.T, final bool) bool {
	runtime.GOMAXPROCS(runtime.NumCPU())
	perMS := calibrate()
	runtime.GOMAXPROCS(1)
	rec, stop := startTrace(t, Config{})
	cpuPair([2]string{"one-a", "one-b"}, perMS, 150)
	runtime.GOMAXPROCS(2)
	cpuPair([2]string{"two-a", "two-b"}, perMS, 150)
	stop()

	evs := rec.events()
	sp := spans(evs, rec.now())
	oneA, oneB := laneOf(t, evs, "one-a"), laneOf(t, evs, "one-b")
	twoA, twoB := laneOf(t, evs, "two-a"), laneOf(t, evs, "two-b")

	// Which P lanes ran each pair, and how long.
	pRunning := func(prefixes ...string) map[string][]laneSpan {
		out := map[string][]laneSpan{}
		for lane, ss := range sp {
			if !strings.HasPrefix(lane, "P") {
				continue
			}
			for _, s := range ss {
				for _, p := range prefixes {
					if s.s == event.Running && s.why == p {
						out[lane] = append(out[lane], s)
					}
				}
			}
		}
		return out
	}

	// One P: the goroutines never run at the same time, on one cpu lane.
	one := pRunning(oneA, oneB)
	if len(one) != 1 {
		t.Errorf("GOMAXPROCS=1: %d cpu lanes ran the goroutines, want 1: %v", len(one), keys(one))
	}
	ranA, ranB := total(sp[oneA], running), total(sp[oneB], running)
	if ranA < 100*time.Millisecond || ranB < 100*time.Millisecond {
		if !final {
			return false
		}
		t.Errorf("GOMAXPROCS=1: goroutines ran %v and %v, want about 150ms each", ranA, ranB)
	}
	if ov := overlap(sp[oneA], sp[oneB], running); ov > 0 {
		t.Errorf("GOMAXPROCS=1: goroutines ran at the same time for %v, want never", ov)
	}
	t.Logf("GOMAXPROCS=1: ran %v + %v on %v, overlap 0", ranA, ranB, keys(one))

	// Two Ps: two cpu lanes busy at once for most of the time.
	two := pRunning(twoA, twoB)
	if len(two) != 2 {
		if final {
			t.Errorf("GOMAXPROCS=2: %d cpu lanes ran the goroutines, want 2: %v", len(two), keys(two))
		}
		return false
	}
	ps := keys(two)
	busy := overlap(two[ps[0]], two[ps[1]], running)
	ranA, ranB = total(sp[twoA], running), total(sp[twoB], running)
	if shorter := min(ranA, ranB); busy < shorter*6/10 {
		if final {
			t.Errorf("GOMAXPROCS=2: %s and %s were both busy for %v, want most of %v", ps[0], ps[1], busy, shorter)
		}
		return false
	}
	t.Logf("GOMAXPROCS=2: ran %v + %v, %s and %s busy together for %v", ranA, ranB, ps[0], ps[1], busy)
	return true
}

func keys(m map[string][]laneSpan) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestMutexWaitIsLockWait(t *testing.T) {
	rec, stop := startTrace(t, Config{})
	var mu sync.Mutex
	mu.Lock()
	waiting := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		Label(context.Background(), "waiter")
		close(waiting)
		mu.Lock()
		mu.Unlock()
	})
	<-waiting
	time.Sleep(50 * time.Millisecond) // hold the lock: the wait is what we measure
	mu.Unlock()
	wg.Wait()
	stop()

	evs := rec.events()
	lane := laneOf(t, evs, "waiter")
	var waited time.Duration
	for _, s := range spans(evs, rec.now())[lane] {
		if s.s == event.LockWait && s.why == "sync.Mutex" {
			waited += time.Duration(s.end - s.t)
		}
	}
	if waited < 40*time.Millisecond {
		t.Errorf("waiter spent %v in lock-wait (sync.Mutex), want about 50ms; spans: %+v", waited, spans(evs, rec.now())[lane])
	}
}

// Events stream while the run goes: the first batch arrives long before
// stop, and each event arrives within about one flush interval.
func TestEventsArriveWhileRunning(t *testing.T) {
	timingclaim.Claim(t)
	rec, stop := startTrace(t, Config{})
	started := rec.now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		Label(context.Background(), "ticker")
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	select {
	case <-rec.first:
	case <-time.After(time.Second):
		t.Fatal("no goroutine state within 1s of Start")
	}
	firstAfter := time.Duration(rec.now() - started)
	time.Sleep(time.Second)
	close(done)
	wg.Wait()
	stopAt := rec.now()
	stop()

	if firstAfter > 300*time.Millisecond {
		t.Errorf("first goroutine state arrived %v after Start, want <= 300ms", firstAfter)
	}
	rec.mu.Lock()
	var lat []time.Duration
	for i, ev := range rec.evs {
		if ev.K == event.KindState && rec.arrived[i] < stopAt {
			lat = append(lat, time.Duration(rec.arrived[i]-ev.T))
		}
	}
	rec.mu.Unlock()
	if len(lat) < 50 {
		t.Fatalf("only %d states arrived before stop, want the ticker's ~200", len(lat))
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	t.Logf("first batch after %v; latency of %d events: p50 %v, p95 %v, max %v", firstAfter, len(lat), p(.5), p(.95), p(1))
	if p(.95) > 300*time.Millisecond {
		t.Errorf("p95 latency %v, want <= 300ms (flush every 100ms)", p(.95))
	}
}

// The run clock: a goroutine's states appear at the CLOCK_MONOTONIC time it
// took them, to well within a millisecond.
func TestTraceTimeIsRunClock(t *testing.T) {
	timingclaim.Claim(t)
	rec, stop := startTrace(t, Config{})
	var created, slept atomic.Int64
	var wg sync.WaitGroup
	created.Store(event.Monotonic())
	wg.Go(func() {
		Label(context.Background(), "sleeper")
		slept.Store(event.Monotonic())
		time.Sleep(20 * time.Millisecond)
	})
	wg.Wait()
	stop()

	evs := rec.events()
	lane := laneOf(t, evs, "sleeper")
	ss := spans(evs, rec.now())[lane]
	if len(ss) == 0 {
		t.Fatal("no states for the sleeper")
	}
	const slack = 2 * time.Millisecond
	if d := time.Duration(ss[0].t - (created.Load() - rec.base)); d < -slack || d > slack {
		t.Errorf("lane's scheduler states start %v from the goroutine's creation, want within %v (first state %+v)", d, slack, ss[0])
	}
	i := slices.IndexFunc(ss, func(s laneSpan) bool { return s.s == event.Sleep })
	if i < 0 {
		t.Fatalf("no sleep state: %+v", ss)
	}
	if d := time.Duration(ss[i].t - (slept.Load() - rec.base)); d < -slack || d > slack {
		t.Errorf("sleep starts %v from when the goroutine called time.Sleep, want within %v", d, slack)
	}
	if d := time.Duration(ss[i].end - ss[i].t); d < 19*time.Millisecond || d > 30*time.Millisecond {
		t.Errorf("sleep lasted %v, want about 20ms", d)
	}
	t.Logf("creation off by %v, sleep start off by %v, sleep %v",
		time.Duration(ss[0].t-(created.Load()-rec.base)), time.Duration(ss[i].t-(slept.Load()-rec.base)), time.Duration(ss[i].end-ss[i].t))
}

// Only scenario goroutines get lanes: labelled ones and what they start;
// P lanes are declared for every P.
func TestOnlyScenarioGoroutinesGetLanes(t *testing.T) {
	rec, stop := startTrace(t, Config{})
	var wg sync.WaitGroup
	// Noise: unlabelled goroutines and garbage.
	for range 4 {
		wg.Go(func() { time.Sleep(10 * time.Millisecond) })
	}
	wg.Go(func() {
		Label(context.Background(), "parent")
		var inner sync.WaitGroup
		inner.Go(func() { time.Sleep(10 * time.Millisecond) })
		inner.Wait()
		runtime.GC()
	})
	wg.Wait()
	stop()

	evs := rec.events()
	var gl, pl []event.Event
	for _, ev := range evs {
		if ev.K != event.KindLane {
			continue
		}
		if ev.Group != laneGroup {
			t.Errorf("lane %s in group %q, want %q", ev.ID, ev.Group, laneGroup)
		}
		switch ev.Kind {
		case event.LaneGoroutine:
			gl = append(gl, ev)
		case event.LaneCPU:
			pl = append(pl, ev)
		}
	}
	if len(gl) != 1 {
		t.Fatalf("goroutine lanes %+v, want only the labelled goroutine's child (the labelled one is drawn on its app lane)", gl)
	}
	parent := laneOf(t, evs, "parent")
	if gl[0].Name != gl[0].ID+" · child of parent" || gl[0].Parent != parent {
		t.Errorf("child lane %+v, want named after its parent %s", gl[0], parent)
	}
	gl = append(gl, event.Event{ID: parent})
	if len(pl) < runtime.GOMAXPROCS(0) {
		t.Errorf("%d cpu lanes, want one per P (%d)", len(pl), runtime.GOMAXPROCS(0))
	}
	for _, p := range pl {
		if p.Name != p.ID+" (core)" {
			t.Errorf("cpu lane %+v, want named %q", p, p.ID+" (core)")
		}
	}
	// Every state of a goroutine lane ends with done.
	for _, l := range gl {
		ss := spans(evs, 0)[l.ID]
		if len(ss) == 0 || ss[len(ss)-1].s != event.Done {
			t.Errorf("lane %s does not end done: %+v", l.ID, ss)
		}
	}
}

// pingPong makes two labelled goroutines hand a token back and forth n
// times: the most scheduler transitions a scenario can make.
func pingPong(n int) {
	ping, pong := make(chan int), make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		Label(context.Background(), "ping")
		for range n {
			ping <- 1
			<-pong
		}
		close(ping)
	})
	wg.Go(func() {
		Label(context.Background(), "pong")
		for range ping {
			pong <- 1
		}
	})
	wg.Wait()
}

func marks(evs []event.Event, prefix string) int {
	n := 0
	for _, ev := range evs {
		if ev.K == event.KindMark && strings.HasPrefix(ev.Label, prefix) {
			n++
		}
	}
	return n
}

// A scenario with millions of transitions is thinned with a mark, and the
// lanes still end in their true state.
func TestRateCapThinsWithMark(t *testing.T) {
	const rate = 2000
	// Trace every event (no sampling): the cap alone must hold the output.
	rec, stop := startTrace(t, Config{MaxRate: rate, MaxTraceRate: 1 << 30})
	start := rec.now()
	pingPong(20_000)
	stop()
	elapsed := time.Duration(rec.now() - start)

	evs := rec.events()
	if marks(evs, "scheduler trace thinned") == 0 {
		t.Error("no thinning mark")
	}
	states := 0
	for _, ev := range evs {
		if ev.K == event.KindState {
			states++
		}
	}
	// The cap over the run, plus the window in progress and the lanes
	// brought up to date at the end.
	if limit := int(rate*(elapsed.Seconds()+0.1)) + 50; states > limit {
		t.Errorf("%d state events in %v, want <= %d at %d/s", states, elapsed, limit, rate)
	}
	sp := spans(evs, rec.now())
	for _, l := range []string{"ping", "pong"} {
		ss := sp[laneOf(t, evs, l)]
		if len(ss) == 0 || ss[len(ss)-1].s != event.Done {
			t.Errorf("lane %s does not end done after thinning", l)
		}
	}
	t.Logf("%d state events kept in %v", states, elapsed)
}

// A scenario too busy to trace all the time is sampled: the trace pauses
// and resumes with marks, and the lanes still end in their true state.
func TestBusyScenarioIsSampled(t *testing.T) {
	rec, stop := startTrace(t, Config{})
	// Run until the trace has paused and resumed (about 1.2s; more under
	// the race detector, which slows the reader), or give up after 10s.
	deadline := time.Now().Add(10 * time.Second)
	resumedYet := func() bool { return marks(rec.events(), "scheduler trace resumed") > 0 }
	ping, pong := make(chan int), make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		Label(context.Background(), "ping")
		for i := 0; i%10_000 != 0 || !resumedYet() && time.Now().Before(deadline); i++ {
			ping <- 1
			<-pong
		}
		close(ping)
	})
	wg.Go(func() {
		Label(context.Background(), "pong")
		for range ping {
			pong <- 1
		}
	})
	wg.Wait()
	stop()

	evs := rec.events()
	paused, resumed := marks(evs, "scheduler trace paused: more than"), marks(evs, "scheduler trace resumed")
	if paused == 0 || resumed == 0 {
		t.Errorf("%d pause and %d resume marks over a long ping-pong, want both", paused, resumed)
	}
	sp := spans(evs, rec.now())
	for _, l := range []string{"ping", "pong"} {
		ss := sp[laneOf(t, evs, l)]
		if len(ss) == 0 || ss[len(ss)-1].s != event.Done {
			t.Errorf("lane %s does not end done after sampling: last %+v", l, ss[max(len(ss)-1, 0):])
		}
	}
	// While paused nobody records who is on a core: a lane left running or
	// runnable says active instead (one of the two is always on a core or
	// waiting for one).
	unrecorded := func(s laneSpan) bool { return s.s == event.Active && strings.Contains(s.why, "paused") }
	if !slices.ContainsFunc(sp["ping"], unrecorded) && !slices.ContainsFunc(sp["pong"], unrecorded) {
		t.Error("neither lane says active while the trace is paused")
	}
	t.Logf("%d pauses, %d resumes", paused, resumed)
}

// A labelled goroutine is drawn on its app lane: its scheduler states go to
// the lane's own id with src sched, no lane of its own is declared, and a P
// running it names the lane's display name.
func TestLabelledGoroutineIsDrawnOnItsAppLane(t *testing.T) {
	rec := newRecorder()
	names := map[string]string{"task-1": "task 1"}
	stop, err := Config{LaneName: func(id string) string { return names[id] }}.Start(rec.emit, rec.base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	var wg sync.WaitGroup
	wg.Go(func() {
		Label(context.Background(), "task-1")
		time.Sleep(5 * time.Millisecond)
		// A few ms of computing: long enough to be drawn whatever the
		// trace's clock resolution and cuts (0.1 ms once went undrawn).
		spinSink.Add(spinRounds(1 << 20))
	})
	wg.Wait()
	stop()

	evs := rec.events()
	lane := laneOf(t, evs, "task-1")
	defer func() {
		if t.Failed() {
			for _, ev := range evs {
				if ev.Lane == lane {
					t.Logf("%9.3f ms %s %s %s", float64(ev.T)/1e6, ev.K, ev.S, ev.Why)
				}
			}
		}
	}()
	ss := spans(evs, rec.now())[lane]
	want := []string{event.Running, event.Sleep, event.Running, event.Done}
	var got []string
	for _, s := range ss {
		if len(got) == 0 || got[len(got)-1] != s.s {
			got = append(got, s.s)
		}
	}
	if len(got) < len(want) || !slices.Equal(got[len(got)-len(want):], want) && !slices.Contains(got, event.Sleep) {
		t.Errorf("states on lane task-1: %v, want to end %v", got, want)
	}
	held := false
	for _, ev := range evs {
		if ev.K == event.KindState && strings.HasPrefix(ev.Lane, "P") && ev.S == event.Running && ev.Why == "task 1" {
			held = true
		}
	}
	if !held {
		t.Error("no P lane says it runs \"task 1\" (the lane's display name)")
	}
	if marks(evs, "scheduler trace cost: ") != 1 {
		t.Error("no mark says what the scheduler trace cost")
	}
}

// A goroutine that moves to another lane leaves the first one active (not
// recorded) and is drawn on the second from then on.
func TestRelabelMovesTheGoroutine(t *testing.T) {
	rec, stop := startTrace(t, Config{})
	var wg sync.WaitGroup
	wg.Go(func() {
		Label(context.Background(), "first")
		time.Sleep(2 * time.Millisecond)
		Label(context.Background(), "second")
		time.Sleep(2 * time.Millisecond)
	})
	wg.Wait()
	stop()

	evs := rec.events()
	sp := spans(evs, rec.now())
	first := sp[laneOf(t, evs, "first")]
	if len(first) == 0 || first[len(first)-1].s != event.Active {
		t.Errorf("lane first ends %+v, want active once its goroutine left", first[max(len(first)-1, 0):])
	}
	second := sp[laneOf(t, evs, "second")]
	if !slices.ContainsFunc(second, func(s laneSpan) bool { return s.s == event.Sleep }) || second[len(second)-1].s != event.Done {
		t.Errorf("lane second: %+v, want the goroutine's sleep and its end", second)
	}
	if first[len(first)-1].t > second[0].t {
		t.Errorf("first left at %d after second began at %d", first[len(first)-1].t, second[0].t)
	}
}

// A reader that falls behind drops the backlog with a mark instead of
// stalling the scenario, and stop still returns with nothing leaked.
func TestBacklogOverflowPausesWithMark(t *testing.T) {
	rec, stop := startTrace(t, Config{MaxBacklog: 1 << 10})
	var wg sync.WaitGroup
	wg.Go(func() {
		Label(context.Background(), "busy")
		for range 100 {
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	stop()
	if marks(rec.events(), "scheduler trace paused") == 0 {
		t.Error("no pause mark though the backlog cap is 1 KiB")
	}
}

// Stop is bounded even when the reader is behind: what it could not parse
// in time is dropped with a mark.
func TestStopIsBounded(t *testing.T) {
	timingclaim.Claim(t)
	const timeout = 10 * time.Millisecond
	rec, stop := startTrace(t, Config{StopTimeout: timeout})
	pingPong(50_000)
	begin := time.Now()
	stop()
	took := time.Since(begin)
	// The runtime flushing its buffers and the reader noticing the abort
	// take a little more than the timeout itself.
	if took > timeout+500*time.Millisecond {
		t.Errorf("stop took %v with StopTimeout %v", took, timeout)
	}
	evs := rec.events()
	cut := marks(evs, "scheduler trace cut short") > 0
	if !cut {
		// The reader kept up after all: then the trace must be complete.
		ss := spans(evs, 0)[laneOf(t, evs, "ping")]
		if len(ss) == 0 || ss[len(ss)-1].s != event.Done {
			t.Error("stop neither finished the trace nor said it was cut short")
		}
	}
	t.Logf("stop took %v; cut short: %v", took, cut)
}

func TestStartTwiceFails(t *testing.T) {
	startTrace(t, Config{})
	if stop, err := Start(func(event.Event) {}, event.Monotonic()); err == nil {
		stop()
		t.Fatal("a second Start succeeded while a trace runs")
	}
}
