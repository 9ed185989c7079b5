// Package scenarios is the catalog of Interleave: which scenarios exist, their
// params with bounds and the words a learner reads, and the engines that run
// them. It knows nothing of HTTP.
package scenarios

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
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
	// Notice lists what to look at in the timeline, on every engine.
	Notice []string `json:"notice"`
	// EngineNotice adds what to look at on one engine only.
	EngineNotice map[string][]string `json:"engine_notice,omitempty"`
	// Engines lists the engines that implement the scenario; empty means
	// "coming".
	Engines []string `json:"engines"`
	// Models maps an engine to a note when that engine models a mechanism it
	// does not have (the GIL in Go, for instance) rather than running it.
	Models map[string]string `json:"models,omitempty"`
	Params []Param           `json:"params"`
	// Goals lists what POST /api/search can look for in the scenario's
	// step runs (GoalLostUpdate, GoalDeadlock); none when it cannot step.
	Goals []string `json:"goals,omitempty"`
	// StepStart are the settings a first step run starts from: few threads
	// and little work, so that every line can be stepped by hand.
	StepStart map[string]string `json:"step_start,omitempty"`
	// Breaks is the link to where the claim's rule breaks; nil for none.
	Breaks *Breaks `json:"breaks,omitempty"`
	// check validates params against each other, after each is in range.
	check func(Params) error
}

// HasEngine reports whether the scenario runs on engine.
func (s Scenario) HasEngine(engine string) bool { return slices.Contains(s.Engines, engine) }

// NoticeFor returns what to look at on engine.
func (s Scenario) NoticeFor(engine string) []string {
	return append(slices.Clip(s.Notice), s.EngineNotice[engine]...)
}

// ParamsFor returns the params that apply on engine, in that engine's words.
func (s Scenario) ParamsFor(engine string) []Param {
	out := make([]Param, 0, len(s.Params))
	for _, p := range s.Params {
		if len(p.Engines) == 0 || slices.Contains(p.Engines, engine) {
			out = append(out, p.forEngine(engine))
		}
	}
	return out
}

// Breaks is a scenario's second link: the same program with the settings
// where the rule of its claim breaks (processes that lose, threads that
// compute), so a learner sees both sides.
type Breaks struct {
	// Title is the link's text.
	Title string `json:"title"`
	// Why says in one sentence what to expect there, on every engine;
	// EngineWhy replaces it on one engine.
	Why       string            `json:"why"`
	EngineWhy map[string]string `json:"engine_why,omitempty"`
	// Params are the settings that differ from the defaults; a param that
	// does not apply on an engine is left out of that engine's link.
	Params map[string]any `json:"params"`
}

// WhyFor returns what to expect on engine.
func (b Breaks) WhyFor(engine string) string {
	if w, ok := b.EngineWhy[engine]; ok {
		return w
	}
	return b.Why
}

// BreaksQuery returns the query of the scenario's "where it breaks" link on
// engine (engine first, then the params in the schema's order), or "" when
// the scenario has none.
func (s Scenario) BreaksQuery(engine string) string {
	if s.Breaks == nil {
		return ""
	}
	q := "engine=" + url.QueryEscape(engine)
	for _, p := range s.ParamsFor(engine) {
		if v, ok := s.Breaks.Params[p.Name]; ok {
			q += "&" + p.Name + "=" + url.QueryEscape(FormatValue(v))
		}
	}
	return q
}

// Validate checks raw params for engine, naming the field on error.
func (s Scenario) Validate(engine string, raw map[string]any) (Params, error) {
	if strings.TrimSpace(engine) == "" {
		return nil, &ParamError{Field: "engine", Message: "empty; want one of " + strings.Join(s.Engines, ", ")}
	}
	if !s.HasEngine(engine) {
		return nil, &ParamError{Field: "engine", Message: fmt.Sprintf("%s is not available for %s; want one of %s", Describe(engine), s.ID, strings.Join(s.Engines, ", "))}
	}
	p, err := Validate(s.ParamsFor(engine), raw)
	if err == nil && s.check != nil {
		err = s.check(p)
	}
	return p, err
}

// SchedParam is the go engine's switch for the real scheduler trace, added
// to every scenario that runs on the go engine.
const SchedParam = "sched"

// schedTraceCosts lists scenarios whose numbers the scheduler trace would
// distort: runtime/trace slows heavy lock contention 2-3x, so there it is
// off unless asked for.
var schedTraceCosts = []string{"locks"}

