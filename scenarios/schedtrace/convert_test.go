package schedtrace

import (
	"testing"
	"time"

	"golang.org/x/exp/trace"

	"interleave/scenarios/event"
)

func TestWaitState(t *testing.T) {
	tests := []struct {
		reason string
		s, why string
	}{
		{"sleep", event.Sleep, "time.Sleep"},
		{"network", event.IO, "network"},
		{"chan receive", event.Blocked, "chan receive"},
		{"chan send", event.Blocked, "chan send"},
		{"select", event.Blocked, "select"},
		{"sync.(*Cond).Wait", event.Blocked, "sync.Cond"},
		{"sync", event.Blocked, "sync"}, // no stack to tell which primitive
		{"GC mark assist wait for work", event.Blocked, "GC mark assist wait for work"},
		{"", event.Blocked, "waiting"},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			s, why := WaitState(tt.reason, trace.NoStack)
			if s != tt.s || why != tt.why {
				t.Errorf("WaitState(%q) = %s, %q; want %s, %q", tt.reason, s, why, tt.s, tt.why)
			}
		})
	}
}

func TestRunnableWhy(t *testing.T) {
	tests := []struct {
		from   trace.GoState
		reason string
		want   string
	}{
		{trace.GoRunning, "preempted", "preempted"},
		{trace.GoRunning, "runtime.Gosched", "yielded (runtime.Gosched)"},
		{trace.GoNotExist, "", "created"},
		{trace.GoWaiting, "", "woken"},
		{trace.GoSyscall, "", "back from a syscall"},
	}
	for _, tt := range tests {
		if got := runnableWhy(tt.from, tt.reason); got != tt.want {
			t.Errorf("runnableWhy(%v, %q) = %q, want %q", tt.from, tt.reason, got, tt.want)
		}
	}
}

func TestRoleOf(t *testing.T) {
	tests := []struct {
		fn   string
		want role
	}{
		{"", roleUnknown},
		{"runtime.gcBgMarkWorker", roleGC},
		{"runtime.bgsweep", roleRuntime},
		{"runtime/trace.(*traceMultiplexer).startLocked.func1", roleOwn},
		{ownPackage + ".(*tracer).readLoop", roleOwn},
		{"net/http.(*persistConn).readLoop", roleStd},
		{"os/exec.(*Cmd).Start.func2", roleStd},
		{"time.goFunc", roleStd},
		{"sync.(*WaitGroup).Go.func1", roleUser},
		{"main.worker", roleUser},
		{"interleave/scenarios/goengine.runThreads.func2", roleUser},
		{"golang.org/x/sync/errgroup.(*Group).Go.func1", roleUser},
	}
	for _, tt := range tests {
		if got := roleOf(tt.fn); got != tt.want {
			t.Errorf("roleOf(%q) = %d, want %d", tt.fn, got, tt.want)
		}
	}
}

// Cuts that cost more than the budget are spaced out, within ten flush
// intervals; cheap cuts keep the flush interval.
func TestFlushWaitKeepsTheBudget(t *testing.T) {
	const every = 100 * time.Millisecond
	for _, c := range []struct {
		cost, want time.Duration
	}{
		{0, every},
		{100 * time.Microsecond, every},            // 0.1 % of a core: cheap
		{time.Millisecond, 200 * time.Millisecond}, // 1 ms per cut at 0.5 %: every 200 ms
		{20 * time.Millisecond, 10 * every},        // capped
	} {
		if got := flushWait(c.cost, every, 0.005); got != c.want {
			t.Errorf("flushWait(%v) = %v, want %v", c.cost, got, c.want)
		}
	}
}
