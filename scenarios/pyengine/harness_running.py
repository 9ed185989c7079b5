"""harness_running: when a lane of a Python scenario is drawn running.

Part of the harness: harness.py re-exports what scenarios use (cpu, Gaps,
calibrate, gil_lane; sleep, busy, waiting and Lock, which read and feed the
ledger, are in harness_waits.py). A lane is drawn running only where the
harness measured that it ran:

* CPU work done through cpu() runs in slices of about 100 µs (a quarter of
  the switch interval when that is shorter). After each slice the thread
  reads the wall clock (perf_counter_ns, a vDSO call of about 80 ns); only
  when a slice took longer than it can without a gap worth drawing, or every
  16 slices, does it read its own CPU clock (thread_time_ns, a system call
  of 1-2 µs on a VM). Wall time that advanced while CPU time did not is
  time the thread wanted to run and could not. Reading the CPU clock after
  every slice cost about 2 % of a CPU-bound thread.
* Under the GIL, who ran is known too: a thread that executes Python holds
  the GIL, so every slice it computes and every state it emits about its
  own lane proves that it holds the GIL at that instant. A ledger per
  process keeps the thread lane drawn running. When another thread proves
  it holds the GIL, the lane drawn running is drawn waiting for the GIL
  (gil-wait) from then on; when it computes again, it is drawn running from
  the moment it took the GIL back (estimated from its CPU clock, and never
  before the previous holder was last seen running). So at no instant are
  two threads of a process drawn running, by construction; a gap during
  which no other thread of the process ran is the OS giving the core to
  someone else (runnable). A process may declare a GIL lane (gil_lane), a
  cpu lane whose running spans name the holder.
* Without a GIL (free-threaded CPython, sys._is_gil_enabled() false) there
  is no ledger: threads run in parallel and every gap is the OS preempting
  the thread (runnable). A lane's whole stretch drawn running is measured,
  not only its cpu() slices: when its thread draws it out of running, the
  time the thread lost since its last check (in code between the slices,
  in emitting an event) is drawn too (_reckon). Measured under load: an
  I/O thread drawn running for its 50 µs of handling was off its core for
  up to 113 ms between waking up and computing.
* Work the harness cannot slice (pickling, an event loop's steps) is drawn
  by busy when it ends: running if the thread's CPU clock kept up with the
  wall clock, active otherwise. Scenarios draw work they cannot measure at
  all (another program, a loop of lock acquisitions) active, never running.

The harness knows its own sleeps, lock waits and I/O, so those are never
counted as waits to run; a sleep() that returns late is measured the same
way (the convoy effect).
"""

import sys
import threading
import time
import types
from itertools import repeat as _repeat

import harness as _h

# harness.py imports this module once its clock and encoders exist.
_pc = time.perf_counter_ns
_tt = time.thread_time_ns
_ptime = time.process_time_ns
_BASE = _h._BASE
GIL = _h.GIL


# --- The GIL ledger: which thread lane is drawn running ------------------------------

_get_ident = threading.get_ident

_GIL_WAIT_WHY = "wants to run: another thread holds the GIL"
_PREEMPTED_WHY = "wants to run: waits for a core (the OS runs something else)"


class _LaneRecord:
    """What the harness knows about a lane that runs on a thread of this
    process: the thread (the one that declared it, or that computes on it),
    its name (the GIL lane names holders), whether its work is running,
    since when the ledger draws it waiting for the GIL, and the time of the
    latest state this process emitted for it (a state the ledger derives is
    never older, so every lane's states stay in time order)."""

    __slots__ = ("lane", "name", "ident", "running", "lost_at", "last", "ran_from")

    def __init__(self, lane, name, ident=None):
        self.lane, self.name = lane, name
        self.ident = _get_ident() if ident is None else ident
        self.running = False
        self.lost_at = None  # absolute ns, while drawn gil-wait by the ledger
        self.last = 0  # absolute ns
        # Without a GIL: (wall, thread CPU) where measuring the lane's stretch
        # drawn running stands: when the thread drew its own lane running,
        # then each check of its work. A preemption after it is drawn by the
        # next check, or when the stretch ends (_reckon).
        self.ran_from = None


