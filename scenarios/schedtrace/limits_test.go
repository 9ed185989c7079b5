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
	// runnable at a pause says active instead, from the pause on.
	pausedLanes(t, evs, "ping", "pong")
	t.Logf("%d pauses, %d resumes", paused, resumed)
}

// pausedLanes checks every pause of the trace in evs: each of lanes that
// was running or runnable when the trace paused says active ("paused")
// before its next state, since nobody records who is on a core meanwhile.
// At least one pause must have found such a lane (in a ping-pong one of
// the two is always on a core or waiting for one, unless both wait on
// something else, such as the recorder's lock).
func pausedLanes(t *testing.T, evs []event.Event, lanes ...string) {
	t.Helper()
	cur := map[string]event.Event{}
	owed := map[string]bool{} // lanes that must say active next
	checked := 0
	var seen []string // what each pause found, for the log
	for _, ev := range evs {
		switch {
		case ev.K == event.KindMark && strings.HasPrefix(ev.Label, "scheduler trace paused"):
			var at []string
			for _, l := range lanes {
				if c, ok := cur[l]; ok && (c.S == event.Running || c.S == event.Runnable) {
					owed[l] = true
				}
				at = append(at, l+" "+cur[l].S+" ("+cur[l].Why+")")
			}
			seen = append(seen, strings.Join(at, ", "))
		case ev.K == event.KindState && slices.Contains(lanes, ev.Lane):
			if owed[ev.Lane] {
				delete(owed, ev.Lane)
				checked++
				if ev.S != event.Active || !strings.Contains(ev.Why, "paused") {
					t.Errorf("lane %s was on a core or waiting for one when the trace paused, then says %s (%s), want active (paused)", ev.Lane, ev.S, ev.Why)
				}
			}
			cur[ev.Lane] = ev
		}
	}
	for l := range owed {
		t.Errorf("lane %s was on a core or waiting for one at the last pause and never said active", l)
	}
	if checked == 0 {
		t.Errorf("no pause found a lane on a core or waiting for one; the lanes at each pause: %s", strings.Join(seen, "; "))
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
