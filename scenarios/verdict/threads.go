package verdict

import "fmt"

// threads metrics: wall and sequential (tasks × size) in ms, speedup (absent
// with one worker), mean_task, workers (those that took tasks), cores,
// tasks_done; the summary's CPU time covers the same work as its wall time.
func init() { judges["threads"] = (*judge).threads }

// workerWord is what a worker of this engine is called.
func (j *judge) workerWord(n int) string {
	if j.Engine == "go" {
		return plural(n, "goroutine", "goroutines")
	}
	return plural(n, "thread", "threads")
}

func (j *judge) threads() {
	tasks, work := j.Params.Int("tasks"), j.Params.String("work")
	workers := int(j.m("workers"))
	if workers == 0 {
		workers = min(j.Params.Int("workers"), tasks)
	}
	wall, seq, speedup := j.wallMS(), j.m("sequential"), j.m("speedup")
	if done := int(j.m("tasks_done")); done < tasks {
		j.say("Only %d of %d tasks were done: the run stopped or failed before the rest.", done, tasks)
		return
	}
	if workers <= 1 {
		j.say("One worker did the %d tasks one after another: %s for %s of work; nothing overlapped.", tasks, Millis(wall), Millis(seq))
		j.add(j.loadNote())
		return
	}
	rounds := (tasks + workers - 1) / workers
	if work == "io" {
		what := "waits"
		if j.Params.String("io") == "http" {
			what = "HTTP requests"
		}
		ideal := float64(tasks) / float64(rounds)
		because := "a waiting thread needs no core and releases the GIL"
		if !j.gil() {
			because = "waiting needs no core"
		}
		if speedup >= FullShare*ideal {
			j.say("%s overlapped their %s: %s, because %s.", capital(j.workerWord(workers)), what, j.pace(speedup, "one after another"), because)
			return
		}
		j.short(ideal)
		why := j.explain(wall-seq/ideal, nil)
		j.say("%s overlapped their %s only partly: %s, short of the %s that %d tasks in %d rounds of %d can give; %s.",
			capital(j.workerWord(workers)), what, j.pace(speedup, "one after another"), X(ideal), tasks, rounds, workers, why)
		return
	}
	if j.gil() {
		use := j.cpuPerWall()
		if speedup >= ParallelMin && use >= ParallelMin {
			j.say("%s computing used %.2f cores' worth of CPU per second: %s.", capital(j.workerWord(workers)), use, j.cpuPace(speedup, "one thread"))
			return
		}
		if phrase, off := j.noMeasure(speedup); off {
			// The estimate counted more work than the CPU did: a speedup
			// against it (1.42x under the GIL with 0.98 cores' worth of CPU
			// per second, seen on this VM) measures the calibration.
			j.say("%s used %.2f cores' worth of CPU per second on %d cores: under the GIL only one thread runs Python code at a time, so the others waited instead of using the other cores; %s.",
				capital(j.workerWord(workers)), use, j.Cores, phrase)
			return
		}
		j.say("%s computed at %s the speed of one thread (%.2f cores' worth of CPU per second on %d cores): under the GIL only one thread runs Python code at a time, so the others waited instead of using the other cores.",
			capital(j.workerWord(workers)), X(speedup), use, j.Cores)
		j.res.Claims.Speedup = speedup
		j.add(j.turnShortfall(wall, seq, speedup))
		return
	}
	ideal := min(workers, j.Cores)
	clause, full := j.parallelism(ideal, speedup)
	limit := ""
	if workers > ideal {
		limit = fmt.Sprintf(" With %d workers on %d cores, at most %d computed at a time.", workers, j.Cores, ideal)
	}
	if full {
		j.say("%s %s: %s.%s", capital(j.workerWord(workers)), clause, j.cpuPace(speedup, "one after another"), limit)
		return
	}
	if ideal < 2 {
		j.say("With one core, %s computing took turns: %s.", j.workerWord(workers), j.cpuPace(speedup, "one after another"))
		return
	}
	j.short(float64(ideal))
	why := j.explain(wall-seq/float64(ideal), j.cpuCosts(float64(ideal), seq))
	j.say("%s had %d cores to compute on but %s: %s, short of the %s that %d cores can give; %s.%s",
		capital(j.workerWord(workers)), ideal, clause, j.cpuPace(speedup, "one after another"), X(float64(ideal)), ideal, why, limit)
}

// capital upper-cases the first letter of s.
func capital(s string) string {
	if s == "" {
		return s
	}
	return capitalJoin([]string{s})
}
