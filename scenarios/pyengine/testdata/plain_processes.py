"""The work of the observer benchmark's processes case, plain: no harness.
workers processes (multiprocessing, start method fork) each receive their
(empty) args through a pipe, compute units of the harness's work function in
slices of units_per_ms / 10 (the harness's 100 µs slices) and send a result
back, as multiprocessing_scenario.py does with payload_kb=0. It prints the
wall time from the first start to the last join and the CPU time its
processes used meanwhile, in ns."""

import json
import multiprocessing
import os
import resource
import pickle
import time
from itertools import repeat

PARAMS = json.loads(os.environ.get("INTERLEAVE_SPEC") or "{}").get("params", {})


def spin(n):  # the harness's work function, verbatim
    x = 0
    for _ in repeat(None, n):
        x = (x * 5 + 3) & 31
    return x


def worker(conn, units, piece):
    payload = pickle.loads(conn.recv_bytes())
    done = 0
    while done < units:
        n = min(piece, units - done)
        spin(n)
        done += n
    conn.send_bytes(pickle.dumps([v + 1 for v in payload]))


def cpu_ns():
    """Returns the CPU time of this process and its reaped children, in ns."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * 1e9)


def main():
    workers, per_ms = PARAMS["workers"], PARAMS["units_per_ms"]
    units, piece = PARAMS["size"] * per_ms, max(1, per_ms // 10)
    ctx = multiprocessing.get_context("fork")
    cpu, start = cpu_ns(), time.perf_counter_ns()
    procs = []
    for _ in range(workers):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker, args=(child, units, piece))
        p.start()
        child.close()
        procs.append((p, parent))
    for p, conn in procs:
        conn.send_bytes(pickle.dumps([]))
    for p, conn in procs:
        pickle.loads(conn.recv_bytes())
    for p, conn in procs:
        p.join()
    print(time.perf_counter_ns() - start, cpu_ns() - cpu)


if __name__ == "__main__":
    main()
