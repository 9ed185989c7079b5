package machineload

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary play a helper process: "spin" burns a
// given amount of its own CPU time, "spin-then-wait" burns it, says so and
// sleeps until killed (as a run's program sends its end event before it
// exits; it starts when told on stdin), "parent" starts two spinners, waits
// for them (reaping them) and then sleeps until killed.
func TestMain(m *testing.M) {
	switch os.Getenv("MACHINELOAD_ROLE") {
	case "spin":
		spin(envDuration("MACHINELOAD_CPU"))
		os.Exit(0)
	case "spin-then-wait":
		os.Stdin.Read(make([]byte, 1)) // go: the meter has started
		spin(envDuration("MACHINELOAD_CPU"))
		os.Stdout.WriteString("spun\n")
		time.Sleep(time.Hour)
	case "parent":
		var kids []*exec.Cmd
		for range 2 {
			c := exec.Command(os.Args[0])
			c.Env = []string{"MACHINELOAD_ROLE=spin", "MACHINELOAD_CPU=" + os.Getenv("MACHINELOAD_CPU")}
			if err := c.Start(); err != nil {
				os.Exit(3)
			}
			kids = append(kids, c)
		}
		for _, c := range kids {
			c.Wait()
		}
		os.Stdout.WriteString("reaped\n")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

func envDuration(name string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(name))
	return d
}

// spin burns cpu of this process's CPU time (not wall time, so that a
// busy machine only makes it take longer).
func spin(cpu time.Duration) {
	var ts unix.Timespec
	for x := 0; ; x++ {
		if x%100000 == 0 {
			unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
			if time.Duration(ts.Nano()) >= cpu {
				return
			}
		}
	}
}

// helper starts the test binary in role, in a process group of its own.
func helper(t *testing.T, role string, cpu time.Duration) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0])
	c.Env = []string{"MACHINELOAD_ROLE=" + role, "MACHINELOAD_CPU=" + cpu.String()}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

func TestGroupCountsItsOwnCPUAndNotTheRest(t *testing.T) {
	const cpu = 400 * time.Millisecond
	group := helper(t, "spin-then-wait", cpu)
	out, err := group.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := group.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := group.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { group.Process.Kill(); group.Wait() }()
	m, err := Start(group.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// What the helper used before it was told to spin (starting up) is
	// counted by its own clock too: subtract it.
	before, _, _ := m.Sample()
	in.Write([]byte("g"))
	// Sample while it spins, as the server does, then once it says it is
	// done (as when a run's end event arrives).
	stop := make(chan struct{})
	sampled := make(chan int)
	go func() {
		n := 0
		defer func() { sampled <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, _, err := m.Sample(); err == nil {
					n++
				}
			}
		}
	}()
	line := make([]byte, 16)
	if n, _ := out.Read(line); string(line[:n]) != "spun\n" {
		t.Fatalf("helper said %q", line[:n])
	}
	close(stop)
	n := <-sampled
	total, _, err := m.Sample()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d samples; group %v (%v before it spun), observer %v, other %v over %v", n+1, total.Group, before.Group, total.Observer, total.Other(), total.Wall)
	if total.Group < cpu-20*time.Millisecond || total.Group > cpu+before.Group+40*time.Millisecond {
		t.Errorf("group used %v of CPU, want about %v", total.Group, cpu)
	}
}

