// Package scenarios is the catalog of Interleave: which scenarios exist, their
// params with bounds and the words a learner reads, and the engines that run
// them. It knows nothing of HTTP.
package scenarios

import (
	"fmt"
	"slices"
)

// Engine names.
const (
	EngineGo     = "go"
	EnginePython = "python"
)

// Scenario is one topic of the guide, runnable on one or more engines.
type Scenario struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Topic string `json:"topic"`
	// Blurb is one line for the catalog.
	Blurb string `json:"blurb"`
	// Claim is the sentence of the guide the scenario makes visible.
	Claim string `json:"claim"`
	// Notice lists what to look at in the timeline.
	Notice []string `json:"notice"`
	// Engines lists the engines that implement the scenario; empty means
	// "coming".
	Engines []string `json:"engines"`
	// Models maps an engine to a note when that engine models a mechanism it
	// does not have (the GIL in Go, for instance) rather than running it.
	Models map[string]string `json:"models,omitempty"`
	Params []Param           `json:"params"`
}

// HasEngine reports whether the scenario runs on engine.
func (s Scenario) HasEngine(engine string) bool { return slices.Contains(s.Engines, engine) }

// ParamsFor returns the params that apply on engine.
func (s Scenario) ParamsFor(engine string) []Param {
	out := make([]Param, 0, len(s.Params))
	for _, p := range s.Params {
		if len(p.Engines) == 0 || slices.Contains(p.Engines, engine) {
			out = append(out, p)
		}
	}
	return out
}

// Validate checks raw params for engine, naming the field on error.
func (s Scenario) Validate(engine string, raw map[string]any) (Params, error) {
	if !s.HasEngine(engine) {
		return nil, &ParamError{Field: "engine", Message: fmt.Sprintf("%q is not available for %s; want one of %v", engine, s.ID, s.Engines)}
	}
	return Validate(s.ParamsFor(engine), raw)
}

// All returns the catalog in the guide's order.
func All() []Scenario { return catalog }

// Lookup finds a scenario by id.
func Lookup(id string) (Scenario, bool) {
	for _, s := range catalog {
		if s.ID == id {
			return s, true
		}
	}
	return Scenario{}, false
}

var bothEngines = []string{EngineGo, EnginePython}

