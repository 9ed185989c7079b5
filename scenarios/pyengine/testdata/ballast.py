"""Runs a scenario (param scenario) after growing this process's memory by
ballast_mb MiB, every page touched. The workers the scenario starts must
still report their own peak memory, a small fraction of this process's:
getrusage's ru_maxrss would report this process's peak for every spawned
child. The end summary gets one more metric, children_ru_maxrss: what
RUSAGE_CHILDREN says, to show the difference."""

import importlib
import resource

import harness as h

ballast = None


def main():
    global ballast
    h.lane("main", "thread", "main thread")
    h.state("main", "running", "allocating the ballast")
    ballast = b"\1" * (h.param("ballast_mb", 200) << 20)  # b"\1" * n writes every page
    scenario = importlib.import_module(h.param("scenario").replace("-", "_") + "_scenario")
    end = h.end

    def end_with_rusage(summary, failed=False):
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        summary.setdefault("metrics", {})["children_ru_maxrss"] = h.metric(kids, "bytes", "ru_maxrss of RUSAGE_CHILDREN (the largest child, as getrusage sees it)")
        return end(summary, failed)

    h.end = end_with_rusage
    scenario.main()


if __name__ == "__main__":
    main()
