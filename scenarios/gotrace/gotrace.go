// Package gotrace turns a Go execution trace (a file written by
// runtime/trace, or by `go test -trace`) into Interleave events: a cpu lane
// per P and a goroutine lane per goroutine, with the scheduler's states,
// creation and wake-up arrows, and trace.Log messages as marks. It is what
// an uploaded trace becomes so that it can be replayed in the same timeline
// as a run.
//
// It names lanes as the live scheduler view does (scenarios/schedtrace):
// P lanes "P0" … "P0 (core)", goroutine lanes "g12" with group "sched".
package gotrace

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/exp/trace"

	"interleave/scenarios/event"
	"interleave/scenarios/schedtrace"
)

// Group is the group of every lane of a converted trace.
const Group = "sched"

// Result sums up a converted trace.
type Result struct {
	// Events is how many timeline events were emitted.
	Events int
	// TraceEvents is how many events the trace held; Goroutines and Procs
	// how many lanes of each kind were drawn.
	TraceEvents int64
	Goroutines  int
	Procs       int
	// Truncated is set when the trace had more than the event cap allowed.
	Truncated bool
}

// FormatError says why data is not a readable Go execution trace.
type FormatError struct {
	// Header is set when the file starts as a trace does: what follows
	// is damaged or cut short.
	Header bool
	// After is how many trace events were read before the problem.
	After int64
	Err   error
}

func (e *FormatError) Error() string {
	if !e.Header {
		return fmt.Sprintf("not a Go execution trace (a file written by runtime/trace): %v", e.Err)
	}
	return fmt.Sprintf("the Go execution trace is damaged or truncated: %v (after %d events)", e.Err, e.After)
}

func (e *FormatError) Unwrap() error { return e.Err }

// Convert reads a whole trace from r, validating it, and hands its timeline
// events to emit in order (T is ns since the trace's first event): at most
// maxEvents, then a truncation mark, and always a last end event. A trace
// the parser rejects, or that ends in the middle, is a *FormatError; events
// emitted before the problem was found are then to be thrown away.
func Convert(r io.Reader, maxEvents int, emit func(*event.Event)) (res *Result, err error) {
	c := &converter{max: maxEvents, send: emit, gs: map[trace.GoID]*goroutine{}, ps: map[trace.ProcID]*proc{}, t0: -1}
	defer func() {
		// The parser is defensive, but a hostile file must never take the
		// server down: any panic is a bad file.
		if p := recover(); p != nil {
			res, err = nil, &FormatError{Header: c.header, After: c.read - c.syncs, Err: fmt.Errorf("the trace parser gave up: %v", p)}
		}
	}()
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, &FormatError{Err: err}
	}
	c.header = true
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &FormatError{Header: true, After: c.read - c.syncs, Err: err}
		}
		c.handle(&ev)
	}
	if c.read == c.syncs {
		return nil, &FormatError{Header: true, Err: errors.New("it holds no events")}
	}
	return c.finish(), nil
}

type goroutine struct {
	id    string // lane id
	name  string
	state string
	onP   trace.ProcID // the P it runs (or is in a syscall) on, or NoProc
}

type proc struct {
	id    string
	state string
	why   string
}

type converter struct {
	max       int
	header    bool // the file's header was read
	send      func(*event.Event)
	emitted   int
	truncated bool
	read      int64
	syncs     int64
	t0, last  trace.Time
	gs        map[trace.GoID]*goroutine
	ps        map[trace.ProcID]*proc
	nG        int
	flows     int
}

func (c *converter) t(ts trace.Time) int64 {
	if c.t0 < 0 {
		c.t0 = ts
	}
	return int64(ts - c.t0)
}

// emit sends ev unless the cap is reached (the end event always passes).
func (c *converter) emit(ev event.Event) {
	if c.emitted >= c.max && ev.K != event.KindEnd {
		if !c.truncated {
			c.truncated = true
			c.send(&event.Event{T: ev.T, K: event.KindMark,
				Label: fmt.Sprintf("truncated: the trace has more than %d events; later ones are not shown", c.max)})
		}
		return
	}
	c.emitted++
	c.send(&ev)
}

func (c *converter) handle(ev *trace.Event) {
	c.read++
	t := c.t(ev.Time())
	c.last = ev.Time()
	switch ev.Kind() {
	case trace.EventSync:
		c.syncs++
	case trace.EventStateTransition:
		st := ev.StateTransition()
		switch st.Resource.Kind {
		case trace.ResourceGoroutine:
			c.goTransition(ev, &st, t)
		case trace.ResourceProc:
			c.procTransition(&st, t)
		}
	case trace.EventLog:
		l := ev.Log()
		label := l.Message
		if l.Category != "" {
			label = l.Category + ": " + l.Message
		}
		lane := ""
		if g := c.goroutine(ev.Goroutine(), "", t); g != nil {
			lane = g.id
		}
		c.emit(event.Event{T: t, K: event.KindMark, Lane: lane, Label: label})
	}
}

// goroutine returns goroutine gid, declaring its lane at t when new; nil for
// NoGoroutine. start names its start function when known.
func (c *converter) goroutine(gid trace.GoID, start string, t int64) *goroutine {
	if gid == trace.NoGoroutine {
		return nil
	}
	g := c.gs[gid]
	if g != nil {
		return g
	}
	id := "g" + strconv.FormatInt(int64(gid), 10)
	g = &goroutine{id: id, name: id, onP: trace.NoProc}
	if start != "" {
		g.name += " · " + start
	}
	c.gs[gid] = g
	c.nG++
	c.emit(event.Event{T: t, K: event.KindLane, ID: g.id, Kind: event.LaneGoroutine, Name: g.name, Group: Group})
	return g
}

