package event

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestMonotonicIsClockMonotonic checks that Monotonic reads the clock every
// process of a run shares (CLOCK_MONOTONIC, as Python's perf_counter_ns and
// clock_gettime read it): a reading taken between two system call readings
// lies between them.
func TestMonotonicIsClockMonotonic(t *testing.T) {
	syscallClock := func() int64 {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		return ts.Nano()
	}
	for range 100 {
		before := syscallClock()
		got := Monotonic()
		after := syscallClock()
		if got < before || got > after {
			t.Fatalf("Monotonic() = %d, not between two CLOCK_MONOTONIC readings %d and %d", got, before, after)
		}
	}
}
