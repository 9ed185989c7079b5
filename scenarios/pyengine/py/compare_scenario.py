"""compare on CPython: one workload under one model, one row of the decision
matrix. /compare runs every model on the same workload, one after another,
and sets the measurements side by side.

Workloads (the same work for every model; size picks how much):
  cpu           tasks that compute (pure Python)
  io            HTTP requests to a loopback server (another process) that
                answers after a delay
  many-io       thousands of short waits
  mixed         requests that wait for the server, then compute
  external      runs of an external program that computes 50 ms
  shared-state  many read-modify-write updates of one shared counter

Models:
  sequential    one task after another in the main thread
  threads       one thread per task (they share the process, and its GIL)
  asyncio       one task per task on one event loop; CPU work runs inline
  processes     one new process per task (the platform's default start method:
                fork on Linux up to 3.13, forkserver from 3.14), at most `workers` at once
  pool          `workers` reused processes (multiprocessing.Pool); for
                many-io a ThreadPoolExecutor of `workers` threads
  subprocess    (external) start every program with Popen, then wait

wall_ns and cpu_ns cover the work only (not the server's start). cpu_ns is
the CPU time of this process and of every child process that finished
during the work: above wall_ns, several cores worked at once.

peak_rss is the main process's peak resident memory plus the sum of the
peaks of every child process of the model (task processes, pool workers,
the programs of external, and multiprocessing's resource tracker when the
model started one; not the loopback server, which stands for a remote
one), each child's own private memory (harness.own_memory: pages it shares
with the main process, the interpreter and anything inherited by fork, are
counted once, in the main process's peak): a process reports its own
with its result, and the parent reads a reused pool worker's from /proc
before the pool closes. getrusage's ru_maxrss cannot
be used: a freshly started child reports its parent's peak as its own.
The sum is an upper bound when the processes did not all peak at once.
"""

# The harness first: it starts the run's recorder, whose start-up then
# overlaps importing these modules (110 ms) instead of delaying the first
# event.
import harness as h

import concurrent.futures  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

# The two heavy imports only where the run uses them (asyncio 60 ms,
# urllib.request 45 ms): a run's first event must not wait for them. The
# params are the run's in every process of it (a spawned worker imports
# this module with the same spec), and the import happens before the
# model's clock starts.
if h.param("model", "sequential") == "asyncio":
    import asyncio  # noqa: E402
if h.param("workload", "cpu") in ("io", "mixed"):
    import urllib.request  # noqa: E402

# Processes start the way this platform starts them by default, as a program
# that just uses multiprocessing would: fork on Linux up to Python 3.13,
# forkserver from 3.14, spawn on macOS and Windows. The multiprocessing
# scenario compares the start methods themselves.
START = multiprocessing.get_start_method()

# size -> (tasks, per-task parameters)
SIZES = {
    "cpu": {"small": (8, 25), "medium": (8, 100), "large": (16, 200)},  # ms of CPU each
    "io": {"small": (16, 50), "medium": (32, 100), "large": (64, 100)},  # ms the server waits
    "many-io": {"small": (200, 20), "medium": (1000, 20), "large": (2000, 20)},  # ms each wait
    "mixed": {"small": (8, (50, 20)), "medium": (16, (100, 50)), "large": (32, (100, 100))},  # (wait, cpu) ms
    "external": {"small": (4, 50), "medium": (8, 50), "large": (16, 50)},  # ms of CPU per program
    "shared-state": {"small": (4, 10_000), "medium": (4, 50_000), "large": (8, 100_000)},  # updates per task
}

PY = [sys.executable, "-E", "-S", "-c"]

# The loopback server: answers GET /wait/<ms> after ms milliseconds.
SERVER = """
import http.server, sys, time
class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        time.sleep(int(self.path.rsplit("/", 1)[-1]) / 1000)
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\\n")
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # the listen backlog: a full one drops SYNs (1 s retries)
srv = Server(("127.0.0.1", 0), Slow)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""

# The external program: computes ms milliseconds of CPU, then prints "done",
# its pid and its own private memory (bytes; see harness.own_memory).
EXTERNAL = """
import os, sys, time
end = time.thread_time() + int(sys.argv[1]) / 1000
while time.thread_time() < end:
    pass
