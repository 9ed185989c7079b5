package pool

import (
	"context"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/runner"
	"interleave/scenarios"
)

// span is when a run held its runner, as the web node saw it: from its
// started message to the end of Execute.
type span struct {
	name       string
	runner     string
	start, end time.Time
}

// timedRun executes j on d and reports its span on done.
func timedRun(d *Dispatcher, name string, j runner.Job, done chan<- span, errs chan<- error) {
	rec := &recorded{}
	sink := rec.sink()
	var s span
	s.name = name
	started := sink.Started
	sink.Started = func(st runner.Started) {
		s.start = time.Now()
		started(st)
	}
	_, err := d.Execute(context.Background(), j, sink)
	s.end = time.Now()
	s.runner = rec.runner()
	if err != nil {
		errs <- err
	}
	done <- s
}

// skew is how far apart the web node may see two causally ordered
// messages of one runner arrive on two runs' subjects.
const skew = 30 * time.Millisecond

func overlaps(a, b span) bool {
	return a.start.Add(skew).Before(b.end) && b.start.Add(skew).Before(a.end)
}

// TestSlotsCapRuns: a runner with one slot executes one run at a time.
func TestSlotsCapRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "single", "-slots", "1")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "single")
	done, errs := make(chan span, 4), make(chan error, 4)
	for i := range 4 {
		go timedRun(d, string(rune('a'+i)), job("asyncio", scenarios.EngineGo, waitingParams(200)), done, errs)
	}
	var spans []span
	for range 4 {
		spans = append(spans, <-done)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, a := range spans {
		for _, b := range spans[i+1:] {
			if overlaps(a, b) {
				t.Fatalf("runs %s (%s–%s) and %s (%s–%s) executed at once on a one-slot runner", a.name, a.start.Format("05.000"), a.end.Format("05.000"), b.name, b.start.Format("05.000"), b.end.Format("05.000"))
			}
		}
	}
}

// TestExclusiveTakesWholeRunner: an exclusive run waits until the runner's
// other run ended, and no run starts beside it.
func TestExclusiveTakesWholeRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "pair", "-slots", "2")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "pair")
	done, errs := make(chan span, 3), make(chan error, 3)

	first := job("asyncio", scenarios.EngineGo, waitingParams(1000))
	go timedRun(d, "first", first, done, errs)
	waitFor(t, 10*time.Second, "the first run on the runner", func() bool { return holds(d, "pair", first.ID) })
	excl := job("asyncio", scenarios.EngineGo, waitingParams(500))
	excl.Exclusive = true
	go timedRun(d, "exclusive", excl, done, errs)
	waitFor(t, 10*time.Second, "the exclusive run taken", func() bool { return streamMessages(t, d) == 2 && d.claimedOrWaiting(excl.ID) })
	after := job("asyncio", scenarios.EngineGo, waitingParams(100))
	go timedRun(d, "after", after, done, errs)

	spans := map[string]span{}
	for range 3 {
		s := <-done
		spans[s.name] = s
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f, e, a := spans["first"], spans["exclusive"], spans["after"]
	t.Logf("first %s–%s, exclusive %s–%s, after %s–%s", f.start.Format("05.000"), f.end.Format("05.000"),
		e.start.Format("05.000"), e.end.Format("05.000"), a.start.Format("05.000"), a.end.Format("05.000"))
	if overlaps(f, e) || overlaps(e, a) {
		t.Fatal("the exclusive run shared its runner with another run")
	}
	if a.start.Before(e.start) {
		t.Fatal("a run queued after the exclusive one started before it, on a runner that drains for it")
	}
}

// holds says whether runner name lists run id in its latest heartbeat.
func holds(d *Dispatcher, name, id string) bool {
	for _, hb := range d.Runners() {
		if hb.Name == name {
			for _, r := range hb.Runs {
				if r == id {
					return true
				}
			}
		}
	}
	return false
}

// claimedOrWaiting says whether the dispatcher still follows run id.
func (d *Dispatcher) claimedOrWaiting(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.waiting[id]
	return ok
}

