"""deadlock on CPython: threads that take two locks in opposite order.

Worker 1 takes lock_a, then lock_b; worker 2 takes lock_b, then lock_a (with
more workers, each takes its own lock, then its neighbour's: a ring). If
each holds its first lock when it asks for its second, each waits for a
lock the other holds, and neither can ever go on: a deadlock. With
order=fixed every worker takes the locks in one global order (lock_a before
lock_b), so no cycle of waits can form.

The locks are the stepper's (stepper.Lock): it knows who holds each one and
who waits, so the deadlock is detected (every live thread waits for a lock
another holds) and the run ends saying so, instead of hanging. With
step=true (or a schedule) the learner picks the thread that runs each line
of transfer(); otherwise the threads run freely.
"""

import harness as h
import stepper

transfers = 0


def transfer(first, second, rounds):
    """Each round takes both locks, first then second, and moves one item."""
    global transfers
    for i in range(rounds):
        first.acquire()
        stepper.pause(0.001)  # work while holding first (running freely, the other thread takes its own first lock)
        second.acquire()
        transfers += 1
        second.release()
        first.release()


def lock_name(i):
    return "lock_" + chr(ord("a") + i)


def main():
    workers, rounds, order = h.param("workers", 2), h.param("rounds", 1), h.param("order", "opposite")

    def setup():
        global transfers
        transfers = 0
        locks = [stepper.Lock(lock_name(i)) for i in range(workers)]
        specs = []
        for i in range(workers):
            first, second = locks[i], locks[(i + 1) % workers]
            if order == "fixed" and second.name < first.name:
                first, second = second, first
            specs.append((transfer, (first, second, rounds)))
        return specs

    def outcome(ex):
        return {"deadlock": ex.deadlock is not None, "transfers": transfers}

    def summarize(ex, out):
        cycle = ex.cycle_text() if ex.deadlock else ""
        h.end({
            "metrics": {
                "deadlock": h.metric(1 if ex.deadlock else 0, "", "deadlock: " + cycle if cycle else "deadlock (1: the threads were stuck)"),
                "cycle": h.metric(len(ex.deadlock or []), "", "threads in the cycle of waits"),
                "transfers": h.metric(out["transfers"], "", "transfers made (both locks held)"),
                "expected": h.metric(workers * rounds, "", "transfers expected (workers × rounds)"),
                "steps": h.metric(ex.n, "", "lines stepped (by the schedule and the learner)"),
            },
            "verdict": verdict(cycle, order, out["transfers"], workers * rounds),
        })

    stepper.run(setup, outcome, summarize, shared=("transfers",))


def verdict(cycle, order, transfers, expected):
    if cycle:
        return ("Deadlock: %s. Each thread holds the lock the next one needs, so none can go on; "
                "taking the locks in one fixed order prevents it." % cycle)
    if order == "fixed":
        return ("No deadlock: all %d transfers were made. Every thread took the locks in the same order, so "
                "no thread can hold a lock another one needs while it waits for one that one holds." % transfers)
    return ("No deadlock this time (%d of %d transfers): each thread had both locks before another took its "
            "first. Nothing prevents it: with opposite orders another interleaving deadlocks." % (transfers, expected))


if __name__ == "__main__":
    main()
