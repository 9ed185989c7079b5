package machineload

import (
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Cores of one machine need not compute equally fast. On the 2-core VM this
// project is built on, the same CPython loop pinned to CPU 0 took 0.47 s and
// pinned to CPU 1 took 0.72-0.78 s, run after run (taskset -c N), while a
// loop of multiplications alone took the same time on both: CPU 1 reaches
// its caches and memory more slowly (its host shares them with something
// else). Two processes on both cores could then finish at most about 1.6x
// sooner than one on the fast core, not 2x, and a calibration taken on one
// core was off by that much for work that ran on the other. CoreSpeeds
// measures it, so that a verdict can name it.

// The probe: random reads and writes over coreProbeBytes, the kind of work
// an interpreter does (measured here: 2 MiB 1.48x, 32 MiB 1.97x slower on
// CPU 1 than on CPU 0, the CPython loop 1.66x).
const (
	coreProbeBytes    = 8 << 20
	coreProbeAccesses = 400_000
	// coreProbes is how many probes are timed per core; the fastest counts
	// (a probe can only be slowed: by an interrupt, or a busy neighbour).
	coreProbes = 3
)

var (
	coreOnce   sync.Once
	coreSpeeds []float64
)

// CoreSpeeds returns how fast each CPU this process may use computes,
// relative to the fastest (1), measured once per process by timing the same
// loop pinned to each CPU in turn (CPU time of the thread, so that time the
// OS gave to others does not count). It returns nil where that cannot be
// measured. The measure is of the moment it was taken: on a VM a core's
// speed depends on what its host runs meanwhile.
func CoreSpeeds() []float64 {
	coreOnce.Do(func() { coreSpeeds = measureCoreSpeeds() })
	return coreSpeeds
}

func measureCoreSpeeds() []float64 {
	cpus := allowedCPUs()
	if len(cpus) < 2 {
		return nil
	}
	table := make([]uint64, coreProbeBytes/8)
	rates := make([]float64, len(cpus))
	for i, cpu := range cpus {
		d, ok := probeCore(cpu, table)
		if !ok || d <= 0 {
			return nil
		}
		rates[i] = 1 / d.Seconds()
	}
	fastest := slices.Max(rates)
	out := make([]float64, len(rates))
	for i, r := range rates {
		out[i] = float64(int(100*r/fastest+0.5)) / 100
	}
	return out
}

// probeCore times the probe on cpu, on a thread of its own that is pinned
// there and then thrown away (a goroutine that exits while locked to its
// thread takes the thread with it), and returns the fastest probe's CPU time.
func probeCore(cpu int, table []uint64) (time.Duration, bool) {
	type result struct {
		d  time.Duration
		ok bool
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the pinned thread dies with the goroutine
		var one unix.CPUSet
		one.Set(cpu)
		if err := unix.SchedSetaffinity(0, &one); err != nil {
			done <- result{}
			return
		}
		touch(table, coreProbeAccesses/4) // warm up
		best := time.Duration(0)
		for range coreProbes {
			c0, err0 := threadCPU()
			touch(table, coreProbeAccesses)
			c1, err1 := threadCPU()
			if err0 != nil || err1 != nil {
				done <- result{}
				return
			}
			if d := c1 - c0; best == 0 || d < best {
				best = d
			}
		}
		done <- result{best, true}
	}()
	r := <-done
	return r.d, r.ok
}

func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}

// touch reads and writes n pseudo-random words of table (its length a power
// of two).
func touch(table []uint64, n int) {
	mask := uint64(len(table) - 1)
	x := uint64(n)
	for range n {
		x = x*6364136223846793005 + 1442695040888963407
		table[(x>>29)&mask] += x
	}
}
