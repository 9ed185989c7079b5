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

import { DONE, PAINT_CODES } from './palette.js';

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

/** lowerBoundFrom returns the first index in [lo, hi) whose start is >= t. */
function lowerBoundFrom(starts, t, lo, hi) {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid] < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** scratch holds per-code time within the current pixel column. */
const scratch = new Float64Array(PAINT_CODES);

/**
 * emit appends rectangle [x0, x1) of state st to out's arrays at index n,
 * or widens rectangle n-1 when it touches it with the same state. It
 * returns the new count.
 */
function emit(ox0, ox1, ost, n, x0, x1, st) {
  if (n > 0 && ost[n - 1] === st && x0 <= ox1[n - 1] + 1e-3) {
    if (x1 > ox1[n - 1]) ox1[n - 1] = x1;
    return n;
  }
  ox0[n] = x0;
  ox1[n] = x1;
  ost[n] = st;
  return n + 1;
}

/** dominant returns the state with the most time in acc, and clears acc. */
function dominant(acc) {
  let best = 0;
  let bestDur = -1;
  for (let s = 0; s < acc.length; s++) {
    if (acc[s] > bestDur) {
      bestDur = acc[s];
      best = s;
    }
    acc[s] = 0;
  }
  return best;
}

/**
 * lodLane fills out with the rectangles of lane's spans inside [t0, t1]
 * drawn width pixels wide, and returns how many there are. With a cut
 * (the replay cursor) it draws the lane as it was then: spans that start
 * at or after cut are left out and the one in force is cut there, exactly
 * as if the events from cut on had not happened yet and cut were the open
 * end.
 * @param {{n:number, starts:Float64Array, states:Uint8Array}} lane spans sorted by start; span i lasts until i+1
 * @param {number} openEnd when the last span ends
 * @param {number} t0 window start (ns)
 * @param {number} t1 window end (ns)
 * @param {number} width window width in pixels
 * @param {LodBuffer} out
 * @param {number} [cut=Infinity] nothing from this time on is drawn
 * @param {Uint8Array} [codes=lane.states] the code each span is drawn with
 *   (lane.paint draws a core lane's running spans by holder)
 */
export function lodLane(lane, openEnd, t0, t1, width, out, cut = Infinity, codes = lane.states) {
  out.ensure(2 * Math.ceil(width) + 16);
  const n = lane.n;
  if (n === 0 || !(t1 > t0) || !(width > 0)) return 0;
  const starts = lane.starts;
  const states = codes || lane.states;
  const ox0 = out.x0;
  const ox1 = out.x1;
  const ost = out.state;
  const acc = scratch;
  const k = width / (t1 - t0);
  const stop = cut < t1 ? cut : t1;
  let on = 0;

  // The first span that may reach t0: the one in force at t0.
  let i = upperBoundFrom(starts, t0, 0, n) - 1;
  if (i < 0) i = 0;

  // The pixel column being merged (-1: none), and the part of it covered.
  let col = -1;
  let bx0 = 0;
  let bx1 = 0;
  let checked = -1; // the last column tested for density

  for (; i < n; i++) {
    let s = starts[i];
    if (s >= stop) break;
    if (col >= 0 && col !== checked) {
      // Dense column: when many spans start inside it, estimate their
      // shares from a few instants instead of visiting each span, so the
      // work per lane follows the pixels, not the spans.
      checked = col;
      const colEnd = t0 + (col + 1) / k;
      if (i + DENSE < n && starts[i + DENSE] < (colEnd < cut ? colEnd : cut)) {
        // The spans starting in the column (before the cut).
        const j = cut <= colEnd ? lowerBoundFrom(starts, cut, i + DENSE, n) : upperBoundFrom(starts, colEnd, i + DENSE, n);
        const last = starts[j - 1];
        const w = ((last - s) * k) / SAMPLES;
        for (let q = 0; q < SAMPLES; q++) {
          const sq = states[upperBoundFrom(starts, s + ((q + 0.5) / SAMPLES) * (last - s), i, j) - 1];
          if (sq !== DONE) acc[sq] += w;
        }
        bx1 = (last - t0) * k;
        i = j - 1;
        s = last;
      }
    }
    const st = states[i];
    if (st === DONE) continue; // a gap; see below
    let e = i + 1 < n ? starts[i + 1] : (openEnd > s ? openEnd : s);
    if (e > cut) e = cut;
    if (e <= t0) continue;
    let x0 = ((s > t0 ? s : t0) - t0) * k;
    const x1 = ((e < t1 ? e : t1) - t0) * k;
    if (x1 <= x0) continue;
    if (col >= 0) {
      if (x0 >= col + 1) {
        // A gap reaching past the column ends it. (A gap inside the
        // column, after a `done`, is bridged: the column is drawn from its
        // first to its last covered point.)
        on = emit(ox0, ox1, ost, on, bx0, bx1, dominant(acc));
        col = -1;
      } else {
        const seg = x1 < col + 1 ? x1 : col + 1;
        acc[st] += seg - x0;
        bx1 = seg;
        if (seg < col + 1) continue; // the span ends inside the column
        on = emit(ox0, ox1, ost, on, bx0, bx1, dominant(acc));
        col = -1;
        x0 = seg;
        if (x0 >= x1) continue;
      }
    }
    if (x1 - x0 >= 1) {
      on = emit(ox0, ox1, ost, on, x0, x1, st);
      continue;
    }
    // Less than a pixel left: start merging a column with it.
    col = Math.floor(x0);
    bx0 = x0;
    if (x1 <= col + 1) {
      acc[st] += x1 - x0;
      bx1 = x1;
      continue;
    }
    // It crosses into the next column: close this one, start that one.
    acc[st] += col + 1 - x0;
    on = emit(ox0, ox1, ost, on, bx0, col + 1, dominant(acc));
    col += 1;
    bx0 = col;
    acc[st] += x1 - col;
    bx1 = x1;
  }
  if (col >= 0) on = emit(ox0, ox1, ost, on, bx0, bx1, dominant(acc));
  out.n = on;
  return on;
}