_lanes = {}  # lane id -> _LaneRecord, for lanes that run on threads of this process

class _YieldingLock:
    """The ledger's lock under the GIL. A thread that finds it taken does
    not block on it: it lets the GIL go (sleep(0)) and tries again. A thread
    can lose the GIL while it holds the lock (CPython may switch threads
    after any call in the critical section). With a plain lock, the next
    thread to want it blocks, takes it the moment it is released, and then
    waits for the GIL while holding it; the first thread's next check blocks
    on it in turn, and the two threads go on handing the GIL to each other
    at every check of their work (every 1.5 ms) instead of every switch
    interval. Measured with testdata/gil_slices.py: runs that fell into it
    took 2.5-3x as many hand-offs and 10-20 % longer."""

    __slots__ = ("_lock",)

    def __init__(self):
        self._lock = threading.Lock()

    def __enter__(self):
        acquire = self._lock.acquire
        while not acquire(False):
            _sleep(0)
        return self

    def __exit__(self, *exc):
        self._lock.release()
        return False


_sleep = time.sleep


def _new_ledger_lock():
    """Returns the ledger's lock: without a GIL threads run at once and a
    plain lock is right."""
    return _YieldingLock() if GIL else threading.Lock()


# The ledger: which lane drawn running holds the GIL, as last proved. Only
# used with a GIL. _proof is written on every slice without the lock (one
# store, atomic under the GIL); everything else changes under _ledger_lock.
_ledger_lock = _new_ledger_lock()
_holder = None  # the _LaneRecord drawn running that holds the GIL
_proof = 0  # absolute ns: the latest instant a thread of this process ran Python, as seen
_gil = None  # the process's GIL lane (kind cpu), if declared
_gil_shown = None  # the name its current span shows ("" for idle)
_gil_last = 0


def _reset_ledger():
    global _ledger_lock, _holder, _proof, _gil, _gil_shown, _gil_last
    _lanes.clear()
    _ledger_lock = _new_ledger_lock()
    _holder, _proof, _gil, _gil_shown, _gil_last = None, 0, None, None, 0


def _show_gil(rec, at):
    """Draws the GIL lane held by rec (None: by no lane drawn running) from at."""
    global _gil_shown, _gil_last
    if _gil is None:
        return
    name = rec.name if rec is not None else ""
    if name == _gil_shown:
        return
    at = max(at, _gil_last)
    _gil_shown, _gil_last = name, at
    if name:
        body = ',"k":"state","lane":%s,"s":"running","why":%s,"src":"app"}' % (_h._lane_str(_gil), _h._why_str(name))
    else:
        body = ',"k":"state","lane":%s,"s":"idle","why":"no thread drawn running holds it","src":"app"}' % _h._lane_str(_gil)
    _h._emit(body.encode(), at - _BASE)


def _displace(h, at):
    """Draws h (drawn running, another thread's lane) waiting for the GIL
    from at: a thread of the process ran Python since, so h did not."""
    h.lost_at = _state_at(h, "gil-wait", _GIL_WAIT_WHY, at)


def _own_state(rec, running, at):
    """Feeds the ledger a state rec's own thread emits: that thread holds the
    GIL now. A running state makes rec the holder from at; any other leaves
    no lane drawn running (it is about to wait, or works unmeasured).
    Returns the time rec's state takes effect."""
    global _holder, _proof
    with _ledger_lock:
        now = _pc()
        h = _holder
        if running:
            _holder = rec
            if h is not rec:
                # Another thread may have run since at (rec read its clock,
                # then lost the GIL before emitting): rec holds the GIL since
                # the latest proof at the earliest.
                at = max(at, _proof, h.last if h is not None else 0)
                if h is not None:
                    _displace(h, at)
            rec.running, rec.lost_at = True, None
            _show_gil(rec, at)
        else:
            _holder = None
            if h is not None and h is not rec:
                _displace(h, max(_proof, h.last))
            rec.running, rec.lost_at = False, None
            _show_gil(None, min(at, now))
        _proof = max(_proof, now)
    return at