func init() {
	for i := range catalog {
		s := &catalog[i]
		if !s.HasEngine(EngineGo) {
			continue
		}
		def := !slices.Contains(schedTraceCosts, s.ID)
		help := "Record the real Go scheduler with runtime/trace: which goroutine ran on which core (P), and why goroutines waited. It costs under 3 % on CPU work."
		if !def {
			help += " Off by default here: tracing slows heavy lock contention 2-3x, which would inflate the lock-wait times this scenario measures."
		}
		s.Params = append(s.Params, Param{Name: SchedParam, Type: TypeBool, Default: def, Label: "Record the Go scheduler", Help: help, Engines: []string{EngineGo}})
	}
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

// checkLocksSteps checks a stepped locks run: the read-modify-write spelled
// out (a step is a whole line, and counter += 1 is one line) and a
// schedule naming its workers.
func checkLocksSteps(p Params) error {
	if !Scheduled(p) {
		return nil
	}
	if p.String("variant") == "naive" {
		return &ParamError{Field: "variant", Message: "naive is not allowed in a stepped run: a step runs a whole line, and counter += 1 is one line, so nothing could come between its read and its write; want rmw"}
	}
	return checkStepRun(p, p.Int("workers"), "workers")
}

// catalog is read-only after package init.
var catalog = []Scenario{
	{
		ID: "mental-model", Title: "Concurrency is structure, parallelism is execution", Topic: "core model",
		Blurb: "The same tasks run one after another, interleaved on one core, and in parallel on all cores.",
		Claim: "Concurrency is how a program is structured (several tasks in progress at once); parallelism is how it executes (several tasks running at the same instant). Concurrency without parallelism interleaves tasks on one core: CPU work takes as long as running them in turn, while waits overlap.",
		Notice: []string{
			"Switch work to io: waiting tasks overlap even on one core, so concurrency alone already wins.",
		},
		EngineNotice: map[string][]string{
			EngineGo: {
				"With mode=concurrent every goroutine is in progress at once, but the scheduler lanes (Real Go scheduler) show a single P (core) carrying all of them: CPU work is no faster than sequential.",
				"With mode=parallel two Ps are busy at the same time and the wall time drops by about the number of cores.",
			},
			EnginePython: {
				"With mode=concurrent the tasks are threads: all in progress at once, but the gil-wait spans show them taking turns for the GIL, so CPU work is no faster than sequential.",
				"With mode=parallel the tasks are processes, each with its own interpreter and GIL: they compute at the same instant and the wall time drops by about the number of cores.",
			},
		},
		Engines: []string{EngineGo, EnginePython},
		Params: []Param{
			IntParam("tasks", "Tasks", 1, 16, 2, "How many tasks to run. The default, 2, is one per core on a 2-core machine: in parallel they all compute at once."),
			EnumParam("work", "Work", []string{"cpu", "io"}, "cpu: each task computes; io: each task waits (sleeps) as if for the network."),
			withWords(EnumParam("mode", "Mode", []string{"concurrent", "sequential", "parallel"}, "sequential: one task after another; concurrent: all in progress at once, computing one at a time; parallel: all at once on every core."),
				map[string]ParamWords{
					EngineGo:     {Help: "sequential: one goroutine after another; concurrent: all at once on one core (GOMAXPROCS=1); parallel: all at once on every core."},
					EnginePython: {Help: "sequential: one task after another in the main thread; concurrent: a thread per task, taking turns for the GIL; parallel: a process per task, each with its own interpreter, on every core."},
				}),
			IntParam("size", "Work per task (ms)", 10, 2000, 500, "How long one task computes or waits, in milliseconds."),
		},
		Breaks: &Breaks{
			Title:  "When the tasks wait instead of compute (work=io)",
			Why:    "Waiting needs no core: with work=io concurrency alone overlaps the waits and wins, on one core as on many.",
			Params: map[string]any{"work": "io"},
		},
	},
	{
		ID: "subprocess", Title: "Subprocesses: other programs, their own lifecycle", Topic: "subprocess",
		Blurb: "Run real OS programs: blocking by default, exit codes, captured output, timeouts, pipelines.",
		Claim: "A subprocess is another program with its own memory and lifecycle, scheduled by the OS. Running one blocks until it exits unless you start several; a non-zero exit is only an error when you ask for it (check); its stdout, stderr and exit code are captured; a timeout kills it.",
		Notice: []string{
			"Each child is a process lane with its pid, its start, its exit-code mark and its output; the parent's lane is blocked while it waits.",
			"Sequential runs take about the sum of the children's own times; concurrent ones about the longest: the summary shows both.",
			"With check=true a failing command (fail) turns the run into an error carrying its stderr; with check=false its exit code is only reported.",
			"A timeout kills the child: a timeout mark, then a mark that its pid is gone.",
			"mode=pipeline connects command | sort -r | cat -n with OS pipes (the arrows); the last program's numbered output proves the data went through.",
			"No shell is ever involved: each name maps to a fixed program and arguments.",
		},
		Engines: []string{EngineGo, EnginePython},
		Params: []Param{
			EnumParam("command", "Command", []string{"slow-print", "sleep", "list", "search", "fail", "compute"}, "The program to run, from an allow-list: slow-print prints 5 lines 60 ms apart; sleep is `sleep 0.2`; list is `ls -la /etc`; search is `find /etc -maxdepth 2 -name *.conf`; fail writes an error to stderr and exits with code 3; compute uses 200 ms of CPU. (slow-print, fail and compute are small programs of the playground itself.)"),
			EnumParam("mode", "Mode", []string{"sequential", "concurrent", "pipeline"}, "sequential: run one, wait for it, run the next (subprocess.run); concurrent: start them all, then wait for each (Popen); pipeline: command | sort -r | cat -n, stdout of each into stdin of the next."),
			IntParam("count", "Count", 1, 16, 4, "How many copies of the command to run (sequential and concurrent; a pipeline runs it once)."),
			BoolParam("check", "Check the exit code", false, "Like check=True: a non-zero exit code becomes an error that fails the run. A timeout is always an error, as in Python."),
			IntParam("timeout_ms", "Timeout (ms)", 0, 10_000, 0, "Kill a child that runs longer than this, in milliseconds; 0 means no timeout."),
		},
		Breaks: &Breaks{
			Title:  "When the programs outnumber the cores (8 × compute, concurrent)",
			Why:    "Started together, programs take about as long as the longest one only while there are cores for all of them: 8 programs that compute share the cores and take several times longer.",
			Params: map[string]any{"command": "compute", "mode": "concurrent", "count": 8},
		},
	},
	{
		ID: "threads", Title: "Threads: overlapping waits", Topic: "threads",
		Blurb: "I/O-bound work overlaps while threads wait; CPU-bound work needs cores (and no GIL).",
		Claim: "Threads let I/O-bound work overlap: while one waits, another runs. CPU-bound work only speeds up when threads really run in parallel, which CPython's GIL prevents.",
		Notice: []string{
			"With work=io the worker lanes wait at the same time: 8 workers finish about 8 times sooner than 1, on any number of cores.",
			"io=http makes real requests to a loopback HTTP server inside the run; its requests-in-flight track climbs to the number of workers.",
		},
		EngineNotice: map[string][]string{
			EngineGo: {
				"With work=cpu the speedup stops at the number of cores: more goroutines only take turns.",
				"Go has no GIL, so CPU work here speeds up with cores. CPython threads would stay near 1x, because only the thread holding the GIL runs bytecode: run the same scenario on CPython, or see the gil scenario.",
			},
			EnginePython: {"With work=cpu CPython threads take turns holding the GIL: the gil-wait spans fill the gaps and the speedup stays near 1x however many cores there are. Run the same scenario on Go to see threads without a GIL."},
		},
		Engines: []string{EngineGo, EnginePython},
		Params: []Param{
			withWords(IntParam("workers", "Workers", 1, 64, 8, "How many workers take tasks from the queue."), map[string]ParamWords{
				EngineGo:     {Help: "How many goroutines take tasks from the queue."},
				EnginePython: {Help: "How many threads take tasks from the queue."},
			}),
			IntParam("tasks", "Tasks", 1, 256, 32, "How many tasks to run."),
			EnumParam("work", "Work", []string{"io", "cpu"}, "io: each task waits (for a sleep or an HTTP response); cpu: each task computes."),
			IntParam("size", "Task size (ms)", 1, 2000, 100, "How long one task waits or computes, in milliseconds."),
			EnumParam("io", "I/O kind", []string{"sleep", "http"}, "For work=io, sleep: a timed wait; http: a GET to a loopback HTTP server that answers after size ms."),
		},
		Breaks: &Breaks{
			Title: "When the workers compute instead of wait (work=cpu)",
			EngineWhy: map[string]string{
				EngineGo:     "CPU work needs cores: goroutines compute in parallel, but no faster than the number of cores.",
				EnginePython: "CPU work needs the GIL: the threads take turns and stay near 1x, however many cores there are.",
			},
			Params: map[string]any{"work": "cpu", "workers": 2, "tasks": 8, "size": 100},
		},
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
		Engines: []string{EngineGo, EnginePython},
		Params: []Param{
			withWords(IntParam("workers", "Workers", 1, 64, 4, "How many workers increment the shared counter."), map[string]ParamWords{
				EngineGo:     {Help: "How many goroutines increment the shared counter."},
				EnginePython: {Help: "How many threads increment the shared counter."},
			}),
			IntParam("increments", "Increments per worker", 1, 1_000_000, 10_000, "How many times each worker adds one."),
			withWords(BoolParam("lock", "Use a lock", false, "Guard the read-modify-write with a lock."), map[string]ParamWords{
				EngineGo:     {Help: "Guard the read-modify-write with a sync.Mutex."},
				EnginePython: {Help: "Guard the read-modify-write with a threading.Lock."},
			}),
			withWords(BoolParam("yield", "Pause between read and write", true, "Let another worker run between reading and writing back, which widens the window in which updates are lost."), map[string]ParamWords{
				EngineGo:     {Help: "Yield to the scheduler (runtime.Gosched) between reading and writing back, which widens the window in which updates are lost."},
				EnginePython: {Help: "Release the GIL (time.sleep(0)) between reading and writing back, which widens the window in which updates are lost."},
			}),
			{Name: "variant", Type: TypeEnum, Options: []string{"rmw", "naive"}, Default: "rmw", Label: "Increment written as",
				Help:    "rmw: value = counter, (pause,) counter = value + 1, the read-modify-write spelled out; naive: counter += 1, which CPython 3.10+ rarely interrupts half-way (the pause does not apply).",
				Engines: []string{EnginePython}},
			stepParams(EnginePython)[0], stepParams(EnginePython)[1],
		},
		Breaks: &Breaks{
			Title:  "With a lock: nothing lost, waiting paid (lock=true)",
			Why:    "A lock makes the read-modify-write exclusive: the counter ends exact, and the lock-wait spans show what correctness costs.",
			Params: map[string]any{"lock": true},
		},
		Goals:     []string{GoalLostUpdate},
		StepStart: map[string]string{"workers": "2", "increments": "2", "variant": "rmw"},
		check:     checkLocksSteps,
	},
	{
		ID: "deadlock", Title: "Deadlock: two locks taken in opposite order", Topic: "locks",
		Blurb: "Each thread holds the lock the other one needs, so neither can go on. One fixed lock order prevents it.",
		Claim: "A thread that holds one lock and waits for another can wait forever: if the thread holding the second is waiting for the first, neither can go on. That is a deadlock. Taking locks in one fixed order everywhere prevents it, because then no cycle of waits can form.",
		Notice: []string{
			"With order=opposite, step thread 1 until it holds lock_a, then thread 2 until it holds lock_b: now each waits for the other's lock. The run stops with a deadlock mark, and arrows between the lanes draw the cycle of waits.",
			"A thread waiting for a lock cannot take a step: its button says which lock it waits for and who holds it.",
			"With order=fixed both threads take lock_a first. Try to make them deadlock: you cannot, and the search explores every interleaving to show there is none.",
			"Run freely (step=false), the opposite orders deadlock on their own as soon as both threads hold their first lock; the run detects it and says so instead of hanging.",
		},
		Engines: []string{EnginePython},
		Params: []Param{
			IntParam("workers", "Threads", 2, MaxStepThreads, 2, "How many threads transfer, each taking two locks: its own, then its neighbour's (with 2 threads: thread 1 takes lock_a then lock_b, thread 2 lock_b then lock_a)."),
			EnumParam("order", "Lock order", []string{"opposite", "fixed"}, "opposite: each thread takes its own lock first, so two threads take the same two locks in opposite orders; fixed: every thread takes the locks in one global order (lock_a before lock_b)."),
			IntParam("rounds", "Rounds", 1, 100, 1, "How many transfers each thread makes, taking both locks each time."),
			stepParams(EnginePython)[0], stepParams(EnginePython)[1],
		},
		Breaks: &Breaks{
			Title:  "One lock order for every thread: no deadlock (order=fixed)",
			Why:    "Both threads take lock_a before lock_b, so no cycle of waits can form: the run finishes, and the search finds no interleaving that deadlocks.",
			Params: map[string]any{"order": "fixed"},
		},
		Goals:     []string{GoalDeadlock},
		StepStart: map[string]string{"workers": "2", "rounds": "1"},
		check:     func(p Params) error { return checkStepRun(p, p.Int("workers"), "workers") },
	},
	{
		ID: "asyncio", Title: "asyncio: one thread, one event loop", Topic: "asyncio",
		Blurb: "Tasks suspend at await; thousands of waits are cheap; one blocking call stalls them all.",
		Claim: "asyncio runs every task on one thread in one event loop. A task gives the loop back only at an await, so thousands of concurrent waits cost almost nothing, and one blocking call stalls every task.",
		Notice: []string{
			"The loop lane alternates between running ready tasks and waiting in the selector; the ready-queue and waiting-tasks tracks show where the tasks are.",
			"1,000 tasks each awaiting 100 ms all finish a little after 100 ms, and the loop is busy for only a small part of that time: a waiting task costs microseconds, not a thread.",
			"With blocking=true task 1 calls time.sleep instead of awaiting: the loop lane is stalled and every other task finishes at least blocking_ms late.",
		},
		EngineNotice: map[string][]string{
			EngineGo: {"Contrast with real Go code: a goroutine that blocks on the network is parked by the runtime's netpoller and its thread runs other goroutines, so one blocking read never stalls the rest."},
		},
		Engines: []string{EngineGo, EnginePython},
		Models: map[string]string{
			EngineGo: "Go has no asyncio: on the go engine this is a model, a cooperative event loop written in Go (one goroutine with a ready queue, a timer heap and a selector for simulated sockets) whose tasks are coroutine-like state machines that yield at await. The python engine runs the real asyncio.",
		},
		Params: []Param{
			IntParam("tasks", "Tasks", 1, 10_000, 1000, "How many tasks run on the one event loop."),
			IntParam("wait_ms", "Wait (ms)", 1, 5000, 100, "How long each task awaits (asyncio.sleep or a socket read), in milliseconds."),
			BoolParam("blocking", "One blocking call", false, "Task 1 calls time.sleep(blocking_ms) instead of awaiting: a blocking call inside the loop."),
			IntParam("blocking_ms", "Blocking call (ms)", 1, 5000, 500, "How long the blocking call lasts, in milliseconds."),
			{Name: "to_thread", Type: TypeBool, Default: false, Label: "Run it in a thread",
				Help:    "The cure: task 1 awaits asyncio.to_thread(time.sleep, ...), so the blocking call runs in a worker thread and the loop goes on.",
				Engines: []string{EnginePython}},
		},
		Breaks: &Breaks{
			Title:  "One blocking call (blocking=true)",
			Why:    "A task that blocks instead of awaiting stalls the one loop: every other task waits for it.",
			Params: map[string]any{"blocking": true},
		},
	},
	{
		ID: "multiprocessing", Title: "Multiprocessing: true parallelism, paid for", Topic: "multiprocessing",
		Blurb: "Separate interpreters on several cores, at the cost of start-up, memory and pickling.",
		Claim: "Processes have their own interpreter and memory, so CPU work runs in parallel on several cores. The price is start-up time, memory per process, and serializing (pickling) every argument and result that crosses between them.",
		Notice: []string{
			"Each worker process is a lane with its pid: a start-up span, then decode, compute and encode; the arrows carry the encoded bytes.",
			"The main lane encodes every worker's arguments, then decodes the results: raise payload_kb and watch those spans and the serialization total grow.",
			"The summary adds up the price: start-up per process, serialization time, peak memory per process.",
			"mode=threads shares memory: nothing is copied and a thread starts in microseconds.",
		},
		EngineNotice: map[string][]string{
			EngineGo:     {"With mode=threads the workers are goroutines, which compute in parallel in Go; CPython's GIL would keep such threads near 1x."},
			EnginePython: {"With mode=threads the GIL lets one thread compute at a time: near 1x, however many cores there are."},
		},
		Engines: []string{EngineGo, EnginePython},
		Params: []Param{
			withWords(IntParam("workers", "Workers", 1, 16, 2, "How many worker processes (or threads) compute, one task each. The default, 2, is one per core on a 2-core machine."), map[string]ParamWords{
				EngineGo: {Help: "How many worker processes (or goroutines) compute, one task each. The default, 2, is one per core on a 2-core machine."},
			}),
			withWords(EnumParam("mode", "Mode", []string{"processes", "threads"}, "processes: each worker is a separate process with its own memory, reached through pipes; threads: workers of the one process, sharing its memory."), map[string]ParamWords{
				EngineGo:     {Help: "processes: each worker is a separate process with its own memory, reached through pipes; threads: goroutines of the one process, sharing its memory."},
				EnginePython: {Help: "processes: each worker is a separate process with its own interpreter and memory, reached through pipes; threads: threads of the one process, sharing its memory (and its GIL)."},
			}),
			IntParam("size", "Work per worker (ms)", 10, 2000, 500, "CPU work of each worker, in milliseconds of one core."),
			withWords(IntParam("payload_kb", "Payload (KiB)", 0, 10_240, 16, "Data sent to each worker and back, encoded and decoded on the way."), map[string]ParamWords{
				EngineGo:     {Help: "Data sent to each worker and back, gob-encoded and decoded on the way."},
				EnginePython: {Help: "Data sent to each worker and back, pickled and unpickled on the way."},
			}),
			{Name: "start", Type: TypeEnum, Options: []string{"spawn", "fork", "forkserver"}, Default: "fork", Label: "Start method",
				Help:    "How multiprocessing starts a worker: spawn runs a fresh interpreter that imports the script (the default on macOS and Windows); fork copies the parent process (fast, unsafe with threads; the default on Linux up to 3.13); forkserver forks workers from a clean server process started once (the default on Linux since 3.14).",
				Engines: []string{EnginePython}},
		},
		Breaks: &Breaks{
			Title: "When processes pay more than they gain (4 workers on 2 cores, 1 MiB each way)",
			Why:   "Processes pay for their separation: with more workers than cores, a fresh interpreter each (start=spawn) and a megabyte to pickle each way, short CPU work costs more than computing in parallel saves: processes lose to one doing it all.",
			EngineWhy: map[string]string{
				EngineGo: "Processes pay for their separation: with more workers than cores and a megabyte to encode each way, the price eats the parallel speedup. A Go worker starts in tens of milliseconds, far sooner than a fresh interpreter, so here it shows as a small speedup rather than a loss.",
			},
			Params: map[string]any{"workers": 4, "start": "spawn", "payload_kb": 1024, "size": 200},
		},
	},
	{
		ID: "pools", Title: "Pools and executors: reused workers", Topic: "pools/executors",
		Blurb: "Reused workers, task distribution and balancing, chunk size.",
		Claim: "A pool starts its workers once and feeds them tasks, so start-up is paid once. How tasks are split (chunk size) decides how evenly the work is balanced and how idle the workers are at the tail.",
		Notice: []string{
			"Each arrow from the pool hands a chunk to a worker; the chunks-queued track drains as workers take them.",
			"When the queue is empty, workers that finished go idle while the last chunks run: the tail. Raise chunksize with skew=true and the tail grows.",
			"The summary counts executions: every task runs exactly once.",
			"reuse=false starts a fresh worker for every chunk: compare the start-up total with reuse=true, especially for processes.",
		},
		Engines: []string{EngineGo, EnginePython},
		Params: []Param{
			IntParam("workers", "Workers", 1, 64, 2, "How many workers the pool runs at once. The default, 2, is one per core on a 2-core machine."),
			IntParam("tasks", "Tasks", 1, 500, 40, "How many tasks to map over the pool."),
			IntParam("chunksize", "Chunk size", 1, 100, 1, "How many consecutive tasks are handed to a worker at a time."),
			{Name: "kind", Type: TypeEnum, Options: []string{"processes", "threads"}, Default: "processes", Label: "Workers are",
				Help: "processes: worker processes fed through pipes; threads: threads of the one process.",
				ForEngine: map[string]ParamWords{
					EngineGo:     {Options: []string{"processes", "goroutines"}, Help: "processes: worker processes fed through pipes; goroutines: goroutines of the one process."},
					EnginePython: {Help: "processes: worker processes fed through pipes; threads: threads of the one process (a ThreadPool or ThreadPoolExecutor)."},
				},
				// A share link made on the other engine still opens.
				Aliases: map[string]string{"goroutines": "threads", "threads": "goroutines"}},
			IntParam("size", "Task size (ms)", 1, 1000, 20, "CPU work of one task, in milliseconds (the mean, with skew)."),
			BoolParam("skew", "Uneven tasks", false, "Task sizes grow from a quarter to 1.75 times the size, the heaviest last."),
			BoolParam("reuse", "Reuse workers", true, "true: a pool starts its workers once; false: a fresh worker for every chunk (with chunksize=1, for every task)."),
			{Name: "api", Type: TypeEnum, Options: []string{"pool", "executor"}, Default: "pool", Label: "API",
				Help:    "pool: multiprocessing.Pool (kind=processes) or multiprocessing.pool.ThreadPool (kind=threads); executor: concurrent.futures.ProcessPoolExecutor or ThreadPoolExecutor (whose map ignores chunksize).",
				Engines: []string{EnginePython}},
			{Name: "start", Type: TypeEnum, Options: []string{"spawn", "fork", "forkserver"}, Default: "spawn", Label: "Start method",
				Help:    "For kind=processes, how multiprocessing starts a worker: spawn runs a fresh interpreter; fork copies the parent; forkserver forks from a clean server process.",
				Engines: []string{EnginePython}},
		},
		Breaks: &Breaks{
			Title:  "Big chunks of uneven tasks (chunksize=20, skew=true)",
			Why:    "Chunks hand out work in lumps: with uneven tasks, the heaviest last, one worker computes the last chunk while the other sits idle: the tail.",
			Params: map[string]any{"chunksize": 20, "skew": true},
		},
	},
	{
		ID: "gil", Title: "The GIL: one thread runs bytecode at a time", Topic: "GIL",
		Blurb: "Hand-offs every switch interval; no thread safety for free; the convoy effect.",
		Claim: "CPython's global interpreter lock lets one thread run bytecode at a time; a thread that wants it asks the holder to drop it after the switch interval (5 ms by default). CPU-bound threads therefore take turns instead of running in parallel, and an I/O thread next to them waits for the GIL every time it wakes (the convoy effect).",
		Notice: []string{
			"The GIL lane shows who holds the lock; CPU threads alternate between running and gil-wait, handing over about every switch_ms (the hand-off marks and arrows).",
			"More threads do not finish sooner: the speedup stays near 1x even though every core is available.",
			"With io_thread=true the I/O thread waits for the GIL after every read: compare its wait alone with its wait next to the CPU threads.",
			"The GIL does not make your code thread-safe: a thread can lose it between any two bytecodes, in the middle of a read-modify-write (see the locks scenario).",
		},
		Engines: []string{EngineGo, EnginePython},
		Models: map[string]string{
			EngineGo: "Go has no GIL: on the go engine this is a model, a global lock with a switch interval handed off as CPython's ceval_gil.c does (a waiting thread asks for a drop after switch_ms; the holder checks between small slices of work and hands over). Goroutines may use every core; only the lock serialises them. The python engine runs the real GIL.",
		},
		Params: []Param{
			withWords(IntParam("threads", "CPU threads", 1, 8, 2, "How many CPU-bound threads compete for the GIL."), map[string]ParamWords{
				EngineGo: {Help: "How many CPU-bound goroutines, the model's threads, compete for the modelled GIL."},
			}),
			FloatParam("switch_ms", "Switch interval (ms)", 0.1, 100, 5, "How long a waiting thread waits before asking the holder to drop the GIL (sys.setswitchinterval), in milliseconds."),
			BoolParam("io_thread", "Add an I/O thread", false, "One more thread doing 1 ms socket reads, measuring how long it waits for the GIL each time it wakes up."),
			IntParam("size", "Work per thread (ms)", 10, 1000, 200, "CPU work of each thread, in milliseconds of one core."),
		},
		Breaks: &Breaks{
			Title:  "An I/O thread next to them (io_thread=true)",
			Why:    "An I/O thread that wakes next to CPU threads waits for the GIL every time its I/O is done: the convoy effect.",
			Params: map[string]any{"io_thread": true},
		},
	},
}

// withWords gives p the words (or options) of each engine.
func withWords(p Param, words map[string]ParamWords) Param {
	p.ForEngine = words
	return p
}