own = 0
with open("/proc/self/smaps_rollup") as f:
    for line in f:
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            own += int(line.split()[1]) * 1024
print("done", os.getpid(), own)
"""


# --- Peak memory: every process measures its own --------------------------------


class Peaks:
    """The peak resident memory of the child processes a process started, by
    pid: each child's own VmHWM, as the child reported it or as the parent
    read it from /proc/<pid>/status while the child was alive. A process
    reported more than once keeps its largest figure."""

    def __init__(self):
        self.by_pid = {}
        self.lock = threading.Lock()

    def add(self, pid, peak):
        if peak > 0:
            with self.lock:
                self.by_pid[pid] = max(peak, self.by_pid.get(pid, 0))

    def merge(self, by_pid):
        for pid, peak in by_pid.items():
            self.add(pid, peak)

    def read(self, pid):
        """Reads a live child's own memory from the parent."""
        self.add(pid, h.own_memory(pid))


PEAKS = Peaks()  # in every process: the children it started (programs, workers)


def program_done(returncode, out):
    """Checks what an external program printed and notes its peak memory."""
    parts = out.split()
    if returncode != 0 or len(parts) != 3 or parts[0] != "done":
        return False
    PEAKS.add(int(parts[1]), int(parts[2]))
    return True


def resource_tracker_pid():
    """Returns the pid of multiprocessing's resource tracker, if this process
    started one: with spawn (and forkserver) the first lock, queue or shared
    value starts it, so the processes and pool models have one. It is one of
    the model's processes and its memory counts."""
    rt = sys.modules.get("multiprocessing.resource_tracker")
    pid = getattr(getattr(rt, "_resource_tracker", None), "_pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


# --- The work of one task, per workload (runs in any thread or process) ------


def fetch(port, ms):
    with urllib.request.urlopen("http://127.0.0.1:%d/wait/%d" % (port, ms), timeout=60) as resp:
        return resp.read() == b"ok\n"


def do_task(lane, workload, arg, port):
    """Does one task synchronously; returns True when its result is right."""
    if workload == "cpu":
        h.state(lane, "running", "computing %d ms" % arg)
        h.cpu(lane, arg)
        return True
    if workload == "io":
        with h.waiting(lane, "io", "HTTP request: the server answers after %d ms" % arg, after=None):
            return fetch(port, arg)
    if workload == "many-io":
        h.sleep(lane, arg / 1000, "waiting %d ms" % arg, after=None)
        return True
    if workload == "mixed":
        wait, work = arg
        with h.waiting(lane, "io", "HTTP request: the server answers after %d ms" % wait, after=None):
            ok = fetch(port, wait)
        h.state(lane, "running", "computing %d ms" % work)
        h.cpu(lane, work)
        return ok
    if workload == "external":
        with h.waiting(lane, "blocked", "subprocess.run: waiting for the program", after=None):
            done = subprocess.run(PY + [EXTERNAL, str(arg)], capture_output=True, text=True)
        return program_done(done.returncode, done.stdout)
    raise ValueError(workload)


# --- shared-state: the counter each model shares its own way -----------------

counter = 0
counter_lock = threading.Lock()
shared_value = None  # multiprocessing.Value in worker processes


UPDATES_PER_CHECK = 1000  # updates between two looks for a gap (harness.Gaps)


def add_plain(lane, n):
    """Updates the counter n times, alone on it: measured like CPU work."""
    global counter
    why = "%d updates, nobody else running: no lock" % n
    h.state(lane, "running", why)
    gaps = h.Gaps(lane, why)
    for done in range(0, n, UPDATES_PER_CHECK):
        for _ in range(min(UPDATES_PER_CHECK, n - done)):
            counter += 1
        gaps.check()
    return True


# The two below wait for a lock between updates, which the harness cannot
# tell apart from waiting for a core: active, not running.


def add_with_lock(lane, n):
    global counter
    h.state(lane, "active", "%d updates under threading.Lock" % n)
    for _ in range(n):
        with counter_lock:
            counter += 1
    return True


def add_shared_value(lane, n, value):
    h.state(lane, "active", "%d updates of a multiprocessing.Value (shared memory + its lock)" % n)
    for _ in range(n):
        with value.get_lock():
            value.value += 1
    return True


# --- Worker processes ----------------------------------------------------------


def process_task(i, workload, arg, port, units, value, results):
    """One task in its own process (model processes)."""
    h.calibrate(units)
    lane = "task-%d" % i
    if workload == "shared-state":
        ok = add_shared_value(lane, arg, value)
    else:
        ok = do_task(lane, workload, arg, port)
    h.state(lane, "done")
    # Its own memory (and that of any programs it ran), with its result.
    PEAKS.add(os.getpid(), h.own_memory())
    results.put((i, ok, dict(PEAKS.by_pid)))


def pool_init(workload, port, units, value):
    global shared_value, pool_config
    shared_value = value
    pool_config = (workload, port)
    h.calibrate(units)
    h.process_lane("worker-%d" % os.getpid(), "pool worker (pid %d)" % os.getpid(), parent="main", group="workers")


pool_config = None


def pool_task(item):
    i, arg = item
    workload, port = pool_config
    lane = h.current_lane()
    h.flow("main", lane, "task %d" % i)
    if workload == "shared-state":
        ok = add_shared_value(lane, arg, shared_value)
    else:
        ok = do_task(lane, workload, arg, port)
    h.state(lane, "idle", "waiting for the next task")
    # Its own memory so far (and that of any programs it ran), with each result.
    PEAKS.add(os.getpid(), h.own_memory())
    return i, ok, dict(PEAKS.by_pid)


# --- Models ------------------------------------------------------------------------


def run_sequential(workload, tasks, arg, port):
    lane = "main"
    ok = True
    for _ in range(tasks):
        if workload == "shared-state":
            ok &= add_plain(lane, arg)
        else:
            ok &= do_task(lane, workload, arg, port)
    return ok


def run_threads(workload, tasks, arg, port):
    oks = [False] * tasks

    def one(i):
        lane = h.thread_lane("thread-%d" % i, "thread %d" % i, parent="main", group="threads")
        if workload == "shared-state":
            oks[i - 1] = add_with_lock(lane, arg)
        else:
            oks[i - 1] = do_task(lane, workload, arg, port)
        h.state(lane, "done")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(1, tasks + 1)]
    for t in threads:
        t.start()
    with h.waiting("main", "blocked", "joining %d threads" % tasks, after=None):
        for t in threads:
            t.join()
    return all(oks)


