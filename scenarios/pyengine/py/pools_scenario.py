"""pools on CPython: reused workers, task distribution, chunk size.

The same tasks (CPU work of size ms each; with skew, growing from a quarter
to 1.75 times size) are mapped over a pool:

  kind=processes, api=pool      multiprocessing.Pool(...).imap(task, ids, chunksize)
  kind=processes, api=executor  ProcessPoolExecutor(...).map(task, ids, chunksize=...)
  kind=threads, api=pool        multiprocessing.pool.ThreadPool(...).imap(...)
  kind=threads, api=executor    ThreadPoolExecutor(...).map(...)  (it ignores chunksize)

A pool starts its workers once and hands them chunks of consecutive tasks.
With reuse=false every chunk gets a fresh worker: Pool(maxtasksperchild=1),
ProcessPoolExecutor(max_tasks_per_child=1); the standard library has no such
option for threads, so a new Thread is started per chunk instead. Start-up
is measured from the moment the pool starts a worker process until the
worker's initializer runs; every execution of a task is counted in shared
memory, so "every task ran exactly once" is checked, not assumed.

Memory: a worker process reports its own peak (VmHWM, harness.peak_rss)
with every result, and the parent reads each live worker's from
/proc/<pid>/status just before the pool closes (a reused worker may grow
after its last report). getrusage's ru_maxrss would be wrong: a spawned
worker reports its parent's peak as its own.
"""

import concurrent.futures
import multiprocessing
import multiprocessing.pool
import os
import sys
import threading

import harness as h

# Worker-side state, set by the initializer in each worker (per thread for
# worker threads).
COUNTS = None
CHUNKSIZE = 1
IN_WORKER_PROCESS = False  # set by init_process: a worker's memory is its own
worker_state = threading.local()

# Parent side: when each worker process was started, by pid.
STARTED = {}


def task_sizes(tasks, size, skew):
    """Returns the CPU work of every task in ms (the go engine uses the same)."""
    if not skew or tasks == 1:
        return [size] * tasks
    return [max(1, round(size * (0.25 + 1.5 * i / (tasks - 1)))) for i in range(tasks)]


def init_process(counts, chunksize, units):
    """Initializer of a worker process: its lane, its clock, the shared counts."""
    global COUNTS, CHUNKSIZE, IN_WORKER_PROCESS
    IN_WORKER_PROCESS = True
    worker_state.ready = h.now()
    lane = h.process_lane("worker-%d" % os.getpid(), "worker (pid %d)" % os.getpid(), parent="main", group="workers")
    h.state(lane, "idle", "started; waiting for a chunk")
    COUNTS, CHUNKSIZE = counts, chunksize
    h.calibrate(units)


_thread_numbers = iter(range(1, 1 << 30))


def init_thread(counts, chunksize, units):
    """Initializer of a worker thread."""
    global COUNTS, CHUNKSIZE
    worker_state.ready = h.now()
    n = next(_thread_numbers)
    h.thread_lane("thread-%d" % n, "worker thread %d" % n, parent="main", group="workers")
    h.state(h.current_lane(), "idle", "started; waiting for a chunk")
    COUNTS, CHUNKSIZE = counts, chunksize


def run_task(item):
    """Runs one task in a worker: counts the execution, computes, reports."""
    task_id, ms = item
    lane = h.current_lane()
    chunk = task_id // CHUNKSIZE
    if chunk != getattr(worker_state, "last_chunk", None):
        worker_state.last_chunk = chunk
        first = chunk * CHUNKSIZE
        h.flow("main", lane, "chunk %d: tasks %d–%d" % (chunk + 1, first + 1, first + CHUNKSIZE))
    with COUNTS.get_lock() if hasattr(COUNTS, "get_lock") else _count_lock:
        COUNTS[task_id] += 1
    start = h.now()
    h.state(lane, "running", "task %d: %d ms of CPU" % (task_id + 1, ms), t=start)
    h.cpu(lane, ms, "task %d: %d ms of CPU" % (task_id + 1, ms))
    end = h.now()
    h.state(lane, "idle", "waiting for the next chunk", t=end)
    peak = h.peak_rss() if IN_WORKER_PROCESS else 0  # threads share the runner's memory
    return task_id, lane, os.getpid(), worker_state.ready, start, end, peak


