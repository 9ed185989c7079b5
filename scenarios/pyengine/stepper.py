"""stepper: the learner is the scheduler. Real CPython threads run a
scenario's functions one line at a time, in the order someone chooses.

A scenario hands the stepper its workers (a function and its arguments for
each thread) and the shared names to watch (the counter). Three ways to run
them, picked by the run's params:

* step=true: every worker pauses before each line of the scenario's own
  functions (sys.settrace, scoped to those code objects: nothing else is
  traced) until the learner lets one of them run that line. The server sends
  the choices on file descriptor 4 (steplearner.py: a Unix socket, one JSON
  line per command, one per reply; docs/protocol.md). While it waits for the
  learner the run uses no CPU: the main thread blocks reading that socket
  and every worker blocks on its own lock.
* schedule=1,1,2,2…: the same, with the choices read from the param, so a
  link re-executes an interleaving exactly. When the schedule ends, a step
  run waits for the learner; any other run lets its threads run freely.
* a search (the run's spec has "search"): one interpreter executes the
  workers again and again, exploring interleavings (stepsearch.py).

Only one worker runs at a time while stepping: the controller (the main
thread) releases a worker's lock and waits until that worker arrives before
its next line, blocks on a Lock, or returns. So an interleaving is a
sequence of thread numbers, and replaying it gives the same lines, the same
locals and the same final values every time.

Locks are the stepper's own (stepper.Lock): the stepper knows who holds each
one and who waits for it. A worker that finds a lock held waits, and cannot
be stepped until the lock is free. When every live worker waits for a lock
another one holds, that is a deadlock: the run stops with a mark naming the
cycle and arrows along it. Running freely, the same locks detect a deadlock
the moment the last thread of a cycle starts to wait.

Events: every pause of a worker is a `step` event (lane, line, code, locals,
and n, the number of the step that brought it there; a thread's first
arrival has none); the worker's lane is runnable while it waits for its
turn, running while it runs a line, lock-wait while it waits for a lock.
"""

import linecache
import os
import re
import sys
import threading
import time

import harness as h

MAX_STEPS = 10_000
"""The most steps one run takes (the schedule's and the learner's); the
server enforces the same bound (-max-steps) and checks the schedule param."""

CONTROL_FD = 4
"""The file descriptor of the control socket of a step run."""

# Worker statuses.
READY, RUNNING, BLOCKED, DONE = "ready", "running", "blocked", "done"


class Abort(BaseException):
    """Unwinds a worker of an execution that is abandoned (a search moves on
    to another interleaving). A BaseException, so that scenario code that
    catches Exception does not swallow it."""


class Stop(Exception):
    """Ends a run early (a deadlock): the scenario's summary is still sent."""


_tls = threading.local()
_new_locks = []  # locks made since the last execution took them


class Lock:
    """A lock the stepper sees: it knows the holder and the waiters, so a
    thread blocked on it is not offered to the learner, and a deadlock is
    detected instead of hanging the run. Use it as threading.Lock:
    acquire(), release(), or with."""

    def __init__(self, name):
        self.name = name
        self.holder = None  # the Worker holding it
        _new_locks.append(self)

    def acquire(self):
        w = _tls.worker
        w.ex._acquire(self, w)
        return True

    def release(self):
        w = _tls.worker
        w.ex._release(self, w)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False

    def __repr__(self):
        return self.name


class Worker:
    """One thread of an execution: which function it runs and where it is."""

    def __init__(self, ex, index, fn, args):
        self.ex, self.index, self.fn, self.args = ex, index, fn, args
        self.lane = "worker-%d" % index
        self.name = "worker %d" % index
        self.status = READY
        self.line = 0
        self.frame = None
        self.blocked_on = None
        self.steps = 0  # steps this worker took
        self.go = threading.Lock()
        self.go.acquire()
        self.abort = False
        self.thread = None  # the _PoolThread running it
        self.exited = threading.Event()  # set when the worker's function is over
        self.src_sent = False

    def why_not(self):
        """Says why the worker cannot take a step now ("" when it can)."""
        if self.status == DONE:
            return "%s has finished" % self.name
        if self.status == BLOCKED and self.blocked_on.holder is not None:
            return "%s waits for %s, held by %s" % (self.name, self.blocked_on.name, self.blocked_on.holder.name)
        return ""


