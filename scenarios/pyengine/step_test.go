package pyengine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
	"interleave/scenarios/invariant"
	"interleave/scenarios/search"
	"interleave/scenarios/stepping"
)

// steps returns a run's step events as comparable lines (time left out):
// lane, step number, line, code and locals.
func (r result) steps() []string {
	var out []string
	for _, ev := range r.events {
		if ev.K != event.KindStep {
			continue
		}
		names := make([]string, 0, len(ev.Locals))
		for k, v := range ev.Locals {
			names = append(names, k+"="+v)
		}
		sort.Strings(names)
		out = append(out, fmt.Sprintf("%s n=%d line=%d %q %s", ev.Lane, ev.N, ev.Line, ev.Code, strings.Join(names, ",")))
	}
	return out
}

// TestScheduleReplaysExactly runs one schedule ten times: the same step
// events (lane, line, code, locals) in the same order and the same final
// counter every time, since a schedule is the whole interleaving.
func TestScheduleReplaysExactly(t *testing.T) {
	params := map[string]any{"workers": 2, "increments": 2, "schedule": "1,1,2,2,1,2"}
	var first []string
	for i := range 10 {
		res := runOK(t, "locks", params)
		got := res.steps()
		if lost := res.metric(t, "lost"); lost != 1 {
			t.Fatalf("run %d lost %v updates, want 1 (both threads read 0 before either wrote)", i+1, lost)
		}
		if i == 0 {
			first = got
			// 2 arrivals + 6 steps, each a step event.
			if len(first) != 8 {
				t.Fatalf("step events: %d, want 8:\n%s", len(first), strings.Join(first, "\n"))
			}
			continue
		}
		if strings.Join(got, "\n") != strings.Join(first, "\n") {
			t.Fatalf("run %d stepped differently:\n%s\nfirst run:\n%s", i+1, strings.Join(got, "\n"), strings.Join(first, "\n"))
		}
	}
	// The step that loses the update: worker 2 writes back the 0 it read.
	if !strings.Contains(first[len(first)-1], `worker-2 n=6`) {
		t.Errorf("last step %q, want worker 2's sixth step", first[len(first)-1])
	}
}

// TestStepRunDrawsOneThreadRunningAtATime: a stepped run lets one thread
// run a line at a time, so at no instant are two of its lanes running.
func TestStepRunDrawsOneThreadRunningAtATime(t *testing.T) {
	res := runOK(t, "locks", map[string]any{"workers": 3, "increments": 3, "lock": true, "schedule": "1,1,2,2,3,3,1,1,1,2,3,1,2,3,2,1,1,1,1,2,2,2,3,3,3,3,3"})
	rep := invariant.Check(res.events, invariant.Limits{
		Machine: runtime.NumCPU(),
		Process: func(event.Event) (string, int) { return "python", 1 },
	})
	if rep.OverProcess > 0 || rep.MaxRunning > 1 {
		t.Errorf("up to %d lanes drawn running at once (over one for %v), want one at a time", rep.MaxRunning, time.Duration(rep.OverProcess))
	}
	if res.metric(t, "lost") != 0 {
		t.Errorf("%v updates lost under the lock", res.metric(t, "lost"))
	}
}

