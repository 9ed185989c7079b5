"""multiprocessing on CPython: true parallelism, paid for.

Each worker is a new process with its own interpreter and its own GIL, so
the workers compute at the same time on several cores. The price shows on
the timeline: starting a process (start=spawn starts a fresh interpreter
that imports this script; fork copies the parent; forkserver forks a clean
server process started once), and serializing every argument and result
that crosses between processes. The payload (payload_kb of integers) is
pickled by the parent, sent through a pipe, unpickled by the worker, and
the result (every value plus one) travels back the same way; every pickle
and unpickle is timed.

mode=threads does the same work in threads of one process: nothing is
copied and a thread starts in microseconds, but the GIL lets only one of
them compute at a time.

Memory: every process measures its own peak, VmHWM (harness.peak_rss); a
worker sends its figure back with its result. getrusage's ru_maxrss would
be wrong: a spawned worker would report its parent's peak as its own. A
forked worker shares the parent's pages until it writes them, and VmHWM
counts them, so under fork a worker's peak includes the parent's memory.
"""

import multiprocessing
import pickle
import random
import threading

import harness as h


def make_payload(values):
    """Returns deterministic integers of varied magnitude, as real data has."""
    rnd = random.Random(values)
    bits = rnd.getrandbits
    return [bits(1 + i % 62) for i in range(values)]


def size_text(n):
    return "%.1f KiB" % (n / 1024) if n < 1 << 20 else "%.2f MiB" % (n / (1 << 20))


def process_worker(n, conn, units, size):
    """Runs in the worker process: receive, unpickle, compute, pickle, send."""
    lane = "worker-%d" % n
    ready = h.now()
    h.calibrate(units)
    with h.waiting(lane, "io", "ready; waiting for its args on the pipe", after=None):
        blob = conn.recv_bytes()
    # Work the harness cannot slice (pickle) is drawn when it ends: running
    # if the worker had its core the whole time, active if not.
    with h.busy(lane, "unpickling the args (%s)" % size_text(len(blob))) as unpickling:
        payload = pickle.loads(blob)
    t0, t1 = unpickling.t0, unpickling.t1
    h.state(lane, "running", "computing %d ms" % size, t=t1)
    h.cpu(lane, size, "computing %d ms" % size)
    with h.busy(lane, "computing: adding one to each value") as adding:
        result = [v + 1 for v in payload]
    with h.busy(lane, "pickling the result") as pickling:
        out = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    t2, t3 = adding.t1, pickling.t1
    h.state(lane, "io", "sending the result (%s)" % size_text(len(out)), t=t3)
    h.flow(lane, "main", "pickled result: %s" % size_text(len(out)), t=t3)
    conn.send_bytes(out)
    conn.send((ready, t1 - t0, t2 - t1, t3 - t2, h.peak_rss()))
    h.state(lane, "done")


class Worker:
    def __init__(self, n):
        self.n, self.lane = n, "worker-%d" % n
        self.start = self.ready = 0
        self.serial_ns = self.compute_ns = 0
        self.serial_main_ns = 0  # of serial_ns, in the main process
        self.rss = 0
        self.ok = False
        self.sent = self.received = 0


def run_processes(workers, start_method, size, payload, want):
    ctx = multiprocessing.get_context(start_method)
    units = h.calibrate()
    procs = []
    for w in workers:
        parent, child = ctx.Pipe()
        w.start = h.now()
        p = ctx.Process(target=process_worker, args=(w.n, child, units, size), name=w.lane)
        h.state("main", "active", "starting worker %d (%s)" % (w.n, start_method))
        p.start()
        child.close()
        h.lane(w.lane, "process", "worker %d (pid %d)" % (w.n, p.pid), parent="main", pid=p.pid, t=w.start)
        h.state(w.lane, "runnable", "starting: %s" % {
            "spawn": "a fresh interpreter imports this script",
            "fork": "a copy of the parent process",
            "forkserver": "forked from the fork server"}[start_method], t=w.start)
        h.flow("main", w.lane, "start (%s)" % start_method, t=w.start)
        procs.append((w, p, parent))
    for w, p, conn in procs:
        with h.busy("main", "pickling the args for worker %d" % w.n) as pickling:
            blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        t0, t1 = pickling.t0, pickling.t1
        w.serial_ns += t1 - t0
        w.serial_main_ns += t1 - t0
        w.sent = len(blob)
        h.state("main", "io", "sending %s to worker %d" % (size_text(len(blob)), w.n), t=t1)
        h.flow("main", w.lane, "pickled args: %s" % size_text(len(blob)), t=t1)
        conn.send_bytes(blob)
    for w, p, conn in procs:
        with h.waiting("main", "blocked", "waiting for the result of worker %d" % w.n, after=None):
            blob = conn.recv_bytes()
            w.ready, unpickle_ns, w.compute_ns, pickle_ns, w.rss = conn.recv()
        with h.busy("main", "unpickling the result of worker %d (%s)" % (w.n, size_text(len(blob)))) as unpickling:
            result = pickle.loads(blob)
        w.serial_main_ns += unpickling.t1 - unpickling.t0
        w.serial_ns += unpickling.t1 - unpickling.t0 + unpickle_ns + pickle_ns
        w.received = len(blob)
        w.ok = len(result) == len(payload) and sum(result) == want
    with h.waiting("main", "blocked", "joining the worker processes", after=None):
        for w, p, conn in procs:
            p.join()
            conn.close()
            if p.exitcode != 0:
                raise RuntimeError("worker %d exited with code %s" % (w.n, p.exitcode))
            h.mark("exited; peak memory %.1f MiB (its own VmHWM)" % (w.rss / (1 << 20)), lane=w.lane)


