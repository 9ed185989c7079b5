package schedtrace

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios/event"
)

// pingPong makes two labelled goroutines hand a token back and forth n
// times: the most scheduler transitions a scenario can make.
func pingPong(n int) {
	pingPongUntil(func(i int) bool { return i == n })
}

// pingPongUntil hands the token back and forth until done(i), i being the
// exchanges made so far.
func pingPongUntil(done func(i int) bool) {
	ping, pong := make(chan int), make(chan int)
	var wg sync.WaitGroup
	wg.Go(func() {
		Label(context.Background(), "ping")
		for i := 0; !done(i); i++ {
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
	// Checking every 10,000 exchanges keeps the marks' scan off the hot loop.
	pingPongUntil(func(i int) bool { return i%10_000 == 0 && i > 0 && (resumedYet() || time.Now().After(deadline)) })
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
