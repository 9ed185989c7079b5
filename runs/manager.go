// Package runs is the run manager: it admits runs (validated params, the
// queue with its priority and exclusive runs, step runs' slots), hands each
// to a runner (package runner: the local one, child processes on this
// machine, or a pool of other machines), keeps each run's log for its
// viewers, records every run in the store (SQLite), and cancels and shuts
// down. It knows nothing of HTTP: package server calls it.
package runs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"interleave/internal/machineload"
	"interleave/runner"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/verdict"
)

// Manager admits runs, hands each to a runner (runner.Runner: the local one,
// child processes on this machine, or a second one such as a pool of other
// machines), and keeps their logs for viewers. At most Limits.MaxConcurrent
// runs execute at once, at most Limits.LocalSlots of them on this machine;
// up to Limits.QueueSize wait. Every run is recorded in the store; once a
// finished run is all there, the manager forgets it and serves it from the
// store.
type Manager struct {
	limits  Limits
	engines map[string]scenarios.Engine
	store   *Store
	logger  *slog.Logger
	cores   int
	// local executes runs on this machine; remote, when set, takes the
	// runs the local slots cannot (WithRunner).
	local  *Local
	remote runner.Runner
	// localSlots is how many runs (and searches) execute here at once.
	localSlots int

	mu      sync.Mutex
	runs    map[string]*Run // queued, running, and finished but not yet stored
	queue   []*Run
	running int
	// localRunning counts the slots taken on this machine (runs executing
	// here, and searches).
	localRunning int
	// remoteRunning counts the runs handed to the second runner, and
	// remoteByEngine the same by engine: with a pool (runner.Pool) they
	// are bounded by the slots its live runners advertise, not by
	// Limits.MaxConcurrent, which bounds this machine's runs.
	remoteRunning  int
	remoteByEngine map[string]int
	// recheck, while set, dispatches the queue again shortly: the queue's
	// head waits for a pool's slot, and a runner that joins the pool
	// frees no slot of this manager's (see poolRecheck).
	recheck *time.Timer
	// executing holds the runs executing on this machine now.
	executing map[*Run]struct{}
	// exclusiveRunning is set while an exclusive run executes here.
	exclusiveRunning bool
	// stepRuns counts the step runs admitted and not finished.
	stepRuns int
	// searching counts the searches holding a run slot (holdSlot).
	searching int
	// slotFree is closed (and replaced) whenever a run slot is given back,
	// waking searches waiting for one (holdSlot).
	slotFree chan struct{}
	closing  bool
	wg       sync.WaitGroup
}

// Option configures a Manager.
type Option func(*Manager)

// WithContainment confines the processes of the runs executed on this
// machine (see child.Containment); without it they run as plain children.
func WithContainment(c *child.Containment) Option {
	return func(m *Manager) { m.local.contain = c }
}

// WithRunner adds a second runner (a pool of other machines): it takes the
// runs that find every local slot taken (Limits.LocalSlots), and all of
// them when LocalSlots is 0. Step runs always execute here.
func WithRunner(r runner.Runner) Option {
	return func(m *Manager) { m.remote = r }
}

// NewManager returns a manager for the given engines that records runs in store.
func NewManager(limits Limits, engines []scenarios.Engine, store *Store, logger *slog.Logger, opts ...Option) (*Manager, error) {
	if logger == nil {
		return nil, errors.New("manager needs a logger")
	}
	if store == nil {
		return nil, errors.New("manager needs a store")
	}
	if limits.MaxConcurrent < 1 || limits.QueueSize < 0 || limits.DefaultDeadline <= 0 || limits.MaxDeadline < limits.DefaultDeadline ||
		limits.MaxStepRuns < 0 || limits.StepIdle <= 0 || limits.MaxSteps < 1 {
		return nil, fmt.Errorf("invalid limits: %+v", limits)
	}
	// Measured now, before any run, so that the probe neither disturbs a
	// run nor is disturbed by one; every local run's summary carries it.
	if speeds := machineload.CoreSpeeds(); len(speeds) > 1 && slices.Min(speeds) <= verdict.UnequalMax {
		logger.Info("this machine's cores compute at unequal speeds (memory-heavy work, relative to the fastest)", "speeds", speeds)
	}
	m := &Manager{limits: limits, engines: map[string]scenarios.Engine{}, store: store, logger: logger, cores: runtime.NumCPU(), runs: map[string]*Run{},
		executing: map[*Run]struct{}{}, slotFree: make(chan struct{}), local: NewLocal(engines, nil), remoteByEngine: map[string]int{}}
	for _, e := range engines {
		m.engines[e.Name()] = e
	}
	for _, o := range opts {
		o(m)
	}
	m.localSlots = limits.LocalSlots
	if m.localSlots < 0 {
		m.localSlots = limits.MaxConcurrent
	}
	if m.localSlots > limits.MaxConcurrent {
		return nil, fmt.Errorf("local-slots: %d is not allowed; want 0 to %d, the runs executing at once (max-runs)", limits.LocalSlots, limits.MaxConcurrent)
	}
	if m.localSlots == 0 && m.remote == nil {
		return nil, errors.New("local-slots: 0 is allowed only with another runner to execute the runs (a runner pool); without one, want 1 or more")
	}
	if a, ok := m.remote.(runner.Abandoner); ok {
		// The previous web node died with runs on the pool's runners: they
		// are interrupted here, so free their slots there now.
		a.Abandon(store.cutOffElsewhere())
	}
	return m, nil
}