def run_threads(workers, size, payload, want):
    h.calibrate()

    def thread_worker(w):
        w.ready = h.now()
        h.thread_lane(w.lane, "worker %d (thread)" % w.n, parent="main")
        h.state(w.lane, "running", "computing %d ms" % size)
        t0 = h.now()
        h.cpu(w.lane, size, "computing %d ms" % size)
        with h.busy(w.lane, "computing: adding one to each value") as adding:
            result = [v + 1 for v in payload]
        w.compute_ns = adding.t1 - t0
        w.ok = sum(result) == want
        h.flow(w.lane, "main", "result: a reference to the list, nothing copied")
        h.state(w.lane, "done")

    threads = []
    for w in workers:
        w.start = h.now()
        t = threading.Thread(target=thread_worker, args=(w,))
        t.start()
        threads.append(t)
    with h.waiting("main", "blocked", "joining the threads", after=None):
        for t in threads:
            t.join()
    for w in workers:
        w.rss = 0  # threads have no memory of their own: the process's peak is rss_runner


def main():
    n, mode, size = h.param("workers", 4), h.param("mode", "processes"), h.param("size", 200)
    payload_kb, start_method = h.param("payload_kb", 1024), h.param("start", "spawn")
    h.lane("main", "thread", "main process")
    values = payload_kb * 1024 // 8
    with h.busy("main", "building the payload: %d integers" % values):
        payload = make_payload(values)
    want = sum(payload) + values
    workers = [Worker(i) for i in range(1, n + 1)]

    start, cpu0 = h.now(), h.cpu_ns()
    if mode == "processes":
        run_processes(workers, start_method, size, payload, want)
    else:
        run_threads(workers, size, payload, want)
    wall, cpu = h.now() - start, h.cpu_ns() - cpu0
    h.state("main", "done")

    ms = lambda ns: round(ns / 1e6, 2)
    startups = [w.ready - w.start for w in workers]
    serial = sum(w.serial_ns for w in workers)
    sequential = n * size * 1e6
    what = "process" if mode == "processes" else "thread"
    m = {
        "workers": h.metric(n, "", "worker %s that computed" % ("processes" if mode == "processes" else "threads")),
        "wall": h.metric(ms(wall), "ms", "wall time: first start to last result unpickled"),
        "sequential": h.metric(sequential / 1e6, "ms", "sequential estimate: workers × size of CPU work, calibrated on one core"),
        "startup_mean": h.metric(ms(sum(startups) / n), "ms", "start-up of one %s: from start until its code runs (mean)" % what),
        "startup_max": h.metric(ms(max(startups)), "ms", "start-up of the slowest %s" % what),
        "serialization": h.metric(ms(serial), "ms", "time spent pickling and unpickling args and results, both sides, all workers"),
        "serialization_main": h.metric(ms(sum(w.serial_main_ns for w in workers)), "ms", "of it, in the main process, one worker after another"),
        "compute_mean": h.metric(ms(sum(w.compute_ns for w in workers) / n), "ms", "measured compute time of one worker (mean)"),
        "payload_values": h.metric(values, "", "integers sent to each worker and back"),
        "results_ok": h.metric(sum(w.ok for w in workers), "", "results that came back complete and correct (checksum)"),
    }
    runner = h.peak_rss()
    mib = lambda b: round(b / (1 << 20), 2)
    if mode == "processes":
        shared = " (fork: the parent's pages it still shares count too)" if start_method == "fork" else ""
        m["bytes_sent"] = h.metric(round(sum(w.sent for w in workers) / 1024, 2), "KiB", "pickled args sent to the workers, all together")
        m["bytes_received"] = h.metric(round(sum(w.received for w in workers) / 1024, 2), "KiB", "pickled results received, all together")
        m["rss_worker_max"] = h.metric(mib(max(w.rss for w in workers)), "MiB", "peak memory of one worker process, the largest: its own VmHWM%s" % shared)
        m["rss_runner"] = h.metric(mib(runner), "MiB", "peak memory of the parent process (its own VmHWM)")
    else:
        m["rss_runner"] = h.metric(mib(runner), "MiB", "peak memory of the one process all threads share (its VmHWM)")
    if n > 1:  # one worker has nothing to be faster than
        m["speedup"] = h.metric(round(sequential / wall, 2), "x", "speedup vs the sequential estimate (start-up and serialization included in the wall time)")
    # The server derives the verdict from these numbers (package verdict).
    h.end({"wall_ns": wall, "cpu_ns": cpu, "metrics": m})


if __name__ == "__main__":
    main()
