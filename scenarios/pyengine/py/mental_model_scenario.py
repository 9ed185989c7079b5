"""mental-model on CPython: the same tasks run one after another (sequential),
all at once as threads of one process (concurrent), and all at once as
processes (parallel).

Threads give concurrency: every task is in progress at once. Under the GIL
only one of them runs Python code at a time, so for CPU work that is
concurrency without parallelism. Processes each have their own interpreter
and GIL: that is parallelism, up to the number of cores.
"""

import multiprocessing
import threading

import harness as h


def task(lane, work, size_ms):
    """One unit of work: compute or wait for size_ms."""
    if work == "cpu":
        h.state(lane, "running", "computing")
        h.cpu(lane, size_ms)
    else:
        h.sleep(lane, size_ms / 1000, "waiting for I/O (sleep)", after=None)
    h.state(lane, "done")


def thread_task(i, work, size_ms):
    lane = h.thread_lane("task-%d" % i, "task %d (thread)" % i, parent="main")
    task(lane, work, size_ms)


def process_task(i, work, size_ms, units):
    h.calibrate(units)
    task("task-%d" % i, work, size_ms)


def main():
    tasks, work, mode, size = h.param("tasks", 4), h.param("work", "cpu"), h.param("mode", "concurrent"), h.param("size", 200)
    h.lane("main", "thread", "main thread")
    h.state("main", "active", "calibrating the CPU work")
    units = h.calibrate()

    start, cpu0 = h.now(), h.cpu_ns()
    if mode == "sequential":
        # The tasks run on this very thread: their lanes show the work, so
        # the main lane is not drawn running too.
        h.state("main", "idle", "runs the tasks one after another (their lanes show the work)")
        for i in range(1, tasks + 1):
            h.lane("task-%d" % i, "thread", "task %d (in the main thread)" % i, parent="main")
            task("task-%d" % i, work, size)
    elif mode == "concurrent":
        threads = [threading.Thread(target=thread_task, args=(i, work, size)) for i in range(1, tasks + 1)]
        for t in threads:
            t.start()
        with h.waiting("main", "blocked", "joining the threads"):
            for t in threads:
                t.join()
    else:
        ctx = multiprocessing.get_context("fork")
        procs = []
        for i in range(1, tasks + 1):
            t0 = h.now()
            p = ctx.Process(target=process_task, args=(i, work, size, units))
            p.start()
            h.lane("task-%d" % i, "process", "task %d (process %d)" % (i, p.pid), parent="main", pid=p.pid, t=t0)
            h.flow("main", "task-%d" % i, "fork", t=t0)
            procs.append(p)
        with h.waiting("main", "blocked", "joining the processes"):
            for p in procs:
                p.join()
        failed = [p.pid for p in procs if p.exitcode != 0]
        if failed:
            raise RuntimeError("task processes %s failed" % failed)
    wall, cpu = h.now() - start, h.cpu_ns() - cpu0
    h.state("main", "done")

    # CPU work is calibrated to take size ms alone; a wait takes size ms.
    # The server derives the verdict from these numbers (package verdict).
    sequential = tasks * size * 1e6
    m = {
        "wall": h.metric(round(wall / 1e6, 2), "ms", "wall time of the tasks"),
        "sequential": h.metric(sequential / 1e6, "ms", "sequential time (tasks × size)"),
        "cores": h.metric(h.cores(), "", "cores the run may use"),
        "tasks": h.metric(tasks, "", "tasks"),
    }
    if mode != "sequential" and tasks > 1:  # one after another (or alone) nothing speeds up
        m["speedup"] = h.metric(round(sequential / wall, 2), "x", "speedup vs sequential (tasks × size)")
    h.end({"wall_ns": wall, "cpu_ns": cpu, "metrics": m})


if __name__ == "__main__":
    main()
