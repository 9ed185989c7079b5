package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"interleave/internal/machineload"
	"interleave/scenarios"
	"interleave/scenarios/child"
	"interleave/scenarios/event"
	"interleave/scenarios/stepping"
)

// Causes of a run's end other than its own exit.
var (
	errDeadline  = errors.New("deadline reached")
	errCancelled = errors.New("cancelled")
	errShutdown  = errors.New("server shutting down")
)

// RunRequest is the body of POST /api/runs.
type RunRequest struct {
	Scenario string         `json:"scenario"`
	Engine   string         `json:"engine"`
	Params   map[string]any `json:"params"`
	// DeadlineMS optionally shortens or lengthens the run's deadline, up to
	// Limits.MaxDeadline.
	DeadlineMS int64 `json:"deadline_ms,omitempty"`
	// Exclusive runs alone on the machine: it starts when no other run is
	// executing and nothing else starts until it ends. Comparisons use it so
	// that models never compete for cores. Not settable through the API.
	Exclusive bool `json:"-"`
	// Priority goes ahead of the runs waiting without it: a workshop
	// presenter's run, which the whole room is watching, does not wait
	// behind the attendees' own. Not settable through the API.
	Priority bool `json:"-"`
	// Comparison is the id of the comparison the run is a model of: the
	// store keeps the run as long as the comparison. Not settable through
	// the API.
	Comparison string `json:"-"`
}

// Run is one execution of a scenario: queued, running or finished.
type Run struct {
	ID       string
	Scenario string
	Engine   string
	Params   scenarios.Params
	Created  time.Time
	Deadline time.Duration
	// exclusive and priority: see RunRequest.
	exclusive bool
	priority  bool
	// overlaps counts the runs that executed at the same time (guarded by
	// the manager's mu).
	overlaps int
	// SourceVersion names the code that ran (see sourceVersion).
	SourceVersion string
	// stepRun is set for a run whose threads wait for the learner
	// (step=true); see steps.go.
	stepRun bool
	// slotFreed is set once the run gave its run slot back (guarded by the
	// manager's mu): at its end, or when a step run first waits for its
	// learner.
	slotFreed bool
	// stepCounted is set once a finished step run left the manager's count
	// (guarded by the manager's mu).
	stepCounted bool
	// comparison: see RunRequest.Comparison.
	comparison string

	log *runLog

	mu          sync.Mutex
	summary     json.RawMessage
	events      int64
	bytes       int64 // of the event lines kept
	storedBytes int64 // on disk, for a run loaded from the store
	pinned      bool
	truncated   bool
	clockBase   int64
	pid         int
	// load measures the machine's load while the run executes (nil
	// before its program starts, or where /proc cannot be read).
	load       *machineload.Meter
	peakRSS    int64
	startedAt  time.Time
	finishedAt time.Time
	cancel     context.CancelCauseFunc
	done       chan struct{}
	// control and clock are a step run's control channel and timers while
	// it executes (nil otherwise).
	control *stepping.Control
	clock   *stepClock
	// final is the status the run ended with ("" while it goes on);
	// viewers learn it (reported) only once the store has saved the run,
	// or failed when it could not (see Store.record).
	final    string
	reported bool
	// onFinish tells the store the run has finished (set by Store.record).
	onFinish func()
	// unsaved is set when the store would not record the run at all.
	unsaved bool
	// damaged says why a recorded run's events cannot all be read back.
	damaged string

	// cores is how many cores the run could use, for its verdict (guarded
	// by mu).
	cores int
}

