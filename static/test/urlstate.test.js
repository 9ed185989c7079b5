import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseViewState, viewStateSearch } from '../urlstate.js';

test('a link carries the replay position, the window and the lane', () => {
  assert.deepEqual(parseViewState('?t=1500&t0=1000&t1=2000&lane=worker-2'), { t: 1500, t0: 1000, t1: 2000, lane: 'worker-2' });
  assert.deepEqual(parseViewState(''), { t: null, t0: null, t1: null, lane: null });
});

test('nonsense in a hand-edited link is ignored, not refused', () => {
  assert.deepEqual(parseViewState('t=abc&t0=5&t1=3&lane='), { t: null, t0: null, t1: null, lane: null });
  assert.deepEqual(parseViewState('t=-4&t0=1&lane=' + 'x'.repeat(300)), { t: null, t0: null, t1: null, lane: null });
  assert.equal(parseViewState('t=1e9').t, 1e9);
  assert.equal(parseViewState('t=Infinity').t, null);
});

test('writing the view keeps other parameters and drops what is not set', () => {
  assert.equal(viewStateSearch({ t: 1234.6, t0: null, t1: null, lane: null }, '?x=1&t=5'), '?x=1&t=1235');
  assert.equal(viewStateSearch({ t: null, t0: 10.2, t1: 99.7, lane: 'a b' }, ''), '?t0=10&t1=100&lane=a+b');
  assert.equal(viewStateSearch({ t: null, t0: null, t1: null, lane: null }, '?t=1&lane=z'), '');
});

test('what is written reads back the same', () => {
  const state = { t: 2_000_000_000, t0: 1_500_000_000, t1: 2_500_000_000, lane: 'P0 (sched)&x' };
  assert.deepEqual(parseViewState(viewStateSearch(state, '?keep=yes')), state);
});
