import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STATUSES, FINAL_STATUSES, isFinal } from '../protocol.js';
import { RunModel } from '../model.js';
import { connectRun } from '../ws.js';
import { isFinalComparison, progressText } from '../results.js';
import { statusText } from '../format.js';

test('every status of the protocol has words on the status line', () => {
  for (const s of STATUSES) {
    assert.ok(statusText(s) && statusText(s) !== 'undefined', s);
  }
  assert.equal(statusText('interrupted'), 'interrupted (the server stopped)');
});

test('an interrupted run is finished: its last spans end with its last event', () => {
  assert.ok(FINAL_STATUSES.includes('interrupted') && isFinal('interrupted'));
  const m = new RunModel();
  m.add([
    { t: 0, k: 'lane', id: 'w1', kind: 'thread', name: 'worker 1' },
    { t: 10, k: 'state', lane: 'w1', s: 'running' },
    { t: 40, k: 'mark', label: 'interrupted: the server stopped before the run finished' },
  ]);
  m.setNow(1000);
  assert.equal(m.openEnd, 1000, 'while live the open span grows with the clock');
  m.setStatus('interrupted');
  assert.ok(m.finished);
  assert.equal(m.openEnd, 40, 'once interrupted the open span stops at the last event');
});

test('the socket client treats a final interrupted status as the normal end', () => {
  const listeners = {};
  class FakeSocket {
    constructor(url) { this.url = url; }
    addEventListener(type, fn) { listeners[type] = fn; }
    close() {}
  }
  let closed = null;
  connectRun('r1', { onClose: (info) => { closed = info; } }, {
    location: { protocol: 'http:', host: 'example.test' }, WebSocketImpl: FakeSocket,
  });
  listeners.message({ data: '{"type":"status","status":"interrupted"}' });
  listeners.close({ code: 1006, reason: '' });
  assert.equal(closed.kind, 'normal', 'a socket that ends after a final status is not a lost connection');
});

test('an interrupted comparison stops polling and says so', () => {
  assert.ok(isFinalComparison('interrupted'));
  const text = progressText({ status: 'interrupted', error: 'the server stopped before every model had run', models: [{ model: 'threads', run: 'r1', status: 'done' }] });
  assert.match(text, /^interrupted/);
  assert.doesNotMatch(text, /running/);
});
