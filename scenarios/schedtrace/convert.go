package schedtrace

import (
	"strconv"
	"time"

	"golang.org/x/exp/trace"

	"interleave/scenarios/event"
)

// laneGroup groups every lane this package declares, apart from the app's own.
const laneGroup = "sched"

// gomaxprocsMetric is the trace metric that carries GOMAXPROCS.
const gomaxprocsMetric = "/sched/gomaxprocs:threads"

// mergeIdleBelow is the shortest idle gap drawn on a P lane: the scheduler
// switching from one goroutine to the next takes a microsecond or two, and
// drawing every such gap would double the events without showing anything.
const mergeIdleBelow = 20 * time.Microsecond

// rateWindow is the window the rate cap counts in (in run time).
const rateWindow = int64(100 * time.Millisecond)

// maxPending is how many states an undeclared goroutine remembers (the
// first and the latest ones), to draw its lane from its start once it is
// labelled.
const maxPending = 16

type span struct {
	s, why string
	t      int64
}

// laneState is what the timeline shows for one lane: the latest state the
// trace told (cur) and the latest one emitted (sent). They differ only while
// the rate cap holds emission back (dirty).
type laneState struct {
	id    string
	cur   span
	sent  span
	dirty bool
}

// goroutine is what the converter knows of one goroutine.
type goroutine struct {
	// laneState.id is the lane the goroutine's states are drawn on: the app
	// lane it was labelled with, or its own lane ("g12", when own is set),
	// or empty while it is drawn nowhere.
	laneState
	// own says id is a lane this package declared for the goroutine (a
	// scenario goroutine's unlabelled child); otherwise id is an app lane.
	own bool

	gid   trace.GoID
	role  role
	pkg   string // for roleStd, the package that started it
	label string // app lane id given to Label
	name  string // lane name, set once it is a scenario goroutine
	// parent is the scenario goroutine that started this one, if any.
	parent *goroutine
	// scenario is true for goroutines labelled with Label and for those a
	// scenario goroutine started in user code: the ones that get a lane.
	scenario bool
	// noLane is set when the lane cap refused this goroutine a lane.
	noLane bool
	// pending holds states seen before the lane was declared.
	pending []span
	// onP is the P the goroutine runs on, or -1.
	onP trace.ProcID
	// last is the latest state the trace told, drawn or not.
	last span
	// session is the latest trace session that reported the goroutine.
	session int
}

// procWhy is what a P lane says when it runs g.
func (g *goroutine) procWhy() string {
	switch {
	case g.scenario && !g.noLane:
		return g.name
	case g.role == roleGC:
		return "GC worker"
	case g.role == roleRuntime:
		return "runtime"
	case g.role == roleStd:
		return g.pkg + " goroutine"
	case g.role == roleOwn:
		return "scheduler trace (this tool)"
	}
	return "other goroutine"
}

// setStart classifies g by its start function fn.
func (g *goroutine) setStart(fn string) {
	if g.role = roleOf(fn); g.role == roleStd {
		g.pkg = funcPackage(fn)
	}
}

func (g *goroutine) addPending(sp span) {
	if g.noLane {
		return
	}
	if len(g.pending) < maxPending {
		g.pending = append(g.pending, sp)
		return
	}
	// Keep the first state (its start) and the latest ones.
	copy(g.pending[1:], g.pending[2:])
	g.pending[len(g.pending)-1] = sp
}

// limits bounds what the converter emits.
type limits struct {
	perWindow int   // state events per rateWindow
	maxEvents int64 // events in all
	maxLanes  int   // goroutine lanes in all
	rate      int   // perWindow per second, for the marks
	// traceWindow is how many trace events a rateWindow may hold before
	// the trace is sampled (overRate).
	traceWindow int64
}

