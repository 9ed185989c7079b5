import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resultRows, ruleState, progressText, compareRequest, fieldOfCompareError, speedupHeading, isFinalComparison, noiseText, groupedTable, engineSlots } from '../results.js';

/** answer is GET /api/compare/{id} of a finished shared-state comparison. */
const answer = {
  id: 'c1', workload: 'shared-state', engine: 'python', size: 'small', workers: 4, status: 'done', baseline: 'sequential',
  models: [
    { model: 'sequential', run: 'r1', status: 'done', wall_ns: 2e9, cpu_ns: 2e9, cpu_utilization: 1, speedup: 1, peak_rss_bytes: 10 << 20, lost_updates: 0, correct: true, verdict: 'one at a time' },
    { model: 'threads', run: 'r2', status: 'done', wall_ns: 1e9, cpu_ns: 1.9e9, cpu_utilization: 1.9, speedup: 2, peak_rss_bytes: 12 << 20, lost_updates: 1234, correct: false },
    { model: 'processes', run: 'r3', status: 'failed', correct: false },
    { model: 'pool', status: 'queued', correct: false },
  ],
  winners: { wall: 'sequential', cpu: 'sequential', memory: 'sequential' },
  rule: { recommended: ['threads'], measured: 'sequential', agrees: false, note: 'Plain sequential code was fastest.' },
  matrix: { id: 'shared-state' },
};

test('the table writes each measure and marks the winner of each criterion', () => {
  const rows = resultRows(answer);
  assert.deepEqual(rows.map((r) => r.model), ['sequential', 'threads', 'processes', 'pool']);
  const seq = Object.fromEntries(rows[0].cells.map((c) => [c.key, c]));
  assert.equal(seq.wall.text, '2.00 s');
  assert.equal(seq.wall.winner, true);
  assert.equal(seq.wall.best, 'fastest');
  assert.equal(seq.speedup.text, '1.00× (baseline)');
  assert.equal(seq.memory.text, '10.0 MiB');
  assert.equal(seq.memory.best, 'least memory');
  assert.equal(seq.correct.text, '✓ no lost updates');
  const threads = Object.fromEntries(rows[1].cells.map((c) => [c.key, c]));
  assert.equal(threads.utilization.text, '190 %');
  assert.equal(threads.speedup.text, '2.00×');
  assert.equal(threads.correct.text, '✗ 1,234 lost updates');
  assert.ok(rows[1].cells.every((c) => !c.winner), 'a wrong model wins nothing');
  assert.equal(rows[2].cells.find((c) => c.key === 'correct').text, '✗ failed');
  assert.equal(rows[3].statusText, 'waiting', 'a model without a run waits for its turn');
  assert.ok(rows[3].cells.every((c) => c.text === ''));
  assert.equal(speedupHeading(answer), 'speedup vs sequential');
});

test('the rule of thumb is judged only once the comparison is done', () => {
  assert.deepEqual(ruleState(answer), { workload: 'shared-state', recommended: ['threads'], measured: 'sequential', tied: [], agrees: false, note: 'Plain sequential code was fastest.' });
  const running = { ...answer, status: 'running', rule: { recommended: ['threads'], measured: 'sequential', agrees: false } };
  assert.equal(ruleState(running).agrees, null);
  assert.equal(ruleState(running).note, '');
  assert.equal(ruleState(running).measured, '', 'no measured winner while models run');
  const agreeing = { ...answer, rule: { recommended: ['threads'], measured: 'threads', agrees: true, note: '' } };
  assert.equal(ruleState(agreeing).agrees, true);
});

/** tied is a finished io comparison whose fastest two were within the noise. */
const tied = {
  ...answer, workload: 'io', baseline: 'sequential',
  models: [
    { model: 'sequential', run: 'r1', status: 'done', wall_ns: 3.2e9, cpu_ns: 2e7, peak_rss_bytes: 10 << 20, correct: true },
    { model: 'threads', run: 'r2', status: 'done', wall_ns: 426e6, cpu_ns: 4e7, peak_rss_bytes: 14 << 20, correct: true },
    { model: 'asyncio', run: 'r3', status: 'done', wall_ns: 425e6, cpu_ns: 3e7, peak_rss_bytes: 11 << 20, correct: true },
  ],
  winners: { cpu: 'sequential', memory: 'sequential' },
  ties: { wall: ['asyncio', 'threads'] },
  noise: { wall: 0.1, cpu: 0.15, memory: 0.05 },
  rule: { recommended: ['threads', 'asyncio'], tied: ['asyncio', 'threads'], agrees: true, note: 'A tie: asyncio (425 ms), threads (426 ms) finished within the noise.' },
};