def run_asyncio(workload, tasks, arg, port):
    async def http_get(ms):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /wait/%d HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % ms)
        data = await reader.read()
        writer.close()
        return data.endswith(b"\r\n\r\nok\n")

    async def one(i):
        global counter
        lane = "task-%d" % i
        h.lane(lane, "task", "task %d" % i, parent="main", group="tasks")
        if workload == "cpu":
            h.state(lane, "running", "computing %d ms inline: the loop waits" % arg)
            h.cpu(lane, arg)
            ok = True
        elif workload in ("io", "mixed"):
            wait = arg if workload == "io" else arg[0]
            h.state(lane, "io", "await an HTTP response (%d ms)" % wait)
            ok = await http_get(wait)
            if workload == "mixed":
                h.state(lane, "running", "computing %d ms inline: the loop waits" % arg[1])
                h.cpu(lane, arg[1])
        elif workload == "many-io":
            h.state(lane, "sleep", "await asyncio.sleep(%d ms)" % arg)
            await asyncio.sleep(arg / 1000)
            ok = True
        elif workload == "external":
            h.state(lane, "io", "await the program (asyncio.create_subprocess_exec)")
            proc = await asyncio.create_subprocess_exec(*PY, EXTERNAL, str(arg), stdout=subprocess.PIPE)
            out, _ = await proc.communicate()
            ok = program_done(proc.returncode, out.decode())
        else:  # shared-state: no await between read and write, so no lock needed
            why = "%d updates (one thread, no await inside: no lock)" % arg
            h.state(lane, "running", why)
            gaps = h.Gaps(lane, why)
            for done in range(0, arg, UPDATES_PER_CHECK):
                for _ in range(min(UPDATES_PER_CHECK, arg - done)):
                    counter += 1
                gaps.check()
            ok = True
        h.state(lane, "done")
        return ok

    async def main():
        return all(await asyncio.gather(*(one(i) for i in range(1, tasks + 1))))

    # The tasks run on this thread: their lanes show the work.
    h.state("main", "idle", "runs the event loop (the task lanes show what runs on it)")
    return asyncio.run(main())