class _PoolThread:
    """An OS thread that runs workers, one after another. A search executes
    the workers hundreds of times: reusing threads saves starting and
    joining two of them (about 1 ms) per execution."""

    _idle = []
    _idle_lock = threading.Lock()

    def __init__(self):
        self.job = None
        self.wake = threading.Lock()
        self.wake.acquire()
        threading.Thread(target=self._loop, daemon=True).start()

    @classmethod
    def take(cls):
        with cls._idle_lock:
            if cls._idle:
                return cls._idle.pop()
        return cls()

    def run(self, ex, w, traced):
        self.job = (ex, w, traced)
        self.wake.release()

    def _loop(self):
        me = threading.current_thread()
        while True:
            self.wake.acquire()
            ex, w, traced = self.job
            self.job = None
            me.name = w.name
            try:
                ex._body(w, traced)
            finally:
                with _PoolThread._idle_lock:
                    _PoolThread._idle.append(self)
                w.exited.set()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _encode_locals(frame):
    """Returns a frame's locals as {name: repr}, each cut to 80 characters.
    Memory addresses are left out of reprs: they differ from one execution
    to the next and say nothing to a learner."""
    out = {}
    for k, v in list(frame.f_locals.items())[:20]:
        try:
            r = _ADDRESS.sub("", repr(v))
        except Exception:
            r = "?"
        out[k] = r if len(r) <= 80 else r[:79] + "…"
    return out


def _source_of(code):
    """Returns (first line number, lines) of a function's source."""
    first = code.co_firstlineno
    last = max((ln for _, _, ln in code.co_lines() if ln), default=first)
    lines = [linecache.getline(code.co_filename, n).rstrip("\n") for n in range(first, last + 1)]
    return first, lines


