package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"interleave/runner"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
	"interleave/scenarios/goengine"
)

// locksRun is a short real scenario on the go engine.
var locksRun = RunRequest{Scenario: "locks", Engine: scenarios.EngineGo, Params: map[string]any{"workers": 3, "increments": 2000, "lock": true}}

// newTestManager returns a manager over the go engine and a store in a
// temporary directory, with opts; both are shut down when the test ends.
func newTestManager(t *testing.T, limits Limits, opts ...Option) *Manager {
	t.Helper()
	eng, err := goengine.New()
	if err != nil {
		t.Fatal(err)
	}
	st := openTestStore(t, t.TempDir(), 100, 1<<30)
	m, err := NewManager(limits, []scenarios.Engine{eng}, st, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := st.Drain(ctx); err != nil && !errors.Is(err, ErrStoreClosed) {
			t.Error(err)
		}
	})
	return m
}

// finish waits for run to end and returns its info and every event line.
func finish(t *testing.T, run *Run) (Info, []event.Event) {
	t.Helper()
	select {
	case <-run.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("run %s did not finish", run.ID)
	}
	snap, err := run.Read(0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	for _, line := range snap.Lines {
		var ev event.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("event line %s: %v", line, err)
		}
		evs = append(evs, ev)
	}
	return run.Info(), evs
}

// kinds counts the events of each kind, and the lanes declared.
func kinds(evs []event.Event) (map[string]int, map[string]bool) {
	k, lanes := map[string]int{}, map[string]bool{}
	for _, ev := range evs {
		k[ev.K]++
		if ev.K == event.KindLane {
			lanes[ev.ID] = true
		}
	}
	return k, lanes
}

