import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayClock, clampSpeed, formatSpeed, stepTime, SPEEDS } from '../replay.js';
import { RunModel } from '../model.js';

test('the replay clock plays at its speed, pauses, and stops at the end', () => {
  let wall = 0; // ms
  const c = new ReplayClock(1e9, () => wall);
  assert.equal(c.now(), 1e9, 'a replay opens at the end: the whole run');
  c.play();
  assert.equal(c.now(), 0, 'playing from the end starts again from the beginning');
  wall = 100;
  assert.equal(c.now(), 1e8, '100 ms at 1x is 100 ms of the run');
  c.setSpeed(10);
  wall = 110;
  assert.equal(c.now(), 2e8, '10 ms at 10x is 100 ms');
  c.pause();
  wall = 500;
  assert.equal(c.now(), 2e8, 'paused, the position stays');
  c.setSpeed(0.1);
  c.play();
  wall = 1500;
  assert.equal(c.now(), 3e8, '1 s at 0.1x is 100 ms');
  wall = 1e6;
  assert.equal(c.now(), 1e9);
  assert.equal(c.playing, false, 'it stops at the end');
});

test('seeking is clamped to the run and keeps playing', () => {
  let wall = 0;
  const c = new ReplayClock(1e9, () => wall);
  c.seek(-5);
  assert.equal(c.now(), 0);
  c.seek(4e8);
  c.play();
  wall = 10;
  c.seek(7e8);
  assert.equal(c.playing, true);
  wall = 20;
  assert.equal(c.now(), 7e8 + 1e7);
  c.seek(5e9);
  assert.equal(c.now(), 1e9);
  assert.equal(c.playing, false, 'seeking to the end stops');
  c.seek(NaN);
  assert.equal(c.now(), 1e9);
});

test('speeds are bounded to 0.1x–10x', () => {
  assert.deepEqual([clampSpeed(0.01), clampSpeed(50), clampSpeed('2'), clampSpeed('fast'), clampSpeed(-1)], [0.1, 10, 2, 1, 1]);
  assert.deepEqual(SPEEDS.map(formatSpeed), ['0.1×', '0.25×', '0.5×', '1×', '2×', '5×', '10×']);
});

test('stepping goes from event to event, of one lane when asked', () => {
  const m = new RunModel();
  m.add([
    { t: 0, k: 'lane', id: 'a', kind: 'thread', name: 'a' },
    { t: 0, k: 'lane', id: 'b', kind: 'thread', name: 'b' },
    { t: 10, k: 'state', lane: 'a', s: 'running' },
    { t: 15, k: 'state', lane: 'b', s: 'running' },
    { t: 20, k: 'lock', lane: 'a', lock: 'mu', op: 'want' },
    { t: 30, k: 'counter', name: 'n', v: 1 },
    { t: 25, k: 'state', lane: 'b', s: 'io' }, // stamped late
    { t: 40, k: 'end', summary: { wall_ns: 40 } },
  ]);
  m.setStatus('done');
  const d = m.openEnd;
  assert.equal(stepTime(m, 0, 1, d), 10);
  assert.equal(stepTime(m, 10, 1, d), 15);
  assert.equal(stepTime(m, 20, 1, d), 25, 'events out of order are stepped in time order');
  assert.equal(stepTime(m, 30, 1, d), 40);
  assert.equal(stepTime(m, 40, 1, d), 40, 'past the last event: the end');
  assert.equal(stepTime(m, 25, -1, d), 20);
  assert.equal(stepTime(m, 0, -1, d), 0, 'before the first: the start');
  assert.equal(stepTime(m, 10, 1, d, 'a'), 20, 'lane a: its lock event');
  assert.equal(stepTime(m, 20, 1, d, 'a'), d, 'lane a has nothing after 20');
  assert.equal(stepTime(m, 40, -1, d, 'b'), 25);
  assert.equal(stepTime(m, 15, -1, d, 'b'), 0);
});
