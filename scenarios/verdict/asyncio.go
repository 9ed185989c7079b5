package verdict

import "fmt"

// asyncio metrics: tasks, wall, wait (ms), iterations, loop_busy (ms, the
// blocking call excluded), latency_median, latency_max, delay_min (ms, of the
// tasks that awaited), busy_per_task (µs), and stall (ms) when a blocking
// call stalled the loop.
func init() { judges["asyncio"] = (*judge).asyncio }

// AboutOneWait is how many waits' time a thousand concurrent waits may take
// and still be "about one wait".
const AboutOneWait = 1.5

func (j *judge) asyncio() {
	tasks, wait := int(j.m("tasks")), j.m("wait")
	if tasks == 0 {
		tasks = j.Params.Int("tasks")
	}
	if wait == 0 {
		wait = j.Params.Float("wait_ms")
	}
	thread := "one thread"
	if j.Engine == "go" {
		thread = "one goroutine (the modelled loop)"
	}
	busy, perTask := j.m("loop_busy"), j.m("busy_per_task")
	if !j.has("latency_max") {
		j.say("The only task made a blocking call: the loop was stalled %s and could do nothing else.", Millis(j.m("stall")))
		return
	}
	worst, waiters := j.m("latency_max"), tasks
	if j.Params.Bool("blocking") {
		waiters--
	}
	if stall := j.m("stall"); stall > 0 {
		call := "a blocking call"
		cure := ""
		if j.Engine != "go" {
			call, cure = "time.sleep", " Await it instead (asyncio.to_thread)."
		}
		j.say("Task 1 blocked the loop for %s with %s: nothing else runs until it returns, so the %s finished at least %s later than their %s wait.%s",
			Millis(stall), call, plural(waiters, "other task", "other tasks"), Millis(j.m("delay_min")), Millis(wait), cure)
		return
	}
	tail := ""
	if j.Params.Bool("blocking") && j.Params.Bool("to_thread") {
		tail = " The blocking call ran in a worker thread (asyncio.to_thread), so it stalled nobody."
	}
	waits := worst / max(wait, 1e-9)
	if waits <= AboutOneWait {
		j.say("%s each waited %s at the same time on %s and all finished within %s, about one wait: the loop was busy only %s in all (%.1f µs per task); a waiting task costs almost nothing.%s",
			capital(plural(waiters, "task", "tasks")), Millis(wait), thread, Millis(worst), Millis(busy), perTask, tail)
		return
	}
	j.short(1)
	delay := worst - wait
	why := j.explain(delay, []cost{{CauseLoopBusy, busy, fmt.Sprintf("the loop running the steps of %d tasks (%s in all, %.1f µs per task)", tasks, Millis(busy), perTask)}})
	if j.res.Claims.Unexplained {
		why += j.busyClause()
	}
	j.say("%s each waited %s at the same time on %s, but the last finished only after %s (%.1f waits), not about one wait; %s.%s",
		capital(plural(waiters, "task", "tasks")), Millis(wait), thread, Millis(worst), waits, why, tail)
}
