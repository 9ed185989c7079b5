package pyengine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"interleave/internal/timingclaim"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
)

func TestSubprocessExitCodesOutputAndTimeouts(t *testing.T) {
	t.Run("exit code and stderr, check=false", func(t *testing.T) {
		res := runOK(t, "subprocess", map[string]any{"command": "fail", "count": 1.0, "check": false})
		if got := res.metric(t, "exit_1"); got != 3 {
			t.Errorf("exit code %v, want 3", got)
		}
		if !strings.Contains(outputOf(res, "proc-1", "stderr"), "no such file or directory") {
			t.Errorf("the child's stderr was not captured: %q", outputOf(res, "proc-1", "stderr"))
		}
	})
	t.Run("check=true fails the run", func(t *testing.T) {
		res := runScenario(t, "subprocess", map[string]any{"command": "fail", "count": 2.0, "check": true})
		if exitCode(res.err) != 1 {
			t.Fatalf("run ended with %v, want exit status 1 (failed)", res.err)
		}
		if !hasMark(res, "CalledProcessError") || !strings.Contains(res.output["stderr"], "subprocess.CalledProcessError") {
			t.Errorf("no CalledProcessError: marks %q, stderr %q", res.marks(), res.output["stderr"])
		}
		if n := res.metric(t, "children"); n != 1 {
			t.Errorf("%v children ran; the exception must stop the sequence after the first", n)
		}
	})
	t.Run("timeout kills the child", func(t *testing.T) {
		for _, mode := range []string{"sequential", "concurrent"} {
			res := runScenario(t, "subprocess", map[string]any{"command": "sleep", "count": 1.0, "timeout_ms": 50.0, "mode": mode})
			if exitCode(res.err) != 1 || !hasMark(res, "TimeoutExpired") {
				t.Errorf("%s: run ended with %v, marks %q; want TimeoutExpired and status failed", mode, res.err, res.marks())
			}
			pids := res.lanes(event.LaneProcess)
			var child int
			for _, l := range pids {
				if l.ID == "proc-1" {
					child = l.PID
				}
			}
			if child == 0 {
				t.Fatalf("%s: the child's lane has no pid", mode)
			}
			if !hasMark(res, "is gone") || !errors.Is(syscall.Kill(child, 0), syscall.ESRCH) {
				t.Errorf("%s: pid %d should be gone after the timeout; marks %q", mode, child, res.marks())
			}
		}
	})
	t.Run("timeout kills the child within 100 ms of it", func(t *testing.T) {
		timingClaim(t)
		for _, mode := range []string{"sequential", "concurrent"} {
			ran := -timingclaim.Best(t, 3, -150, func() float64 {
				res := runScenario(t, "subprocess", map[string]any{"command": "sleep", "count": 1.0, "timeout_ms": 50.0, "mode": mode})
				return -res.metric(t, "children_max")
			})
			if ran > 150 {
				t.Errorf("%s: the child ran %v ms despite a 50 ms timeout", mode, ran)
			}
		}
	})
	t.Run("concurrent takes about the longest, sequential the sum", func(t *testing.T) {
		timingClaim(t)
		best := fastestUntil(t, 1, 2, func(best []result) bool {
			return float64(best[1].summary.WallNS)/float64(best[0].summary.WallNS) <= 0.6
		}, "subprocess", map[string]any{"command": "sleep", "count": 4.0, "mode": "sequential"},
			map[string]any{"command": "sleep", "count": 4.0, "mode": "concurrent"})
		seq, con := best[0], best[1]
		if r := float64(con.summary.WallNS) / float64(seq.summary.WallNS); r > 0.6 {
			t.Errorf("concurrent took %.2f of sequential; want < 0.6", r)
		}
	})
	t.Run("pipeline passes data", func(t *testing.T) {
		res := runOK(t, "subprocess", map[string]any{"command": "list", "mode": "pipeline"})
		lines := res.metric(t, "pipeline_lines")
		if lines < 3 || !strings.Contains(outputOf(res, "proc-3", "stdout"), "1\t") {
			t.Errorf("cat -n printed %v lines: %q", lines, outputOf(res, "proc-3", "stdout"))
		}
	})
}

func outputOf(res result, lane, stream string) string {
	var b strings.Builder
	for _, ev := range res.events {
		if ev.K == event.KindOutput && ev.Lane == lane && ev.Stream == stream {
			b.WriteString(ev.Text)
		}
	}
	return b.String()
}

func hasMark(res result, substr string) bool {
	return slices.ContainsFunc(res.marks(), func(m string) bool { return strings.Contains(m, substr) })
}

func exitCode(err error) int {
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// TestAnExceptionFailsTheRunAtOnce: a scenario that raises while a
// non-daemon thread, a multiprocessing child and a subprocess would keep it
// alive for a minute ends at once, failed, with the traceback and nothing
// left running.
func TestAnExceptionFailsTheRunAtOnce(t *testing.T) {
	tests := []struct {
		script, mark string
	}{
		{"fails_in_main.py", "ValueError: boom"},
		{"fails_in_thread.py", "KeyError"},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			res := runTestScript(t, tt.script, scenarios.Params{"start": "fork"})
			if exitCode(res.err) != 1 {
				t.Errorf("run ended with %v, want exit status 1 (failed)", res.err)
			}
			if res.wall > 10*time.Second {
				t.Errorf("the failed run took %v to end", res.wall)
			}
			if !hasMark(res, tt.mark) {
				t.Errorf("no mark with the exception %q: %q", tt.mark, res.marks())
			}
			if !strings.Contains(res.output["stderr"], "Traceback (most recent call last)") {
				t.Errorf("no traceback on stderr: %q", res.output["stderr"])
			}
			if res.summary == nil || !strings.Contains(res.summary.Verdict, "failed") {
				t.Errorf("end summary missing or silent about the failure: %+v", res.summary)
			}
			waitGroupGone(t, res.pid)
			for _, l := range res.lanes(event.LaneProcess) {
				waitGone(t, l.PID)
			}
		})
	}
}

