package goengine

import (
	"slices"
	"strings"
	"testing"

	"interleave/scenarios"
	"interleave/scenarios/event"
)

func TestSubprocessAllowListMatchesCatalog(t *testing.T) {
	sc, _ := scenarios.Lookup("subprocess")
	for _, p := range sc.Params {
		if p.Name != "command" {
			continue
		}
		for _, name := range p.Options {
			c, ok := allowedCommands[name]
			if !ok {
				t.Errorf("catalog offers command %q that the allow-list lacks", name)
				continue
			}
			if c.role == "" && slices.ContainsFunc(c.argv, func(a string) bool { return a == "sh" || a == "bash" || strings.Contains(a, "/sh") }) {
				t.Errorf("command %q runs a shell: %v", name, c.argv)
			}
		}
		if len(p.Options) != len(allowedCommands) {
			t.Errorf("catalog has %d commands, allow-list %d", len(p.Options), len(allowedCommands))
		}
		return
	}
	t.Fatal("subprocess has no command param")
}

func TestSubprocessCapturesExitCodeAndStderr(t *testing.T) {
	res := mustRun(t, "subprocess", map[string]any{"command": "fail", "count": 1.0, "mode": "sequential", "check": false})
	if got := res.metric(t, "exit_1"); got != 3 {
		t.Errorf("exit code = %v, want 3", got)
	}
	if !res.hasMark("proc-1", "exit code 3") {
		t.Errorf("no exit-code mark on the process lane: %v", res.marks("proc-1"))
	}
	if got := res.outputText("proc-1", "stderr"); !strings.Contains(got, "config.toml: no such file") {
		t.Errorf("stderr not captured as output: %q", got)
	}
	if got := res.outputText("proc-1", "stdout"); !strings.Contains(got, "reading settings") {
		t.Errorf("stdout not captured as output: %q", got)
	}
	if l, ok := res.lane("proc-1"); !ok || l.Kind != event.LaneProcess || l.PID <= 0 {
		t.Errorf("process lane = %+v, want kind process with a pid", l)
	}
	t.Logf("verdict: %s", res.summary.Verdict)
}

func TestSubprocessCheckFailsTheRunWithStderr(t *testing.T) {
	res := runScenario(t, "subprocess", map[string]any{"command": "fail", "count": 2.0, "mode": "sequential", "check": true})
	if res.err == nil {
		t.Fatal("check=true with a failing command: the run succeeded, want it failed")
	}
	checkNoStrays(t, res)
	const msg = "config.toml: no such file or directory"
	if !res.hasMark("", "error: CalledProcessError") || !res.hasMark("", msg) {
		t.Errorf("no run error mark carrying the command's message %q: %v", msg, res.marks(""))
	}
	if !res.hasMark("proc-1", "CalledProcessError: exit status 3") {
		t.Errorf("no CalledProcessError mark on the failing process: %v", res.marks("proc-1"))
	}
	if _, ok := res.lane("proc-2"); ok {
		t.Error("sequential run went on after the error; subprocess.run would have raised")
	}
	if res.summary == nil || !strings.Contains(res.summary.Verdict, "check=true") {
		t.Errorf("verdict does not explain the failure: %+v", res.summary)
	}
}

func TestSubprocessTimeoutKillsChild(t *testing.T) {
	res := runScenario(t, "subprocess", map[string]any{"command": "sleep", "count": 1.0, "timeout_ms": 50.0})
	checkNoStrays(t, res)
	lane, ok := res.lane("proc-1")
	if !ok || lane.PID <= 0 {
		t.Fatalf("no process lane with a pid: %+v", lane)
	}
	if !res.hasMark("proc-1", "timeout: killed after 50 ms") {
		t.Errorf("no timeout mark: %v", res.marks("proc-1"))
	}
	if !res.hasMark("proc-1", "is gone") {
		t.Errorf("no mark that the pid is gone: %v", res.marks("proc-1"))
	}
	if !pidGone(lane.PID) {
		t.Errorf("pid %d still exists after the timeout", lane.PID)
	}
	if res.err == nil {
		t.Error("a timeout must raise (TimeoutExpired) and fail the run")
	}
	if d := res.metric(t, "children_max"); d >= 150 {
		t.Errorf("the 200 ms sleep ran %.0f ms despite a 50 ms timeout", d)
	}
}

func TestSubprocessConcurrentIsAboutTheLongest(t *testing.T) {
	timed := timingClaim(t)
	var conc result
	ratio := 0.0
	untilHeld(t, 3, func() bool {
		params := map[string]any{"command": "sleep", "count": 4.0, "mode": "sequential"}
		seq := mustRun(t, "subprocess", params)
		params["mode"] = "concurrent"
		conc = mustRun(t, "subprocess", params)
		ratio = conc.wallMS() / seq.wallMS()
		t.Logf("4 × sleep 0.2: sequential %.0f ms (children sum %.0f ms), concurrent %.0f ms (longest child %.0f ms): %.2f",
			seq.wallMS(), seq.metric(t, "children_sum"), conc.wallMS(), conc.metric(t, "children_max"), ratio)
		return !timed || ratio < 0.6
	})
	if timed && ratio >= 0.6 {
		t.Errorf("concurrent/sequential = %.2f, want < 0.6", ratio)
	}
	if lanes := len(conc.lanes(event.LaneProcess)); lanes != 5 {
		t.Errorf("%d process lanes, want 4 children and the runner", lanes)
	}
}

func TestSubprocessPipelinePassesData(t *testing.T) {
	res := mustRun(t, "subprocess", map[string]any{"command": "slow-print", "mode": "pipeline"})
	// slow-print | sort -r | cat -n: the last program numbers the lines it
	// received, in reverse order, which only the whole pipeline can produce.
	out := res.outputText("proc-3", "stdout")
	if !strings.Contains(out, "1\tslow-print: line 5 of 5") || !strings.Contains(out, "5\tslow-print: line 1 of 5") {
		t.Errorf("last program printed %q, want slow-print's lines reversed and numbered", out)
	}
	flows := res.count(func(ev event.Event) bool { return ev.K == event.KindFlow && strings.Contains(ev.Label, "pipe") })
	if flows != 2 {
		t.Errorf("%d pipe arrows, want 2", flows)
	}
	if got := res.metric(t, "pipeline_lines"); got != slowPrintLines {
		t.Errorf("pipeline_lines = %v, want %d", got, slowPrintLines)
	}
}
