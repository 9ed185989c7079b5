package goengine

import (
	"testing"

	"interleave/internal/timingclaim"
)

func TestGILCPUThreadsDoNotSpeedUp(t *testing.T) {
	timingclaim.Claim(t)
	// Each run compares its wall time with one thread doing all its work at
	// the single-core speed it calibrated: the same amount of work as the
	// threads did, so the ratio does not depend on another run's calibration.
	one := mustRun(t, "gil", map[string]any{"threads": 1.0, "size": 60.0})
	if _, ok := one.summary.Metrics["speedup"]; ok {
		t.Errorf("one CPU thread reports a speedup; it has nobody to take turns with")
	}
	for _, threads := range []float64{2, 4} {
		speedup := 0.0
		untilHeld(t, 3, func() bool {
			res := mustRun(t, "gil", map[string]any{"threads": threads, "size": 60.0})
			speedup = res.metric(t, "speedup")
			t.Logf("%v CPU threads × 60 ms under the GIL model on %v cores: wall %.0f ms, %.2fx one thread", threads, res.metric(t, "cores"), res.wallMS(), speedup)
			return speedup <= 1.15
		})
		if speedup > 1.15 {
			t.Errorf("%v threads are %.2fx faster than one thread under the GIL, want <= 1.15x", threads, speedup)
		}
	}
}

func TestGILHandsOffAtTheSwitchInterval(t *testing.T) {
	timingclaim.Claim(t)
	for _, switchMS := range []float64{2, 5} {
		median := 0.0
		near := func() bool { return median >= 0.5*switchMS && median <= 1.5*switchMS }
		untilHeld(t, 3, func() bool {
			res := mustRun(t, "gil", map[string]any{"threads": 2.0, "size": 100.0, "switch_ms": switchMS})
			median = res.metric(t, "handoff_median")
			t.Logf("switch_ms=%v: median hand-off after %.2f ms (%v forced drops)", switchMS, median, res.metric(t, "forced_drops"))
			return near()
		})
		if !near() {
			t.Errorf("switch_ms=%v: median hand-off %.2f ms, want within ±50%%", switchMS, median)
		}
	}
}

func TestGILIOThreadWaitsLongerNextToCPUThreads(t *testing.T) {
	// Each run measures the I/O thread's wake-up latency twice: alone, then
	// next to the CPU threads. Alone it takes the free GIL at once; next to
	// one CPU thread it waits for a hand-off, about a switch interval; next to
	// more it queues behind them.
	timingclaim.Claim(t)
	latency := map[float64]float64{}
	for _, threads := range []float64{1, 4} {
		var alone, next float64
		convoy := func() bool { return next >= 2.5 && next >= 10*alone }
		untilHeld(t, 3, func() bool {
			res := mustRun(t, "gil", map[string]any{"threads": threads, "size": 60.0, "io_thread": true, "switch_ms": 5.0})
			alone, next = res.metric(t, "io_latency_alone"), res.metric(t, "io_latency_median")
			t.Logf("%v CPU threads: I/O thread wake-up latency alone %.3f ms, next to them median %.3f ms, mean %.2f ms, max %.2f ms (%v reads)",
				threads, alone, next, res.metric(t, "io_latency_mean"), res.metric(t, "io_latency_max"), res.metric(t, "io_reads"))
			return convoy()
		})
		if !convoy() {
			t.Errorf("%v CPU threads: median latency %.3f ms next to them vs %.3f ms alone; want >= half the 5 ms switch interval and 10x alone", threads, next, alone)
		}
		latency[threads] = next
	}
	if latency[4] < 1.5*latency[1] {
		t.Errorf("median latency next to 4 CPU threads %.2f ms, next to 1 %.2f ms: want it to grow by 1.5x or more", latency[4], latency[1])
	}
}