// searchOK runs a search that must answer.
func searchOK(t *testing.T, id string, raw map[string]any, goal string) search.Result {
	t.Helper()
	e := needPython(t)
	sc, _ := scenarios.Lookup(id)
	params, err := sc.Validate(scenarios.EnginePython, raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := search.Run(context.Background(), e, search.Request{Scenario: id, Engine: scenarios.EnginePython, Params: params, Goal: goal})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %v %s: %+v", id, raw, goal, res)
	return res
}

// TestSearchFindsALostUpdateThatReplays searches 2 threads × 2 increments
// exhaustively, and the schedule it found loses exactly the updates it
// claims when a run follows it.
func TestSearchFindsALostUpdateThatReplays(t *testing.T) {
	res := searchOK(t, "locks", map[string]any{"workers": 2, "increments": 2}, scenarios.GoalLostUpdate)
	if !res.Found || !res.Exhaustive {
		t.Fatalf("found=%v exhaustive=%v, want an exhaustive search that finds a lost update", res.Found, res.Exhaustive)
	}
	// Two threads of 7 lines each, cut where one is left: C(14,7) = 3432.
	if res.Explored != 3432 {
		t.Errorf("explored %d interleavings, want 3432", res.Explored)
	}
	if res.Lost == nil || *res.Lost < 1 {
		t.Fatalf("lost = %v, want the updates the schedule loses", res.Lost)
	}
	run := runOK(t, "locks", map[string]any{"workers": 2, "increments": 2, "schedule": res.Schedule})
	if got := int(run.metric(t, "lost")); got != *res.Lost {
		t.Errorf("schedule %s lost %d updates in a run, the search claimed %d", res.Schedule, got, *res.Lost)
	}
	if n := len(strings.Split(res.Schedule, ",")); int(run.metric(t, "steps")) != n {
		t.Errorf("run took %v steps, the schedule names %d", run.metric(t, "steps"), n)
	}
}

// TestSearchWithTheLockFindsNone: with the lock, no interleaving of 2
// threads × 2 increments loses an update, and the search says it looked at
// every one.
func TestSearchWithTheLockFindsNone(t *testing.T) {
	res := searchOK(t, "locks", map[string]any{"workers": 2, "increments": 2, "lock": true}, scenarios.GoalLostUpdate)
	if res.Found || !res.Exhaustive || res.Explored < 3432 {
		t.Fatalf("found=%v exhaustive=%v explored=%d, want none found among every interleaving", res.Found, res.Exhaustive, res.Explored)
	}
	want := fmt.Sprintf("Explored %d interleavings: none loses an update.", res.Explored)
	if res.Sentence != want {
		t.Errorf("sentence %q, want %q", res.Sentence, want)
	}
}

// TestSearchIsQuick: the 2 × 2 search answers within a second, the
// interpreter's start included.
func TestSearchIsQuick(t *testing.T) {
	needPython(t)
	timingclaim.Claim(t)
	// The best of three: other work on the machine only slows a search.
	best := time.Duration(1 << 62)
	for i := range 3 {
		start := time.Now()
		searchOK(t, "locks", map[string]any{"workers": 2, "increments": 2}, scenarios.GoalLostUpdate)
		took := time.Since(start)
		t.Logf("attempt %d: %v", i+1, took.Round(time.Millisecond))
		best = min(best, took)
		if best <= time.Second {
			break
		}
	}
	if best > time.Second {
		t.Errorf("the 2×2 search took %v at best, want at most 1 s", best.Round(time.Millisecond))
	}
}

// TestDeadlockFoundAndDetected: the search finds the interleaving where
// each thread holds its first lock; a run following it stops with a mark
// naming the cycle, arrows along it, status done and a verdict naming it.
func TestDeadlockFoundAndDetected(t *testing.T) {
	res := searchOK(t, "deadlock", map[string]any{"order": "opposite"}, scenarios.GoalDeadlock)
	if !res.Found || !res.Exhaustive {
		t.Fatalf("found=%v exhaustive=%v, want a deadlock found", res.Found, res.Exhaustive)
	}
	run := runOK(t, "deadlock", map[string]any{"order": "opposite", "schedule": res.Schedule})
	if run.metric(t, "deadlock") != 1 || run.metric(t, "cycle") != 2 {
		t.Fatalf("deadlock=%v cycle=%v, want a cycle of 2 threads", run.metric(t, "deadlock"), run.metric(t, "cycle"))
	}
	cycle := "worker 1 waits for lock_b, held by worker 2; worker 2 waits for lock_a, held by worker 1"
	if !strings.Contains(strings.Join(run.marks(), "\n"), "deadlock: "+cycle) {
		t.Errorf("marks %q, want one naming the cycle %q", run.marks(), cycle)
	}
	if !strings.Contains(run.summary.Verdict, cycle) {
		t.Errorf("verdict %q does not name the cycle", run.summary.Verdict)
	}
	arrows := map[string]bool{}
	for _, ev := range run.events {
		if ev.K == event.KindFlow {
			arrows[ev.From+">"+ev.To+" "+ev.Label] = true
		}
	}
	for _, want := range []string{"worker-1>worker-2 waits for lock_b", "worker-2>worker-1 waits for lock_a"} {
		if !arrows[want] {
			t.Errorf("no arrow %s; arrows %v", want, arrows)
		}
	}
}

// TestFixedOrderNeverDeadlocks explores every interleaving of the fixed
// order: none deadlocks.
func TestFixedOrderNeverDeadlocks(t *testing.T) {
	for _, raw := range []map[string]any{
		{"order": "fixed"},
		{"order": "fixed", "rounds": 2},
	} {
		res := searchOK(t, "deadlock", raw, scenarios.GoalDeadlock)
		if res.Found || !res.Exhaustive {
			t.Errorf("%v: found=%v exhaustive=%v, want no deadlock among every interleaving", raw, res.Found, res.Exhaustive)
		}
	}
	// The opposite order with three threads deadlocks in a ring.
	res := searchOK(t, "deadlock", map[string]any{"order": "opposite", "workers": 3}, scenarios.GoalDeadlock)
	if !res.Found || strings.Count(res.Deadlock, "waits for") != 3 {
		t.Errorf("3 threads, opposite: %+v, want a cycle of 3", res)
	}
}

// TestSearchTurnsRandomWhenTheSpaceIsBig: past the states bound the search
// tries random interleavings and does not claim to have seen them all.
func TestSearchTurnsRandomWhenTheSpaceIsBig(t *testing.T) {
	res := searchOK(t, "locks", map[string]any{"workers": 4, "increments": 50}, scenarios.GoalLostUpdate)
	if res.Exhaustive {
		t.Fatalf("4 threads × 50 increments explored exhaustively (%d states)? want random", res.States)
	}
	if !res.Found || res.Explored < 1 {
		t.Errorf("found=%v after %d random interleavings, want a lost update found", res.Found, res.Explored)
	}
	if !strings.HasPrefix(res.Sentence, "Tried ") {
		t.Errorf("sentence %q should say the interleavings were random", res.Sentence)
	}
}

// TestFreeRunDetectsDeadlock: running freely, the opposite orders deadlock
// on their own (both threads hold their first lock during the pause); the
// run ends done instead of hanging, saying so. The fixed order never does.
func TestFreeRunDetectsDeadlock(t *testing.T) {
	deadlocks := 0
	for range 3 {
		run := runOK(t, "deadlock", map[string]any{"order": "opposite"})
		if run.metric(t, "deadlock") == 1 {
			deadlocks++
			if !strings.Contains(strings.Join(run.marks(), "\n"), "deadlock: ") {
				t.Errorf("a deadlock without its mark: %q", run.marks())
			}
		} else if run.metric(t, "transfers") != 2 {
			t.Errorf("no deadlock but %v transfers, want 2", run.metric(t, "transfers"))
		}
	}
	if deadlocks == 0 {
		t.Errorf("opposite orders never deadlocked in 3 free runs")
	}
	run := runOK(t, "deadlock", map[string]any{"order": "fixed", "workers": 4, "rounds": 20})
	if run.metric(t, "deadlock") != 0 || run.metric(t, "transfers") != 80 {
		t.Errorf("fixed order: deadlock=%v transfers=%v, want 0 and 80", run.metric(t, "deadlock"), run.metric(t, "transfers"))
	}
}

// groupCPU returns the CPU time every thread of every process in pgid's
// group has used, in ns (from schedstat, which counts exactly, not in
// clock ticks).
func groupCPU(t *testing.T, pgid int) int64 {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var ns int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid {
			continue
		}
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, task := range tasks {
			ss, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
			if err != nil {
				continue
			}
			v, _ := strconv.ParseInt(strings.Fields(string(ss))[0], 10, 64)
			ns += v
		}
	}
	return ns
}

