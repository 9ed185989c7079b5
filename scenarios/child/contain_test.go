package child

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"interleave/scenarios"
)

// newContainment probes the machine for a containment with a hidden
// "store" directory holding a secret file; mutate adjusts the config.
func newContainment(t *testing.T, mutate func(*ContainConfig)) (c *Containment, secret string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	secret = filepath.Join(data, "runs.db")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A short root, as /tmp is: multiprocessing's forkserver binds a unix
	// socket under TMPDIR, and such a path has at most 107 bytes.
	root, err := os.MkdirTemp("", "ilr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	cfg := ContainConfig{Executable: exe, Hidden: []string{data}, TempRoot: root, MemoryBytes: 1 << 30, Tasks: 4096}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err = NewContainment(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close the containment: %v", err)
		}
	})
	for _, p := range c.Report() {
		t.Logf("%-17s on=%-5v %s", p.Name, p.On, p.How)
	}
	return c, secret
}

// on reports whether protection name is on, and skips the test with the
// report's reason when it is off and the test needs it.
func on(t *testing.T, c *Containment, name string) {
	t.Helper()
	for _, p := range c.Report() {
		if p.Name == name {
			if !p.On {
				t.Skipf("%s is off on this machine: %s", name, p.How)
			}
			return
		}
	}
	t.Fatalf("no protection %q in the report", name)
}

// runRole runs the test binary in role, contained by c, and returns its
// event lines.
func runRole(t *testing.T, c *Containment, role string, env ...string) ([][]byte, Result, error) {
	t.Helper()
	exe, _ := os.Executable()
	prog := scenarios.Program{Path: exe, Env: append([]string{testRoleEnv + "=" + role}, env...)}
	var lines [][]byte
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var output strings.Builder
	res, err := Run(ctx, prog, Options{Contain: c, OnEvents: func(batch [][]byte) {
		for _, l := range batch {
			lines = append(lines, append([]byte(nil), l...))
		}
	}, OnOutput: func(_ string, text []byte) { output.Write(text) }})
	if output.Len() > 0 {
		t.Logf("the run's output:\n%s", output.String())
	}
	return lines, res, err
}

// TestContainedRunReachesNothingButItself runs a program that looks around
// and checks what it found: a private working directory (gone after the
// run), no way to the store's files or the host's listeners (its own
// loopback works), the rlimits, no capabilities, its own cgroup, and that
// it cannot signal the server.
func TestContainedRunReachesNothingButItself(t *testing.T) {
	c, secret := newContainment(t, nil)
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go func() {
		for {
			conn, err := host.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	// The host's listener answers from here.
	if conn, err := net.Dial("tcp", host.Addr().String()); err != nil {
		t.Fatal(err)
	} else {
		conn.Close()
	}
	serverCwd, _ := os.Getwd()

	lines, res, err := runRole(t, c, "inspect", "SECRET="+secret, "HOST_ADDR="+host.Addr().String(), "SERVER_PID="+strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatalf("run: %v (exit %d)", err, res.ExitCode)
	}
	if len(lines) != 1 {
		t.Fatalf("want one report, got %d lines", len(lines))
	}
	var in inspection
	if err := json.Unmarshal(lines[0], &in); err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", in)

	if in.Cwd != in.TmpDir || in.Cwd == serverCwd || !strings.HasPrefix(filepath.Base(in.Cwd), "interleave-run-") {
		t.Errorf("cwd %q, TMPDIR %q: want the same private directory, not the server's %q", in.Cwd, in.TmpDir, serverCwd)
	}
	if in.WriteErr != "" {
		t.Errorf("the run cannot write in its own directory: %s", in.WriteErr)
	}
	if _, err := os.Stat(in.Cwd); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the private directory %s is still there after the run: %v", in.Cwd, err)
	}
	if in.Mark == "" {
		t.Errorf("no %s in the run's environment", MarkEnv)
	}
	if in.NoFile != 8192 || in.FSize != 256<<20 || in.Core != 0 {
		t.Errorf("rlimits NOFILE %d, FSIZE %d, CORE %d: want 8192, %d, 0", in.NoFile, in.FSize, in.Core, 256<<20)
	}
	report := map[string]bool{}
	for _, p := range c.Report() {
		report[p.Name] = p.On
	}
	if report["files"] {
		if in.SecretErr == "" {
			t.Error("the run read the store's file")
		}
		if in.ShadowErr == "" {
			t.Error("the run read /etc/shadow")
		}
	}
	if report["network"] {
		if in.HostDialErr == "" {
			t.Error("the run connected to a listener of the host's 127.0.0.1")
		}
		if in.LoopbackErr != "" {
			t.Errorf("the run's own loopback does not work: %s", in.LoopbackErr)
		}
	}
	if report["signals"] && in.KillParentErr == "" {
		t.Error("the run could signal the server")
	}
	if report["capabilities"] && in.CapEff != "0000000000000000" {
		t.Errorf("the run has capabilities %s", in.CapEff)
	}
	if report["cgroup"] && !strings.Contains(in.Cgroup, cgroupPrefix) {
		t.Errorf("the run is not in a cgroup of its own:\n%s", in.Cgroup)
	}
}

// TestMemoryCapStopsAFastAllocation: a program that allocates 16 MiB at a
// time as fast as it can never gets far past a 96 MiB cap, because the
// kernel stops the allocation that crosses it (a cap measured every 100 ms
// lets hundreds of MiB through first).
func TestMemoryCapStopsAFastAllocation(t *testing.T) {
	const limit = 96 << 20
	c, _ := newContainment(t, func(cfg *ContainConfig) { cfg.MemoryBytes = limit })
	on(t, c, "memory cap")
	start := time.Now()
	lines, res, err := runRole(t, c, "alloc")
	if !errors.Is(err, ErrMemory) || !res.MemoryExceeded {
		t.Fatalf("want the memory cap error, got %v (exceeded %v)", err, res.MemoryExceeded)
	}
	most := 0
	for _, l := range lines {
		var p struct {
			MiB  int
			MS   int
			Done bool
		}
		json.Unmarshal(l, &p)
		if p.Done {
			t.Fatal("the program allocated all of its 1 GiB under a 96 MiB cap")
		}
		most = max(most, p.MiB)
	}
	t.Logf("reached %d MiB under a %d MiB cap; killed after %s", most, limit>>20, time.Since(start))
	if most*(1<<20) > limit {
		t.Errorf("the program held %d MiB, more than the %d MiB cap", most, limit>>20)
	}
}

// TestFileLimits: a run cannot open more files than its limit, nor write a
// file larger than its limit.
func TestFileLimits(t *testing.T) {
	c, _ := newContainment(t, func(cfg *ContainConfig) { cfg.OpenFiles = 100; cfg.FileBytes = 1 << 20 })
	lines, _, err := runRole(t, c, "files")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Open     int
		Err      string
		WriteErr string `json:"write_err"`
	}
	for _, l := range lines {
		json.Unmarshal(l, &got)
	}
	if got.Open == 0 || got.Open > 100 || !strings.Contains(got.Err, "too many open files") {
		t.Errorf("opened %d files (%s); want fewer than the limit of 100, then 'too many open files'", got.Open, got.Err)
	}
	if !strings.Contains(got.WriteErr, "file too large") {
		t.Errorf("writing 2 MiB under a 1 MiB limit: %s; want 'file too large'", got.WriteErr)
	}
}

