package goengine

import (
	"context"
	"io"
	"runtime"
	"slices"
	"testing"

	"interleave/internal/timingclaim"
	"interleave/scenarios/event"
)

// BenchmarkMeasuredWorkCost measures what a worker process's measuring costs:
// the CPU time of 100 ms of calibrated work done plainly (cpuWork, as the
// runner's goroutines do) and measured (measuredCPUWork, as a worker process
// does: a clock read per chunk), alternating, with the medians reported:
//
//	go test ./scenarios/goengine -run '^$' -bench MeasuredWorkCost -benchtime 20x
func BenchmarkMeasuredWorkCost(b *testing.B) {
	timingclaim.Claim(b)
	em := NewEmitter(io.Discard, event.Monotonic())
	defer em.Close()
	rounds := calibrate()
	var plain, measured []float64
	for b.Loop() {
		c0 := threadCPUOf(func() { _ = cpuWork(context.Background(), rounds, 100) })
		c1 := threadCPUOf(func() {
			_, _ = measuredCPUWork(context.Background(), em, "w", "bench", rounds, 100)
		})
		plain, measured = append(plain, c0), append(measured, c1)
	}
	b.ReportMetric(medianOf(plain), "ms-plain")
	b.ReportMetric(medianOf(measured), "ms-measured")
}

// TestMeasuredWorkCostsLittle checks that measuring a worker's work (a clock
// read per 10 µs chunk, to draw when the OS took its core) adds little to
// the work itself: a worker process that costs more CPU than the runner's
// goroutines for the same work cannot show what processes gain.
func TestMeasuredWorkCostsLittle(t *testing.T) {
	timingclaim.Claim(t)
	em := NewEmitter(io.Discard, event.Monotonic())
	defer em.Close()
	rounds := calibrate()
	const attempts = 5
	best := 0.0
	for range attempts {
		plain := threadCPUOf(func() { _ = cpuWork(context.Background(), rounds, 50) })
		measured := threadCPUOf(func() {
			_, _ = measuredCPUWork(context.Background(), em, "w", "test", rounds, 50)
		})
		t.Logf("50 ms of work: %.1f ms of CPU plainly, %.1f ms measured", plain, measured)
		if best == 0 || measured/plain < best {
			best = measured / plain
		}
		if best <= 1.05 {
			break
		}
	}
	if best > 1.05 {
		t.Errorf("measured work costs %.2fx the CPU of the same work done plainly; want at most 1.05x", best)
	}
}

// threadCPUOf returns the CPU time f took on the calling OS thread, in ms.
func threadCPUOf(f func()) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := threadCPU()
	f()
	return float64(threadCPU()-c0) / 1e6
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
