import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunModel } from '../model.js';
import { STATES, STATE_CODE, HOLDER_BASE, HOLDERS, otherHolder, paintStyle } from '../palette.js';
import { lodLane, LodBuffer } from '../lod.js';

/** drawnAt returns the state lane id is drawn in at time t. */
function drawnAt(m, id, t) {
  const l = m.lanes.get(id);
  const i = l.indexAt(t);
  return i < 0 ? '' : STATES[l.states[i]];
}

/** runningAt counts the lanes (not cores) drawn running at time t. */
function runningAt(m, t) {
  let n = 0;
  for (const l of m.laneList) {
    if (l.kind !== 'cpu' && drawnAt(m, l.id, t) === 'running') n++;
  }
  return n;
}

// Mental-model concurrent on one core: the program says every task is
// active ("computing") at once; the scheduler says which one is on the core.
const concurrent = [
  { t: 0, k: 'lane', id: 'P0', kind: 'cpu', name: 'P0 (core)', group: 'sched' },
  ...[1, 2, 3].map((n) => ({ t: 0, k: 'lane', id: `task-${n}`, kind: 'goroutine', name: `task ${n}` })),
  ...[1, 2, 3].map((n) => ({ t: 1, k: 'state', lane: `task-${n}`, s: 'active', why: 'computing', src: 'app' })),
  { t: 2, k: 'state', lane: 'task-1', s: 'running', why: 'on P0', src: 'sched' },
  { t: 2, k: 'state', lane: 'task-2', s: 'runnable', why: 'created', src: 'sched' },
  { t: 2, k: 'state', lane: 'task-3', s: 'runnable', why: 'created', src: 'sched' },
  { t: 2, k: 'state', lane: 'P0', s: 'running', why: 'task 1', src: 'sched' },
  { t: 10, k: 'state', lane: 'task-1', s: 'runnable', why: 'preempted', src: 'sched' },
  { t: 10, k: 'state', lane: 'task-2', s: 'running', why: 'on P0', src: 'sched' },
  { t: 10, k: 'state', lane: 'P0', s: 'running', why: 'task 2', src: 'sched' },
  { t: 20, k: 'state', lane: 'task-2', s: 'done', src: 'app' },
  { t: 20, k: 'state', lane: 'task-3', s: 'running', why: 'on P0', src: 'sched' },
  { t: 20, k: 'state', lane: 'P0', s: 'running', why: 'task 3', src: 'sched' },
  { t: 30, k: 'state', lane: 'task-3', s: 'sleep', why: 'time.Sleep', src: 'app' },
  { t: 30.5, k: 'state', lane: 'task-3', s: 'sleep', why: 'time.Sleep', src: 'sched' },
  { t: 30, k: 'state', lane: 'task-1', s: 'running', why: 'on P0', src: 'sched' },
  { t: 30, k: 'state', lane: 'P0', s: 'running', why: 'GC worker', src: 'sched' },
];

test('the scheduler refines an app state that only says busy; the program keeps its words', () => {
  const m = new RunModel();
  m.add(concurrent);
  assert.equal(drawnAt(m, 'task-1', 1), 'active', 'before the scheduler said anything, active');
  assert.equal(drawnAt(m, 'task-1', 5), 'running');
  assert.equal(drawnAt(m, 'task-2', 5), 'runnable');
  assert.equal(drawnAt(m, 'task-1', 15), 'runnable');
  const l = m.lanes.get('task-1');
  const i = l.indexAt(5);
  assert.equal(m.whyOf(l, i), 'computing · on P0');
  assert.equal(m.srcOf(l, i), 'sched');
  assert.equal(m.whyOf(l, l.indexAt(1)), 'computing');
  assert.equal(m.srcOf(l, l.indexAt(1)), 'app');
});

test('an app state that is not busy wins over the scheduler', () => {
  const m = new RunModel();
  m.add(concurrent);
  assert.equal(drawnAt(m, 'task-2', 25), 'done', 'done ends the lane whatever the scheduler said last');
  assert.equal(drawnAt(m, 'task-3', 35), 'sleep');
  assert.equal(m.srcOf(m.lanes.get('task-3'), m.lanes.get('task-3').indexAt(35)), 'app', 'the program\'s sleep is drawn');
  const app = new RunModel();
  app.add([
    { t: 0, k: 'lane', id: 'w', kind: 'goroutine' },
    { t: 1, k: 'state', lane: 'w', s: 'running', why: 'on P0', src: 'sched' },
    { t: 2, k: 'state', lane: 'w', s: 'io', why: 'GET /slow', src: 'app' },
    { t: 3, k: 'state', lane: 'w', s: 'blocked', why: 'network', src: 'sched' },
  ]);
  assert.equal(drawnAt(app, 'w', 3), 'io');
  assert.equal(app.whyOf(app.lanes.get('w'), 2), 'GET /slow');
});

