package goengine

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// sink keeps the CPU work observable so the compiler cannot drop it.
var sink atomic.Uint64

// spin does n rounds of integer work and returns a value depending on all of it.
func spin(n int64) uint64 {
	x := uint64(n) | 1
	for i := int64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// calibrate measures how many spin rounds this machine does per millisecond
// on one core, so that "200 ms of CPU work" is a fixed amount of work that
// takes 200 ms when it runs alone.
func calibrate() int64 {
	const probe = 1 << 20
	spin(probe) // warm up
	best := time.Duration(1 << 62)
	for range 5 {
		start := time.Now()
		sink.Add(spin(probe))
		if d := time.Since(start); d < best {
			best = d
		}
	}
	perMS := int64(float64(probe) / (float64(best) / float64(time.Millisecond)))
	return max(perMS, 1)
}

// cpuWork computes for about ms milliseconds of one core's time, in slices so
// a cancelled run stops promptly.
func cpuWork(ctx context.Context, roundsPerMS int64, ms int) error {
	for i := 0; i < ms; i++ {
		if i%10 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		sink.Add(spin(roundsPerMS))
	}
	return nil
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// labelGoroutine ties the calling goroutine to an app lane in the real
// scheduler trace; set by schedtrace.go.
var labelGoroutine = func(ctx context.Context, lane string) {}

// gomaxprocs returns the cores the scheduler may use in this run.
func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
