package scenarios

import (
	"fmt"
	"slices"
	"strings"
)

// The decision matrix: the same work run under every model, one after
// another, so that "which tool for this task?" is answered by measurement on
// the viewer's machine. Each model is one run of the "compare" scenario.

// CompareID is the scenario that runs one workload under one model.
const CompareID = "compare"

// Workloads of the decision matrix, in the guide's order.
var Workloads = []Workload{
	{ID: "cpu", Title: "CPU-heavy", Task: "pure computation", Rule: []string{ModelProcesses, ModelPool},
		Why: "CPU-heavy work needs several cores: processes (or a process pool) run in parallel, threads under the GIL take turns."},
	{ID: "io", Title: "Network I/O", Task: "many network waits against a loopback server", Rule: []string{ModelThreads, ModelAsyncio},
		Why: "Network I/O is mostly waiting: threads (or asyncio) overlap the waits; processes add start-up cost for nothing."},
	{ID: "many-io", Title: "High-concurrency waits", Task: "thousands of concurrent waits", Rule: []string{ModelAsyncio},
		Why: "Thousands of concurrent waits are what asyncio is for: one thread and one loop run them all, where threads start an OS thread per wait and switch between them (a thread's stack is mostly untouched memory, so its cost shows in the time more than in the peak memory)."},
	{ID: "mixed", Title: "Mixed CPU and I/O", Task: "requests that wait and then compute", Rule: []string{ModelPool, ModelProcesses},
		Why: "Mixed work wants the waits overlapped and the computing spread over cores: a pool of workers does both."},
	{ID: "external", Title: "External programs", Task: "running external programs", Rule: []string{ModelSubprocess, ModelThreads, ModelAsyncio},
		Why: "To run other programs, start them as subprocesses: the OS runs them in parallel, your program only waits."},
	{ID: "shared-state", Title: "Shared state", Task: "many updates of shared data", Rule: []string{ModelThreads},
		Why: "Logic over shared in-memory data fits threads with a lock: processes share nothing without explicit (and slow) shared memory."},
}

// Models a workload can run under.
const (
	ModelSequential = "sequential"
	ModelThreads    = "threads"
	ModelAsyncio    = "asyncio"
	ModelProcesses  = "processes"
	ModelPool       = "pool"
	ModelSubprocess = "subprocess"
)

// Workload is one row of the decision matrix.
type Workload struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Task  string `json:"task"`
	// Rule lists the models the guide's rule of thumb recommends.
	Rule []string `json:"rule"`
	// Why is the guide's reason for the rule.
	Why string `json:"why"`
}

// Models returns the models that apply to the workload, in the order they run.
func (w Workload) Models() []string {
	switch w.ID {
	case "external":
		return []string{ModelSequential, ModelThreads, ModelAsyncio, ModelSubprocess}
	case "many-io":
		// Thousands of waits one after another would take minutes, and a
		// process per wait is absurd: threads (one per wait), asyncio (one
		// task per wait) and a pool of a few threads are compared.
		return []string{ModelThreads, ModelAsyncio, ModelPool}
	}
	return []string{ModelSequential, ModelThreads, ModelAsyncio, ModelProcesses, ModelPool}
}

// LookupWorkload finds a workload by id.
func LookupWorkload(id string) (Workload, bool) {
	i := slices.IndexFunc(Workloads, func(w Workload) bool { return w.ID == id })
	if i < 0 {
		return Workload{}, false
	}
	return Workloads[i], true
}

func workloadIDs() []string {
	ids := make([]string, len(Workloads))
	for i, w := range Workloads {
		ids[i] = w.ID
	}
	return ids
}

func init() {
	catalog = append(catalog, Scenario{
		ID: CompareID, Title: "One workload, one model (decision matrix)", Topic: "decision matrix",
		Blurb: "The same work under sequential code, threads, asyncio, processes, a pool or subprocesses; /compare runs them all side by side.",
		Claim: "There is no best concurrency model, only a best model for a kind of work: CPU-heavy work needs parallel processes, waiting needs threads or asyncio, external programs need subprocesses, shared state needs threads with locks. The decision matrix measures it on this machine.",
		Notice: []string{
			"Compare wall time and CPU time: CPU time above wall time means several cores worked at once.",
			"Open /compare to run every model on the same workload, one after another, on one shared time axis.",
		},
		Params: []Param{
			EnumParam("workload", "Workload", workloadIDs(), "The kind of work: cpu (pure computation), io (network waits against a loopback server), many-io (thousands of concurrent waits), mixed (wait, then compute), external (run external programs), shared-state (update shared data)."),
			EnumParam("model", "Model", []string{ModelSequential, ModelThreads, ModelAsyncio, ModelProcesses, ModelPool, ModelSubprocess}, "How the work is run: one after another, in threads, as asyncio tasks, in separate processes, in a pool of reused workers, or as external programs."),
			EnumParam("size", "Size", []string{"small", "medium", "large"}, "How much work: small finishes in well under a second per model, large takes a few seconds."),
			IntParam("workers", "Workers", 1, MaxCompareWorkers, 2, "Threads, processes or pool workers the model may use; /compare gives one per core, as multiprocessing.Pool() does."),
			IntParam(ParamCalibration, "CPU work per ms", 0, MaxCalibration, 0, "How much CPU work makes 1 ms on one core, in the engine's work units (cpu and mixed workloads); 0 measures it at the start of the run. /compare measures it in its first model's run and gives the others the same value, so that every model does the same work."),
		},
		Models: map[string]string{
			EngineGo: "On the go engine threads are goroutines (no GIL: they compute in parallel), processes are this binary re-executed, and asyncio is a model: a cooperative event loop in one goroutine over real non-blocking sockets. The python engine runs real threads under the GIL and the real asyncio.",
		},
		check: func(p Params) error {
			w, _ := LookupWorkload(p.String("workload"))
			if models := w.Models(); !slices.Contains(models, p.String("model")) {
				return &ParamError{Field: "model", Message: fmt.Sprintf("%s does not apply to workload %s; want one of %s", p.String("model"), w.ID, strings.Join(models, ", "))}
			}
			return nil
		},
		Engines: []string{EngineGo, EnginePython},
	})
}

// MaxCompareWorkers is the most workers a comparison's model may use.
const MaxCompareWorkers = 64

// ParamCalibration is the compare scenario's param that gives a run the CPU
// work's calibration (work units per ms of one core, in the engine's own
// units), and the summary metric in which a run reports the calibration it
// used: /compare passes the first model's to every other model of the same
// engine.
const ParamCalibration = "calibration"

// MaxCalibration bounds ParamCalibration: far above what any core computes
// in a ms (the go engine's spin rounds are about a million).
const MaxCalibration = 1_000_000_000
