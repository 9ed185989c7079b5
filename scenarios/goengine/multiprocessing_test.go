package goengine

import (
	"context"
	"io"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"interleave/scenarios"
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
	// Each worker's own peak, as it reported it: a few MiB.
	if rss := two.metric(t, "rss_worker_max"); rss < 1 || rss > 100 {
		t.Errorf("rss_worker_max = %v MiB, want a worker's own peak", rss)
	}
	// The workers' own spans reach the run through the parent (a worker
	// the OS took off its core resumes its compute span: count lanes).
	computing := map[string]bool{}
	for _, ev := range two.events {
		if ev.K == event.KindState && strings.HasPrefix(ev.Lane, "worker-") && strings.HasPrefix(ev.Why, "compute") {
			computing[ev.Lane] = true
		}
	}
	if len(computing) != 2 {
		t.Errorf("compute spans relayed from %d workers, want 2", len(computing))
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

// TestMultiprocessingWorkerReportsItsOwnPeakMemory starts a worker process from this test
// binary after growing the binary's own peak by 256 MiB: the worker's
// reported peak (its own VmHWM) must be far below its parent's. The rusage
// of the reaped worker, which the multiprocessing scenario used to report,
// starts at the parent's peak: Linux carries it across execve.
func TestMultiprocessingWorkerReportsItsOwnPeakMemory(t *testing.T) {
	const ballast = 256 << 20
	const mib = 1 << 20
	grown := make([]byte, ballast)
	for i := 0; i < len(grown); i += 4096 {
		grown[i] = 1
	}
	parent := selfRSS()
	if parent < ballast {
		t.Fatalf("the test binary peaked at %.1f MiB with %d MiB of ballast", float64(parent)/mib, ballast/mib)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := event.Monotonic()
	r := &Run{Emitter: NewEmitter(io.Discard, base), Spec: scenarios.Spec{ClockBase: base}}
	defer r.Close()
	w, err := startWorkerProcess(ctx, r, "worker-1", "worker 1", "main", false)
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(grown) // the ballast is resident while the worker starts
	frame, err := gobEncode(workerJob{RoundsPerMS: calibrate(), Tasks: []workerTask{{MS: 5}}, Payload: makePayload(1024)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.send(frame); err != nil {
		w.kill()
		t.Fatal(err)
	}
	meta, _, err := w.receive()
	if err != nil {
		w.kill()
		t.Fatal(err)
	}
	var res workerResult
	if err := gobDecode(meta, &res); err != nil {
		w.kill()
		t.Fatal(err)
	}
	peak, err := w.finish()
	if err != nil {
		t.Fatal(err)
	}
	var rusage int64
	if ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rusage = ru.Maxrss << 10
	}
	t.Logf("test binary %.1f MiB; worker reported %.1f MiB with its result, %.1f MiB in all; the reaped worker's rusage says %.1f MiB",
		float64(parent)/mib, float64(res.PeakRSS)/mib, float64(peak)/mib, float64(rusage)/mib)
	if res.PeakRSS < mib || res.PeakRSS > parent/4 {
		t.Errorf("the worker reported a peak of %.1f MiB; want its own, far below its parent's %.1f MiB", float64(res.PeakRSS)/mib, float64(parent)/mib)
	}
	if peak < res.PeakRSS || peak > parent/4 {
		t.Errorf("finish returned a peak of %.1f MiB; want the worker's own (%.1f MiB reported)", float64(peak)/mib, float64(res.PeakRSS)/mib)
	}
}
