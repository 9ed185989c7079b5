"""stepsearch: finds an interleaving that reaches a goal (a lost update, a
deadlock) by executing a scenario's step functions for real, again and
again, in one interpreter, with the stepper choosing the threads.

The server runs the scenario's script with "search" in its spec ({"goal",
"budget", "max_states", "seed", "deadline_ms"}); the harness then starts no
recorder, and the answer is one JSON line on fd 3:
{"found","schedule","explored","exhaustive","states","runs","steps","cut",
"seed","elapsed_ms","lost"?,"deadlock"?}.
"""

import json
import os
import random
import sys
import time

from stepper import MAX_STEPS, Execution


class _OutOfBudget(Exception):
    pass


def search(setup, outcome, shared, spec):
    """Explores interleavings and writes the answer as one JSON line on fd 3.

    While the space is small it is explored exhaustively, depth first, and
    states are remembered: an interleaving that reaches a state already
    explored continues as the first one did, so each state is executed once
    and the interleavings through it are counted, not re-run. Past
    max_states (or 80 % of the time) the search turns to random interleavings
    up to the budget. An interleaving ends when at most one worker is left
    (the rest has no choices) or in a deadlock; the schedule found is the
    shortest, in steps, that reaches the goal."""
    goal = spec.get("goal")
    budget = int(spec.get("budget") or 1000)
    max_states = int(spec.get("max_states") or 50_000)
    seed = int(spec.get("seed") or random.SystemRandom().randrange(1, 1 << 31))
    deadline = time.monotonic() + float(spec.get("deadline_ms") or 5000) / 1000
    t0 = time.perf_counter()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * MAX_STEPS))
    stats = {"runs": 0, "steps": 0, "cut": 0}

    def fresh():
        ex = Execution(setup(), shared, emit=False)
        ex.start(True)
        stats["runs"] += 1
        return ex

    def retire(ex):
        ex.abandon()
        stats["steps"] += ex.n

    def reached(ex):
        """Finishes a terminal execution; returns (goal reached, what it showed)."""
        if ex.deadlock:
            return goal == "deadlock", {"deadlock": ex.cycle_text()}
        if not ex.finish_alone():
            return goal == "deadlock", {"stuck": True}
        if ex.deadlock:
            return goal == "deadlock", {"deadlock": ex.cycle_text()}
        out = outcome(ex)
        return goal == "lost-update" and out.get("lost", 0) > 0, out

    def terminal(ex):
        return ex.deadlock is not None or len(ex.live()) <= 1

    visited = {}  # fingerprint -> [paths, best schedule or None, what it showed]
    holder = {"ex": fresh()}
    exhaustive = True

    def dfs(prefix):
        if len(visited) >= max_states or time.monotonic() > exhaustive_until:
            raise _OutOfBudget()
        ex = holder["ex"]
        fp = ex.fingerprint()
        node = visited.get(fp)
        if node is not None:
            return node
        if terminal(ex):
            ok, shown = reached(ex)
            node = visited[fp] = [1, [] if ok else None, shown]
            return node
        node = visited[fp] = [0, None, None]
        for i, w in enumerate(ex.steppable()):
            if i > 0:
                retire(holder["ex"])
                ex = holder["ex"] = fresh()
                for idx in prefix:
                    ex.step(ex.workers[idx - 1])
                if ex.fingerprint() != fp:
                    raise RuntimeError("replaying %s did not reach the same state: the scenario's "
                                       "step functions are not deterministic" % prefix)
                w = ex.workers[w.index - 1]
            ex.step(w)
            child = dfs(prefix + [w.index])
            node[0] += child[0]
            if child[1] is not None and (node[1] is None or 1 + len(child[1]) < len(node[1])):
                node[1] = [w.index] + child[1]
                node[2] = child[2]
        return node

    exhaustive_until = time.monotonic() + (deadline - time.monotonic()) * 0.8
    root = None
    try:
        root = dfs([])
    except _OutOfBudget:
        exhaustive = False
    retire(holder["ex"])

    if exhaustive:
        explored, best, shown = root[0], root[1], root[2]
    else:
        # Random interleavings, each from the start, up to the budget.
        # A walk longer than MAX_STEPS could not be replayed as a schedule:
        # it is cut and not counted.
        rng = random.Random(seed)
        seen = set()
        best, shown = None, None
        attempts = 0
        while len(seen) < budget and attempts < 3 * budget and time.monotonic() < deadline:
            attempts += 1
            ex = fresh()
            while not terminal(ex) and ex.n < MAX_STEPS and time.monotonic() < deadline:
                ex.step(rng.choice(ex.steppable()))
            if not terminal(ex):
                stats["cut"] += 1
                retire(ex)
                continue
            sched = tuple(ex.schedule)
            ok, out = reached(ex)
            retire(ex)
            if sched in seen:
                continue
            seen.add(sched)
            if ok and (best is None or len(sched) < len(best)):
                best, shown = list(sched), out
        explored = len(seen)
    result = {
        "found": best is not None,
        "schedule": ",".join(str(i) for i in best) if best is not None else "",
        "explored": explored,
        "exhaustive": exhaustive,
        "states": len(visited),
        "runs": stats["runs"],
        "steps": stats["steps"],
        "cut": stats["cut"],
        "seed": seed,
        "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1),
    }
    if best is not None and shown:
        if "lost" in shown:
            result["lost"] = shown["lost"]
        if "deadlock" in shown:
            result["deadlock"] = shown["deadlock"]
    os.write(3, json.dumps(result, separators=(",", ":")).encode() + b"\n")