// Info is a run as GET /api/runs/{id} and the entries of GET /api/runs
// show it.
type Info struct {
	ID       string           `json:"id"`
	Scenario string           `json:"scenario"`
	Engine   string           `json:"engine"`
	Params   scenarios.Params `json:"params"`
	Status   string           `json:"status"`
	Position int              `json:"position,omitempty"`
	Created  time.Time        `json:"created"`
	// Finished is when the run ended; absent while queued or running.
	Finished *time.Time      `json:"finished,omitempty"`
	Summary  json.RawMessage `json:"summary"`
	// Events counts the event lines recorded; Bytes is their size as JSON
	// and StoredBytes their size in the store (deflated), once stored.
	Events      int64 `json:"events"`
	Bytes       int64 `json:"bytes"`
	StoredBytes int64 `json:"stored_bytes,omitempty"`
	// Pinned runs are never evicted by retention.
	Pinned bool `json:"pinned"`
	// Comparison is the comparison the run is a model of: it is kept as
	// long as the comparison is.
	Comparison string `json:"comparison,omitempty"`
	// Damaged says why the run's recording cannot be read back whole
	// (found when it was last read); replays and exports stop there.
	Damaged       string `json:"damaged,omitempty"`
	SourceVersion string `json:"source_version,omitempty"`
	PID           int    `json:"pid,omitempty"`
	PeakRSS       int64  `json:"peak_rss_bytes,omitempty"`
	// Label says who started the run in a workshop room ("Attendee 7"), in
	// the room's list only.
	Label string `json:"label,omitempty"`
}

// Info returns the run's public state.
func (r *Run) Info() Info {
	status, pos := r.log.Status()
	r.mu.Lock()
	defer r.mu.Unlock()
	summary := r.summary
	if summary == nil {
		summary = json.RawMessage("null")
	}
	in := Info{ID: r.ID, Scenario: r.Scenario, Engine: r.Engine, Params: r.Params, Status: status, Position: pos,
		Created: r.Created, Summary: summary, Events: r.events, Bytes: r.bytes, StoredBytes: r.storedBytes, Pinned: r.pinned,
		SourceVersion: r.SourceVersion, PID: r.pid, PeakRSS: r.peakRSS, Comparison: r.comparison, Damaged: r.damaged}
	if finished(status) && !r.finishedAt.IsZero() {
		t := r.finishedAt.UTC()
		in.Finished = &t
	}
	return in
}

// started is when the run left the queue (zero while queued).
func (r *Run) started() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.startedAt
}

// Done is closed when the run has finished and its final status is
// reported: once the store has saved it (or, when the store cannot write,
// once it has been reported failed).
func (r *Run) Done() <-chan struct{} { return r.done }

