/**
 * model.js: the event model of one run, built from the event protocol.
 *
 * Lanes come from `lane` events; a lane's spans from its consecutive `state`
 * events: a state lasts until the lane's next state, or, for the last one,
 * until "now" while the run is live and until the end of the run once it is
 * finished. A `done` state ends the lane: it is a gap, not a span.
 *
 * Spans are kept in typed arrays per lane (a run may have millions), and the
 * model is the same whether events arrive one batch at a time (live) or all
 * at once (a late joiner receiving the history): add() is order-insensitive
 * within a lane.
 *
 * The state a span is drawn in follows the rule of scenarios/invariant: see
 * lane.js.
 */

import { DONE, RUNNING, HOLDER_BASE, HOLDERS, otherHolder, stateCode } from './palette.js';
import { Lane, SRC_CODE, SRC_NAME, busy, grow, upperBound, lowerBound } from './lane.js';
import { FINAL_STATUSES, isFinal, LOCK_OPS } from './protocol.js';
import { withPid } from './format.js';

export { Lane, busy, upperBound, lowerBound };

// The protocol's final statuses, generated from the server's definitions.
export { FINAL_STATUSES, isFinal };

/** LOCK_OP maps the op field of a lock event to a code. */
export const LOCK_OP = Object.freeze(Object.fromEntries(LOCK_OPS.map((op, i) => [op, i])));

/** Counter is the series of one counter name: times and values, sorted by time. */
export class Counter {
  constructor(name, order) {
    this.name = name;
    this.order = order;
    this.n = 0;
    this.t = new Float64Array(8);
    this.v = new Float64Array(8);
    this.min = Infinity;
    this.max = -Infinity;
  }

  /** add records value v at time t. */
  add(t, v) {
    const n = this.n;
    if (n + 1 > this.t.length) {
      this.t = grow(this.t, n + 1);
      this.v = grow(this.v, n + 1);
    }
    let i = n;
    if (n > 0 && t < this.t[n - 1]) {
      i = upperBound(this.t, t, 0, n);
      this.t.copyWithin(i + 1, i, n);
      this.v.copyWithin(i + 1, i, n);
    }
    this.t[i] = t;
    this.v[i] = v;
    this.n = n + 1;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** valueAt is the counter's value at time t, or undefined before its first sample. */
  valueAt(t) {
    const i = upperBound(this.t, t, 0, this.n) - 1;
    return i < 0 ? undefined : this.v[i];
  }
}

/** insertSorted pushes item into arr, kept sorted by item.t (stable). */
function insertSorted(arr, item) {
  if (arr.length === 0 || arr[arr.length - 1].t <= item.t) {
    arr.push(item);
    return;
  }
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid].t <= item.t) lo = mid + 1; else hi = mid;
  }
  arr.splice(lo, 0, item);
}

/**
 * RunModel holds everything known about one run. Feed it with add() (a
 * batch of protocol events) and setStatus(); read lanes, counters, outputs,
 * marks, flows and the summary.
 */
export class RunModel {
  constructor() {
    /** @type {Map<string, Lane>} */
    this.lanes = new Map();
    /** @type {Lane[]} lanes in arrival order */
    this.laneList = [];
    /** @type {Map<string, Counter>} */
    this.counters = new Map();
    /** @type {{t:number, lane:string, stream:string, text:string}[]} in arrival order */
    this.outputs = [];
    /** @type {{t:number, lane:string, label:string}[]} sorted by t */
    this.marks = [];
    /** @type {{t:number, from:string, to:string, label:string}[]} sorted by t */
    this.flows = [];
    /**
     * steps are a step run's step events, sorted by t: a thread stopped
     * before line (code, locals); n is the step that brought it there.
     * @type {{t:number, lane:string, line:number, code:string, locals:Object<string,string>, n:number, fn:string, first:number, source:string[]|null}[]}
     */
    this.steps = [];
    /** summary is the end event's summary, or null before the end. */
    this.summary = null;
    /** endT is the end event's time, or null. */
    this.endT = null;
    /** maxT is the latest event time seen. */
    this.maxT = 0;
    /** now is the live clock (ns since run start) used to extend open spans while live. */
    this.now = 0;
    /**
     * cursor is the replay position (ns), or null for no cut: the whole run
     * once finished, everything so far while live. Queries and drawing
     * that respect it show only what had happened before it.
     */
    this.cursor = null;
    /** times holds every event's time (timesN of them), for stepping from event to event. */
    this.times = new Float64Array(1024);
    this.timesN = 0;
    this.timesSorted = true;
    this.status = 'connecting';
    this.position = 0;
    this.events = 0;
    this.spanTotal = 0;
    /** version changes on every change; structure when lanes or counters are added or described. */
    this.version = 0;
    this.structure = 0;
    this.strings = [''];
    this.stringIndex = new Map([['', 0]]);
    /** laneByName finds the first lane declared with a name, to colour it as a core's holder. */
    this.laneByName = new Map();
    /** holderIndex numbers the holders of core lanes that are no lane's name, in the order they first appear. */
    this.holderIndex = new Map();
    /** heldBy holds the names of every holder of a core. */
    this.heldBy = new Set();
  }