_count_lock = threading.Lock()


def stamped_start(process):
    """Process.start, noting when the pool started the worker."""
    t = h.now()
    super(type(process), process).start()
    STARTED[process.pid] = t
    h.mark("pool started worker pid %d" % process.pid, lane="main", t=t)


# Worker process classes that note their start; module-level so that spawn
# can pickle them by name.
class StampedSpawnProcess(multiprocessing.context.SpawnProcess):
    start = stamped_start


class StampedForkProcess(multiprocessing.context.ForkProcess):
    start = stamped_start


class StampedForkServerProcess(multiprocessing.context.ForkServerProcess):
    start = stamped_start


class StampedContext:
    """A multiprocessing context whose processes note when they were started,
    so that a worker's start-up (start to initializer) can be measured."""

    def __init__(self, method):
        self._ctx = multiprocessing.get_context(method)
        self.Process = {"spawn": StampedSpawnProcess, "fork": StampedForkProcess,
                        "forkserver": StampedForkServerProcess}[method]

    def __getattr__(self, name):
        return getattr(self._ctx, name)


def run_thread_per_chunk(items, workers, chunksize, counts):
    """reuse=false for threads: no pool, a new Thread for every chunk, at most
    workers at a time."""
    slots = threading.Semaphore(workers)
    results, threads, lock = [], [], threading.Lock()

    def one_chunk(chunk):
        try:
            init_thread(counts, chunksize, None)
            for item in chunk:
                r = run_task(item)
                with lock:
                    results.append(r)
            h.state(h.current_lane(), "done")
        finally:
            slots.release()

    for i in range(0, len(items), chunksize):
        slots.acquire()
        t = threading.Thread(target=one_chunk, args=(items[i:i + chunksize],))
        STARTED[t] = h.now()
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return sorted(results)


def main():
    workers, ntasks, chunksize = h.param("workers", 4), h.param("tasks", 40), h.param("chunksize", 1)
    kind, size, skew, reuse = h.param("kind", "processes"), h.param("size", 20), h.param("skew", False), h.param("reuse", True)
    api, start_method = h.param("api", "pool"), h.param("start", "spawn")
    threads = kind != "processes"
    h.lane("main", "thread", "main thread (submits the tasks)")
    h.state("main", "active", "calibrating the CPU work")
    units = h.calibrate()
    items = list(enumerate(task_sizes(ntasks, size, skew)))
    effective_chunk = 1 if threads and api == "executor" else chunksize

    if threads:
        counts = [0] * ntasks
        what = "threads"
    else:
        ctx = StampedContext(start_method)
        counts = ctx.Array("i", ntasks)
        what = "processes"
    if not reuse and not threads and api == "executor" and sys.version_info < (3, 11):
        raise RuntimeError("reuse=false with api=executor needs Python 3.11+ (max_tasks_per_child)")

    t0 = h.now()
    h.state("main", "active", "starting the pool")
    results = []
    read_peaks = {}  # worker pid -> its peak, read from the parent before the pool closes

    def read_workers(processes):
        for p in processes:
            peak = h.peak_rss(p.pid)
            if peak:
                read_peaks[p.pid] = peak

    def collect(iterator):
        with h.waiting("main", "blocked", "waiting for results, in task order", after=None):
            for r in iterator:
                results.append(r)
                h.counter("tasks done", len(results))

    if threads and not reuse:
        h.state("main", "blocked", "starting a thread per chunk (%d at a time)" % workers)
        results = run_thread_per_chunk(items, workers, chunksize, counts)
        h.counter("tasks done", len(results))
    elif threads and api == "pool":
        with multiprocessing.pool.ThreadPool(workers, init_thread, (counts, chunksize, units)) as pool:
            collect(pool.imap(run_task, items, chunksize))
    elif threads:
        with concurrent.futures.ThreadPoolExecutor(workers, initializer=init_thread, initargs=(counts, 1, units)) as ex:
            collect(ex.map(run_task, items))
    elif api == "pool":
        with multiprocessing.pool.Pool(workers, init_process, (counts, chunksize, units),
                                       maxtasksperchild=None if reuse else 1, context=ctx) as pool:
            collect(pool.imap(run_task, items, chunksize))
            read_workers(getattr(pool, "_pool", ()))  # no public list of the workers
            pool.close()
            pool.join()
    else:
        extra = {} if reuse else {"max_tasks_per_child": 1}
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_process,
                                                    initargs=(counts, chunksize, units), **extra) as ex:
            collect(ex.map(run_task, items, chunksize=chunksize))
            read_workers(list((getattr(ex, "_processes", None) or {}).values()))  # no public list either
    wall = h.now() - t0
    h.state("main", "done")
    summarize(results, counts, wall, workers, ntasks, chunksize, effective_chunk, kind, what, api, reuse, threads, read_peaks)


