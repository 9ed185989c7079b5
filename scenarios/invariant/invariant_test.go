package invariant

import (
	"testing"

	"interleave/scenarios/event"
)

func lane(t int64, id, kind string, pid int) event.Event {
	return event.Event{T: t, K: event.KindLane, ID: id, Kind: kind, PID: pid}
}

func st(t int64, id, s, src string) event.Event {
	return event.Event{T: t, K: event.KindState, Lane: id, S: s, Src: src}
}

func TestCheck(t *testing.T) {
	perPID := func(limit int) Limits {
		return Limits{Machine: 2, Process: func(l event.Event) (string, int) {
			return string(rune('0' + l.PID)), limit
		}}
	}
	cases := []struct {
		name        string
		events      []event.Event
		limits      Limits
		machine     int64
		process     int64
		max         int
		wantShareLE float64
	}{
		{
			name: "four app lanes running on two cores break the rule",
			events: []event.Event{
				lane(0, "a", "goroutine", 1), lane(0, "b", "goroutine", 1), lane(0, "c", "goroutine", 1),
				st(0, "a", "running", "app"), st(0, "b", "running", "app"), st(0, "c", "running", "app"),
				st(100, "a", "done", "app"), st(100, "b", "done", "app"), st(100, "c", "done", "app"),
			},
			limits:  perPID(1),
			machine: 100, process: 100, max: 3,
		},
		{
			name: "active lanes refined by the scheduler run one at a time",
			events: []event.Event{
				lane(0, "a", "goroutine", 1), lane(0, "b", "goroutine", 1), lane(0, "P0", "cpu", 1),
				st(0, "a", "active", "app"), st(0, "b", "active", "app"),
				st(0, "P0", "running", "sched"),
				st(1, "a", "running", "sched"), st(1, "b", "runnable", "sched"),
				st(50, "a", "runnable", "sched"), st(50, "b", "running", "sched"),
				st(100, "a", "done", "app"), st(100, "b", "done", "app"),
			},
			limits: perPID(1),
			max:    1,
		},
		{
			name: "an app wait outranks a stale scheduler running",
			events: []event.Event{
				lane(0, "a", "thread", 1), lane(0, "b", "thread", 1),
				st(0, "a", "running", "sched"), st(10, "a", "lock-wait", "app"),
				st(10, "b", "running", "app"), st(20, "b", "done", "app"), st(20, "a", "done", "app"),
			},
			limits: perPID(1),
			max:    1,
		},
		{
			name: "two processes of one thread each may run on two cores",
			events: []event.Event{
				lane(0, "p1", "process", 1), lane(0, "p2", "process", 2),
				st(0, "p1", "running", "app"), st(0, "p2", "running", "app"),
				st(100, "p1", "done", "app"), st(100, "p2", "done", "app"),
			},
			limits: perPID(1),
			max:    2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Check(c.events, c.limits)
			if r.OverMachine != c.machine || r.OverProcess != c.process || r.MaxRunning != c.max {
				t.Fatalf("Check = %+v, want over machine %d, over process %d, max %d", r, c.machine, c.process, c.max)
			}
		})
	}
}
