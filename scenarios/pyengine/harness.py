"""harness: how an Interleave scenario written in Python reports what it does.

A scenario script imports this module (``import harness as h``) and describes
its threads, tasks and processes as lanes of a timeline, their states, lock
operations, flows, counters and marks, then ends with a summary. The server
reads the events as JSON lines on fd 3 (see docs/protocol.md); this module
writes them so that measuring a program disturbs it as little as possible:

* The scenario's own process (the root) never makes a system call to emit an
  event: events go into a ring buffer in shared memory. A small recorder
  process (this file run as a script) reads the ring every couple of
  milliseconds, sorts what it read by time and writes it to fd 3. The root
  therefore has no flusher thread competing for the GIL, which would change
  the very hand-offs the GIL scenario measures.
* Processes started by the scenario (multiprocessing children, with any start
  method) send their events to the recorder through a relay pipe, one whole
  line per os.write of at most PIPE_BUF bytes, so lines from several
  processes never interleave. Forked children inherit the pipe; spawned ones
  open it through /proc/<root pid>/fd/<n>.
* Every process stamps events with one clock: time.perf_counter_ns() (on
  Linux CLOCK_MONOTONIC, the clock of the Go side) minus the run's clock_base.

GIL waiting is measured, not guessed. CPU work done through cpu() runs in
slices of about 100 µs (a quarter of the switch interval when that is
shorter); after each slice the thread compares how far the wall
clock moved with how far its own CPU clock (time.thread_time_ns) moved. When
wall time advanced and CPU time did not, the thread wanted to run and could
not: with other Python threads running that is the GIL (drawn as gil-wait),
in a process of its own it is the OS giving the core to someone else (drawn
as runnable). The harness knows its own sleeps, lock waits and I/O, so those
are never counted. A sleep() that returns late is measured the same way: the
time past the deadline is the wait to get the GIL back (the convoy effect).
One slice check costs a perf_counter_ns and a thread_time_ns call, about
0.4 µs per 100 µs slice; gaps are reported as spans, not per slice.

An uncaught exception, in any thread, becomes a mark with the exception, the
traceback on stderr, an end summary saying the run failed, and exit code 1;
the run's other processes are killed first so none can keep it alive.

Only the standard library is used; Python 3.10 or newer.
"""

import json
import mmap
import os
import struct
import sys
import threading
import time

# --- The run's spec and clock ------------------------------------------------

SPEC = json.loads(os.environ.get("INTERLEAVE_SPEC") or "{}")
"""The run's spec: run_id, scenario, engine, params, clock_base, cores."""

params = SPEC.get("params") or {}
"""The scenario's params, validated by the server (defaults filled in)."""

_pc = time.perf_counter_ns
_tt = time.thread_time_ns
_BASE = int(SPEC.get("clock_base") or _pc())


def now():
    """Returns the run's clock: ns since the run started (CLOCK_MONOTONIC)."""
    return _pc() - _BASE


def param(name, default=None):
    """Returns a param, or default when the spec has none (a run by hand)."""
    return params.get(name, default)


def cores():
    """Returns the number of CPUs the run may use."""
    return int(SPEC.get("cores") or os.cpu_count() or 1)


# --- Encoding -------------------------------------------------------------------

_dumps = json.dumps
_PIPE_BUF = 4096
# Output text is cut into pieces so that every line stays below PIPE_BUF even
# when each character is escaped as \uXXXX.
_OUTPUT_PIECE = 600


def _str(s):
    return _dumps(s if isinstance(s, str) else str(s))


_lane_json = {}


def _lane_str(lane):
    """Returns lane as JSON, cached: lanes are named again and again."""
    q = _lane_json.get(lane)
    if q is None:
        q = _lane_json[lane] = _str(lane)
    return q


_why_json = {}


def _why_str(why):
    """Returns why as JSON, cached: the same reasons come back again and again
    (the cache is bounded, so reasons made of changing numbers do no harm)."""
    q = _why_json.get(why)
    if q is None:
        q = _str(why)
        if len(_why_json) < 4096:
            _why_json[why] = q
    return q


