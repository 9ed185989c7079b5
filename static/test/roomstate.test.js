import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  readRoom, writeRoom, pagePath, samePage, viewOf, sameView, histogram, questionLine, measuredText, formatAnswer,
} from '../roomstate.js';

/** memoryStorage stands in for sessionStorage. */
function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}

test('a tab remembers its room and whether it follows', () => {
  const s = memoryStorage();
  assert.equal(readRoom(s), null);
  writeRoom({ code: 'K7MXP', following: false }, s);
  assert.deepEqual(readRoom(s), { code: 'K7MXP', following: false });
  writeRoom({ code: 'K7MXP' }, s);
  assert.deepEqual(readRoom(s), { code: 'K7MXP', following: true });
  writeRoom(null, s);
  assert.equal(readRoom(s), null);
  s.setItem('interleave.room', '{"code":"<script>"}');
  assert.equal(readRoom(s), null, 'a code that is not a room code is no room');
});

test('the page of a view leaves out the view keys and orders the query', () => {
  assert.equal(pagePath('/r/abc', '?t=5&t0=1&t1=9&lane=w'), '/r/abc');
  assert.equal(pagePath('/s/locks', '?workers=4&engine=go'), '/s/locks?engine=go&workers=4');
  assert.ok(samePage('/s/locks?workers=4&engine=go', '/s/locks', '?engine=go&workers=4'));
  assert.ok(samePage('/r/abc', '/r/abc', '?t=100&lane=x'), 'a run page is the same page at any moment');
  assert.ok(!samePage('/s/locks?engine=go', '/s/locks', '?engine=python'));
  assert.ok(!samePage('/s/locks?engine=go&run=k2', '/s/locks', '?engine=go'), 'a scenario page with a run is another page');
});

test('a view carries the window only when zoomed, the moment only when replaying', () => {
  assert.deepEqual(viewOf({ pathname: '/s/gil', search: '?engine=python', run: 'k2' }), { path: '/s/gil?engine=python', run: 'k2' });
  assert.deepEqual(
    viewOf({ pathname: '/r/k2', search: '?t=1', run: 'k2', cursor: 1500.4, window: { t0: 10.2, t1: 99.9 }, lane: 'gil', large: true }),
    { path: '/r/k2', run: 'k2', t: 1500, t0: 10, t1: 100, lane: 'gil', large: true },
  );
  assert.deepEqual(viewOf({ pathname: '/', cursor: null, window: { t0: 5, t1: 5 } }), { path: '/' });
  assert.ok(sameView({ path: '/', large: false }, { path: '/' }));
  assert.ok(!sameView({ path: '/r/a', t: 1 }, { path: '/r/a', t: 2 }));
});

test('number answers are binned with the measured answer marked', () => {
  const h = histogram([0, 100, 12000, 15000, 40000], { min: 0, max: 40000, measured: 17342 });
  assert.equal(h.reduce((s, b) => s + b.n, 0), 5, 'every answer in a bin');
  const m = h.filter((b) => b.measured);
  assert.equal(m.length, 1);
  assert.ok(m[0].lo <= 17342 && 17342 <= m[0].hi, `measured bin ${m[0].lo}..${m[0].hi}`);
  for (const b of h) assert.ok(Number.isInteger(b.lo) && Number.isInteger(b.hi), 'whole-number answers, whole-number edges');
  assert.deepEqual(histogram([], {}), []);
  const one = histogram([7, 7, 7], {});
  assert.equal(one.reduce((s, b) => s + b.n, 0), 3);
  const frac = histogram([0.5, 1.5, 2.25], { bins: 4 });
  assert.equal(frac.length, 4);
  assert.equal(frac.reduce((s, b) => s + b.n, 0), 3);
});

test('a question says where it is, and what the run measured in its own words', () => {
  assert.equal(questionLine({ answers: 1, open: true }), '1 answer · open');
  assert.equal(questionLine({ answers: 12, open: false, run: 'k2' }), '12 answers · closed: run k2 will measure it');
  const q = { kind: 'choice', answers: 3, choices: ['1 first', 'same', '8 sooner'], measured: { run: 'k2', value: 7.61, unit: 'x', label: 'speedup', choice: 2 } };
  assert.equal(questionLine(q), '3 answers · measured by run k2');
  assert.equal(measuredText(q), 'Measured: 7.61x (speedup), so “8 sooner”');
  assert.equal(measuredText({ kind: 'number', measured: { run: 'a', value: 17342, unit: '', label: 'lost updates' } }), 'Measured: 17,342 (lost updates)');
  assert.equal(formatAnswer(40000), '40,000');
});
