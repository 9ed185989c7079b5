"""asyncio on CPython: one thread, one event loop, many tasks.

Every task awaits asyncio.sleep(wait_ms). While it waits it costs the loop
nothing: the loop sleeps in the selector (epoll) until the next timer is
due, then runs the tasks that are ready, one step each, until their next
await. Thousands of waiting tasks finish together, a little after wait_ms.

With blocking=true, task 1 calls time.sleep(blocking_ms) instead of
awaiting: a blocking call inside a coroutine. The loop cannot take control
back until it returns, so no other task even starts: every one of them
finishes at least blocking_ms late. With to_thread=true the same call runs
in a worker thread through asyncio.to_thread, and the loop goes on.

The loop lane is drawn by a selector that reports when the loop waits in
epoll and when it runs tasks. A task's step runs on the loop's thread, in
microseconds: the loop lane shows that work (running when the thread had
its core the whole time, as measured), and a task lane shows where the task
is (created, awaiting, done), never running at the same time as the loop.
"""

# The harness first: it starts the run's recorder, whose start-up then
# overlaps importing asyncio (60 ms) instead of delaying the first event.
import harness as h

import asyncio  # noqa: E402
import selectors  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

LOOP = "loop"


class WatchedSelector(selectors.DefaultSelector):
    """The loop's selector, reporting the loop's time: waiting or running.
    A stretch of running tasks is drawn when it ends (h.busy): running if
    the loop's thread had its core the whole time, active if not."""

    def __init__(self):
        super().__init__()
        self.waiting = 0  # tasks that have not finished
        self.shown = None
        self.iterations = 0
        self.busy_ns = 0
        self.blocked_ns = 0
        self.since = None
        self.stretch = None  # the h.busy of the tasks the loop runs now

    def run_tasks(self):
        """The loop starts running the tasks that are ready."""
        self.stretch = h.busy(LOOP, "running the tasks that are ready").begin()

    def stop_tasks(self):
        """The loop stops running tasks: draws the stretch."""
        if self.stretch is not None:
            self.stretch.finish()
            self.stretch = None

    def select(self, timeout=None):
        self.iterations += 1
        now = h.now()
        if self.since is not None:
            self.busy_ns += now - self.since
        waits = timeout is None or timeout > 0
        if waits:
            self.stop_tasks()
            h.state(LOOP, "idle", "waiting in epoll: no task is ready")
        ready = super().select(timeout)
        self.since = h.now()
        if waits:
            self.run_tasks()
        if self.waiting != self.shown:
            self.shown = self.waiting
            h.counter("unfinished tasks", self.waiting)
        return ready


def blocking_call(seconds):
    """The blocking call, run in a worker thread by asyncio.to_thread."""
    lane = h.current_lane() or h.thread_lane("to-thread", "to_thread worker", parent=LOOP)
    h.sleep(lane, seconds, "time.sleep in a worker thread: the loop goes on", after="idle")


async def waiter(i, wait, finished, selector):
    lane = "task-%d" % i
    h.state(lane, "sleep", "await asyncio.sleep(%g ms): its first step ran on the loop" % (wait * 1000))
    await asyncio.sleep(wait)
    finished[i] = h.now()
    selector.waiting -= 1
    h.state(lane, "done", "resumed by the loop: its last step ran on the loop")


async def blocker(blocking, to_thread, selector):
    lane = "task-1"
    if to_thread:
        h.state(lane, "io", "await asyncio.to_thread(time.sleep, %g s)" % blocking)
        await asyncio.to_thread(blocking_call, blocking)
        selector.waiting -= 1
        h.state(lane, "done")
        return
    selector.stop_tasks()
    h.state(lane, "blocked", "time.sleep(%g s) inside a coroutine: the loop cannot run anything else" % blocking)
    h.state(LOOP, "blocked", "stalled: task 1 called time.sleep and never awaits")
    t0 = h.now()
    time.sleep(blocking)
    selector.blocked_ns += h.now() - t0
    selector.run_tasks()  # task 1 gave the loop back
    selector.waiting -= 1
    h.state(lane, "done")


async def run(ntasks, wait, blocking, to_thread, selector, created, finished):
    tasks = []
    for i in range(1, ntasks + 1):
        h.lane("task-%d" % i, "task", "task %d" % i, parent=LOOP, group="tasks")
        h.state("task-%d" % i, "runnable", "created, waiting for its first turn")
        created[i] = h.now()
        if i == 1 and blocking:
            tasks.append(asyncio.create_task(blocker(blocking, to_thread, selector)))
        else:
            tasks.append(asyncio.create_task(waiter(i, wait, finished, selector)))
    selector.waiting = len(tasks)
    await asyncio.gather(*tasks)


def main():
    ntasks, wait_ms = h.param("tasks", 1000), h.param("wait_ms", 100)
    blocking = h.param("blocking_ms", 500) / 1000 if h.param("blocking", False) else 0
    to_thread = h.param("to_thread", False)
    h.lane(LOOP, "loop", "event loop (main thread)")
    h.state(LOOP, "active", "creating the tasks")
    selector = WatchedSelector()
    loop = asyncio.SelectorEventLoop(selector)
    created, finished = {}, {}
    start = h.now()
    try:
        loop.run_until_complete(run(ntasks, wait_ms / 1000, blocking, to_thread, selector, created, finished))
    finally:
        selector.stop_tasks()
        loop.close()
    wall = h.now() - start
    h.state(LOOP, "done")

    # Completion time of every waiting task, from its creation, in ms.
    lat = sorted((finished[i] - created[i]) / 1e6 for i in finished)
    ms = lambda ns: round(ns / 1e6, 2)
    m = {
        "tasks": h.metric(ntasks, "", "tasks on one event loop"),
        "wall": h.metric(ms(wall), "ms", "wall time until every task finished"),
        "wait": h.metric(wait_ms, "ms", "what each task awaits (wait_ms)"),
        "iterations": h.metric(selector.iterations, "", "turns of the loop (selector calls)"),
        "loop_busy": h.metric(ms(selector.busy_ns - selector.blocked_ns), "ms", "time the loop spent running task steps, blocking call excluded"),
    }
    if lat:
        m["latency_median"] = h.metric(round(statistics.median(lat), 2), "ms", "median completion time of a waiting task, from creation")
        m["latency_max"] = h.metric(round(lat[-1], 2), "ms", "slowest completion time of a waiting task, from creation")
        m["delay_min"] = h.metric(round(lat[0] - wait_ms, 2), "ms", "least time any waiting task took beyond its wait")
        m["busy_per_task"] = h.metric(round((selector.busy_ns - selector.blocked_ns) / 1e3 / ntasks, 2), "µs", "loop time per task")
    if blocking and not to_thread:
        m["stall"] = h.metric(ms(selector.blocked_ns), "ms", "the loop was stalled by the blocking call")
    h.end({"wall_ns": wall, "metrics": m})


if __name__ == "__main__":
    main()
