import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAgainRequest } from '../rerun.js';

test('run again asks for the same scenario, engine and params', () => {
  const info = {
    id: 'k3ab12', scenario: 'multiprocessing', engine: 'python', status: 'done',
    params: { workers: 2, start: 'fork', payload_kib: 0, work_ms: 1000 },
    summary: { caveat: 'Disturbed: …' },
  };
  assert.deepEqual(runAgainRequest(info), {
    scenario: 'multiprocessing', engine: 'python', params: { workers: 2, start: 'fork', payload_kib: 0, work_ms: 1000 },
  });
  assert.deepEqual(runAgainRequest({ scenario: 'locks', engine: 'go' }).params, {}, 'a run without params sends none');
});