// catalog is read-only after package init.
var catalog = []Scenario{
	{
		ID: "mental-model", Title: "Concurrency is structure, parallelism is execution", Topic: "core model",
		Blurb: "The same tasks run one after another, interleaved on one core, and in parallel on all cores.",
		Claim: "Concurrency is how a program is structured (several tasks in progress at once); parallelism is how it executes (several tasks running at the same instant). Concurrency without parallelism interleaves tasks on one core: CPU work takes as long as running them in turn, while waits overlap.",
		Notice: []string{
			"With mode=concurrent every goroutine is in progress at once, but the scheduler lanes show a single P (core) carrying all of them: CPU work is no faster than sequential.",
			"With mode=parallel two Ps are busy at the same time and the wall time drops by about the number of cores.",
			"Switch work to io: waiting tasks overlap even on one core, so concurrency alone already wins.",
		},
		Engines: []string{EngineGo},
		Params: []Param{
			IntParam("tasks", "Tasks", 1, 16, 4, "How many tasks to run."),
			EnumParam("work", "Work", []string{"cpu", "io"}, "cpu: each task computes; io: each task waits (sleeps) as if for the network."),
			EnumParam("mode", "Mode", []string{"concurrent", "sequential", "parallel"}, "sequential: one task after another; concurrent: all at once on one core (GOMAXPROCS=1); parallel: all at once on every core."),
			IntParam("size", "Work per task (ms)", 10, 2000, 200, "How long one task computes or waits, in milliseconds."),
		},
	},
	{
		ID: "subprocess", Title: "Subprocesses: other programs, their own lifecycle", Topic: "subprocess",
		Blurb: "Run real OS programs: blocking by default, exit codes, captured output, timeouts, pipelines.",
		Claim: "A subprocess is another program with its own memory and lifecycle, scheduled by the OS. Running one blocks until it exits unless you start several; a non-zero exit is only an error when you ask for it (check); its stdout, stderr and exit code are captured; a timeout kills it.",
		Notice: []string{
			"Sequential runs take about the sum of the children's times; concurrent ones about the longest.",
			"Each child is a process lane with its pid and its exit code.",
			"With check=true a failing command turns the run into an error; with check=false its exit code is only reported.",
		},
		Params: []Param{},
	},
	{
		ID: "threads", Title: "Threads: overlapping waits", Topic: "threads",
		Blurb:  "I/O-bound work overlaps while threads wait; CPU-bound work needs cores (and no GIL).",
		Claim:  "Threads let I/O-bound work overlap: while one waits, another runs. CPU-bound work only speeds up when threads really run in parallel, which CPython's GIL prevents.",
		Params: []Param{},
	},
	{
		ID: "locks", Title: "Locks: lost updates and their cure", Topic: "locks",
		Blurb: "counter += 1 is read-modify-write: updates get lost without a lock, none with one.",
		Claim: "counter += 1 is not atomic: it reads the value, adds one and writes it back. Two workers that interleave between the read and the write both write the same value and one update is lost. A lock makes the read-modify-write exclusive: no update is lost, at the price of waiting for the lock.",
		Notice: []string{
			"With lock=false and yield=true the counter track ends below the expected value: the summary counts the lost updates.",
			"With lock=true the final value is exact; lock-wait spans show workers queueing for the lock.",
			"The time spent waiting for the lock is the cost of correctness under contention.",
		},
		Engines: []string{EngineGo},
		Params: []Param{
			IntParam("workers", "Workers", 1, 64, 4, "How many goroutines (threads) increment the shared counter."),
			IntParam("increments", "Increments per worker", 1, 1_000_000, 10_000, "How many times each worker adds one."),
			BoolParam("lock", "Use a lock", false, "Guard the read-modify-write with a mutex."),
			BoolParam("yield", "Pause between read and write", true, "Yield to the scheduler between reading and writing back, which widens the window in which updates are lost."),
		},
	},
	{
		ID: "asyncio", Title: "asyncio: one thread, one event loop", Topic: "asyncio",
		Blurb:  "Tasks suspend at await; thousands of waits are cheap; one blocking call stalls them all.",
		Claim:  "asyncio runs every task on one thread in one event loop. A task gives the loop back only at an await, so thousands of concurrent waits cost almost nothing, and one blocking call stalls every task.",
		Params: []Param{},
	},
	{
		ID: "multiprocessing", Title: "Multiprocessing: true parallelism, paid for", Topic: "multiprocessing",
		Blurb:  "Separate interpreters on several cores, at the cost of start-up, memory and pickling.",
		Claim:  "Processes have their own interpreter and memory, so CPU work runs in parallel on several cores. The price is start-up time, memory per process, and serializing (pickling) every argument and result that crosses between them.",
		Params: []Param{},
	},
	{
		ID: "pools", Title: "Pools and executors: reused workers", Topic: "pools/executors",
		Blurb:  "Reused workers, task distribution and balancing, chunk size.",
		Claim:  "A pool starts its workers once and feeds them tasks, so start-up is paid once. How tasks are split (chunk size) decides how evenly the work is balanced and how idle the workers are at the tail.",
		Params: []Param{},
	},
	{
		ID: "gil", Title: "The GIL: one thread runs bytecode at a time", Topic: "GIL",
		Blurb:  "Hand-offs every switch interval; no thread safety for free; the convoy effect.",
		Claim:  "CPython's global interpreter lock lets one thread run bytecode at a time; a thread that wants it asks the holder to drop it after the switch interval (5 ms by default). CPU-bound threads therefore take turns instead of running in parallel, and an I/O thread next to them waits for the GIL every time it wakes (the convoy effect).",
		Params: []Param{},
	},
}
