package schedtrace

import (
	"strconv"

	"golang.org/x/exp/trace"

	"interleave/scenarios/event"
)

// The P lanes: one cpu lane per P, whose running spans name the lane of the
// goroutine holding the P, and whose idle gaps too short to see are merged.

// proc is what the converter knows of one P.
type proc struct {
	laneState
	onWhy   string // "on P3": the why of a goroutine running on it
	running *goroutine
	// pend is the P's latest state, held back until the next one (or until
	// the reader caught up) so that tiny idle gaps can be merged away and the
	// goroutine's name is known when it is emitted.
	pend pendingProc
}

type pendingProc struct {
	set bool
	s   string
	why string     // used when g is nil
	g   *goroutine // the goroutine running, for s == running
	t   int64
}

// proc returns P pid, declaring its lane at t when it is new; nil for NoProc.
func (c *converter) proc(pid trace.ProcID, t int64) *proc {
	if pid < 0 {
		return nil
	}
	for int(pid) >= len(c.ps) {
		c.ps = append(c.ps, nil)
	}
	if p := c.ps[pid]; p != nil {
		return p
	}
	id := "P" + strconv.FormatInt(int64(pid), 10)
	p := &proc{laneState: laneState{id: id}, onWhy: "on " + id}
	c.ps[pid] = p
	c.send(event.Event{T: max(t, 1), K: event.KindLane, ID: id, Kind: event.LaneCPU, Name: id + " (core)", Group: laneGroup})
	return p
}

func (c *converter) procTransition(ev *trace.Event, st *trace.StateTransition) {
	from, to := st.Proc()
	if from == to {
		return
	}
	t := c.runTime(ev.Time())
	p := c.proc(st.Resource.Proc(), t)
	if p == nil {
		return
	}
	switch {
	case to == trace.ProcNotExist:
		p.running = nil
		c.procSetWhy(p, event.Idle, "removed", t)
	case from == trace.ProcUndetermined && to == trace.ProcIdle && p.running == nil:
		c.procSetWhy(p, event.Idle, "", t)
	}
}

func (c *converter) setGOMAXPROCS(n int, t int64) {
	if n == c.gomaxprocs {
		return
	}
	c.gomaxprocs = n
	for pid := range n {
		c.proc(trace.ProcID(pid), t)
	}
	for pid, p := range c.ps {
		switch {
		case p == nil || p.running != nil:
		case pid >= n:
			c.procSetWhy(p, event.Idle, "outside GOMAXPROCS="+strconv.Itoa(n), t)
		case p.pend.set && p.pend.s == event.Idle || !p.pend.set && p.cur.s == event.Idle:
			c.procSetWhy(p, event.Idle, "", t)
		}
	}
}

// procRun records that g started running on P pid.
func (c *converter) procRun(pid trace.ProcID, g *goroutine, t int64) {
	p := c.proc(pid, t)
	if p == nil {
		return
	}
	if p.running != nil {
		p.running.onP = trace.NoProc
	}
	p.running, g.onP = g, pid
	c.procSet(p, event.Running, g, t)
}

// procRelease records that g stopped running on P pid (it blocked, yielded,
// entered a syscall or exited).
func (c *converter) procRelease(pid trace.ProcID, g *goroutine, t int64) {
	g.onP = trace.NoProc
	p := c.proc(pid, t)
	if p == nil || p.running != g {
		return
	}
	p.running = nil
	c.procSetWhy(p, event.Idle, "", t)
}

func (c *converter) procSet(p *proc, s string, g *goroutine, t int64) {
	c.procPend(p, pendingProc{set: true, s: s, g: g, t: t})
}

func (c *converter) procSetWhy(p *proc, s, why string, t int64) {
	c.procPend(p, pendingProc{set: true, s: s, why: why, t: t})
}

// procPend makes next the P's pending state, emitting the one before unless
// it was an idle gap too short to draw.
func (c *converter) procPend(p *proc, next pendingProc) {
	if p.pend.set {
		gap := p.pend.s == event.Idle && p.pend.why == "" && next.s == event.Running && next.t-p.pend.t < int64(mergeIdleBelow)
		if !gap {
			c.flushProc(p)
		}
	}
	p.pend = next
}

func (c *converter) flushProc(p *proc) {
	if !p.pend.set {
		return
	}
	why := p.pend.why
	if p.pend.g != nil {
		why = p.pend.g.procWhy()
	}
	p.pend.set = false
	c.setState(&p.laneState, p.pend.s, why, p.pend.t)
}
