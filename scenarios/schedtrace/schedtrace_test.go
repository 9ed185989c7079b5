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

func TestStartTwiceFails(t *testing.T) {
	startTrace(t, Config{})
	if stop, err := Start(func(event.Event) {}, event.Monotonic()); err == nil {
		stop()
		t.Fatal("a second Start succeeded while a trace runs")
	}
}