  /** intern returns the index of s in the string table (0 for none). */
  intern(s) {
    if (!s) return 0;
    let i = this.stringIndex.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.stringIndex.set(s, i);
    }
    return i;
  }

  /** lane returns the lane with id, creating an undeclared one if a state names it first. */
  lane(id) {
    let l = this.lanes.get(id);
    if (!l) {
      l = new Lane(id, this.laneList.length);
      this.lanes.set(id, l);
      this.laneList.push(l);
      this.structure++;
    }
    return l;
  }

  /** add ingests a batch of protocol events. Unknown kinds are counted and ignored. */
  add(events) {
    if (this.timesN + events.length > this.times.length) this.times = grow(this.times, this.timesN + events.length);
    const times = this.times;
    let tn = this.timesN;
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const t = +e.t || 0;
      if (t > this.maxT) this.maxT = t;
      if (tn > 0 && t < times[tn - 1]) this.timesSorted = false;
      times[tn++] = t;
      switch (e.k) {
        case 'lane': {
          const l = this.lane(String(e.id));
          if (t < l.since) l.since = t;
          l.kind = e.kind || l.kind;
          l.name = e.name || l.name;
          if (!this.laneByName.has(l.name)) this.laneByName.set(l.name, l);
          l.parent = e.parent || '';
          l.pid = e.pid || 0;
          l.group = e.group || '';
          l.declared = true;
          this.structure++;
          break;
        }
        case 'state': {
          const l = this.lane(String(e.lane));
          if (t < l.since) l.since = t;
          const code = stateCode(e.s);
          const holder = l.kind === 'cpu' && code === RUNNING ? this.holderOf(e.why || '') : 0;
          l.addState(t, code, this.intern(e.why), SRC_CODE[e.src] || 0, holder);
          if (code !== DONE) this.spanTotal++;
          break;
        }
        case 'lock': {
          const l = this.lane(String(e.lane));
          if (t < l.since) l.since = t;
          l.addLock(t, LOCK_OP[e.op] ?? 0, this.intern(e.lock));
          break;
        }
        case 'flow':
          insertSorted(this.flows, { t, from: String(e.from), to: String(e.to), label: e.label || '' });
          break;
        case 'counter': {
          const name = e.name || 'counter';
          let c = this.counters.get(name);
          if (!c) {
            c = new Counter(name, this.counters.size);
            this.counters.set(name, c);
            this.structure++;
          }
          c.add(t, +e.v || 0);
          break;
        }
        case 'output':
          this.outputs.push({ t, lane: e.lane ? String(e.lane) : '', stream: e.stream === 'stderr' ? 'stderr' : 'stdout', text: e.text || '' });
          break;
        case 'mark':
          insertSorted(this.marks, { t, lane: e.lane ? String(e.lane) : '', label: e.label || '' });
          break;
        case 'step':
          insertSorted(this.steps, {
            t, lane: String(e.lane || ''), line: +e.line || 0, code: e.code || '', locals: e.locals || {}, n: +e.n || 0,
            fn: e.fn || '', first: +e.first || 0, source: Array.isArray(e.source) ? e.source.map(String) : null,
          });
          break;
        case 'end':
          this.summary = e.summary || { wall_ns: t, cpu_ns: 0, metrics: {}, verdict: '' };
          this.endT = t;
          break;
        default:
          break;
      }
    }
    this.timesN = tn;
    this.events += events.length;
    this.version++;
  }

  /** setStatus records the run's status (and queue position while queued). */
  setStatus(status, position = 0) {
    this.status = status;
    this.position = position || 0;
    this.version++;
  }

  /** setNow advances the live clock; it never goes backwards. */
  setNow(ns) {
    if (ns > this.now) {
      this.now = ns;
      this.version++;
    }
  }

  /** finished reports whether the run has ended (an end event or a final status). */
  get finished() {
    return this.endT !== null || isFinal(this.status);
  }

  /**
   * openEnd is when the last span of a lane ends: the end of the run once
   * it is finished, else the live clock.
   */
  get openEnd() {
    if (this.endT !== null) return Math.max(this.endT, this.maxT);
    if (isFinal(this.status)) return this.maxT;
    return Math.max(this.now, this.maxT);
  }

  /**
   * whyOf returns the reason of span i of lane: the program's words, and
   * where the scheduler's state is drawn, what the scheduler said too
   * ("computing · on P0").
   */
  whyOf(lane, i) {
    const from = lane.drawnFrom(i);
    const own = this.strings[lane.whys[from]] || '';
    const a = lane.appAt[i];
    if (from === a || a < 0) return own;
    const app = this.strings[lane.whys[a]] || '';
    return app && own ? `${app} · ${own}` : app || own;
  }

  /** srcOf returns the source (app or sched) of the state span i of lane is drawn in. */
  srcOf(lane, i) {
    return SRC_NAME[lane.srcs[lane.drawnFrom(i)]] || '';
  }

  /**
   * holderOf returns 1 + the index in palette.js HOLDERS of the style of a
   * core's holder named why, or HOLDERS.length + 1 for a holder that is not
   * a lane of the run. A holder takes its style from its lane's place in the
   * run (the order lanes were declared in), so a replay colours it as the
   * live page did, whatever order the states arrive in.
   */
  holderOf(why) {
    if (otherHolder(why)) return HOLDERS.length + 1;
    let i = this.holderRank(why);
    if (i === undefined) {
      // Not a lane's name (yet): numbered after every lane, as first seen.
      i = this.laneList.length + this.holderIndex.size;
      this.holderIndex.set(why, i);
    }
    this.heldBy.add(why);
    return (i % HOLDERS.length) + 1;
  }

  /** holderRank is the rank that picks a holder's style: its lane's order, else its first appearance. */
  holderRank(name) {
    const l = this.laneByName.get(name);
    return l ? l.order : this.holderIndex.get(name);
  }

  /** holderPaint returns the paint code of the holder named name, or -1 if it never held a core. */
  holderPaint(name) {
    if (!this.heldBy.has(name)) return -1;
    return HOLDER_BASE + (this.holderRank(name) % HOLDERS.length);
  }

  /**
   * spansBetween counts the spans, over every lane, that overlap the window
   * (t0, t1), as far as they had happened at the cursor.
   */
  spansBetween(t0, t1) {
    const end = this.openEnd;
    const cut = this.cut;
    const hi = Math.min(t1, cut);
    let count = 0;
    for (const l of this.laneList) {
      if (l.n === 0) continue;
      const first = Math.max(0, l.indexAt(t0));
      const last = upperBound(l.starts, hi, 0, l.n) - 1;
      for (let i = first; i <= last; i++) {
        if (l.states[i] === DONE) continue;
        const s = l.starts[i];
        const e = Math.min(l.spanEnd(i, end), cut);
        if (s < hi && e > t0) count++;
      }
    }
    return count;
  }

  // ---- replay: the run as it was at the cursor ------------------------------

  /** setCursor moves the replay position (ns); null (or a non-number) removes the cut. */
  setCursor(t) {
    const c = typeof t === 'number' && Number.isFinite(t) ? Math.max(0, t) : null;
    if (c === this.cursor) return;
    this.cursor = c;
    this.version++;
  }

  /** cut is the time after which nothing is shown: the cursor, or Infinity. */
  get cut() {
    return this.cursor === null ? Infinity : this.cursor;
  }

  /** drawEnd is where open spans end on screen: openEnd, or the cursor when it is earlier. */
  get drawEnd() {
    const end = this.openEnd;
    return this.cursor === null || this.cursor > end ? end : this.cursor;
  }

  /** eventTimes returns every event's time, sorted. */
  eventTimes() {
    const times = this.times.subarray(0, this.timesN);
    if (!this.timesSorted) {
      times.sort();
      this.timesSorted = true;
    }
    return times;
  }

  /**
   * nextEventTime is the time of the first event after t: of any event, or
   * of lane laneId's states and lock events when given. null when none.
   */
  nextEventTime(t, laneId = '') {
    if (laneId) {
      const l = this.lanes.get(laneId);
      if (!l) return null;
      const a = upperBound(l.starts, t, 0, l.n);
      const b = upperBound(l.lockT, t, 0, l.lockN);
      const ta = a < l.n ? l.starts[a] : Infinity;
      const tb = b < l.lockN ? l.lockT[b] : Infinity;
      const next = Math.min(ta, tb);
      return next === Infinity ? null : next;
    }
    const times = this.eventTimes();
    const i = upperBound(times, t, 0, times.length);
    return i < times.length ? times[i] : null;
  }

  /** prevEventTime is the time of the last event before t (of lane laneId when given), or null. */
  prevEventTime(t, laneId = '') {
    if (laneId) {
      const l = this.lanes.get(laneId);
      if (!l) return null;
      const a = lowerBound(l.starts, t, 0, l.n) - 1;
      const b = lowerBound(l.lockT, t, 0, l.lockN) - 1;
      const prev = Math.max(a >= 0 ? l.starts[a] : -Infinity, b >= 0 ? l.lockT[b] : -Infinity);
      return prev === -Infinity ? null : prev;
    }
    const times = this.eventTimes();
    const i = lowerBound(times, t, 0, times.length) - 1;
    return i >= 0 ? times[i] : null;
  }

  /** outputsUntil returns the output printed up to time t, in arrival order. */
  outputsUntil(t) {
    if (t === Infinity) return this.outputs;
    return this.outputs.filter((o) => o.t <= t);
  }

  /** countersAt returns each counter's value at time t (undefined before its first sample), in order. */
  countersAt(t) {
    return [...this.counters.values()]
      .sort((a, b) => a.order - b.order)
      .map((c) => ({ name: c.name, value: c.valueAt(t) }));
  }

  /** endedBy reports whether the run's end event had happened at time t. */
  endedBy(t) {
    return this.endT !== null && t >= this.endT;
  }
}