def summarize(results, counts, wall, workers, ntasks, chunksize, effective_chunk, kind, what, api, reuse, threads, read_peaks):
    counts = list(counts)
    once = sum(1 for c in counts if c == 1)
    more = sum(1 for c in counts if c > 1)
    never = sum(1 for c in counts if c == 0)
    end_all = max((r[5] for r in results), default=0)
    by_worker = {}
    peaks = dict(read_peaks)  # pid -> peak memory, each worker process its own
    for task_id, lane, pid, ready, start, end, peak in results:
        w = by_worker.setdefault(lane, {"pid": pid, "ready": ready, "tasks": 0, "last": 0})
        w["tasks"] += 1
        w["last"] = max(w["last"], end)
        if peak:
            peaks[pid] = max(peak, peaks.get(pid, 0))
    # Start-up: from the pool starting the worker to its initializer.
    startups = []
    for lane, w in by_worker.items():
        started = STARTED.get(w["pid"]) if not threads else None
        if started is not None:
            startups.append(w["ready"] - started)
    if threads and not reuse:
        startups = []  # a thread starts in microseconds; counted below
    starts = len(by_worker)
    idle = [end_all - w["last"] for w in by_worker.values()]
    live = max(1, min(workers, starts))
    idle_share = 100 * sum(sorted(idle)[-live:]) / max(live * wall, 1)
    chunks = -(-ntasks // effective_chunk)
    ms = lambda ns: round(ns / 1e6, 2)
    m = {
        "tasks": h.metric(ntasks, "", "tasks submitted"),
        "chunks": h.metric(chunks, "", "chunks of up to %d tasks" % effective_chunk),
        "chunksize": h.metric(effective_chunk, "", "tasks handed to a worker at a time"),
        "executions": h.metric(sum(counts), "", "task executions counted (in shared memory)"),
        "ran_once": h.metric(once, "", "tasks that ran exactly once"),
        "ran_more": h.metric(more, "", "tasks that ran more than once"),
        "never_ran": h.metric(never, "", "tasks that never ran"),
        "wall": h.metric(ms(wall), "ms", "wall time of map, from starting the pool to the last result"),
        "starts": h.metric(starts, "", "workers that ran tasks (%s)" % what),
    }
    if startups:
        m["startup_total"] = h.metric(ms(sum(startups)), "ms", "start-up paid, summed over every worker process started")
        m["startup_max"] = h.metric(ms(max(startups)), "ms", "slowest start-up of one worker")
    if by_worker:
        m["idle_tail_max"] = h.metric(ms(max(idle)), "ms", "longest a worker sat idle at the end, waiting for the others")
        m["idle_tail_pct"] = h.metric(round(idle_share, 2), "%", "share of the workers' time spent idle at the tail")
        m["tasks_per_max"] = h.metric(max(w["tasks"] for w in by_worker.values()), "", "most tasks run by one worker")
        m["tasks_per_min"] = h.metric(min(w["tasks"] for w in by_worker.values()), "", "fewest tasks run by one worker")
    mib = lambda b: round(b / (1 << 20), 2)
    m["rss_runner"] = h.metric(mib(h.peak_rss()), "MiB", "peak memory of the main process (its own VmHWM)%s" % (
        ", which the worker threads share" if threads else ""))
    if peaks:
        m["rss_worker_max"] = h.metric(mib(max(peaks.values())), "MiB", "peak memory of one worker process, the largest: its own VmHWM")
        m["rss_workers_total"] = h.metric(mib(sum(peaks.values())), "MiB", "the peaks of the %d worker processes, summed (an upper bound when they did not all peak together)" % len(peaks))
    # The server derives the verdict from these numbers (package verdict).
    h.end({"wall_ns": wall, "metrics": m})


if __name__ == "__main__":
    main()
