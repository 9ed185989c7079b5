"""The work of the observer benchmark's GIL case, plain: no harness. threads
threads start together and each computes units of the harness's work
function in slices of units_per_ms / 10 (the harness's 100 µs slices), as
gil_scenario.py does. It prints the wall time from the start to the last
join and the CPU time the process used meanwhile, in ns."""

import json
import os
import resource
import sys
import threading
import time
from itertools import repeat

PARAMS = json.loads(os.environ.get("INTERLEAVE_SPEC") or "{}").get("params", {})


def spin(n):  # the harness's work function, verbatim
    x = 0
    for _ in repeat(None, n):
        x = (x * 5 + 3) & 31
    return x


def worker(units, piece, barrier):
    barrier.wait()
    done = 0
    while done < units:
        n = min(piece, units - done)
        spin(n)
        done += n


def cpu_ns():
    """Returns the CPU time of this process and its reaped children, in ns."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * 1e9)


def main():
    threads, per_ms = PARAMS["threads"], PARAMS["units_per_ms"]
    units, piece = PARAMS["size"] * per_ms, max(1, per_ms // 10)
    sys.setswitchinterval(PARAMS.get("switch_ms", 5) / 1000)
    barrier = threading.Barrier(threads + 1)
    workers = [threading.Thread(target=worker, args=(units, piece, barrier)) for _ in range(threads)]
    for t in workers:
        t.start()
    cpu, start = cpu_ns(), time.perf_counter_ns()
    barrier.wait()
    for t in workers:
        t.join()
    print(time.perf_counter_ns() - start, cpu_ns() - cpu)


if __name__ == "__main__":
    main()
