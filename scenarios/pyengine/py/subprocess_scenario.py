"""subprocess on CPython: other programs, with their own memory and lifecycle.

mode=sequential calls subprocess.run(argv, capture_output=True, check=check,
timeout=...) once per child: each call blocks until the program exits and
returns its exit code and output (a CompletedProcess), or raises
CalledProcessError (check=True and a non-zero exit) or TimeoutExpired (the
child was killed). mode=concurrent starts every child with subprocess.Popen
first, then waits for each. mode=pipeline connects command | sort -r | cat -n
with OS pipes, as a shell would, but without a shell.

Only programs from an allow-list run, with fixed arguments: nothing the user
types reaches an argv, and shell=True is never used. Three of them are tiny
Python programs given with -c (their code is below).
"""

import os
import shutil
import subprocess
import sys
import threading
import time
import traceback

import harness as h

PY = [sys.executable, "-E", "-S", "-c"]

SLOW_PRINT = """
import time
for i in range(1, 6):
    print("slow-print: line %d of 5" % i, flush=True)
    if i < 5:
        time.sleep(0.06)
"""

FAIL = """
import sys
print("fail: reading settings from config.toml")
print("fail: config.toml: no such file or directory", file=sys.stderr)
sys.exit(3)
"""

COMPUTE = """
import time
start, end = time.perf_counter(), time.thread_time() + 0.2
while time.thread_time() < end:
    pass
print("compute: 200 ms of CPU work done in %d ms" % ((time.perf_counter() - start) * 1000))
"""

# The allow-list: the command param picks a name; the argv is fixed here.
COMMANDS = {
    "slow-print": PY + [SLOW_PRINT],
    "sleep": ["sleep", "0.2"],
    "list": ["ls", "-la", "/etc"],
    "search": ["find", "/etc", "-maxdepth", "2", "-name", "*.conf"],
    "fail": PY + [FAIL],
    "compute": PY + [COMPUTE],
}
PIPELINE_FILTERS = [["sort", "-r"], ["cat", "-n"]]
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
LINES_SHOWN = 200  # output lines drawn per child; the rest is counted


class Child:
    """One program the scenario ran, and how it ended."""

    def __init__(self, n, name, argv):
        self.n, self.name = n, name
        self.display = name if argv[0] == sys.executable else " ".join(argv)
        self.argv = resolve(argv)
        self.lane = "proc-%d" % n
        self.pid = None
        self.start = self.end = 0
        self.code = None
        self.timed_out = False
        self.stdout_lines = 0
        self.stderr = ""
        self.error = None  # the exception the parent saw, if any
        self.shown = 0


def resolve(argv):
    """Returns argv with the program's full path; FileNotFoundError if missing."""
    path = shutil.which(argv[0], path=ENV["PATH"]) if not os.path.isabs(argv[0]) else argv[0]
    if path is None:
        raise FileNotFoundError("%s is not installed" % argv[0])
    return [path] + argv[1:]


def declare(c, t):
    name = "%s (pid %d)" % (c.name, c.pid) if c.pid else "%s (subprocess.run)" % c.name
    h.lane(c.lane, "process", name, parent="main", pid=c.pid, t=t)
    # Another program: whether it computes, waits or sleeps is its own
    # business, and the harness cannot measure it.
    h.state(c.lane, "active", "running %s: its own process, scheduled by the OS" % c.display, t=t)
    h.flow("main", c.lane, "start pid %d (fork/exec)" % c.pid if c.pid else "start (fork/exec)", t=t)


def show_output(c, stream, text):
    """Draws what a child printed, line by line, up to LINES_SHOWN lines."""
    for line in text.splitlines(keepends=True):
        if stream == "stdout":
            c.stdout_lines += 1
        if c.shown < LINES_SHOWN:
            c.shown += 1
            h.output(c.lane, stream, line)


def finish(c):
    """Marks how a child ended on its lane."""
    if c.timed_out:
        h.mark("timeout: killed after %d ms (SIGKILL)" % timeout_ms(), lane=c.lane)
        if c.pid:
            h.mark("pid %d is gone" % c.pid if pid_gone(c.pid) else "pid %d still exists" % c.pid, lane=c.lane)
        h.state(c.lane, "done", "killed by the timeout")
    elif c.code is not None and c.code < 0:
        h.mark("killed by signal %d" % -c.code, lane=c.lane)
        h.state(c.lane, "done", "killed")
    else:
        h.mark("exit code %d" % c.code, lane=c.lane)
        h.state(c.lane, "done", "exited with code %d" % c.code)


