"""Where the observer's cost under the GIL goes: every slice of CPU work, timed.

threads (env T, default 2) threads compute size (env SIZE, default 500) ms of
the harness's work each, in 100 µs slices, under the GIL with a 5 ms switch
interval. Each slice's end is read with perf_counter_ns in both modes:

* MODE=plain: the slices and nothing else (as plain_threads.py computes).
* MODE=harness: the loop of harness_running.cpu(), verbatim (the fast path,
  the full check every 16 slices or after a slow slice, the GIL ledger and
  its events), with the slice's end recorded the same way.
* MODE=store and MODE=local bisect the fast path: the plain loop plus its
  store to a module global, or plus its compare and counter (on locals).

SPIN=alloc replaces the harness's work (which allocates nothing) by the
one it used until 2026-12-04, x = (x + i * i) % 1000003 over range(n),
which allocates an int at every step, in every mode: with it the
harness's slices are 7-13 % slower than plain ones, without it about 1-2 %.

It prints the median and mean duration of the slices that hold no wait
(under 1 ms: the thread computed throughout), the slices after a hand-off,
the time no thread computed, the wall time and the hand-offs seen. Run by
hand from scenarios/pyengine, alternating the modes:

	PYTHONPATH=. MODE=plain python3 -B testdata/gil_slices.py 3>/dev/null
	PYTHONPATH=. MODE=harness python3 -B testdata/gil_slices.py 3>/dev/null

Figures in docs/performance.md ("The observer under the GIL")."""

import os
import statistics
import sys
import threading
import time

import harness as h
import harness_running as hr

MODE = os.environ.get("MODE", "plain")
THREADS = int(os.environ.get("T", "2"))
ALLOC = os.environ.get("SPIN") == "alloc"
PER_MS = 20_000 if ALLOC else 45_000  # about a ms of one core here
UNITS, PIECE = int(os.environ.get("SIZE", "500")) * PER_MS, PER_MS // 10
WAIT_NS = 1_000_000  # a slice longer than this held a wait (a hand-off)

pc = time.perf_counter_ns
spin = hr._spin
if ALLOC:

    def spin(n):  # the harness's work until 2026-12-04: an int allocated per step
        x = 0
        for i in range(n):
            x = (x + i * i) % 1000003
        return x


ends = {}


def plain(i):
    ts = []
    add = ts.append
    done = 0
    while done < UNITS:
        spin(PIECE)
        done += PIECE
        add(pc())
    ends[i] = ts


def store(i):
    """The plain loop plus the fast path's one store to a module global
    (harness_running._proof), nothing else: MODE=store."""
    ts = []
    add = ts.append
    done = 0
    while done < UNITS:
        spin(PIECE)
        done += PIECE
        w = pc()
        add(w)
        hr._proof = w
    ends[i] = ts


def local(i):
    """The plain loop plus the fast path's compare and counter, with the
    proof kept in a local instead of the module: MODE=local."""
    ts = []
    add = ts.append
    done = fast = proof = 0
    last = pc()
    quick = 10**9
    while done < UNITS:
        spin(PIECE)
        done += PIECE
        w = pc()
        add(w)
        if w - last < quick and fast < 1 << 30:
            last = w
            proof = w
            fast += 1
            continue
    ends[i] = ts


def harness(i):
    """harness_running.cpu()'s loop, recording each slice's end."""
    lane = h.thread_lane("t%d" % i, "thread %d" % i)
    h.state(lane, "running", "computing")
    ts = []
    add = ts.append
    gaps = hr.Gaps(lane, "computing")
    rec, check = gaps.rec, gaps._check
    quick = gaps.threshold + hr._SLICE_NS // 2
    done = fast = 0
    last = gaps.last
    while done < UNITS:
        spin(PIECE)
        done += PIECE
        w = pc()
        add(w)
        if w - last < quick and fast < hr._FULL_EVERY and hr._holder is rec:
            last = w
            hr._proof = w
            fast += 1
            continue
        last = check(w, last)
        fast = 0
    h.state(lane, "done")
    ends[i] = ts


def main():
    sys.setswitchinterval(0.005)
    h.calibrate(PER_MS)
    h._await_recorder()  # its start-up (tens of ms) must not fall in the measured window
    work = {"plain": plain, "store": store, "local": local, "harness": harness}[MODE]
    barrier = threading.Barrier(THREADS + 1)

    def run(i):
        barrier.wait()
        work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    start = pc()
    barrier.wait()
    for t in threads:
        t.join()
    wall = pc() - start

    steady, after, computing = [], [], []
    handoffs = 0
    for ts in ends.values():
        prev, waited = start, False
        for w in ts:
            d = w - prev
            if d >= WAIT_NS:
                handoffs += 1
                waited = True
            else:
                (after if waited else steady).append(d)
                computing.append((prev, w))
                waited = False
            prev = w
    computing.sort()
    covered, cur = 0, None
    for s, e in computing:
        if cur is None or s > cur[1]:
            covered += cur[1] - cur[0] if cur else 0
            cur = [s, e]
        else:
            cur[1] = max(cur[1], e)
    covered += cur[1] - cur[0] if cur else 0
    us = lambda v: statistics.median(v) / 1e3 if v else 0
    print("%s threads=%d: slices median %.1f µs, mean %.1f µs; first slice after a hand-off %.1f µs; "
          "no thread computing %.1f ms; wall %.1f ms; hand-offs %d" % (
              MODE, THREADS, us(steady), statistics.mean(steady) / 1e3 if steady else 0, us(after),
              (wall - covered) / 1e6, wall / 1e6, handoffs))
    h.end({})


if __name__ == "__main__":
    main()
