package runs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"interleave/internal/machineload"
	"interleave/scenarios"
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
	// Client is who asked for the run (an address, or a room), for a
	// runner pool's fairness between clients. Not settable through the API.
	Client string `json:"-"`
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
	// comparison and client: see RunRequest.
	comparison string
	client     string
	// remoteOnly is set when this machine lacks the run's engine and only
	// the runner pool has it: the run never executes here.
	remoteOnly bool
	// local is set when the run executes on this machine (guarded by the
	// manager's mu): it holds a local slot and shares the cores.
	local bool

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
	// runner names what executed the run (runner.Started.Runner).
	runner string
	// load measures the machine's load while the run executes (nil
	// before its program starts, or where /proc cannot be read).
	load *machineload.Meter
	// remoteLoad is the latest measure of a pool runner's machine while
	// the run executes there (nil for a local run), and remoteCores that
	// machine's CPUs.
	remoteLoad  *machineload.Usage
	remoteCores int
	// remoteSpeeds is the runner's machine's core speeds (its CoreSpeeds).
	remoteSpeeds []float64
	peakRSS      int64
	startedAt    time.Time
	finishedAt   time.Time
	cancel       context.CancelCauseFunc
	done         chan struct{}
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
	// Runner names what executed the run: "local" for this machine, else
	// the runner of a pool; absent while queued.
	Runner string `json:"runner,omitempty"`
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
		SourceVersion: r.SourceVersion, PID: r.pid, PeakRSS: r.peakRSS, Runner: r.runner, Comparison: r.comparison, Damaged: r.damaged}
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
		// Filtered in place: lines are the reader's, valid during this call
		// only, and the run log copies what it keeps.
		keep := lines[:0]
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

// NewID returns a short random id, safe in a URL: a run's, or a
// comparison's.
func NewID() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// live returns a run the manager still holds in memory (queued, running, or
