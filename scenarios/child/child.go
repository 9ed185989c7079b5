// Package child starts a run's program as a child process in its own process
// group, reads its events (JSON lines on fd 3) and its output, and makes sure
// nothing is left behind: on cancel the whole group is killed and reaped.
//
// A contained run (Options.Contain) also gets, where the machine allows:
// a cgroup of its own (the kernel caps its memory and tasks, counts its CPU
// time and kills all of it in one step), its own network namespace with
// only loopback, a private working directory, rlimits, no capabilities and
// a Landlock view of the file system that leaves out the store. The
// sandbox role of this binary (SandboxMain) sets that up and then executes
// the engine's program. Leftover and Sweep clean up after a server that was
// killed before its runs ended.
package child

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"interleave/internal/procgroup"
	"interleave/scenarios"
)

// Options says where a child's events and output go, and its limits.
type Options struct {
	// OnEvents receives complete event lines (without newline) in read
	// order. The slices are valid only during the call: copy what you keep.
	OnEvents func(lines [][]byte)
	// OnOutput receives what the child printed on stdout or stderr, in chunks.
	OnOutput func(stream string, text []byte)
	// OutputLimit caps stdout+stderr bytes passed to OnOutput (default 1 MiB);
	// the rest is drained and counted in Result.OutputDropped.
	OutputLimit int64
	// MaxLine caps one event line (default 1 MiB); a longer line is dropped.
	MaxLine int
	// OnStart is called with the child's pid once it runs.
	OnStart func(pid int)
	// MemoryLimit caps the resident memory of the child's whole process
	// group, in bytes, measured every 100 ms; past it the group is killed.
	// Zero means no cap. A contained run's cap is its Containment's, and
	// is only measured this way where the machine has no memory cgroup.
	MemoryLimit int64
	// Contain, when set, runs the program contained (see Containment); nil
	// runs it as a plain child in its own process group.
	Contain *Containment
	// OnLeftover is called, for a contained run, once it runs, with what a
	// restarted server needs to kill its processes should this one die.
	OnLeftover func(Leftover)
	// ExtraFiles are passed to the child from fd 4 on (fd 3 carries the
	// events), such as a step run's control socket (scenarios.ControlFD).
	// The caller keeps them and closes its copies once the child started.
	ExtraFiles []*os.File
}

// memoryEvery is how often the group's memory is measured.
const memoryEvery = 100 * time.Millisecond

// Result is how a child ended.
type Result struct {
	PID           int
	ExitCode      int
	OutputDropped int64
	// LinesDropped counts event lines over MaxLine.
	LinesDropped int64
	// PeakRSS is the largest resident memory of the process group seen.
	PeakRSS int64
	// MemoryExceeded is set when the run went over its memory cap.
	MemoryExceeded bool
	// CPUNS is the CPU time (user and system) the run's processes used, in
	// ns: every process of its cgroup where it has one, else the main
	// process and the children it waited for (CPUFrom says which).
	CPUNS   int64
	CPUFrom string
}

// Where Result.CPUNS comes from.
const (
	CPUFromCgroup = "cgroup"
	CPUFromRusage = "rusage"
)

// ErrMemory is returned when the child's group went over Options.MemoryLimit.
var ErrMemory = errors.New("memory cap exceeded")

