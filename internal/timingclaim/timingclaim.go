// Package timingclaim lets the tests of every package of the module share
// the machine's cores honestly. go test runs the packages of ./... in
// parallel, each in its own process; a test that claims a timing ("2
// processes run 1.8x faster than 1") needs the cores to itself while it
// measures, and a test that loads the machine heavily (a browser, hundreds of
// sockets) must not run under such a claim.
//
// The lock is a file in the temporary directory that every test binary of the
// module opens: timing claims hold it exclusively (flock LOCK_EX), heavy tests
// hold it shared (LOCK_SH), so heavy tests may overlap each other but never a
// claim, and no two claims ever overlap. The kernel drops the lock when a test
// binary dies, so a crash never leaves it held.
package timingclaim

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"interleave/internal/machineload"
)

// LockFile is the path of the machine-wide lock, shared by every test binary
// of the module (and by every checkout of it on the machine).
func LockFile() string {
	return filepath.Join(os.TempDir(), "interleave-timing-claims.lock")
}

// The lock as this process holds it: one open file for every test of the
// process, so that a claim and the heavy tests of the same process never
// wait for each other (flock locks of two open files of one process would).
var (
	mu     sync.Mutex
	file   *os.File
	claims int // tests of this process holding a claim (exclusive)
	heavy  int // tests of this process holding the lock shared
)

// Claim marks t as a timing claim: it is skipped under -short (the race
// detector's cost is not the program's), otherwise it waits until no other
// claim and no heavy test runs anywhere on the machine, and holds the cores
// until t ends. Heavy tests of this process that hold the lock shared give
// it up meanwhile (the claim is theirs too).
func Claim(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("timing claim: checked in the run without -short")
	}
	mu.Lock()
	defer mu.Unlock()
	if claims == 0 {
		lockSaying(t, syscall.LOCK_EX, "timing claim")
	}
	referenceSpeed.Do(func() { coresLent() })
	claims++
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		claims--
		if claims == 0 {
			if heavy > 0 {
				lock(t, syscall.LOCK_SH, "heavy test")
			} else {
				lock(t, syscall.LOCK_UN, "timing claim")
			}
		}
	})
}

// lockSaying takes the machine-wide lock as lock does and logs a wait of
// more than a second: a slow test then says it waited for another.
func lockSaying(t testing.TB, how int, what string) {
	start := time.Now()
	lock(t, how, what)
	if waited := time.Since(start); waited > time.Second {
		t.Logf("%s: waited %v for the machine-wide lock", what, waited.Round(time.Millisecond))
	}
}

// Heavy marks t as a test that loads the machine (a browser, hundreds of
// connections, a soak, the real child processes of runs): it may run next
// to other heavy tests but waits while a timing claim of another process
// measures, and no claim of another process starts until it ends. Inside a
// claim of its own process it takes nothing more.
func Heavy(t testing.TB) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if claims == 0 && heavy == 0 {
		lockSaying(t, syscall.LOCK_SH, "heavy test")
	}
	heavy++
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		heavy--
		if heavy == 0 && claims == 0 {
			lock(t, syscall.LOCK_UN, "heavy test")
		}
	})
}

// lock applies how (LOCK_EX, LOCK_SH or LOCK_UN) to the process's lock
// file, opening it the first time; with mu held. Turning a shared lock
// exclusive waits, like taking it afresh, for every other holder.
func lock(t testing.TB, how int, what string) {
	t.Helper()
	if file == nil {
		f, err := os.OpenFile(LockFile(), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			t.Fatalf("%s: open the machine-wide lock: %v", what, err)
		}
		file = f
	}
	for {
		err := syscall.Flock(int(file.Fd()), how)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("%s: the machine-wide lock %s: %v", what, LockFile(), err)
		}
		return
	}
}

// Best runs measure up to attempts times and returns the best (largest)
// value, stopping early once it reaches enough. On a shared machine other
// work can only slow a run down, so the best attempt is the honest measure
// of what the cores can do. An attempt during which other processes used
// the cores (BusyCores), or after which the cores did not compute in
// parallel (CapacityShare), is not counted. The attempts are logged.
func Best(t testing.TB, attempts int, enough float64, measure func() float64) float64 {
	t.Helper()
	return run(t, attempts, measure, func(v, best float64) bool { return v > best }, func(best float64) bool { return best >= enough })
}

// Lowest runs measure up to attempts times and returns the smallest value,
// stopping early once it is at most good: for claims that a ratio stays
// low, where other work on the machine can only raise it. Attempts are
// counted and logged as for Best.
func Lowest(t testing.TB, attempts int, good float64, measure func() float64) float64 {
	t.Helper()
	return run(t, attempts, measure, func(v, low float64) bool { return v < low }, func(low float64) bool { return low <= good })
}

