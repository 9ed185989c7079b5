// Package child starts a run's program as a child process in its own process
// group, reads its events (JSON lines on fd 3) and its output, and makes sure
// nothing is left behind: on cancel the whole group is killed and reaped.
package child

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"interleave/scenarios"
)

// Options says where a child's events and output go, and its limits.
type Options struct {
	// OnEvents receives complete event lines (without newline) in read order.
	// The slices are only valid during the call.
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
	// group, in bytes; past it the group is killed. Zero means no cap.
	MemoryLimit int64
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
	// MemoryExceeded is set when the group was killed for MemoryLimit.
	MemoryExceeded bool
}

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

	cmd := exec.CommandContext(ctx, prog.Path, prog.Args...)
	cmd.Env = prog.Env
	cmd.Dir = prog.Dir
	cmd.ExtraFiles = append([]*os.File{evW}, opts.ExtraFiles...) // fd 3, then 4…
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
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

	watchDone := make(chan struct{})
	watchStopped := make(chan struct{})
	go func() {
		defer close(watchStopped)
		t := time.NewTicker(memoryEvery)
		defer t.Stop()
		for {
			rss := groupRSS(res.PID)
			res.PeakRSS = max(res.PeakRSS, rss)
			if opts.MemoryLimit > 0 && rss > opts.MemoryLimit {
				res.MemoryExceeded = true
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

	res.LinesDropped = readEvents(evR, opts)
	wg.Wait()
	close(watchDone)
	<-watchStopped
	err = cmd.Wait()
	// The group may still hold grandchildren that outlived the child: kill
	// them so nothing is orphaned (they are reaped by init or their parent).
	_ = killGroup(cmd)
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		return res, context.Cause(ctx)
	}
	if res.MemoryExceeded {
		return res, fmt.Errorf("%w: more than %d MiB resident", ErrMemory, opts.MemoryLimit>>20)
	}
	return res, err
}

// readEvents reads event lines until the pipe closes and hands them over in
// batches of what one read delivered.
func readEvents(r io.Reader, opts Options) (dropped int64) {
	br := bufio.NewReaderSize(r, 256<<10)
	batch := make([][]byte, 0, 1024)
	var long []byte
	tooLong := false
	flush := func() {
		if len(batch) > 0 && opts.OnEvents != nil {
			opts.OnEvents(batch)
		}
		batch = batch[:0]
	}
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !tooLong {
				long = append(long, line...)
				if len(long) > opts.MaxLine {
					tooLong, long = true, long[:0]
				}
			}
			continue
		case err != nil && len(line) == 0:
			flush()
			return dropped
		}
		if tooLong {
			tooLong = false
			dropped++
		} else {
			if len(long) > 0 {
				line = append(long, line...)
				long = nil
				if len(line) > opts.MaxLine {
					dropped++
					line = nil
				}
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) > 0 {
				// Lines from ReadSlice are only valid until the next read:
				// copy before the buffer moves on.
				batch = append(batch, append([]byte(nil), line...))
			}
		}
		if br.Buffered() == 0 || len(batch) == cap(batch) {
			flush()
		}
		if err != nil {
			flush()
			return dropped
		}
	}
}
