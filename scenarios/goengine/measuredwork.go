package goengine

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"interleave/scenarios/event"
)

// A worker process has no scheduler trace: the OS, not the Go runtime,
// decides when it is on a core, and more worker processes than cores cannot
// all be. So a worker measures it while it computes: it works in chunks of
// about measuredChunk, reading the wall clock (a vDSO call, tens of ns)
// after each one; where the wall clock jumped by more than offCoreMin and
// the thread's own CPU time did not advance with it, the OS gave the core to
// someone else, and the lane is drawn runnable for exactly that jump.
const (
	// measuredChunk is the work between two looks at the clock: the
	// precision of a measured switch, for about 0.3 % of the work's time.
	measuredChunk = 10 * time.Microsecond
	// offCoreMin is the shortest time off the core that is drawn: shorter
	// stalls (an interrupt, a page fault) are not the OS running someone
	// else, and drawing them would only add events.
	offCoreMin = 25 * time.Microsecond
	// cpuResync is how often the thread's CPU time is read even without a
	// jump, so that small stalls do not add up into a false gap.
	cpuResync = time.Millisecond
)

// threadCPU returns the calling OS thread's CPU time in ns.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// measuredCPUWork computes ms milliseconds of one core's work (as cpuWork)
// in a worker process and draws its lane `running` while the process is on
// a core and `runnable` while the OS made it wait for one, as measured (see
// above), with why as the reason. It returns how many ns it was off its
// core.
func measuredCPUWork(ctx context.Context, em *Emitter, lane, why string, roundsPerMS int64, ms int) (int64, error) {
	// The thread's CPU time is only the goroutine's while they stay together.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	chunk := max(roundsPerMS*int64(measuredChunk)/int64(time.Millisecond), 1)
	total := roundsPerMS * int64(ms)

	last := em.Now()
	em.Emit(event.Event{T: last, K: event.KindState, Lane: lane, S: event.Running, Why: why, Src: event.SrcApp})
	readAt, readCPU := last, threadCPU()
	var offCore int64
	for done, n := int64(0), 0; done < total; done, n = done+chunk, n+1 {
		if n%1024 == 0 && ctx.Err() != nil {
			return offCore, ctx.Err()
		}
		sink.Add(spin(min(chunk, total-done)))
		now := em.Now()
		jump := now - last
		if jump > int64(offCoreMin) || now-readAt > int64(cpuResync) {
			cpu := threadCPU()
			off := (now - readAt) - (cpu - readCPU)
			if jump > int64(offCoreMin) && off > jump/2 {
				// Most of the jump was spent off the core: someone else had it.
				offCore += jump
				em.Emit(event.Event{T: last, K: event.KindState, Lane: lane, S: event.Runnable,
					Why: fmt.Sprintf("ready, but another process had the core (measured: %s off it)", fmtDuration(jump)), Src: event.SrcApp})
				em.Emit(event.Event{T: now, K: event.KindState, Lane: lane, S: event.Running, Why: why, Src: event.SrcApp})
			}
			readAt, readCPU = now, cpu
		}
		last = now
	}
	return offCore, nil
}

// fmtDuration formats a short duration for a reason: "0.35 ms", "12 ms".
func fmtDuration(ns int64) string {
	ms := float64(ns) / 1e6
	if ms < 10 {
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}
