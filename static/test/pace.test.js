import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextTick, ingestBudget, shouldDraw, LIVE_FRAME_MS, LIVE_BUDGET_MS, CATCH_UP_BUDGET_MS, INGEST_BUDGET_MS } from '../pace.js';

test('an executing run is drawn a few times a second, not every animation frame', () => {
  assert.deepEqual(nextTick({ live: true, pending: 0 }), { kind: 'timer', ms: LIVE_FRAME_MS });
  assert.deepEqual(nextTick({ live: true, pending: 500 }), { kind: 'timer', ms: LIVE_FRAME_MS }, 'a burst of events waits for the next live frame');
  assert.ok(LIVE_FRAME_MS >= 500, 'at most 2 frames a second');
  assert.ok(LIVE_BUDGET_MS * (1000 / LIVE_FRAME_MS) <= 60, 'feeding events takes at most 6 % of a core while the run executes');
});

test('once the run has ended the page catches up at full speed', () => {
  assert.deepEqual(nextTick({ live: false, pending: 3 }), { kind: 'frame' });
  assert.deepEqual(nextTick({ live: false, pending: 0 }), { kind: '' });
  assert.equal(ingestBudget({ live: false, pendingBytes: 10 << 20 }), CATCH_UP_BUDGET_MS);
  assert.equal(ingestBudget({ live: false, pendingBytes: 100 }), INGEST_BUDGET_MS);
  assert.equal(ingestBudget({ live: true, pendingBytes: 10 << 20 }), LIVE_BUDGET_MS, 'no catch-up while the run executes');
});

test('a hidden page does not draw', () => {
  assert.equal(shouldDraw({ hidden: true }), false);
  assert.equal(shouldDraw({ hidden: false }), true);
});
