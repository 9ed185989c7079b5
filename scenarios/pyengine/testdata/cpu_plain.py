"""The CPU-bound work of the overhead benchmark, plain: no harness at all.
It prints how long the work took, in ns."""

import json
import os
import time
from itertools import repeat

UNITS = 45_000_000  # about a second of one core
SLICE = 4_500  # units per call: the slice harness.cpu computes between two checks


def spin(n):  # the harness's work function, verbatim
    x = 0
    for _ in repeat(None, n):
        x = (x * 5 + 3) & 31
    return x


def main():
    units = json.loads(os.environ.get("INTERLEAVE_SPEC") or "{}").get("params", {}).get("units", UNITS)
    start = time.perf_counter_ns()
    for _ in range(units // SLICE):
        spin(SLICE)
    print(time.perf_counter_ns() - start)


if __name__ == "__main__":
    main()
