package procgroup

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// held keeps the helper's memory reachable (and resident) while it waits.
var held []byte

// TestMain lets the test binary be a member of a measured group: "hold"
// keeps MiB of memory resident and starts KIDS sleeping children, says
// "ready" and waits to be killed.
func TestMain(m *testing.M) {
	if os.Getenv("PROCGROUP_ROLE") == "hold" {
		mib, _ := strconv.Atoi(os.Getenv("PROCGROUP_MIB"))
		kids, _ := strconv.Atoi(os.Getenv("PROCGROUP_KIDS"))
		held = make([]byte, mib<<20)
		for i := 0; i < len(held); i += 4096 {
			held[i] = 1
		}
		for range kids {
			if err := exec.Command("sleep", "60").Start(); err != nil {
				os.Exit(3)
			}
		}
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

func TestScanSeesTheGroupsMembersAndMemory(t *testing.T) {
	c := exec.Command(os.Args[0])
	c.Env = []string{"PROCGROUP_ROLE=hold", "PROCGROUP_MIB=64", "PROCGROUP_KIDS=2", "PATH=" + os.Getenv("PATH")}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-c.Process.Pid, syscall.SIGKILL); c.Wait() }()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper said %q", line)
	}
	sc := New(c.Process.Pid)
	for i := range 2 { // the second scan reads only the group's own processes
		s, err := sc.Scan()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("scan %d: %d members, %d MiB resident, %d ticks", i+1, s.Members, s.RSS>>20, s.CPUTicks)
		if s.Members != 3 {
			t.Errorf("scan %d: %d members, want the helper and its 2 children", i+1, s.Members)
		}
		if s.RSS < 64<<20 || s.RSS > 200<<20 {
			t.Errorf("scan %d: %d MiB resident, want the helper's 64 MiB and a little more", i+1, s.RSS>>20)
		}
	}
	if n := len(sc.procs); n < 3 {
		t.Errorf("the scanner remembers %d processes", n)
	}
}

func TestScanOfAGoneGroupIsEmpty(t *testing.T) {
	c := exec.Command("true")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	s, err := New(c.Process.Pid).Scan()
	if err != nil || s.Members != 0 || s.RSS != 0 {
		t.Errorf("scan of a reaped group = %+v, %v", s, err)
	}
}

// BenchmarkScan is what following a group costs per look once the scanner
// knows the machine's processes; BenchmarkFullScan reads every process's
// stat, as a look without memory does.
func BenchmarkScan(b *testing.B) {
	sc := New(os.Getpid())
	sc.Scan()
	for b.Loop() {
		sc.Scan()
	}
}

func BenchmarkFullScan(b *testing.B) {
	for b.Loop() {
		New(os.Getpid()).Scan()
	}
}
