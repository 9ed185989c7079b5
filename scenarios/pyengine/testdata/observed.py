"""Runs a scenario (param script: its module, e.g. gil_scenario) with its CPU
work calibrated to a fixed units_per_ms, so that the observer benchmark gives
the playground exactly the work the plain scripts (plain_processes.py,
plain_threads.py) do. The end summary gets what the observers cost while the
scenario ran (from its start to its end, start-up excluded): the recorder's
CPU time, the scenario's own root process's, and all the CPU the run used
(the root, the processes it started and reaped, the recorder), in ms."""

import importlib
import resource

import harness as h


def recorder_ns():
    """Returns the CPU time the recorder has used so far, in ns (its
    schedstat: nanoseconds, where stat has 10 ms ticks)."""
    try:
        with open("/proc/%d/schedstat" % h._recorder.pid) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def root_ns():
    me = resource.getrusage(resource.RUSAGE_SELF)
    return int((me.ru_utime + me.ru_stime) * 1e9)


def children_ns():
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((kids.ru_utime + kids.ru_stime) * 1e9)


def main():
    h.calibrate(h.param("units_per_ms"))
    scenario = importlib.import_module(h.param("script"))
    end = h.end
    recorder0, root0, children0 = recorder_ns(), root_ns(), children_ns()

    def end_with_observer_cost(summary, failed=False):
        m = summary.setdefault("metrics", {})
        recorder, root, children = recorder_ns() - recorder0, root_ns() - root0, children_ns() - children0
        m["recorder_cpu"] = h.metric(recorder / 1e6, "ms", "CPU time of the recorder process while the scenario ran")
        m["root_cpu"] = h.metric(root / 1e6, "ms", "CPU time of the scenario's root process while it ran")
        m["run_cpu"] = h.metric((root + children + recorder) / 1e6, "ms", "CPU time of every process of the run while it ran")
        return end(summary, failed)

    h.end = end_with_observer_cost
    scenario.main()


if __name__ == "__main__":
    main()
