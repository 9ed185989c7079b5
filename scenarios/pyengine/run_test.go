package pyengine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
	"interleave/scenarios/verdict"
)

// requirePythonEnv makes a missing python3 a failure instead of a skip (CI
// sets it, so that the claims are always checked there).
const requirePythonEnv = "INTERLEAVE_REQUIRE_PYTHON"

// pythonEnv picks the interpreter the tests run (default python3 from
// PATH), e.g. to check another CPython version.
const pythonEnv = "INTERLEAVE_PYTHON"

// testEngine is shared by the tests of the package; TestMain closes it.
var testEngine *Engine

func TestMain(m *testing.M) {
	e, err := New(os.Getenv(pythonEnv))
	if err != nil {
		panic(err)
	}
	testEngine = e
	code := m.Run()
	e.Close()
	os.Exit(code)
}

// needPython skips the test when python3 is missing, unless CI requires it.
func needPython(t testing.TB) *Engine {
	t.Helper()
	if err := testEngine.Available(); err != nil {
		if os.Getenv(requirePythonEnv) == "1" {
			t.Fatalf("%s=1 but the python engine is unavailable: %v", requirePythonEnv, err)
		}
		t.Skipf("python engine unavailable, skipping (set %s=1 to fail instead): %v", requirePythonEnv, err)
	}
	return testEngine
}

// result is what one real run of a script produced.
type result struct {
	events  []event.Event
	output  map[string]string
	summary *event.Summary
	err     error
	pid     int
	// firstEvent is how long after the start the first event line arrived.
	firstEvent time.Duration
	// wall is how long child.Run took, start to return.
	wall time.Duration
}

func (r result) lanes(kind string) []event.Event {
	var out []event.Event
	for _, ev := range r.events {
		if ev.K == event.KindLane && (kind == "" || ev.Kind == kind) {
			out = append(out, ev)
		}
	}
	return out
}

func (r result) metric(t testing.TB, name string) float64 {
	t.Helper()
	if r.summary == nil {
		t.Fatalf("no end summary; stderr: %s", r.output["stderr"])
	}
	m, ok := r.summary.Metrics[name]
	if !ok {
		t.Fatalf("summary has no metric %q: %v", name, r.summary.Metrics)
	}
	return m.Value
}

func (r result) marks() []string {
	var out []string
	for _, ev := range r.events {
		if ev.K == event.KindMark {
			out = append(out, ev.Label)
		}
	}
	return out
}