def pid_gone(pid):
    """True once no process has pid: the child was killed and reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def timeout_ms():
    return h.param("timeout_ms", 0)


def timeout_s():
    return timeout_ms() / 1000 or None


def watch_for_child(c, known):
    """subprocess.run does not tell its caller the pid of the program it runs.
    To label the lane, this thread looks for the new child of the main thread
    in /proc while run() waits, and declares the lane when it appears."""
    path = "/proc/self/task/%d/children" % threading.main_thread().native_id
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                with open(path) as f:
                    new = [int(p) for p in f.read().split() if int(p) not in known]
            except OSError:
                break
            if new:
                c.pid = new[0]
                break
            time.sleep(0.001)
        declare(c, c.start)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return stop, t


def children_now():
    try:
        with open("/proc/self/task/%d/children" % threading.main_thread().native_id) as f:
            return {int(p) for p in f.read().split()}
    except OSError:
        return set()


def run_sequential(children, check):
    for c in children:
        h.state("main", "blocked", "subprocess.run(%s): waiting for it to exit" % c.name)
        c.start = h.now()
        stop, watcher = watch_for_child(c, children_now())
        try:
            done = subprocess.run(c.argv, capture_output=True, text=True, errors="replace", check=check,
                                  timeout=timeout_s(), env=ENV)
            c.code, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.CalledProcessError as e:
            c.code, out, err, c.error = e.returncode, e.stdout, e.stderr, e
        except subprocess.TimeoutExpired as e:
            # run() killed the child (SIGKILL) and reaped it before raising.
            c.timed_out, c.code, c.error = True, -9, e
            out, err = decode(e.stdout), decode(e.stderr)
        c.end = h.now()
        stop.set()
        watcher.join()
        show_output(c, "stdout", out or "")
        show_output(c, "stderr", err or "")
        c.stderr = err or ""
        finish(c)
        if c.error is not None:
            h.mark("%s raised in the parent" % type(c.error).__name__, lane=c.lane)
            raise c.error  # out of subprocess.run: the next ones never start


def decode(b):
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode("utf-8", "replace")


def start_popen(c, stdin=None, read_stdout=True):
    """Starts c with Popen; its stderr (and stdout unless it feeds a pipe) is
    read by threads as it comes."""
    c.start = h.now()
    c.proc = subprocess.Popen(c.argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    c.pid = c.proc.pid
    declare(c, c.start)
    c.readers = []
    streams = [("stderr", c.proc.stderr)]
    if read_stdout:
        streams.append(("stdout", c.proc.stdout))
    for stream, f in streams:
        t = threading.Thread(target=read_stream, args=(c, stream, f), daemon=True)
        t.start()
        c.readers.append(t)


def read_stream(c, stream, f):
    """Draws a child's output as it comes, a line at a time."""
    for raw in iter(f.readline, b""):
        line = raw.decode("utf-8", "replace")
        if stream == "stderr":
            c.stderr += line
        show_output(c, stream, line)
    f.close()


def wait_popen(c, deadline):
    """Waits for a child started with Popen; kills it (SIGKILL) at its deadline.
    A timer kills it so that the wait itself blocks in waitpid and sees the
    exit at once (Popen.wait(timeout) polls, up to 50 ms late)."""
    timer = None
    if deadline is not None:
        def kill():
            c.timed_out = True
            c.proc.kill()
        timer = threading.Timer(max(0, deadline - time.monotonic()), kill)
        timer.start()
    c.code = c.proc.wait()
    if timer is not None:
        timer.cancel()
        c.timed_out = c.timed_out and c.code == -9
    c.end = h.now()
    for t in c.readers:
        t.join()
    finish(c)


def raise_for(c, check):
    """The exception subprocess.run would have raised for this child."""
    if c.timed_out:
        h.mark("TimeoutExpired raised in the parent", lane=c.lane)
        raise subprocess.TimeoutExpired(c.argv, timeout_s())
    if check and c.code != 0:
        h.mark("CalledProcessError: exit status %d: %s" % (c.code, first_line(c.stderr)), lane=c.lane)
        raise subprocess.CalledProcessError(c.code, c.argv, stderr=c.stderr)