// Engine returns a registered engine.
func (m *Manager) Engine(name string) (scenarios.Engine, bool) {
	e, ok := m.engines[name]
	return e, ok
}

// CanRun says why a run of engine could not execute (this machine lacks
// the engine and no runner of the pool has it), or nil when it could.
func (m *Manager) CanRun(engine string) error {
	eng, ok := m.engines[engine]
	if !ok {
		return &EngineUnavailableError{Engine: engine, Err: errors.New("not configured on this server")}
	}
	err := eng.Available()
	if m.remote != nil && m.poolHas(engine) && (err != nil || m.localSlots == 0) {
		return nil
	}
	if m.localSlots == 0 {
		err = errors.New("no runner of the pool has it, and this server runs no programs itself")
	}
	if err != nil {
		return &EngineUnavailableError{Engine: engine, Err: err}
	}
	return nil
}

// QueueFullError says the queue is full and when to try again.
type QueueFullError struct{ RetryAfter time.Duration }

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("the run queue is full; try again in %d s", int(e.RetryAfter.Seconds()))
}

// EngineUnavailableError says an engine cannot run here, and why.
type EngineUnavailableError struct {
	Engine string
	Err    error
}

func (e *EngineUnavailableError) Error() string {
	return fmt.Sprintf("the %s engine is unavailable: %v", e.Engine, e.Err)
}

func (e *EngineUnavailableError) Unwrap() error { return e.Err }

// RunnerUnavailableError says no runner can take the run now (the runner
// pool is unreachable, or none of its runners has the engine).
type RunnerUnavailableError struct{ Err error }

func (e *RunnerUnavailableError) Error() string {
	return fmt.Sprintf("no runner can take the run now (%v); this server runs no programs itself, so try again once a runner is back", e.Err)
}

func (e *RunnerUnavailableError) Unwrap() error { return e.Err }

// NotFoundError is an unknown scenario or run.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " not found" }

