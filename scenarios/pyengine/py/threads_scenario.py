"""threads on CPython: worker threads take tasks from a queue. A task either
waits (a sleep, or a real HTTP request to a server on the loopback that
answers after size ms) or computes for size ms.

While a thread waits for I/O it has released the GIL, so the waits of many
threads overlap. CPU work needs the GIL the whole time: the threads take
turns holding it, and the speedup stays near 1x however many cores there
are. The gil-wait spans are measured: a thread whose wall clock moves while
its own CPU clock (time.thread_time_ns) does not is waiting to run.

On a free-threaded CPython (python-ft) there is no GIL: CPU threads compute
at once, up to the number of cores, and a gap in a thread's CPU time is the
OS giving its core to someone else (runnable).
"""

import http.server
import queue
import threading
import time
import urllib.request

import harness as h


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET after the delay in its path: /wait/<ms>."""

    in_flight = 0
    lock = threading.Lock()

    def do_GET(self):
        with SlowHandler.lock:
            SlowHandler.in_flight += 1
            h.counter("requests in flight", SlowHandler.in_flight)
        time.sleep(int(self.path.rsplit("/", 1)[-1]) / 1000)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with SlowHandler.lock:
            SlowHandler.in_flight -= 1
            h.counter("requests in flight", SlowHandler.in_flight)

    def log_message(self, *args):
        pass  # no access log on stderr


class LoopbackServer(http.server.ThreadingHTTPServer):
    """A thread per request; a listen backlog deep enough for every worker
    (a full backlog drops connections, which the client retries after 1 s)."""

    daemon_threads = True
    request_queue_size = 1024


def worker(n, tasks, work, io_kind, size, url, durations, ends):
    lane = h.thread_lane("worker-%d" % n, "worker %d" % n, parent="main")
    took = False
    while True:
        try:
            task = tasks.get_nowait()
        except queue.Empty:
            break
        took = True
        t0 = time.perf_counter_ns()
        if work == "cpu":
            h.state(lane, "running", "task %d: computing" % task)
            h.cpu(lane, size, "task %d: computing" % task)
        elif io_kind == "http":
            with h.waiting(lane, "io", "task %d: waiting for the HTTP response" % task, after=None):
                with urllib.request.urlopen(url, timeout=30) as resp:
                    resp.read()
        else:
            h.sleep(lane, size / 1000, "task %d: waiting for I/O (sleep)" % task, after=None)
        durations.append(time.perf_counter_ns() - t0)
    if took:
        ends.append(time.perf_counter_ns())
    h.state(lane, "done")


def main():
    workers, ntasks, work = h.param("workers", 8), h.param("tasks", 32), h.param("work", "io")
    size, io_kind = h.param("size", 100), h.param("io", "sleep")
    h.lane("main", "thread", "main thread")
    if work == "cpu":
        h.state("main", "active", "calibrating the CPU work")
        h.calibrate()

    url, server = None, None
    if work == "io" and io_kind == "http":
        server = LoopbackServer(("127.0.0.1", 0), SlowHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = "http://127.0.0.1:%d/wait/%d" % (server.server_address[1], size)

    tasks = queue.Queue()
    for i in range(1, ntasks + 1):
        tasks.put(i)
    durations, ends = [], []
    start, cpu0 = h.now(), h.cpu_ns()
    threads = [threading.Thread(target=worker, args=(n, tasks, work, io_kind, size, url, durations, ends))
               for n in range(1, workers + 1)]
    for t in threads:
        t.start()
    with h.waiting("main", "blocked", "joining the workers"):
        for t in threads:
            t.join()
    wall, cpu = h.now() - start, h.cpu_ns() - cpu0
    h.state("main", "done")
    if server is not None:
        server.shutdown()

    # The server derives the verdict from these numbers (package verdict).
    sequential = ntasks * size * 1e6
    busy = min(workers, ntasks)  # a worker beyond the tasks finds the queue empty
    m = {
        "wall": h.metric(round(wall / 1e6, 2), "ms", "wall time to finish every task"),
        "sequential": h.metric(sequential / 1e6, "ms", "sequential estimate: tasks × size, one worker doing one task after another"),
        "mean_task": h.metric(round(sum(durations) / max(len(durations), 1) / 1e6, 2), "ms", "mean measured time of one task"),
        "workers": h.metric(busy, "", "worker threads that took tasks"),
        "cores": h.metric(h.cores(), "", "cores the run may use" + (" (the GIL lets one thread run Python code at a time)" if h.GIL else " (no GIL: every thread may compute at once)")),
        "tasks_done": h.metric(len(durations), "", "tasks done"),
    }
    if work == "cpu" and ends:
        # A worker that found the queue empty while another still computed
        # its last task left a core idle: uneven tasks, or cores of unequal
        # speed (the quicker one runs out first).
        m["idle"] = h.metric(round(sum(max(ends) - e for e in ends) / 1e6, 2), "ms",
                             "worker time with no task left while another worker still computed (summed over the workers)")
    if busy > 1:  # one worker does the tasks one after another: nothing to speed up
        m["speedup"] = h.metric(round(sequential / wall, 2), "x", "speedup vs the sequential estimate")
    h.end({"wall_ns": wall, "cpu_ns": cpu, "metrics": m})


if __name__ == "__main__":
    main()
