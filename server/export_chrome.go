package server

// Writing the trace.json export: Chrome's trace event format, one track per
// lane (see writeChromeTrace).

import (
	"bufio"
	"fmt"
	"sort"
	"strconv"

	"interleave/scenarios/event"
)

// chromeTrack is one lane: a thread of the trace.
type chromeTrack struct {
	pid, tid int
	name     string
	// schedOnly tracks take the scheduler's states themselves: cores and
	// goroutines only the scheduler knows.
	schedOnly bool
	// the state being drawn, from its start until the lane's next state
	open            bool
	start           int64
	state, why, src string
}

type chromeExporter struct {
	w       *bufio.Writer
	buf     []byte
	n       int // trace events written
	runName string
	lanes   map[string]*chromeTrack
	tracks  []*chromeTrack // in tid order
	procs   map[string]int // process key -> pid
	flows   int
	last    int64 // the latest t seen: where open states end
	// strs interns the short strings of events (lane ids, states, whys):
	// a run repeats a few of them a million times.
	strs map[string]string
}

// begin starts one trace event object.
func (x *chromeExporter) begin(ph string) {
	if x.n > 0 {
		x.buf = append(x.buf, ',', '\n')
	}
	x.n++
	x.buf = append(x.buf, `{"ph":"`...)
	x.buf = append(x.buf, ph...)
	x.buf = append(x.buf, '"')
}

func (x *chromeExporter) str(key, v string) {
	x.buf = append(x.buf, ',', '"')
	x.buf = append(x.buf, key...)
	x.buf = append(x.buf, '"', ':')
	x.buf = event.AppendString(x.buf, v)
}

func (x *chromeExporter) int(key string, v int) {
	x.buf = append(x.buf, ',', '"')
	x.buf = append(x.buf, key...)
	x.buf = append(x.buf, '"', ':')
	x.buf = strconv.AppendInt(x.buf, int64(v), 10)
}

// micros writes ns as microseconds with exact nanosecond decimals.
func (x *chromeExporter) micros(key string, ns int64) {
	x.buf = append(x.buf, ',', '"')
	x.buf = append(x.buf, key...)
	x.buf = append(x.buf, '"', ':')
	x.buf = appendMicros(x.buf, ns)
}

