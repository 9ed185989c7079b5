package pool

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/runs"
	"interleave/scenarios"
	"interleave/scenarios/event"
	"interleave/scenarios/goengine"
)

// webNode is the web node's side of the pool without HTTP: the run manager
// with its store in dir and the pool's dispatcher as its second runner,
// executing no run itself (-local-slots 0).
type webNode struct {
	m     *runs.Manager
	store *runs.Store
	d     *Dispatcher
}

// startWebNode opens the store in dir and connects a dispatcher to url,
// waiting for the named runners' heartbeats; limits adjust the manager's
// limits. It is shut down when the test ends, unless die was called.
func startWebNode(t *testing.T, url, dir string, adjust func(*runs.Limits), runners ...string) *webNode {
	t.Helper()
	logger := testLogger(t)
	store, err := runs.OpenStore(dir, 100, 1<<30, logger)
	if err != nil {
		t.Fatal(err)
	}
	d := newDispatcher(t, url, DispatcherConfig{}, runners...)
	limits := runs.DefaultLimits()
	limits.LocalSlots = 0
	if adjust != nil {
		adjust(&limits)
	}
	eng := &goengine.Engine{Executable: binary, Env: []string{"PATH=/usr/bin:/bin"}}
	m, err := runs.NewManager(limits, []scenarios.Engine{eng}, store, logger, runs.WithRunner(d))
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	w := &webNode{m: m, store: store, d: d}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
		_ = store.Drain(ctx)
		store.Close()
	})
	return w
}

// die stops the web node the way a kill -9 does, as far as the pool and the
// store see it: the store stops writing with the run still "running" in
// it, and the connection to NATS drops without a cancel for the runs on
// the runners. (The manager's goroutines are ended by the cleanup.)
func (w *webNode) die() {
	w.store.Close()
	w.d.nc.Close()
}

// submitWaiting starts a go run whose tasks wait for waitMS.
func (w *webNode) submitWaiting(t *testing.T, waitMS int) *runs.Run {
	t.Helper()
	run, err := w.m.Submit(runs.RunRequest{Scenario: "asyncio", Engine: scenarios.EngineGo,
		Params: map[string]any{"tasks": 3, "wait_ms": waitMS, scenarios.SchedParam: false}})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// lines reads every event line of run as far as it goes now.
func lines(t *testing.T, run *runs.Run) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		snap, err := run.Read(len(out), 1000)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, snap.Lines...)
		if len(out) >= snap.Total || len(snap.Lines) == 0 {
			return out
		}
	}
}

