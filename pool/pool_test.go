package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/runner"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
	"interleave/scenarios/goengine"
)

// waitingParams is a deterministic run of the go engine that mostly waits:
// the asyncio model with a few tasks sleeping, without the scheduler trace
// (whose lanes depend on the machine's timing).
func waitingParams(waitMS int) scenarios.Params {
	return scenarios.Params{"tasks": 3, "wait_ms": waitMS, scenarios.SchedParam: false}
}

// sequentialParams is a deterministic run of the go engine: three
// `sleep 0.2` one after another (the asyncio model's tasks may wake in
// either order when their timers are due at the same instant).
func sequentialParams() scenarios.Params {
	return scenarios.Params{"command": "sleep", "mode": "sequential", "count": 3, scenarios.SchedParam: false}
}

// localRun runs j on this machine with the same child code, for reference.
func localRun(t *testing.T, j runner.Job) *recorded {
	t.Helper()
	eng := &goengine.Engine{Executable: binary, Env: []string{"PATH=/usr/bin:/bin"}}
	base := event.Monotonic()
	prog, err := eng.Program(scenarios.Spec{RunID: j.ID, Scenario: j.Scenario, Engine: j.Engine, Params: j.Params, ClockBase: base, Cores: 2})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorded{}
	sink := rec.sink()
	if _, err := child.Run(context.Background(), prog, child.Options{OnEvents: sink.Events, OnOutput: sink.Output}); err != nil {
		t.Fatalf("local run: %v", err)
	}
	return rec
}

// TestTwentyRunsOverTwoRunners: runs spread over both runners, and each
// run's events are those of the same program run locally.
func TestTwentyRunsOverTwoRunners(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "alpha", "-slots", "2")
	startRunner(t, ns.URL(), "beta", "-slots", "2")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "alpha", "beta")

	want := localRun(t, job("subprocess", scenarios.EngineGo, sequentialParams())).shape(t)
	if len(want) < 10 {
		t.Fatalf("the reference run has only %d events", len(want))
	}
	var wg sync.WaitGroup
	recs := make([]*recorded, 20)
	errs := make([]error, 20)
	// The server gives every run a deadline (its context ends then, and the
	// dispatcher then cancels the run and fails it if its runner stays
	// silent); so does this test, so that a run whose claim or result went
	// astray fails the test instead of hanging the package (seen once in
	// a README run: one of the 20 never ended).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := job("subprocess", scenarios.EngineGo, sequentialParams())
			recs[i], errs[i] = execute(ctx, d, j)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("run %s: %w", j.ID, errs[i])
			}
		}()
	}
	wg.Wait()
	by := map[string]int{}
	for i, rec := range recs {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		by[rec.runner()]++
		if got := rec.shape(t); !slices.Equal(got, want) {
			for k := range min(len(got), len(want)) {
				if got[k] != want[k] {
					t.Errorf("first difference at event %d:\ngot  %s\nwant %s", k, got[k], want[k])
					break
				}
			}
			t.Fatalf("run %d on %s: events differ from the local run:\ngot  %d events %v\nwant %d events %v", i, rec.runner(), len(got), got, len(want), want)
		}
		if len(rec.started) != 1 || rec.started[0].PID == 0 || rec.started[0].ClockBase == 0 {
			t.Fatalf("run %d: started %+v, want one with a pid and a clock base", i, rec.started)
		}
	}
	t.Logf("runs per runner: %v", by)
	if by["alpha"] == 0 || by["beta"] == 0 || by["alpha"]+by["beta"] != 20 {
		t.Fatalf("runs per runner %v: want all 20 on alpha and beta, some on each", by)
	}
}

// TestNoRunnerForEngine: a run whose engine no runner has gets
// ErrUnavailable at once, and a runner never receives an engine's runs it
// does not advertise.
func TestRunnerWithoutEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts runner processes")
	}
	// Runner processes and their runs load the machine: not during a
	// timing claim of another package.
	timingclaim.Heavy(t)
	ns := startNATS(t)
	startRunner(t, ns.URL(), "goonly", "-engines", "go", "-slots", "2")
	d := newDispatcher(t, ns.URL(), DispatcherConfig{}, "goonly")

	if err := d.Check(job("asyncio", scenarios.EnginePython, nil)); !errors.Is(err, runner.ErrUnavailable) || !strings.Contains(err.Error(), "python") {
		t.Fatalf("Check of a python run with only a go runner: %v, want ErrUnavailable naming the engine", err)
	}
	if err := d.Check(job("asyncio", scenarios.EngineGo, nil)); err != nil {
		t.Fatalf("Check of a go run with a go runner: %v", err)
	}
	start := time.Now()
	_, err := execute(context.Background(), d, job("asyncio", scenarios.EnginePython, scenarios.Params{"tasks": 3, "wait_ms": 50}))
	if !errors.Is(err, runner.ErrUnavailable) || !strings.Contains(err.Error(), "python") {
		t.Fatalf("python run with only a go runner: %v, want ErrUnavailable naming the engine", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the refusal took %s, want it at once", took)
	}

	startRunner(t, ns.URL(), "both", "-slots", "1")
	waitFor(t, 20*time.Second, "the second runner's heartbeat", func() bool { return len(d.Runners()) == 2 })
	for _, hb := range d.Runners() {
		var ids []string
		for _, e := range hb.Engines {
			ids = append(ids, e.ID)
		}
		t.Logf("runner %s advertises %v", hb.Name, hb.Engines)
		if hb.Name == "goonly" && !slices.Equal(ids, []string{"go"}) {
			t.Fatalf("goonly advertises %v, want only go", ids)
		}
	}
	// Python runs while goonly has free slots: every one goes to "both".
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := execute(context.Background(), d, job("asyncio", scenarios.EnginePython, scenarios.Params{"tasks": 3, "wait_ms": 50}))
			if err != nil {
				t.Errorf("python run: %v", err)
				return
			}
			if rec.runner() != "both" {
				t.Errorf("a python run went to %q, want both (goonly has no python)", rec.runner())
			}
		}()
	}
	wg.Wait()
}
