"""A scenario whose worker thread raises while the main thread waits for
another thread that never ends."""

import threading

import harness as h


def worker():
    h.thread_lane("worker", "worker")
    h.state("worker", "running", "about to fail")
    {}["missing key"]


def main():
    h.lane("main", "thread", "main thread")
    threading.Thread(target=worker).start()
    stuck = threading.Thread(target=threading.Event().wait, name="stuck")
    stuck.start()
    stuck.join()


if __name__ == "__main__":
    main()