// TestWebNodeRestartStopsItsRuns: a web node dies (no cancel reaches the
// runner) while its run executes on a runner; the next web node, on the
// same store and NATS, shows the run interrupted with the events recorded
// before the stop and the mark saying the server stopped, and tells the
// runner to stop it: the runner's slot is free again within 10 s, the
// run's processes gone (without it the runner would run it to its
// deadline, publishing events nobody reads).
func TestWebNodeRestartStopsItsRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "r1", "-slots", "1")
	dir := t.TempDir()
	first := startWebNode(t, ns.URL(), dir, nil, "r1")
	// Threads that wait 1 s each, one task after another: 20 s.
	run, err := first.m.Submit(runs.RunRequest{Scenario: "threads", Engine: scenarios.EngineGo,
		Params: map[string]any{"workers": 1, "tasks": 20, "work": "io", "size": 1000, "io": "sleep", scenarios.SchedParam: false}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the run's first events on the first web node", func() bool { return run.Lines() > 2 })
	// The store writes every 50 ms: wait until the events are on disk, as
	// they would be on a web node that ran a while longer.
	before := run.Info()
	pid := before.PID
	if before.Runner != "r1" || pid == 0 {
		t.Fatalf("the run is on runner %q with pid %d, want r1 with its pid", before.Runner, pid)
	}
	waitFor(t, 5*time.Second, "the run's events in the store", func() bool {
		var events int
		var name string
		err := first.store.DB().QueryRow(`SELECT events, coalesce(runner, '') FROM runs WHERE id = ?`, run.ID).Scan(&events, &name)
		return err == nil && events >= run.Lines() && name == "r1"
	})
	recorded := run.Lines()
	first.die()
	died := time.Now()

	second := startWebNode(t, ns.URL(), dir, nil, "r1")
	restarted, err := second.m.Lookup(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := restarted.Status(); st != runs.StatusInterrupted {
		t.Fatalf("after the restart the run is %q, want interrupted", st)
	}
	got := lines(t, restarted)
	if len(got) < recorded+1 {
		t.Fatalf("after the restart the run has %d events, want the %d recorded before the stop and a mark", len(got), recorded)
	}
	var mark event.Event
	if err := json.Unmarshal(got[len(got)-1], &mark); err != nil || mark.K != event.KindMark || !strings.Contains(mark.Label, "the server stopped") {
		t.Errorf("the last event is %s, want the mark saying the server stopped", got[len(got)-1])
	}
	waitFor(t, 10*time.Second, "runner r1's slot free again (heartbeat free == slots, no run listed)", func() bool {
		for _, hb := range second.d.Runners() {
			if hb.Name == "r1" {
				return hb.Free == hb.Slots && len(hb.Runs) == 0
			}
		}
		return false
	})
	freed := time.Since(died)
	waitFor(t, 10*time.Second-freed, "the run's processes gone", func() bool { return gone(pid) })
	t.Logf("the restarted web node freed the runner's slot %s after the first one died (run %s, %d events kept)", freed.Round(time.Millisecond), run.ID, len(got))
}

// TestRemoteRunSaysItsMachineLoad: a run executed on a runner has the
// runner machine's load in its summary (other_load, observer_load, named
// for the runner) and the load's counter track, as a local run has this
// machine's.
func TestRemoteRunSaysItsMachineLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "r1", "-slots", "1")
	w := startWebNode(t, ns.URL(), t.TempDir(), nil, "r1")
	run := w.submitWaiting(t, 1000)
	select {
	case <-run.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not end within 30 s")
	}
	if st, _ := run.Status(); st != runs.StatusDone {
		t.Fatalf("the run ended %q, want done", st)
	}
	var sum event.Summary
	if err := json.Unmarshal(run.Summary(), &sum); err != nil {
		t.Fatal(err)
	}
	other, ok1 := sum.Metrics[event.MetricOtherLoad]
	observer, ok2 := sum.Metrics[event.MetricObserverLoad]
	if !ok1 || !ok2 {
		t.Fatalf("the remote run's summary has metrics %v, want %s and %s", sum.Metrics, event.MetricOtherLoad, event.MetricObserverLoad)
	}
	if other.Unit != event.UnitCores || other.Value < 0 || !strings.Contains(observer.Label, "runner") {
		t.Errorf("other_load %+v, observer_load %+v: want cores, the observer named as the runner", other, observer)
	}
	// The runner's machine's core speeds, measured when it started, as a
	// local run has this machine's.
	if runtime.NumCPU() >= 2 {
		if slowest, ok := sum.Metrics[event.MetricSlowestCore]; !ok || slowest.Value <= 0 || slowest.Value > 1 || !strings.Contains(slowest.Label, "runner r1") {
			t.Errorf("slowest_core %+v (present %v): want the runner's cores' speeds, named for it", slowest, ok)
		}
	}
	samples := 0
	for _, line := range lines(t, run) {
		var ev event.Event
		if json.Unmarshal(line, &ev) == nil && ev.K == event.KindCounter && ev.Name == runs.LoadCounter {
			samples++
		}
	}
	if samples < 2 {
		t.Errorf("%d samples of the runner machine's load in a 1 s run, want one every %s", samples, runs.LoadEvery)
	}
	t.Logf("remote run: other_load %.2f cores, observer_load %.2f cores, %d load samples, caveat %q", other.Value, observer.Value, samples, sum.Caveat)
}

// TestPoolBoundsRunsAtOnce: with a pool, the runs executing at once are
// bounded by the slots its runners advertise, not by -max-runs: runs
// beyond wait in the web node's queue with their position (not
// "running" in the stream), and the queue limit still refuses the next.
func TestPoolBoundsRunsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "r1", "-slots", "2")
	w := startWebNode(t, ns.URL(), t.TempDir(), func(l *runs.Limits) { l.MaxConcurrent, l.QueueSize = 1, 2 }, "r1")
	var submitted []*runs.Run
	for range 4 {
		submitted = append(submitted, w.submitWaiting(t, 3000))
	}
	statuses := func() (running, queued []int) {
		for i, r := range submitted {
			switch st, pos := r.Status(); st {
			case runs.StatusRunning:
				running = append(running, i)
			case runs.StatusQueued:
				queued = append(queued, pos)
			}
		}
		return
	}
	running, queued := statuses()
	if len(running) != 2 || len(queued) != 2 || queued[0] != 1 || queued[1] != 2 {
		t.Fatalf("4 runs on a pool of 2 slots with -max-runs 1: running %v, queue positions %v; want 2 running (the slots, not -max-runs) and 2 queued at 1 and 2", running, queued)
	}
	_, err := w.m.Submit(runs.RunRequest{Scenario: "asyncio", Engine: scenarios.EngineGo,
		Params: map[string]any{"tasks": 3, "wait_ms": 100, scenarios.SchedParam: false}})
	var full *runs.QueueFullError
	if !errors.As(err, &full) {
		t.Fatalf("a 5th run with the queue (2) full: %v, want the queue-full refusal", err)
	}
	waitFor(t, 20*time.Second, "both runs on the runner", func() bool {
		for _, hb := range w.d.Runners() {
			if hb.Name == "r1" {
				return hb.Free == 0
			}
		}
		return false
	})
	for _, r := range submitted {
		select {
		case <-r.Done():
		case <-time.After(40 * time.Second):
			t.Fatal("the runs did not all end within 40 s")
		}
		if st, _ := r.Status(); st != runs.StatusDone {
			t.Errorf("run %s ended %q, want done", r.ID, st)
		}
	}
}
