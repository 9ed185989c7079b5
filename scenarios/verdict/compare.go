package verdict

import "fmt"

// compare metrics (one model of the decision matrix): wall and cpu (ms) of
// the work, cpu_utilization, tasks, correct (1 when every result was
// right), peak_rss (bytes), lost_updates (shared-state), and for models that
// start processes processes, startup_total and startup_max (ms); asyncio
// adds loop_busy (ms). The summary's CPU time covers the same work as its
// wall time.
func init() { judges["compare"] = (*judge).compare }

// ShortRunNS is the shortest wall time whose CPU per wall time means
// anything: below it the recorder's own work weighs too much.
const ShortRunNS = 5e6

func (j *judge) compare() {
	workload, model := j.Params.String("workload"), j.Params.String("model")
	tasks := int(j.m("tasks"))
	use := j.cpuPerWall()
	if use == 0 {
		use = j.m("cpu_utilization")
	}
	var cores string
	switch {
	case j.Summary.WallNS < ShortRunNS:
		cores = "too short a run to tell"
	case use >= ParallelMin:
		cores = "several cores worked at once"
		j.res.Claims.Parallel = true
	case use > 0.6:
		cores = "about one core's worth of CPU"
	default:
		cores = "mostly waiting"
	}
	name := model
	if model == "asyncio" && j.Engine == "go" {
		name = "asyncio (modelled: an event loop on one goroutine)"
	}
	head := fmt.Sprintf("%s ran %d %s tasks in %s with %s of CPU (%.2f cores' worth per second: %s)",
		name, tasks, workload, Duration(j.Summary.WallNS), Duration(j.Summary.CPUNS), use, cores)
	if j.m("correct") != 1 {
		j.say("%s; some results were wrong or missing.", head)
		return
	}
	why := j.compareWhy(workload, model, use)
	if why == "" {
		j.say("%s.", head)
	} else {
		j.say("%s: %s.", head, why)
	}
}

// compareWhy explains one model's measurement by how the model works, never
// claiming more parallelism than the CPU per wall time shows.
func (j *judge) compareWhy(workload, model string, use float64) string {
	workers := int(j.m("workers"))
	if workers == 0 {
		workers = j.Params.Int("workers")
	}
	tasks := int(j.m("tasks"))
	lost := int64(j.m("lost_updates"))
	mib := j.m("peak_rss") / (1 << 20)
	thread, threads := "thread", "threads"
	if j.Engine == "go" {
		thread, threads = "goroutine", "goroutines"
	}
	procCost := fmt.Sprintf("%d processes cost %s of start-up in all (the slowest %s) and %.0f MiB of memory with the main process",
		int(j.m("processes")), Millis(j.m("startup_total")), Millis(j.m("startup_max")), mib)
	if j.m("processes") == 0 {
		procCost = fmt.Sprintf("%.0f MiB of memory with the worker processes", mib)
	}
	switch workload + "/" + model {
	case "shared-state/sequential":
		return fmt.Sprintf("one %s has nobody to race with: %d updates lost", thread, lost)
	case "shared-state/threads":
		return fmt.Sprintf("%s, one per task, took a lock around every read-modify-write: %d updates lost", plural(tasks, thread, threads), lost)
	case "shared-state/asyncio":
		return fmt.Sprintf("one %s and no await between read and write needs no lock: %d updates lost", thread, lost)
	case "shared-state/processes", "shared-state/pool":
		return fmt.Sprintf("processes share no memory of their own, so the counter was explicit shared memory with a lock every process took for each update (a multiprocessing.Value); %s: %d updates lost", procCost, lost)
	case "cpu/sequential", "mixed/sequential":
		return "one task after another on one core"
	case "cpu/threads":
		return j.compareCPUThreads(tasks, use, thread, threads)
	case "cpu/asyncio", "mixed/asyncio":
		return "the loop ran each task's computing inline, one at a time: an event loop overlaps waits, never computing"
	case "cpu/processes", "cpu/pool", "mixed/processes", "mixed/pool":
		return procCost + j.parallelNote(min(workers, j.Cores), use)
	case "io/processes", "io/pool":
		return procCost
	case "io/sequential":
		return "each request waited for the one before it"
	case "io/threads", "mixed/threads":
		return fmt.Sprintf("%s, one per task, waited for their requests at the same time", plural(tasks, thread, threads))
	case "io/asyncio":
		return fmt.Sprintf("all %d requests were in flight at once on one %s: non-blocking sockets and one selector", tasks, thread)
	case "many-io/threads":
		return fmt.Sprintf("one %s per wait, %d at once, in %.1f MiB", thread, tasks, mib)
	case "many-io/asyncio":
		return fmt.Sprintf("one task per wait on one %s, in %.1f MiB", thread, mib)
	case "many-io/pool":
		return fmt.Sprintf("only %s, so the waits went %d at a time", plural(workers, thread, threads), workers)
	case "external/sequential":
		return "each program started only once the one before it had exited"
	case "external/threads":
		return fmt.Sprintf("a %s per program waited for it while the OS ran the programs", thread)
	case "external/asyncio":
		return fmt.Sprintf("one %s started every program and waited for them all", thread)
	case "external/subprocess":
		return "every program was started, then each waited for: the OS ran them side by side"
	}
	return ""
}

// compareCPUThreads explains threads computing: in turn under a GIL, on
// several cores without one, as far as the CPU per wall time shows.
func (j *judge) compareCPUThreads(tasks int, use float64, thread, threads string) string {
	n := plural(tasks, thread, threads)
	if j.gil() && use < ParallelMin {
		return n + ", one per task, took turns holding the GIL: one core's worth of CPU at a time"
	}
	ideal := min(tasks, j.Cores)
	if ideal >= 2 && use >= FullShare*float64(ideal) {
		j.res.Claims.Cores = ideal
		no := "no GIL"
		if j.Engine == "go" {
			no = "Go has no GIL (CPython threads would take turns)"
		}
		return fmt.Sprintf("%s, one per task, computed on %d cores at once: %s", n, ideal, no)
	}
	return fmt.Sprintf("%s, one per task, had %d cores to compute on but used %.2f cores' worth of CPU per second%s", n, ideal, use, j.loadClause())
}

// parallelNote adds to a process model's explanation how parallel it was,
// when it fell short of ideal cores.
func (j *judge) parallelNote(ideal int, use float64) string {
	if ideal < 2 || use >= FullShare*float64(ideal) || j.Summary.WallNS < ShortRunNS {
		return ""
	}
	return fmt.Sprintf("; they had %d cores to compute on but used %.2f cores' worth of CPU per second%s", ideal, use, j.loadClause())
}

// loadClause names a busy machine as the reason, when it was.
func (j *judge) loadClause() string {
	if other := j.m("other_load"); other >= LoadMin {
		j.res.Claims.Causes = append(j.res.Claims.Causes, CauseOtherLoad)
		return fmt.Sprintf(", because the machine was busy (other processes used %.2f cores)", other)
	}
	return ""
}