def _num(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        return "0"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


# --- Transport: the root's ring and the children's relay ---------------------------

_ROOT_ENV = "INTERLEAVE_ROOT"  # "<root pid>:<relay fd>", set by the root
_RING_HEADER = 4096
_RING_DATA = 8 << 20
_WRAP = 0xFFFFFFFF
_u32 = struct.Struct("<I")
# Header words (8 bytes each) of the ring.
_H_WRITE, _H_READ, _H_ENDED, _H_DROPPED = 0, 1, 2, 3


class _Ring:
    """A single-producer byte ring in shared memory, read by the recorder.

    A record is a u32 length, then the line, padded to 8 bytes. The length is
    written after the line and the reader zeroes what it consumed, so a
    record whose length is still 0 is not ready yet. Producers in the root
    serialise on a lock; nothing here releases the GIL unless the ring is
    full.
    """

    def __init__(self, fd):
        self.fd = fd
        self.mm = mmap.mmap(fd, _RING_HEADER + _RING_DATA)
        self.h = memoryview(self.mm)[:_RING_HEADER].cast("Q")

    def put(self, line):
        n = len(line)
        size = (4 + n + 7) & ~7
        h, mm = self.h, self.mm
        w = h[_H_WRITE]
        off = w % _RING_DATA
        pad = _RING_DATA - off if off + size > _RING_DATA else 0
        waited = 0
        while w + pad + size - h[_H_READ] > _RING_DATA:
            # Full: the recorder is behind. Wait for it rather than lose
            # events, but never forever (it may have died).
            if waited > 2000 or _recorder_dead():
                h[_H_DROPPED] += 1
                return
            time.sleep(0.001)
            waited += 1
        if pad:
            _u32.pack_into(mm, _RING_HEADER + off, _WRAP)
            w += pad
            off = 0
        start = _RING_HEADER + off
        mm[start + 4:start + 4 + n] = line
        _u32.pack_into(mm, start, n)
        h[_H_WRITE] = w + size

    def take(self):
        """Returns the complete lines written since the last take."""
        h, mm = self.h, self.mm
        r, w = h[_H_READ], h[_H_WRITE]
        lines = []
        while r < w:
            off = r % _RING_DATA
            start = _RING_HEADER + off
            (n,) = _u32.unpack_from(mm, start)
            if n == 0:
                break  # written but not visible yet
            if n == _WRAP:
                mm[start:start + 4] = b"\0\0\0\0"
                r += _RING_DATA - off
                continue
            line = mm[start + 4:start + 4 + n]
            if not (line.startswith(b'{"t":') and line.endswith(b"\n")):
                break  # torn read: try again next time
            size = (4 + n + 7) & ~7
            mm[start:start + size] = bytes(size)
            lines.append(line)
            r += size
        h[_H_READ] = r
        return lines


_lock = threading.Lock()
_role = None  # "root", "child" or "recorder"
_ring = None
_ring_mm = None
_ring_h = None
_relay_fd = None
_root_pid = 0
_relay_number = -1
_recorder = None
_ended = False
_failing = False


def _recorder_dead():
    return _recorder is not None and _recorder.poll() is not None


def _emit(body, t=None):
    """Writes one event: body is the JSON object after its "t" member. It is
    replaced at start by the root's or a child's writer."""


def _root_writer(ring):
    """Returns the root's _emit: the line goes into the ring without calling
    any Python function while the lock is held, so the thread cannot lose the
    GIL half-way (CPython only switches threads at calls and backward jumps).
    Everything it needs is bound locally: an event costs about a microsecond."""
    mm, hdr, lock, pc, base, pack = ring.mm, ring.h, _lock, _pc, _BASE, _u32.pack_into
    data, header, put = _RING_DATA, _RING_HEADER, ring.put

    def emit(body, t=None):
        with lock:
            if hdr[_H_ENDED]:
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
                put(line)  # wraps around, or waits for room

    return emit


def _child_emit(body, t=None):
    """A child process's _emit: one line, one write to the relay pipe."""
    with _lock:
        if t is None:
            t = _pc() - _BASE
        _relay_write(b'{"t":%d%s\n' % (t, body))


def _relay_write(line):
    global _relay_fd
    if _relay_fd is None:
        try:
            _relay_fd = os.open("/proc/%d/fd/%d" % (_root_pid, _relay_number), os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            sys.stderr.write("harness: cannot reach the run's recorder: %s\n" % e)
            _relay_fd = -1
    if _relay_fd < 0:
        return
    if len(line) > _PIPE_BUF:
        # Lines from several processes share the pipe: a longer write could
        # be split and interleave with another process's line.
        sys.stderr.write("harness: event of %d bytes dropped (more than PIPE_BUF)\n" % len(line))
        return
    try:
        os.write(_relay_fd, line)
    except OSError:
        pass


def _start_root():
    """Sets up the ring, the relay pipe and the recorder process."""
    global _role, _ring, _ring_mm, _ring_h, _relay_fd, _root_pid, _relay_number, _recorder, _emit
    import subprocess

    _role = "root"
    _root_pid = os.getpid()
    try:
        os.fstat(3)
        events_fd = 3
    except OSError:
        # Run by hand: events go to stderr so the script still works.
        events_fd = os.dup(2)
    ring_fd = os.memfd_create("interleave-events")
    os.ftruncate(ring_fd, _RING_HEADER + _RING_DATA)
    _ring = _Ring(ring_fd)
    _ring_mm, _ring_h = _ring.mm, _ring.h
    _emit = _root_writer(_ring)
    relay_r, relay_w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(relay_r, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass  # the default 64 KiB is enough, only slower
    _relay_fd = relay_w
    _relay_number = relay_w
    os.environ[_ROOT_ENV] = "%d:%d" % (_root_pid, relay_w)
    env = dict(os.environ)
    env["INTERLEAVE_RECORDER"] = "%d:%d:%d:%d" % (ring_fd, relay_r, events_fd, _root_pid)
    _recorder = subprocess.Popen(
        [sys.executable, "-E", "-S", "-B", os.path.abspath(__file__)],
        pass_fds=(ring_fd, relay_r, events_fd), env=env, stdin=subprocess.DEVNULL)
    os.close(relay_r)
    # Only the recorder writes fd 3: children of this process must not hold
    # it open, or the server would wait for them to see the end of the run.
    os.close(events_fd)
    os.close(ring_fd)


def _start_child(root):
    global _role, _root_pid, _relay_number, _emit
    _role = "child"
    _emit = _child_emit
    pid, fd = root.split(":")
    _root_pid, _relay_number = int(pid), int(fd)


def _after_fork_in_child():
    """A forked child keeps the inherited relay pipe but not the ring."""
    global _role, _lock, _ring, _recorder, _ended, _running_threads, _tls, _emit
    if _role == "root":
        _role = "child"
        _emit = _child_emit
        _ring = None
        _recorder = None
    _lock = threading.Lock()
    _ended = False
    _threads.clear()
    _running_threads = 0
    _tls = threading.local()


# --- Events: the protocol, one function per kind -----------------------------------


def lane(id, kind, name, parent=None, pid=None, group=None, t=None):
    """Declares a lane (a row of the timeline): kind is thread, process, task or loop."""
    body = ',"k":"lane","id":%s,"kind":%s,"name":%s' % (_lane_str(id), _str(kind), _str(name))
    if parent:
        body += ',"parent":%s' % _lane_str(parent)
    if pid:
        body += ',"pid":%d' % pid
    if group:
        body += ',"group":%s' % _str(group)
    _emit((body + "}").encode(), t)


def state(lane, s, why=None, t=None):
    """Puts lane in state s (running, runnable, gil-wait, lock-wait, io, sleep,
    syscall, blocked, idle, done) from t (now by default) until its next state."""
    q = _lane_json.get(lane) or _lane_str(lane)
    if why:
        body = ',"k":"state","lane":%s,"s":"%s","why":%s,"src":"app"}' % (q, s, _why_str(why))
    else:
        body = ',"k":"state","lane":%s,"s":"%s","src":"app"}' % (q, s)
    global _running_threads
    tr = _threads.get(lane)
    if tr is not None and (s == "running") != tr.running:
        tr.running = s == "running"
        _running_threads += 1 if tr.running else -1
    _emit(body.encode(), t)


def lock(lane, lock, op, t=None):
    """Records a lock operation by lane: want, got or free."""
    _emit((',"k":"lock","lane":%s,"lock":%s,"op":"%s"}' % (_lane_str(lane), _str(lock), op)).encode(), t)


def flow(frm, to, label, t=None):
    """Draws an arrow from lane frm to lane to (spawn, message, payload...)."""
    _emit((',"k":"flow","from":%s,"to":%s,"label":%s}' % (_lane_str(frm), _lane_str(to), _str(label))).encode(), t)


def counter(name, v, t=None):
    """Records the value of a counter track (the shared counter, a queue length)."""
    _emit((',"k":"counter","name":%s,"v":%s}' % (_str(name), _num(v))).encode(), t)


def output(lane, stream, text):
    """Records what a lane (a subprocess) printed on stdout or stderr."""
    if not text:
        return
    for i in range(0, len(text), _OUTPUT_PIECE):
        piece = text[i:i + _OUTPUT_PIECE]
        _emit((',"k":"output","lane":%s,"stream":"%s","text":%s}' % (_lane_str(lane), stream, _str(piece))).encode())


def mark(label, lane=None, t=None):
    """Records an instant: an exit code, a timeout, an exception."""
    if lane:
        body = ',"k":"mark","lane":%s,"label":%s}' % (_lane_str(lane), _str(label))
    else:
        body = ',"k":"mark","label":%s}' % _str(label)
    _emit(body.encode(), t)


def step(lane, line, code, locals_, n=0, src=None):
    """Records that a thread of a step run stopped before line (code, its
    locals as {name: repr}); n is the number of the step that brought it
    there (0: its first arrival; line 0: it returned). src, sent once per
    lane, is (function name, first line number, source lines): the fields
    fn, first and source."""
    body = ',"k":"step","lane":%s,"line":%d,"code":%s,"locals":%s' % (
        _lane_str(lane), line, _str(code), _dumps(locals_, separators=(",", ":")))
    if n:
        body += ',"n":%d' % n
    if src:
        body += ',"fn":%s,"first":%d,"source":%s' % (_str(src[0]), src[1], _dumps(src[2], separators=(",", ":")))
    _emit((body + "}").encode())


def metric(value, unit="", label=""):
    """Returns one entry of a summary's metrics."""
    return {"value": _clean(value), "unit": unit, "label": label}


def _clean(v):
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return 0
    return v


def end(summary, failed=False):
    """Ends the run with its summary: wall_ns, cpu_ns, metrics and a verdict.

    wall_ns and cpu_ns default to the time since the harness was imported.
    The recorder writes everything still buffered and then the end event.
    With failed=True the process exits with status 1 (the run failed)."""
    global _ended
    if _role != "root":
        raise RuntimeError("end() belongs to the scenario's main process")
    with _lock:
        if _ended:
            return
    s = {
        "wall_ns": int(summary.get("wall_ns") or (_pc() - _import_pc)),
        "cpu_ns": int(summary.get("cpu_ns") or (cpu_ns() - _import_cpu)),
        "metrics": {k: {"value": _clean(m.get("value", 0)), "unit": m.get("unit", ""), "label": m.get("label", "")}
                    for k, m in (summary.get("metrics") or {}).items()},
        "verdict": str(summary.get("verdict") or ""),
    }
    _emit((',"k":"end","summary":%s}' % _dumps(s, separators=(",", ":"))).encode())
    _finish()
    if failed:
        _exit_run(1)


def nudge():
    """Wakes the recorder now. A step run calls it after each step: while
    the run waits for its learner the recorder sleeps instead of polling
    the ring, so this is how the step's events go out."""
    if _role == "root" and _relay_fd is not None and _relay_fd >= 0 and not _recorder_dead():
        try:
            os.write(_relay_fd, b"\n")  # not an event line: the recorder skips it
        except OSError:
            pass


def _finish():
    """Tells the recorder the run is over and waits until it has written all."""
    global _ended, _relay_fd
    with _lock:
        if _ended:
            return
        _ended = True
        _ring.h[_H_ENDED] = 1
        # The recorder sees the relay's end once every child has closed it.
        if _relay_fd is not None and _relay_fd >= 0:
            os.close(_relay_fd)
            _relay_fd = -1
    try:
        _recorder.wait(timeout=5)
    except Exception:
        _recorder.kill()


def cpu_ns():
    """Returns the CPU time (user+system) of this process and its reaped children."""
    import resource
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * 1e9)


def own_memory(pid=None):
    """Returns the memory a child process holds of its own, in bytes: its
    private pages (Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup),
    read now, when its work is done. A child shares the interpreter's binary
    and libraries with its parent (and, when forked, every page it has not
    written); its peak (VmHWM) counts those again, so a sum of children's
    peaks would count the same memory once per process. The go engine
    measures children the same way. Falls back to VmHWM when smaps_rollup
    cannot be read; 0 when neither can."""
    path = "/proc/self/smaps_rollup" if pid is None else "/proc/%d/smaps_rollup" % pid
    try:
        private = 0
        with open(path, "rb") as f:
            for line in f:
                if line.startswith((b"Private_Clean:", b"Private_Dirty:")):
                    private += int(line.split()[1]) * 1024
        return private
    except (OSError, ValueError, IndexError):
        return peak_rss(pid)


def peak_rss(pid=None):
    """Returns the peak resident memory of a process, in bytes: VmHWM from
    /proc/<pid>/status (this process by default), the high-water mark of the
    process's own address space. 0 when it cannot be read (the process is
    gone, or a zombie).

    Not getrusage's ru_maxrss: Linux carries a process's peak across execve,
    so a freshly started child (a spawned worker, a subprocess) reports its
    parent's peak as its own, and RUSAGE_CHILDREN is only the largest child's.
    A forked child (start method fork) shares its parent's pages until it
    writes them, and VmHWM counts them: its peak includes the parent's memory
    at the fork. For the memory of several processes, add each one's peak."""
    path = "/proc/self/status" if pid is None else "/proc/%d/status" % pid
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    if pid is None:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # no /proc: the best there is
    return 0


# --- Threads and processes as lanes -------------------------------------------------


class _ThreadRecord:
    """What the harness knows about a thread that is a lane: whether its last
    state was running (so that a gap can be told apart: with other threads
    running it is the GIL, alone it is the OS)."""

    __slots__ = ("lane", "ident", "running")

    def __init__(self, lane, ident):
        self.lane, self.ident, self.running = lane, ident, False


_threads = {}  # lane -> _ThreadRecord, for lanes that are threads of this process
_running_threads = 0  # how many of them are running
_tls = threading.local()


def thread_lane(id, name, parent=None, group=None):
    """Declares the calling thread as lane id and returns id."""
    lane(id, "thread", name, parent=parent, pid=os.getpid(), group=group)
    _threads[id] = _ThreadRecord(id, threading.get_ident())
    _tls.lane = id
    return id


def process_lane(id, name, parent=None, group=None, t=None):
    """Declares the calling process as lane id (kind process, with its pid)."""
    lane(id, "process", name, parent=parent, pid=os.getpid(), group=group, t=t)
    _tls.lane = id
    return id


def current_lane():
    """Returns the lane of the calling thread, if it declared one."""
    return getattr(_tls, "lane", None)


# --- CPU work, sleeps and locks that measure their own waits -----------------------

_SLICE_NS = 100_000  # CPU work between two gap checks (at most)
_units_per_ms = 0


def _spin(n):
    x = 0
    for i in range(n):
        x = (x + i * i) % 1000003
    return x


def calibrate(units_per_ms=None):
    """Measures how many work units this machine computes per ms on one core,
    so that cpu(lane, 200) is a fixed amount of work that takes 200 ms alone,
    and returns it. Call it before starting threads; pass a worker process
    the parent's value (calibrate(units)) so that every process does the
    same amount of work."""
    global _units_per_ms
    if units_per_ms:
        _units_per_ms = int(units_per_ms)
    if _units_per_ms:
        return _units_per_ms
    probe = 20000
    _spin(probe)
    best = None
    for _ in range(5):
        c0 = _tt()
        _spin(probe)
        d = _tt() - c0
        best = d if best is None or d < best else best
    _units_per_ms = max(1, int(probe * 1e6 / max(best, 1)))
    return _units_per_ms


def _gap_threshold():
    # A gap shorter than this is noise (interrupts, a busy VM); with a short
    # switch interval the GIL hand-offs themselves are short.
    return int(max(30_000, min(250_000, sys.getswitchinterval() * 1e9 / 2)))


_checks = 0  # Gaps.check calls by every thread of this process


class Gaps:
    """Finds the time a running thread could not run: wall time that moved
    while the thread's CPU time did not. Call check() every few tens of µs of
    work; each gap becomes a span on the lane.

    Whether the gap was the GIL is told by the other threads: if any of them
    checked in during the gap, they ran Python code, so they held the GIL
    and this thread was waiting for it (gil-wait). If none did, the thread
    most likely kept the GIL and the OS gave its core to someone else
    (runnable): the two are different waits and are drawn apart."""

    def __init__(self, lane, why="computing", on_gap=None):
        self.lane, self.why, self.on_gap = lane, why, on_gap
        self.threshold = _gap_threshold()
        self.spans = []  # gil-wait spans: (start, end) in run time, ns
        self.preempted = []  # runnable spans: (start, end)
        self.w, self.c = _pc(), _tt()
        self.seen = _checks

    def skip(self):
        """Starts measuring afresh: the time since the last check was a known
        wait (a lock, I/O) already drawn as such."""
        self.w, self.c, self.seen = _pc(), _tt(), _checks

    def check(self):
        global _checks
        w, c = _pc(), _tt()
        _checks += 1
        lost = (w - self.w) - (c - self.c)
        if lost >= self.threshold:
            start, end = w - lost - _BASE, w - _BASE
            if _checks - self.seen > 1:
                state(self.lane, "gil-wait", "wants to run: another thread holds the GIL", t=start)
                self.spans.append((start, end))
                kind = "gil-wait"
            else:
                state(self.lane, "runnable", "wants to run: the OS gave the core to someone else", t=start)
                self.preempted.append((start, end))
                kind = "runnable"
            state(self.lane, "running", self.why, t=end)
            if self.on_gap is not None:
                self.on_gap(self.lane, kind, start, end)
        self.w, self.c, self.seen = w, c, _checks


def cpu(lane, ms, why="computing", on_gap=None):
    """Computes for ms milliseconds of one core's time (as calibrated), in
    slices, reporting every stretch the thread could not run; on_gap(lane,
    kind, start, end) is called after each. Returns the Gaps (their spans)."""
    per_ms = _units_per_ms or calibrate()
    slice_ns = min(_SLICE_NS, max(20_000, int(sys.getswitchinterval() * 1e9 / 4)))
    units = max(1, int(per_ms * slice_ns / 1e6))
    total = int(per_ms * ms)
    gaps = Gaps(lane, why, on_gap)
    done = 0
    spin, check = _spin, gaps.check
    while done < total:
        n = min(units, total - done)
        spin(n)
        done += n
        check()
    return gaps


def sleep(lane, seconds, why="sleeping", after="running", after_why=None):
    """Sleeps on lane and returns how late it woke, in ns. Time past the
    deadline is time the thread waited to run again (the GIL, or a CPU) and
    is drawn as such; then the lane goes back to state after."""
    t0 = _pc()
    state(lane, "sleep", why, t=t0 - _BASE)
    time.sleep(seconds)
    t1 = _pc()
    late = t1 - t0 - int(seconds * 1e9)
    if late >= _gap_threshold():
        if _running_threads > 0 or threading.active_count() > 1:
            state(lane, "gil-wait", "woke up; waiting for the GIL to run again", t=t1 - late - _BASE)
        else:
            state(lane, "runnable", "woke up; waiting for a CPU", t=t1 - late - _BASE)
    if after:
        state(lane, after, after_why, t=t1 - _BASE)
    return max(late, 0)


class waiting:
    """A context manager: lane is in state s (io, blocked...) inside the block
    and back in state after when it ends."""

    def __init__(self, lane, s, why=None, after="running", after_why=None):
        self.lane, self.s, self.why, self.after, self.after_why = lane, s, why, after, after_why

    def __enter__(self):
        state(self.lane, self.s, self.why)
        return self

    def __exit__(self, *exc):
        if self.after:
            state(self.lane, self.after, self.after_why)
        return False


class Lock:
    """A threading.Lock that reports contention: a lane that has to wait for
    it gets a lock-wait span and want/got events when the wait lasted at least
    min_wait_ns (shorter waits are counted, not drawn, so a million
    acquisitions do not become millions of events)."""

    def __init__(self, name, min_wait_ns=50_000):
        self.name = name
        self.min_wait_ns = min_wait_ns
        self._lock = threading.Lock()
        self.waited_ns = 0
        self.contended = 0
        self.acquisitions = 0

    def acquire(self, lane, why="in the critical section", gaps=None):
        """Takes the lock for lane. gaps is the lane's Gaps, if it measures
        its own waits: a lock wait is not a GIL wait."""
        self.acquisitions += 1
        if self._lock.acquire(False):
            return
        t0 = _pc()
        self._lock.acquire()
        t1 = _pc()
        if gaps is not None:
            gaps.skip()
        waited = t1 - t0
        self.waited_ns += waited
        self.contended += 1
        if waited >= self.min_wait_ns:
            lock(lane, self.name, "want", t=t0 - _BASE)
            state(lane, "lock-wait", "waiting for %s: another thread holds it" % self.name, t=t0 - _BASE)
            lock(lane, self.name, "got", t=t1 - _BASE)
            state(lane, "running", why, t=t1 - _BASE)

    def release(self):
        self._lock.release()


# --- Failure: an exception ends the run, it never hangs it ------------------------------


def _group_members():
    """Returns the pids of the other live processes of this run's process group."""
    me, pgrp = os.getpid(), os.getpgrp()
    rec = _recorder.pid if _recorder is not None else -1
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 3 and fields[0] != b"Z" and int(fields[2]) == pgrp:
            pid = int(name)
            if pid not in (me, rec):
                pids.append(pid)
    return pids


def kill_children():
    """Kills every other process of the run (workers, subprocesses), not the recorder."""
    import signal
    for pid in _group_members():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _exit_run(code):
    """Ends the process now: no waiting for threads or children."""
    try:
        kill_children()
    except Exception:
        pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(code)


def _fail(exc_type, exc, tb, where):
    global _failing
    with _lock:
        if _failing:
            return
        _failing = True
    import traceback
    try:
        traceback.print_exception(exc_type, exc, tb)
        sys.stderr.flush()
    except Exception:
        pass
    text = "%s: %s" % (exc_type.__name__, exc) if str(exc) else exc_type.__name__
    try:
        # Children die first so that none keeps the run alive or writes on.
        kill_children()
        mark("exception in %s: %s" % (where, text), lane=current_lane())
        end({"verdict": "The script failed with %s (traceback in the output)." % text})
    except Exception:
        pass
    _exit_run(1)


def _excepthook(exc_type, exc, tb):
    if issubclass(exc_type, SystemExit):
        return sys.__excepthook__(exc_type, exc, tb)
    _fail(exc_type, exc, tb, "the main thread")


def _thread_excepthook(args):
    if issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "a thread"
    _fail(args.exc_type, args.exc_value, args.exc_traceback, "thread " + name)


def _at_exit():
    if _role == "root" and not _ended and not _failing:
        end({"verdict": "The script ended without a summary."})


# --- The recorder process --------------------------------------------------------------

_WINDOW_NS = 20_000_000  # events are held this long so that late ones sort in
_POLL_MIN, _POLL_MAX = 0.002, 0.016  # how often the recorder looks at the ring, s


def _record():
    """Runs the recorder: ring + relay in, sorted JSON lines out on fd 3."""
    import select
    ring_fd, relay_r, out_fd, root_pid = (int(x) for x in os.environ["INTERLEAVE_RECORDER"].split(":"))
    ring = _Ring(ring_fd)
    os.set_blocking(relay_r, False)
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

    poll = _POLL_MIN
    stepped = bool(params.get("step"))
    while True:
        got = ring.take()
        for line in got:
            add(line)
        # Look often while events come, less when the scenario is quiet (a
        # CPU-bound stretch): the recorder should not take CPU from it.
        poll = _POLL_MIN if got else min(poll * 2, _POLL_MAX)
        if relay_open:
            while True:
                try:
                    chunk = os.read(relay_r, 1 << 20)
                except BlockingIOError:
                    break
                if not chunk:
                    relay_open = False
                    break
                chunk = tail + chunk
                cut = chunk.rfind(b"\n") + 1
                tail = chunk[cut:]
                for line in chunk[:cut].splitlines(keepends=True):
                    add(line)
        finished = ring.h[_H_ENDED] and ring.h[_H_READ] == ring.h[_H_WRITE]
        root_gone = os.getppid() != root_pid
        if finished and ended_at is None:
            ended_at = _pc()
        # After the end, wait a little for children still writing.
        if root_gone or (finished and (not relay_open or _pc() - ended_at > 300_000_000)):
            for line in ring.take():
                add(line)
            pending.sort()
            out = [p[2] for p in pending]
            if end_line is not None:
                out.append(end_line)
            dropped = ring.h[_H_DROPPED]
            if dropped:
                out.insert(len(out) - (end_line is not None),
                           b'{"t":%d,"k":"mark","label":"%d events were dropped: the recorder fell behind"}\n' % (_pc() - _BASE, dropped))
            write(out)
            return
        wait = poll
        if stepped and not got and not pending and poll >= _POLL_MAX and relay_open:
            # A step run waiting for its learner: sleep until the scenario
            # nudges (nudge()) or ends, so that a paused run uses no CPU.
            wait = None
        if pending:
            cutoff = _pc() - _BASE - _WINDOW_NS
            pending.sort()
            i = 0
            while i < len(pending) and pending[i][0] <= cutoff:
                i += 1
            if i:
                write([p[2] for p in pending[:i]])
                del pending[:i]
            if pending:  # wake up when the oldest one is due
                wait = min(wait, max(_POLL_MIN, (pending[0][0] - cutoff) / 1e9))
        if relay_open:
            select.select([relay_r], [], [], wait)
        else:
            time.sleep(wait)


# --- Parent death: no process of a run outlives the server -------------------------------

_PR_SET_PDEATHSIG = 1
_prctl = None
_fork_parent = None


def _die_with_parent(parent=None):
    """Asks the kernel to SIGKILL this process when its parent dies, so that
    no process of a run outlives the server (a kill -9 included): the
    server's child gets the request from the server, and every process the
    harness runs in makes its own. A fork clears the request, hence one
    per process. The parent may have died before the request: then this
    process is an orphan already (its parent is no longer parent or, when
    the parent is not known, no longer of the run's process group) and it
    ends itself."""
    global _prctl
    try:
        if _prctl is None:
            import ctypes
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        if _prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:
            return
        ppid = os.getppid()
        orphan = ppid != parent if parent is not None else (ppid == 1 or os.getpgid(ppid) != os.getpgrp())
    except Exception:
        return  # no ctypes, or the parent is already gone (getpgid failed)
    if orphan:
        os.kill(os.getpid(), 9)


def _before_fork():
    """Notes who forks, and loads ctypes once in the parent, not in each child."""
    global _fork_parent, _prctl
    _fork_parent = os.getpid()
    if _prctl is None:
        try:
            import ctypes
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except Exception:
            pass


def _after_fork_die_with_parent():
    _die_with_parent(_fork_parent)


def _end_the_rest_of_the_run(root_pid):
    """Runs in the recorder once it has written everything: if the root is
    gone (killed, or its server was), the processes the root started that
    did not ask for a parent-death signal (subprocesses, a loopback server)
    would be orphans: the recorder kills the run's process group, itself
    last. Only for a run the server started (its own group, led by the
    root), never for a script run by hand in a shell's job."""
    if os.getppid() != root_pid and SPEC and os.getpgrp() == root_pid:
        os.killpg(root_pid, 9)


# --- Start ---------------------------------------------------------------------------------

_import_pc = _pc()
_import_cpu = 0

if __name__ == "__main__":
    _role = "recorder"
    try:
        _record()
    finally:
        _end_the_rest_of_the_run(int(os.environ["INTERLEAVE_RECORDER"].split(":")[3]))
    sys.exit(0)

_root = os.environ.get(_ROOT_ENV)
if SPEC.get("search"):
    # A search (stepsearch.py) runs the scenario many times and answers
    # with one line of its own: no events, so no recorder.
    # A worker that fails would leave the search waiting for it: exit.
    _role, _ended = "search", True
    threading.excepthook = lambda args: (sys.__excepthook__(args.exc_type, args.exc_value, args.exc_traceback),
                                         os._exit(1))
elif _root and int(_root.split(":")[0]) != os.getpid():
    _start_child(_root)
    _die_with_parent()
else:
    _start_root()
    _import_cpu = cpu_ns()
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    import atexit
    atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
os.register_at_fork(before=_before_fork, after_in_child=_after_fork_die_with_parent)
