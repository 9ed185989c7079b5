package machineload

import (
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A VM's CPUs are threads of its host, which may give them to other guests
// meanwhile: /proc/stat then shows no steal time on this VM, its CPU
// clocks count on, and yet work goes at half speed. Seen in CI: two
// processes each took 1,004 ms for 500 ms of work at 1.96 cores' worth of
// CPU per second, and by hand two CPython loops at once took 0.81 s where
// one alone took 0.47 s, a minute after they had taken the same time.
// ParallelCapacity measures it, so that a timing claim can tell a host
// that lends its cores away from a program that does not use them.

const (
	// capacityProbeBytes is each CPU's table: small enough to allocate
	// per CPU, large enough to leave the caches as an interpreter does.
	capacityProbeBytes = 4 << 20
	// capacityChunk is how many accesses a probe makes between two looks
	// at the clock (about 20 µs).
	capacityChunk = 2_000
)

var (
	capacityMu     sync.Mutex
	capacityTables [][]uint64
)

// ParallelCapacity returns how many CPUs' worth of work the CPUs this
// process may use do at once, now: the probe of CoreSpeeds runs for window
// on each CPU alone, then for window on every CPU at once, and each CPU's
// work at once over its work alone is summed (2 on 2 CPUs that compute in
// parallel at full speed, 1 where they share one core's time). speed is
// the probe's mean rate alone (chunks per second), to compare with another
// reading of the same process: a host can also slow every CPU alike (seen
// in CI: work at 59 % of the speed calibrated a second before, with the
// capacity reading 2.0). It takes (CPUs + 1) × window and needs every CPU
// idle to be fair: call it where nothing else is measured. ok is false
// where it cannot be measured (one CPU, or no way to pin a thread).
func ParallelCapacity(window time.Duration) (capacity, speed float64, ok bool) {
	cpus := allowedCPUs()
	if len(cpus) < 2 {
		return 0, 0, false
	}
	capacityMu.Lock()
	defer capacityMu.Unlock()
	for len(capacityTables) < len(cpus) {
		capacityTables = append(capacityTables, make([]uint64, capacityProbeBytes/8))
	}
	alone := make([]int, len(cpus))
	for i, cpu := range cpus {
		n, ok := probeFor([]int{cpu}, capacityTables[i:i+1], window)
		if !ok || n[0] == 0 {
			return 0, 0, false
		}
		alone[i] = n[0]
		speed += float64(n[0]) / window.Seconds() / float64(len(cpus))
	}
	together, ok := probeFor(cpus, capacityTables[:len(cpus)], window)
	if !ok {
		return 0, 0, false
	}
	for i := range cpus {
		capacity += float64(together[i]) / float64(alone[i])
	}
	return capacity, speed, true
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for cpu := range 1024 {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}

// probeFor runs the probe on each of cpus at once, each on a thread of its
// own pinned there (thrown away after, as in probeCore), from a common
// start for window of wall time, and returns how many chunks each did.
func probeFor(cpus []int, tables [][]uint64, window time.Duration) ([]int, bool) {
	counts := make([]int, len(cpus))
	var ready, done sync.WaitGroup
	start := make(chan time.Time)
	failed := make(chan struct{}, len(cpus))
	for i, cpu := range cpus {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread() // never unlocked: the pinned thread dies with the goroutine
			var one unix.CPUSet
			one.Set(cpu)
			err := unix.SchedSetaffinity(0, &one)
			touch(tables[i], capacityChunk) // on its CPU, with its table in reach
			ready.Done()
			end := (<-start).Add(window)
			if err != nil {
				failed <- struct{}{}
				return
			}
			for time.Now().Before(end) {
				touch(tables[i], capacityChunk)
				counts[i]++
			}
		}()
	}
	ready.Wait()
	now := time.Now()
	for range cpus {
		start <- now
	}
	done.Wait()
	return counts, len(failed) == 0
}