// BusyCores is how many cores other processes may use on average during an
// attempt before it counts as disturbed. The lock keeps other claims and
// heavy tests away, not go test compiling the next package nor a user's
// other programs: measured in CI, a 2-process claim took one core's time
// three attempts in a row while the compiler had the other core.
const BusyCores = 0.3

const (
	// extraAttempts is how many disturbed attempts do not count, at most.
	extraAttempts = 3
	// quietFor is how long the machine must be quiet before the attempt
	// that follows a disturbed one.
	quietFor = 500 * time.Millisecond
)

// quietWait is the longest wait for a quiet machine (a variable so that
// this package's tests can play a host that stays busy without waiting).
var quietWait = 30 * time.Second

// run is Best and Lowest: better says whether v beats the best so far,
// done whether the best so far settles the claim.
func run(t testing.TB, attempts int, measure func() float64, better func(v, best float64) bool, done func(best float64) bool) float64 {
	t.Helper()
	best := 0.0
	Attempts(t, attempts, func(i int) (string, bool) {
		v := measure()
		if i == 0 || better(v, best) { // a score may be negative (0 at best)
			best = v
		}
		return fmt.Sprint(v), done(best)
	})
	return best
}

// Attempts runs attempt up to n times, until it says the claim is settled,
// for claims that keep their own best of several attempts (Best and Lowest
// keep one number). An attempt that does not settle the claim, during
// which other processes used the cores (BusyCores) or after which the cores
// did not compute in parallel (CapacityShare) or computed slower than this
// machine has been seen to (SpeedShare), is repeated once the machine is
// quiet, without counting (up to extraAttempts times). attempt gets how
// many attempts ran before it and returns what it measured, for the log.
// Attempts reports whether the claim went unsettled with every attempt
// disturbed so: then it measured the host, not the claim.
func Attempts(t testing.TB, n int, attempt func(i int) (measured string, settled bool)) (disturbed bool) {
	t.Helper()
	extra, clean := 0, 0
	for i := 0; i < n; i++ {
		before := readOthers()
		measured, settled := attempt(i + extra)
		long := time.Since(before.at) >= minWindow
		other, known := before.coresSince()
		busy := known && other >= BusyCores
		if settled {
			t.Logf("attempt %d of %d: %s (other processes used %.2f cores meanwhile)", i+1, n, measured, other)
			return false
		}
		// The attempt fell short: were the cores lent away? Measured only
		// now, so that an attempt that settles the claim costs nothing (the
		// host's lending lasts seconds to minutes, so it is still on). As
		// for the load, an attempt too short to be slowed is not judged.
		capNow, lent := 0.0, false
		if long {
			capNow, lent = coresLent()
		}
		slowed := ""
		if lent && capNow >= CapacityShare*float64(runtime.NumCPU()) {
			slowed = ", slower than this machine has computed"
		}
		t.Logf("attempt %d of %d: %s (other processes used %.2f cores meanwhile; the cores computed %.2f cores' worth at once just after%s)",
			i+1, n, measured, other, capNow, slowed)
		if !busy && !lent {
			clean++
		}
		if (busy || lent) && extra < extraAttempts {
			extra++
			i--
			WaitQuiet(t)
		}
	}
	return clean == 0
}

// others is a reading of the CPU time the whole machine and this process
// (with the children it has waited for) have used.
type others struct {
	at          time.Time
	busy, own   time.Duration
	unsupported bool
}

func readOthers() others {
	r := others{at: time.Now()}
	busy, err := machineload.MachineBusy()
	var self, children syscall.Rusage
	if err != nil || syscall.Getrusage(syscall.RUSAGE_SELF, &self) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children) != nil {
		r.unsupported = true
		return r
	}
	r.busy = busy
	r.own = time.Duration(self.Utime.Nano() + self.Stime.Nano() + children.Utime.Nano() + children.Stime.Nano())
	return r
}

// minWindow is the shortest time over which other processes' use of the
// cores is judged: /proc/stat counts in 10 ms ticks, so over a shorter
// window one tick more or less would weigh more than BusyCores.
const minWindow = 250 * time.Millisecond

// coresSince returns how many cores other processes used on average since
// the reading r, and whether that could be measured.
func (r others) coresSince() (float64, bool) {
	now := readOthers()
	wall := now.at.Sub(r.at)
	if r.unsupported || now.unsupported || wall < minWindow {
		return 0, false
	}
	return max(0, (now.busy-r.busy)-(now.own-r.own)).Seconds() / wall.Seconds(), true
}

