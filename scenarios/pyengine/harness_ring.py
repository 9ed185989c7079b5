"""harness_ring: how the events of a run reach fd 3 without taking its cores.

harness.py (the scenario's side) writes every event of the scenario's own
process into a ring buffer in shared memory, without a system call, and
every event of the processes the scenario starts into a relay pipe, one
whole line per write. This file is the other side: the recorder, a small
process (this file run as a script) that reads both and writes the lines to
fd 3 in time order.

The recorder is an observer, and an observer must not take the cores the
measured program needs: it sleeps in one select() and wakes up
FLUSH_EVERY (50 ms) apart while the run goes (a little sooner at the start,
so the first events show quickly), or at once when the root writes a byte
to the wake pipe (at the end of the run, or when the ring is filling up).
It never wakes up per event: the relay pipe is drained at each wake-up,
not watched. Each wake-up reads everything at once, zeroes what it read in
one copy, sorts and writes what is older than the sorting window in one
write. At the default rate that is 20 wake-ups a second, measured at well
under 1 % of a core (BenchmarkObserverCost reports it as recorder-ms/s).

Only the standard library is used, and nothing of harness.py: the recorder
starts in a few ms.
"""

import os
import select
import struct
import sys
import time

# --- The ring's layout, shared with harness.py -----------------------------------------

RING_HEADER = 4096
RING_DATA = 8 << 20
WRAP = 0xFFFFFFFF
U32 = struct.Struct("<I")
# Header words (8 bytes each) of the ring.
H_WRITE, H_READ, H_ENDED, H_DROPPED = 0, 1, 2, 3

# The recorder wakes up this often while the run goes (s); at the start it
# wakes up after FIRST_FLUSH, then twice as late each time up to FLUSH_EVERY.
FLUSH_EVERY = 0.050
FIRST_FLUSH = 0.004
# Events are held this long so that late ones (a gap is reported when it
# ends) sort in before them (ns).
WINDOW_NS = 20_000_000
# After the end, how long the recorder waits for processes still writing
# to the relay (ns).
LINGER_NS = 300_000_000
# The producer wakes the recorder when the ring is fuller than this.
WAKE_FILL = RING_DATA // 2


class Ring:
    """A single-producer byte ring in shared memory, read by the recorder.

    A record is a u32 length, then the line, padded to 8 bytes. The length is
    written after the line and the reader zeroes what it consumed, so a
    record whose length is still 0 is not ready yet. Producers in the root
    serialise on a lock; nothing here releases the GIL unless the ring is
    full.
    """

    def __init__(self, fd):
        import mmap
        self.fd = fd
        self.mm = mmap.mmap(fd, RING_HEADER + RING_DATA)
        self.h = memoryview(self.mm)[:RING_HEADER].cast("Q")

    def put(self, line, wake, gone):
        """Writes line, waiting for room when the ring is full (wake() asks the
        recorder to read now), but never forever: gone() says the recorder died."""
        n = len(line)
        size = (4 + n + 7) & ~7
        h, mm = self.h, self.mm
        w = h[H_WRITE]
        off = w % RING_DATA
        pad = RING_DATA - off if off + size > RING_DATA else 0
        waited = 0
        while w + pad + size - h[H_READ] > RING_DATA:
            # Full: the recorder is behind. Wait for it rather than lose
            # events, but never forever (it may have died).
            if waited > 2000 or gone():
                h[H_DROPPED] += 1
                return
            if waited % 10 == 0:
                wake()
            time.sleep(0.001)
            waited += 1
        if pad:
            U32.pack_into(mm, RING_HEADER + off, WRAP)
            w += pad
            off = 0
        start = RING_HEADER + off
        mm[start + 4:start + 4 + n] = line
        U32.pack_into(mm, start, n)
        h[H_WRITE] = w + size

    def take(self):
        """Returns the complete lines written since the last take, and zeroes
        the bytes they took (in one copy per contiguous stretch)."""
        h, mm = self.h, self.mm
        r0 = r = h[H_READ]
        w = h[H_WRITE]
        lines = []
        unpack = U32.unpack_from
        while r < w:
            off = r % RING_DATA
            start = RING_HEADER + off
            (n,) = unpack(mm, start)
            if n == 0:
                break  # written but not visible yet
            if n == WRAP:
                r += RING_DATA - off
                continue
            line = mm[start + 4:start + 4 + n]
            if not (line.startswith(b'{"t":') and line.endswith(b"\n")):
                break  # torn read: try again next time
            lines.append(line)
            r += (4 + n + 7) & ~7
        if r != r0:
            # Zero what was read before handing the room back to the producer.
            a, b = r0 % RING_DATA, r % RING_DATA
            if r - r0 >= RING_DATA or (b <= a and r != r0):
                mm[RING_HEADER + a:RING_HEADER + RING_DATA] = bytes(RING_DATA - a)
                mm[RING_HEADER:RING_HEADER + b] = bytes(b)
            else:
                mm[RING_HEADER + a:RING_HEADER + b] = bytes(b - a)
            h[H_READ] = r
        return lines


