"""locks on CPython: worker threads add one to a shared counter, many times.

variant=rmw spells the read-modify-write out: read the counter into a local,
optionally pause (time.sleep(0), which releases the GIL and lets another
thread run), write it back plus one. Two threads that both read before
either writes, write the same value: one update is lost.

variant=naive is `counter += 1`. It is a read-modify-write too (LOAD_GLOBAL,
BINARY_OP, STORE_GLOBAL) and nothing guarantees it is atomic, but CPython
3.10+ only lets a thread drop the GIL at certain points of the eval loop
(a backward jump, a call): never between that load and that store. So in
practice it rarely loses an update on CPython, by accident of the
implementation. A pause, a function call in between, or a build without the
GIL (3.13t, python-ft) lose updates: there, two threads on two cores read
the counter at the same instant.

With lock=true a threading.Lock guards the read-modify-write: no update is
lost, and the workers queue for the lock (lock-wait spans).

With step=true (or a schedule) the workers run add() or add_locked() below
instead, one line at a time, in the order the learner (or the schedule)
picks: see stepper.py.
"""

import threading
import time

import harness as h
import stepper

counter = 0

CHUNK = 500  # increments between two checks of the GIL-wait measurement
SAMPLE_NS = 2_000_000  # the counter track is sampled about this often


class Shared:
    """What the workers share besides the counter."""

    def __init__(self, use_lock):
        self.lock = h.Lock("counter_lock") if use_lock else None
        self.last_sample = 0
        self.switches = 0  # times a worker had to wait for the GIL
        self.workers = 0  # threads incrementing at once


def worker(n, increments, variant, pause, shared, start):
    global counter
    lane = h.thread_lane("worker-%d" % n, "worker %d" % n, parent="main")
    h.state(lane, "runnable", "waiting for the start")
    start.wait()
    why = {"naive": "counter += 1", "rmw": "read, add one, write back"}[variant]
    if shared.lock:
        why += " (under the lock)"
    lock = shared.lock
    if not h.GIL and lock is None and variant == "naive" and shared.workers > h.cores():
        # Without a GIL, more threads than cores share the cores in slices
        # of a few ms that this tight loop cannot see (it checks the clocks
        # once per chunk of increments): each lane is drawn active, busy
        # with its increments, on a core or waiting for one, not measured.
        h.state(lane, "active", why + "; %d threads share %d cores (who is on one is not measured)" % (shared.workers, h.cores()))
        while increments > 0:
            n_chunk = min(CHUNK, increments)
            for _ in range(n_chunk):
                counter += 1
            increments -= n_chunk
            now = h.now()
            if now - shared.last_sample >= SAMPLE_NS:
                shared.last_sample = now
                h.counter("counter", counter)
        h.state(lane, "done")
        return
    h.state(lane, "running", why)
    gaps = h.Gaps(lane, why)
    done = 0
    while done < increments:
        n_chunk = min(CHUNK, increments - done)
        if variant == "naive" and lock is None:
            for _ in range(n_chunk):
                counter += 1
        elif variant == "naive":
            for _ in range(n_chunk):
                lock.acquire(lane, why, gaps)
                counter += 1
                lock.release()
        else:
            for _ in range(n_chunk):
                if lock:
                    lock.acquire(lane, why, gaps)
                value = counter  # read
                if pause:
                    time.sleep(0)  # releases the GIL: another thread may read the same value
                counter = value + 1  # write back: an update made meanwhile is lost
                if lock:
                    lock.release()
        done += n_chunk
        gaps.check()
        now = h.now()
        if now - shared.last_sample >= SAMPLE_NS:
            shared.last_sample = now
            h.counter("counter", counter)
    shared.switches += len(gaps.spans)
    h.state(lane, "done")


# --- Step runs: the learner, or a schedule, picks the thread that runs each line ---


def add(increments):
    """The read-modify-write a step run steps through, one line at a time."""
    global counter
    for i in range(increments):
        value = counter  # read
        counter = value + 1  # write back: an update made since the read is lost


def add_locked(increments, lock):
    """The same under the lock: a thread that finds it held waits."""
    global counter
    for i in range(increments):
        lock.acquire()
        value = counter  # read
        counter = value + 1  # write back
        lock.release()


def step_run(workers, increments, use_lock):
    """Runs add (or add_locked) in every worker under the stepper."""

    def setup():
        global counter
        counter = 0
        if use_lock:
            lock = stepper.Lock("counter_lock")
            return [(add_locked, (increments, lock))] * workers
        return [(add, (increments,))] * workers

    def outcome(ex):
        return {"lost": workers * increments - counter}

    def summarize(ex, out):
        expected, lost = workers * increments, out["lost"]
        h.end({
            "metrics": {
                "expected": h.metric(expected, "", "expected final value (workers × increments)"),
                "actual": h.metric(counter, "", "actual final value"),
                "lost": h.metric(lost, "", "lost updates"),
                "lost_pct": h.metric(round(100 * lost / expected, 2), "%", "share of updates lost"),
                "steps": h.metric(ex.n, "", "lines stepped (by the schedule and the learner)"),
            },
            "verdict": step_verdict(expected, lost, use_lock),
        })

    stepper.run(setup, outcome, summarize, shared=("counter",))


def step_verdict(expected, lost, use_lock):
    if lost > 0:
        return ("%d of %d updates were lost in this interleaving: two threads read the same value before "
                "either wrote it back, so both wrote back that value plus one." % (lost, expected))
    if use_lock:
        return ("No update was lost (%d of %d): a thread that found the lock held waited until the holder "
                "had written back." % (expected, expected))
    return ("No update was lost in this interleaving (%d of %d): no thread read the counter between another "
            "one's read and its write. Step them so that both read before either writes." % (expected, expected))


def main():
    workers, increments = h.param("workers", 4), h.param("increments", 10000)
    use_lock, pause, variant = h.param("lock", False), h.param("yield", True), h.param("variant", "rmw")
    if stepper.wanted():
        return step_run(workers, increments, use_lock)
    h.lane("main", "thread", "main thread")
    h.counter("counter", 0)
    shared = Shared(use_lock)
    shared.workers = workers
    start = threading.Event()
    threads = [threading.Thread(target=worker, args=(n, increments, variant, pause, shared, start))
               for n in range(1, workers + 1)]
    for t in threads:
        t.start()
    t0 = h.now()
    start.set()
    with h.waiting("main", "blocked", "joining the workers"):
        for t in threads:
            t.join()
    wall = h.now() - t0
    h.state("main", "done")
    h.counter("counter", counter)

    expected = workers * increments
    lost = expected - counter
    waited = shared.lock.waited_ns if shared.lock else 0
    metrics = {
        "expected": h.metric(expected, "", "expected final value (workers × increments)"),
        "actual": h.metric(counter, "", "actual final value"),
        "lost": h.metric(lost, "", "lost updates"),
        "lost_pct": h.metric(round(100 * lost / expected, 2), "%", "share of updates lost"),
        "lock_wait": h.metric(round(waited / 1e6, 2), "ms", "time spent waiting for the lock (all workers)"),
        "wait_share": h.metric(round(100 * waited / max(wall * workers, 1), 2), "%", "share of worker time spent waiting for the lock"),
        "contended": h.metric(shared.lock.contended if shared.lock else 0, "", "acquisitions that had to wait for the lock"),
    }
    if h.GIL:  # a free-threaded build has no GIL to wait for
        metrics["gil_waits"] = h.metric(shared.switches, "", "times a worker waited for the GIL while another one counted (measured)")
    h.end({"wall_ns": wall, "metrics": metrics})


if __name__ == "__main__":
    main()