func TestOtherCountsAProcessOutsideTheGroup(t *testing.T) {
	const cpu = 400 * time.Millisecond
	idle := exec.Command("sleep", "30")
	idle.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := idle.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { idle.Process.Kill(); idle.Wait() }()
	m, err := Start(idle.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	other := helper(t, "spin", cpu)
	if err := other.Run(); err != nil {
		t.Fatal(err)
	}
	total, _, err := m.Sample()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("group %v, observer %v, other %v (%.2f cores) over %v", total.Group, total.Observer, total.Other(), total.Cores(total.Other()), total.Wall)
	if total.Group > 20*time.Millisecond {
		t.Errorf("a sleeping group used %v of CPU", total.Group)
	}
	// The machine is shared: others may add to it, never take from it
	// (beyond /proc/stat's tick rounding).
	if total.Other() < cpu-60*time.Millisecond {
		t.Errorf("other load %v while a process outside the group burnt %v", total.Other(), cpu)
	}
}

func TestGroupKeepsTheTimeOfChildrenItReaped(t *testing.T) {
	const cpu = 300 * time.Millisecond
	parent := helper(t, "parent", cpu)
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-parent.Process.Pid, syscall.SIGKILL); parent.Wait() }()
	m, err := Start(parent.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Sample(); err != nil { // sees the spinners while they run
		t.Fatal(err)
	}
	line := make([]byte, 16)
	if n, _ := out.Read(line); string(line[:n]) != "reaped\n" {
		t.Fatalf("parent said %q", line[:n])
	}
	total, _, err := m.Sample()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("group %v over %v", total.Group, total.Wall)
	if total.Group < 2*cpu-30*time.Millisecond || total.Group > 2*cpu+100*time.Millisecond {
		t.Errorf("group used %v, want about %v: two children of %v each, reaped by the group's leader", total.Group, 2*cpu, cpu)
	}
}

func TestCores(t *testing.T) {
	u := Usage{Wall: 2 * time.Second, Machine: 3 * time.Second, Group: time.Second, Observer: 500 * time.Millisecond}
	if got := u.Cores(u.Other()); got != 0.75 {
		t.Errorf("other load = %v cores, want 0.75", got)
	}
	if (Usage{Machine: 1, Group: 2}).Other() != 0 {
		t.Error("tick rounding made other load negative")
	}
	if (Usage{}).Cores(time.Second) != 0 {
		t.Error("an empty interval has a load")
	}
}

// BenchmarkSample measures what one sample costs the observer (the server
// samples a few times a second during a run).
func BenchmarkSample(b *testing.B) {
	m, err := Start(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := m.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCoreSpeeds measures every CPU's speed relative to the fastest: one
// of them is 1, none is above, each is a real measure (above 0), and the
// answer is the same on a second call (measured once per process).
func TestCoreSpeeds(t *testing.T) {
	s := CoreSpeeds()
	t.Logf("core speeds relative to the fastest: %v", s)
	if runtime.NumCPU() < 2 {
		if s != nil {
			t.Errorf("one CPU: %v, want nil", s)
		}
		return
	}
	if len(s) != runtime.NumCPU() {
		t.Fatalf("%d speeds for %d CPUs: %v", len(s), runtime.NumCPU(), s)
	}
	if slices.Max(s) != 1 || slices.Min(s) <= 0 {
		t.Errorf("speeds %v: want the fastest at 1 and every one above 0", s)
	}
	if again := CoreSpeeds(); !slices.Equal(again, s) {
		t.Errorf("measured twice: %v then %v", s, again)
	}
}

// TestParallelCapacity: the probe answers a number of CPUs' worth between
// none and a little over the CPUs there are (a CPU can be quicker with the
// others busy: turbo, a neighbour gone quiet), on a machine with 2 or more.
func TestParallelCapacity(t *testing.T) {
	c, speed, ok := ParallelCapacity(40 * time.Millisecond)
	cpus := len(allowedCPUs())
	if cpus < 2 {
		if ok {
			t.Errorf("one CPU, capacity %.2f: want none measured", c)
		}
		t.Skip("one CPU")
	}
	if !ok || c <= 0 || c > 1.5*float64(cpus) || speed <= 0 {
		t.Fatalf("capacity %.2f, speed %.0f chunks/s (ok %v) on %d CPUs", c, speed, ok, cpus)
	}
	t.Logf("%d CPUs computed %.2f CPUs' worth at once", cpus, c)
}