def run_processes(workload, tasks, arg, port, workers, value):
    ctx = multiprocessing.get_context(START)
    results = ctx.SimpleQueue()
    units = h.calibrate()
    running, oks, pids = [], [], {}
    with h.waiting("main", "blocked", "starting a process per task, %d at a time" % workers, after=None):
        for i in range(1, tasks + 1):
            while len(running) >= workers:
                running.pop(0).join()
            t0 = h.now()
            p = ctx.Process(target=process_task, args=(i, workload, arg, port, units, value, results))
            p.start()
            pids[i] = p.pid
            h.lane("task-%d" % i, "process", "task %d (pid %d)" % (i, p.pid), parent="main", pid=p.pid, group="processes", t=t0)
            h.state("task-%d" % i, "runnable", "starting a new process (%s)" % START, t=t0)
            running.append(p)
        for p in running:
            p.join()
    while not results.empty():
        i, ok, peaks = results.get()
        oks.append(ok)
        PEAKS.merge(peaks)
        h.mark("peak memory %.1f MiB (its own VmHWM)" % (peaks.get(pids[i], 0) / (1 << 20)), lane="task-%d" % i)
    return len(oks) == tasks and all(oks)


def run_pool(workload, tasks, arg, port, workers, value):
    items = [(i, arg) for i in range(1, tasks + 1)]
    if workload == "many-io":
        def one(item):
            lane = h.current_lane() or h.thread_lane("pool-%d" % threading.get_ident(), "pool thread", parent="main", group="workers")
            h.flow("main", lane, "task %d" % item[0])
            return do_task(lane, workload, item[1], port)
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            with h.waiting("main", "blocked", "ThreadPoolExecutor(%d).map" % workers, after=None):
                return all(ex.map(one, items))
    ctx = multiprocessing.get_context(START)
    with ctx.Pool(workers, pool_init, (workload, port, h.calibrate(), value)) as pool:
        with h.waiting("main", "blocked", "Pool(%d).map" % workers, after=None):
            done = pool.map(pool_task, items)
        oks = [ok for _, ok, _ in done]
        for _, _, peaks in done:
            PEAKS.merge(peaks)
        # The workers are reused: read each one's peak while it is still
        # alive, after all its tasks (Pool has no public list of them).
        for p in getattr(pool, "_pool", ()):
            PEAKS.read(p.pid)
        pool.close()
        pool.join()
    return len(oks) == tasks and all(oks)


def run_subprocess(tasks, arg):
    procs = []
    for i in range(1, tasks + 1):
        t0 = h.now()
        p = subprocess.Popen(PY + [EXTERNAL, str(arg)], stdout=subprocess.PIPE, text=True)
        h.lane("prog-%d" % i, "process", "program %d (pid %d)" % (i, p.pid), parent="main", pid=p.pid, group="programs", t=t0)
        h.state("prog-%d" % i, "active", "computing %d ms: its own process" % arg, t=t0)
        procs.append(p)
    oks = []
    with h.waiting("main", "blocked", "waiting for %d programs" % tasks, after=None):
        for i, p in enumerate(procs, 1):
            out, _ = p.communicate()
            oks.append(program_done(p.returncode, out))
            h.state("prog-%d" % i, "done", "exit code %d; peak memory %.1f MiB (its own VmHWM)" % (
                p.returncode, PEAKS.by_pid.get(p.pid, 0) / (1 << 20)))
    return all(oks)


