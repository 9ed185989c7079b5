package verdict

// locks metrics: expected, actual, lost, lost_pct, lock_wait (ms, all
// workers), wait_share (%); on CPython also contended and gil_waits (times a
// worker waited for the GIL while another counted).
func init() { judges["locks"] = (*judge).locks }

func (j *judge) locks() {
	workers, useLock, pause := j.Params.Int("workers"), j.Params.Bool("lock"), j.Params.Bool("yield")
	naive := j.Params.String("variant") == "naive"
	expected, lost := int64(j.m("expected")), int64(j.m("lost"))
	switch {
	case lost > 0 && useLock:
		j.say("%d of %d updates were lost although every update took the lock: the lock did not cover the whole read-modify-write.", lost, expected)
	case lost > 0:
		how := "two workers read the same value and both wrote back that value plus one"
		switch {
		case naive && j.freeThreaded():
			how = "with no GIL, threads on different cores ran counter += 1 at the same instant, read the same value and both wrote back that value plus one. The GIL build almost never loses one here: a thread gives the GIL up only at a backward jump or a call, never between the read and the write of counter += 1"
		case naive:
			how = "a thread was switched out inside counter += 1, between its read and its write, so two threads wrote back the same value"
		}
		j.say("Without a lock, %d of %d updates (%.1f%%) were lost: %s.", lost, expected, 100*float64(lost)/float64(max(expected, 1)), how)
	case useLock:
		j.say("With the lock no update was lost (%d of %d); the workers spent %s in total waiting for it (%.1f%% of their time): the price of correctness.",
			expected, expected, Millis(j.m("lock_wait")), j.m("wait_share"))
	case workers == 1:
		j.say("One worker cannot race with itself: no update was lost.")
	case naive && j.freeThreaded():
		j.say("No update was lost this time, but nothing prevents it: without a GIL the threads may run counter += 1 at the same instant on different cores, and these happened not to overlap (look at their lanes: one after another, as when the other core is busy elsewhere). Run it again, or raise increments.")
	case naive && j.has("gil_waits") && j.m("gil_waits") < 2:
		j.say("No update was lost, but the workers hardly ran at the same time (%.0f GIL hand-offs): raise increments to see them interleave.", j.m("gil_waits"))
	case naive:
		j.say("No update was lost although the threads handed the GIL over %.0f times, but not because counter += 1 is atomic: CPython 3.10+ switches threads only at a backward jump or a call, never between the load and the store of this statement. That is an accident of the implementation, not a guarantee; use a lock (or try variant=rmw).", j.m("gil_waits"))
	case !pause && j.gil():
		j.say("No update was lost this time: without a pause the read and the write are a few bytecodes apart with no call between them, so the GIL was never handed over in between. Nothing prevents it: try yield=true.")
	case !pause:
		j.say("No update was lost this time, but nothing prevents it: the read-modify-write was not protected. Try yield=true, which widens the window between read and write.")
	default:
		j.say("No update was lost this time, but nothing prevents it: the read-modify-write was not protected and the workers happened not to interleave (look at their lanes: one after another, as when the other core is busy elsewhere). Run it again.")
	}
}