test('one core: at no instant is more than one lane drawn running', () => {
  const m = new RunModel();
  m.add(concurrent);
  for (let t = 0; t <= 40; t += 0.5) assert.ok(runningAt(m, t) <= 1, `${runningAt(m, t)} lanes running at ${t}`);
  assert.equal(runningAt(m, 5), 1);
});

test('without the scheduler the lanes say active, never running', () => {
  const m = new RunModel();
  m.add(concurrent.filter((e) => e.src !== 'sched'));
  assert.equal(runningAt(m, 5), 0);
  assert.equal(drawnAt(m, 'task-1', 5), 'active');
});

test('the drawn states do not depend on the order events arrive in', () => {
  const inOrder = new RunModel();
  inOrder.add(concurrent);
  const shuffled = new RunModel();
  const states = concurrent.filter((e) => e.k === 'state');
  shuffled.add(concurrent.filter((e) => e.k === 'lane'));
  for (const e of [...states].reverse()) shuffled.add([e]);
  for (const id of ['task-1', 'task-2', 'task-3', 'P0']) {
    const a = inOrder.lanes.get(id);
    const b = shuffled.lanes.get(id);
    assert.deepEqual(Array.from(b.states.subarray(0, b.n)), Array.from(a.states.subarray(0, a.n)), id);
    assert.deepEqual(Array.from(b.paint.subarray(0, b.n)), Array.from(a.paint.subarray(0, a.n)), id);
    assert.equal(b.spans, a.spans, id);
  }
});

test('a core lane paints each running span by its holder, the same holder alike', () => {
  const m = new RunModel();
  m.add(concurrent);
  const p = m.lanes.get('P0');
  const code = (t) => p.paint[p.indexAt(t)];
  // Styled by the holder lane's place in the run: P0 is lane 0, task 1 lane 1.
  assert.equal(code(5), HOLDER_BASE + 1);
  assert.equal(code(15), HOLDER_BASE + 2);
  assert.equal(code(25), HOLDER_BASE + 3);
  assert.equal(code(35), HOLDER_BASE + HOLDERS.length, 'the GC is no lane of the run');
  assert.equal(STATES[p.states[p.indexAt(5)]], 'running', 'the state is still running');
  assert.equal(m.holderPaint('task 2'), HOLDER_BASE + 2, 'the holder lane gets the swatch of its spans');
  assert.equal(m.holderPaint('nobody'), -1);
  // An app lane's running span is painted by its state.
  const t1 = m.lanes.get('task-1');
  assert.equal(t1.paint[t1.indexAt(5)], STATE_CODE.running);
  // Level of detail keeps the holders apart.
  const out = new LodBuffer();
  const n = lodLane(p, 40, 0, 40, 400, out, Infinity, p.paint);
  assert.deepEqual(Array.from(out.state.subarray(0, n)), [HOLDER_BASE + 1, HOLDER_BASE + 2, HOLDER_BASE + 3, HOLDER_BASE + HOLDERS.length]);
});

test('holder styles differ in colour and pattern, and say which text reads on them', () => {
  const fills = new Set(HOLDERS.map((h) => h.fill));
  const patterns = new Set(HOLDERS.map((h) => h.pattern));
  assert.equal(fills.size, HOLDERS.length);
  assert.equal(patterns.size, HOLDERS.length);
  for (let c = HOLDER_BASE; c <= HOLDER_BASE + HOLDERS.length; c++) assert.ok(paintStyle(c).text, `holder ${c} has a text colour`);
  assert.equal(paintStyle(STATE_CODE.active).meaning, 'in progress: on a core or waiting for one, not recorded');
  for (const why of ['runtime', 'GC worker', 'net/http goroutine', 'scheduler trace (this tool)', '']) assert.ok(otherHolder(why), why);
  for (const why of ['task 1', 'CPU thread 2', 'worker 1 (goroutine)', 'g15 · child of task 1']) assert.ok(!otherHolder(why), why);
});