// Submit validates req and admits the run: it starts now, or waits in the queue.
func (m *Manager) Submit(req RunRequest) (*Run, error) {
	sc, ok := scenarios.Lookup(req.Scenario)
	if !ok {
		return nil, &NotFoundError{What: fmt.Sprintf("scenario %q", req.Scenario)}
	}
	if req.Engine == "" {
		req.Engine = scenarios.EngineGo
	}
	eng, ok := m.engines[req.Engine]
	if !ok && sc.HasEngine(req.Engine) {
		return nil, &EngineUnavailableError{Engine: req.Engine, Err: errors.New("not configured on this server")}
	}
	params, err := sc.Validate(req.Engine, req.Params)
	if err != nil {
		return nil, err
	}
	// An engine this machine lacks may still run on the pool's runners:
	// such a run only ever goes there.
	remoteOnly := false
	if err := eng.Available(); err != nil {
		if m.remote == nil || !m.poolHas(req.Engine) {
			return nil, &EngineUnavailableError{Engine: req.Engine, Err: err}
		}
		remoteOnly = true
	}
	deadline := m.limits.DefaultDeadline
	if req.DeadlineMS != 0 {
		// Compared in milliseconds: converting first could wrap a huge
		// value around into range.
		if req.DeadlineMS < 100 || req.DeadlineMS > m.limits.MaxDeadline.Milliseconds() {
			return nil, &scenarios.ParamError{Field: "deadline_ms", Message: fmt.Sprintf("%d is not allowed; want a whole number from 100 to %d", req.DeadlineMS, m.limits.MaxDeadline.Milliseconds())}
		}
		deadline = time.Duration(req.DeadlineMS) * time.Millisecond
	}
	if err := m.store.Writable(); err != nil {
		return nil, err // a run that could not be kept is not started
	}
	if steps := len(scenarios.ScheduleOf(params)); steps > m.limits.MaxSteps {
		return nil, &scenarios.ParamError{Field: scenarios.ScheduleParam, Message: fmt.Sprintf("names %d steps; want at most %d, the most one run may take here", steps, m.limits.MaxSteps)}
	}
	_, source, _ := eng.Source(sc.ID)
	run := &Run{ID: NewID(), Scenario: sc.ID, Engine: req.Engine, Params: params, Created: time.Now().UTC(),
		Deadline: deadline, exclusive: req.Exclusive, priority: req.Priority, comparison: req.Comparison, client: req.Client, SourceVersion: sourceVersion(source),
		stepRun: scenarios.IsStepRun(params), remoteOnly: remoteOnly,
		log: newRunLog(StatusQueued), done: make(chan struct{})}
	if run.stepRun && remoteOnly {
		return nil, &EngineUnavailableError{Engine: req.Engine, Err: errors.New("a step run executes on this server, which does not have the engine (only the runner pool does)")}
	}

	if (m.localSlots == 0 || remoteOnly) && !run.stepRun {
		if c, ok := m.remote.(runner.Checker); ok {
			if err := c.Check(m.job(run)); err != nil {
				return nil, &RunnerUnavailableError{Err: err}
			}
		}
	}
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		return nil, &EngineUnavailableError{Engine: req.Engine, Err: errShutdown}
	}
	if run.stepRun && m.stepRuns >= m.limits.MaxStepRuns {
		m.mu.Unlock()
		return nil, &StepRunsFullError{Max: m.limits.MaxStepRuns}
	}
	// A priority run may wait past a full queue, up to twice its size.
	queueLimit := m.limits.QueueSize
	if req.Priority {
		queueLimit *= 2
	}
	if len(m.queue) >= queueLimit && (len(m.queue) > 0 || m.placeLocked(run) == nil) {
		m.mu.Unlock()
		return nil, &QueueFullError{RetryAfter: time.Duration(1+len(m.queue)/m.limits.MaxConcurrent) * 2 * time.Second}
	}
	m.runs[run.ID] = run
	at := len(m.queue)
	if run.priority {
		// Behind the other priority runs, ahead of everyone else.
		at = 0
		for at < len(m.queue) && m.queue[at].priority {
			at++
		}
	}
	m.queue = slices.Insert(m.queue, at, run)
	if run.stepRun {
		m.stepRuns++
	}
	m.dispatchLocked()
	m.mu.Unlock()
	m.recordRun(run)
	return run, nil
}

// recordRun hands run to the store; once it is stored the manager forgets
// it. It must be called without m.mu held: the store calls back.
func (m *Manager) recordRun(run *Run) {
	err := m.store.record(run, func() {
		m.mu.Lock()
		if m.runs[run.ID] == run {
			delete(m.runs, run.ID)
		}
		m.mu.Unlock()
	})
	if err != nil {
		m.logger.Error("run will not be recorded", "run", run.ID, "err", err)
		run.mu.Lock()
		run.unsaved = true
		final := run.final
		run.mu.Unlock()
		if final != "" {
			run.finish(final) // report it now: the store never will
		}
	}
}

// addFinished records a run that did not execute here (an imported trace):
// its log is complete and its status final.
func (m *Manager) addFinished(run *Run) {
	m.mu.Lock()
	m.runs[run.ID] = run
	m.mu.Unlock()
	m.recordRun(run)
}

// placeLocked says which runner run may start on now: this machine while
// it has a local slot (an exclusive run needs it to itself), else the
// second runner, if any; nil when the run must wait. Step runs only ever
// execute here (their learner's control socket is a file descriptor of
// the child), within the run slots whatever the local slots: a step run
// holds its slot only until it first waits for its learner.
func (m *Manager) placeLocked(run *Run) runner.Runner {
	pool, isPool := m.remote.(runner.Pool)
	if !isPool && m.running >= m.limits.MaxConcurrent {
		return nil
	}
	localFree := (m.localRunning < m.localSlots || run.stepRun) && m.running-m.remoteRunning < m.limits.MaxConcurrent
	if localFree && !run.remoteOnly && !m.exclusiveRunning && (!run.exclusive || m.localRunning == 0) {
		return m.local
	}
	if m.remote == nil || run.stepRun {
		return nil
	}
	// A pool takes as many runs as its live runners have slots (for the
	// run's engine); beyond, runs wait here, in order, with a position.
	if isPool && (m.remoteRunning >= pool.Slots("") || m.remoteByEngine[run.Engine] >= pool.Slots(run.Engine)) {
		return nil
	}
	return m.remote
}

