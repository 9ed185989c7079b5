package goengine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"interleave/scenarios/event"
)

// subprocess: real OS programs started from the runner, never through a
// shell, only from an allow-list of named commands with fixed arguments.
// Like Python's subprocess.run, a child blocks its parent until it exits; a
// non-zero exit is an error only with check=true; its output and exit code
// are captured; a timeout kills it.
func init() {
	register("subprocess", scenario{run: runSubprocess, source: "subprocess.go"})
	childRoles[roleSlowPrint] = slowPrintMain
	childRoles[roleFail] = failMain
	childRoles[roleCompute] = computeMain
}

// Small programs of our own, run as this binary re-executed in a role: they
// need no shell and behave the same on every machine.
const (
	roleSlowPrint = "slow-print"
	roleFail      = "fail"
	roleCompute   = "compute"
)

// allowedCommand is a program the scenario may run: either an OS program
// looked up in PATH with fixed arguments, or this binary in a role.
type allowedCommand struct {
	argv []string
	role string
}

// allowedCommands is the allow-list: the command param picks a name, and
// nothing the user types ever reaches an argv. The catalog's options for
// command are exactly these names.
var allowedCommands = map[string]allowedCommand{
	"slow-print": {role: roleSlowPrint},
	"sleep":      {argv: []string{"sleep", "0.2"}},
	"list":       {argv: []string{"ls", "-la", "/etc"}},
	"search":     {argv: []string{"find", "/etc", "-maxdepth", "2", "-name", "*.conf"}},
	"fail":       {role: roleFail},
	"compute":    {role: roleCompute},
}

// pipelineFilters follow the chosen command in mode=pipeline:
// command | sort -r | cat -n. sort must read all its input before it writes
// anything; cat -n numbers what reaches it, which proves the data went through.
var pipelineFilters = []allowedCommand{
	{argv: []string{"sort", "-r"}},
	{argv: []string{"cat", "-n"}},
}

// Output of one child kept as output events (lines, and bytes in all); the
// rest is counted and reported with a mark.
const (
	outputLinesShown = 200
	outputBytesShown = 64 << 10
	outputLineMax    = 4096
)

// slowPrintLines and slowPrintPause shape the slow-print program.
const (
	slowPrintLines = 5
	slowPrintPause = 60 * time.Millisecond
)

// display renders the command as a reader would type it.
func (c allowedCommand) display() string {
	if c.role != "" {
		return c.role
	}
	return strings.Join(c.argv, " ")
}

