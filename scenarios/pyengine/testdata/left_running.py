"""A lane left running after work drawn by busy, on a build without a GIL.

main draws a short busy span (it stays running after it, as a scenario's
main thread does after building its payload), starts 2 threads that
compute on the 2 cores, and is then off its core for main_ms ms before it
waits for them: it sleeps without telling the harness, which to the
harness is the same as the OS keeping it off its core (wall time without
CPU time), but happens every time. Its lane must not claim a core
meanwhile: the lost time is drawn when main draws itself out of running."""

import threading
import time

import harness as h


def main():
    h.lane("main", "thread", "main thread")
    with h.busy("main", "preparing"):
        sum(range(10_000))
    h.calibrate()
    size = h.param("size", 300)

    def worker(n):
        lane = "worker-%d" % n
        h.thread_lane(lane, "worker %d" % n, parent="main")
        h.state(lane, "running", "computing")
        h.cpu(lane, size, "computing")
        h.state(lane, "done")

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    time.sleep(h.param("main_ms", 200) / 1000)  # off its core, untold
    with h.waiting("main", "blocked", "joining the threads", after=None):
        for t in threads:
            t.join()
    h.state("main", "done")
    h.end({"verdict": "done", "metrics": {}})


if __name__ == "__main__":
    main()