class Execution:
    """One execution of the workers, stepped by a controller (the thread that
    calls start and step). emit=False runs it silently (a search)."""

    def __init__(self, specs, shared=(), emit=True):
        self.workers = [Worker(self, i + 1, fn, args) for i, (fn, args) in enumerate(specs)]
        self.by_lane = {w.lane: w for w in self.workers}
        self.codes = {fn.__code__ for fn, _ in specs}
        self.globals = specs[0][0].__globals__ if specs else {}
        self.shared = tuple(shared)
        self.locks = list(_new_locks)
        del _new_locks[:]
        self.emit = emit
        self.free = False
        self.n = 0  # steps taken
        self.schedule = []  # the thread numbers chosen, in order
        self.deadlock = None  # the wait-for cycle, once found: [Worker...]
        self.parked = threading.Lock()  # released by a worker that hands control back
        self.parked.acquire()
        self.mu = threading.Lock()  # the locks' state, while running freely
        self.cond = threading.Condition(self.mu)
        self.last_shared = {}
        self.on_deadlock = None  # called (in the detecting thread) when running freely
        self.traced = False
        self.gate = threading.Event()  # opened once every worker has started (running freely)

    # --- the workers' side -------------------------------------------------------

    def _body(self, w, traced):
        _tls.worker = w
        if self.emit:
            h.thread_lane(w.lane, w.name, parent="main")
        try:
            if traced:
                sys.settrace(self._trace)
            else:
                # Running freely from the start, every worker begins at once
                # (starting a thread takes long enough for the first to finish).
                self.gate.wait()
                self._running_freely(w)
            w.fn(*w.args)
        except Abort:
            return
        except Stop:
            return
        finally:
            sys.settrace(None)
        w.status = DONE
        w.frame = None
        if self.emit:
            h.state(w.lane, "done")
        if traced and not self.free:
            self.parked.release()  # the step that finished the worker is over

    def _trace(self, frame, event, arg):
        """The global trace function: only the scenario's functions are traced."""
        if frame.f_code in self.codes:
            return self._line
        return None

    def _line(self, frame, event, arg):
        if event != "line":
            return self._line
        w = _tls.worker
        if self.free:
            frame.f_trace = None
            sys.settrace(None)
            return None
        w.line, w.frame = frame.f_lineno, frame
        w.status = READY
        self._park(w)
        return None if self.free else self._line

    def _park(self, w):
        """Hands control back to the controller and waits to be let go."""
        self.parked.release()
        w.go.acquire()
        if w.abort:
            raise Abort()
        if self.free:
            if w.frame is not None:
                w.frame.f_trace = None
            sys.settrace(None)
            self._running_freely(w)
        else:
            w.status = RUNNING

    def _running_freely(self, w):
        w.status = RUNNING
        if self.emit:
            h.state(w.lane, "active", "running freely: nobody steps it (its scheduling is not recorded)")

    def _acquire(self, lock, w):
        wanted = False
        while True:
            with self.mu:
                if lock.holder is None:
                    lock.holder = w
                    w.blocked_on = None
                    if self.emit:
                        h.lock(w.lane, lock.name, "got")
                        if wanted:
                            h.state(w.lane, "running" if not self.free else "active",
                                    "took %s" % lock.name if not self.free else "running freely")
                    return
                if not wanted:
                    wanted = True
                    if self.emit:
                        h.lock(w.lane, lock.name, "want")
                        h.state(w.lane, "lock-wait", "waits for %s, held by %s" % (lock.name, lock.holder.name))
                w.blocked_on = lock
                if self.free:
                    cycle = self._cycle_from(w)
                    if cycle:
                        self.deadlock = cycle
                        self.cond.notify_all()
                    else:
                        self.cond.wait()
                        continue
            if self.free:
                # The cycle is closed: the first thread to see it reports it
                # and ends the run (another one of the cycle, woken, sees it
                # too: without a GIL at the same moment).
                report, self.on_deadlock = self.on_deadlock, None
                if report is not None:
                    report(self)
                raise Stop()
            w.status = BLOCKED
            self._park(w)

    def _release(self, lock, w):
        with self.mu:
            lock.holder = None
            if self.emit:
                h.lock(w.lane, lock.name, "free")
            self.cond.notify_all()

    # --- the controller's side -----------------------------------------------------

    def start(self, traced=True):
        """Starts the workers one after another; traced, each stops before its
        first line (and a step event says where); untraced, they run freely."""
        self.traced = traced
        self.free = not traced
        for w in self.workers:
            w.thread = _PoolThread.take()
            w.thread.run(self, w, traced)
            if traced:
                self.parked.acquire()
                self._report(w, 0)
        self.gate.set()
        self._report_shared()

    def steppable(self):
        return [w for w in self.workers if not w.why_not()]

    def live(self):
        return [w for w in self.workers if w.status != DONE]

    def step(self, w):
        """Lets w run one line (or take the lock it waits for) and waits until
        it stops again. The caller checks that w can step."""
        self.n += 1
        w.steps += 1
        self.schedule.append(w.index)
        if self.emit:
            if w.status == BLOCKED:
                h.state(w.lane, "running", "step %d: takes %s, now free" % (self.n, w.blocked_on.name))
            else:
                h.state(w.lane, "running", "step %d: line %d" % (self.n, w.line))
        w.go.release()
        self.parked.acquire()
        self._report(w, self.n)
        self._report_shared()
        return self._check_deadlock()

    def _report(self, w, n):
        """Says where w stopped: a step event; runnable when it waits for its turn."""
        if not self.emit:
            return
        if w.status == DONE:
            h.step(w.lane, 0, "", {}, n=n)
            return
        code = linecache.getline(w.frame.f_code.co_filename, w.line).strip()
        src = None
        if not w.src_sent:
            w.src_sent = True
            src = (w.frame.f_code.co_name,) + _source_of(w.frame.f_code)
        h.step(w.lane, w.line, code, _encode_locals(w.frame), n=n, src=src)
        if w.status == READY:
            h.state(w.lane, "runnable", "ready before line %d: waits for its turn" % w.line)

    def _report_shared(self):
        if not self.emit:
            return
        for name in self.shared:
            v = self.globals.get(name)
            if isinstance(v, (int, float)) and self.last_shared.get(name) != v:
                self.last_shared[name] = v
                h.counter(name, v)

    def _check_deadlock(self):
        live = self.live()
        if not live or not all(w.status == BLOCKED and w.blocked_on.holder is not None for w in live):
            return False
        self.deadlock = self._cycle_from(live[0]) or live
        return True

    def _cycle_from(self, w):
        """Returns the wait-for cycle w is part of or leads into, or None."""
        seen = []
        cur = w
        while cur is not None and cur.blocked_on is not None and cur not in seen:
            seen.append(cur)
            cur = cur.blocked_on.holder
        if cur is None or cur not in seen:
            return None
        return seen[seen.index(cur):]

    def fingerprint(self):
        """Returns the state of the execution: where each worker is (its line,
        its steps and its locals), the watched shared values and who holds
        each lock. Two interleavings that reach the same state continue the
        same way, because a scenario's step functions keep their state in
        their locals and the watched globals."""
        parts = []
        for w in self.workers:
            if w.status == DONE:
                parts.append(DONE)
            else:
                parts.append((w.status, w.line, w.steps, tuple(sorted(_encode_locals(w.frame).items()))))
        shared = tuple(repr(self.globals.get(n)) for n in self.shared)
        locks = tuple(l.holder.index if l.holder else 0 for l in self.locks)
        return (tuple(parts), shared, locks)

    def cycle_text(self):
        """Names the deadlock's cycle: who waits for which lock, held by whom."""
        return "; ".join("%s waits for %s, held by %s" % (w.name, w.blocked_on.name, w.blocked_on.holder.name)
                         for w in self.deadlock)

    def report_deadlock(self):
        """Marks the deadlock and draws the wait-for cycle as arrows."""
        if not self.emit:
            return
        h.mark("deadlock: " + self.cycle_text())
        for w in self.deadlock:
            h.flow(w.lane, w.blocked_on.holder.lane, "waits for %s" % w.blocked_on.name)

    def run_freely(self):
        """Lets every worker run on its own, untraced, until it returns."""
        self.free = True
        for w in self.workers:
            if w.status in (READY, BLOCKED):
                w.go.release()

    def join(self):
        for w in self.workers:
            w.exited.wait()

    def abandon(self):
        """Unwinds every worker still waiting for a step (a search moves on)."""
        for w in self.workers:
            if w.status != DONE and w.thread is not None:
                w.abort = True
                w.go.release()
        for w in self.workers:
            if w.thread is not None:
                w.exited.wait()

    def finish_alone(self):
        """Steps the last live worker to its end: with one thread left the
        rest of the run has no choices. Returns False if it cannot step
        (it waits for a lock that a finished worker still holds)."""
        while True:
            live = self.live()
            if not live:
                return True
            if len(live) > 1 or live[0].why_not():
                return False
            self.step(live[0])


