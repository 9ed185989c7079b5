package timingclaim

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestClaimExcludesHeavyTestsInOtherProcesses checks the lock is machine
// wide: while this process holds a claim, another process cannot take the
// lock even shared.
func TestClaimExcludesHeavyTestsInOtherProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("claims are skipped under -short")
	}
	if os.Getenv("TIMINGCLAIM_PROBE") == "1" {
		f, err := os.OpenFile(LockFile(), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
			os.Exit(3) // took it: the claim did not exclude us
		}
		os.Exit(0)
	}
	Claim(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestClaimExcludesHeavyTestsInOtherProcesses$")
	cmd.Env = append(os.Environ(), "TIMINGCLAIM_PROBE=1")
	if err := cmd.Run(); err != nil {
		t.Fatalf("another process took the lock while a claim held it: %v", err)
	}
}

func TestBestStopsOnceEnough(t *testing.T) {
	calls := 0
	got := Best(t, 5, 2, func() float64 { calls++; return float64(calls) })
	if got != 2 || calls != 2 {
		t.Fatalf("Best = %v after %d calls, want 2 after 2", got, calls)
	}
}

// TestBestOfNegativeScores: a score that is 0 at best and negative
// otherwise (how far a measure is from its target) is retried while it
// falls short; the first attempt is not compared with a best of 0.
func TestBestOfNegativeScores(t *testing.T) {
	values := []float64{-0.9, -0.7, -0.2}
	calls := 0
	got := Best(t, 3, -0.5, func() float64 { calls++; return values[calls-1] })
	if got != -0.2 || calls != 3 {
		t.Fatalf("Best = %v after %d calls, want -0.2 after 3", got, calls)
	}
	calls = 0
	if got := Best(t, 2, -0.5, func() float64 { calls++; return values[calls-1] }); got != -0.7 || calls != 2 {
		t.Fatalf("Best = %v after %d calls, want -0.7 (the best of 2) after 2", got, calls)
	}
}

func TestLowestStopsOnceGood(t *testing.T) {
	values := []float64{3, 1.5, 1, 0.5}
	calls := 0
	got := Lowest(t, 4, 1.2, func() float64 { calls++; return values[calls-1] })
	if got != 1 || calls != 3 {
		t.Fatalf("Lowest = %v after %d calls, want 1 after 3", got, calls)
	}
	calls = 0
	values = []float64{2, 5, 3}
	if got := Lowest(t, 3, 1, func() float64 { calls++; return values[calls-1] }); got != 2 || calls != 3 {
		t.Fatalf("Lowest = %v after %d calls, want 2 (the smallest) after all 3", got, calls)
	}
}

// TestLentCoresDoNotCount: an attempt after which the cores did not
// compute in parallel (the host lent them away) is measured again and
// does not count, unless it settles the claim; one too short to be slowed
// is counted.
func TestLentCoresDoNotCount(t *testing.T) {
	full := float64(runtime.NumCPU())
	playHost(t, func(look int) (float64, float64) {
		if look <= 2 { // after the first attempt, and at the first look of the wait: lent away
			return 1, 1000
		}
		return full, 1000
	})
	firstAttemptDoesNotCount(t)
	calls := 0
	values := []float64{1.1, 1.3}
	if got := Best(t, 2, 5, func() float64 { calls++; return values[calls-1] }); got != 1.3 || calls != 2 {
		t.Fatalf("Best = %v after %d instant attempts, want 1.3 after 2: an attempt too short to be slowed counts", got, calls)
	}
}

// TestSlowedCoresDoNotCount: an attempt after which the cores computed
// markedly slower than the fastest this process has seen (the host slowed
// every core alike, so their capacity still reads full) is measured again
// and does not count.
func TestSlowedCoresDoNotCount(t *testing.T) {
	full := float64(runtime.NumCPU())
	playHost(t, func(look int) (float64, float64) {
		if look == 2 || look == 3 { // after the first attempt, and at the first look of the wait: slowed
			return full, 500
		}
		return full, 1000
	})
	if _, lent := coresLent(); lent { // the reference, as a first claim takes it
		t.Fatal("the first reading counted as lent")
	}
	firstAttemptDoesNotCount(t)
}

