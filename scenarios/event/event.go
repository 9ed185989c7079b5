// Package event defines the event protocol shared by every engine, the
// server and the browser: one JSON object per event, with a time t (ns since
// the run started) and a kind k. docs/protocol.md describes it for readers.
package event

// Kinds of event (the k field).
const (
	KindLane    = "lane"
	KindState   = "state"
	KindLock    = "lock"
	KindFlow    = "flow"
	KindCounter = "counter"
	KindOutput  = "output"
	KindMark    = "mark"
	KindStep    = "step"
	KindEnd     = "end"
)

// Lane kinds (the kind field of a lane event).
const (
	LaneGoroutine = "goroutine"
	LaneThread    = "thread"
	LaneProcess   = "process"
	LaneTask      = "task"
	LaneLoop      = "loop"
	LaneCPU       = "cpu"
)

// States a lane can be in (the s field of a state event).
const (
	Running = "running"
	// Active is a lane busy with its work (computing) whose scheduling was
	// not recorded: on a core or waiting for one, nobody measured which.
	// Engines use it instead of guessing running; the real scheduler's
	// states refine it where recorded (see package invariant).
	Active   = "active"
	Runnable = "runnable"
	GILWait  = "gil-wait"
	LockWait = "lock-wait"
	IO       = "io"
	Sleep    = "sleep"
	Syscall  = "syscall"
	Blocked  = "blocked"
	Idle     = "idle"
	Done     = "done"
)

// Sources of a state: the scenario's own instrumentation or the real scheduler.
const (
	SrcApp   = "app"
	SrcSched = "sched"
)

// Lock operations.
const (
	LockWant = "want"
	LockGot  = "got"
	LockFree = "free"
)

// Event is one entry of a run's event stream. Which fields are set depends
// on K; the zero value of an optional field is left out of the JSON.
type Event struct {
	T int64  `json:"t"`
	K string `json:"k"`

	// lane
	ID     string `json:"id,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Name   string `json:"name,omitempty"` // also the counter's name
	Parent string `json:"parent,omitempty"`
	PID    int    `json:"pid,omitempty"`
	Group  string `json:"group,omitempty"`

	// state, lock, output, mark
	Lane string `json:"lane,omitempty"`
	S    string `json:"s,omitempty"`
	Why  string `json:"why,omitempty"`
	Src  string `json:"src,omitempty"`
	Lock string `json:"lock,omitempty"`
	Op   string `json:"op,omitempty"`

	// flow
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	Label string `json:"label,omitempty"` // also the mark's label

	// counter: V is always written for counters, even when zero.
	V *float64 `json:"v,omitempty"`

	// output
	Stream string `json:"stream,omitempty"`
	Text   string `json:"text,omitempty"`

	// step: a thread of a step run stopped before Line (Code) of the
	// scenario's own function, with its Locals ({name: repr}); N is the
	// number of the step that brought it there (0 for its first arrival);
	// Line 0 means the function returned. A lane's first step carries the
	// function: its name Fn, its Source lines and the number First of the
	// first of them.
	Line   int               `json:"line,omitempty"`
	Code   string            `json:"code,omitempty"`
	Locals map[string]string `json:"locals,omitempty"`
	N      int               `json:"n,omitempty"`
	Fn     string            `json:"fn,omitempty"`
	First  int               `json:"first,omitempty"`
	Source []string          `json:"source,omitempty"`

	// end
	Summary *Summary `json:"summary,omitempty"`
}

// Summary is what a run measured, sent with the end event.
type Summary struct {
	WallNS  int64             `json:"wall_ns"`
	CPUNS   int64             `json:"cpu_ns"`
	Metrics map[string]Metric `json:"metrics"`
	// Verdict says in one sentence what the run showed, computed from it.
	Verdict string `json:"verdict"`
	// Caveat, when set, says why the numbers may not be the program's own
	// (the rest of the machine was busy while it ran, by how much); the
	// server adds it, and the page offers to run again beside it.
	Caveat string `json:"caveat,omitempty"`
}

// Metrics the server adds to every run's summary (package server,
// completeSummary), in cores: the average number of cores' worth of CPU
// used while the run executed by the processes other than the run's and
// the server's (MetricOtherLoad), and by the server observing it
// (MetricObserverLoad).
const (
	MetricOtherLoad    = "other_load"
	MetricObserverLoad = "observer_load"
	UnitCores          = "cores"
)

// MetricSlowestCore is the speed of the machine's slowest core relative to
// its fastest, on memory-heavy work (package machineload, CoreSpeeds),
// which the server adds to the summary of a run on a machine whose cores
// it measured.
const MetricSlowestCore = "slowest_core"

// Metric is one measured number of a summary.
type Metric struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Label string  `json:"label"`
}