def _take(rec, at):
    """rec's thread computes again (a cpu() slice, a check) and was not the
    holder: it holds the GIL from at (never before the previous holder was
    last seen running, nor after now), and the lane drawn running before it
    does not. Returns the span rec waited for the GIL, or None."""
    with _ledger_lock:
        return _take_locked(rec, at)


def _take_locked(rec, at):
    global _holder, _proof
    now = _pc()
    h = _holder
    _holder = rec
    lost_at = rec.lost_at
    at = min(max(at, _proof, rec.last, lost_at or 0, h.last if h is not None and h is not rec else 0), now)
    if h is not None and h is not rec:
        _displace(h, at)
    wait = None
    if lost_at is not None:
        rec.lost_at = None
        at = _state_at(rec, "running", _running_why.get(rec.lane, "computing"), at)
        wait = (lost_at, at)
    rec.running = True
    _show_gil(rec, at)
    _proof = max(_proof, now)
    return wait


def _leave(rec, at):
    """rec's thread is about to block (a lock) without drawing it yet: it no
    longer holds the GIL after at, and no other thread is displaced for it."""
    global _holder, _proof
    with _ledger_lock:
        if _holder is rec:
            _holder = None
            _show_gil(None, at)
        _proof = max(_proof, at)


_running_why = {}  # lane -> why of its running state while it computes (for the ledger)


def gil_lane(id, name="GIL: who holds it (measured)"):
    """Declares the GIL of this process as a cpu lane: its running spans name
    the thread lane that holds it, as the ledger measured. Returns id, or
    None on a build without a GIL (there is nothing to hold)."""
    global _gil, _gil_shown, _gil_last
    if not GIL:
        return None
    _h.lane(id, "cpu", name, pid=_h.os.getpid())
    with _ledger_lock:
        _gil, _gil_shown, _gil_last = id, None, 0
        _show_gil(_holder, _pc())
    return id


def _own_record(lane):
    """Returns lane's record, declaring that it runs on the calling thread if
    the harness did not know it (a worker process computing on a lane its
    parent declared)."""
    rec = _lanes.get(lane)
    if rec is None:
        rec = _lanes[lane] = _LaneRecord(lane, lane)
        rec.running = True
    return rec


# --- CPU work that measures its own waits ----------------------------------------------

_SLICE_NS = 100_000  # CPU work between two looks at the clock (at most)
_FULL_EVERY = 16  # slices between two reads of the thread's CPU clock, at most
_units_per_ms = 0


def _spin(n):
    """The CPU work: n steps of arithmetic on small ints. It allocates
    nothing (CPython keeps the ints -5..256 preallocated; x stays under 159
    and repeat() yields None), so the objects the harness allocates between
    slices (clock readings, events, the ledger's records) cannot slow it
    down. The work it replaced, x = (x + i * i) % 1000003 over range(n),
    allocated an int at every step; under the GIL, with the harness's
    take-overs between its slices, it ran 7-13 % slower in the playground
    than plainly, for harness code taking under 2 % of the time, and as
    much slower next to any Python that allocates at each hand-off (not
    next to Python that does not). How the allocator passes the cost on
    is not measured (docs/performance.md, "The observer under the GIL")."""
    x = 0
    for _ in _repeat(None, n):
        x = (x * 5 + 3) & 31
    return x


_own = threading.local()


def _own_spin():
    """Returns the calling thread's copy of _spin on a build without a GIL,
    _spin itself under the GIL. On CPython 3.13t two threads that run one
    shared code object of a module at once contend for it: measured on 2
    cores, two threads computing through _spin itself took 3.3x as long as
    one (561 ms against 169 ms, with twice the CPU), each with its own copy
    181 ms against 172 ms."""
    if GIL:
        return _spin
    f = getattr(_own, "spin", None)
    if f is None:
        f = _own.spin = types.FunctionType(_spin.__code__.replace(), _spin.__globals__, "_spin")
    return f


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
    probe = 40000
    _spin(probe)
    best = None
    for _ in range(5):
        c0 = _tt()
        _spin(probe)
        d = _tt() - c0
        best = d if best is None or d < best else best
    _units_per_ms = max(1, int(probe * 1e6 / max(best, 1)))
    return _units_per_ms


