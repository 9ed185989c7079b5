import { test } from 'node:test';
import assert from 'node:assert/strict';
import { niceStep, ticks, formatTick, formatDuration } from '../axis.js';

test('niceStep rounds up to 1, 2 or 5 times a power of ten', () => {
  const cases = [[1, 1], [1.5, 2], [3, 5], [7, 10], [120, 200], [4e6, 5e6], [0.3, 1]];
  for (const [raw, want] of cases) assert.equal(niceStep(raw), want, `niceStep(${raw})`);
});

test('ticks are nice, evenly spaced and labelled in a fitting unit', () => {
  const cases = [
    { t0: 0, t1: 1e9, width: 1000, first: '0 ms', second: '100 ms', step: 1e8 },
    { t0: 0, t1: 2e6, width: 1000, first: '0 µs', second: '200 µs', step: 2e5 },
    { t0: 1234, t1: 5678, width: 400, first: '2 µs', second: '3 µs', step: 1000 },
    { t0: 0, t1: 500, width: 1000, first: '0 ns', second: '50 ns', step: 50 },
    { t0: 5e9, t1: 25e9, width: 1400, first: '6 s', second: '8 s', step: 2e9 },
  ];
  for (const c of cases) {
    const { step, ticks: ts } = ticks(c.t0, c.t1, c.width, 80);
    assert.equal(step, c.step, `step for ${c.t0}..${c.t1}`);
    assert.equal(ts[0].label, c.first);
    assert.equal(ts[1].label, c.second);
    for (let i = 1; i < ts.length; i++) {
      assert.ok(ts[i].x - ts[i - 1].x >= 80 - 1e-9, 'ticks keep their spacing');
    }
    assert.ok(ts.every((tk) => tk.t >= c.t0 && tk.t <= c.t1 + 1e-6));
  }
});

test('formatTick and formatDuration pick units', () => {
  assert.equal(formatTick(1.5e6, 5e5), '1.5 ms');
  assert.equal(formatTick(0, 1e9), '0 s');
  assert.equal(formatDuration(850), '850 ns');
  assert.equal(formatDuration(12_345), '12.3 µs');
  assert.equal(formatDuration(1.2e9), '1.20 s');
  assert.equal(formatDuration(250e6), '250 ms');
});
