package runs

import (
	"context"
	"fmt"
	"runtime"

	"interleave/runner"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
)

// LocalName is the name of the local runner, as a run records it.
const LocalName = "local"

// Local is the runner that executes runs as child processes of this
// machine, each contained as its containment says (cgroup, namespaces,
// rlimits): the default runner, and the one step runs always use (their
// learner's control socket is a file descriptor of the child).
type Local struct {
	engines map[string]scenarios.Engine
	contain *child.Containment
	cores   int
}

// NewLocal returns the local runner for engines; contain confines every
// run's processes (nil runs them as plain children, as tests of the
// manager alone do).
func NewLocal(engines []scenarios.Engine, contain *child.Containment) *Local {
	l := &Local{engines: map[string]scenarios.Engine{}, contain: contain, cores: runtime.NumCPU()}
	for _, e := range engines {
		l.engines[e.Name()] = e
	}
	return l
}

var _ runner.Runner = (*Local)(nil)

// startError is a run whose program could not be made (the engine refused
// its spec): it never started, which its mark says.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// Execute implements runner.Runner: it starts the engine's program for job
// in a child process and returns once every process of the run is gone.
func (l *Local) Execute(ctx context.Context, job runner.Job, sink runner.Sink) (child.Result, error) {
	return l.execute(ctx, job, sink, nil)
}

// execute is Execute with a last say over the child's options (a step run
// passes its control socket and learns when the child starts); an error
// from adjust stops the run before it starts.
func (l *Local) execute(ctx context.Context, job runner.Job, sink runner.Sink, adjust func(*child.Options) error) (child.Result, error) {
	eng, ok := l.engines[job.Engine]
	if !ok {
		return child.Result{}, &startError{fmt.Errorf("the %s engine is not configured on this machine", job.Engine)}
	}
	base := event.Monotonic()
	prog, err := eng.Program(scenarios.Spec{RunID: job.ID, Scenario: job.Scenario, Engine: job.Engine, Params: job.Params, ClockBase: base, Cores: l.cores})
	if err != nil {
		return child.Result{}, &startError{fmt.Errorf("program for %s: %w", job.ID, err)}
	}
	opts := child.Options{
		OnEvents:    sink.Events,
		OnOutput:    sink.Output,
		OutputLimit: job.Limits.MaxOutput,
		MemoryLimit: job.Limits.MemoryBytes,
		Contain:     l.contain,
		OnStart: func(pid int) {
			if sink.Started != nil {
				sink.Started(runner.Started{PID: pid, ClockBase: base, Cores: l.cores, Runner: LocalName})
			}
		},
		OnLeftover: sink.Leftover,
	}
	if adjust != nil {
		if err := adjust(&opts); err != nil {
			return child.Result{}, &startError{err}
		}
	}
	return child.Run(ctx, prog, opts)
}
