"""harness: how an Interleave scenario written in Python reports what it does.

A scenario script imports this module (``import harness as h``) and describes
its threads, tasks and processes as lanes of a timeline, their states, lock
operations, flows, counters and marks, then ends with a summary. The server
reads the events as JSON lines on fd 3 (see docs/protocol.md); this module
writes them so that measuring a program disturbs it as little as possible:

* The scenario's own process (the root) never makes a system call to emit an
  event: events go into a ring buffer in shared memory. A small recorder
  process (harness_ring.py) wakes up every 50 ms, sorts what it read by time
  and writes it to fd 3. The root has no flusher thread competing for the
  GIL, which would change the very hand-offs the GIL scenario measures, and
  the recorder never wakes up per event, so it does not take the cores of a
  run that keeps every core busy.
* Processes started by the scenario (multiprocessing children, with any start
  method) send their events to the recorder through a relay pipe, one whole
  line per os.write of at most PIPE_BUF bytes, so lines from several
  processes never interleave. Forked children inherit the pipe; spawned ones
  open it through /proc/<root pid>/fd/<n>.
* Every process stamps events with one clock: time.perf_counter_ns() (on
  Linux CLOCK_MONOTONIC, the clock of the Go side) minus the run's clock_base.

A lane is drawn running only where the harness measured that it ran (on a
core, and under the GIL holding it: at most one thread of a process at a
time); work it cannot measure is drawn active. harness_running.py says how:
CPU work in slices that watch the clock, and a ledger of who holds the GIL.

An uncaught exception, in any thread, becomes a mark with the exception, the
traceback on stderr, an end summary saying the run failed, and exit code 1;
the run's other processes are killed first so none can keep it alive.

Only the standard library is used; Python 3.10 or newer.
"""

import json
import os
import sys
import threading
import time

import harness_process as _proc
import harness_ring as _hr
from harness_process import cpu_ns, own_memory, peak_rss  # noqa: F401 (re-exported for the scenarios)

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


GIL = bool(getattr(sys, "_is_gil_enabled", lambda: True)())
"""Whether this interpreter runs with a GIL (False on a free-threaded build
with the GIL disabled): threads of a process then never run Python at once."""

FREE_THREADED = not GIL or SPEC.get("engine") == "python-ft"
"""Whether this is a free-threaded build (the server offers one only as
python-ft, after probing Py_GIL_DISABLED), whose GIL may still be on: from
the start with PYTHON_GIL=1 (-X gil=1), or from the moment an extension
module without free-threading support is imported."""

_gil_back_at = None  # run time (ns) when the GIL was first seen on, if it was


def _gil_check():
    """On a free-threaded build, notices the GIL turned on: a mark says so
    the first time, and the summary gets the metric gil_enabled. Called
    where threads and processes begin and at the end: cheap (one call), and
    an extension is imported before the threads that use it start."""
    global _gil_back_at
    if not FREE_THREADED or _gil_back_at is not None or not sys._is_gil_enabled():
        return
    _gil_back_at = now()
    if GIL:
        label = "The GIL is on: this free-threaded CPython runs with its GIL enabled (PYTHON_GIL=1 or -X gil=1), so its threads run Python one at a time"
    else:
        label = "The GIL came back: this free-threaded CPython turned its GIL on (an extension module without free-threading support was imported, or PYTHON_GIL=1); from here its threads run Python one at a time"
    mark(label)


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



# The GIL ledger and the sliced CPU work (cpu, Gaps) live in harness_running,
# the sleeps, unsliced work and locks (sleep, busy, waiting, Lock) in
# harness_waits; both read the clock base and the encoders above: they are
# imported here, once those exist, and re-exported for the scenarios.
import harness_running as _running  # noqa: E402
from harness_running import Gaps, calibrate, cpu, gil_lane  # noqa: E402,F401
from harness_waits import Lock, busy, sleep, waiting  # noqa: E402,F401

# --- Transport: the root's ring and the children's relay ---------------------------

_ROOT_ENV = "INTERLEAVE_ROOT"  # "<root pid>:<relay fd>", set by the root

_lock = threading.Lock()
_role = None  # "root", "child" or "recorder"
_ring = None
_relay_fd = None
_wake_fd = None  # the root's end of the recorder's wake pipe
_root_pid = 0
_relay_number = -1
_recorder = None
_ended = False
_failing = False


def _recorder_dead():
    return _recorder is not None and _recorder.poll() is not None


def _wake_recorder():
    """Asks the recorder to read now (the end of the run, a full ring). A
    system call, so never done per event."""
    if _wake_fd is not None:
        try:
            os.write(_wake_fd, b"w")
        except OSError:
            pass  # the pipe is full: the recorder has been woken already


