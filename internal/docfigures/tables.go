package main

import "regexp"

// The commands that measure the figures, as a reader types them.
const (
	cmdFirstEvent       = "go test ./server -run '^$' -bench 'FirstEvent$' -benchtime 20x"
	cmdFirstEventPython = "INTERLEAVE_REQUIRE_PYTHON=1 go test ./server -run '^$' -bench FirstEventPython -benchtime 20x"
	cmdPipeline         = "go test ./server -run '^$' -bench 'Pipeline$' -benchtime 3x -count 3"
	cmdViewers          = "go test ./server -run TwoHundredViewers -v -count=1"
	cmdObserver         = "INTERLEAVE_REQUIRE_BROWSER=1 INTERLEAVE_REQUIRE_PYTHON=1 go test ./server -run TestBrowserWatchingDoesNotSlowTheRun -v -count=1"
	cmdLivePage         = "INTERLEAVE_REQUIRE_BROWSER=1 go test ./server -run 'TestBrowserLivePageDrawsAFewTimesASecond|TestObserverLoadOfAQuietRun' -v -count=1"
	cmdSampling         = "go test ./internal/machineload ./internal/procgroup -run '^$' -bench . -benchtime 2000x"
	cmdGoOverhead       = "go test ./scenarios/goengine -run '^$' -bench Overhead -benchtime 6x"
	cmdObserverCost     = "go test ./scenarios/goengine -run '^$' -bench ObserverCost -benchtime 8x"
	cmdTraceOverhead    = "go test ./scenarios/schedtrace -run '^$' -bench 'Overhead$'"
	cmdPyOverhead       = "INTERLEAVE_REQUIRE_PYTHON=1 go test ./scenarios/pyengine -run HarnessOverhead -v -count=1"
	cmdStoreWrite       = "go test ./server -run '^$' -bench 'StoreWrite$' -benchtime 3x"
	cmdStoreWriter      = "go test ./runs -run '^$' -bench StoreWriter"
	cmdReplay           = "go test ./server -run '^$' -bench ReplayStart -benchtime 20x"
	cmdExport           = "go test ./server -run '^$' -bench Export -benchtime 3x"
	cmdFrames           = "INTERLEAVE_REQUIRE_BROWSER=1 go test ./server -run '^$' -bench BrowserFrames -benchtime 5x"
	cmdSoak             = "INTERLEAVE_SOAK_RUNS=1000 go test ./server -run NoOrphans -v -count=1 -timeout 30m"
	cmdGoClaims         = "go test -count=1 -v ./scenarios/goengine/"
	cmdPyClaims         = "INTERLEAVE_REQUIRE_PYTHON=1 go test -count=1 -v ./scenarios/pyengine/"
	cmdBothBuilds       = "INTERLEAVE_REQUIRE_PYTHON=1 INTERLEAVE_REQUIRE_PYTHON_FT=1 go test -count=1 -v -run TestEveryScenarioOnBothBuilds ./scenarios/pyengine/"
)

// bothBuildsRows name the rows of TestEveryScenarioOnBothBuilds
// (scenarios/pyengine/bothbuilds_test.go), as it logs them.
var bothBuildsRows = []string{
	"mental-model, 2 CPU tasks of 200 ms, concurrent (threads)",
	"mental-model, parallel (processes)",
	"subprocess, 2 computing programs at once",
	"threads, 4 CPU tasks of 100 ms, 2 workers",
	"threads, 32 waits of 100 ms, 8 workers",
	"locks, `counter += 1`, 4 × 100,000, no lock",
	"locks, read-modify-write with a pause, no lock",
	"locks, with `threading.Lock`",
	"deadlock, opposite lock order",
	"asyncio, 1,000 waits of 100 ms",
	"multiprocessing, 2 processes",
	"multiprocessing, mode=threads",
	"pools, thread workers",
	"gil, 2 CPU threads",
	"compare, cpu workload, threads",
	"compare, shared-state workload, threads",
}

// bothBuildsTable is a row per bothBuildsRows: the GIL build's cell and
// the free-threaded build's, as the test logged them.
func bothBuildsTable() [][]Cell {
	var rows [][]Cell
	for _, name := range bothBuildsRows {
		q := regexp.QuoteMeta(name)
		rows = append(rows, []Cell{text(name),
			measured(cmdBothBuilds, each(`both builds \| `+q+` \| ([^|]+?) \| [^|]+? \|`, "%s")),
			measured(cmdBothBuilds, each(`both builds \| `+q+` \| [^|]+? \| ([^|]+?) \|`, "%s"))})
	}
	return rows
}

// perf is a row of a performance table: measure, bar, figure, command.
func perf(measure, bar, cmd string, read func(string) (string, error)) []Cell {
	return []Cell{text(measure), text(bar), measured(cmd, read), code(cmd)}
}

