/**
 * lane.js: one row of the timeline and the state each of its spans is drawn
 * in.
 *
 * A lane's states come from the program (src "app") and, on the go engine,
 * from the real scheduler (src "sched"). The drawn state follows the rule of
 * scenarios/invariant (its reference in Go): the latest app state, except
 * where the app state only says the lane is busy (active, running or
 * runnable) and the scheduler has recorded a state for the lane by then: the
 * scheduler knows whether it was on a core, so its state wins, and the span
 * keeps the program's words as its reason (RunModel.whyOf).
 */

import { DONE, RUNNING, STATE_CODE, HOLDER_BASE } from './palette.js';

/** SRC_CODE maps the src field of a state to a small code (0 = not given, drawn as the app's). */
export const SRC_CODE = { app: 1, sched: 2 };
export const SRC_NAME = ['', 'app', 'sched'];
const SRC_SCHED = SRC_CODE.sched;

const ACTIVE = STATE_CODE.active;
const RUNNABLE = STATE_CODE.runnable;

/**
 * busy reports whether an app state only says the lane is busy with its
 * work: then the scheduler's state, where recorded, says whether it is on a
 * core (scenarios/invariant).
 */
export function busy(code) {
  return code === RUNNING || code === ACTIVE || code === RUNNABLE;
}

/** grow returns a typed array of the same kind with at least n slots, keeping its content. */
export function grow(arr, n) {
  if (n <= arr.length) return arr;
  let cap = arr.length || 8;
  while (cap < n) cap *= 2;
  const out = new arr.constructor(cap);
  out.set(arr);
  return out;
}

