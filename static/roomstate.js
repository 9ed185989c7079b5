/**
 * roomstate.js: the pure logic of a workshop room (room.js draws it).
 *
 * A tab in a room remembers it in sessionStorage (the room's code and
 * whether it follows the presenter), so that every page it opens knows it
 * is in the room. The presenter's view is {path, run?, t?, t0?, t1?, lane?,
 * large?}: the page (its path and query, without the view's own keys) and
 * the moment, window and lane on it. A follower goes to the path when it is
 * another page, and applies the rest on the same page.
 */

import { VIEW_KEYS } from './urlstate.js';

/** ROOM_KEY is where a tab keeps its room in sessionStorage. */
export const ROOM_KEY = 'interleave.room';

/** readRoom returns the tab's room {code, following} or null. */
export function readRoom(storage = globalThis.sessionStorage) {
  try {
    const v = JSON.parse(storage?.getItem(ROOM_KEY) || 'null');
    if (v && typeof v.code === 'string' && /^[A-Z0-9]{5}$/.test(v.code)) return { code: v.code, following: v.following !== false };
  } catch {
    // A broken entry is no room.
  }
  return null;
}

/** writeRoom keeps the tab's room (null leaves it). */
export function writeRoom(room, storage = globalThis.sessionStorage) {
  try {
    if (room) storage?.setItem(ROOM_KEY, JSON.stringify({ code: room.code, following: room.following !== false }));
    else storage?.removeItem(ROOM_KEY);
  } catch {
    // Private mode without storage: the room lasts for this page.
  }
}

/**
 * pagePath is the page of a location as a view names it: its path and its
 * query without the view's own keys (t, t0, t1, lane), which the view
 * carries apart, with the query's keys in a fixed order.
 */
export function pagePath(pathname, search = '') {
  const q = new URLSearchParams(search);
  for (const k of VIEW_KEYS) q.delete(k);
  const keys = [...new Set([...q.keys()])].sort();
  const out = new URLSearchParams();
  for (const k of keys) for (const v of q.getAll(k)) out.append(k, v);
  const s = out.toString();
  return s ? `${pathname}?${s}` : pathname;
}

/** samePage reports whether a view's path is the page at pathname+search. */
export function samePage(viewPath, pathname, search) {
  const i = viewPath.indexOf('?');
  const vp = i < 0 ? pagePath(viewPath) : pagePath(viewPath.slice(0, i), viewPath.slice(i));
  return vp === pagePath(pathname, search);
}

/**
 * viewOf builds the view to publish from what a page shows: the page, its
 * run, the replay position (t, when replaying before the end), the window
 * (t0/t1, only when zoomed or panned away from the whole run or its live
 * end), the selected lane and large type.
 */
export function viewOf({ pathname, search, run, cursor, window: win, lane, large }) {
  const v = { path: pagePath(pathname, search) };
  if (run) v.run = run;
  if (Number.isFinite(cursor)) v.t = Math.max(0, Math.round(cursor));
  if (win && Number.isFinite(win.t0) && Number.isFinite(win.t1) && win.t1 > win.t0) {
    v.t0 = Math.max(0, Math.round(win.t0));
    v.t1 = Math.max(v.t0 + 1, Math.round(win.t1));
  }
  if (lane) v.lane = lane;
  if (large) v.large = true;
  return v;
}

/** sameView reports whether two views show the same thing. */
export function sameView(a, b) {
  if (!a || !b) return a === b;
  const norm = (v, k) => (k === 'large' ? !!v[k] : v[k] ?? null);
  return ['path', 'run', 't', 't0', 't1', 'lane', 'large'].every((k) => norm(a, k) === norm(b, k));
}

/**
 * PAUSE_KEYS are the keys that change what a page shows (zoom, pan, replay,
 * the scheduler lanes): pressing one while following means exploring on
 * one's own, so following pauses.
 */
export const PAUSE_KEYS = new Set(['+', '=', '-', '_', '0', 'ArrowLeft', 'ArrowRight', ' ', '.', ',', '[', ']', 'Home', 'End', 's']);

/**
 * histogram bins number answers for a chart: about `bins` equal bins over
 * the range of the answers and the measured value (or the question's own
 * bounds when it has them), each {lo, hi, n}; the measured value's bin is
 * marked. Whole-number answers get whole-number edges.
 */
export function histogram(values, { min = null, max = null, measured = null, bins = 8 } = {}) {
  const pts = values.filter(Number.isFinite);
  if (Number.isFinite(measured)) pts.push(measured);
  if (pts.length === 0) return [];
  let lo = Number.isFinite(min) ? min : Math.min(...pts);
  let hi = Number.isFinite(max) ? max : Math.max(...pts);
  const whole = pts.every(Number.isInteger);
  if (hi <= lo) {
    hi = lo + (whole ? 1 : Math.abs(lo) * 0.1 || 1);
  }
  let width = (hi - lo) / bins;
  if (whole) {
    width = Math.max(1, Math.ceil(width));
    lo = Math.floor(lo);
  }
  const n = whole ? Math.max(1, Math.ceil((hi - lo) / width)) : bins;
  const out = [];
  for (let i = 0; i < n; i++) {
    const a = lo + i * width;
    out.push({ lo: a, hi: whole ? a + width - 1 : a + width, n: 0, measured: false });
  }
  out[n - 1].hi = Math.max(out[n - 1].hi, hi); // the last bin holds the top value
  const binOf = (v) => Math.min(n - 1, Math.max(0, Math.floor((v - lo) / width)));
  for (const v of values) if (Number.isFinite(v)) out[binOf(v)].n++;
  if (Number.isFinite(measured)) out[binOf(measured)].measured = true;
  return out;
}

/** formatAnswer writes an answer for people: 40000 as 40,000. */
export function formatAnswer(v) {
  if (!Number.isFinite(v)) return String(v);
  const r = Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100;
  return r.toLocaleString('en');
}

/**
 * questionLine says where a question is: taking answers, closed, waiting
 * for a run to measure it, or measured.
 */
export function questionLine(q) {
  const n = `${q.answers} answer${q.answers === 1 ? '' : 's'}`;
  if (q.measured) return `${n} · measured by run ${q.measured.run}`;
  if (q.run) return `${n} · closed: run ${q.run} will measure it`;
  if (q.open) return `${n} · open`;
  return `${n} · closed`;
}

/** measuredText says what a run measured for a question, in the metric's own words. */
export function measuredText(q) {
  const m = q.measured;
  if (!m) return '';
  const unit = m.unit ? (m.unit === '%' || m.unit === 'x' ? m.unit : ` ${m.unit}`) : '';
  const value = `${formatAnswer(m.value)}${unit}`;
  const what = m.label ? ` (${m.label})` : '';
  if (q.kind === 'choice' && Number.isInteger(m.choice)) return `Measured: ${value}${what}, so “${q.choices[m.choice]}”`;
  return `Measured: ${value}${what}`;
}
