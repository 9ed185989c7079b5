package verdict

import (
	"fmt"
	"strings"
)

// pools metrics: tasks, chunks, chunksize (tasks handed out at a time, as
// the API really did), executions, ran_once, ran_more, never_ran, wall
// (ms), starts (workers started), startup_total and startup_max (ms; absent
// for threads, which start in microseconds); with reused workers also
// idle_tail_max (ms), idle_tail_pct (%), tasks_per_max and tasks_per_min.
func init() { judges["pools"] = (*judge).pools }

// UnevenTail is the share of the workers' time idle at the tail (%) past
// which a verdict calls the balance uneven.
const UnevenTail = 20

func (j *judge) pools() {
	tasks, workers := int(j.m("tasks")), j.Params.Int("workers")
	if tasks == 0 {
		tasks = j.Params.Int("tasks")
	}
	once, more, never := int(j.m("ran_once")), int(j.m("ran_more")), int(j.m("never_ran"))
	if once != tasks {
		j.say("%d of %d tasks ran exactly once; %d ran more than once and %d never ran.", once, tasks, more, never)
		return
	}
	processes := j.Params.String("kind") == "processes"
	starts := int(j.m("starts"))
	what := j.workerWord(starts)
	if processes {
		what = plural(starts, "worker process", "worker processes")
	}
	ignored := ""
	chunk := int(j.m("chunksize"))
	if chunk == 0 {
		chunk = j.Params.Int("chunksize")
	}
	if asked := j.Params.Int("chunksize"); chunk < asked {
		ignored = fmt.Sprintf(" (ThreadPoolExecutor.map ignores chunksize=%d: it hands out one task at a time.)", asked)
	}
	startup := j.has("startup_total") && j.m("startup_total") > 0
	reuse := j.Params.Bool("reuse")
	switch {
	case !reuse && startup:
		j.say("Every one of the %d tasks ran exactly once, but without reuse %s cost %s of start-up in total (%s each) in %s of wall time: a pool starts its %d workers once.%s",
			tasks, fresh(what), Millis(j.m("startup_total")), Millis(j.m("startup_total")/float64(max(starts, 1))), Millis(j.wallMS()), workers, ignored)
	case !reuse:
		j.say("Every one of the %d tasks ran exactly once on %s, one per chunk; a %s starts in microseconds, so reuse matters little for it.%s",
			tasks, fresh(what), j.threadWord(), ignored)
	case chunk > 1 && j.m("idle_tail_pct") > UnevenTail:
		j.say("Every one of the %d tasks ran exactly once, but the tail was uneven: with chunks of %d, workers sat idle %.0f%% of the time (up to %s) while the last chunks finished.%s",
			tasks, chunk, j.m("idle_tail_pct"), Millis(j.m("idle_tail_max")), ignored)
	default:
		paid := ""
		if startup {
			paid = fmt.Sprintf(" start-up was paid %d times (%s in all) and", starts, Millis(j.m("startup_total")))
		}
		j.say("Every one of the %d tasks ran exactly once on %d reused %s (%d to %d tasks each);%s the tail left workers idle %.0f%% of the time.%s",
			tasks, starts, j.workerKind(processes, starts), int(j.m("tasks_per_min")), int(j.m("tasks_per_max")), paid, j.m("idle_tail_pct"), ignored)
	}
	j.add(j.loadNote())
}

// threadWord is a thread of this engine, in the singular.
func (j *judge) threadWord() string {
	if j.Engine == "go" {
		return "goroutine"
	}
	return "thread"
}

// workerKind names n workers of a pool without the count.
func (j *judge) workerKind(processes bool, n int) string {
	switch {
	case processes && n == 1:
		return "worker process"
	case processes:
		return "worker processes"
	case n == 1:
		return j.threadWord()
	}
	return j.threadWord() + "s"
}

// fresh turns "40 worker processes" into "40 fresh worker processes".
func fresh(counted string) string {
	n, rest, _ := strings.Cut(counted, " ")
	return n + " fresh " + rest
}
