package verdict

import (
	"fmt"
	"math"
	"strings"
)

// multiprocessing metrics: workers, wall and sequential (workers × size) in
// ms, speedup (absent with one worker), startup_mean and startup_max (ms),
// serialization (ms, both sides, all workers) and serialization_main (ms, of
// it in the main process, one worker after another), compute_mean (ms,
// measured wall time of one worker's computing), payload_values,
// results_ok; with processes also bytes_sent and bytes_received (KiB, all
// workers together), rss_worker_max and rss_runner (MiB).
func init() { judges["multiprocessing"] = (*judge).multiprocessing }

func (j *judge) multiprocessing() {
	n, size := int(j.m("workers")), float64(j.Params.Int("size"))
	if n == 0 {
		n = j.Params.Int("workers")
	}
	if ok := int(j.m("results_ok")); ok < n {
		j.say("Only %d of %d results came back correct.", ok, n)
		return
	}
	wall, seq, speedup := j.wallMS(), j.m("sequential"), j.m("speedup")
	if j.Params.String("mode") == "threads" {
		j.multiprocessingThreads(n, speedup)
		return
	}
	encode := "pickling"
	if j.Engine == "go" {
		encode = "gob encoding"
	}
	sent := int64(math.Round(j.m("bytes_sent") * 1024 / float64(max(n, 1))))
	received := int64(math.Round(j.m("bytes_received") * 1024 / float64(max(n, 1))))
	defer func() {
		if strings.Contains(j.res.Sentence, Bytes(sent)+" to each") || strings.Contains(j.res.Sentence, "sent "+Bytes(sent)) {
			j.res.Claims.Bytes = sent
		}
	}()
	payload := fmt.Sprintf("%s to each worker and %s back", Bytes(sent), Bytes(received))
	start, startComma := "", ""
	if s := j.Params.String("start"); s != "" {
		start, startComma = " ("+s+")", ", "+s
	}
	startup, serial := j.m("startup_max"), j.m("serialization")
	costs := fmt.Sprintf("up to %s of start-up per process%s and %s of %s (%s)", Millis(startup), start, Millis(serial), encode, payload)
	if n == 1 {
		j.say("One worker process only adds costs to doing the work in place: it took %s for %s of work, adding %s.", Millis(wall), Millis(seq), costs)
		j.add(j.loadNote())
		return
	}
	ideal := min(n, j.Cores)
	memory := ""
	if rss := j.m("rss_worker_max"); rss > 0 {
		memory = fmt.Sprintf(", and %.0f MiB of memory per process", rss)
	}
	limit := ""
	if n > ideal {
		limit = fmt.Sprintf(" With %d processes on %d cores, at most %d computed at a time.", n, j.Cores, ideal)
	}
	clause, full := j.parallelism(ideal, speedup)
	if full {
		j.say("%d processes, each with its own interpreter, %s: %s, paid for with %s%s.%s",
			n, clause, j.cpuPace(speedup, "in sequence"), costs, memory, limit)
		return
	}
	if ideal < 2 {
		j.say("With one core, %d processes computed in turn: %s, and paid %s.", n, j.cpuPace(speedup, "in sequence"), costs)
		return
	}
	j.short(float64(ideal))
	if n > ideal {
		j.res.Claims.Causes = append(j.res.Claims.Causes, CauseOversubscribed)
	}
	main := j.m("serialization_main")
	critical := main + (serial-main)/float64(n)
	list := []cost{
		{CauseStartup, startup, fmt.Sprintf("start-up (up to %s per process%s)", Millis(startup), startComma)},
		{CauseSerialization, critical, fmt.Sprintf("%s (%s on the critical path for %s)", encode, Millis(critical), payload)},
	}
	load := j.loadCosts(float64(ideal), seq)
	list = append(list, load...)
	if len(load) == 0 && !j.has("compute_mean") {
		list = append(list, j.cpuCosts(float64(ideal), seq)...)
	}
	if len(load) == 0 && j.has("compute_mean") {
		// Without a measure of the machine's load, the workers' own
		// computing shows whether they had whole cores: time-sliced on
		// ideal cores, each should take size × n / ideal.
		alone := size * float64(n) / float64(ideal)
		if slow := j.m("compute_mean") - alone; slow > 0 {
			cause, why := CauseSlowCompute, "the cores were not all theirs"
			if s := j.m("slowest_core"); s > 0 && s <= UnequalMax {
				cause, why = CauseUnequalCores, j.unequalWords(s)
			}
			list = append(list, cost{cause, slow,
				fmt.Sprintf("slower computing (each worker's %s of work took %s: %s)", Millis(size), Millis(j.m("compute_mean")), why)})
		}
	}
	why := j.explain(wall-seq/float64(ideal), list)
	j.say("%d processes had %d cores to compute on but %s: %s, short of the %s that %d cores can give; %s.%s",
		n, ideal, clause, j.cpuPace(speedup, "in sequence"), X(float64(ideal)), ideal, why, limit)
	if !strings.Contains(j.res.Sentence, payload) {
		j.add(fmt.Sprintf("Each worker was sent %s and sent %s back (%s).", Bytes(sent), Bytes(received), encode))
	}
}

// multiprocessingThreads judges mode=threads: no start-up, nothing copied,
// and parallel computing only without a GIL.
func (j *judge) multiprocessingThreads(n int, speedup float64) {
	startup := Millis(j.m("startup_max"))
	if n == 1 {
		j.say("One thread of the same process did the work: nothing was copied and it started within %s.", startup)
		return
	}
	if j.gil() {
		use := j.cpuPerWall()
		if use < ParallelMin {
			pace, off := j.noMeasure(speedup)
			if !off {
				pace = X(speedup) + " of the speed of one thread doing all the work"
			}
			j.say("%d threads shared one process: nothing was pickled and each started within %s, but the GIL let one compute at a time (%.2f cores' worth of CPU per second): %s.",
				n, startup, use, pace)
			j.res.Claims.Speedup = speedup
			return
		}
	}
	ideal := min(n, j.Cores)
	clause, _ := j.parallelism(ideal, speedup)
	word := "threads"
	if j.Engine == "go" {
		word = "goroutines"
	}
	j.say("%d %s shared one process: nothing was copied, each started within %s, and they %s: %s.", n, word, startup, clause, j.cpuPace(speedup, "in sequence"))
}
