package event

import (
	_ "unsafe" // for go:linkname
)

// nanotime is the Go runtime's monotonic clock: on Linux, CLOCK_MONOTONIC
// read through the vDSO, without entering the kernel.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Monotonic returns CLOCK_MONOTONIC in ns: the one clock shared by every
// process of a run (Python's time.perf_counter_ns reads the same clock).
// It reads it through the vDSO, as the runtime does: a clock_gettime system
// call costs about 2 µs on a virtual machine (against 0.2 µs), and a worker
// process reads the clock every 10 µs of its work to see when the OS takes
// its core, so the system call made its work cost 13 % more CPU than the
// same work in the runner (BenchmarkMeasuredWorkCost in goengine).
func Monotonic() int64 { return nanotime() }