# A stretch a thread lost shorter than this is noise (an interrupt, a timer
# tick of a busy VM) and is not drawn. Waits for the GIL are drawn whatever
# their length: the ledger knows them.
_GAP_NS = 100_000


# Without a GIL, lost time is drawn runnable only where the window it lies
# in is at most this much longer than itself (cpu() checks after every
# slow slice, so its gaps are placed within a slice); past it, the window
# is drawn active.
_PLACE_NS = 2 * _SLICE_NS


def _gap_threshold():
    return _GAP_NS


class Gaps:
    """Finds the time a running thread could not run. Call check() every few
    tens of µs of work (cpu() does, after every slice); each gap becomes a
    span on the lane: gil-wait when another thread of the process ran Python
    meanwhile (the ledger saw it, or the process's CPU clock moved more than
    this thread's), runnable when none did (the OS gave the core to someone
    else; always, without a GIL, unless the gap cannot be placed in the
    window since the last check: then the window is active). spans holds the gil-wait
    spans and preempted the runnable ones, as (start, end) in run time."""

    def __init__(self, lane, why="computing", on_gap=None):
        global _proof
        self.lane, self.why, self.on_gap = lane, why, on_gap
        self.threshold = _gap_threshold()
        self.spans = []
        self.preempted = []
        self.rec = _own_record(lane)
        _running_why[lane] = why
        self.w, self.c, self.p = _pc(), _tt(), (_ptime() if GIL else 0)
        if not GIL:
            if self.rec.ran_from is not None and self.rec.ran_from[0] >= self.rec.last:
                # Measure from the running state this thread drew for itself.
                self.w, self.c = self.rec.ran_from
            else:
                self.rec.ran_from = (self.w, self.c)
        self.last = self.w  # the end of the latest slice
        if GIL and _holder is not self.rec:
            _take(self.rec, self.w)  # the lane is drawn running: it runs now
        _proof = max(_proof, self.w)

    def skip(self):
        """Starts measuring afresh: the time since the last check was a known
        wait (a lock, I/O) already drawn as such."""
        self.w, self.c, self.p = _pc(), _tt(), (_ptime() if GIL else 0)
        self.last = self.w
        if not GIL:
            self.rec.ran_from = (self.w, self.c)

    def check(self):
        """Looks for a gap since the last check (or skip)."""
        self._check(_pc(), self.last)

    def _check(self, w, last):
        """The full check at w (absolute ns); last is when the slice before
        this one ended: a gap lies after it. Returns the time measuring
        starts afresh from."""
        global _proof
        c = _tt()
        p = _ptime() if GIL else 0
        rec = self.rec
        gap = None
        with _ledger_lock:
            if GIL and _holder is not rec:
                # Another thread ran Python since this one's last slice: it
                # took the GIL, and this thread waited until it got it back.
                ran = (c - self.c) - max(0, last - self.w)  # CPU since the last slice ended
                lost_at = rec.lost_at
                at = w - max(0, ran) + (max(0, lost_at - last) if lost_at is not None else 0)
                wait = _take_locked(rec, at)
                if wait is not None:
                    gap = ("gil-wait", wait)
                w = None
            else:
                lost = (w - self.w) - (c - self.c)
                if lost >= self.threshold:
                    # No other lane proved it ran. If other threads of the
                    # process used the CPU meanwhile, one that does not
                    # check in (not a lane) held the GIL; if none did, this
                    # thread kept it and the OS gave its core to someone else.
                    kind, why = "runnable", _PREEMPTED_WHY
                    if GIL and (p - self.p) - (c - self.c) >= lost // 2:
                        kind, why = "gil-wait", _GIL_WAIT_WHY
                    at = max(w - lost, last)
                    if not GIL:
                        # Without a GIL no ledger says who ran: the lost
                        # time is drawn where it fits, within _PLACE_NS.
                        at = _place(rec, lost, self.w, last, w)
                        if at is None:
                            kind, at = "active", self.w if w - lost < last else last
                            why = _unplaced_why(self.why, lost)
                    start = _state_at(rec, kind, why, at)
                    end = _state_at(rec, "running", self.why, w)
                    gap = (kind, (start, end))
                _proof = max(_proof, w)
        if w is None:
            # Measure afresh: the time until now went to taking over.
            w, c, p = _pc(), _tt(), (_ptime() if GIL else 0)
        if gap is not None:
            kind, (start, end) = gap
            start, end = start - _BASE, end - _BASE
            (self.spans if kind == "gil-wait" else self.preempted).append((start, end))
            if self.on_gap is not None:
                self.on_gap(self.lane, kind, start, end)
        self.w, self.c, self.p, self.last = w, c, p, w
        if not GIL:
            rec.ran_from = (w, c)
        return w