def run_concurrent(children, check):
    for c in children:
        start_popen(c)
    h.state("main", "blocked", "all %d children started; waiting for each to exit" % len(children))
    deadlines = [None if not timeout_s() else time.monotonic() + timeout_s() for _ in children]
    waiters = [threading.Thread(target=wait_popen, args=(c, d)) for c, d in zip(children, deadlines)]
    for t in waiters:
        t.start()
    for t in waiters:
        t.join()
    for c in children:
        raise_for(c, check)


def run_pipeline(children, check):
    stdin = None
    for i, c in enumerate(children):
        last = i == len(children) - 1
        # Every stdout but the last one is the next program's stdin.
        start_popen(c, stdin=stdin, read_stdout=last)
        if stdin is not None:
            stdin.close()  # the child holds its own copy: it sees EOF when its writer exits
            h.flow(children[i - 1].lane, c.lane, "stdout → stdin (OS pipe)")
        stdin = c.proc.stdout
    h.state("main", "blocked", "waiting for the %d programs of the pipeline" % len(children))
    deadline = None if not timeout_s() else time.monotonic() + timeout_s()
    for c in children:
        wait_popen(c, deadline)
    for c in children:
        raise_for(c, check)


def first_line(s):
    return s.splitlines()[0] if s.strip() else "(nothing on stderr)"


def main():
    name, mode, count, check = h.param("command", "slow-print"), h.param("mode", "sequential"), h.param("count", 4), h.param("check", False)
    h.lane("main", "process", "the script (the parent process)", pid=os.getpid())
    h.state("main", "active", "starting %s" % name)
    if mode == "pipeline":
        argvs = [(name, COMMANDS[name])] + [(f[0], f) for f in PIPELINE_FILTERS]
    else:
        argvs = [(name, COMMANDS[name])] * count
    children = []
    try:
        for i, (n, argv) in enumerate(argvs):
            children.append(Child(i + 1, n, argv))
    except FileNotFoundError as e:
        h.mark("could not start: %s" % e, lane="main")
        h.end({"verdict": "%s could not start: %s." % (name, e)}, failed=True)

    start = h.now()
    error = None
    try:
        {"sequential": run_sequential, "concurrent": run_concurrent, "pipeline": run_pipeline}[mode](children, check)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        error = e
        traceback.print_exc()  # the exception as Python shows it, in the output panel
    wall = h.now() - start
    h.state("main", "done")
    ran = [c for c in children if c.start]
    h.end(summary(mode, ran, wall), failed=error is not None)


def summary(mode, ran, wall):
    """Measures the run; the server derives the verdict from these numbers
    (package verdict)."""
    ms = lambda ns: round(ns / 1e6, 2)
    m = {}
    total = longest = 0
    failed = timed_out = gone = 0
    for c in ran:
        d = c.end - c.start
        total += d
        longest = max(longest, d)
        label = "exit code of child %d (%s, pid %s)" % (c.n, c.name, c.pid or "?")
        if c.timed_out:
            timed_out += 1
            gone += 1 if c.pid and pid_gone(c.pid) else 0
            label = "child %d (%s) was killed by the timeout: -9 means killed by SIGKILL" % (c.n, c.name)
        if c.code != 0:
            failed += 1
        m["exit_%d" % c.n] = h.metric(c.code if c.code is not None else -1, "", label)
    m["children"] = h.metric(len(ran), "", "programs started")
    m["wall"] = h.metric(ms(wall), "ms", "wall time of the run, first start to last exit")
    m["children_sum"] = h.metric(ms(total), "ms", "sum of the children's own run times (start to exit, each)")
    m["children_max"] = h.metric(ms(longest), "ms", "the longest child's run time")
    m["nonzero_exits"] = h.metric(failed, "", "children that exited with a non-zero code or were killed")
    m["timed_out"] = h.metric(timed_out, "", "children killed by the timeout")
    m["killed_gone"] = h.metric(gone, "", "children killed by the timeout whose pid no longer exists")
    if mode == "pipeline":
        m["pipeline_lines"] = h.metric(ran[-1].stdout_lines, "", "lines the last program (cat -n) printed, all read through the pipe")
    return {"wall_ns": wall, "metrics": m}


if __name__ == "__main__":
    main()
