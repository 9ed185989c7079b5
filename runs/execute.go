package runs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"interleave/runner"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
	"interleave/scenarios/stepping"
)

// execute runs one admitted run to its end on rn, the runner dispatch
// chose for it.
func (m *Manager) execute(ctx context.Context, run *Run, rn runner.Runner) {
	defer m.wg.Done()
	defer func() {
		m.releaseSlot(run)
		m.mu.Lock()
		m.stepRunEndedLocked(run)
		m.mu.Unlock()
	}()
	if run.stepRun {
		// The deadline counts only while the run executes on its own;
		// while it waits for its learner, StepIdle counts (steps.go).
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		clock := newStepClock(cancel, run.Deadline, m.limits.StepIdle)
		defer clock.stop()
		run.mu.Lock()
		run.clock = clock
		run.mu.Unlock()
	} else {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithTimeoutCause(ctx, run.Deadline, errDeadline)
		defer cancelDeadline()
	}

	status, err := m.runOn(ctx, run, rn)
	if err != nil {
		m.logger.Info("run ended", "run", run.ID, "scenario", run.Scenario, "engine", run.Engine, "runner", run.Runner(), "status", status, "err", err)
	}
	m.mu.Lock()
	overlaps := run.overlaps
	m.mu.Unlock()
	if overlaps > 0 {
		run.appendMark(fmt.Sprintf("shared the machine: %d other run(s) executed at the same time on %d cores, so timings may be slower than on an idle machine", overlaps, m.cores))
	}
	run.finish(status)
}

// job is what a runner is handed to execute run.
func (m *Manager) job(run *Run) runner.Job {
	return runner.Job{ID: run.ID, Scenario: run.Scenario, Engine: run.Engine, Params: run.Params, Deadline: run.Deadline,
		Exclusive: run.exclusive, Client: run.client, Limits: runner.Limits{MaxOutput: m.limits.MaxOutput, MemoryBytes: m.limits.MemoryBytes}}
}

// runOn executes run on rn, feeding what its program writes into the run's
// log, and says how the run ended.
func (m *Manager) runOn(ctx context.Context, run *Run, rn runner.Runner) (string, error) {
	local := rn == runner.Runner(m.local)
	// A contained local run's processes are on record while it runs, so
	// that a restart after a kill of this server can kill what is left.
	var remembered chan struct{}
	stopLoad := func() {}
	sink := runner.Sink{
		Started: func(st runner.Started) {
			run.mu.Lock()
			run.pid, run.cores, run.runner = st.PID, st.Cores, st.Runner
			run.clockBase = st.ClockBase
			if !local {
				// Another machine's clock: the manager's own marks are
				// timed from when it heard the run start.
				run.clockBase = event.Monotonic()
			}
			run.mu.Unlock()
			if local {
				stopLoad = run.watchLoad(st.PID)
			}
		},
		Events: run.appendEvents(m.limits.MaxEvents),
		Output: run.appendOutput,
		Load: func(l runner.Load) {
			if local {
				return // measured here (watchLoad)
			}
			run.mu.Lock()
			run.remoteLoad, run.remoteCores, run.remoteSpeeds = &l.Total, l.Cores, l.CoreSpeeds
			run.mu.Unlock()
			run.appendLoad(l.From, l.Step)
		},
		Leftover: func(l child.Leftover) {
			remembered = make(chan struct{})
			go func() {
				defer close(remembered)
				m.store.rememberProcesses(run.ID, l)
			}()
		},
	}
	var res child.Result
	var err error
	if run.stepRun {
		var ctl *stepping.Control
		res, err = m.local.execute(ctx, m.job(run), sink, func(opts *child.Options) error {
			var cerr error
			ctl, cerr = m.openControl(ctx, run, opts)
			return cerr
		})
		if ctl != nil {
			ctl.Close()
		}
	} else {
		res, err = rn.Execute(ctx, m.job(run), sink)
	}
	stopLoad()
	if remembered != nil {
		<-remembered
		m.store.forgetProcesses(run.ID)
	}
	run.mu.Lock()
	run.peakRSS = res.PeakRSS
	run.mu.Unlock()
	if res.OutputDropped > 0 {
		run.appendMark(fmt.Sprintf("output truncated: %d bytes over the %d KiB cap were dropped", res.OutputDropped, m.limits.MaxOutput>>10))
	}
	var notStarted *startError
	switch cause := context.Cause(ctx); {
	case errors.As(err, &notStarted):
		run.appendMark("could not start: " + notStarted.err.Error())
		return StatusFailed, err
	case errors.Is(cause, errDeadline):
		run.appendMark(fmt.Sprintf("timeout: the run passed its %s deadline and its processes were killed", run.Deadline))
		return StatusTimeout, cause
	case errors.Is(cause, errCancelled):
		run.appendMark("cancelled: the run's processes were killed")
		return StatusCancelled, cause
	case errors.Is(cause, errShutdown):
		run.appendMark("server shutting down: the run's processes were killed")
		return StatusCancelled, cause
	case errors.Is(cause, errStepIdle):
		run.appendMark(fmt.Sprintf("cancelled: nobody took a step for %s, the longest a step run waits; its processes were killed", m.limits.StepIdle))
		return StatusCancelled, cause
	case errors.Is(err, runner.ErrRunnerLost):
		label := err.Error()
		if !strings.HasPrefix(label, runner.ErrRunnerLost.Error()) {
			label = runner.ErrRunnerLost.Error() + ": " + label
		}
		run.appendMark(label + "; the events it sent before are kept")
		return StatusFailed, err
	case errors.Is(err, runner.ErrUnavailable):
		run.appendMark("could not start: " + err.Error())
		return StatusFailed, err
	case errors.Is(err, child.ErrMemory):
		run.appendMark(fmt.Sprintf("memory cap: the run used more than %d MiB and was killed", m.limits.MemoryBytes>>20))
		return StatusFailed, err
	case err != nil:
		run.appendMark(fmt.Sprintf("the program exited with code %d", res.ExitCode))
		return StatusFailed, err
	}
	return StatusDone, nil
}
