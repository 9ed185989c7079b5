package event

import "golang.org/x/sys/unix"

// Monotonic returns CLOCK_MONOTONIC in ns: the one clock shared by every
// process of a run (Python's time.perf_counter_ns reads the same clock).
func Monotonic() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}
