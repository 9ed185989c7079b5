import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statusText, formatMetric, formatValue } from '../format.js';

test('the status line says where a run is', () => {
  const cases = [
    ['queued', 3, 'queued at position 3'], ['queued', 0, 'queued'], ['running', 0, 'running'],
    ['done', 0, 'done'], ['failed', 0, 'failed'], ['cancelled', 0, 'cancelled'], ['timeout', 0, 'timed out'],
  ];
  for (const [s, p, want] of cases) assert.equal(statusText(s, p), want);
});

test('metrics are written with their units', () => {
  const cases = [
    [{ value: 117.07, unit: 'ms' }, '117 ms'],
    [{ value: 52.19, unit: '%' }, '52.2 %'],
    [{ value: 1.8734, unit: 'x' }, '1.87×'],
    [{ value: 80000, unit: '' }, '80,000'],
    [{ value: 2500, unit: 'ns' }, '2.50 µs'],
    [{ value: 3, unit: 'cores' }, '3 cores'],
  ];
  for (const [m, want] of cases) assert.equal(formatMetric(m), want, JSON.stringify(m));
  assert.equal(formatValue(0.123456), '0.1235');
  assert.equal(formatValue(NaN), '–');
});

test('sizes are written in binary units', async () => {
  const { formatBytes } = await import('../format.js');
  assert.deepEqual([0, 1023, 1024, 1536, 10 << 20, 3 * 2 ** 30].map(formatBytes), ['0 B', '1023 B', '1.00 KiB', '1.50 KiB', '10.0 MiB', '3.00 GiB']);
});

test('a process is named with its pid once', async () => {
  const { withPid } = await import('../format.js');
  assert.equal(withPid('worker 1 (pid 26056)', 26056), 'worker 1 (pid 26056)');
  assert.equal(withPid('worker 1', 26056), 'worker 1 (pid 26056)');
  assert.equal(withPid('worker 1 (pid 2605)', 26056), 'worker 1 (pid 2605) (pid 26056)', 'another pid is not this one');
  assert.equal(withPid('main', 0), 'main');
  assert.equal(withPid('', 7), 'pid 7');
});

test('durations past 10 s are written in seconds', () => {
  assert.equal(formatMetric({ value: 18382.0, unit: 'ms' }), '18.4 s');
  assert.equal(formatMetric({ value: 18382e6, unit: 'ns' }), '18.4 s');
  assert.equal(formatMetric({ value: 950, unit: 'ms' }), '950 ms');
});