/**
 * LiveClock estimates "now" in run time while a run is live: the newest
 * event time, advanced by the wall time elapsed since it arrived. It never
 * goes backwards when a batch arrives late.
 */
export class LiveClock {
  /** @param {() => number} wallMs a clock in milliseconds (performance.now) */
  constructor(wallMs = () => performance.now()) {
    this.wallMs = wallMs;
    this.anchorT = 0;
    this.anchorWall = null;
  }

  /** observe notes that events up to time maxT have arrived. */
  observe(maxT) {
    if (this.anchorWall === null || maxT > this.now()) {
      this.anchorT = maxT;
      this.anchorWall = this.wallMs();
    }
  }

  /** now returns the estimated run time in ns (0 before any event). */
  now() {
    if (this.anchorWall === null) return 0;
    return this.anchorT + (this.wallMs() - this.anchorWall) * 1e6;
  }
}

/** SCHED_GROUP is the group of the lanes drawn from the real Go scheduler (runtime/trace). */
export const SCHED_GROUP = 'sched';

/** GROUP_CAP is how many lanes of a big group are drawn before the rest is summarised in one lane. */
export const GROUP_CAP = 100;

/** GROUP_SLACK lets a group slightly over GROUP_CAP show every lane rather than "+3 more". */
const GROUP_SLACK = 20;