// TestTaskCap: a run cannot start more processes and threads than its cap.
func TestTaskCap(t *testing.T) {
	c, _ := newContainment(t, func(cfg *ContainConfig) { cfg.Tasks = 64 })
	on(t, c, "task cap")
	lines, _, err := runRole(t, c, "tasks")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Started int
		Err     string
	}
	for _, l := range lines {
		json.Unmarshal(l, &got)
	}
	t.Logf("started %d sleepers: %s", got.Started, got.Err)
	if got.Started >= 64 || !strings.Contains(got.Err, "resource temporarily unavailable") {
		t.Errorf("started %d processes under a cap of 64 tasks (%s)", got.Started, got.Err)
	}
}

// TestCPUAccountingCountsEveryProcess: two processes of a run each use
// 300 ms of CPU; the cgroup counts both, where rusage of the main process
// would count only the child it waited for and itself.
func TestCPUAccountingCountsEveryProcess(t *testing.T) {
	c, _ := newContainment(t, nil)
	on(t, c, "cpu accounting")
	_, res, err := runRole(t, c, "burn")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cpu %s from %s", time.Duration(res.CPUNS), res.CPUFrom)
	if res.CPUFrom != CPUFromCgroup || res.CPUNS < 550e6 || res.CPUNS > 1e9 {
		t.Errorf("cpu %s from %s: want about 600 ms from the cgroup", time.Duration(res.CPUNS), res.CPUFrom)
	}
}

// TestRunWorksWithEveryProtectionOff: where a machine has no cgroup, no
// namespaces and no Landlock, a run still works and the report says what
// is off and why.
func TestRunWorksWithEveryProtectionOff(t *testing.T) {
	c, _ := newContainment(t, func(cfg *ContainConfig) {
		cfg.Without = []string{"cgroup", "network", "userns", "landlock", "caps"}
	})
	off := map[string]string{}
	for _, p := range c.Report().Off() {
		off[p.Name] = p.How
	}
	for _, name := range []string{"cgroup", "memory cap", "network", "files", "signals"} {
		if off[name] == "" {
			t.Errorf("%s is not reported off", name)
		}
	}
	if !strings.Contains(off["memory cap"], "polled every 100 ms") {
		t.Errorf("memory cap: %q; want it to say the cap is polled", off["memory cap"])
	}
	lines, res, err := runRole(t, c, "inspect")
	if err != nil || len(lines) != 1 {
		t.Fatalf("run: %v, %d lines", err, len(lines))
	}
	if res.CPUFrom != CPUFromRusage {
		t.Errorf("cpu from %q without a cgroup; want rusage", res.CPUFrom)
	}
}
