"""A scenario that fails: it leaves a non-daemon thread blocked forever, a
multiprocessing child and a subprocess sleeping for a minute, then raises.
The run must still end at once, failed, with nothing left running."""

import multiprocessing
import subprocess
import threading
import time

import harness as h


def sleeper():
    time.sleep(60)


def main():
    h.lane("main", "thread", "main thread")
    threading.Thread(target=threading.Event().wait, name="stuck").start()  # never ends, not a daemon
    p = multiprocessing.get_context(h.param("start", "fork")).Process(target=sleeper)
    p.start()
    h.lane("mp-child", "process", "multiprocessing child", pid=p.pid)
    sub = subprocess.Popen(["sleep", "60"])
    h.lane("sub-child", "process", "subprocess", pid=sub.pid)
    h.state("main", "running", "about to fail")
    raise ValueError("boom: the scenario failed on purpose")


if __name__ == "__main__":
    main()
