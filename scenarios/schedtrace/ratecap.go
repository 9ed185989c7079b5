package schedtrace

import (
	"strconv"
	"time"

	"interleave/scenarios/event"
)

// Emitting states within the caps: repeated states are dropped, past the
// rate cap states wait for the next window (the lanes are brought up to date
// then), and past the event cap the trace stops with a mark.

// setState records that lane ls is in state s from t, and emits it unless it
// repeats the state shown or the rate cap holds it back.
func (c *converter) setState(ls *laneState, s, why string, t int64) {
	ls.cur = span{s, why, t}
	if s == ls.sent.s && why == ls.sent.why {
		return
	}
	if !c.take(t) {
		if !ls.dirty && !c.exhausted {
			ls.dirty = true
			c.dirty = append(c.dirty, ls)
		}
		return
	}
	c.sendState(ls)
}

func (c *converter) sendState(ls *laneState) {
	ls.sent = ls.cur
	c.emit(event.Event{T: ls.cur.t, K: event.KindState, Lane: ls.id, S: ls.cur.s, Why: ls.cur.why, Src: event.SrcSched})
}

func (c *converter) send(ev event.Event) {
	if c.exhausted {
		return
	}
	if c.emitted >= c.lim.maxEvents {
		c.exhaust(ev.T)
		return
	}
	c.emitted++
	c.emit(ev)
}

// take reports whether one more state event at t fits the caps.
func (c *converter) take(t int64) bool {
	if c.exhausted {
		return false
	}
	if w := t / rateWindow; w > c.window {
		c.nextWindow(w, t)
	}
	if c.emitted >= c.lim.maxEvents {
		c.exhaust(t)
		return false
	}
	if c.budget > 0 {
		c.budget--
		c.emitted++
		return true
	}
	if !c.thinning {
		c.thinning, c.thinFrom, c.skipped = true, t, 0
		c.mark("", "scheduler trace thinned: more than "+strconv.Itoa(c.lim.rate)+" state changes/s, so some are skipped", t)
	}
	c.windowSkipped = true
	c.skipped++
	return false
}

// nextWindow starts rate window w: a fresh budget, the end of a thinning
// episode if the last window had room, and the lanes held back caught up.
func (c *converter) nextWindow(w, t int64) {
	c.window, c.budget = w, c.lim.perWindow
	if c.thinning && !c.windowSkipped {
		c.endThinning(t)
	}
	c.windowSkipped = false
	c.resync(false)
}

func (c *converter) endThinning(t int64) {
	c.mark("", "scheduler trace: "+strconv.FormatInt(c.skipped, 10)+" state changes skipped from "+
		time.Duration(c.thinFrom).Round(time.Millisecond).String()+" (cap "+strconv.Itoa(c.lim.rate)+"/s)", t)
	c.thinning, c.skipped = false, 0
}

// resync emits the current state of lanes the rate cap held back; force
// ignores the window's budget (at the end of the trace).
func (c *converter) resync(force bool) {
	keep := c.dirty[:0]
	for _, ls := range c.dirty {
		switch {
		case ls.cur.s == ls.sent.s && ls.cur.why == ls.sent.why:
			ls.dirty = false
		case force || c.budget > 0 && c.emitted < c.lim.maxEvents:
			c.budget--
			c.emitted++
			ls.dirty = false
			c.sendState(ls)
		default:
			keep = append(keep, ls)
		}
	}
	clear(c.dirty[len(keep):])
	c.dirty = keep
}

func (c *converter) exhaust(t int64) {
	c.exhausted = true
	c.mark("", "scheduler trace stopped: it reached its cap of "+strconv.FormatInt(c.lim.maxEvents, 10)+" events", t)
}

// forceState emits lane ls's state s from t past the rate cap (not past the
// event cap): for the few states that must not wait for the next window.
func (c *converter) forceState(ls *laneState, s, why string, t int64) {
	ls.cur = span{s, why, t}
	if c.exhausted || s == ls.sent.s && why == ls.sent.why {
		return
	}
	c.emitted++
	c.sendState(ls)
}
