import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeView, MIN_SPAN, EMPTY_SPAN } from '../timeview.js';

/** member stands in for a Timeline: a model, and counts of redraws and view changes. */
function member(openEnd, finished = true) {
  return {
    model: { openEnd, finished },
    renders: 0,
    changes: 0,
    requestRender() { this.renders++; },
    onViewChange() { this.changes++; },
  };
}

test('timelines that share a view all move when one zooms or pans', () => {
  const tv = new TimeView();
  const a = member(2e9);
  const b = member(1e9);
  tv.join(a);
  tv.join(b);
  tv.fit();
  assert.deepEqual(tv.view, { t0: 0, t1: 2e9 * 1.02 }, 'fit shows the longest run whole');
  const before = [a.renders, b.renders];
  tv.zoom(0.5, 0.5);
  assert.equal(tv.view.t1 - tv.view.t0, 1.02e9);
  assert.equal(a.renders, before[0] + 1);
  assert.equal(b.renders, before[1] + 1, 'the other timeline redraws too');
  assert.equal(b.changes, a.changes, 'and hears of the change');
  tv.pan(1e8);
  assert.equal(tv.follow, false, 'panning stops following');
});

test('the window stays in reach of the runs and never narrower than MIN_SPAN', () => {
  const tv = new TimeView();
  tv.join(member(1e9));
  tv.set(5e9, 6e9);
  assert.ok(tv.view.t1 <= 1e9 * 1.1, `window ${JSON.stringify(tv.view)} left the run`);
  tv.set(100, 100);
  assert.equal(tv.view.t1 - tv.view.t0, MIN_SPAN);
  tv.set(-1e12, 1e12);
  assert.equal(tv.view.t1 - tv.view.t0, 1.5e9, 'at most one and a half runs wide');
});

test('following a live run keeps its end in view; it stops when the runs are over', () => {
  const tv = new TimeView();
  const live = member(3e8, false);
  tv.join(live);
  tv.applyFollow();
  assert.deepEqual(tv.view, { t0: 0, t1: 3e8 * 1.02 }, 'fit-all while following');
  tv.zoom(0.1); // around the live end
  assert.equal(tv.fitAll, false);
  live.model.openEnd = 6e8;
  tv.applyFollow();
  assert.ok(Math.abs(tv.view.t1 - (6e8 + (tv.view.t1 - tv.view.t0) * 0.02)) < 1, 'the window slides with the end');
  live.model.finished = true;
  const frozen = { ...tv.view };
  tv.applyFollow();
  assert.deepEqual(tv.view, frozen, 'no live run: nothing to follow');
});

test('an empty view has the default window; isFit recognises fit()', () => {
  const tv = new TimeView();
  assert.equal(tv.runEnd(), EMPTY_SPAN);
  tv.join(member(2e9));
  tv.fit();
  assert.ok(tv.isFit());
  tv.zoom(0.5);
  assert.ok(!tv.isFit());
});
