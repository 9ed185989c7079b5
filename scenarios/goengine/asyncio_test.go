package goengine

import (
	"testing"

	"interleave/scenarios/event"
)

func TestAsyncioThousandWaitsAreCheap(t *testing.T) {
	timed := timingClaim(t)
	var res result
	cheap := func() bool { return res.wallMS() <= 400 && res.metric(t, "latency_max") <= 400 }
	untilHeld(t, 3, func() bool {
		res = mustRun(t, "asyncio", map[string]any{"tasks": 1000.0, "wait_ms": 100.0})
		t.Logf("1000 tasks × 100 ms: wall %.0f ms, latency median %.1f max %.1f ms, loop busy %.1f ms",
			res.wallMS(), res.metric(t, "latency_median"), res.metric(t, "latency_max"), res.metric(t, "loop_busy"))
		return !timed || cheap()
	})
	if timed && !cheap() {
		t.Errorf("1000 tasks waiting 100 ms took %.0f ms (slowest %.0f ms), want within 400 ms", res.wallMS(), res.metric(t, "latency_max"))
	}
	if got := len(res.lanes(event.LaneTask)); got != 1000 {
		t.Errorf("%d task lanes, want 1000", got)
	}
	if got := len(res.lanes(event.LaneLoop)); got != 1 {
		t.Errorf("%d loop lanes, want 1", got)
	}
	if res.metric(t, "delay_min") < 0 {
		t.Errorf("a task finished before its wait was over")
	}
}

func TestAsyncioBlockingCallStallsEveryTask(t *testing.T) {
	res := mustRun(t, "asyncio", map[string]any{"tasks": 1000.0, "wait_ms": 100.0, "blocking": true, "blocking_ms": 500.0})
	delay := res.metric(t, "delay_min")
	t.Logf("500 ms blocking call: every other task delayed >= %.0f ms (median latency %.0f ms, stall %.0f ms)", delay, res.metric(t, "latency_median"), res.metric(t, "stall"))
	if delay < 450 {
		t.Errorf("least delay beyond the wait = %.0f ms, want >= 450 ms", delay)
	}
	stalled := res.count(func(ev event.Event) bool {
		return ev.K == event.KindState && ev.Lane == loopLane && ev.S == event.Blocked && ev.Src == event.SrcApp
	})
	if stalled != 1 {
		t.Errorf("%d stalled spans on the loop lane, want 1", stalled)
	}
}
