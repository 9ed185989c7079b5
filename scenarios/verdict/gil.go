package verdict

import "fmt"

// gil metrics: threads, cores, wall and sequential (threads × size) in ms,
// speedup (absent with one thread), switch_ms, handoffs, gil_wait_pct (%),
// handoff_median (ms, measured hold between hand-offs); with the I/O thread
// io_latency_alone, io_latency_median, io_latency_max (ms) and io_reads.
func init() { judges["gil"] = (*judge).gil_ }

// NearSwitch bounds how far the measured hand-off may be from the switch
// interval (a factor either way) to be called "near" it.
const NearSwitch = 2.0

// ConvoyMin is how many times its wait alone the I/O thread must wait next
// to the CPU threads for the verdict to call it the convoy effect.
const ConvoyMin = 2.0

func (j *judge) gil_() {
	threads := int(j.m("threads"))
	if threads == 0 {
		threads = j.Params.Int("threads")
	}
	speedup, switchMS := j.m("speedup"), j.m("switch_ms")
	io := j.gilIO()
	// A free-threaded CPython has no GIL: its threads may compute at once.
	modelled := j.Engine == "go"
	if !modelled && !j.gil() && threads > 1 {
		ideal := min(threads, j.Cores)
		clause, full := j.parallelism(ideal, speedup)
		j.say("This CPython has no GIL to hand over: %d CPU threads %s: %s.", threads, clause, j.cpuPace(speedup, "one thread doing all the work"))
		if !full && ideal >= 2 {
			j.short(float64(ideal))
			seq := j.m("sequential")
			j.add(fmt.Sprintf("That is short of the %s that %d cores can give; %s.", X(float64(ideal)), ideal, j.explain(j.wallMS()-seq/float64(ideal), j.cpuCosts(float64(ideal), seq))))
		}
		j.add(io)
		return
	}
	switch {
	case threads == 1:
		j.say("One CPU thread kept the GIL to itself: nobody asked for it, so no hand-off happened.%s", io)
		return
	case !j.has("handoff_median"):
		j.say("%d CPU threads ran at %s of one thread's speed, with no hand-off measured.%s", threads, X(speedup), io)
		j.res.Claims.Speedup = speedup
		return
	}
	hold := j.m("handoff_median")
	near := hold <= NearSwitch*switchMS && hold >= switchMS/NearSwitch
	pace := j.cpuPace(speedup, "one thread doing all the work")
	short := j.turnShortfall(j.wallMS(), j.m("sequential"), speedup)
	if short != "" {
		short = " " + short
	}
	if near {
		j.say("%d CPU threads took turns holding the GIL on %d cores: %s, each holding it %s (median, measured) before handing over, near the %s switch interval.%s%s",
			threads, j.Cores, pace, fmtMS(hold), fmtMS(switchMS), short, io)
		return
	}
	why := "what this run measured does not show why"
	if note := j.loadNote(); note != "" {
		why = fmt.Sprintf("the machine was busy (other processes used %.2f cores while it ran)", j.m("other_load"))
	}
	rel := "longer"
	if hold < switchMS {
		rel = "shorter"
	}
	j.say("%d CPU threads took turns holding the GIL on %d cores: %s, but each held it %s (median, measured) before handing over, %s than the %s switch interval; %s.%s%s",
		threads, j.Cores, pace, fmtMS(hold), rel, fmtMS(switchMS), why, short, io)
}

// gilIO is the sentence about the I/O thread, "" without one.
func (j *judge) gilIO() string {
	if !j.has("io_latency_median") {
		return ""
	}
	next, alone := j.m("io_latency_median"), j.m("io_latency_alone")
	if next >= ConvoyMin*alone && next >= 0.5 {
		return fmt.Sprintf(" The I/O thread waited %s (median) to run again after each read next to them, against %s alone: it waits for the GIL every time its I/O is done (the convoy effect).", fmtMS(next), fmtMS(alone))
	}
	return fmt.Sprintf(" The I/O thread waited %s (median) to run again after each read next to them, about as long as alone (%s).", fmtMS(next), fmtMS(alone))
}

// fmtMS renders a ms value with the precision it needs: "3 µs", "0.07 ms",
// "5.02 ms", "120 ms".
func fmtMS(ms float64) string {
	switch {
	case ms < 0.05:
		return Millis(ms)
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return Millis(ms)
}
