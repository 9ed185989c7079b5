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

    start = h.now()
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
    wall = h.now() - start
    h.state("main", "done")

    # CPU work is calibrated to take size ms alone; a wait takes size ms.
    sequential = tasks * size * 1e6
    speedup = sequential / wall
    runners = {"sequential": 1, "concurrent": 1 if work == "cpu" else tasks, "parallel": min(tasks, h.cores())}[mode]
    h.end({
        "wall_ns": wall,
        "metrics": {
            "speedup": h.metric(round(speedup, 2), "x", "speedup vs sequential (tasks × size)"),
            "sequential": h.metric(sequential / 1e6, "ms", "sequential time (tasks × size)"),
            "cores": h.metric(h.cores(), "", "cores the run may use"),
            "tasks": h.metric(tasks, "", "tasks"),
        },
        "verdict": verdict(work, mode, tasks, speedup, runners),
    })


def verdict(work, mode, tasks, speedup, runners):
    x = "%.2fx" % speedup
    if tasks == 1:
        return "A single task has nothing to overlap with: every mode takes the same time (%s)." % x
    if mode == "sequential":
        return "Run one after another, the tasks take the sum of their times (%s of the sequential estimate)." % x
    if work == "io":
        return "The tasks waited at the same time, so concurrency alone gave %s: waiting needs no CPU and no GIL." % x
    if mode == "concurrent":
        return ("Concurrency without parallelism: all %d threads were in progress at once, but the GIL let one run "
                "Python code at a time (the gil-wait spans), so CPU work ran at %s of sequential speed." % (tasks, x))
    return "Parallelism: each process has its own interpreter and GIL, so %d cores computed at once: %s faster than in sequence." % (runners, x)


if __name__ == "__main__":
    main()
