/**
 * stepping.js: a step run as the stepping panel shows it, at an instant.
 *
 * A step run's threads (lanes worker-1 … worker-N, numbered as a schedule
 * names them) stop before every line of the scenario's code; each stop is a
 * step event (lane, line, code, locals, n: the number of the step that
 * brought the thread there). From those, the lanes' states and lock events
 * and the counters, stepState computes, as of time cut, where every thread
 * is, whether it can take a step (a thread waiting for a lock another one
 * holds cannot), who holds each lock, and the schedule taken so far. It is
 * pure: the replay of a recorded run shows each step as it was.
 */

import { STATE_CODE } from './palette.js';
import { LOCK_OP } from './model.js';

/** THREAD_LANE matches the lane of a step run's thread and captures its number. */
const THREAD_LANE = /^worker-(\d+)$/;

/** threadNumber returns the number of a step run's thread lane (worker-2 → 2), or 0. */
export function threadNumber(lane) {
  const m = THREAD_LANE.exec(String(lane));
  return m ? Number(m[1]) : 0;
}

/** threadLane is the lane of thread number n. */
export function threadLane(n) {
  return `worker-${n}`;
}

/**
 * lockHolders replays the lock events of model's lanes up to cut: for each
 * lock, the lane holding it (or '') and the lanes waiting for it.
 */
export function lockHolders(model, cut) {
  const ops = [];
  for (const lane of model.laneList) {
    for (let i = 0; i < lane.lockN && lane.lockT[i] <= cut; i++) {
      ops.push({ t: lane.lockT[i], op: lane.lockOp[i], lock: model.strings[lane.lockName[i]] || '', lane: lane.id, order: ops.length });
    }
  }
  ops.sort((a, b) => a.t - b.t || a.order - b.order);
  const locks = new Map();
  const get = (name) => {
    let l = locks.get(name);
    if (!l) {
      l = { name, holder: '', waiters: [] };
      locks.set(name, l);
    }
    return l;
  };
  for (const o of ops) {
    const l = get(o.lock);
    if (o.op === LOCK_OP.got) {
      l.holder = o.lane;
      l.waiters = l.waiters.filter((w) => w !== o.lane);
    } else if (o.op === LOCK_OP.free) {
      if (l.holder === o.lane) l.holder = '';
    } else if (!l.waiters.includes(o.lane)) {
      l.waiters.push(o.lane);
    }
  }
  return [...locks.values()];
}

/** appStateAt returns a lane's state code and reason at time cut, or null before any. */
function appStateAt(model, lane, cut) {
  const i = lane.indexAt(cut);
  if (i < 0) return null;
  return { code: lane.raw[i], why: model.whyOf(lane, i) };
}

/**
 * stepState returns the step run in model as of time cut (default: the
 * model's cut): null when it has no step event by then, else
 * {threads, locks, counters, schedule, steps, deadlock, ended}. Each thread
 * is {lane, number, name, status, why, line, code, locals, fn, first,
 * source, canStep}: status is ready (stopped before a line, its turn to
 * come), blocked (waiting for a lock), running (on its own: running freely),
 * or done; why says it in words.
 */
export function stepState(model, cut = model.cut) {
  const steps = model.steps;
  if (steps.length === 0 || steps[0].t > cut) return null;
  const threads = new Map();
  const taken = [];
  for (const s of steps) {
    if (s.t > cut) break;
    let th = threads.get(s.lane);
    if (!th) {
      const lane = model.lanes.get(s.lane);
      th = { lane: s.lane, number: threadNumber(s.lane), name: lane ? lane.name : s.lane, fn: '', first: 0, source: [] };
      threads.set(s.lane, th);
    }
    if (s.source) {
      th.fn = s.fn;
      th.first = s.first;
      th.source = s.source;
    }
    th.line = s.line;
    th.code = s.code;
    th.locals = s.locals;
    th.lastStep = s.n;
    if (s.n > 0) taken.push({ n: s.n, number: th.number });
  }
  taken.sort((a, b) => a.n - b.n);
  const locks = lockHolders(model, cut);
  const waitingFor = new Map();
  for (const l of locks) for (const w of l.waiters) waitingFor.set(w, l);
  const ended = model.endedBy(cut);
  for (const th of threads.values()) {
    const lane = model.lanes.get(th.lane);
    const st = lane ? appStateAt(model, lane, cut) : null;
    const lock = waitingFor.get(th.lane);
    if (th.line === 0 || (st && st.code === STATE_CODE.done)) {
      th.status = 'done';
      th.why = 'finished';
    } else if (st && st.code === STATE_CODE['lock-wait'] && lock) {
      th.status = 'blocked';
      th.why = lock.holder
        ? `waits for ${lock.name}, held by ${nameOf(model, lock.holder)}`
        : `waits for ${lock.name}, which is free now: its next step takes it`;
    } else if (st && (st.code === STATE_CODE.active || st.code === STATE_CODE.running) && !ended) {
      th.status = 'running';
      th.why = st.code === STATE_CODE.active ? 'running freely' : 'running a line';
    } else {
      th.status = 'ready';
      th.why = `ready before line ${th.line}`;
    }
    th.canStep = !ended && (th.status === 'ready' || (th.status === 'blocked' && !lock.holder));
  }
  const deadlock = model.marks.find((m) => m.t <= cut && m.label.startsWith('deadlock: '));
  return {
    threads: [...threads.values()].sort((a, b) => a.number - b.number),
    locks,
    counters: model.countersAt(cut),
    schedule: taken.map((s) => s.number).join(','),
    steps: taken.length,
    deadlock: deadlock ? deadlock.label.slice('deadlock: '.length) : '',
    ended,
  };
}

/** nameOf returns a lane's display name. */
function nameOf(model, id) {
  const lane = model.lanes.get(id);
  return lane ? lane.name : id;
}

/**
 * withSchedule returns a share query (a scenario page's settings) with the
 * schedule param set to schedule and step to step ('' drops the schedule).
 */
export function withSchedule(query, schedule, step) {
  const q = new URLSearchParams(query);
  q.set('schedule', schedule);
  if (step !== undefined) q.set('step', String(step));
  // Commas are allowed in a query: 1,1,2 reads better than 1%2C1%2C2.
  return q.toString().replace(/%2C/gi, ',');
}

/** isStepQuery reports whether a share query describes a step run (step=true). */
export function isStepQuery(query) {
  return new URLSearchParams(query).get('step') === 'true';
}