// converter turns trace events into timeline events. It is used by one
// goroutine at a time (the reader, then the caller of stop).
type converter struct {
	emit func(event.Event)
	base int64
	lim  limits

	// offset is CLOCK_MONOTONIC minus the trace clock, from the latest
	// clock snapshot (a Sync event); on Linux the trace clock is nanotime,
	// so it is within the trace clock's 64 ns resolution of zero.
	offset  int64
	lastT   int64 // run time of the latest event handled
	handled int64 // trace events handled

	// Trace events per rateWindow, to notice a scenario too busy to trace.
	rawWindow int64
	rawCount  int64
	// overRate is set when a window held more than lim.traceWindow trace
	// events; the reader then pauses the trace and clears it.
	overRate bool

	// session counts trace sessions; after a pause, goroutines whose status
	// the new session's first generation does not report have exited.
	session     int
	sweepSyncs  int // Sync events since the session started, until the sweep
	sweepWanted bool

	gs map[trace.GoID]*goroutine // goroutines alive (or not yet known to have exited)
	// owners maps an app lane id to the goroutine whose states are drawn
	// on it: one goroutine at a time, the latest to call Label with it.
	owners map[string]*goroutine
	// laneName returns an app lane's display name, for the P lanes' why;
	// nil means the lane id.
	laneName    func(id string) string
	ps          []*proc
	gomaxprocs  int
	lanes       int          // goroutine lanes declared
	newChildren []*goroutine // scenario children to declare when caught up

	// rate cap
	window        int64 // current window index (run time / rateWindow)
	budget        int   // state events left in the window
	windowSkipped bool
	thinning      bool
	thinFrom      int64
	skipped       int64
	dirty         []*laneState
	emitted       int64 // lane and state events emitted
	exhausted     bool  // maxEvents reached: nothing more is emitted
}

func newConverter(emit func(event.Event), base int64, lim limits, laneName func(string) string) *converter {
	return &converter{emit: emit, base: base, lim: lim, gs: map[trace.GoID]*goroutine{}, owners: map[string]*goroutine{}, laneName: laneName, window: -1}
}

// displayName is the name an app lane is shown with.
func (c *converter) displayName(id string) string {
	if c.laneName != nil {
		if n := c.laneName(id); n != "" {
			return n
		}
	}
	return id
}

// runTime maps a trace timestamp to the run clock (ns since spec.ClockBase).
func (c *converter) runTime(ts trace.Time) int64 {
	return max(int64(ts)+c.offset-c.base, 1) // T 0 would be restamped by the emitter
}

// handle converts one trace event.
func (c *converter) handle(ev *trace.Event) {
	c.handled++
	if c.exhausted {
		return
	}
	if w := int64(ev.Time()) / rateWindow; w != c.rawWindow {
		c.rawWindow, c.rawCount = w, 0
	}
	if c.rawCount++; c.rawCount > c.lim.traceWindow {
		c.overRate = true
	}
	switch ev.Kind() {
	case trace.EventSync:
		if cs := ev.Sync().ClockSnapshot; cs != nil {
			c.offset = int64(cs.Mono) - int64(cs.Trace)
		}
		// Every event of the previous generation has been handled.
		c.caughtUp()
		if c.sweepWanted {
			if c.sweepSyncs++; c.sweepSyncs == 2 {
				c.sweep(c.runTime(ev.Time()))
			}
		}
	case trace.EventStateTransition:
		st := ev.StateTransition()
		switch st.Resource.Kind {
		case trace.ResourceGoroutine:
			c.goTransition(ev, &st)
		case trace.ResourceProc:
			c.procTransition(ev, &st)
		}
	case trace.EventLog:
		switch l := ev.Log(); l.Category {
		case labelCategory:
			c.label(ev.Goroutine(), l.Message, c.runTime(ev.Time()))
		case selfCategory:
			c.goroutine(ev.Goroutine()).role = roleOwn
		}
	case trace.EventMetric:
		if m := ev.Metric(); m.Name == gomaxprocsMetric {
			c.setGOMAXPROCS(int(m.Value.Uint64()), c.runTime(ev.Time()))
		}
	}
	c.lastT = c.runTime(ev.Time())
}

func (c *converter) goroutine(gid trace.GoID) *goroutine {
	g := c.gs[gid]
	if g == nil {
		g = &goroutine{gid: gid, onP: trace.NoProc}
		c.gs[gid] = g
	}
	return g
}