// playHost makes the capacity probe answer read(n) at its nth look (from
// 1), with the speeds this process has seen forgotten, until t ends.
func playHost(t *testing.T, read func(look int) (capacity, speed float64)) {
	if runtime.NumCPU() < 2 {
		t.Skip("the cores are judged on 2 or more")
	}
	real, realSpeed := capacity, machineSpeed
	t.Cleanup(func() { capacity, machineSpeed = real, realSpeed })
	machineSpeed = func(seen float64) float64 { return seen } // this process's speeds only
	resetTopSpeed(t)
	looks := 0
	capacity = func() (float64, float64, bool) {
		looks++
		c, speed := read(looks)
		return c, speed, true
	}
}

// firstAttemptDoesNotCount claims 1.8 with attempts that measure 1.1, 1.3
// and 1.9, each lasting minWindow (the length of a claim's run, which is
// what is judged): with the first attempt not counted, 2 attempts reach
// the third value.
func firstAttemptDoesNotCount(t *testing.T) {
	t.Helper()
	values := []float64{1.1, 1.3, 1.9}
	calls := 0
	measure := func() float64 { calls++; time.Sleep(minWindow); return values[calls-1] }
	if got := Best(t, 2, 1.8, measure); got != 1.9 || calls != 3 {
		t.Fatalf("Best = %v after %d attempts, want 1.9 after 3: the first, made while the host had the cores, is not counted", got, calls)
	}
}

// resetTopSpeed forgets the speeds this process has seen, for a test that
// plays the host, and restores them after.
func resetTopSpeed(t *testing.T) {
	speedMu.Lock()
	saved := topSpeed
	topSpeed = 0
	speedMu.Unlock()
	t.Cleanup(func() {
		speedMu.Lock()
		topSpeed = saved
		speedMu.Unlock()
	})
}

// TestClaimInsideHeavyOfTheSameProcess checks a test that loads the machine
// (a test server) may claim the cores in a subtest: the process's own shared
// lock turns exclusive instead of waiting for itself, and comes back shared.
func TestClaimInsideHeavyOfTheSameProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("claims are skipped under -short")
	}
	Heavy(t)
	t.Run("claim", func(t *testing.T) {
		Claim(t)
		Heavy(t) // inside the claim: nothing more to take
	})
	if heavy != 1 || claims != 0 {
		t.Fatalf("after the claim: %d heavy, %d claims held here, want 1 and 0", heavy, claims)
	}
}

// TestAttemptsSayWhenEveryAttemptWasDisturbed: a claim left unsettled
// while the host had the cores at every attempt measured the host, and
// Attempts says so; one attempt on quiet cores makes the result the claim's.
func TestAttemptsSayWhenEveryAttemptWasDisturbed(t *testing.T) {
	full := float64(runtime.NumCPU())
	slowed := true
	playHost(t, func(look int) (float64, float64) {
		if look > 1 && slowed {
			return full, 500 // every look after the reference: slowed
		}
		return full, 1000
	})
	coresLent() // the reference, as a claim takes it
	wait := quietWait
	quietWait = 0 // the played host stays slow: no use waiting for it
	t.Cleanup(func() { quietWait = wait })
	short := func(int) (string, bool) { time.Sleep(minWindow); return "short", false }
	if !Attempts(t, 1, short) {
		t.Error("an unsettled claim whose every attempt ran on slowed cores is not reported disturbed")
	}
	slowed = false
	if Attempts(t, 1, short) {
		t.Error("an unsettled claim with an attempt on quiet cores is reported disturbed")
	}
}

// TestFastestKeepsTheMachinesBest: the fastest time of a reference work is
// kept across calls (and test processes: a file), and a slower time does
// not replace it.
func TestFastestKeepsTheMachinesBest(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	for _, c := range []struct{ d, want time.Duration }{{2 * time.Second, 2 * time.Second}, {3 * time.Second, 2 * time.Second}, {time.Second, time.Second}} {
		if got := Fastest("work", c.d); got != c.want {
			t.Fatalf("Fastest(work, %v) = %v, want %v", c.d, got, c.want)
		}
	}
}
