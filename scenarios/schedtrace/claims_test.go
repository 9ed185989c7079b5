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

	"interleave/internal/timingclaim"
	"interleave/scenarios/event"
)

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
