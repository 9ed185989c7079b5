"""gil on CPython: the real global interpreter lock.

CPU-bound threads compute; sys.setswitchinterval sets how long a thread that
wants the GIL waits before asking the holder to drop it. Every thread
measures its own hand-offs: it computes in slices of a few tens of µs and
after each slice compares its wall clock with its CPU clock
(time.thread_time_ns). Wall time that passed without CPU time is time the
thread wanted to run and could not: it was waiting for the GIL. The time
between two such waits is how long the thread held the GIL.

With io_thread=true one more thread waits 1 ms (5 ms without a GIL) on a socket (select, GIL
released) and then works 50 µs, over and over. When its wait is over it
needs the GIL back; next to CPU threads it gets it only when the holder is
asked to drop it, about one switch interval later: the convoy effect.

On a free-threaded CPython (python-ft) there is no GIL to hand over: the
same threads compute at once on different cores, no span is gil-wait, no
hand-off is counted, and a mark at the start says so.
"""

import select
import socket
import statistics
import sys
import threading

import harness as h

# One socket wait of the I/O thread, s. Without a GIL the I/O thread takes
# a core from a CPU thread for each 0.05 ms of handling: shorter than what
# the CPU threads' slices can see (harness_running's gap threshold, 0.1 ms),
# so for that moment three lanes are drawn running on two cores. Waiting
# 5 ms there keeps that under 1 % of the run; the latency measured (how late
# the thread runs after its wait) does not depend on the wait's length.
IO_WAIT = 0.001 if h.GIL else 0.005
IO_WAIT_TEXT = "%g ms" % (IO_WAIT * 1000)
IO_WORK_MS = 0.05  # what the I/O thread computes after each wait, ms
IO_ALONE = 10  # waits measured before the CPU threads start
FLOWS_SHOWN = 200  # hand-off arrows drawn; all are counted
# What a computing thread's span says it holds: the GIL, or nothing to hold.
HOLDS = "holds the GIL" if h.GIL else "no GIL to hold"


class Holder:
    """Counts the GIL's hand-offs between the CPU threads, as they measured
    them, and draws the first ones as arrows. The GIL lane itself is drawn
    by the harness (h.gil_lane): its running spans name the holder."""

    def __init__(self):
        self.last = None
        self.handoffs = 0
        self.lock = threading.Lock()

    def took(self, lane, t):
        with self.lock:
            prev, self.last = self.last, lane
            if prev == lane:
                return
            self.handoffs += 1
            n = self.handoffs
        if prev is not None and n <= FLOWS_SHOWN:
            h.flow(prev, lane, "GIL hand-off", t=t)

    def on_gap(self, lane, kind, start, end):
        if kind == "gil-wait":
            self.took(lane, end)


def cpu_thread(n, size, holder, barrier, results):
    lane = h.thread_lane("cpu-%d" % n, "CPU thread %d" % n, parent="main")
    h.state(lane, "runnable", "waiting for the start")
    barrier.wait()
    h.state(lane, "running", "computing (%s)" % HOLDS)
    if h.GIL:  # without a GIL, starting to compute takes nothing from anyone
        holder.took(lane, h.now())
    start = h.now()
    gaps = h.cpu(lane, size, "computing (%s)" % HOLDS, on_gap=holder.on_gap)
    results[n] = (start, h.now(), gaps.spans)
    h.state(lane, "done")


def io_wait(lane, sock, latencies):
    """Waits IO_WAIT on the socket, then records how late the thread ran again."""
    t0 = h.now()
    h.state(lane, "io", "waiting %s on a socket (select%s)" % (IO_WAIT_TEXT, ", GIL released" if h.GIL else ""), t=t0)
    select.select([sock], [], [], IO_WAIT)
    t1 = h.now()
    late = max(0, t1 - t0 - int(IO_WAIT * 1e9))
    if late >= 20_000:
        if h.GIL:
            h.state(lane, "gil-wait", "the wait is over; waiting for the GIL to run again", t=t1 - late)
        else:  # a build without a GIL: only a core can be missing
            h.state(lane, "runnable", "the wait is over; waiting for a core to run again", t=t1 - late)
    # Drawn running from now, so that the harness measures the whole stretch
    # (a preemption since t1 stays drawn as the wait above).
    h.state(lane, "running", "handling the data (%s)" % HOLDS)
    latencies.append(late)
    h.cpu(lane, IO_WORK_MS, "handling the data (%s)" % HOLDS)


