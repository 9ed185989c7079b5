package runs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/stepping"
)

// Step runs (step=true) wait for their learner between lines: this file
// admits them, gives their run slot back while they wait, keeps their
// clocks and passes the learner's commands to the run's control channel.
// What a step does is the run's business (package stepping and the
// engine); the server only routes the commands and enforces the limits.

// errStepIdle ends a step run nobody has stepped for Limits.StepIdle.
var errStepIdle = errors.New("no step for too long")

// StepRunsFullError refuses a step run when Limits.MaxStepRuns are live.
type StepRunsFullError struct{ Max int }

func (e *StepRunsFullError) Error() string {
	return fmt.Sprintf("too many step runs: %d already wait for their learners, the most this server keeps; finish or cancel one (Start over cancels the old run), or try again later", e.Max)
}

// ConflictError is a request the run cannot carry out in its state (a
// step of a run that is not a step run, or that has finished).
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// BusyError says every run slot is taken and when to try again.
type BusyError struct{ RetryAfter time.Duration }

func (e *BusyError) Error() string {
	return fmt.Sprintf("the machine is busy with runs: every run slot is taken; try again in %d s", int(e.RetryAfter.Seconds()))
}

// SlotMaxWait is how long a search, or a step run set to run freely, waits
// for a run slot before it is refused as busy.
const SlotMaxWait = 10 * time.Second

// stepClock is a step run's timer: while the run executes on its own (it
// starts, follows its schedule, or runs freely) its deadline counts; while
// it waits for its learner, the idle limit counts instead, from the last
// step. Either one, when it fires, cancels the run with its cause.
type stepClock struct {
	cancel   context.CancelCauseFunc
	deadline time.Duration
	idle     time.Duration

	mu      sync.Mutex
	timer   *time.Timer
	waiting bool
	stopped bool
}

// newStepClock starts the clock of a run that executes on its own.
func newStepClock(cancel context.CancelCauseFunc, deadline, idle time.Duration) *stepClock {
	c := &stepClock{cancel: cancel, deadline: deadline, idle: idle}
	c.set(false)
	return c
}

// set starts the deadline (waiting false) or the idle limit (true) afresh.
func (c *stepClock) set(waiting bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.waiting = waiting
	if waiting {
		c.timer = time.AfterFunc(c.idle, func() { c.cancel(errStepIdle) })
	} else {
		c.timer = time.AfterFunc(c.deadline, func() { c.cancel(errDeadline) })
	}
}

// learnersTurn: the run waits for its learner from now on.
func (c *stepClock) learnersTurn() { c.set(true) }

// stepped restarts the idle limit: the learner took a step.
func (c *stepClock) stepped() {
	c.mu.Lock()
	waiting := c.waiting
	c.mu.Unlock()
	if waiting {
		c.set(true)
	}
}

// onItsOwn: the run executes on its own again (it runs freely).
func (c *stepClock) onItsOwn() { c.set(false) }

func (c *stepClock) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
	}
}

// openControl opens a step run's control channel, passes its child end to
// the child as fd 4 (scenarios.ControlFD), and gives the run slot back once
// the run first waits for its learner.
func (m *Manager) openControl(ctx context.Context, run *Run, opts *child.Options) (*stepping.Control, error) {
	ctl, err := stepping.Open(m.limits.MaxSteps)
	if err != nil {
		return nil, err
	}
	opts.ExtraFiles = []*os.File{ctl.ChildEnd()}
	started := opts.OnStart
	opts.OnStart = func(pid int) {
		ctl.Started()
		started(pid)
	}
	run.mu.Lock()
	run.control = ctl
	clock := run.clock
	run.mu.Unlock()
	go func() {
		select {
		case <-ctl.Paused():
			clock.learnersTurn()
			m.releaseSlot(run)
		case <-ctx.Done():
		}
	}()
	return ctl, nil
}

// releaseSlot gives run's slot back (once) and starts what waits for one.
func (m *Manager) releaseSlot(run *Run) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if run.slotFreed {
		return
	}
	run.slotFreed = true
	m.running--
	if !run.local {
		m.remoteRunning--
		if m.remoteByEngine[run.Engine]--; m.remoteByEngine[run.Engine] <= 0 {
			delete(m.remoteByEngine, run.Engine)
		}
	}
	if run.local {
		m.localRunning--
		delete(m.executing, run)
		if run.exclusive {
			m.exclusiveRunning = false
		}
	}
	if !m.closing {
		m.dispatchLocked()
	}
	close(m.slotFree)
	m.slotFree = make(chan struct{})
}