// Manager admits runs, starts each in a child process, and keeps their logs
// for viewers. At most Limits.MaxConcurrent runs execute at once; up to
// Limits.QueueSize wait. Every run is recorded in the store; once a finished
// run is all there, the manager forgets it and serves it from the store.
type Manager struct {
	limits  Limits
	engines map[string]scenarios.Engine
	store   *Store
	logger  *slog.Logger
	cores   int
	// contain confines every run's processes (see child.Containment); nil
	// runs them as plain children (a manager made by NewManager alone).
	contain *child.Containment

	mu      sync.Mutex
	runs    map[string]*Run // queued, running, and finished but not yet stored
	queue   []*Run
	running int
	// executing holds the runs executing now.
	executing map[*Run]struct{}
	// exclusiveRunning is set while an exclusive run executes.
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

// NewManager returns a manager for the given engines that records runs in store.
func NewManager(limits Limits, engines []scenarios.Engine, store *Store, logger *slog.Logger) (*Manager, error) {
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
	m := &Manager{limits: limits, engines: map[string]scenarios.Engine{}, store: store, logger: logger, cores: runtime.NumCPU(), runs: map[string]*Run{}, executing: map[*Run]struct{}{}, slotFree: make(chan struct{})}
	for _, e := range engines {
		m.engines[e.Name()] = e
	}
	return m, nil
}

// Engine returns a registered engine.
func (m *Manager) Engine(name string) (scenarios.Engine, bool) {
	e, ok := m.engines[name]
	return e, ok
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
	if err := eng.Available(); err != nil {
		return nil, &EngineUnavailableError{Engine: req.Engine, Err: err}
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
	if err := m.store.writable(); err != nil {
		return nil, err // a run that could not be kept is not started
	}
	if steps := len(scenarios.ScheduleOf(params)); steps > m.limits.MaxSteps {
		return nil, &scenarios.ParamError{Field: scenarios.ScheduleParam, Message: fmt.Sprintf("names %d steps; want at most %d, the most one run may take here", steps, m.limits.MaxSteps)}
	}
	_, source, _ := eng.Source(sc.ID)
	run := &Run{ID: newID(), Scenario: sc.ID, Engine: req.Engine, Params: params, Created: time.Now().UTC(),
		Deadline: deadline, exclusive: req.Exclusive, priority: req.Priority, comparison: req.Comparison, SourceVersion: sourceVersion(source),
		stepRun: scenarios.IsStepRun(params),
		log:     newRunLog(StatusQueued), done: make(chan struct{})}

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
	if m.running >= m.limits.MaxConcurrent && len(m.queue) >= queueLimit {
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

// dispatchLocked starts queued runs while slots are free and tells the rest
// their position.
func (m *Manager) dispatchLocked() {
	for len(m.queue) > 0 && !m.exclusiveRunning {
		run := m.queue[0]
		if run.exclusive && m.running > 0 || m.running >= m.limits.MaxConcurrent {
			break
		}
		// Clear the slot: the queue's array would otherwise keep the run
		// (and every event line of its log) after it is stored.
		m.queue[0] = nil
		m.queue = m.queue[1:]
		m.running++
		m.exclusiveRunning = run.exclusive
		// Runs that execute at the same time share the cores: each learns
		// how many others it met, to say so next to its timings.
		for other := range m.executing {
			other.overlaps++
			run.overlaps++
		}
		run.overlaps += m.searching
		m.executing[run] = struct{}{}
		ctx, cancel := context.WithCancelCause(context.Background())
		run.mu.Lock()
		run.cancel = cancel
		run.startedAt = time.Now()
		run.mu.Unlock()
		run.log.setStatus(StatusRunning, 0)
		m.wg.Add(1)
		go m.execute(ctx, run)
	}
	for i, run := range m.queue {
		run.log.setStatus(StatusQueued, i+1)
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

// execute runs one admitted run to its end.
func (m *Manager) execute(ctx context.Context, run *Run) {
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

	status, err := m.runChild(ctx, run)
	if err != nil {
		m.logger.Info("run ended", "run", run.ID, "scenario", run.Scenario, "engine", run.Engine, "status", status, "err", err)
	}
	m.mu.Lock()
	overlaps := run.overlaps
	m.mu.Unlock()
	if overlaps > 0 {
		run.appendMark(fmt.Sprintf("shared the machine: %d other run(s) executed at the same time on %d cores, so timings may be slower than on an idle machine", overlaps, m.cores))
	}
	run.finish(status)
}

// runChild starts the engine's program and feeds its events into the log.
func (m *Manager) runChild(ctx context.Context, run *Run) (string, error) {
	eng := m.engines[run.Engine]
	base := event.Monotonic()
	run.mu.Lock()
	run.clockBase, run.cores = base, m.cores
	run.mu.Unlock()
	prog, err := eng.Program(scenarios.Spec{RunID: run.ID, Scenario: run.Scenario, Engine: run.Engine, Params: run.Params, ClockBase: base, Cores: m.cores})
	if err != nil {
		run.appendMark("could not start: " + err.Error())
		return StatusFailed, fmt.Errorf("program for %s: %w", run.ID, err)
	}
	// The run's processes are on record while it runs, so that a restart
	// after a kill of this server can kill what is left of them.
	remembered := make(chan struct{})
	stopLoad := func() {}
	opts := child.Options{
		OnEvents:    run.appendEvents(m.limits.MaxEvents),
		OnOutput:    run.appendOutput,
		OutputLimit: m.limits.MaxOutput,
		MemoryLimit: m.limits.MemoryBytes,
		Contain:     m.contain,
		OnStart: func(pid int) {
			run.mu.Lock()
			run.pid = pid
			run.mu.Unlock()
			stopLoad = run.watchLoad(pid)
		},
		OnLeftover: func(l child.Leftover) {
			go func() {
				defer close(remembered)
				m.store.rememberProcesses(run.ID, l)
			}()
		},
	}
	if run.stepRun {
		ctl, err := m.openControl(ctx, run, &opts)
		if err != nil {
			run.appendMark("could not start: " + err.Error())
			return StatusFailed, err
		}
		defer ctl.Close()
	}
	res, err := child.Run(ctx, prog, opts)
	stopLoad()
	if m.contain != nil && res.PID != 0 {
		<-remembered
		m.store.forgetProcesses(run.ID)
	}
	run.mu.Lock()
	run.peakRSS = res.PeakRSS
	run.mu.Unlock()
	if res.OutputDropped > 0 {
		run.appendMark(fmt.Sprintf("output truncated: %d bytes over the %d KiB cap were dropped", res.OutputDropped, m.limits.MaxOutput>>10))
	}
	switch cause := context.Cause(ctx); {
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
	case errors.Is(err, child.ErrMemory):
		run.appendMark(fmt.Sprintf("memory cap: the run used more than %d MiB and was killed", m.limits.MemoryBytes>>20))
		return StatusFailed, err
	case err != nil:
		run.appendMark(fmt.Sprintf("the program exited with code %d", res.ExitCode))
		return StatusFailed, err
	}
	return StatusDone, nil
}

// now returns the run's clock.
func (r *Run) now() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return event.Monotonic() - r.clockBase
}

var endKind = []byte(`"end"`)

// appendEvents returns the OnEvents callback: it keeps valid JSON lines up
// to max events, then truncates with a mark (the end event still passes).
func (r *Run) appendEvents(max int64) func([][]byte) {
	return func(lines [][]byte) {
		keep := lines[:0:0]
		r.mu.Lock()
		var mark []byte
		for _, line := range lines {
			if !validEventLine(line) {
				continue
			}
			isEnd := false
			if bytes.Contains(line, endKind) {
				var ev event.Event
				if json.Unmarshal(line, &ev) == nil && ev.K == event.KindEnd {
					isEnd = true
					if ev.Summary == nil {
						ev.Summary = &event.Summary{}
					}
					completeSummary(r, ev.Summary)
					line = event.Marshal(&ev)
					r.summary, _ = json.Marshal(ev.Summary)
				}
			}
			if r.events >= max && !isEnd {
				if !r.truncated {
					r.truncated = true
					mark = event.Marshal(&event.Event{T: event.Monotonic() - r.clockBase, K: event.KindMark,
						Label: fmt.Sprintf("truncated: the run passed %d events; later events are not shown", max)})
					keep = append(keep, mark)
					r.bytes += int64(len(mark))
				}
				continue
			}
			r.events++
			r.bytes += int64(len(line))
			keep = append(keep, line)
		}
		r.mu.Unlock()
		r.log.append(keep...)
	}
}

// appendOutput turns what the run's main process printed into an output event.
func (r *Run) appendOutput(stream string, text []byte) {
	r.appendEvent(event.Event{K: event.KindOutput, Stream: stream, Text: string(text)})
}

// appendMark adds a mark for the whole run.
func (r *Run) appendMark(label string) {
	r.appendEvent(event.Event{K: event.KindMark, Label: label})
}

func (r *Run) appendEvent(ev event.Event) {
	r.mu.Lock()
	if r.clockBase != 0 {
		ev.T = event.Monotonic() - r.clockBase
	}
	line := event.Marshal(&ev)
	r.events++
	r.bytes += int64(len(line))
	r.mu.Unlock()
	r.log.append(line)
}

// finish records the run's final status and tells the store, which
// reports it to viewers once the run is saved: a run that was not kept is
// never reported done. A run the store would not record is reported failed
// at once.
func (r *Run) finish(status string) {
	r.mu.Lock()
	r.finishedAt = time.Now()
	r.final = status
	wake, unsaved := r.onFinish, r.unsaved
	r.mu.Unlock()
	if unsaved {
		r.appendMark("not saved: the run store was closed or could not take the run; it is reported failed")
		r.mu.Lock()
		r.final = StatusFailed
		r.mu.Unlock()
		r.reportFinal(StatusFailed)
		return
	}
	if wake != nil {
		wake()
	}
}

// finalStatus is the status the run ended with, or "" while it goes on.
func (r *Run) finalStatus() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.final
}

// reportFinal sets the status viewers see to status and closes Done; only
// the first call does anything.
func (r *Run) reportFinal(status string) {
	r.mu.Lock()
	if r.reported {
		r.mu.Unlock()
		return
	}
	r.reported = true
	r.mu.Unlock()
	r.log.setStatus(status, 0)
	close(r.done)
}

// newID returns a short random run id, safe in a URL.
func newID() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// live returns a run the manager still holds in memory (queued, running, or
// finished and not yet all stored).
func (m *Manager) live(id string) (*Run, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[id]
	return r, ok
}