// TestLearnerStepsOverTheControlChannel steps a run as the server does:
// the control socket on fd 4. While it waits for the learner the run uses
// no CPU; a thread waiting for the lock cannot step and says why; an
// unknown lane is refused naming the threads; "free" runs it to the end.
func TestLearnerStepsOverTheControlChannel(t *testing.T) {
	e := needPython(t)
	sc, _ := scenarios.Lookup("locks")
	params, err := sc.Validate(scenarios.EnginePython, map[string]any{"workers": 2, "increments": 2, "lock": true, "step": true})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := e.Program(scenarios.Spec{RunID: "test", Scenario: "locks", Engine: scenarios.EnginePython, Params: params, ClockBase: event.Monotonic(), Cores: runtime.NumCPU()})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := stepping.Open(100)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res result
	pids := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		_, err := child.Run(ctx, prog, child.Options{
			OnEvents: func(lines [][]byte) {
				for _, l := range lines {
					var ev event.Event
					if json.Unmarshal(l, &ev) == nil {
						res.events = append(res.events, ev)
						if ev.K == event.KindEnd {
							res.summary = ev.Summary
						}
					}
				}
			},
			OnStart:    func(pid int) { ctl.Started(); pids <- pid },
			ExtraFiles: []*os.File{ctl.ChildEnd()},
		})
		done <- err
	}()
	pid := <-pids
	select {
	case <-ctl.Paused():
	case err := <-done:
		t.Fatalf("the run ended before it waited for a step: %v", err)
	}

	// Paused: once the processes have settled (the event recorder may
	// still be starting), the whole group sleeps.
	settle := time.Now()
	for last := groupCPU(t, pid); time.Since(settle) < 5*time.Second; {
		time.Sleep(100 * time.Millisecond) // sampling, not synchronisation
		now := groupCPU(t, pid)
		if now == last {
			break
		}
		last = now
	}
	before := groupCPU(t, pid)
	time.Sleep(500 * time.Millisecond) // the measurement's window
	used := time.Duration(groupCPU(t, pid) - before)
	t.Logf("a paused step run used %v of CPU in 500 ms (every process and thread of its group)", used)
	if used > time.Millisecond {
		t.Errorf("a paused step run used %v of CPU in 500 ms, want none", used)
	}

	step := func(lane string) stepping.Reply {
		t.Helper()
		r, err := ctl.Step(ctx, lane)
		if err != nil {
			t.Fatalf("step %s: %v", lane, err)
		}
		return r
	}
	step("worker-1")      // for
	step("worker-1")      // lock.acquire(): worker 1 holds the lock
	step("worker-2")      // for
	r := step("worker-2") // lock.acquire(): held, so worker 2 waits
	if r.Status != "blocked" {
		t.Errorf("worker 2 after asking for a held lock: %q, want blocked", r.Status)
	}
	_, err = ctl.Step(ctx, "worker-2")
	if se, ok := stepping.IsError(err); !ok || se.Code != stepping.CodeBlocked || !strings.Contains(se.Message, "waits for counter_lock, held by worker 1") {
		t.Errorf("stepping a thread that waits for the lock: %v, want it refused saying who holds the lock", err)
	}
	_, err = ctl.Step(ctx, "worker-9")
	if se, ok := stepping.IsError(err); !ok || se.Code != stepping.CodeUnknownLane || !strings.Contains(se.Message, "worker-1, worker-2") {
		t.Errorf("stepping an unknown lane: %v, want it refused naming the threads", err)
	}
	if r, err := ctl.Random(ctx); err != nil || r.Lane != "worker-1" {
		t.Errorf("random step: %+v %v, want worker 1, the only thread that can step", r, err)
	}
	if _, err := ctl.Free(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the run failed after free: %v", err)
	}
	if res.summary == nil || res.summary.Metrics["lost"].Value != 0 || res.summary.Metrics["actual"].Value != 4 {
		t.Fatalf("summary %+v, want 4 increments, none lost", res.summary)
	}
	if got := len(res.steps()); got != 2+5 {
		t.Errorf("%d step events, want 2 arrivals and 5 steps", got)
	}
}