// killGroup kills the child's whole process group: its own children
// (workers, subprocesses) die with it.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// Run starts prog and waits for it. Cancelling ctx kills the process group.
// The error is nil when the child exited 0; an *exec.ExitError otherwise, or
// ctx's error when it was cancelled.
func Run(ctx context.Context, prog scenarios.Program, opts Options) (Result, error) {
	if opts.OutputLimit <= 0 {
		opts.OutputLimit = 1 << 20
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = 1 << 20
	}
	var res Result

	evR, evW, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("event pipe: %w", err)
	}
	defer evR.Close()

	var cmd *exec.Cmd
	var run *contained
	if opts.Contain != nil {
		cmd, run, err = opts.Contain.prepare(ctx, prog)
		if err != nil {
			evW.Close()
			return res, fmt.Errorf("contain the run: %w", err)
		}
		defer func() {
			run.kill()
			_ = run.release()
			run.unwatch()
		}()
	} else {
		cmd = exec.CommandContext(ctx, prog.Path, prog.Args...)
		cmd.Env = prog.Env
		cmd.Dir = prog.Dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	// fd 3 carries the events, then fd 4… the caller's extra files (the
	// sandbox executes the program in its place, so they reach it).
	cmd.ExtraFiles = append([]*os.File{evW}, opts.ExtraFiles...)
	cmd.Cancel = func() error {
		run.kill()
		return killGroup(cmd)
	}
	cmd.WaitDelay = 2 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		evW.Close()
		return res, fmt.Errorf("stdout pipe: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		evW.Close()
		return res, fmt.Errorf("stderr pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		evW.Close()
		return res, fmt.Errorf("start %s: %w", prog.Path, err)
	}
	evW.Close() // the child holds its own copy
	res.PID = cmd.Process.Pid
	if opts.OnStart != nil {
		opts.OnStart(res.PID)
	}
	if run != nil {
		l := run.leftover(res.PID)
		run.watch(l)
		if opts.OnLeftover != nil {
			opts.OnLeftover(l)
		}
	}

	// The watcher measures the group's memory, and ends the run when it
	// went over the cap: the kernel's cap (a process was killed for it) or,
	// without a memory cgroup, the measured one.
	polledCap := opts.MemoryLimit
	var kernelCap *runGroup
	if run != nil {
		polledCap = 0
		if run.group != nil && run.group.memory != "" {
			kernelCap = run.group
		} else {
			polledCap = opts.Contain.cfg.MemoryBytes
		}
	}
	watchDone := make(chan struct{})
	watchStopped := make(chan struct{})
	go func() {
		defer close(watchStopped)
		t := time.NewTicker(memoryEvery)
		defer t.Stop()
		// The scanner reads only the group's processes and the machine's
		// new ones: a full /proc scan every tick cost ~4 ms of the
		// server's CPU, 4 % of a core taken from the run it watched.
		group := procgroup.New(res.PID)
		for {
			sample, _ := group.Scan()
			rss := sample.RSS
			res.PeakRSS = max(res.PeakRSS, rss)
			if polledCap > 0 && rss > polledCap || kernelCap != nil && kernelCap.oomKills() > 0 {
				res.MemoryExceeded = true
				run.kill()
				_ = killGroup(cmd)
				return
			}
			select {
			case <-watchDone:
				return
			case <-t.C:
			}
		}
	}()

	var wg sync.WaitGroup
	var outMu sync.Mutex
	budget := opts.OutputLimit
	readOutput := func(stream string, r io.Reader) {
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				outMu.Lock()
				keep := int64(n)
				if keep > budget {
					keep = budget
				}
				budget -= keep
				res.OutputDropped += int64(n) - keep
				if keep > 0 && opts.OnOutput != nil {
					opts.OnOutput(stream, buf[:keep])
				}
				outMu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go func() { defer wg.Done(); readOutput("stdout", stdout) }()
	go func() { defer wg.Done(); readOutput("stderr", stderr) }()

	res.LinesDropped = readEvents(evR, opts.MaxLine, opts.OnEvents)
	wg.Wait()
	close(watchDone)
	<-watchStopped
	err = cmd.Wait()
	// The group may still hold grandchildren that outlived the child: kill
	// them so nothing is orphaned (they are reaped by init or their parent).
	_ = killGroup(cmd)
	run.kill()
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
		res.CPUNS, res.CPUFrom = rusageCPU(cmd.ProcessState), CPUFromRusage
	}
	if run != nil && run.group != nil {
		if ns, ok := run.group.cpuNS(); ok {
			res.CPUNS, res.CPUFrom = ns, CPUFromCgroup
		}
		if run.group.oomKills() > 0 {
			res.MemoryExceeded = true
		}
	}
	if ctx.Err() != nil {
		return res, context.Cause(ctx)
	}
	if res.MemoryExceeded {
		limit := opts.MemoryLimit
		if run != nil {
			limit = opts.Contain.cfg.MemoryBytes
		}
		return res, fmt.Errorf("%w: more than %d MiB", ErrMemory, limit>>20)
	}
	return res, err
}

// rusageCPU returns the user and system time of a finished process and of
// the children it waited for, in ns.
func rusageCPU(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