// WaitQuiet waits until other processes have used less than BusyCores over
// quietFor and the cores compute in parallel again (see CapacityShare),
// polling, for at most quietWait: call it before measuring again after an
// attempt that fell short.
func WaitQuiet(t testing.TB) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < quietWait {
		r := readOthers()
		time.Sleep(quietFor) // a measuring window, not a synchronisation
		if other, known := r.coresSince(); known && other >= BusyCores {
			continue
		}
		if _, lent := coresLent(); lent {
			continue
		}
		t.Logf("the machine was busy: waited %v for it to be quiet", time.Since(start).Round(time.Millisecond))
		return
	}
	t.Logf("the machine stayed busy for %v: measuring anyway", quietWait)
}

// CapacityShare is the share of its cores a machine must compute with at
// once, measured just after an attempt that fell short, for the attempt
// to count: below it the host has lent the VM's cores to someone else (or
// a process outside the claim has them), and a claim about what the cores
// do in parallel would measure that instead. On this project's VM the
// probe reads 1.8-2.4 on 2 idle cores, and about 1 while the host shares
// them.
const CapacityShare = 0.75

// capacityWindow is each phase of the probe: (cores + 1) of them, so
// about 120 ms per look on 2 cores.
const capacityWindow = 40 * time.Millisecond

// SpeedShare is the share of the fastest speed this machine has been seen
// to compute at (alone, in the capacity probe, by any test process:
// speedFile) below which the cores count as slowed by the host, as
// CapacityShare counts them lent. On a quiet host the probe's speed varies
// by about 2 %.
const SpeedShare = 0.75

var (
	speedMu  sync.Mutex
	topSpeed float64 // the fastest probe of this process (chunks per second)
)

// speedFile keeps the fastest probe of any test process on this machine
// (next to the lock), so that a host that slows the cores for the whole of
// a test process (in CI, for minutes: the same plain work took 1.4-1.7 s
// where it takes 1.05 s) is noticed from its first probe. A reading older
// than speedKeep is not trusted: the machine may have changed.
func speedFile() string {
	return filepath.Join(os.TempDir(), "interleave-core-speed")
}

const speedKeep = 24 * time.Hour

// machineSpeed returns the fastest probe speed seen on this machine, seen
// included, and records seen if it is faster (a variable so that this
// package's tests can play a host).
var machineSpeed = func(seen float64) float64 {
	return machineBest(speedFile(), seen, func(a, b float64) bool { return a > b })
}

// Fastest records d as a time the reference work name (a plain program a
// claim compares against) took on this machine, and returns the fastest
// time it has taken here (within speedKeep), d included: a claim whose
// reference ran markedly slower than that ran on cores the host slowed,
// which the capacity probe does not always see (it reads memory, where
// an interpreter's work slowed by a third in CI).
func Fastest(name string, d time.Duration) time.Duration {
	path := filepath.Join(os.TempDir(), "interleave-fastest-"+name)
	return time.Duration(machineBest(path, float64(d), func(a, b float64) bool { return a < b }))
}

// machineBest reads the best value recorded in the file at path (if it is
// fresher than speedKeep), records seen there if it is better, and
// returns the better of the two.
func machineBest(path string, seen float64, better func(a, b float64) bool) float64 {
	best, known := 0.0, false
	if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) < speedKeep {
		if b, err := os.ReadFile(path); err == nil {
			v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			best, known = v, err == nil && v > 0
		}
	}
	if !known || better(seen, best) {
		best = seen
		tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
		if os.WriteFile(tmp, []byte(strconv.FormatFloat(seen, 'f', 0, 64)+"\n"), 0o666) == nil {
			os.Rename(tmp, path) // one writer wins; a better reading may be lost, never a torn one
		}
	}
	return best
}

// coresLent probes the cores and says whether the host has them: they do
// not compute in parallel (CapacityShare), or compute markedly slower than
// the fastest this machine has been seen to (SpeedShare). It returns the capacity.
func coresLent() (float64, bool) {
	c, speed, ok := capacity()
	if !ok {
		return 0, false
	}
	speedMu.Lock()
	defer speedMu.Unlock()
	topSpeed = max(topSpeed, machineSpeed(speed))
	return c, c < CapacityShare*float64(runtime.NumCPU()) || speed < SpeedShare*topSpeed
}

// referenceSpeed probes the cores once per process when it first claims
// them, so that a slowed host is noticed from the first attempt that falls
// short on.
var referenceSpeed sync.Once

// capacity measures how many cores' worth the cores compute at once now,
// and their speed (a variable so that this package's tests can play a host
// that lends the cores away).
var capacity = func() (float64, float64, bool) {
	if runtime.NumCPU() < 2 {
		return 0, 0, false
	}
	return machineload.ParallelCapacity(capacityWindow)
}