// TestLocalRunnerRunsARealScenario: a real go scenario executes through
// runs.Manager and the local runner, its events reach the log in order,
// the run names the runner "local", and the store keeps it so.
func TestLocalRunnerRunsARealScenario(t *testing.T) {
	m := newTestManager(t, DefaultLimits())
	run, err := m.Submit(locksRun)
	if err != nil {
		t.Fatal(err)
	}
	info, evs := finish(t, run)
	if info.Status != StatusDone {
		t.Fatalf("status %s, want done; events %v", info.Status, evs)
	}
	if info.Runner != LocalName || run.Runner() != LocalName {
		t.Errorf("runner %q, want %q", info.Runner, LocalName)
	}
	if info.PID == 0 {
		t.Error("no pid recorded for a local run")
	}
	k, lanes := kinds(evs)
	if k[event.KindEnd] != 1 || k[event.KindState] == 0 || len(lanes) < 3 {
		t.Errorf("events by kind %v, lanes %v: want states of the 3 workers and one end", k, lanes)
	}
	stored, err := m.Store().load(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Info(); got.Runner != LocalName || got.Status != StatusDone {
		t.Errorf("stored run: runner %q, status %s; want local, done", got.Runner, got.Status)
	}
}

// namedRunner is a second runner that executes on this machine through the
// local runner but names itself, as a runner of a pool does; lose, when
// set, makes it stop the run once events came and say it lost the runner.
type namedRunner struct {
	local *Local
	name  string
	lose  bool
}

func (n *namedRunner) Execute(ctx context.Context, job runner.Job, sink runner.Sink) (child.Result, error) {
	started := sink.Started
	sink.Started = func(st runner.Started) {
		st.Runner = n.name
		started(st)
	}
	if !n.lose {
		return n.local.Execute(ctx, job, sink)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := sink.Events
	sink.Events = func(lines [][]byte) {
		events(lines)
		cancel() // the runner is gone after its first batch
	}
	res, _ := n.local.Execute(ctx, job, sink)
	return res, fmt.Errorf("%w: %s stopped sending heartbeats", runner.ErrRunnerLost, n.name)
}

// TestSecondRunnerTakesRunsAndNamesItself: with no local slots, every run
// goes to the second runner; the run records the runner's name and has
// the same kinds of events as a local run.
func TestSecondRunnerTakesRunsAndNamesItself(t *testing.T) {
	eng, err := goengine.New()
	if err != nil {
		t.Fatal(err)
	}
	limits := DefaultLimits()
	limits.LocalSlots = 0
	m := newTestManager(t, limits, WithRunner(&namedRunner{local: NewLocal([]scenarios.Engine{eng}, nil), name: "pool-a"}))
	run, err := m.Submit(locksRun)
	if err != nil {
		t.Fatal(err)
	}
	info, evs := finish(t, run)
	if info.Status != StatusDone || info.Runner != "pool-a" {
		t.Fatalf("status %s on runner %q, want done on pool-a", info.Status, info.Runner)
	}
	k, lanes := kinds(evs)
	if k[event.KindEnd] != 1 || len(lanes) < 3 {
		t.Errorf("events by kind %v: want the 3 workers' lanes and one end", k)
	}
}

// TestRunnerLostEndsTheRunFailedKeepingItsEvents: a runner that stops
// answering mid-run ends the run failed, with a mark saying so, and the
// events it sent before are kept.
func TestRunnerLostEndsTheRunFailedKeepingItsEvents(t *testing.T) {
	eng, err := goengine.New()
	if err != nil {
		t.Fatal(err)
	}
	limits := DefaultLimits()
	limits.LocalSlots = 0
	m := newTestManager(t, limits, WithRunner(&namedRunner{local: NewLocal([]scenarios.Engine{eng}, nil), name: "pool-b", lose: true}))
	run, err := m.Submit(locksRun)
	if err != nil {
		t.Fatal(err)
	}
	info, evs := finish(t, run)
	if info.Status != StatusFailed {
		t.Fatalf("status %s, want failed", info.Status)
	}
	var lost bool
	lanes := 0
	for _, ev := range evs {
		lost = lost || ev.K == event.KindMark && strings.HasPrefix(ev.Label, "runner lost: pool-b stopped sending heartbeats")
		if ev.K == event.KindLane {
			lanes++
		}
	}
	if !lost || lanes == 0 {
		t.Errorf("runner lost mark %v, lanes kept %d; events %v", lost, lanes, evs)
	}
}

// unavailableRunner is a second runner that knows at once it cannot take
// any run (its NATS is unreachable).
type unavailableRunner struct{}

func (unavailableRunner) Execute(context.Context, runner.Job, runner.Sink) (child.Result, error) {
	return child.Result{}, runner.ErrUnavailable
}

func (unavailableRunner) Check(runner.Job) error {
	return fmt.Errorf("%w: nats: no servers available for connection", runner.ErrUnavailable)
}

// TestUnavailableRunnerRefusesTheSubmission: with no local slots and a
// runner that says it cannot take runs, a submission is refused with a
// *RunnerUnavailableError that says why, and nothing is queued.
func TestUnavailableRunnerRefusesTheSubmission(t *testing.T) {
	limits := DefaultLimits()
	limits.LocalSlots = 0
	m := newTestManager(t, limits, WithRunner(unavailableRunner{}))
	_, err := m.Submit(locksRun)
	var ru *RunnerUnavailableError
	if !errors.As(err, &ru) || !errors.Is(err, runner.ErrUnavailable) || !strings.Contains(err.Error(), "no servers available") {
		t.Fatalf("Submit = %v, want a *RunnerUnavailableError naming the cause", err)
	}
	if held, _, queued := m.Counts(); held != 0 || queued != 0 {
		t.Errorf("the manager holds %d runs, %d queued, after a refusal", held, queued)
	}
}

// TestLocalSlotsBounds: local-slots past max-runs, or 0 without a second
// runner, is refused with a message naming the flag.
func TestLocalSlotsBounds(t *testing.T) {
	st := openTestStore(t, t.TempDir(), 10, 1<<20)
	for _, n := range []int{0, DefaultLimits().MaxConcurrent + 1} {
		limits := DefaultLimits()
		limits.LocalSlots = n
		if _, err := NewManager(limits, nil, st, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "local-slots") {
			t.Errorf("local-slots %d: NewManager = %v, want an error naming local-slots", n, err)
		}
	}
}

// TestPlacement: with local slots free a run executes here; with none (or
// all taken) it goes to the second runner, except a step run, which always
// executes here, within the run slots; past the run slots nothing starts.
func TestPlacement(t *testing.T) {
	st := openTestStore(t, t.TempDir(), 10, 1<<20)
	remote := unavailableRunner{}
	limits := DefaultLimits()
	limits.MaxConcurrent, limits.LocalSlots = 2, 1
	m, err := NewManager(limits, nil, st, slog.New(slog.DiscardHandler), WithRunner(remote))
	if err != nil {
		t.Fatal(err)
	}
	plain, step := &Run{}, &Run{stepRun: true}
	if got := m.placeLocked(plain); got != runner.Runner(m.local) {
		t.Errorf("with a local slot free, a run went to %T", got)
	}
	m.running, m.localRunning = 1, 1
	if got := m.placeLocked(plain); got != runner.Runner(remote) {
		t.Errorf("with the local slot taken, a run went to %T, want the second runner", got)
	}
	if got := m.placeLocked(step); got != runner.Runner(m.local) {
		t.Errorf("a step run went to %T, want this machine", got)
	}
	m.running = 2
	if got := m.placeLocked(plain); got != nil {
		t.Errorf("past -max-runs a run went to %T", got)
	}
	if got := m.placeLocked(step); got != nil {
		t.Errorf("past -max-runs a step run went to %T", got)
	}
}