func (c *converter) goTransition(ev *trace.Event, st *trace.StateTransition) {
	from, to := st.Goroutine()
	if from == to {
		// A status at the start of a generation: nothing changed, but the
		// goroutine is alive.
		if g := c.gs[st.Resource.Goroutine()]; g != nil {
			g.session = c.session
		}
		return
	}
	t := c.runTime(ev.Time())
	gid := st.Resource.Goroutine()
	g := c.goroutine(gid)
	g.session = c.session
	if from == trace.GoNotExist {
		// Creation: the transition's stack is the new goroutine's start.
		g.setStart(FirstFunc(st.Stack))
		if parent := c.gs[ev.Goroutine()]; parent != nil && parent != g && parent.scenario && g.role == roleUser {
			g.scenario, g.parent = true, parent
			g.name = c.childName(g)
			c.newChildren = append(c.newChildren, g)
		}
	} else if g.role == roleUnknown {
		g.setStart(LastFunc(st.Stack))
	}

	if to == trace.GoRunning {
		c.procRun(ev.Proc(), g, t)
	} else if from == trace.GoRunning {
		c.procRelease(ev.Proc(), g, t)
	}

	s, why := c.goState(from, to, st, ev.Proc())
	g.last = span{s, why, t}
	switch {
	case g.id != "":
		c.setState(&g.laneState, s, why, t)
	case g.role == roleUser || g.role == roleStd || g.role == roleUnknown:
		g.addPending(span{s, why, t})
	}
	if to == trace.GoNotExist {
		if !g.own && g.id != "" && c.owners[g.id] == g {
			delete(c.owners, g.id)
		}
		delete(c.gs, gid)
	}
}

// goState maps a goroutine transition to a timeline state and its why.
func (c *converter) goState(from, to trace.GoState, st *trace.StateTransition, pid trace.ProcID) (s, why string) {
	switch to {
	case trace.GoRunning:
		if p := c.proc(pid, 0); p != nil {
			return event.Running, p.onWhy
		}
		return event.Running, ""
	case trace.GoRunnable:
		return event.Runnable, runnableWhy(from, st.Reason)
	case trace.GoWaiting:
		return WaitState(st.Reason, st.Stack)
	case trace.GoSyscall:
		return event.Syscall, "syscall"
	case trace.GoNotExist:
		return event.Done, ""
	}
	return event.Blocked, st.Reason
}

// childName names the lane of a scenario goroutine's unlabelled child:
// "g15 · child of worker 3".
func (c *converter) childName(g *goroutine) string {
	name := "g" + strconv.FormatInt(int64(g.gid), 10)
	switch p := g.parent; {
	case p != nil && p.label != "":
		return name + " · child of " + c.displayName(p.label)
	case p != nil:
		return name + " · child of g" + strconv.FormatInt(int64(p.gid), 10)
	}
	return name
}

// label ties goroutine gid to the app lane laneID (or unties it, for an
// empty laneID): from t on, the goroutine's scheduler states are drawn on
// that lane (src "sched"), where they refine the app's own states, and the
// P lanes name the lane when they run it. A lane shows one goroutine's
// states at a time, so a later label of the same lane takes it over; a
// goroutine that leaves a lane leaves it `active` (not recorded) rather
// than in a state that is no longer true, and one that had its own lane
// ends it there.
func (c *converter) label(gid trace.GoID, laneID string, t int64) {
	g := c.goroutine(gid)
	if g.label == laneID && g.id == laneID && !g.own {
		return
	}
	c.leaveLane(g, laneID, t)
	g.label = laneID
	if laneID == "" {
		return
	}
	g.role, g.scenario, g.noLane, g.pending = roleUser, true, false, nil
	if prev := c.owners[laneID]; prev != nil && prev != g {
		prev.id = ""
	}
	c.owners[laneID] = g
	g.id, g.own, g.name = laneID, false, c.displayName(laneID)
	g.laneState = laneState{id: laneID}
	// The goroutine is running: it just wrote the label.
	why := ""
	p := c.proc(g.onP, t)
	if p != nil {
		why = p.onWhy
	}
	c.setState(&g.laneState, event.Running, why, t)
	if p != nil && p.running == g && !p.pend.set {
		// Re-emit the P's state so it names the lane from now on.
		c.procSet(p, event.Running, g, t)
	}
}

// leaveLane stops drawing g where it was drawn, at t.
func (c *converter) leaveLane(g *goroutine, next string, t int64) {
	switch {
	case g.id == "":
	case g.own:
		c.setState(&g.laneState, event.Done, "drawn on lane "+next+" from here", t)
	case c.owners[g.id] == g:
		delete(c.owners, g.id)
		c.setState(&g.laneState, event.Active, "scheduler: this goroutine left the lane", t)
	}
	g.id, g.own = "", false
}

