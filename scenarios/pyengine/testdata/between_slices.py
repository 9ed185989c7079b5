"""What a little Python between slices of work costs, without the harness.

threads (env T, default 2) threads compute size (env SIZE, default 800) ms of
the harness's former work function each (it allocates an int per step;
the harness's work now allocates nothing, see gil_slices.py SPIN=alloc),
in 100 µs slices, under the GIL with a 5 ms
switch interval, as plain_threads.py does. After every 16th slice each
thread runs, by MODE:

* none: nothing (the reference).
* clocks: its CPU clock and the process's (two system calls, as the
  harness's full check reads them).
* noalloc: about 11 µs of Python that allocates nothing (small ints and an
  attribute store).
* alloc: about 11 µs of Python that allocates (an instance, a dict's values,
  tuples, strings, a sorted list), as the harness's check and events do.

It prints the wall time in ms. Run by hand from scenarios/pyengine, the modes
alternated and rotated (docs/performance.md, "The observer under the GIL"):

	MODE=alloc python3 -B testdata/between_slices.py
"""

import os
import sys
import threading
import time

MODE = os.environ.get("MODE", "none")
THREADS = int(os.environ.get("T", "2"))
PER_MS = 20_000
UNITS, PIECE = int(os.environ.get("SIZE", "800")) * PER_MS, PER_MS // 10
pc = time.perf_counter_ns


def spin(n):  # the harness's work function until 2026-12-04 (an int allocated per step)
    x = 0
    for i in range(n):
        x = (x + i * i) % 1000003
    return x


class Record:
    __slots__ = ("a", "b", "c")

    def __init__(self):
        self.a, self.b, self.c = 1, 2, 3


table = {}
lock = threading.Lock()
shared = Record()


def alloc():
    r = Record()
    for k in range(20):
        table[k] = (r.a + k, r.b * k, "x%d" % k)
        r.c = max(r.a, k) - min(r.b, k)
    with lock:
        return sorted(table.items())[:3]


def noalloc():
    t = 0
    for _ in range(3):
        r = shared
        for _ in range(150):
            t = (t + r.a) & 255
            r.c = r.b
    return t


def clocks():
    time.thread_time_ns()
    time.process_time_ns()


BETWEEN = {"none": None, "clocks": clocks, "noalloc": noalloc, "alloc": alloc}[MODE]


def work(barrier):
    barrier.wait()
    done = k = 0
    while done < UNITS:
        n = min(PIECE, UNITS - done)
        spin(n)
        done += n
        k += 1
        if BETWEEN is not None and k % 16 == 0:
            BETWEEN()


def main():
    sys.setswitchinterval(0.005)
    barrier = threading.Barrier(THREADS + 1)
    threads = [threading.Thread(target=work, args=(barrier,)) for _ in range(THREADS)]
    for t in threads:
        t.start()
    start = pc()
    barrier.wait()
    for t in threads:
        t.join()
    print((pc() - start) // 1_000_000)


if __name__ == "__main__":
    main()
