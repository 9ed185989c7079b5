"""harness_waits: sleeps, work and waits the harness draws without slicing.

Part of the harness: harness.py re-exports sleep, busy, waiting and Lock for
the scenarios. harness_running.py keeps the GIL ledger and the sliced CPU
work (cpu, Gaps); what is here reads the ledger (who proved it ran Python
last) and feeds it (a thread that blocks on a Lock leaves it):

* sleep: a sleep whose late wake-up is drawn as the wait it was (for the
  GIL, or for a core).
* busy: work that cannot be sliced, drawn running only if the thread's CPU
  clock kept up with the wall clock.
* waiting: a known wait (io, blocked) around a block of code.
* Lock: a lock that reports contention as lock-wait spans.
"""

import threading
import time

import harness as _h
import harness_running as _r

_pc = time.perf_counter_ns
_tt = time.thread_time_ns
_BASE = _h._BASE
GIL = _h.GIL
_get_ident = threading.get_ident


def sleep(lane, seconds, why="sleeping", after="running", after_why=None):
    """Sleeps on lane and returns how late it woke, in ns. Time past the
    deadline is time the thread waited to run again (the GIL, or a CPU) and
    is drawn as such; then the lane goes back to state after."""
    t0 = _pc()
    _h.state(lane, "sleep", why, t=t0 - _BASE)
    time.sleep(seconds)
    t1 = _pc()
    late = t1 - t0 - int(seconds * 1e9)
    if late >= _r._gap_threshold():
        if GIL and _r._proof > t1 - late:  # another thread ran Python after the deadline
            _h.state(lane, "gil-wait", "woke up; waiting for the GIL to run again", t=t1 - late - _BASE)
        else:
            _h.state(lane, "runnable", "woke up; waiting for a CPU", t=t1 - late - _BASE)
    if after:
        # Drawn from now, not t1: a thread drawn running is measured from
        # the moment it draws itself so (a preemption since t1 stays drawn
        # as the wait above).
        _h.state(lane, after, after_why)
    return max(late, 0)


class busy:
    """A context manager for work the harness cannot slice (pickling, the
    steps of an event loop): the span is drawn when it ends, running from its
    start if the thread's CPU clock kept up with the wall clock (it was on a
    core the whole time, within the gap threshold), active otherwise (part
    of it was spent waiting for a core or the GIL: nobody measured when).
    The lane keeps its previous state until then. With after, the lane goes
    to that state when the work ends. t0 and t1 are the span's start and
    end in run time, for the scenario's own figures. begin() and finish()
    do the same outside a with block."""

    def __init__(self, lane, why, after=None, after_why=None):
        self.lane, self.why, self.after, self.after_why = lane, why, after, after_why
        self.t0 = self.t1 = 0

    def begin(self):
        self._w, self._c = _pc(), _tt()
        self.t0 = self._w - _BASE
        return self

    def finish(self):
        """Draws the span, ending now."""
        w, c = _pc(), _tt()
        lost = (w - self._w) - (c - self._c)
        self.t1 = w - _BASE
        _h.state(self.lane, "running" if lost < _r._gap_threshold() else "active", self.why, t=self.t0)
        if self.after:
            _h.state(self.lane, self.after, self.after_why, t=self.t1)
        return self

    def __enter__(self):
        return self.begin()

    def __exit__(self, *exc):
        self.finish()
        return False


class waiting:
    """A context manager: lane is in state s (io, blocked...) inside the block
    and back in state after when it ends."""

    def __init__(self, lane, s, why=None, after="running", after_why=None):
        self.lane, self.s, self.why, self.after, self.after_why = lane, s, why, after, after_why

    def __enter__(self):
        _h.state(self.lane, self.s, self.why)
        return self

    def __exit__(self, *exc):
        if self.after:
            _h.state(self.lane, self.after, self.after_why)
        return False


class Lock:
    """A threading.Lock that reports contention: a lane that has to wait for
    it gets a lock-wait span and want/got events when the wait lasted at least
    min_wait_ns, or when another thread was drawn running meanwhile (so that
    two threads are never drawn running at once); shorter waits are counted,
    not drawn, so a million acquisitions do not become millions of events."""

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
        rec = _r._lanes.get(lane) if GIL else None
        if rec is not None and rec.ident != _get_ident():
            rec = None
        if rec is not None:
            _r._leave(rec, t0)
        self._lock.acquire()
        t1 = _pc()
        if gaps is not None:
            gaps.skip()
        waited = t1 - t0
        self.waited_ns += waited
        self.contended += 1
        if waited >= self.min_wait_ns or (rec is not None and _r._proof > t0):
            _h.lock(lane, self.name, "want", t=t0 - _BASE)
            _h.state(lane, "lock-wait", "waiting for %s: another thread holds it" % self.name, t=t0 - _BASE)
            _h.lock(lane, self.name, "got", t=t1 - _BASE)
            _h.state(lane, "running", why, t=t1 - _BASE)
        elif rec is not None:
            _r._take(rec, t1)

    def release(self):
        self._lock.release()