// declare emits g's lane and the states it went through so far.
func (c *converter) declare(g *goroutine, t int64) {
	if g.id != "" || g.noLane {
		return
	}
	if c.lanes >= c.lim.maxLanes {
		if c.lanes == c.lim.maxLanes {
			c.mark("", "scheduler trace: more than "+strconv.Itoa(c.lim.maxLanes)+" goroutines; later ones are not drawn", t)
			c.lanes++
		}
		g.noLane, g.pending = true, nil
		return
	}
	c.lanes++
	if len(g.pending) > 0 {
		t = g.pending[0].t
	}
	g.id, g.own = "g"+strconv.FormatInt(int64(g.gid), 10), true
	ev := event.Event{T: t, K: event.KindLane, ID: g.id, Kind: event.LaneGoroutine, Name: g.name, Group: laneGroup}
	if g.parent != nil {
		ev.Parent = g.parent.id
	}
	c.send(ev)
	for _, sp := range g.pending {
		c.setState(&g.laneState, sp.s, sp.why, sp.t)
	}
	g.pending = nil
}

// caughtUp runs when every event parsed so far has been handled (a
// generation ended): lanes held back for a label are declared and the P
// lanes' latest states are emitted.
func (c *converter) caughtUp() {
	if c.exhausted {
		return
	}
	for _, g := range c.newChildren {
		c.declare(g, c.lastT)
	}
	clear(c.newChildren)
	c.newChildren = c.newChildren[:0]
	for _, p := range c.ps {
		if p != nil {
			c.flushProc(p)
		}
	}
}

func (c *converter) mark(lane, label string, t int64) {
	c.emit(event.Event{T: max(t, 1), K: event.KindMark, Lane: lane, Label: label})
}

// paused records that the trace is skipped from the latest event on.
func (c *converter) paused(why string) {
	c.caughtUp()
	// Lanes the rate cap held back show a state that is no longer true:
	// they are brought up to date first, past the cap as at the end of the
	// trace, or one shown running but no longer so would keep claiming its
	// core through the pause.
	c.resync(true)
	c.mark("", "scheduler trace paused: "+why, c.lastT)
	// While the trace is off nobody records who is on a core: a lane left
	// `running` would claim a core it may not hold.
	// These go out whatever the rate cap says: one per lane at most, and a
	// lane held back would keep its stale state through the pause.
	const unrecorded = "scheduler trace paused: not recorded"
	for _, g := range c.gs {
		if g.id != "" && (g.cur.s == event.Running || g.cur.s == event.Runnable) {
			c.forceState(&g.laneState, event.Active, unrecorded, c.lastT)
		}
	}
	for _, p := range c.ps {
		if p != nil && p.cur.s == event.Running {
			p.pend = pendingProc{}
			c.forceState(&p.laneState, event.Active, unrecorded, c.lastT)
		}
	}
}

// resumed records (with a mark saying label) that a fresh trace session
// starts at now, and forgets what the new session will tell again.
func (c *converter) resumed(now int64, label string) {
	for _, p := range c.ps {
		if p != nil {
			p.running, p.pend = nil, pendingProc{}
		}
	}
	for gid, g := range c.gs {
		g.onP = trace.NoProc
		if !g.scenario && g.role != roleOwn {
			delete(c.gs, gid)
		}
	}
	c.overRate, c.rawCount = false, 0
	c.session++
	c.sweepSyncs, c.sweepWanted = 0, true
	c.mark("", label, now)
}

// sweep ends the lanes of scenario goroutines that exited while the trace
// was paused: every generation reports the status of every live goroutine,
// so those the session's first generation did not mention are gone.
func (c *converter) sweep(t int64) {
	c.sweepWanted = false
	for gid, g := range c.gs {
		if g.session == c.session {
			continue
		}
		if g.id != "" {
			c.setState(&g.laneState, event.Done, "exited while the trace was paused", t)
		}
		delete(c.gs, gid)
	}
}

// finish emits what is held back, at the end of the trace.
func (c *converter) finish() {
	c.caughtUp()
	if c.exhausted {
		return
	}
	if c.sweepWanted && c.sweepSyncs > 0 {
		c.sweep(c.lastT) // the trace ended within the session's first generation
	}
	if c.thinning {
		c.endThinning(c.lastT)
	}
	c.resync(true)
}
