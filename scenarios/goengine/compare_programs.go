package goengine

// The decision matrix's external programs: each a run of this binary's
// compute role in a process of its own, started and waited for (see
// compare.go).

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"interleave/scenarios/event"
)

// --- external programs ----------------------------------------------------------

// program is one run of the external program: the compute role of this
// binary, re-executed with computeMSEnv, a process of its own.
type program struct {
	n    int
	lane string
	cmd  *exec.Cmd
	out  *os.File // read end of its stdout
}

// startProgram starts program n, drawn as a child of parent.
func (c *compareRun) startProgram(n int, parent string) (*program, error) {
	cmd, err := selfCommand(c.ctx, roleCompute, computeMSEnv+"="+strconv.Itoa(c.size.cpuMS), "LC_ALL=C")
	if err != nil {
		return nil, err
	}
	// Its stdout is a pipe read once it has exited: it prints one line, far
	// less than a pipe holds, so nothing waits for a reader meanwhile.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	cmd.Stdout = pw
	t0 := c.r.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("start program %d: %w", n, err)
	}
	if parent == "" {
		parent = mainLane
	}
	p := &program{n: n, lane: fmt.Sprintf("prog-%d", n), cmd: cmd, out: pr}
	pid := cmd.Process.Pid
	c.r.Emit(event.Event{T: t0, K: event.KindLane, ID: p.lane, Kind: event.LaneProcess, Name: fmt.Sprintf("program %d: compute (pid %d)", n, pid), Parent: parent, PID: pid, Group: "programs"})
	c.r.Emit(event.Event{T: t0, K: event.KindState, Lane: p.lane, S: event.Active, Why: fmt.Sprintf("computing %d ms: its own process, scheduled by the OS", c.size.cpuMS), Src: event.SrcApp})
	c.r.Flow(parent, p.lane, fmt.Sprintf("start pid %d (fork/exec)", pid))
	c.mu.Lock()
	c.children++
	c.mu.Unlock()
	return p, nil
}

// waitProgram reads what program p printed and waits for it to exit.
func (c *compareRun) waitProgram(p *program) error {
	out, _ := io.ReadAll(io.LimitReader(p.out, 64<<10))
	p.out.Close()
	err := p.cmd.Wait()
	code := p.cmd.ProcessState.ExitCode()
	// The program reports its own peak memory (see selfRSS for why rusage
	// cannot tell it).
	if _, rest, ok := bytes.Cut(out, []byte(computePeakPrefix+" ")); ok {
		kib, _, _ := bytes.Cut(rest, []byte(" "))
		if n, err := strconv.ParseInt(string(kib), 10, 64); err == nil {
			c.addChildPeak(n << 10)
		}
	}
	if len(out) > 0 {
		c.r.Output(p.lane, "stdout", string(out))
	}
	c.r.Mark(p.lane, fmt.Sprintf("exit code %d", code))
	c.r.State(p.lane, event.Done, fmt.Sprintf("exited with code %d", code))
	if err != nil {
		return fmt.Errorf("program %d: %w", p.n, err)
	}
	if !bytes.HasPrefix(out, []byte("compute: ")) {
		c.mu.Lock()
		c.wrong++
		c.mu.Unlock()
	}
	return nil
}

// subprocesses starts every program, then waits for each in turn.
func (c *compareRun) subprocesses() error {
	c.used = c.size.tasks
	var ps []*program
	for i := 1; i <= c.size.tasks; i++ {
		c.r.State(mainLane, event.Active, fmt.Sprintf("starting program %d (subprocess.Popen)", i))
		p, err := c.startProgram(i, mainLane)
		if err != nil {
			c.fail(err)
			break
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		c.r.State(mainLane, event.Blocked, fmt.Sprintf("waiting for program %d (pid %d) to exit", p.n, p.cmd.Process.Pid))
		if err := c.waitProgram(p); err != nil {
			c.fail(err)
			continue
		}
		c.finished()
	}
	return nil
}