def pause(seconds):
    """Sleeps when the calling thread runs freely, widening the window in
    which another thread may run; a stepped thread returns at once, since
    the learner (or the schedule) decides who runs next."""
    w = getattr(_tls, "worker", None)
    if w is None or w.ex.free:
        time.sleep(seconds)


# --- Running a scenario's workers -------------------------------------------------------------


def parse_schedule(text):
    """Returns the thread numbers of a schedule param ("1,1,2" -> [1, 1, 2])."""
    text = (text or "").strip()
    return [int(x) for x in text.split(",") if x.strip()] if text else []


def wanted():
    """Reports whether the run is a step run, follows a schedule, or is a search."""
    return bool(h.param("step") or parse_schedule(h.param("schedule")) or h.SPEC.get("search"))


def run(setup, outcome, summarize, shared=()):
    """Runs a scenario's workers under the stepper, as its params say.

    setup() makes a fresh start (shared state reset, stepper Locks made) and
    returns the workers as [(function, args)]; outcome(ex) returns what an
    execution ended with ({"lost": 1, ...}); summarize(ex, result) ends the
    run (h.end with metrics and verdict). shared names the module globals
    drawn as counters (the counter)."""
    if h.SPEC.get("search"):
        import stepsearch
        return stepsearch.search(setup, outcome, shared, h.SPEC["search"])
    h.lane("main", "thread", "main thread")
    specs = setup()
    ex = Execution(specs, shared)
    step_mode = bool(h.param("step"))
    schedule = parse_schedule(h.param("schedule"))[:MAX_STEPS]
    traced = step_mode or bool(schedule)
    h.state("main", "blocked", "joining the workers, which a schedule or the learner steps" if traced else "joining the workers")

    def deadlocked(ex):
        ex.report_deadlock()
        _end(ex, outcome, summarize)

    ex.on_deadlock = deadlocked
    ex.start(traced)
    if traced:
        for k, idx in enumerate(schedule):
            w = ex.workers[idx - 1] if 1 <= idx <= len(ex.workers) else None
            why = "there is no worker %d" % idx if w is None else w.why_not()
            if why:
                h.mark("the schedule stops at step %d of %d: %s" % (k + 1, len(schedule), why))
                break
            if ex.step(w):
                ex.report_deadlock()
                return _end(ex, outcome, summarize)
            if not ex.live():
                break
        if step_mode and ex.live():
            import steplearner
            if steplearner.serve(ex):
                ex.report_deadlock()
                return _end(ex, outcome, summarize)
        else:
            ex.run_freely()
    ex.join()
    return _end(ex, outcome, summarize)


def _end(ex, outcome, summarize):
    """Ends the run with the scenario's summary; after a deadlock the stuck
    workers cannot be joined, so the process exits at once."""
    if ex.emit:
        h.state("main", "done")
        for name in ex.shared:
            v = ex.globals.get(name)
            if isinstance(v, (int, float)):
                h.counter(name, v)
    summarize(ex, outcome(ex))
    if ex.deadlock:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