def _place(rec, lost, since, last, w):
    """Without a GIL: where time lost in the window since (the last check) to
    w, whose latest slice began at last, is drawn runnable; None when it
    cannot be placed within _PLACE_NS (the window is drawn active then).
    Lost time that fits in the latest slice is drawn at its end; lost time
    that does not (several short preemptions over fast slices) is drawn at
    the end of the window if the window is not much longer than it."""
    at = w - lost
    if at >= last:
        return at if at - last <= _PLACE_NS else None
    return max(at, since) if at - since <= _PLACE_NS else None


def _unplaced_why(why, lost):
    return "%s; waited %.1f ms for a core somewhere in this span (not measured where)" % (why, lost / 1e6)


def _reckon(rec, at):
    """Without a GIL: rec's own thread draws its lane out of running at at
    (absolute ns). The time the thread lost since its last check, in code
    no cpu() slice measured, is drawn before that state: runnable where it
    can be placed, the stretch active otherwise."""
    rf, rec.ran_from = rec.ran_from, None
    if rf is None or not rec.running:
        return
    w0, c0 = rf
    if at - w0 < _GAP_NS:
        return
    lost = min((_pc() - w0) - (_tt() - c0), at - w0)
    if lost < _GAP_NS:
        return
    start = _place(rec, lost, w0, w0, at)
    if start is not None:
        _state_at(rec, "runnable", _PREEMPTED_WHY, start)
    else:
        _state_at(rec, "active", _unplaced_why(_running_why.get(rec.lane, "running"), lost), w0)


def cpu(lane, ms, why="computing", on_gap=None):
    """Computes for ms milliseconds of one core's time (as calibrated), in
    slices, reporting every stretch the thread could not run; on_gap(lane,
    kind, start, end) is called after each. The lane must be drawn running
    (state(lane, "running", why) first). Returns the Gaps (their spans)."""
    global _proof
    per_ms = _units_per_ms or calibrate()
    slice_ns = min(_SLICE_NS, max(20_000, int(sys.getswitchinterval() * 1e9 / 4)))
    units = max(1, int(per_ms * slice_ns / 1e6))
    total = int(per_ms * ms)
    gaps = Gaps(lane, why, on_gap)
    rec = gaps.rec
    # A slice that took less wall time than this cannot hide a gap worth
    # drawing (its CPU time is at least about half a slice): skip the CPU clock.
    quick = gaps.threshold + slice_ns // 2
    spin, pc, check, gil = _own_spin(), _pc, gaps._check, GIL
    done = fast = 0
    last = gaps.last
    while done < total:
        n = min(units, total - done)
        spin(n)
        done += n
        w = pc()
        if w - last < quick and fast < _FULL_EVERY and (_holder is rec or not gil):
            last = w
            if gil:
                _proof = w
            fast += 1
            continue
        last = check(w, last)
        fast = 0
    return gaps


def _state_at(rec, s, why, at):
    """Emits a state the ledger derived (for rec, at absolute time at), past
    the ledger: it never feeds back into it."""
    at = max(at, rec.last)
    rec.last = at
    body = ',"k":"state","lane":%s,"s":"%s","why":%s,"src":"app"}' % (_h._lane_str(rec.lane), s, _h._why_str(why))
    _h._emit(body.encode(), at - _BASE)
    return at