/** upperBound returns the first index i in [lo, hi) with a[i] > t (hi when none). */
export function upperBound(a, t, lo, hi) {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** lowerBound returns the first index i in [lo, hi) with a[i] >= t (hi when none). */
export function lowerBound(a, t, lo, hi) {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * Lane is one row of the timeline: a goroutine, thread, process, task, event
 * loop or scheduler P, with its state spans.
 */
export class Lane {
  /**
   * @param {string} id the lane id, unique in the run
   * @param {number} order arrival order, which decides the drawing order
   */
  constructor(id, order) {
    this.id = id;
    this.order = order;
    this.kind = '';
    this.name = id;
    this.parent = '';
    this.pid = 0;
    this.group = '';
    /** declared is true once a lane event has described the lane. */
    this.declared = false;
    /**
     * n is the number of state events; starts/raw/whys/srcs/holders hold
     * them sorted by time, as received. states is the state each span is
     * drawn in (the drawn-state rule, see the top of this file), appAt and
     * schedAt the latest app and sched event at or before each one (-1 for
     * none), and paint the code it is painted with: its drawn state, or for
     * a core lane's running span its holder (palette.js HOLDERS).
     */
    this.n = 0;
    this.starts = new Float64Array(8);
    this.raw = new Uint8Array(8);
    this.states = new Uint8Array(8);
    this.whys = new Int32Array(8);
    this.srcs = new Uint8Array(8);
    this.holders = new Uint8Array(8);
    this.appAt = new Int32Array(8);
    this.schedAt = new Int32Array(8);
    this.paint = new Uint8Array(8);
    /** spans counts the state events that are not `done`: each is a span. */
    this.spans = 0;
    /** since is when the lane first appears (its lane event or first state or lock). */
    this.since = Infinity;
    /** locks holds lock events: time, op code and interned lock name. */
    this.lockN = 0;
    this.lockT = new Float64Array(0);
    this.lockOp = new Uint8Array(0);
    this.lockName = new Int32Array(0);
  }

  /** groupKey is the lane's group: its group field, else its process, else the run's one group. */
  get groupKey() {
    if (this.group) return this.group;
    if (this.pid) return `pid ${this.pid}`;
    return '';
  }

  /**
   * addState records a state from time t; out-of-order events are inserted
   * in place. holder (0 for none) is 1 + the index of the core's holder in
   * palette.js HOLDERS (HOLDERS.length + 1 for a holder that is not a lane).
   */
  addState(t, code, why, src, holder = 0) {
    const n = this.n;
    if (n + 1 > this.starts.length) {
      for (const k of ['starts', 'raw', 'states', 'whys', 'srcs', 'holders', 'appAt', 'schedAt', 'paint']) {
        this[k] = grow(this[k], n + 1);
      }
    }
    let i = n;
    if (n > 0 && t < this.starts[n - 1]) {
      // Rare: an engine stamped an event in the past. Keep equal times in
      // arrival order (insert after them).
      i = upperBound(this.starts, t, 0, n);
      for (const k of ['starts', 'raw', 'whys', 'srcs', 'holders']) this[k].copyWithin(i + 1, i, n);
    }
    this.starts[i] = t;
    this.raw[i] = code;
    this.whys[i] = why;
    this.srcs[i] = src;
    this.holders[i] = holder;
    this.n = n + 1;
    if (i === n) {
      this.derive(n);
      if (this.states[n] !== DONE) this.spans++;
      return;
    }
    let spans = 0;
    for (let j = 0; j < i; j++) if (this.states[j] !== DONE) spans++;
    for (let j = i; j <= n; j++) {
      this.derive(j);
      if (this.states[j] !== DONE) spans++;
    }
    this.spans = spans;
  }

  /** derive computes the drawn state and paint of event j from the events before it. */
  derive(j) {
    const prevApp = j > 0 ? this.appAt[j - 1] : -1;
    const prevSched = j > 0 ? this.schedAt[j - 1] : -1;
    const sched = this.srcs[j] === SRC_SCHED;
    const a = sched ? prevApp : j;
    const s = sched ? j : prevSched;
    this.appAt[j] = a;
    this.schedAt[j] = s;
    const from = this.drawnFrom(j);
    const code = this.raw[from];
    this.states[j] = code;
    const h = this.holders[from];
    this.paint[j] = code === RUNNING && h > 0 ? HOLDER_BASE + h - 1 : code;
  }

  /**
   * drawnFrom returns the index of the event whose state span i is drawn
   * in: the latest sched event when the latest app state is busy (or there
   * is none), else the latest app event.
   */
  drawnFrom(i) {
    const a = this.appAt[i];
    const s = this.schedAt[i];
    return s >= 0 && (a < 0 || busy(this.raw[a])) ? s : a;
  }

  /** addLock records a lock event. */
  addLock(t, op, name) {
    const n = this.lockN;
    if (n + 1 > this.lockT.length) {
      this.lockT = grow(this.lockT, n + 1);
      this.lockOp = grow(this.lockOp, n + 1);
      this.lockName = grow(this.lockName, n + 1);
    }
    let i = n;
    if (n > 0 && t < this.lockT[n - 1]) {
      i = upperBound(this.lockT, t, 0, n);
      this.lockT.copyWithin(i + 1, i, n);
      this.lockOp.copyWithin(i + 1, i, n);
      this.lockName.copyWithin(i + 1, i, n);
    }
    this.lockT[i] = t;
    this.lockOp[i] = op;
    this.lockName[i] = name;
    this.lockN = n + 1;
  }

  /** spanEnd is when span i ends: the next state's start, or openEnd for the last one. */
  spanEnd(i, openEnd) {
    return i + 1 < this.n ? this.starts[i + 1] : Math.max(openEnd, this.starts[i]);
  }

  /** indexAt returns the index of the state in force at time t, or -1 before the first. */
  indexAt(t) {
    return upperBound(this.starts, t, 0, this.n) - 1;
  }

  /**
   * spansBefore counts the spans that had begun before time cut: the
   * states other than `done` that start before it (all of them for
   * Infinity).
   */
  spansBefore(cut) {
    if (cut === Infinity) return this.spans;
    const last = lowerBound(this.starts, cut, 0, this.n);
    let count = 0;
    for (let i = 0; i < last; i++) if (this.states[i] !== DONE) count++;
    return count;
  }
}