def _emit(body, t=None):
    """Writes one event: body is the JSON object after its "t" member. It is
    replaced at start by the root's or a child's writer."""


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
    """Sets up the ring, the relay pipe, the wake pipe and the recorder process."""
    global _role, _ring, _relay_fd, _wake_fd, _root_pid, _relay_number, _recorder, _emit, _ready
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
    os.ftruncate(ring_fd, _hr.RING_HEADER + _hr.RING_DATA)
    _ring = _hr.Ring(ring_fd)
    writer = _hr.root_writer(_ring, _lock, _BASE, _wake_recorder, _recorder_dead)

    def first_emit(body, t=None):
        # The first event waits for the recorder (see _await_recorder);
        # every later one goes straight to the ring.
        global _emit
        _await_recorder()
        _emit = writer
        writer(body, t)

    _emit = first_emit
    relay_r, relay_w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(relay_r, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass  # the default 64 KiB is enough, only slower
    wake_r, _wake_fd = os.pipe()
    os.set_blocking(_wake_fd, False)
    ready_r, ready_w = os.pipe()
    _relay_fd = relay_w
    _relay_number = relay_w
    os.environ[_ROOT_ENV] = "%d:%d" % (_root_pid, relay_w)
    env = dict(os.environ)
    if params.get("step"):
        env["INTERLEAVE_RECORDER_IDLE"] = "1"  # a paused step run: sleep until woken
    env["INTERLEAVE_RECORDER"] = "%d:%d:%d:%d:%d:%d:%d" % (ring_fd, relay_r, wake_r, ready_w, events_fd, _root_pid, _BASE)
    _recorder = subprocess.Popen(
        [sys.executable, "-E", "-S", "-B", _hr.__file__],
        pass_fds=(ring_fd, relay_r, wake_r, ready_w, events_fd), env=env, stdin=subprocess.DEVNULL)
    os.close(relay_r)
    os.close(wake_r)
    os.close(ready_w)
    _ready = ready_r
    # Only the recorder writes fd 3: children of this process must not hold
    # it open, or the server would wait for them to see the end of the run.
    os.close(events_fd)
    os.close(ring_fd)


# _ready is the read end of the recorder's ready pipe until the recorder is
# known to be up (None after).
_ready = None
_ready_lock = threading.Lock()


def _await_recorder():
    """Waits for the recorder to be up, once, before the run's first event.
    An interpreter starting takes 10-40 ms of CPU, which must not overlap the
    scenario's work (a run that keeps every core busy would pay for it); it
    may overlap the scenario's imports (asyncio alone takes 60 ms), so the
    wait is here and not at the harness's import: the first event comes that
    much sooner. EOF means the recorder died: events then go nowhere, and
    the ring's writer notices."""
    global _ready
    with _ready_lock:
        fd, _ready = _ready, None
        if fd is None:
            return
        import select
        select.select([fd], [], [], 5)
        os.close(fd)


def _start_child(root):
    global _role, _root_pid, _relay_number, _emit
    _role = "child"
    _emit = _child_emit
    pid, fd = root.split(":")
    _root_pid, _relay_number = int(pid), int(fd)


def _after_fork_in_child():
    """A forked child keeps the inherited relay pipe but not the ring, and
    starts with a ledger of its own (its only thread is the one that forked)."""
    global _role, _lock, _ring, _recorder, _ended, _tls, _emit, _wake_fd, _ready_lock, _ready
    if _role == "root":
        _role = "child"
        _emit = _child_emit
        _ring = None
        _recorder = None
        _ready_lock = threading.Lock()
        if _ready is not None:
            os.close(_ready)  # the parent waits for the recorder, not this child
            _ready = None
        if _wake_fd is not None:
            os.close(_wake_fd)  # the recorder sees the root's end, not ours
            _wake_fd = None
    _lock = threading.Lock()
    _ended = False
    _tls = threading.local()
    _running._reset_ledger()


# --- Events: the protocol, one function per kind -----------------------------------


def lane(id, kind, name, parent=None, pid=None, group=None, t=None):
    """Declares a lane (a row of the timeline): kind is thread, process, task,
    loop or cpu. A thread, task or loop lane of this process (and this
    process's own process lane) runs on the thread that declares it: the GIL
    ledger follows it (thread_lane declares the calling thread)."""
    body = ',"k":"lane","id":%s,"kind":%s,"name":%s' % (_lane_str(id), _str(kind), _str(name))
    if parent:
        body += ',"parent":%s' % _lane_str(parent)
    if pid:
        body += ',"pid":%d' % pid
    if group:
        body += ',"group":%s' % _str(group)
    if (kind in ("thread", "task", "loop") and (not pid or pid == os.getpid())) or (kind == "process" and pid == os.getpid()):
        _running._lanes[id] = _running._LaneRecord(id, name)
    _emit((body + "}").encode(), t)


def state(lane, s, why=None, t=None):
    """Puts lane in state s (running, active, runnable, gil-wait, lock-wait, io,
    sleep, syscall, blocked, idle, done) from t (now by default) until its
    next state. running claims the lane is on a core: use it for work that
    cpu() or Gaps measure, and active for work the harness cannot measure.
    A state a thread emits for its own lane feeds the GIL ledger."""
    q = _lane_json.get(lane) or _lane_str(lane)
    if why:
        body = ',"k":"state","lane":%s,"s":"%s","why":%s,"src":"app"}' % (q, s, _why_str(why))
    else:
        body = ',"k":"state","lane":%s,"s":"%s","src":"app"}' % (q, s)
    rec = _running._lanes.get(lane)
    if rec is not None:
        # Never before the lane's latest state (one the ledger drew for it).
        at = max(_pc() if t is None else t + _BASE, rec.last)
        if GIL and rec.ident == _get_ident():
            at = _running._own_state(rec, s == "running", at)
        else:
            own = rec.ident == _get_ident()
            if not GIL and own:
                _running._reckon(rec, at)
            rec.running = s == "running"
            if not GIL:
                # Its own thread's lane drawn running is measured from then
                # on (_reckon draws the time it loses when it leaves
                # running); drawn for a past moment (busy draws its span
                # when it ends, a lock wait ends in the past), from now: the
                # caller measured the time before. Unmeasured, a lane left
                # running after busy claimed its core: in a CI run main
                # stayed drawn running for 40 ms while both workers of
                # multiprocessing mode=threads computed on the 2 cores.
                rec.ran_from = (at if t is None else _pc(), _tt()) if s == "running" and own else None
        if at > rec.last:
            rec.last = at
        t = at - _BASE
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
    _gil_check()
    metrics = dict(summary.get("metrics") or {})
    if _gil_back_at is not None:
        metrics["gil_enabled"] = metric(1, "", "the GIL was on during the run, on a free-threaded build")
        metrics["gil_enabled_at"] = metric(round(_gil_back_at / 1e6, 1), "ms", "when the GIL was first seen on (run time)")
    s = {
        "wall_ns": int(summary.get("wall_ns") or (_pc() - _import_pc)),
        "cpu_ns": int(summary.get("cpu_ns") or (cpu_ns() - _import_cpu)),
        "metrics": {k: {"value": _clean(m.get("value", 0)), "unit": m.get("unit", ""), "label": m.get("label", "")}
                    for k, m in metrics.items()},
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
    if _role == "root" and not _recorder_dead():
        _wake_recorder()


def _finish():
    """Tells the recorder the run is over and waits until it has written all."""
    global _ended, _relay_fd
    with _lock:
        if _ended:
            return
        _ended = True
        _ring.h[_hr.H_ENDED] = 1
        # The recorder sees the relay's end once every child has closed it.
        if _relay_fd is not None and _relay_fd >= 0:
            os.close(_relay_fd)
            _relay_fd = -1
    _wake_recorder()
    try:
        _recorder.wait(timeout=5)
    except Exception:
        _recorder.kill()


# --- Threads and processes as lanes ------------------------------------------------------

_get_ident = threading.get_ident
_tls = threading.local()


def thread_lane(id, name, parent=None, group=None):
    """Declares the calling thread as lane id and returns id."""
    _gil_check()
    lane(id, "thread", name, parent=parent, pid=os.getpid(), group=group)
    _tls.lane = id
    return id


def process_lane(id, name, parent=None, group=None, t=None):
    """Declares the calling process as lane id (kind process, with its pid)."""
    _gil_check()
    lane(id, "process", name, parent=parent, pid=os.getpid(), group=group, t=t)
    _tls.lane = id
    return id


def current_lane():
    """Returns the lane of the calling thread, if it declared one."""
    return getattr(_tls, "lane", None)


# --- Failure: an exception ends the run, it never hangs it ------------------------------


def kill_children():
    """Kills every other process of the run (workers, subprocesses), not the recorder."""
    _proc.kill_group(_recorder.pid if _recorder is not None else -1)


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



# --- Start ---------------------------------------------------------------------------------

_import_pc = _pc()
_import_cpu = 0

_root = os.environ.get(_ROOT_ENV)
if SPEC.get("search"):
    # A search (stepsearch.py) runs the scenario many times and answers
    # with one line of its own: no events, so no recorder.
    # A worker that fails would leave the search waiting for it: exit.
    _role, _ended = "search", True
    threading.excepthook = lambda args: (sys.__excepthook__(args.exc_type, args.exc_value, args.exc_traceback),
                                         os._exit(1))
elif _root and int(_root.split(":")[0]) != os.getpid():
    _start_child(_root)  # a spawned interpreter: see harness_process.die_with_parent
else:
    _start_root()
    _import_cpu = cpu_ns()
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    import atexit
    atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
os.register_at_fork(before=_proc.before_fork, after_in_child=_proc.after_fork_die_with_parent)
