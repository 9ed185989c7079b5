package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"interleave/scenarios/child"
)

// startedAt returns the start time of pid in clock ticks after boot, as
// /proc/<pid>/stat has it (field 22).
func startedAt(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	n, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRestartSweepsWhatAKilledServerLeft: the store holds the process
// records of two runs a killed server did not see end. One group is still
// the run's: the next server kills it before serving. The other pid now
// belongs to another program (its start time differs): it is left alone.
// Both records are forgotten. A third record belongs to a server that
// still runs: its run is left alone and stays on record.
func TestRestartSweepsWhatAKilledServerLeft(t *testing.T) {
	dir := t.TempDir()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	start := func(mark string) *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		cmd.Env = []string{child.MarkEnv + "=" + mark}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	left, stranger := start("run-a"), start("someone")
	waited := make(chan struct{})
	go func() { left.Wait(); close(waited) }()

	store, err := OpenStore(dir, 10, 1<<20, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SweepLeftovers(context.Background(), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	b := strings.TrimSpace(string(boot))
	store.RememberProcesses("a", child.Leftover{PGID: left.Process.Pid, Start: startedAt(t, left.Process.Pid), Boot: b, Mark: "run-a"})
	store.RememberProcesses("b", child.Leftover{PGID: stranger.Process.Pid, Start: startedAt(t, stranger.Process.Pid) + 1, Boot: b, Mark: "run-b"})
	store.Close()

	// A run of a server still running (this test process, with its start
	// time) is that server's, not a leftover: it stays on record, alive.
	ours := start("run-c")
	self := os.Getpid()
	store, err = OpenStore(dir, 10, 1<<20, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	store.RememberProcesses("c", child.Leftover{PGID: ours.Process.Pid, Start: startedAt(t, ours.Process.Pid), Boot: b, Mark: "run-c", Server: self, ServerStart: startedAt(t, self)})
	store.Close()

	ts := newTestServerIn(t, dir, nil)
	// The sweep waits for what it kills to be gone: the run's process is
	// dead (a zombie until reaped) when New returns.
	if alive(left.Process.Pid) {
		t.Fatal("the killed server's run outlived the restart")
	}
	<-waited
	if ws := left.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the run's process ended with %v, want killed", left.ProcessState)
	}
	if !alive(stranger.Process.Pid) {
		t.Error("the sweep killed a process whose pid a record named but whose start time differs")
	}
	if !alive(ours.Process.Pid) {
		t.Error("the sweep killed a run of a server that still runs")
	}
	var records int
	if err := ts.srv.store.DB().QueryRow(`SELECT count(*) FROM run_processes`).Scan(&records); err != nil || records != 1 {
		t.Errorf("%d process records left after the sweep (%v); want the live server's one", records, err)
	}
}
