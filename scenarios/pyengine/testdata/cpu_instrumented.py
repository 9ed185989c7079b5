"""The same CPU-bound work as cpu_plain.py, instrumented: the harness, its
recorder process, a lane, states, and the GIL-wait measurement every 100 µs
slice. It prints how long the work took, in ns."""

import time

import harness as h

UNITS = 45_000_000
UNITS_PER_MS = 45_000  # fixed, so that both scripts do exactly the same work:
# harness.cpu then computes slices of 4,500 units (100 µs worth), as cpu_plain.py does


def main():
    units = h.param("units", UNITS)
    h.calibrate(UNITS_PER_MS)
    lane = h.thread_lane("worker", "worker")
    h.state(lane, "running", "computing")
    start = time.perf_counter_ns()
    h.cpu(lane, units / UNITS_PER_MS)
    elapsed = time.perf_counter_ns() - start
    h.state(lane, "done")
    print(elapsed)
    h.end({"wall_ns": elapsed, "verdict": "done"})


if __name__ == "__main__":
    main()
