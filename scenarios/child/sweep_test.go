package child

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"interleave/scenarios"
)

// startFamily starts the "family" role contained by c as a server would,
// except that nobody will end it: it returns the leftover the server would
// have stored, the pids of the family, and a wait for the leader.
func startFamily(t *testing.T, c *Containment) (Leftover, []int, func()) {
	t.Helper()
	exe, _ := os.Executable()
	cmd, run, err := c.prepare(context.Background(), scenarios.Program{Path: exe, Env: []string{testRoleEnv + "=family"}})
	if err != nil {
		t.Fatal(err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer evR.Close()
	cmd.ExtraFiles = []*os.File{evW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	evW.Close()
	line, err := bufio.NewReader(evR).ReadBytes('\n')
	if err != nil {
		t.Fatalf("the family did not report: %v", err)
	}
	var got struct{ Children []int }
	if err := json.Unmarshal(line, &got); err != nil || len(got.Children) != 2 {
		t.Fatalf("report %q: %v", line, err)
	}
	l := run.leftover(cmd.Process.Pid)
	pids := append([]int{cmd.Process.Pid}, got.Children...)
	// The test may reap the leader itself (wait) while its cleanup does too:
	// one Wait, whoever comes first.
	var reaped sync.Once
	wait := func() { reaped.Do(func() { cmd.Wait() }) }
	t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		wait()
		run.release()
	})
	return l, pids, wait
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	f, ok := statFields(pid)
	return ok && len(f) > 0 && f[0][0] != 'Z'
}

// TestSweepKillsWhatAKilledServerLeft: a run whose server is gone (its
// leftover record is all that remains) is killed by the sweep, group and
// cgroup, and its cgroups and private directory are removed.
func TestSweepKillsWhatAKilledServerLeft(t *testing.T) {
	c, _ := newContainment(t, nil)
	l, pids, wait := startFamily(t, c)
	go wait() // the leader is the test's child: reap it once killed
	start := time.Now()
	swept, err := Sweep(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("swept %+v in %s", swept, time.Since(start))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d outlived the sweep", pid)
		}
	}
	if swept.Killed < len(pids) {
		t.Errorf("killed %d, want %d", swept.Killed, len(pids))
	}
	for _, dir := range append(l.Cgroups, l.Dir) {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", dir, err)
		}
	}
}

// TestSweepWithoutCgroupTrustsOnlyTheMark: without a cgroup, and with the
// group's leader already gone, the sweep kills the members that carry the
// run's mark, and only those.
func TestSweepWithoutCgroupTrustsOnlyTheMark(t *testing.T) {
	c, _ := newContainment(t, func(cfg *ContainConfig) { cfg.Without = []string{"cgroup"} })
	l, pids, wait := startFamily(t, c)
	syscall.Kill(pids[0], syscall.SIGKILL)
	wait()
	stranger := l
	stranger.Mark = "someone-else"
	if swept, _ := Sweep(stranger); swept.Killed != 0 || swept.Skipped != 2 {
		t.Errorf("with another run's mark: %+v; want 0 killed, 2 skipped", swept)
	}
	for _, pid := range pids[1:] {
		if !alive(pid) {
			t.Fatalf("process %d was killed without proof it was the run's", pid)
		}
	}
	swept, err := Sweep(l)
	if err != nil {
		t.Fatal(err)
	}
	if swept.Killed != 2 {
		t.Errorf("killed %d, want the 2 orphans", swept.Killed)
	}
	for _, pid := range pids[1:] {
		if alive(pid) {
			t.Errorf("orphan %d outlived the sweep", pid)
		}
	}
}

// TestSweepSparesAReusedPID: a record whose pid now belongs to another
// program (its start time differs) kills nothing.
func TestSweepSparesAReusedPID(t *testing.T) {
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = []string{testRoleEnv + "=sleep"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	st, ok := startTime(pid)
	if !ok {
		t.Fatal("no start time")
	}
	swept, err := Sweep(Leftover{PGID: pid, Start: st - 1, Boot: bootID(), Mark: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if swept.Killed != 0 || !alive(pid) {
		t.Fatalf("the sweep killed a process that reused a recorded pid: %+v", swept)
	}
	// The same record from another boot is not even looked at.
	if swept, _ := Sweep(Leftover{PGID: pid, Start: st, Boot: "another boot"}); swept.Killed != 0 || !alive(pid) {
		t.Fatalf("a record of another boot killed %d", swept.Killed)
	}
	// A damaged record never removes a directory it did not make.
	keep := t.TempDir()
	Sweep(Leftover{Boot: "another boot", Dir: keep})
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the sweep removed %s", keep)
	}
}
