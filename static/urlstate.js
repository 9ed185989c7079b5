/**
 * urlstate.js: the view of a run page carried in its URL, so that a link
 * points at an exact moment of a recorded run.
 *
 *   /r/{id}?t=1500000000&t0=1200000000&t1=1800000000&lane=worker-2
 *
 * t is the replay position, t0 and t1 the visible window (all in ns since
 * the run started) and lane the selected lane. Every field is optional;
 * values that make no sense are ignored rather than refused, since a link
 * may have been edited by hand.
 */

/** VIEW_KEYS are the query parameters this module owns. */
export const VIEW_KEYS = Object.freeze(['t', 't0', 't1', 'lane']);

/** MAX_LANE_ID is the longest lane id read from a link. */
const MAX_LANE_ID = 200;

/** readNumber returns a finite number from a query value, or null. */
function readNumber(v) {
  if (v === null || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/**
 * parseViewState reads {t, t0, t1, lane} from a query string (with or
 * without "?"); a field that is absent or invalid is null.
 */
export function parseViewState(search) {
  const q = new URLSearchParams(search);
  let t = readNumber(q.get('t'));
  if (t !== null && t < 0) t = null;
  let t0 = readNumber(q.get('t0'));
  let t1 = readNumber(q.get('t1'));
  if (t0 === null || t1 === null || !(t1 > t0)) {
    t0 = null;
    t1 = null;
  }
  let lane = q.get('lane');
  if (!lane || lane.length > MAX_LANE_ID) lane = null;
  return { t, t0, t1, lane };
}

/**
 * viewStateSearch returns the query string ("" or "?…") of search with the
 * view fields replaced by state's: null fields are removed, times are
 * written as whole nanoseconds, other parameters are kept as they were.
 */
export function viewStateSearch(state, search = '') {
  const q = new URLSearchParams(search);
  for (const k of VIEW_KEYS) q.delete(k);
  if (state.t !== null && state.t !== undefined && Number.isFinite(state.t)) q.set('t', String(Math.round(state.t)));
  if (Number.isFinite(state.t0) && Number.isFinite(state.t1) && state.t1 > state.t0) {
    const t0 = Math.round(state.t0);
    q.set('t0', String(t0));
    q.set('t1', String(Math.max(t0 + 1, Math.round(state.t1))));
  }
  if (state.lane) q.set('lane', state.lane);
  const s = q.toString();
  return s ? `?${s}` : '';
}