// stepRunEndedLocked forgets a finished step run in the step-run count.
func (m *Manager) stepRunEndedLocked(run *Run) {
	if run.stepRun && !run.stepCounted {
		run.stepCounted = true
		m.stepRuns--
	}
}

// holdSlot waits (at most maxWait, or until ctx ends) for a run slot that
// no queued run is waiting for, and takes it for work that is not a run (a
// search); release gives it back. Runs that execute meanwhile are told
// that they shared the machine.
func (m *Manager) holdSlot(ctx context.Context, maxWait time.Duration) (release func(), err error) {
	timeout := time.NewTimer(maxWait)
	defer timeout.Stop()
	for {
		m.mu.Lock()
		if m.closing {
			m.mu.Unlock()
			return nil, &EngineUnavailableError{Engine: "search", Err: errShutdown}
		}
		if m.running-m.remoteRunning < m.limits.MaxConcurrent && m.localRunning < m.localSlots && len(m.queue) == 0 && !m.exclusiveRunning {
			m.running++
			m.localRunning++
			m.searching++
			for other := range m.executing {
				other.overlaps++
			}
			m.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					m.mu.Lock()
					m.running--
					m.localRunning--
					m.searching--
					if !m.closing {
						m.dispatchLocked()
					}
					close(m.slotFree)
					m.slotFree = make(chan struct{})
					m.mu.Unlock()
				})
			}, nil
		}
		wake := m.slotFree
		m.mu.Unlock()
		select {
		case <-wake:
		case <-timeout.C:
			return nil, &BusyError{RetryAfter: 5 * time.Second}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// retakeSlot waits (at most SlotMaxWait) for a slot no queued run waits
// for and gives it to run, which had given its own back while it waited
// for its learner; the run gives it back when it ends.
func (m *Manager) retakeSlot(ctx context.Context, run *Run) error {
	release, err := m.holdSlot(ctx, SlotMaxWait)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if !run.slotFreed {
		// Still holding its own (it never waited): keep that one.
		m.mu.Unlock()
		release()
		return nil
	}
	// The held slot becomes the run's.
	m.searching--
	run.slotFreed = false
	m.executing[run] = struct{}{}
	m.mu.Unlock()
	return nil
}

// StepCommand is what the learner asks a step run to do: step one thread
// (Lane), step one picked at random (Random), or let every thread run
// freely to the end (Free). Exactly one is set.
type StepCommand struct {
	Lane   string
	Random bool
	Free   bool
}

// Step carries the learner's command to the run with id.
func (m *Manager) Step(ctx context.Context, id string, cmd StepCommand) (stepping.Reply, error) {
	run, ok := m.live(id)
	if !ok {
		recorded, err := m.store.load(ctx, id)
		if err != nil {
			return stepping.Reply{}, err
		}
		if !scenarios.IsStepRun(recorded.Params) {
			return stepping.Reply{}, &ConflictError{Msg: fmt.Sprintf("run %s is not a step run: start one with step=true to step its threads", id)}
		}
		return stepping.Reply{}, &ConflictError{Msg: fmt.Sprintf("run %s has finished: there is nothing to step", id)}
	}
	if !run.stepRun {
		return stepping.Reply{}, &ConflictError{Msg: fmt.Sprintf("run %s is not a step run: start one with step=true to step its threads", id)}
	}
	run.mu.Lock()
	ctl, clock := run.control, run.clock
	run.mu.Unlock()
	if status, pos := run.log.Status(); ctl == nil || finished(status) {
		if status == StatusQueued {
			return stepping.Reply{}, &ConflictError{Msg: fmt.Sprintf("run %s has not started yet (position %d in the queue)", id, pos)}
		}
		return stepping.Reply{}, &ConflictError{Msg: fmt.Sprintf("run %s has finished: there is nothing to step", id)}
	}
	clock.stepped()
	var reply stepping.Reply
	var err error
	switch {
	case cmd.Free:
		// Running freely, the run uses the machine again: it takes a run
		// slot back first (and gives it back when it ends).
		if err := m.retakeSlot(ctx, run); err != nil {
			return stepping.Reply{}, err
		}
		reply, err = ctl.Free(ctx)
		if err == nil {
			clock.onItsOwn()
		}
	case cmd.Random:
		reply, err = ctl.Random(ctx)
	default:
		reply, err = ctl.Step(ctx, cmd.Lane)
	}
	if se, ok := stepping.IsError(err); ok {
		switch se.Code {
		case stepping.CodeUnknownLane:
			return reply, &scenarios.ParamError{Field: "lane", Message: se.Message}
		default:
			return reply, &ConflictError{Msg: se.Message}
		}
	}
	return reply, err
}