func appendMicros(buf []byte, ns int64) []byte {
	if ns < 0 {
		buf = append(buf, '-')
		ns = -ns
	}
	buf = strconv.AppendInt(buf, ns/1000, 10)
	if frac := ns % 1000; frac != 0 {
		buf = append(buf, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
		for buf[len(buf)-1] == '0' {
			buf = buf[:len(buf)-1]
		}
	}
	return buf
}

// end finishes the trace event and flushes the buffer when it is large.
func (x *chromeExporter) end() {
	x.buf = append(x.buf, '}')
	if len(x.buf) > 64<<10 {
		x.w.Write(x.buf)
		x.buf = x.buf[:0]
	}
}

func (x *chromeExporter) flush() {
	x.w.Write(x.buf)
	x.buf = x.buf[:0]
}

// process returns the pid for a process key, naming it when new.
func (x *chromeExporter) process(key, name string) int {
	if pid, ok := x.procs[key]; ok {
		return pid
	}
	pid := len(x.procs) + 1
	x.procs[key] = pid
	x.begin("M")
	x.str("name", "process_name")
	x.int("pid", pid)
	x.buf = append(x.buf, `,"args":{"name":`...)
	x.buf = event.AppendString(x.buf, name)
	x.buf = append(x.buf, '}')
	x.end()
	x.begin("M")
	x.str("name", "process_sort_index")
	x.int("pid", pid)
	x.buf = append(x.buf, `,"args":{"sort_index":`...)
	x.buf = strconv.AppendInt(x.buf, int64(pid), 10)
	x.buf = append(x.buf, '}')
	x.end()
	return pid
}

// track returns the lane's track, declaring it (in the run's process) when
// the lane was used before its lane event.
func (x *chromeExporter) track(lane string) *chromeTrack {
	if tr, ok := x.lanes[lane]; ok {
		return tr
	}
	return x.declare(lane, lane, "run", x.runName)
}

// schedSuffix names the sibling track that holds the real scheduler's
// states of a scenario lane (see stateTrack).
const schedSuffix = " · on a core? (Go scheduler)"

// stateTrack returns the track a state event is drawn on. A scenario lane
// can carry states from two sources: its own (why it is busy or waiting)
// and the real scheduler's (whether its goroutine was on a core). The page
// draws one from the other (scenarios/invariant); Perfetto cannot, and
// slices on one track must not overlap, so the scheduler's states of a
// scenario lane go on a sibling track right under it. Lanes that only the
// scheduler fills (cores, unlabelled goroutines) keep them on their own.
func (x *chromeExporter) stateTrack(ev *exportEvent) *chromeTrack {
	tr := x.track(ev.Lane)
	if ev.Src != event.SrcSched || tr.schedOnly {
		return tr
	}
	key := ev.Lane + "\x00sched"
	if st, ok := x.lanes[key]; ok {
		return st
	}
	st := x.declareOn(key, tr.name+schedSuffix, tr.pid)
	st.schedOnly = true
	return st
}

func (x *chromeExporter) declare(lane, name, procKey, procName string) *chromeTrack {
	return x.declareOn(lane, name, x.process(procKey, procName))
}

// declareOn declares a track named name in the trace process pid.
func (x *chromeExporter) declareOn(lane, name string, pid int) *chromeTrack {
	tr := &chromeTrack{pid: pid, tid: len(x.tracks) + 1, name: name}
	x.lanes[lane] = tr
	x.tracks = append(x.tracks, tr)
	x.begin("M")
	x.str("name", "thread_name")
	x.int("pid", pid)
	x.int("tid", tr.tid)
	x.buf = append(x.buf, `,"args":{"name":`...)
	x.buf = event.AppendString(x.buf, name)
	x.buf = append(x.buf, '}')
	x.end()
	x.begin("M")
	x.str("name", "thread_sort_index")
	x.int("pid", pid)
	x.int("tid", tr.tid)
	x.buf = append(x.buf, `,"args":{"sort_index":`...)
	x.buf = strconv.AppendInt(x.buf, int64(tr.tid), 10)
	x.buf = append(x.buf, '}')
	x.end()
	return tr
}

func (x *chromeExporter) add(ev *exportEvent) {
	x.last = max(x.last, ev.T)
	switch ev.K {
	case event.KindLane:
		if _, ok := x.lanes[ev.ID]; ok || ev.ID == "" {
			return
		}
		key, pname := "run", x.runName
		switch {
		case ev.Group == "sched":
			key, pname = "sched", "Go scheduler (runtime/trace)"
		case ev.PID != 0:
			key, pname = "pid:"+strconv.Itoa(ev.PID), "process "+strconv.Itoa(ev.PID)
		}
		name := ev.Name
		if name == "" {
			name = ev.ID
		}
		if ev.Kind != "" && ev.Kind != event.LaneCPU { // a cpu lane's name says "core"
			name += " (" + ev.Kind + ")"
		}
		tr := x.declare(ev.ID, name, key, pname)
		tr.schedOnly = ev.Group == "sched" || ev.Kind == event.LaneCPU
	case event.KindState:
		if ev.Lane == "" {
			return
		}
		tr := x.stateTrack(ev)
		// A state that claims to start before the open one (clocks of two
		// processes) starts when it ends: slices on a track never overlap.
		t := ev.T
		if tr.open {
			t = max(t, tr.start)
			x.closeSpan(tr, t)
		}
		if ev.S == event.Done {
			tr.open = false
			return
		}
		tr.open, tr.start, tr.state, tr.why, tr.src = true, t, ev.S, ev.Why, ev.Src
	case event.KindMark:
		x.instant(ev.Lane, ev.T, "mark", ev.Label, "")
	case event.KindLock:
		x.instant(ev.Lane, ev.T, "lock", ev.Op+" "+ev.Lock, "")
	case event.KindOutput:
		x.instant(ev.Lane, ev.T, "output", ev.Stream, ev.Text)
	case event.KindFlow:
		if ev.From == "" || ev.To == "" {
			return
		}
		from, to := x.track(ev.From), x.track(ev.To)
		x.flows++
		label := ev.Label
		if label == "" {
			label = "flow"
		}
		for _, side := range []struct {
			ph string
			tr *chromeTrack
		}{{"s", from}, {"f", to}} {
			x.begin(side.ph)
			x.str("name", label)
			x.str("cat", "flow")
			x.int("id", x.flows)
			if side.ph == "f" {
				x.str("bp", "e")
			}
			x.micros("ts", ev.T)
			x.int("pid", side.tr.pid)
			x.int("tid", side.tr.tid)
			x.end()
		}
	case event.KindCounter:
		if ev.V == nil {
			return
		}
		x.begin("C")
		x.str("name", ev.Name)
		x.micros("ts", ev.T)
		x.int("pid", x.process("run", x.runName))
		x.buf = append(x.buf, `,"args":{"value":`...)
		x.buf = strconv.AppendFloat(x.buf, *ev.V, 'g', -1, 64)
		x.buf = append(x.buf, '}')
		x.end()
	case event.KindStep:
		x.step(ev)
	case event.KindEnd:
		verdict := ""
		if ev.Summary != nil {
			verdict = ev.Summary.Verdict
		}
		x.instant("", ev.T, "end", "end", verdict)
	}
}

// instant writes an instant on a lane's track, or for the whole run.
func (x *chromeExporter) instant(lane string, t int64, cat, name, text string) {
	x.begin("i")
	x.str("name", name)
	x.str("cat", cat)
	x.micros("ts", t)
	if lane != "" {
		tr := x.track(lane)
		x.str("s", "t")
		x.int("pid", tr.pid)
		x.int("tid", tr.tid)
	} else {
		x.str("s", "g")
		x.int("pid", x.process("run", x.runName))
		x.int("tid", 0)
	}
	if text != "" {
		x.buf = append(x.buf, `,"args":{"text":`...)
		x.buf = event.AppendString(x.buf, text)
		x.buf = append(x.buf, '}')
	}
	x.end()
}

// step writes a step of a step run as an instant on its thread's track,
// named for the line the thread stopped before, with the code and the
// locals as its args.
func (x *chromeExporter) step(ev *exportEvent) {
	if ev.Lane == "" {
		return
	}
	tr := x.track(ev.Lane)
	name := fmt.Sprintf("before line %d", ev.Line)
	switch {
	case ev.Line == 0:
		name = "returned"
	case ev.N == 0:
		name = fmt.Sprintf("starts before line %d", ev.Line)
	}
	if ev.N > 0 {
		name = fmt.Sprintf("step %d: %s", ev.N, name)
	}
	x.begin("i")
	x.str("name", name)
	x.str("cat", "step")
	x.micros("ts", ev.T)
	x.str("s", "t")
	x.int("pid", tr.pid)
	x.int("tid", tr.tid)
	x.buf = append(x.buf, `,"args":{"line":`...)
	x.buf = strconv.AppendInt(x.buf, int64(ev.Line), 10)
	x.buf = append(x.buf, `,"code":`...)
	x.buf = event.AppendString(x.buf, ev.Code)
	x.buf = append(x.buf, `,"locals":{`...)
	names := make([]string, 0, len(ev.Locals))
	for k := range ev.Locals {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		if i > 0 {
			x.buf = append(x.buf, ',')
		}
		x.buf = event.AppendString(x.buf, k)
		x.buf = append(x.buf, ':')
		x.buf = event.AppendString(x.buf, ev.Locals[k])
	}
	x.buf = append(x.buf, "}}"...)
	x.end()
}

// closeSpan writes the open state of tr as a slice ending at t.
func (x *chromeExporter) closeSpan(tr *chromeTrack, t int64) {
	tr.open = false
	if t <= tr.start {
		return // nothing to draw
	}
	x.begin("X")
	x.str("name", tr.state)
	cat := tr.src
	if cat == "" {
		cat = "state"
	}
	x.str("cat", cat)
	x.micros("ts", tr.start)
	x.micros("dur", t-tr.start)
	x.int("pid", tr.pid)
	x.int("tid", tr.tid)
	if tr.why != "" {
		x.buf = append(x.buf, `,"args":{"why":`...)
		x.buf = event.AppendString(x.buf, tr.why)
		x.buf = append(x.buf, '}')
	}
	x.end()
}

// closeAll ends every open state at the last moment of the run.
func (x *chromeExporter) closeAll() {
	for _, tr := range x.tracks {
		if tr.open {
			x.closeSpan(tr, x.last)
		}
	}
	x.flush()
}
