package goengine

import (
	"runtime"
	"strings"
	"testing"

	"interleave/scenarios/event"
)

func TestMultiprocessingTwoProcessesSpeedUp(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 cores")
	}
	var two result
	speedup := parallelClaim(t, 3, func() float64 {
		params := map[string]any{"mode": "processes", "size": 250.0, "payload_kb": 16.0, "workers": 1.0}
		one := mustRun(t, "multiprocessing", params)
		params["workers"] = 2.0
		two = mustRun(t, "multiprocessing", params)
		// Each worker does the same work, so two workers do twice the work:
		// the speedup is twice one's wall time over two's.
		speedup := 2 * one.wallMS() / two.wallMS()
		t.Logf("250 ms of CPU per worker: 1 process %.0f ms, 2 processes %.0f ms: %.2fx (start-up %.1f ms, summary estimate %.2fx)",
			one.wallMS(), two.wallMS(), speedup, two.metric(t, "startup_max"), two.metric(t, "speedup"))
		return speedup
	})
	if speedup < 1.6 {
		t.Errorf("2 processes are %.2fx faster than 1, want >= 1.6x", speedup)
	}
	procs := two.lanes(event.LaneProcess)
	if len(procs) != 3 {
		t.Fatalf("%d process lanes, want main and 2 workers", len(procs))
	}
	pids := map[int]bool{}
	for _, l := range procs {
		pids[l.PID] = true
	}
	if len(pids) != 3 || pids[0] {
		t.Errorf("process lanes need distinct pids: %+v", procs)
	}
	if got := two.metric(t, "results_ok"); got != 2 {
		t.Errorf("results_ok = %v, want 2", got)
	}
	if two.metric(t, "rss_worker_max") <= 0 {
		t.Error("no peak RSS measured for the workers")
	}
	// The workers' own spans reach the run through the parent.
	computing := two.count(func(ev event.Event) bool {
		return ev.K == event.KindState && strings.HasPrefix(ev.Lane, "worker-") && strings.HasPrefix(ev.Why, "compute")
	})
	if computing != 2 {
		t.Errorf("%d compute spans relayed from the workers, want 2", computing)
	}
}

func TestMultiprocessingSerializationGrowsWithPayload(t *testing.T) {
	params := map[string]any{"mode": "processes", "size": 10.0, "workers": 2.0, "payload_kb": 0.0}
	small := mustRun(t, "multiprocessing", params)
	params["payload_kb"] = 4096.0
	big := mustRun(t, "multiprocessing", params)
	s, b := small.metric(t, "serialization"), big.metric(t, "serialization")
	t.Logf("serialization: payload 0 KiB %.2f ms, 4096 KiB %.2f ms (%.0f KiB sent)", s, b, big.metric(t, "bytes_sent"))
	if b <= 5*s || b < 1 {
		t.Errorf("serialization %.2f ms at 4 MiB vs %.2f ms at 0: want it to grow with the payload", b, s)
	}
	labelled := big.count(func(ev event.Event) bool {
		return ev.K == event.KindFlow && strings.Contains(ev.Label, "MiB (gob)")
	})
	if labelled != 4 {
		t.Errorf("%d flows labelled with MiB, want 4 (args and result of each worker)", labelled)
	}
}