# --- Run ---------------------------------------------------------------------------


def start_server():
    server = subprocess.Popen(PY + [SERVER], stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    h.lane("server", "process", "loopback HTTP server (pid %d)" % server.pid, pid=server.pid)
    h.state("server", "idle", "answers GET /wait/<ms> after ms")
    return server, port


def main():
    global counter
    workload, model = h.param("workload", "cpu"), h.param("model", "sequential")
    size, workers = h.param("size", "medium"), h.param("workers", 4)
    tasks, arg = SIZES[workload][size]
    h.lane("main", "thread", "main thread (%s)" % model)
    units = 0
    if workload in ("cpu", "mixed"):
        # /compare gives every model the calibration its first model
        # measured, so that every model does the same work.
        given = h.param("calibration", 0)
        if not given:
            h.state("main", "active", "calibrating the CPU work")
        units = h.calibrate(given or None)
    server, port = start_server() if workload in ("io", "mixed") else (None, 0)
    value = multiprocessing.get_context(START).Value("q", 0) if workload == "shared-state" and model in ("processes", "pool") else None

    cpu0, start = h.cpu_ns(), h.now()
    h.state("main", "active", "%s: %d tasks" % (model, tasks))
    if model == "sequential":
        ok = run_sequential(workload, tasks, arg, port)
    elif model == "threads":
        ok = run_threads(workload, tasks, arg, port)
    elif model == "asyncio":
        ok = run_asyncio(workload, tasks, arg, port)
    elif model == "processes":
        ok = run_processes(workload, tasks, arg, port, workers, value)
    elif model == "pool":
        ok = run_pool(workload, tasks, arg, port, workers, value)
    else:
        ok = run_subprocess(tasks, arg)
    wall, cpu = h.now() - start, h.cpu_ns() - cpu0
    h.state("main", "done")
    # Peak memory: every process of the model, each its own peak. The server
    # is not part of the model (it stands for a remote one).
    me = h.peak_rss()
    tracker = resource_tracker_pid()
    if tracker is not None:
        PEAKS.read(tracker)
    kids = PEAKS.by_pid
    if server is not None:
        server.kill()
        server.wait()
        h.state("server", "done", "stopped")

    ms = lambda ns: round(ns / 1e6, 2)
    m = {
        "wall": h.metric(ms(wall), "ms", "wall time of the work"),
        "cpu": h.metric(ms(cpu), "ms", "CPU time of this process and its finished children during the work"),
        "cpu_utilization": h.metric(round(cpu / max(wall, 1), 2), "", "CPU time over wall time: above 1, several cores worked at once"),
        "tasks": h.metric(tasks, "", "tasks"),
        "correct": h.metric(ok, "", "1 when every task's result was right"),
        "peak_rss": h.metric(me + sum(kids.values()), "bytes", "memory: the main process's peak plus each child process's own private memory (read when it finished its work), summed"),
        "peak_rss_main": h.metric(me, "bytes", "peak memory of the main process (its own VmHWM)"),
        "child_processes": h.metric(len(kids), "", "child processes of the model whose peaks are added%s" % (
            " (multiprocessing's resource tracker among them)" if tracker in kids else "")),
    }
    if kids:
        m["peak_rss_children"] = h.metric(sum(kids.values()), "bytes", "the child processes' own private memory, summed (pages they share with the main process counted once)")
        m["peak_rss_child_max"] = h.metric(max(kids.values()), "bytes", "the largest private memory of one child process")
    if units:
        m["calibration"] = h.metric(units, "units/ms", "the CPU work's calibration: work units one core computes per ms%s" % (
            " (given: measured by the comparison's first model)" if h.param("calibration", 0) else " (measured at the start of this run)"))
    if workload == "shared-state":
        expected = tasks * arg
        actual = value.value if value is not None else counter
        m["lost_updates"] = h.metric(expected - actual, "", "updates lost (expected %d)" % expected)
    # The server derives the verdict from these numbers (package verdict).
    h.end({"wall_ns": wall, "cpu_ns": cpu, "metrics": m})


if __name__ == "__main__":
    main()