// proc returns P pid, declaring its lane at t when new; nil for NoProc.
func (c *converter) proc(pid trace.ProcID, t int64) *proc {
	if pid < 0 {
		return nil
	}
	if p := c.ps[pid]; p != nil {
		return p
	}
	id := "P" + strconv.FormatInt(int64(pid), 10)
	p := &proc{id: id}
	c.ps[pid] = p
	c.emit(event.Event{T: t, K: event.KindLane, ID: id, Kind: event.LaneCPU, Name: id + " (core)", Group: Group})
	return p
}

func (c *converter) setProc(p *proc, s, why string, t int64) {
	if p == nil || (p.state == s && p.why == why) {
		return
	}
	p.state, p.why = s, why
	c.emit(event.Event{T: t, K: event.KindState, Lane: p.id, S: s, Why: why, Src: event.SrcSched})
}

func (c *converter) goTransition(ev *trace.Event, st *trace.StateTransition, t int64) {
	from, to := st.Goroutine()
	gid := st.Resource.Goroutine()
	start := ""
	if from == trace.GoNotExist {
		start = schedtrace.FirstFunc(st.Stack) // a new goroutine's stack is its start
	} else if c.gs[gid] == nil {
		start = schedtrace.LastFunc(st.Stack)
	}
	g := c.goroutine(gid, start, t)
	if from == trace.GoNotExist && to != trace.GoNotExist {
		if parent := c.goroutine(ev.Goroutine(), "", t); parent != nil && parent != g {
			c.flows++
			c.emit(event.Event{T: t, K: event.KindFlow, From: parent.id, To: g.id, Label: "go"})
		}
	}
	if from == trace.GoWaiting && to == trace.GoRunnable {
		if waker := c.goroutine(ev.Goroutine(), "", t); waker != nil && waker != g {
			c.emit(event.Event{T: t, K: event.KindFlow, From: waker.id, To: g.id, Label: "wake-up"})
		}
	}
	if from == to {
		return // a status at a generation's start: nothing changed
	}
	// The P lanes: a P runs the goroutine running on it, else it is idle.
	if to == trace.GoRunning {
		if p := c.proc(ev.Proc(), t); p != nil {
			g.onP = ev.Proc()
			c.setProc(p, event.Running, g.name, t)
		}
	} else if from == trace.GoRunning {
		if p := c.proc(g.onP, t); p != nil && p.why == g.name {
			if to == trace.GoSyscall {
				c.setProc(p, event.Syscall, g.name, t)
			} else {
				c.setProc(p, event.Idle, "", t)
			}
		}
		if to != trace.GoSyscall {
			g.onP = trace.NoProc
		}
	} else if from == trace.GoSyscall && g.onP != trace.NoProc {
		if p := c.proc(g.onP, t); p != nil && p.why == g.name && p.state == event.Syscall {
			c.setProc(p, event.Idle, "", t)
		}
		g.onP = trace.NoProc
	}
	s, why := goState(from, to, st)
	if to == trace.GoNotExist {
		// A goroutine that has exited never comes back (ids are not
		// reused): forget it, so that a trace of a million short-lived
		// goroutines does not hold them all.
		delete(c.gs, gid)
	}
	if s == "" || (s == g.state && why == "") {
		return
	}
	g.state = s
	c.emit(event.Event{T: t, K: event.KindState, Lane: g.id, S: s, Why: why, Src: event.SrcSched})
}

func (c *converter) procTransition(st *trace.StateTransition, t int64) {
	from, to := st.Proc()
	if from == to {
		return
	}
	p := c.proc(st.Resource.Proc(), t)
	switch to {
	case trace.ProcIdle:
		c.setProc(p, event.Idle, "", t)
	case trace.ProcNotExist:
		c.setProc(p, event.Idle, "removed", t)
	}
}

// goState maps a goroutine transition to a timeline state and its why.
func goState(from, to trace.GoState, st *trace.StateTransition) (s, why string) {
	switch to {
	case trace.GoRunning:
		return event.Running, ""
	case trace.GoRunnable:
		switch {
		case st.Reason == "preempted":
			return event.Runnable, "preempted"
		case from == trace.GoNotExist:
			return event.Runnable, "created"
		case from == trace.GoWaiting:
			return event.Runnable, "woken"
		case from == trace.GoSyscall:
			return event.Runnable, "back from a syscall"
		}
		return event.Runnable, st.Reason
	case trace.GoWaiting:
		return schedtrace.WaitState(st.Reason, st.Stack)
	case trace.GoSyscall:
		return event.Syscall, "syscall"
	case trace.GoNotExist:
		return event.Done, ""
	case trace.GoUndetermined:
		return "", ""
	}
	return event.Blocked, st.Reason
}

// finish closes the timeline with an end event that sums the trace up.
func (c *converter) finish() *Result {
	wall := int64(0)
	if c.t0 >= 0 {
		wall = int64(c.last - c.t0)
	}
	procs := len(c.ps)
	verdict := fmt.Sprintf("An imported Go execution trace: %d goroutines on %d Ps over %.1f ms.", c.nG, procs, float64(wall)/1e6)
	c.emit(event.Event{T: wall, K: event.KindEnd, Summary: &event.Summary{WallNS: wall, Metrics: map[string]event.Metric{
		"goroutines":   {Value: float64(c.nG), Label: "goroutines"},
		"procs":        {Value: float64(procs), Label: "Ps (GOMAXPROCS)"},
		"trace_events": {Value: float64(c.read), Label: "trace events"},
	}, Verdict: verdict}})
	return &Result{Events: c.emitted, TraceEvents: c.read, Goroutines: c.nG, Procs: procs, Truncated: c.truncated}
}