def root_writer(ring, lock, base, wake, gone):
    """Returns the root's emit(body, t): the line goes into the ring without
    calling any Python function while the lock is held, so the thread cannot
    lose the GIL half-way (CPython only switches threads at calls and
    backward jumps). Everything it needs is bound locally: an event costs
    about a microsecond. t defaults to now (perf_counter_ns - base)."""
    mm, hdr, pc = ring.mm, ring.h, time.perf_counter_ns
    data, header, put, pack = RING_DATA, RING_HEADER, ring.put, U32.pack_into

    def emit(body, t=None):
        with lock:
            if hdr[H_ENDED]:
                return
            if t is None:
                t = pc() - base
            line = b'{"t":%d%s\n' % (t, body)
            n = len(line)
            size = (n + 11) & ~7
            w = hdr[0]
            off = w % data
            if off + size <= data and w + size - hdr[1] <= data:
                start = header + off
                mm[start + 4:start + 4 + n] = line
                pack(mm, start, n)
                hdr[0] = w + size
            else:
                put(line, wake, gone)  # wraps around, or waits for room

    return emit


# --- The recorder process ------------------------------------------------------------------


def record(ring_fd, relay_r, wake_r, ready_w, out_fd, root_pid, base):
    """Runs the recorder: ring + relay in, sorted JSON lines out on out_fd,
    until the root has ended the run (or died) and the relay is drained. It
    writes a byte to ready_w once it is up: the root waits for it."""
    pc = time.perf_counter_ns
    ring = Ring(ring_fd)
    os.set_blocking(relay_r, False)
    os.set_blocking(wake_r, False)
    os.write(ready_w, b"r")
    os.close(ready_w)
    pending = []  # (t, n, line)
    seq = 0
    end_line = None
    tail = b""
    relay_open = True
    ended_at = None

    def add(line):
        nonlocal seq, end_line
        if line.startswith(b'{"t":'):
            comma = line.find(b",", 5)
            try:
                t = int(line[5:comma])
            except ValueError:
                return
            if b'"k":"end"' in line[comma:comma + 12]:
                end_line = line
                return
            seq += 1
            pending.append((t, seq, line))

    def write(lines):
        data = b"".join(lines)
        while data:
            n = os.write(out_fd, data)
            data = data[n:]

    def drain_relay():
        nonlocal tail, relay_open
        while relay_open:
            try:
                chunk = os.read(relay_r, 1 << 20)
            except BlockingIOError:
                return
            if not chunk:
                relay_open = False
                return
            chunk = tail + chunk
            cut = chunk.rfind(b"\n") + 1
            tail = chunk[cut:]
            for line in chunk[:cut].splitlines(keepends=True):
                add(line)

    wait = FIRST_FLUSH
    wake_open = True
    idle_until_woken = os.environ.get("INTERLEAVE_RECORDER_IDLE") == "1"
    while True:
        for line in ring.take():
            add(line)
        drain_relay()
        finished = ring.h[H_ENDED] and ring.h[H_READ] == ring.h[H_WRITE]
        root_gone = os.getppid() != root_pid
        now = pc()
        if finished and ended_at is None:
            ended_at = now
        # After the end, wait a little for children still writing.
        if root_gone or (finished and (not relay_open or now - ended_at > LINGER_NS)):
            for line in ring.take():
                add(line)
            drain_relay()
            pending.sort()
            out = [p[2] for p in pending]
            dropped = ring.h[H_DROPPED]
            if dropped:
                out.append(b'{"t":%d,"k":"mark","label":"%d events were dropped: the recorder fell behind"}\n' % (now - base, dropped))
            if end_line is not None:
                out.append(end_line)
            write(out)
            return
        if pending:
            cutoff = now - base - WINDOW_NS
            pending.sort()
            i = 0
            while i < len(pending) and pending[i][0] <= cutoff:
                i += 1
            if i:
                write([p[2] for p in pending[:i]])
                del pending[:i]
        watch = [wake_r] if wake_open else []
        if finished and relay_open:
            watch.append(relay_r)  # the end: notice the last writer closing at once
        timeout = wait
        if idle_until_woken and not pending and wake_open:
            # A step run waiting for its learner: sleep until the scenario
            # wakes the recorder (harness.nudge) or ends, so that a paused
            # run uses no CPU.
            timeout = None
        ready, _, _ = select.select(watch, [], [], timeout)
        if wake_r in ready:
            try:
                wake_open = os.read(wake_r, 4096) != b""  # EOF: the root is gone
            except BlockingIOError:
                pass
        wait = min(wait * 2, FLUSH_EVERY)


def end_the_rest_of_the_run(root_pid):
    """Runs in the recorder once it has written everything: if the root is
    gone (killed, or its server was), the processes the root started that
    did not ask for a parent-death signal (subprocesses, a loopback server)
    would be orphans: the recorder kills the run's process group, itself
    last. Only for a run the server started (its own group, led by the
    root, with a spec), never for a script run by hand in a shell's job."""
    if os.getppid() != root_pid and os.environ.get("INTERLEAVE_SPEC") and os.getpgrp() == root_pid:
        os.killpg(root_pid, 9)


if __name__ == "__main__":
    _args = [int(x) for x in os.environ["INTERLEAVE_RECORDER"].split(":")]
    try:
        record(*_args)
    finally:
        end_the_rest_of_the_run(_args[5])
    sys.exit(0)