// poolRecheck is how often a queue whose head waits for a pool's slot is
// dispatched again: runners that join the pool (or come back) bring slots
// no run's end announces.
const poolRecheck = 250 * time.Millisecond

// poolHas says whether the second runner is a pool whose live runners
// have engine, or a runner that cannot say (which is trusted to).
func (m *Manager) poolHas(engine string) bool {
	if pool, ok := m.remote.(runner.Pool); ok {
		return pool.Slots(engine) > 0
	}
	return m.remote != nil
}

// dispatchLocked starts queued runs, in order, while a runner can take
// them, and tells the rest their position.
func (m *Manager) dispatchLocked() {
	for len(m.queue) > 0 {
		run := m.queue[0]
		rn := m.placeLocked(run)
		if rn == nil {
			break
		}
		// Clear the slot: the queue's array would otherwise keep the run
		// (and every event line of its log) after it is stored.
		m.queue[0] = nil
		m.queue = m.queue[1:]
		m.running++
		if rn != runner.Runner(m.local) {
			m.remoteRunning++
			m.remoteByEngine[run.Engine]++
		} else {
			run.local = true
			m.localRunning++
			m.exclusiveRunning = run.exclusive
			// Runs that execute at the same time share the cores: each
			// learns how many others it met, to say so next to its timings.
			for other := range m.executing {
				other.overlaps++
				run.overlaps++
			}
			run.overlaps += m.searching
			m.executing[run] = struct{}{}
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		run.mu.Lock()
		run.cancel = cancel
		run.startedAt = time.Now()
		run.mu.Unlock()
		run.log.setStatus(StatusRunning, 0)
		m.wg.Add(1)
		go m.execute(ctx, run, rn)
	}
	for i, run := range m.queue {
		run.log.setStatus(StatusQueued, i+1)
	}
	if _, isPool := m.remote.(runner.Pool); isPool && len(m.queue) > 0 && m.recheck == nil && !m.closing {
		m.recheck = time.AfterFunc(poolRecheck, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.recheck = nil
			if !m.closing {
				m.dispatchLocked()
			}
		})
	}
}

// Get returns a run by id, live or recorded.
func (m *Manager) Get(id string) (*Run, bool) {
	r, err := m.Lookup(context.Background(), id)
	return r, err == nil
}

// Lookup returns a run by id: a live one from memory, else a recorded one
// from the store (its events paged in as they are read). An unknown id is a
// *NotFoundError.
func (m *Manager) Lookup(ctx context.Context, id string) (*Run, error) {
	m.mu.Lock()
	r, ok := m.runs[id]
	m.mu.Unlock()
	if ok {
		return r, nil
	}
	return m.store.load(ctx, id)
}

// Cancel stops a run: a queued run leaves the queue, a running one has its
// whole process group killed. Cancelling a finished run does nothing.
func (m *Manager) Cancel(id string) error {
	m.mu.Lock()
	run, ok := m.runs[id]
	if !ok {
		m.mu.Unlock()
		// A recorded run has finished: there is nothing to cancel.
		_, err := m.store.load(context.Background(), id)
		return err
	}
	for i, q := range m.queue {
		if q == run {
			m.queue = slices.Delete(m.queue, i, i+1) // clears the vacated slot
			m.stepRunEndedLocked(run)
			m.dispatchLocked()
			m.mu.Unlock()
			run.appendMark("cancelled before it started")
			run.finish(StatusCancelled)
			return nil
		}
	}
	m.mu.Unlock()
	run.mu.Lock()
	cancel := run.cancel
	run.mu.Unlock()
	if cancel != nil {
		cancel(errCancelled)
	}
	return nil
}

// Shutdown cancels every queued and running run, keeping what they
// recorded, and waits for their children to be gone or ctx to end.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	if m.recheck != nil {
		m.recheck.Stop()
		m.recheck = nil
	}
	queued := m.queue
	m.queue = nil
	for _, r := range queued {
		m.stepRunEndedLocked(r)
	}
	var running []*Run
	for _, r := range m.runs {
		running = append(running, r)
	}
	m.mu.Unlock()
	for _, r := range queued {
		r.appendMark("server shutting down")
		r.finish(StatusCancelled)
	}
	for _, r := range running {
		r.mu.Lock()
		if r.cancel != nil {
			r.cancel(errShutdown)
		}
		r.mu.Unlock()
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finished and not yet all stored).
func (m *Manager) live(id string) (*Run, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	return r, ok
}
