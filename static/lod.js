/**
 * lod.js: level of detail for the timeline.
 *
 * At a given zoom a lane may have far more spans than pixels. lodLane turns
 * the spans of one lane inside a time window into at most about two
 * rectangles per pixel: spans at least a pixel wide are kept (adjacent ones
 * of the same state are joined), and runs of sub-pixel spans are merged, one
 * pixel column at a time, into a rectangle coloured by the state that took
 * most of that column's time. The rectangles cover exactly what the spans
 * covered, so a busy lane still looks busy and a gap (after `done`) of a
 * pixel or more stays a gap; only a gap inside one pixel column is drawn
 * over. The work follows the pixels rather than the spans: a column in
 * which many spans start is sampled at a few instants (binary searches)
 * instead of being visited span by span; nothing is allocated per frame.
 */

import { DONE, STATES } from './palette.js';

/** LodBuffer holds the rectangles of one lane for one frame, in pixels from the window's left edge. */
export class LodBuffer {
  constructor(capacity = 1024) {
    this.x0 = new Float64Array(capacity);
    this.x1 = new Float64Array(capacity);
    this.state = new Uint8Array(capacity);
    this.n = 0;
  }

  /** ensure makes room for capacity rectangles, dropping the content. */
  ensure(capacity) {
    if (capacity > this.x0.length) {
      const cap = Math.max(capacity, this.x0.length * 2);
      this.x0 = new Float64Array(cap);
      this.x1 = new Float64Array(cap);
      this.state = new Uint8Array(cap);
    }
    this.n = 0;
  }

  /** push appends a rectangle, joining it to the previous one when they touch and share a state. */
  push(x0, x1, state) {
    const n = this.n;
    if (n > 0 && this.state[n - 1] === state && x0 <= this.x1[n - 1] + 1e-3) {
      if (x1 > this.x1[n - 1]) this.x1[n - 1] = x1;
      return;
    }
    this.x0[n] = x0;
    this.x1[n] = x1;
    this.state[n] = state;
    this.n = n + 1;
  }
}

/** DENSE is how many spans must start in one pixel column before they are sampled rather than visited. */
const DENSE = 24;

/** SAMPLES is how many instants of a dense column are sampled. */
const SAMPLES = 8;

/** upperBoundFrom returns the first index in [lo, hi) whose start is > t. */
function upperBoundFrom(starts, t, lo, hi) {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid] <= t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** scratch holds per-state time within the current pixel column. */
const scratch = new Float64Array(STATES.length);

/**
 * lodLane fills out with the rectangles of lane's spans inside [t0, t1]
 * drawn width pixels wide, and returns how many there are.
 * @param {{n:number, starts:Float64Array, states:Uint8Array}} lane spans sorted by start; span i lasts until i+1
 * @param {number} openEnd when the last span ends
 * @param {number} t0 window start (ns)
 * @param {number} t1 window end (ns)
 * @param {number} width window width in pixels
 * @param {LodBuffer} out
 */
export function lodLane(lane, openEnd, t0, t1, width, out) {
  out.ensure(2 * Math.ceil(width) + 16);
  const n = lane.n;
  if (n === 0 || !(t1 > t0) || !(width > 0)) return 0;
  const starts = lane.starts;
  const states = lane.states;
  const k = width / (t1 - t0);

  // The first span that may reach t0: the one in force at t0.
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid] <= t0) lo = mid + 1; else hi = mid;
  }
  let i = lo > 0 ? lo - 1 : 0;

  // The pixel column being merged (-1: none), and the part of it covered.
  let col = -1;
  let bx0 = 0;
  let bx1 = 0;
  const flush = () => {
    let best = 0;
    let bestDur = -1;
    for (let s = 0; s < scratch.length; s++) {
      if (scratch[s] > bestDur) { bestDur = scratch[s]; best = s; }
      scratch[s] = 0;
    }
    out.push(bx0, bx1, best);
    col = -1;
  };

  let checked = -1; // the last column tested for density
  for (; i < n; i++) {
    let s = starts[i];
    if (s >= t1) break;
    if (col >= 0 && col !== checked) {
      // Dense column: when many spans start inside it, estimate their
      // shares from a few samples in time instead of visiting each one, so
      // the work per lane stays about the pixels, not the spans.
      checked = col;
      const colEnd = t0 + (col + 1) / k;
      const j = upperBoundFrom(starts, colEnd, i, n);
      if (j - i > DENSE) {
        const last = starts[j - 1];
        const w = ((last - s) * k) / SAMPLES;
        for (let q = 0; q < SAMPLES; q++) {
          const tq = s + ((q + 0.5) / SAMPLES) * (last - s);
          const sq = states[upperBoundFrom(starts, tq, i, j) - 1];
          if (sq !== DONE) scratch[sq] += w;
        }
        bx1 = (last - t0) * k;
        i = j - 1;
        s = last;
      }
    }
    const st = states[i];
    if (st === DONE) continue; // a gap: see below
    const e = i + 1 < n ? starts[i + 1] : (openEnd > s ? openEnd : s);
    if (e <= t0) continue;
    let x0 = ((s > t0 ? s : t0) - t0) * k;
    const x1 = ((e < t1 ? e : t1) - t0) * k;
    while (x0 < x1) {
      if (col >= 0) {
        if (x0 >= col + 1) {
          flush(); // a gap reaching past the column ends it
          continue;
        }
        // A gap inside the column (after a `done`) is bridged: the column
        // is drawn from its first to its last covered point.
        const seg = x1 < col + 1 ? x1 : col + 1;
        scratch[st] += seg - x0;
        bx1 = seg;
        x0 = seg;
        if (seg >= col + 1) flush();
        continue;
      }
      if (x1 - x0 >= 1) {
        out.push(x0, x1, st);
        break;
      }
      col = Math.floor(x0);
      bx0 = x0;
      bx1 = x0;
    }
  }
  if (col >= 0) flush();
  return out.n;
}