// TestClientCannotFillQueue: one client's runs beyond MaxQueuedPerClient
// wait in the dispatcher, so another client's run is taken before most of
// them.
func TestClientCannotFillQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "one", "-slots", "1")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{MaxQueuedPerClient: 2}, "one")
	done, errs := make(chan span, 7), make(chan error, 7)

	blocker := job("asyncio", scenarios.EngineGo, waitingParams(1000))
	go timedRun(d, "blocker", blocker, done, errs)
	waitFor(t, 10*time.Second, "the blocker on the runner", func() bool { return holds(d, "one", blocker.ID) })
	for i := range 5 {
		j := job("asyncio", scenarios.EngineGo, waitingParams(20))
		j.Client = "greedy"
		go timedRun(d, "greedy-"+string(rune('1'+i)), j, done, errs)
	}
	// Two of greedy's runs go to the stream; three wait in the dispatcher.
	waitFor(t, 5*time.Second, "greedy's runs in the stream", func() bool { return streamMessages(t, d) == 3 })
	other := job("asyncio", scenarios.EngineGo, waitingParams(20))
	other.Client = "polite"
	go timedRun(d, "polite", other, done, errs)
	waitFor(t, 5*time.Second, "polite's run in the stream", func() bool { return streamMessages(t, d) == 4 })
	d.mu.Lock()
	greedyQueued := d.queued["greedy"]
	d.mu.Unlock()
	if n := streamMessages(t, d); n != 4 || greedyQueued != 2 {
		t.Fatalf("%d runs in the stream, greedy has %d: want 4 (the blocker, greedy's 2, polite's 1) and 2", n, greedyQueued)
	}

	var order []span
	for range 7 {
		order = append(order, <-done)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Sorted by start: polite's run comes third after the blocker, not last.
	rank := 0
	for _, s := range order {
		if s.name != "polite" && s.start.Before(spanOf(order, "polite").start) {
			rank++
		}
	}
	t.Logf("polite's run started after %d others (of 6)", rank)
	if rank > 3 {
		t.Fatalf("polite's run started after %d others: one client filled the queue ahead of it", rank)
	}
}

func spanOf(spans []span, name string) span {
	for _, s := range spans {
		if s.name == name {
			return s
		}
	}
	return span{}
}

// TestStallNeedsAFreeSlotThroughout: a run counts as stalled only once a
// runner with its engine has had a free slot (every slot, for an exclusive
// run) in every heartbeat for StallAfter, and the run has waited as long.
func TestStallNeedsAFreeSlotThroughout(t *testing.T) {
	d := &Dispatcher{cfg: DispatcherConfig{LostAfter: DefaultLostAfter, StallAfter: 4 * time.Second}, runners: map[string]*runnerSeen{}}
	goEngine := []EngineInfo{{ID: scenarios.EngineGo}}
	now := time.Now()
	hear := func(free int, ago time.Duration) {
		d.runners["r"] = d.runners["r"].next(Heartbeat{Name: "r", Slots: 2, Free: free, Engines: goEngine}, now.Add(-ago))
	}
	run := runner.Job{ID: "x", Engine: scenarios.EngineGo}
	exclusive := runner.Job{ID: "y", Engine: scenarios.EngineGo, Exclusive: true}
	offered := now.Add(-10 * time.Second)

	hear(1, 6*time.Second)
	hear(1, 3*time.Second)
	hear(1, 0)
	if name, ok := d.stalled(run, offered); !ok || name != "r" {
		t.Errorf("a slot free for 6 s: stalled %v (%q), want true naming r", ok, name)
	}
	if _, ok := d.stalled(exclusive, offered); ok {
		t.Error("an exclusive run with one of two slots free counts as stalled")
	}
	if _, ok := d.stalled(run, now.Add(-2*time.Second)); ok {
		t.Error("a run offered 2 s ago counts as stalled")
	}
	if _, ok := d.stalled(runner.Job{ID: "z", Engine: scenarios.EnginePython}, offered); ok {
		t.Error("a python run counts as stalled on a runner without python")
	}

	hear(0, 2*time.Second) // busy 2 s ago: free only since
	hear(2, 1*time.Second)
	hear(2, 0)
	if _, ok := d.stalled(run, offered); ok {
		t.Error("a runner busy 2 s ago makes the run stalled")
	}
	d.runners["r"].freeSince = now.Add(-5 * time.Second)
	d.runners["r"].idleSince = now.Add(-5 * time.Second)
	if _, ok := d.stalled(exclusive, offered); !ok {
		t.Error("an exclusive run with every slot free for 5 s is not stalled")
	}
	d.runners["r"].seen = now.Add(-DefaultLostAfter - time.Second)
	if _, ok := d.stalled(run, offered); ok {
		t.Error("a runner not heard from for longer than LostAfter makes the run stalled")
	}
}