/**
 * groupLanes groups lanes for drawing: by group field, else by process,
 * else into the run's one group; in order of first appearance, with the
 * scheduler's lanes (only when showSched) after the scenario's own, their
 * cores (P lanes) first. Returns [{key, label, sched, lanes}].
 * @param {Lane[]} lanes in arrival order
 */
export function groupLanes(lanes, showSched = false) {
  const groups = new Map();
  for (const l of lanes) {
    const key = l.groupKey;
    const sched = key === SCHED_GROUP;
    if (sched && !showSched) continue;
    let g = groups.get(key);
    if (!g) {
      g = { key, label: '', sched, lanes: [] };
      groups.set(key, g);
    }
    g.lanes.push(l);
  }
  const out = [...groups.values()].sort((a, b) => Number(a.sched) - Number(b.sched));
  for (const g of out) {
    if (g.sched) {
      g.lanes.sort((a, b) => Number(a.kind !== 'cpu') - Number(b.kind !== 'cpu') || a.order - b.order);
    }
    g.label = groupLabel(g);
  }
  return out;
}

/** groupLabel names a group for its header. */
function groupLabel(g) {
  if (g.sched) return 'Real Go scheduler (runtime/trace)';
  if (g.key === '') return 'program';
  const m = /^pid (\d+)$/.exec(g.key);
  if (m) {
    const proc = g.lanes.find((l) => l.kind === 'process');
    return proc && proc.name !== proc.id ? withPid(proc.name, Number(m[1])) : `process ${m[1]}`;
  }
  return g.key;
}

/**
 * collapseGroup splits a group's lanes into those drawn one per row and
 * those summarised in a single "+N more" lane, so that 10,000 asyncio tasks
 * still draw (and can be expanded on demand).
 */
export function collapseGroup(lanes, expanded = false, cap = GROUP_CAP) {
  if (expanded || lanes.length <= cap + GROUP_SLACK) return { shown: lanes, hidden: [] };
  return { shown: lanes.slice(0, cap), hidden: lanes.slice(cap) };
}

/** lowerBoundBy returns the first index of items (sorted by .t) with t >= t0. */
export function lowerBoundBy(items, t0) {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid].t < t0) lo = mid + 1; else hi = mid;
  }
  return lo;
}