// command builds the exec.Cmd for c: an explicit environment, the runner's
// process group (so the server's group kill reaches it) and a kill when ctx
// ends (the timeout or the run's end).
func (c allowedCommand) command(ctx context.Context) (*exec.Cmd, error) {
	if c.role != "" {
		return selfCommand(ctx, c.role, "LC_ALL=C")
	}
	path, err := exec.LookPath(c.argv[0])
	if err != nil {
		return nil, fmt.Errorf("%s is not installed: %w", c.argv[0], err)
	}
	cmd := exec.CommandContext(ctx, path, c.argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	cmd.WaitDelay = time.Second
	return cmd, nil
}

// childProc is one started program and what it did.
type childProc struct {
	n        int
	name     string
	display  string
	lane     string
	cmd      *exec.Cmd
	ctx      context.Context
	cancel   context.CancelFunc
	pid      int
	start    int64 // run clock
	end      int64
	exitCode int
	signaled bool
	timedOut bool
	startErr error
	stderr   cappedBuffer
	stdoutR  io.Reader // nil when stdout goes down a pipeline
	stderrR  io.Reader
	readers  sync.WaitGroup
	exited   chan struct{} // closed once the child is reaped and its end recorded

	mu          sync.Mutex
	linesShown  int
	bytesShown  int
	stdoutLines int
	outDropped  int64
}

// subprocessRun holds the state of one run of the scenario.
type subprocessRun struct {
	r       *Run
	ctx     context.Context
	timeout time.Duration
	procs   []*childProc
}

func runSubprocess(ctx context.Context, r *Run) (event.Summary, error) {
	name, mode, count := r.Params.String("command"), r.Params.String("mode"), r.Params.Int("count")
	check, timeoutMS := r.Params.Bool("check"), r.Params.Int("timeout_ms")
	command, ok := allowedCommands[name]
	if !ok {
		return event.Summary{}, fmt.Errorf("command %q is not on the allow-list", name)
	}
	s := &subprocessRun{r: r, ctx: ctx, timeout: time.Duration(timeoutMS) * time.Millisecond}
	r.Emit(event.Event{K: event.KindLane, ID: "main", Kind: event.LaneProcess, Name: "runner (the parent process)", PID: os.Getpid()})

	start := r.Now()
	var runErr error
	switch mode {
	case "sequential":
		for i := range count {
			p := s.start(i+1, name, command, nil, nil)
			r.State("main", event.Blocked, fmt.Sprintf("waiting for %s (pid %d) to exit: running a program blocks its caller", name, p.pid))
			s.wait(p)
			if runErr = s.raised(p, check); runErr != nil || ctx.Err() != nil {
				break // like an exception out of subprocess.run: the next ones never start
			}
		}
	case "concurrent":
		for i := range count {
			s.start(i+1, name, command, nil, nil)
		}
		r.State("main", event.Blocked, fmt.Sprintf("all %d children started; waiting for each to exit", count))
		for _, p := range s.procs {
			s.wait(p)
		}
		for _, p := range s.procs {
			if runErr = s.raised(p, check); runErr != nil {
				break
			}
		}
	case "pipeline":
		runErr = s.pipeline(name, command, check)
	}
	r.State("main", event.Done, "")
	wall := r.Now() - start
	if runErr == nil {
		runErr = ctx.Err()
	}
	return s.summary(mode, wall), runErr
}

// pipeline runs command | sort -r | cat -n, each stage's stdout an OS pipe
// into the next one's stdin.
func (s *subprocessRun) pipeline(name string, command allowedCommand, check bool) error {
	stages := append([]allowedCommand{command}, pipelineFilters...)
	var stdin *os.File
	for i, c := range stages {
		var next, stdout *os.File
		if i < len(stages)-1 {
			var err error
			if next, stdout, err = os.Pipe(); err != nil {
				return fmt.Errorf("pipe: %w", err)
			}
		}
		stageName := name
		if i > 0 {
			stageName = c.argv[0]
		}
		p := s.start(i+1, stageName, c, stdin, stdout)
		// The children hold their own copies of the pipe ends; closing
		// ours lets each reader see end-of-file when its writer exits.
		if stdin != nil {
			stdin.Close()
		}
		if stdout != nil {
			stdout.Close()
		}
		if i > 0 {
			s.r.Flow(s.procs[i-1].lane, p.lane, "stdout → stdin (OS pipe)")
		}
		stdin = next
	}
	s.r.State("main", event.Blocked, fmt.Sprintf("waiting for the %d programs of the pipeline", len(stages)))
	for _, p := range s.procs {
		s.wait(p)
	}
	for _, p := range s.procs {
		if err := s.raised(p, check); err != nil {
			return err
		}
	}
	return nil
}

// start starts program n on its own lane. stdin and stdout are pipe ends in
// a pipeline; nil means no input and captured output.
func (s *subprocessRun) start(n int, name string, c allowedCommand, stdin, stdout *os.File) *childProc {
	p := &childProc{n: n, name: name, display: c.display(), lane: fmt.Sprintf("proc-%d", n), stderr: cappedBuffer{max: 2048}, exited: make(chan struct{})}
	s.procs = append(s.procs, p)
	p.ctx, p.cancel = s.ctx, func() {}
	if s.timeout > 0 {
		p.ctx, p.cancel = context.WithTimeout(s.ctx, s.timeout)
	}
	p.start = s.r.Now()
	cmd, err := c.command(p.ctx)
	if err == nil {
		p.cmd = cmd
		err = p.startCmd(stdin, stdout)
	}
	if err != nil {
		p.cancel()
		p.startErr = err
		p.end = s.r.Now()
		s.r.Emit(event.Event{T: p.start, K: event.KindLane, ID: p.lane, Kind: event.LaneProcess, Name: name, Parent: "main"})
		s.r.Mark(p.lane, "could not start: "+err.Error())
		s.r.State(p.lane, event.Done, "never started")
		close(p.exited)
		return p
	}
	s.r.Emit(event.Event{T: p.start, K: event.KindLane, ID: p.lane, Kind: event.LaneProcess, Name: fmt.Sprintf("%s (pid %d)", name, p.pid), Parent: "main", PID: p.pid})
	s.r.Emit(event.Event{T: p.start, K: event.KindState, Lane: p.lane, S: event.Active, Why: "running " + p.display + ": its own process, scheduled by the OS", Src: event.SrcApp})
	s.r.Flow("main", p.lane, fmt.Sprintf("start pid %d (fork/exec)", p.pid))
	// Output is read only now that its lane exists; the child's writes wait
	// in the pipe meanwhile.
	p.capture(s.r)
	// Reap the child as soon as it exits, so its end time is true whatever
	// order the parent waits in.
	go s.reap(p)
	return p
}

// startCmd starts the child with its stdin and stdout (pipe ends in a
// pipeline), capturing what is not piped.
func (p *childProc) startCmd(stdin, stdout *os.File) error {
	cmd := p.cmd
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if stdout != nil {
		cmd.Stdout = stdout
	} else {
		var err error
		if p.stdoutR, err = cmd.StdoutPipe(); err != nil {
			return err
		}
	}
	var err error
	if p.stderrR, err = cmd.StderrPipe(); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.pid = cmd.Process.Pid
	return nil
}

// capture starts reading the child's captured streams.
func (p *childProc) capture(r *Run) {
	if p.stdoutR != nil {
		p.readers.Add(1)
		go func() { defer p.readers.Done(); p.captureStream(r, "stdout", p.stdoutR) }()
	}
	p.readers.Add(1)
	go func() { defer p.readers.Done(); p.captureStream(r, "stderr", p.stderrR) }()
}

// captureStream turns what the child prints into output events on its lane,
// a line at a time, up to outputLinesShown lines and outputBytesShown bytes;
// stderr is also kept for the error message.
func (p *childProc) captureStream(r *Run, stream string, rd io.Reader) {
	br := bufio.NewReaderSize(rd, outputLineMax)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if stream == "stderr" {
				p.stderr.Write(line)
			}
			p.mu.Lock()
			if stream == "stdout" {
				p.stdoutLines++
			}
			show := p.linesShown < outputLinesShown && p.bytesShown+len(line) <= outputBytesShown
			if show {
				p.linesShown++
				p.bytesShown += len(line)
			} else {
				p.outDropped += int64(len(line))
			}
			p.mu.Unlock()
			if show {
				r.Output(p.lane, stream, string(line))
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// wait waits until p has exited and been reaped.
func (s *subprocessRun) wait(p *childProc) { <-p.exited }

// reap waits for p to exit and records how it ended on its lane.
func (s *subprocessRun) reap(p *childProc) {
	defer close(p.exited)
	defer p.cancel()
	p.readers.Wait()
	err := p.cmd.Wait()
	p.end = s.r.Now()
	st := p.cmd.ProcessState
	if st != nil {
		p.exitCode = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.signaled = true
		}
	}
	p.timedOut = p.signaled && errors.Is(p.ctx.Err(), context.DeadlineExceeded) && s.ctx.Err() == nil
	if p.outDropped > 0 {
		s.r.Mark(p.lane, fmt.Sprintf("output capped: %s more not shown", formatBytes(int(p.outDropped))))
	}
	switch {
	case p.timedOut:
		s.r.Mark(p.lane, fmt.Sprintf("timeout: killed after %d ms (SIGKILL)", s.timeout.Milliseconds()))
		if gone := pidGone(p.pid); gone {
			s.r.Mark(p.lane, fmt.Sprintf("pid %d is gone", p.pid))
		} else {
			s.r.Mark(p.lane, fmt.Sprintf("pid %d still exists", p.pid))
		}
		s.r.State(p.lane, event.Done, "killed by the timeout")
	case p.signaled:
		s.r.Mark(p.lane, "killed by a signal")
		s.r.State(p.lane, event.Done, "killed")
	case err != nil && st == nil:
		s.r.Mark(p.lane, "wait failed: "+err.Error())
		s.r.State(p.lane, event.Done, "")
	default:
		s.r.Mark(p.lane, fmt.Sprintf("exit code %d", p.exitCode))
		s.r.State(p.lane, event.Done, fmt.Sprintf("exited with code %d", p.exitCode))
	}
}

// pidGone reports whether no process has pid any more: kill(pid, 0) fails
// with ESRCH once the child has been killed and reaped.
func pidGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// raised returns the error Python's subprocess.run would raise for p: a
// timeout always (TimeoutExpired), a non-zero exit only with check
// (CalledProcessError), with the first line of the child's stderr.
func (s *subprocessRun) raised(p *childProc, check bool) error {
	switch {
	case p.startErr != nil:
		return fmt.Errorf("%s could not start: %w", p.name, p.startErr)
	case p.timedOut:
		s.r.Mark(p.lane, "TimeoutExpired raised in the parent")
		return fmt.Errorf("TimeoutExpired: %s (pid %d) timed out after %d ms and was killed", p.display, p.pid, s.timeout.Milliseconds())
	case check && (p.exitCode != 0 || p.signaled) && s.ctx.Err() == nil:
		msg := firstLine(p.stderr.String())
		s.r.Mark(p.lane, fmt.Sprintf("CalledProcessError: exit status %d: %s", p.exitCode, msg))
		return fmt.Errorf("CalledProcessError: %s (pid %d) returned non-zero exit status %d; stderr: %s", p.display, p.pid, p.exitCode, msg)
	}
	return nil
}

func firstLine(s string) string {
	if s == "" {
		return "(nothing on stderr)"
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// summary measures the run for its verdict, which the server derives
// (package verdict): the same metrics as the CPython script's.
func (s *subprocessRun) summary(mode string, wall int64) event.Summary {
	var sum, longest int64
	var failed, timedOut, gone, ran int
	m := map[string]event.Metric{}
	for _, p := range s.procs {
		if p.startErr != nil {
			continue
		}
		ran++
		d := p.end - p.start
		sum += d
		longest = max(longest, d)
		label := fmt.Sprintf("exit code of child %d (%s, pid %d)", p.n, p.display, p.pid)
		switch {
		case p.timedOut:
			timedOut++
			if pidGone(p.pid) {
				gone++
			}
			label = fmt.Sprintf("child %d (%s, pid %d) was killed by the timeout: -1 means no exit code", p.n, p.display, p.pid)
		case p.signaled:
			label = fmt.Sprintf("child %d (%s, pid %d) was killed by a signal: -1 means no exit code", p.n, p.display, p.pid)
		}
		if p.exitCode != 0 {
			failed++
		}
		m[fmt.Sprintf("exit_%d", p.n)] = event.Metric{Value: float64(p.exitCode), Label: label}
	}
	ms := func(ns int64) float64 { return round2(float64(ns) / 1e6) }
	m["children"] = event.Metric{Value: float64(ran), Label: "programs started"}
	m["wall"] = event.Metric{Value: ms(wall), Unit: "ms", Label: "wall time of the run, first start to last exit"}
	m["children_sum"] = event.Metric{Value: ms(sum), Unit: "ms", Label: "sum of the children's own run times (start to exit, each)"}
	m["children_max"] = event.Metric{Value: ms(longest), Unit: "ms", Label: "the longest child's run time"}
	m["nonzero_exits"] = event.Metric{Value: float64(failed), Label: "children that exited with a non-zero code or were killed"}
	m["timed_out"] = event.Metric{Value: float64(timedOut), Label: "children killed by the timeout"}
	m["killed_gone"] = event.Metric{Value: float64(gone), Label: "children killed by the timeout whose pid no longer exists"}
	last := s.procs[len(s.procs)-1]
	if mode == "pipeline" {
		m["pipeline_lines"] = event.Metric{Value: float64(last.stdoutLines), Label: "lines the last program (cat -n) printed, all read through the pipe"}
	}
	return event.Summary{WallNS: wall, Metrics: m}
}

// slowPrintMain prints a few lines with pauses, as a program that streams
// its output would.
func slowPrintMain() error {
	for i := 1; i <= slowPrintLines; i++ {
		fmt.Printf("slow-print: line %d of %d\n", i, slowPrintLines)
		if i < slowPrintLines {
			time.Sleep(slowPrintPause)
		}
	}
	return nil
}

// failMain writes a message to stderr and exits with code 3, as a program
// that cannot find its input would.
func failMain() error {
	fmt.Println("fail: reading settings from config.toml")
	fmt.Fprintln(os.Stderr, "fail: config.toml: no such file or directory")
	os.Exit(3)
	return nil
}

// computeMSEnv, when set, is how many ms of CPU computeMain does (1 to
// 10000; 200 by default, as the subprocess scenario runs it).
const computeMSEnv = "INTERLEAVE_COMPUTE_MS"

// computePeakPrefix precedes, in compute's output, its own peak memory in
// KiB: a parent cannot learn it from the reaped child's rusage (see selfRSS).
const computePeakPrefix = "own memory (private)"

// computeMain computes for about 200 ms of one core's time, or computeMSEnv.
func computeMain() error {
	ms := 200
	if v, err := strconv.Atoi(os.Getenv(computeMSEnv)); err == nil && v >= 1 && v <= 10_000 {
		ms = v
	}
	start := time.Now()
	if err := cpuWork(context.Background(), calibrate(), ms); err != nil {
		return err
	}
	fmt.Printf("compute: %d ms of CPU work done in %d ms (checksum %x); %s %d KiB\n", ms, time.Since(start).Milliseconds(), sink.Load()&0xffff, computePeakPrefix, ownMemoryOf("self")>>10)
	return nil
}
