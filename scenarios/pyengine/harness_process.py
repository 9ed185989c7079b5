"""harness_process: a run's processes, each on its own.

Part of the harness: harness.py re-exports what scenarios use (cpu_ns,
own_memory, peak_rss) and calls the rest. What a process measures of itself
(its CPU time, its own memory, its peak), how the run finds and kills its
other processes when it fails, and how a forked process dies with its
parent, so that no process of a run outlives the server.

It imports nothing of the harness, so any process of the run can use it.
"""

import os
import threading

# --- What a process measures of itself ---------------------------------------------------


def cpu_ns():
    """Returns the CPU time (user+system) of this process and its reaped children."""
    import resource
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * 1e9)


def own_memory(pid=None):
    """Returns the memory a child process holds of its own, in bytes: its
    private pages (Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup),
    read now, when its work is done. A child shares the interpreter's binary
    and libraries with its parent (and, when forked, every page it has not
    written); its peak (VmHWM) counts those again, so a sum of children's
    peaks would count the same memory once per process. The go engine
    measures children the same way. Falls back to VmHWM when smaps_rollup
    cannot be read; 0 when neither can."""
    path = "/proc/self/smaps_rollup" if pid is None else "/proc/%d/smaps_rollup" % pid
    try:
        private = 0
        with open(path, "rb") as f:
            for line in f:
                if line.startswith((b"Private_Clean:", b"Private_Dirty:")):
                    private += int(line.split()[1]) * 1024
        return private
    except (OSError, ValueError, IndexError):
        return peak_rss(pid)


def peak_rss(pid=None):
    """Returns the peak resident memory of a process, in bytes: VmHWM from
    /proc/<pid>/status (this process by default), the high-water mark of the
    process's own address space. 0 when it cannot be read (the process is
    gone, or a zombie).

    Not getrusage's ru_maxrss: Linux carries a process's peak across execve,
    so a freshly started child (a spawned worker, a subprocess) reports its
    parent's peak as its own, and RUSAGE_CHILDREN is only the largest child's.
    A forked child (start method fork) shares its parent's pages until it
    writes them, and VmHWM counts them: its peak includes the parent's memory
    at the fork. For the memory of several processes, add each one's peak."""
    path = "/proc/self/status" if pid is None else "/proc/%d/status" % pid
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    if pid is None:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # no /proc: the best there is
    return 0


# --- The run's other processes ---------------------------------------------------------


def group_members(recorder=-1):
    """Returns the pids of the other live processes of this run's process
    group, leaving out the recorder (pid recorder)."""
    me, pgrp = os.getpid(), os.getpgrp()
    rec = recorder
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 3 and fields[0] != b"Z" and int(fields[2]) == pgrp:
            pid = int(name)
            if pid not in (me, rec):
                pids.append(pid)
    return pids


def kill_group(recorder=-1):
    """Kills every other process of the run (workers, subprocesses), not the
    recorder (pid recorder)."""
    import signal
    for pid in group_members(recorder):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# --- Parent death: no process of a run outlives the server -------------------------------

_PR_SET_PDEATHSIG = 1
_prctl = None
_fork_parent = None


def die_with_parent(parent):
    """Asks the kernel to SIGKILL this process when its parent dies, so that
    no process of a run outlives the server (a kill -9 included). A fork
    clears the request, hence one per forked process. The parent may have
    died before the request: then this process is an orphan already and it
    ends itself.

    The kernel sends the signal when the parent's *thread* that forked
    exits, not the parent process: a multiprocessing.Pool forks its
    replacement workers from a handler thread that ends when the pool
    closes, and a worker killed then while it holds the pool's queue lock
    hangs the pool. So only a child forked from its parent's main thread
    asks (before_fork notes which); every other process of the run (and a
    spawned interpreter, which cannot tell which thread started it) is
    ended by the recorder, which kills the run's process group once the
    root is gone, and by the server's containment (cgroup, watchdog)."""
    global _prctl
    try:
        if _prctl is None:
            import ctypes
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        if _prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:
            return
        orphan = os.getppid() != parent
    except Exception:
        return  # no ctypes
    if orphan:
        os.kill(os.getpid(), 9)


def before_fork():
    """Notes who forks and from which thread, and loads ctypes once in the
    parent, not in each child."""
    global _fork_parent, _prctl
    _fork_parent = os.getpid() if threading.current_thread() is threading.main_thread() else None
    if _prctl is None and _fork_parent is not None:
        try:
            import ctypes
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except Exception:
            pass


def after_fork_die_with_parent():
    """In a forked child: dies with the parent that forked it, when it forked
    from its main thread (see die_with_parent)."""
    if _fork_parent is not None:
        die_with_parent(_fork_parent)