test('a difference within the noise is a tie, never a win', () => {
  const rows = resultRows(tied);
  const wall = (model) => rows.find((r) => r.model === model).cells.find((c) => c.key === 'wall');
  for (const model of ['threads', 'asyncio']) {
    assert.equal(wall(model).winner, false, `${model} 1 ms apart is not crowned`);
    assert.equal(wall(model).tie, true);
    assert.equal(wall(model).best, 'tie: fastest');
  }
  assert.equal(wall('sequential').tie, false);
  const state = ruleState(tied);
  assert.deepEqual(state.tied, ['asyncio', 'threads']);
  assert.equal(state.measured, '');
  assert.equal(state.agrees, true);
  assert.match(state.note, /A tie/, 'a tie keeps its note even when it agrees');
  assert.equal(noiseText(tied), "Differences within 10 % (wall time), 15 % (CPU time) and 5 % (memory) are ties: this machine's run-to-run noise, measured. A winner is named once every model has finished.");
  assert.equal(noiseText({}), '');
});

test('no cell is starred while a model is still to run', () => {
  const running = { ...answer, status: 'running' };
  assert.ok(resultRows(running).every((r) => r.cells.every((c) => !c.winner && !c.tie)), 'a winner named before every model ran');
  const cancelled = { ...tied, status: 'cancelled' };
  assert.ok(resultRows(cancelled).every((r) => r.cells.every((c) => !c.winner && !c.tie)));
});

test('progress says which model runs and how many are done', () => {
  const running = { ...answer, status: 'running', models: [
    { model: 'sequential', run: 'r1', status: 'done' },
    { model: 'threads', run: 'r2', status: 'running' },
    { model: 'pool', status: 'queued' },
  ] };
  assert.equal(progressText(running), 'running threads (2 of 3)');
  assert.equal(progressText(answer), 'done: 4 models measured');
  assert.equal(progressText({ status: 'failed', error: 'engine gone', models: [] }), 'failed: engine gone');
  assert.ok(isFinalComparison('cancelled') && !isFinalComparison('running'));
});

test('the request takes the form as it is; errors name their field', () => {
  assert.deepEqual(compareRequest({ workload: 'cpu', engine: 'go', size: 'small', workers: '8' }), { workload: 'cpu', engine: 'go', size: 'small', workers: 8 });
  assert.equal(compareRequest({ workers: 'x' }).workers, 0);
  assert.equal(fieldOfCompareError('engine: "go" is not available for compare; want one of [python]'), 'engine');
  assert.equal(fieldOfCompareError('the python engine is unavailable'), '');
});

test('a comparison with a model that did not finish well is partial, and final', () => {
  const partial = { ...answer, status: 'partial', models: [
    { model: 'sequential', run: 'r1', status: 'done' },
    { model: 'threads', run: 'r2', status: 'cancelled' },
    { model: 'pool', run: 'r3', status: 'done' },
  ] };
  assert.equal(progressText(partial), 'partial: 2 of 3 models measured');
  assert.ok(isFinalComparison('partial'), 'a partial comparison is not polled forever');
  assert.ok(isFinalComparison('interrupted'));
  const cancelled = { ...answer, status: 'cancelled', error: 'cancelled before pool started', models: [
    { model: 'sequential', run: 'r1', status: 'done' },
    { model: 'pool', status: 'cancelled' },
  ] };
  assert.equal(progressText(cancelled), 'cancelled: cancelled before pool started');
  assert.equal(resultRows(cancelled)[1].statusText, 'cancelled', 'a model that will never run does not say waiting');
});

test('a comparison on several engines has one column group per engine, each judged on its own', () => {
  const row = (model, wall, extra = {}) => ({ model, run: `${model}-${wall}`, status: 'done', wall_ns: wall, cpu_ns: wall, cpu_utilization: 1, speedup: 1, peak_rss_bytes: 1, correct: true, ...extra });
  const result = {
    status: 'done', engine: 'python', engines: ['python', 'python-ft'],
    models: [row('sequential', 800e6), row('threads', 820e6)],
    groups: [
      { engine: 'python', baseline: 'sequential', winners: { wall: 'sequential' }, ties: {}, models: [row('sequential', 800e6), row('threads', 820e6)] },
      { engine: 'python-ft', baseline: 'sequential', winners: { wall: 'threads' }, ties: {}, models: [row('sequential', 800e6), row('threads', 410e6, { speedup: 1.95 })] },
    ],
  };
  const t = groupedTable(result);
  assert.deepEqual(t.engines, ['python', 'python-ft']);
  assert.deepEqual(t.columns.map((c) => c.key), ['wall', 'speedup', 'correct']);
  assert.deepEqual(t.rows.map((r) => r.model), ['sequential', 'threads']);
  const threads = t.rows[1];
  assert.equal(threads.groups[0].cells.find((c) => c.key === 'wall').winner, false, 'threads did not win on the GIL build');
  assert.equal(threads.groups[1].cells.find((c) => c.key === 'wall').winner, true, 'threads won without a GIL');
  assert.equal(threads.groups[1].cells.find((c) => c.key === 'speedup').text, '1.95×');
  assert.deepEqual(engineSlots(result).map((s) => s.key), ['python/sequential', 'python/threads', 'python-ft/sequential', 'python-ft/threads']);
});

test('a comparison on one engine keeps its table and names its timelines by model', () => {
  const result = { status: 'running', engine: 'python', models: [{ model: 'sequential', status: 'queued' }] };
  assert.equal(groupedTable(result), null);
  assert.deepEqual(engineSlots(result).map((s) => s.key), ['sequential']);
});
