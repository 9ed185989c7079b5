/**
 * pace.js: how often a viewer takes in events and draws.
 *
 * The browser usually runs on the same machine as the run it watches (a
 * laptop, a workshop's projector PC), so a page drawing 60 frames a second
 * takes CPU from the very program it measures: with the page open, a
 * 2-process run measured 1.18x instead of 1.71x. So while a run executes the
 * page draws twice a second, not at all when hidden, and catches up at full
 * speed once the run has ended (the server, too, sends a live run's events
 * in a few batches a second).
 */

/** LIVE_FRAME_MS is the time between two frames of a run that is executing. */
export const LIVE_FRAME_MS = 500;

/** LIVE_BUDGET_MS is how long one such frame may spend feeding events to the model. */
export const LIVE_BUDGET_MS = 12;

/** INGEST_BUDGET_MS is how long a frame of a finished run may spend feeding events. */
export const INGEST_BUDGET_MS = 8;

/** CATCH_UP_BYTES of queued messages make a finished run's frame spend CATCH_UP_BUDGET_MS instead, to catch up. */
export const CATCH_UP_BYTES = 2 << 20;
export const CATCH_UP_BUDGET_MS = 40;

/**
 * nextTick says when the viewer's next frame should run: {kind: 'timer',
 * ms} while the run executes, {kind: 'frame'} (the next animation frame)
 * when events wait for a run that has ended, {kind: ''} when nothing does.
 */
export function nextTick({ live, pending }) {
  if (live) return { kind: 'timer', ms: LIVE_FRAME_MS };
  if (pending > 0) return { kind: 'frame' };
  return { kind: '' };
}

/** ingestBudget is how long a frame may feed events to the model (ms). */
export function ingestBudget({ live, pendingBytes }) {
  if (live) return LIVE_BUDGET_MS;
  return pendingBytes > CATCH_UP_BYTES ? CATCH_UP_BUDGET_MS : INGEST_BUDGET_MS;
}

/** shouldDraw reports whether a frame draws: never while the page is hidden. */
export function shouldDraw({ hidden }) {
  return !hidden;
}