var perfHeader = []string{"measure", "bar", "measured", "command"}

// tables are every generated table. Add a row to a table (or a table,
// with its markers in the doc) to put a new figure in the docs.
var tables = []Table{
	{
		Doc: "docs/performance.md", Name: "live", Header: perfHeader,
		Rows: [][]Cell{
			perf("POST /api/runs → first `events` message at a WebSocket client, median of 20 (go engine)", "≤ 100 ms", cmdFirstEvent,
				both(metric("FirstEvent", "ms-median-first-event", 1, "**%.1f ms**"), metric("FirstEvent", "ms-max-first-event", 1, "(max %.1f ms)"), " ")),
			perf("the same on the CPython engine", "≤ 250 ms", cmdFirstEventPython,
				both(metric("FirstEventPython", "ms-median-first-event", 1, "**%.1f ms**"), metric("FirstEventPython", "ms-max-first-event", 1, "(max %.1f ms)"), " ")),
			perf("events/s, child → server (→ SQLite) → one viewer counting every batch's events (1,000,000 events, real child, real WebSocket), three runs", "≥ 500k/s", cmdPipeline,
				metric("Pipeline", "events/s", 1e-6, "**%.2fM events/s**")),
			perf("CPU of the server and its one viewer per event in that pipeline (the child's own not counted)", "—", cmdPipeline,
				metric("Pipeline", "cpu-ns/event", 1, "%.0f ns/event")),
			perf("200 viewers of one run, nothing lost", "every viewer gets every event", cmdViewers,
				passed("TestTwoHundredViewersGetEveryEvent", "200 × 20,001 events and the load samples, all delivered")),
		},
	},
	{
		Doc: "docs/performance.md", Name: "observer", Header: perfHeader,
		Intro: "The page and the server are observers: they share the machine with the run they show.",
		Rows: [][]Cell{
			perf("CPython 2-process speedup (2 workers, fork, 0 KiB, 1,000 ms each) with headless Chromium drawing the live page vs no viewer: median of up to 3 alternating pairs during which other programs used under 0.15 cores, watched / alone", "≥ 0.9", cmdObserver,
				each(`median speedup alone ([\d.]+)x, watched by a browser ([\d.]+)x: ratio ([\d.]+) over (\d+) quiet pairs`, "alone %sx, watched %sx: **%s** (%s pairs)")),
			perf("the watching browser's own CPU during those runs", "—", cmdObserver,
				logged(`the browser used ([\d.]+) cores`, "%.2f cores")),
			perf("the server's own CPU during those runs (`observer_load`)", "—", cmdObserver,
				logged(`watched [\d.]+x \(browser [\d.]+ cores, other programs [\d.]+, server ([\d.]+)\)`, "%.2f cores")),
			perf("frames the live page draws while a run executes (then it catches up at full rate)", "≤ 3 a second", cmdLivePage,
				logged(`\(([\d.]+) a second\)`, "%.1f frames/s")),
			perf("headless Chromium's CPU (every process of it) while the live page shows a 2 s run, from a settled page to the run's end", "—", cmdLivePage,
				logged(`run executed: ([\d.]+) cores`, "%.2f cores")),
			perf("the server's CPU while a quiet run executes (a 2 s run sending 10 events: sampling, memory watch, store)", "—", cmdLivePage,
				logged(`observer_load ([\d.]+) cores`, "%.3f cores")),
			perf("one sample of the machine's load (/proc/stat, the run's process group, getrusage), four a second per run", "—", cmdSampling,
				metric("Sample", "ns/op", 1e-3, "%.0f µs")),
			perf("following a run's process group: incremental scan vs reading every process's /proc/N/stat", "—", cmdSampling,
				both(metric("Scan", "ns/op", 1e-3, "%.0f µs"), metric("FullScan", "ns/op", 1e-3, "%.0f µs"), " vs ")),
		},
	},
	{
		Doc: "docs/performance.md", Name: "overhead", Header: perfHeader,
		Rows: [][]Cell{
			perf("go engine: mental-model, 4 × 300 ms CPU tasks on 2 cores, instrumented (app events + live runtime/trace) vs the same run without the trace", "≤ 3 %", cmdGoOverhead,
				metric("InstrumentationOverhead", "instrumented/plain", 1, "%.3f")),
			perf("runtime/trace reader alone, CPU-bound goroutines, traced vs not (GOMAXPROCS=1; =2)", "≤ 3 %", cmdTraceOverhead,
				both(metric("Overhead/cpu/GOMAXPROCS=1", "traced/untraced", 1, "%.3f"), metric("Overhead/cpu/GOMAXPROCS=2", "traced/untraced", 1, "%.3f"), "; ")),
			perf("python harness: same CPU work, plain script vs instrumented (best of 10 runs of about 250 ms each)", "≤ 3 %", cmdPyOverhead,
				logged(`ratio ([\d.]+) \(`, "%.4f")),
			perf("go engine, every core busy: the playground (mental-model parallel, 2 × 1,000 ms tasks, events and live runtime/trace, read by the test as the server would) vs the same work in a plain child (2 goroutines on 2 Ps), alternating: playground / plain wall time", "≤ 1.05", cmdObserverCost,
				metric("ObserverCostBusyCores", "playground/plain", 1, "%.3f")),
			perf("the scheduler trace's own CPU in that run: cutting a generation (every 100 ms)", "≤ 0.5 % of a core", cmdObserverCost,
				metric("ObserverCostBusyCores", "ms-cut-cpu/run", 1, "**%.0f ms** per 2 × 1,000 ms run")),
		},
	},
	{
		Doc: "docs/performance.md", Name: "store", Header: perfHeader,
		Rows: [][]Cell{
			perf("events/s into SQLite while streaming (real child, 1M events, one viewer)", "—", cmdStoreWrite,
				metric("StoreWrite", "stored-events/s", 1e-6, "**%.2fM events/s** committed")),
			perf("the writer alone", "—", cmdStoreWriter, metric("StoreWriter", "events/s", 1e-6, "%.2fM events/s")),
			perf("replay start of a 1,000,000-event run (to the first events message)", "—", cmdReplay,
				both(metric("ReplayStart", "ms-to-first-events", 1, "**%.1f ms**"), metric("ReplayStart", "s-full-replay", 1, "the whole replay %.2f s"), "; ")),
			perf("database size per 1,000,000 events", "—", cmdStoreWrite, metric("StoreWrite", "MiB/1M-events", 1, "%.1f MiB")),
			perf("export of 1,000,000 events to trace.json (plain; gzipped)", "—", cmdExport,
				both(both(metric("Export/identity", "ns/op", 1e-9, "**%.2f s**"), metric("Export/identity", "MiB", 1, "%.1f MiB"), ", "),
					both(metric("Export/gzip", "ns/op", 1e-9, "%.2f s"), metric("Export/gzip", "MiB", 1, "%.1f MiB"), ", "), "; ")),
		},
	},
	{
		Doc: "docs/performance.md", Name: "browser", Header: perfHeader,
		Rows: [][]Cell{
			perf("1,000,000 spans (100 lanes × 10,000), pan/zoom frame in headless Chromium, 1350×600, scripted frames", "≤ 16 ms", cmdFrames,
				both(metric("BrowserFrames", "ms-median-frame", 1, "**median %.1f ms**"), metric("BrowserFrames", "ms-p95-frame", 1, "p95 %.1f ms"), ", ")),
		},
	},
	{
		Doc: "docs/performance.md", Name: "soak", Header: perfHeader,
		Rows: [][]Cell{
			perf("1,000 runs, a third timed out and a third cancelled: child pids alive afterwards, zombie children of the server", "0 and 0", cmdSoak,
				passed("TestNoOrphansAfterManyRuns", "**0 and 0**")),
		},
	},
	{
		Doc: "docs/scenarios.md", Name: "builds", Header: []string{"scenario, settings", "python (CPython with the GIL)", "python-ft (free-threaded CPython, no GIL)"},
		Intro: "Every CPython scenario, the same script on both builds, one run each, in one test under the machine-wide timing lock (the timing claims are checked, best of several attempts, by their own tests).",
		Rows:  bothBuildsTable(),
	},
	{
		Doc: "docs/scenarios.md", Name: "claims", Header: []string{"claim", "go engine", "python engine"},
		Intro: "Timing claims are ratios with margins, each the best of a few attempts under the machine-wide timing lock.",
		Rows: [][]Cell{
			{text("CPU work: parallel ≥ 1.6x concurrent (mental-model)"),
				measured(cmdGoClaims, logged(`concurrent \d+ ms, parallel \d+ ms: ([\d.]+)x`, "%.2fx")),
				text("processes vs threads, see multiprocessing")},
			{text("threads io: 8 workers ≥ 5x faster than 1"),
				measured(cmdGoClaims, each(`io=(\w+), 16 tasks of 25 ms: 1 worker \d+ ms, 8 workers \d+ ms: ([\d.]+)x`, "%[2]sx (%[1]s)")),
				measured(cmdPyClaims, logged(`1 worker \d+ ms, 8 workers \d+ ms: ([\d.]+)x`, "%.2fx"))},
			{text("threads cpu: all cores ≥ 1.6x (go) / 2 threads ≤ 1.15x (python)"),
				measured(cmdGoClaims, logged(`cpu, \d+ tasks of 50 ms: 1 worker \d+ ms, \d+ workers \d+ ms: ([\d.]+)x`, "%.2fx")),
				measured(cmdPyClaims, both(logged(`1 thread \d+ ms for \d+ ms of CPU, 2 threads \d+ ms for \d+ ms of CPU: ([\d.]+)x`, "%.2fx"), logged(`[\d.]+x the work per second; (\d+) gil-wait spans`, "%.0f gil-wait spans"), ", with "))},
			{text("locks: without a lock updates are lost; a lock loses none"),
				measured(cmdGoClaims, passed("TestLocksLoseUpdatesOnlyWithoutLock", "loses some; 0 with the lock")),
				measured(cmdPyClaims, passed("TestLocksLoseUpdatesOnlyWithoutALock", "loses some; 0 with `threading.Lock`"))},
			{text("asyncio: 1,000 tasks × 100 ms finish quickly"),
				measured(cmdGoClaims, logged(`1000 tasks × 100 ms: wall (\d+) ms`, "%.0f ms")),
				measured(cmdPyClaims, logged(`1,000 × 100 ms: done within (\d+) ms`, "%.0f ms"))},
			{text("asyncio: a 500 ms blocking call delays every task ≥ 450 ms"),
				measured(cmdGoClaims, logged(`every other task delayed >= (\d+) ms`, "≥ %.0f ms")),
				measured(cmdPyClaims, both(logged(`every task >= (\d+) ms late`, "≥ %.0f ms"), logged(`to_thread: (\d+) ms`, "%.0f ms with `to_thread`"), "; "))},
			{text("multiprocessing: 2 processes ≥ 1.6x"),
				measured(cmdGoClaims, logged(`1 process \d+ ms, 2 processes \d+ ms: ([\d.]+)x \(start-up`, "%.2fx")),
				measured(cmdPyClaims, logged(`1 process: \d+ ms for \d+ ms of CPU; 2 processes: \d+ ms for \d+ ms of CPU: ([\d.]+)x`, "%.2fx"))},
			{text("multiprocessing: serialization grows with payload"),
				measured(cmdGoClaims, each(`serialization: payload 0 KiB ([\d.]+) ms, 4096 KiB ([\d.]+) ms`, "%s ms at 0 KiB → %s ms at 4 MiB")),
				measured(cmdPyClaims, each(`pickling both ways: 64 KiB ([\d.]+) ms, 4 MiB ([\d.]+) ms`, "%s ms at 64 KiB → %s ms at 4 MiB"))},
			{text("pools: reuse=false costs more start-up"),
				measured(cmdGoClaims, each(`start-up ([\d.]+) ms with reuse \(\d+ starts\), ([\d.]+) ms without`, "%s ms vs %s ms of start-up")),
				text("same checks")},
			{text("gil: CPU threads ≤ 1.15x"),
				measured(cmdGoClaims, logged(`wall \d+ ms, ([\d.]+)x one thread`, "%.2fx (model)")),
				measured(cmdPyClaims, logged(`1 thread \d+ ms for \d+ ms of CPU, 2 threads \d+ ms for \d+ ms of CPU: ([\d.]+)x`, "%.2fx (real)"))},
			{text("gil: hand-offs at about switch_ms"),
				measured(cmdGoClaims, each(`switch_ms=(\d+): median hand-off after ([\d.]+) ms`, "%[2]s ms at %[1]s")),
				measured(cmdPyClaims, each(`switch ([\d.]+) ms: hand-off median ([\d.]+) ms`, "%[2]s ms at %[1]s"))},
			{text("gil: I/O thread latency grows next to CPU threads (convoy)"),
				measured(cmdGoClaims, each(`(\d+) CPU threads: I/O thread wake-up latency alone ([\d.]+) ms, next to them median ([\d.]+) ms`, "%[2]s → %[3]s ms (%[1]s CPU threads)")),
				measured(cmdPyClaims, each(`I/O thread wake-up: alone ([\d.]+) ms, next to 2 CPU threads ([\d.]+) ms`, "%s → %s ms (2 CPU threads)"))},
			{text("subprocess: concurrent < 0.6 × sequential (4 sleeps)"),
				measured(cmdGoClaims, logged(`concurrent \d+ ms \(longest child \d+ ms\): ([\d.]+)`, "%.2f")),
				measured(cmdPyClaims, passed("TestSubprocessExitCodesOutputAndTimeouts", "< 0.6"))},
			{text("subprocess: exit code, stderr, check, timeout kill (pid gone), pipeline"),
				measured(cmdGoClaims, passed("TestSubprocessTimeoutKillsChild", "all checked")),
				measured(cmdPyClaims, passed("TestSubprocessExitCodesOutputAndTimeouts", "all checked"))},
		},
	},
}
