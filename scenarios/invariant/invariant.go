// Package invariant checks a run's events against the rule every picture of
// Interleave obeys: a lane drawn `running` is on a core. At no instant may
// more lanes be running than the machine has cores, nor more lanes of one
// process than that process may use (GOMAXPROCS on the go engine, one thread
// under CPython's GIL).
//
// # The state a lane is drawn in
//
// A lane can receive states from two sources: the scenario's own
// instrumentation (src "app") and the real scheduler (src "sched", the Go
// runtime's trace). The drawn state at an instant is the latest app state,
// except where the app state only says the lane is busy (active, running or
// runnable) and the scheduler has recorded a state for the lane by then: the
// scheduler knows whether the goroutine was on a core, so its running or
// runnable wins. The browser's event model (static/lane.js) applies the same
// rule; this package is its reference.
//
// cpu lanes (one per core or P) are the cores themselves and are not counted.
package invariant

import (
	"sort"

	"interleave/scenarios/event"
)

// Report is how far a run's lanes kept the rule.
type Report struct {
	// Span is the time covered, from the first to the last event (ns).
	Span int64
	// OverMachine is the time during which more lanes were running than
	// the machine's cores (ns).
	OverMachine int64
	// OverProcess is the time during which some process had more running
	// lanes than its own limit (ns).
	OverProcess int64
	// MaxRunning is the most lanes running at one instant.
	MaxRunning int
	// Worst is an instant (ns) at which MaxRunning was reached.
	Worst int64
}

// Share returns the fraction of the span during which the rule was broken
// (machine or process), from 0 to 1.
func (r Report) Share() float64 {
	if r.Span <= 0 {
		return 0
	}
	return float64(max(r.OverMachine, r.OverProcess)) / float64(r.Span)
}

// Limits says how many lanes may run at once.
type Limits struct {
	// Machine is the number of cores of the machine.
	Machine int
	// Process returns the group a lane belongs to (lanes of one process
	// share a group) and how many of that group's lanes may run at once;
	// zero means no limit beyond the machine's. Nil means every lane is its
	// own group.
	Process func(lane event.Event) (group string, limit int)
}

type laneState struct {
	app, sched string
	hasSched   bool
	group      string
	running    bool
}

func busy(s string) bool {
	return s == event.Active || s == event.Running || s == event.Runnable
}

func (l *laneState) drawn() string {
	if l.hasSched && (l.app == "" || busy(l.app)) {
		return l.sched
	}
	return l.app
}

// Check measures how far events (in any order) keep the rule under limits.
func Check(events []event.Event, limits Limits) Report {
	evs := make([]event.Event, 0, len(events))
	for _, ev := range events {
		if ev.K == event.KindState || ev.K == event.KindLane {
			evs = append(evs, ev)
		}
	}
	// Lanes are declared before their states in the stream; a stable sort by
	// time keeps that order among events of the same instant.
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].T < evs[j].T })

	var rep Report
	if len(events) > 0 {
		lo, hi := events[0].T, events[0].T
		for _, ev := range events {
			lo, hi = min(lo, ev.T), max(hi, ev.T)
		}
		rep.Span = hi - lo
	}
	lanes := map[string]*laneState{}
	cpu := map[string]bool{}
	groupLimit := map[string]int{}
	groupRunning := map[string]int{}
	running := 0
	overProcess := 0 // groups over their limit now
	last := int64(0)
	started := false
	for _, ev := range evs {
		if started && ev.T > last {
			d := ev.T - last
			if limits.Machine > 0 && running > limits.Machine {
				rep.OverMachine += d
			}
			if overProcess > 0 {
				rep.OverProcess += d
			}
		}
		last, started = ev.T, true
		switch ev.K {
		case event.KindLane:
			if ev.Kind == event.LaneCPU {
				cpu[ev.ID] = true
				continue
			}
			if _, ok := lanes[ev.ID]; ok {
				continue
			}
			g, limit := ev.ID, 0
			if limits.Process != nil {
				g, limit = limits.Process(ev)
			}
			lanes[ev.ID] = &laneState{group: g}
			if limit > 0 {
				groupLimit[g] = limit
			}
		case event.KindState:
			if cpu[ev.Lane] {
				continue
			}
			l, ok := lanes[ev.Lane]
			if !ok {
				l = &laneState{group: ev.Lane}
				lanes[ev.Lane] = l
			}
			if ev.Src == event.SrcSched {
				l.sched, l.hasSched = ev.S, true
			} else {
				l.app = ev.S
			}
			now := l.drawn() == event.Running
			if now == l.running {
				continue
			}
			l.running = now
			lim := groupLimit[l.group]
			before := lim > 0 && groupRunning[l.group] > lim
			if now {
				running++
				groupRunning[l.group]++
			} else {
				running--
				groupRunning[l.group]--
			}
			after := lim > 0 && groupRunning[l.group] > lim
			if before != after {
				if after {
					overProcess++
				} else {
					overProcess--
				}
			}
			if running > rep.MaxRunning {
				rep.MaxRunning, rep.Worst = running, ev.T
			}
		}
	}
	return rep
}