// BenchmarkSearch measures a search end to end (the interpreter's start
// included) for the configurations docs/performance.md reports, with the
// interleavings explored and the states executed.
//
//	go test ./scenarios/pyengine -run '^$' -bench Search -benchtime 5x
func BenchmarkSearch(b *testing.B) {
	e := testEngine
	if err := e.Available(); err != nil {
		b.Skip(err)
	}
	for _, tc := range []struct {
		name, scenario, goal string
		raw                  map[string]any
	}{
		{"locks-2x2", "locks", scenarios.GoalLostUpdate, map[string]any{"workers": 2, "increments": 2}},
		{"locks-2x2-lock", "locks", scenarios.GoalLostUpdate, map[string]any{"workers": 2, "increments": 2, "lock": true}},
		{"locks-2x3", "locks", scenarios.GoalLostUpdate, map[string]any{"workers": 2, "increments": 3}},
		{"deadlock-opposite", "deadlock", scenarios.GoalDeadlock, map[string]any{"order": "opposite"}},
		{"deadlock-fixed", "deadlock", scenarios.GoalDeadlock, map[string]any{"order": "fixed"}},
		{"deadlock-fixed-2-rounds", "deadlock", scenarios.GoalDeadlock, map[string]any{"order": "fixed", "rounds": 2}},
		{"deadlock-opposite-3", "deadlock", scenarios.GoalDeadlock, map[string]any{"order": "opposite", "workers": 3}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sc, _ := scenarios.Lookup(tc.scenario)
			params, err := sc.Validate(scenarios.EnginePython, tc.raw)
			if err != nil {
				b.Fatal(err)
			}
			var res search.Result
			for b.Loop() {
				res, err = search.Run(context.Background(), e, search.Request{Scenario: tc.scenario, Engine: scenarios.EnginePython, Params: params, Goal: tc.goal})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.Explored), "interleavings")
			b.ReportMetric(float64(res.States), "states")
			b.ReportMetric(float64(res.Steps), "steps")
			b.ReportMetric(res.ElapsedMS, "search-ms")
			if !res.Exhaustive {
				b.Logf("%s: not exhaustive", tc.name)
			}
			b.Logf("%s: %s", tc.name, res.Sentence)
		})
	}
}