def io_thread(stop, started, alone, contended):
    lane = h.thread_lane("io", "I/O thread", parent="main")
    sock, peer = socket.socketpair()  # nobody writes: every wait times out
    with sock, peer:
        for _ in range(IO_ALONE):
            io_wait(lane, sock, alone)
        started.set()
        while not stop.is_set():
            io_wait(lane, sock, contended)
    h.state(lane, "done")


def main():
    threads, switch_ms = h.param("threads", 2), float(h.param("switch_ms", 5))
    with_io, size = h.param("io_thread", False), h.param("size", 200)
    sys.setswitchinterval(switch_ms / 1000)
    h.lane("main", "thread", "main thread")
    h.gil_lane("gil", "GIL: who holds it (measured)")
    if not h.GIL:
        h.mark("This CPython is free-threaded: there is no GIL to hand over, so the CPU threads compute at once on different cores")
    h.state("main", "active", "calibrating the CPU work")
    h.calibrate()
    holder = Holder()

    stop, io_started = threading.Event(), threading.Event()
    alone, contended = [], []
    io = None
    if with_io:
        io = threading.Thread(target=io_thread, args=(stop, io_started, alone, contended))
        io.start()
        io_started.wait()

    barrier = threading.Barrier(threads + 1)
    results = {}
    workers = [threading.Thread(target=cpu_thread, args=(n, size, holder, barrier, results))
               for n in range(1, threads + 1)]
    for t in workers:
        t.start()
    start, cpu0 = h.now(), h.cpu_ns()
    with h.waiting("main", "blocked", "joining the CPU threads" + (" (GIL released)" if h.GIL else "")):
        barrier.wait()
        for t in workers:
            t.join()
    wall, cpu = h.now() - start, h.cpu_ns() - cpu0
    contended_reads = list(contended)
    stop.set()
    if io is not None:
        io.join()
    h.state("main", "done")

    # A hold is the stretch between two GIL waits of one thread: it had the
    # GIL (a preemption by the OS in between does not end it).
    holds, waited = [], 0
    for first, last, spans in results.values():
        waited += sum(e - s for s, e in spans)
        for (_, e), (s, _) in zip(spans, spans[1:]):
            holds.append(s - e)
    sequential = threads * size * 1e6
    speedup = sequential / wall
    ms = lambda ns: round(ns / 1e6, 3)
    m = {
        "threads": h.metric(threads, "", "CPU-bound threads"),
        "cores": h.metric(h.cores(), "", "cores the process may use"),
        "wall": h.metric(ms(wall), "ms", "wall time of the CPU threads"),
        "sequential": h.metric(sequential / 1e6, "ms", "one thread doing all the work: threads × size, CPU work calibrated on one core (estimate)"),
        "switch_ms": h.metric(switch_ms, "ms", "switch interval (sys.setswitchinterval)"),
        "handoffs": h.metric(holder.handoffs - 1 if holder.handoffs else 0, "", "times a CPU thread took the GIL from another (as the threads measured)"),
        "gil_wait_pct": h.metric(round(100 * waited / max(threads * wall, 1), 2), "%", "share of the CPU threads' time spent waiting for the GIL"),
    }
    if holds:
        m["handoff_median"] = h.metric(ms(statistics.median(holds)), "ms", "median time a thread held the GIL between two waits (measured)")
    if with_io:
        m["io_latency_alone"] = h.metric(ms(statistics.median(alone)), "ms", "I/O thread: median wait to run again after a %s socket wait, before the CPU threads started" % IO_WAIT_TEXT)
        if contended_reads:
            m["io_latency_median"] = h.metric(ms(statistics.median(contended_reads)), "ms", "I/O thread: median wait to run again after a socket wait, next to the CPU threads")
            m["io_latency_max"] = h.metric(ms(max(contended_reads)), "ms", "I/O thread: longest wait to run again")
        m["io_reads"] = h.metric(len(contended_reads), "", "%s socket waits the I/O thread completed next to the CPU threads" % IO_WAIT_TEXT)
    if threads > 1:  # one thread has nobody to take turns with
        m["speedup"] = h.metric(round(speedup, 2), "x", "speedup vs one thread (against the estimate)")
    # The server derives the verdict from these numbers (package verdict).
    h.end({"wall_ns": wall, "cpu_ns": cpu, "metrics": m})


if __name__ == "__main__":
    main()
