package verdict

import "fmt"

// mental-model metrics: wall and sequential (tasks × size) in ms, speedup
// (absent in sequence or with one task), tasks, cores; the summary's CPU
// time covers the same work as its wall time.
func init() { judges["mental-model"] = (*judge).mentalModel }

func (j *judge) mentalModel() {
	tasks, work, mode := j.Params.Int("tasks"), j.Params.String("work"), j.Params.String("mode")
	wall, seq := j.wallMS(), j.m("sequential")
	speedup := j.m("speedup")
	switch {
	case tasks == 1:
		j.say("A single task has nothing to overlap with: it took %s for %s of work.", Millis(wall), Millis(seq))
		j.add(j.loadNote())
		return
	case mode == "sequential":
		j.say("One after another, the %d tasks took %s: the sum of their times (%s of work).", tasks, Millis(wall), Millis(seq))
		j.add(j.loadNote())
		return
	case work == "io":
		j.mentalModelWaits(tasks, wall, seq, speedup)
		return
	}
	// CPU work: one core's worth at a time (GOMAXPROCS=1 on go, the GIL on
	// CPython) unless the tasks may run on several cores.
	oneCore := mode == "concurrent" && (j.Engine == "go" || j.gil())
	if oneCore {
		why := "GOMAXPROCS=1 gave the goroutines one core"
		if j.gil() {
			why = "the GIL let one thread run Python code at a time"
		}
		if use := j.cpuPerWall(); use >= ParallelMin {
			// Not what the mode allows: say what was measured.
			j.say("Concurrency: all %d tasks were in progress at once and used %.2f cores' worth of CPU per second, %s.", tasks, use, j.cpuPace(speedup, "in sequence"))
			return
		}
		j.say("Concurrency without parallelism: all %d tasks were in progress at once, but %s, so they computed in turn: %s.", tasks, why, j.cpuPace(speedup, "in sequence"))
		j.add(j.turnShortfall(wall, seq, speedup))
		return
	}
	ideal := min(tasks, j.Cores)
	what := "processes"
	switch {
	case j.Engine == "go":
		what = "goroutines"
	case mode == "concurrent":
		what = "threads (no GIL)"
	}
	clause, full := j.parallelism(ideal, speedup)
	limit := ""
	if tasks > ideal {
		limit = fmt.Sprintf(" With %d tasks on %d cores, at most %d computed at a time.", tasks, j.Cores, ideal)
	}
	if full {
		j.say("Parallelism: the %d %s %s, %s.%s", tasks, what, clause, j.cpuPace(speedup, "in sequence"), limit)
		return
	}
	if ideal < 2 {
		j.say("With one core there is no parallelism: the %d %s computed in turn, %s.", tasks, what, j.cpuPace(speedup, "in sequence"))
		return
	}
	j.short(float64(ideal))
	shortMS := wall - seq/float64(ideal)
	why := j.explain(shortMS, j.cpuCosts(float64(ideal), seq))
	j.say("The %d %s had %d cores to compute on but %s: %s, short of the %s that %d cores can give; %s.%s",
		tasks, what, ideal, clause, j.cpuPace(speedup, "in sequence"), X(float64(ideal)), ideal, why, limit)
}

// mentalModelWaits judges tasks that wait: waits overlap on any number of
// cores, so concurrency alone should give about tasks x.
func (j *judge) mentalModelWaits(tasks int, wall, seq, speedup float64) {
	if speedup >= FullShare*float64(tasks) {
		j.say("The %d tasks waited at the same time, so concurrency alone made them %s: waiting needs no core.", tasks, j.pace(speedup, "one after another"))
		return
	}
	j.short(float64(tasks))
	why := j.explain(wall-seq/float64(tasks), nil)
	j.say("The %d tasks' waits overlapped only partly: %s, short of the %s that %d overlapping waits can give; %s.", tasks, j.pace(speedup, "one after another"), X(float64(tasks)), tasks, why)
}