// waitGroupGone fails unless the run's process group is empty soon after
// the run: SIGKILL takes a moment to take a process down.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := child.GroupPIDs(pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left in the run's group: %v", left)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGone fails unless pid disappears soon: killed processes are reaped by
// their parent or, once orphaned, by init.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Errorf("pid %d is still running", pid)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether pid no longer runs: no such process, or a
// zombie waiting to be reaped.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// TestKilledMultiprocessingRunLeavesNoProcess cancels a run mid-way as the
// server does (the ctx of child.Run: the whole group is killed) and checks
// that the worker processes are gone.
func TestKilledMultiprocessingRunLeavesNoProcess(t *testing.T) {
	for _, start := range []string{"spawn", "fork", "forkserver"} {
		t.Run(start, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var workers []int
			res := runScenario(t, "multiprocessing", map[string]any{"workers": 4.0, "size": 2000.0, "payload_kb": 16.0, "start": start}, runOptions{
				ctx: ctx,
				onEvent: func(ev event.Event) {
					// Cancel once every worker runs its computation.
					if ev.K == event.KindLane && ev.Kind == event.LaneProcess {
						workers = append(workers, ev.PID)
					}
					if ev.K == event.KindState && strings.HasPrefix(ev.Why, "computing") && len(workers) == 4 {
						cancel()
					}
				},
			})
			if !errors.Is(res.err, context.Canceled) {
				t.Fatalf("run ended with %v, want it cancelled mid-way", res.err)
			}
			if len(workers) != 4 {
				t.Fatalf("saw %d worker pids, want 4", len(workers))
			}
			waitGroupGone(t, res.pid)
			for _, pid := range workers {
				waitGone(t, pid)
			}
		})
	}
}

// TestEveryProcessReportsItsOwnPeakMemory grows the scenario's main process
// by 200 MiB before it starts workers (spawn, forkserver) or programs: each
// must report its own peak, far below its parent's, where getrusage's
// ru_maxrss says that every child started with exec peaked at its parent's.
func TestEveryProcessReportsItsOwnPeakMemory(t *testing.T) {
	const ballast = 200 << 20
	const mib = 1 << 20
	tests := []struct {
		name          string
		params        scenarios.Params
		parent, child string  // the metrics of the parent's and the largest child's peak
		unit          float64 // bytes per unit of those metrics
	}{
		{"compare processes (spawn)", scenarios.Params{"scenario": "compare", "workload": "cpu", "model": "processes", "size": "small"}, "peak_rss_main", "peak_rss_child_max", 1},
		{"compare pool (spawn)", scenarios.Params{"scenario": "compare", "workload": "cpu", "model": "pool", "size": "small"}, "peak_rss_main", "peak_rss_child_max", 1},
		{"compare external programs", scenarios.Params{"scenario": "compare", "workload": "external", "model": "subprocess", "size": "small"}, "peak_rss_main", "peak_rss_child_max", 1},
		{"multiprocessing spawn", scenarios.Params{"scenario": "multiprocessing", "start": "spawn", "workers": int64(2), "size": int64(20), "payload_kb": int64(16)}, "rss_runner", "rss_worker_max", mib},
		{"multiprocessing forkserver", scenarios.Params{"scenario": "multiprocessing", "start": "forkserver", "workers": int64(2), "size": int64(20), "payload_kb": int64(16)}, "rss_runner", "rss_worker_max", mib},
		{"pools Pool spawn", scenarios.Params{"scenario": "pools", "kind": "processes", "api": "pool", "start": "spawn", "workers": int64(2), "tasks": int64(8), "size": int64(5)}, "rss_runner", "rss_worker_max", mib},
		{"pools ProcessPoolExecutor forkserver", scenarios.Params{"scenario": "pools", "kind": "processes", "api": "executor", "start": "forkserver", "workers": int64(2), "tasks": int64(8), "size": int64(5)}, "rss_runner", "rss_worker_max", mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params["ballast_mb"] = int64(ballast / mib)
			res := runTestScript(t, "ballast.py", tt.params)
			if res.err != nil || res.summary == nil {
				t.Fatalf("run failed: %v; stderr: %s", res.err, res.output["stderr"])
			}
			parent, child := res.metric(t, tt.parent)*tt.unit, res.metric(t, tt.child)*tt.unit
			rusage := res.metric(t, "children_ru_maxrss")
			t.Logf("parent %.1f MiB, largest child %.1f MiB (its own VmHWM); getrusage would say %.1f MiB", parent/mib, child/mib, rusage/mib)
			if parent < ballast {
				t.Errorf("the parent peaked at %.1f MiB with %d MiB of ballast", parent/mib, ballast/mib)
			}
			if child < 1*mib || child > ballast/2 {
				t.Errorf("the largest child peaked at %.1f MiB; want its own peak, far below the parent's %.1f MiB", child/mib, parent/mib)
			}
		})
	}
}
