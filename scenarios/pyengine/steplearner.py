"""steplearner: the learner's commands to a step run, on its control socket.

A step run (step=true) gets a Unix stream socket as file descriptor 4
(stepper.CONTROL_FD). Once its threads wait for the learner, the run says
so ({"paused": true, ...}); then every line the server writes is a command
({"op": "step", "lane": "worker-1"}, {"op": "random"}, {"op": "free"}) and
gets one reply line (docs/protocol.md). Reading the socket blocks: while
the learner thinks, the run uses no CPU.
"""

import json
import random

import harness as h
from stepper import CONTROL_FD, DONE


class _Control:
    """The control socket (fd 4): commands in, replies out, one JSON line each."""

    def __init__(self, fd):
        import socket
        self.sock = socket.socket(fileno=fd)
        self.buf = b""

    def read(self):
        h.nudge()  # the events so far go out while the run waits
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        try:
            cmd = json.loads(line)
        except ValueError:
            return {}
        return cmd if isinstance(cmd, dict) else {}

    def send(self, obj):
        self.sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")


def serve(ex):
    """Waits for the learner's commands and carries them out. Returns True
    when a step ended in a deadlock."""
    try:
        ctl = _Control(CONTROL_FD)
    except OSError as e:
        h.mark("step mode without its control channel (%s): the threads run freely" % e)
        ex.run_freely()
        return False
    rng = random.Random()
    threads = [w.lane for w in ex.workers]
    ctl.send({"paused": True, "steps": ex.n, "threads": threads})
    while True:
        cmd = ctl.read()
        if cmd is None:
            # The server closed the channel: nobody will step; let the run end.
            ex.run_freely()
            return False
        op = cmd.get("op")
        if op == "free":
            ctl.send({"ok": True, "free": True, "steps": ex.n, "ended": True})
            ex.run_freely()
            return False
        if op == "random":
            choices = ex.steppable()
            if not choices:
                ctl.send({"ok": False, "code": "blocked", "error": "no thread can take a step"})
                continue
            w = rng.choice(choices)
        elif op == "step":
            w = ex.by_lane.get(cmd.get("lane"))
            if w is None:
                ctl.send({"ok": False, "code": "unknown-lane",
                          "error": "%s is not a thread of this run; want one of %s" % (cmd.get("lane"), ", ".join(threads))})
                continue
            why = w.why_not()
            if why:
                ctl.send({"ok": False, "code": "blocked", "error": "%s cannot take a step: %s" % (w.lane, why)})
                continue
        else:
            ctl.send({"ok": False, "code": "unknown-op", "error": "unknown command %r" % op})
            continue
        dead = ex.step(w)
        reply = {"ok": True, "n": ex.n, "steps": ex.n, "lane": w.lane, "line": w.line if w.status != DONE else 0,
                 "status": w.status, "ended": dead or not ex.live()}
        if dead:
            reply["deadlock"] = ex.cycle_text()
        ctl.send(reply)
        if dead:
            return True
        if not ex.live():
            return False
