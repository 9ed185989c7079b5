// Package runner is the seam between the run manager, which admits, queues,
// logs and records runs, and what executes them: the local runner (child
// processes on this machine, the default) or a pool of runners on other
// machines reached over NATS JetStream (package pool). The manager hands a
// Runner a Job and a Sink; the Runner starts the run's program, feeds what it
// writes into the Sink as it comes, and returns once every process of the
// run is gone.
package runner

import (
	"context"
	"time"

	"interleave/internal/machineload"
	"interleave/scenarios"
	"interleave/scenarios/child"
)

// Job is one run to execute, as the manager admitted it: its params are
// validated and its defaults filled in.
type Job struct {
	ID       string           `json:"id"`
	Scenario string           `json:"scenario"`
	Engine   string           `json:"engine"`
	Params   scenarios.Params `json:"params"`
	// Deadline is how long the run may take; the manager cancels the
	// context then, and a remote runner also kills the run by itself a
	// little after it (should the cancel not reach it).
	Deadline time.Duration `json:"deadline"`
	// Exclusive runs alone on a machine: a comparison's models, which must
	// never compete for the cores.
	Exclusive bool `json:"exclusive,omitempty"`
	// Client is who asked for the run (an address or a room), for fairness
	// between clients.
	Client string `json:"client,omitempty"`
	// Limits are the caps of the run's processes.
	Limits Limits `json:"limits"`
}

// Limits caps one run's processes wherever it executes.
type Limits struct {
	// MaxOutput is the bytes of stdout+stderr kept.
	MaxOutput int64 `json:"max_output"`
	// MemoryBytes caps the memory of all of the run's processes together.
	MemoryBytes int64 `json:"memory_bytes"`
}

// Started says where and how a run's program started.
type Started struct {
	// PID is the program's pid on the machine that runs it.
	PID int `json:"pid"`
	// ClockBase is CLOCK_MONOTONIC in ns on that machine when the run
	// started; the program's event times are relative to it.
	ClockBase int64 `json:"clock_base"`
	// Cores is the number of CPUs the run may use there.
	Cores int `json:"cores"`
	// Runner names the runner ("local" for this machine).
	Runner string `json:"runner"`
}

// Sink receives what a run's program writes, in order, as it comes. Every
// field may be nil. The functions are called from one goroutine at a time.
type Sink struct {
	// Started is called once, before any event.
	Started func(Started)
	// Events receives event lines (JSON, one per element, no newline) as
	// the program wrote them on fd 3. The lines are valid only during the
	// call (the reader reuses its buffer): copy what you keep.
	Events func(lines [][]byte)
	// Output receives stdout ("stdout") and stderr ("stderr") text.
	Output func(stream string, text []byte)
	// Leftover is called, for a contained local run, with what a restarted
	// server needs to kill its processes should this one die.
	Leftover func(child.Leftover)
	// Load receives, for a run on another machine, that machine's load
	// while the run executes: a sample every quarter second or so, and one
	// just before the run's end event, so that the summary says when the
	// runner's machine was busy (a local run is measured by the manager).
	Load func(Load)
}

// Load is one measure of a runner's machine while a run executes there.
type Load struct {
	// From is the run's time (ns on the runner's clock, as the events'
	// t) where the interval of Step began.
	From int64 `json:"from"`
	// Step is the other programs' CPU over the interval since the
	// previous sample, in cores.
	Step float64 `json:"step_cores"`
	// Total is who used the machine's CPUs from the run's start until now:
	// the run's own processes, the runner (the observer: it relays the
	// run's events) and everything else.
	Total machineload.Usage `json:"total"`
	// Cores is the number of CPUs of the runner's machine.
	Cores int `json:"cores"`
	// CoreSpeeds is how fast each CPU of the runner's machine computes,
	// relative to its fastest, measured when the runner started
	// (machineload.CoreSpeeds; absent where it could not be measured).
	CoreSpeeds []float64 `json:"core_speeds,omitempty"`
}

// Runner executes runs.
type Runner interface {
	// Execute runs job, feeding sink, and returns when every process of the
	// run is gone: with the child's result, and an error when the program
	// failed (exit code, memory cap: child.ErrMemory) or the run could not
	// reach a machine (ErrRunnerLost, ErrUnavailable). Cancelling ctx kills
	// the run wherever it executes.
	Execute(ctx context.Context, job Job, sink Sink) (child.Result, error)
}

// Checker is implemented by a Runner that can tell at once that it could
// not take a job (ErrUnavailable: NATS unreachable, no runner has the job's
// engine). The manager asks it before queueing a run only that Runner could
// execute, and refuses the run (503) rather than queue one bound to fail.
type Checker interface {
	Check(job Job) error
}

// Pool is implemented by a Runner made of other machines whose room for
// runs changes as they come and go: the manager hands it a run only while
// it has a slot for it, and runs beyond wait in the manager's queue (with
// their position, under its limit) rather than in the pool's.
type Pool interface {
	// Slots returns how many runs of engine the live runners that have it
	// take at once (the sum of their slots); "" counts every live runner.
	Slots(engine string) int
	// Offers lists the engines the live runners have, each with the names
	// of the runners that have it.
	Offers() []Offer
}

// Offer is an engine as a pool's runners advertise it.
type Offer struct {
	ID      string
	Version string
	GIL     bool
	// Runners names the live runners that have the engine, sorted.
	Runners []string
}

// Abandoner is implemented by a Runner whose runs may outlive the web node
// that asked for them (they execute on other machines): after a restart,
// the manager tells it to stop the runs the previous web node left
// running, which nobody will follow any more, so that their slots free up
// at once instead of at their deadlines.
type Abandoner interface {
	Abandon(ids []string)
}

// Errors of a remote execution, for the manager to say why a run failed.
var (
	// ErrRunnerLost: the runner executing the run stopped answering
	// (killed, or cut off from NATS); the events so far are kept.
	ErrRunnerLost = errorString("runner lost")
	// ErrUnavailable: no runner can take the run (NATS unreachable, or no
	// runner has the run's engine).
	ErrUnavailable = errorString("no runner available")
)

type errorString string

func (e errorString) Error() string { return string(e) }