// spans returns the durations of every span in state s, per lane: a state
// event starts a span that ends at the lane's next state event.
func (r result) spans(s string) []time.Duration {
	open := map[string]int64{}
	var out []time.Duration
	for _, ev := range r.events {
		if ev.K != event.KindState {
			continue
		}
		if t0, ok := open[ev.Lane]; ok {
			out = append(out, time.Duration(ev.T-t0))
			delete(open, ev.Lane)
		}
		if ev.S == s {
			open[ev.Lane] = ev.T
		}
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// runOptions changes how runScenario runs the child.
type runOptions struct {
	// ctx replaces the test's own deadline (to cancel a run mid-way).
	ctx context.Context
	// onEvent sees every event as it arrives.
	onEvent func(event.Event)
}

// runScenario runs scenario id on the python engine in a real child
// process, as the server does: child.Run, its own process group, events on
// fd 3.
func runScenario(t testing.TB, id string, raw map[string]any, opts ...runOptions) result {
	t.Helper()
	// A run's child processes load the machine: never during another
	// package's timing claim (inside this test's own claim, nothing more).
	timingclaim.Heavy(t)
	e := needPython(t)
	var opt runOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
	sc, ok := scenarios.Lookup(id)
	if !ok {
		t.Fatalf("no scenario %s", id)
	}
	params, err := scenarios.Validate(sc.ParamsFor(scenarios.EnginePython), raw)
	if err != nil {
		t.Fatalf("params: %v", err)
	}
	prog, err := e.Program(scenarios.Spec{RunID: "test", Scenario: id, Engine: scenarios.EnginePython, Params: params, ClockBase: event.Monotonic(), Cores: runtime.NumCPU()})
	if err != nil {
		t.Fatal(err)
	}
	res := runProgram(t, id, prog, opt)
	// The server derives the verdict from the numbers; so does the test.
	if res.summary != nil && res.summary.Verdict == "" {
		res.summary.Verdict = verdict.Derive(verdict.Input{Scenario: id, Engine: scenarios.EnginePython, Params: params, Summary: *res.summary, Cores: runtime.NumCPU()}).Sentence
	}
	return res
}

// runTestScript runs testdata/name (with the harness and the scenario
// scripts next to it) as the engine runs a scenario; params reach it in the
// spec.
func runTestScript(t testing.TB, name string, params scenarios.Params, opts ...runOptions) result {
	t.Helper()
	return runTestScriptOn(t, needPython(t), scenarios.EnginePython, name, params, opts...)
}

// runTestScriptOn is runTestScript on engine e (whose id is engine).
func runTestScriptOn(t testing.TB, e *Engine, engine, name string, params scenarios.Params, opts ...runOptions) result {
	t.Helper()
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), script, 0o600); err != nil {
		t.Fatal(err)
	}
	// The harness and the scenario scripts next to it, as the engine lays
	// them out: a test script may import a scenario and run it.
	if err := writeScripts(dir); err != nil {
		t.Fatal(err)
	}
	prog, err := e.program(filepath.Join(dir, name), scenarios.Spec{RunID: "test", Scenario: name, Engine: engine, Params: params, ClockBase: event.Monotonic(), Cores: runtime.NumCPU()})
	if err != nil {
		t.Fatal(err)
	}
	var opt runOptions
	if len(opts) > 0 {
		opt = opts[0]
	}
	return runProgram(t, name, prog, opt)
}

// runProgram runs prog with child.Run, as the server does, and collects
// what it emitted.
func runProgram(t testing.TB, name string, prog scenarios.Program, opt runOptions) result {
	t.Helper()
	ctx := opt.ctx
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
	}
	var res result
	res.output = map[string]string{}
	start := time.Now()
	var badLines []string
	r, err := child.Run(ctx, prog, child.Options{
		OnEvents: func(lines [][]byte) {
			if res.firstEvent == 0 {
				res.firstEvent = time.Since(start)
			}
			for _, l := range lines {
				var ev event.Event
				if err := json.Unmarshal(l, &ev); err != nil {
					badLines = append(badLines, fmt.Sprintf("%q: %v", l, err))
					continue
				}
				if ev.K == event.KindEnd {
					res.summary = ev.Summary
				}
				res.events = append(res.events, ev)
				if opt.onEvent != nil {
					opt.onEvent(ev)
				}
			}
		},
		OnOutput: func(stream string, text []byte) { res.output[stream] += string(text) },
	})
	res.err, res.pid, res.wall = err, r.PID, time.Since(start)
	// A run killed mid-way (cancelled) may have been cut in the middle of
	// writing its last line; any other bad line is a bug.
	if len(badLines) == 1 && opt.ctx != nil && opt.ctx.Err() != nil {
		badLines = nil
	}
	for _, l := range badLines {
		t.Errorf("bad event line %s", l)
	}
	if err != nil {
		t.Logf("child %s: %v; stderr: %s", name, err, res.output["stderr"])
	}
	return res
}

// runOK runs a scenario that must succeed.
func runOK(t testing.TB, id string, raw map[string]any) result {
	t.Helper()
	res := runScenario(t, id, raw)
	if res.err != nil {
		t.Fatalf("%s failed: %v\nstderr: %s", id, res.err, res.output["stderr"])
	}
	if res.summary == nil {
		t.Fatalf("%s: no end summary", id)
	}
	return res
}
