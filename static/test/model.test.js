import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunModel, LiveClock } from '../model.js';
import { STATE_CODE } from '../palette.js';

/** history is a small run: two workers, a lock, a counter, output and the end. */
const history = [
  { t: 0, k: 'lane', id: 'w1', kind: 'goroutine', name: 'worker 1' },
  { t: 0, k: 'lane', id: 'w2', kind: 'goroutine', name: 'worker 2' },
  { t: 0, k: 'counter', name: 'counter', v: 0 },
  { t: 10, k: 'state', lane: 'w1', s: 'running', why: 'start', src: 'app' },
  { t: 12, k: 'state', lane: 'w2', s: 'running', src: 'app' },
  { t: 20, k: 'lock', lane: 'w2', lock: 'mu', op: 'want' },
  { t: 20, k: 'state', lane: 'w2', s: 'lock-wait', why: 'mu held' },
  { t: 30, k: 'lock', lane: 'w2', lock: 'mu', op: 'got' },
  { t: 30, k: 'state', lane: 'w2', s: 'running' },
  { t: 35, k: 'counter', name: 'counter', v: 2 },
  { t: 40, k: 'output', lane: 'w1', stream: 'stdout', text: 'hi\n' },
  { t: 50, k: 'state', lane: 'w1', s: 'done' },
  { t: 60, k: 'mark', lane: 'w2', label: 'exit 0' },
  { t: 70, k: 'end', summary: { wall_ns: 70, cpu_ns: 50, metrics: { lost: { value: 0, unit: '', label: 'lost updates' } }, verdict: 'No update was lost.' } },
];

/** snapshot reduces a model to plain data to compare two models. */
function snapshot(m) {
  return {
    lanes: m.laneList.map((l) => ({
      id: l.id, kind: l.kind, name: l.name, spans: l.spans,
      starts: Array.from(l.starts.subarray(0, l.n)),
      states: Array.from(l.states.subarray(0, l.n)),
      whys: Array.from(l.whys.subarray(0, l.n), (w) => m.strings[w]),
      locks: Array.from(l.lockT.subarray(0, l.lockN)),
    })),
    counters: [...m.counters.values()].map((c) => [c.name, Array.from(c.v.subarray(0, c.n))]),
    outputs: m.outputs, marks: m.marks, summary: m.summary, events: m.events,
    openEnd: m.openEnd, spanTotal: m.spanTotal,
  };
}

test('spans are built from consecutive states of a lane', () => {
  const m = new RunModel();
  m.add(history);
  const w2 = m.lanes.get('w2');
  assert.equal(w2.spans, 3);
  assert.deepEqual(Array.from(w2.starts.subarray(0, w2.n)), [12, 20, 30]);
  assert.equal(w2.states[1], STATE_CODE['lock-wait']);
  assert.equal(w2.spanEnd(0, m.openEnd), 20, 'a state lasts until the next one');
  assert.equal(m.whyOf(w2, 1), 'mu held');
  assert.equal(m.srcOf(w2, 0), 'app');
  const w1 = m.lanes.get('w1');
  assert.equal(w1.spans, 1, 'done is not a span');
  assert.equal(w1.spanEnd(0, m.openEnd), 50, 'done closes the span before it');
  assert.equal(m.spanTotal, 4);
  assert.equal(m.events, history.length);
});

test('a late joiner receiving the history at once sees what a live viewer saw', () => {
  const live = new RunModel();
  for (const e of history) live.add([e]);
  const late = new RunModel();
  late.add(history);
  assert.deepEqual(snapshot(late), snapshot(live));
});

test('events stamped out of order within a lane end up in time order', () => {
  const shuffled = [...history];
  // Swap two states of w2 and two counters: an engine may stamp in the past.
  const a = shuffled.findIndex((e) => e.t === 20 && e.k === 'state');
  const b = shuffled.findIndex((e) => e.t === 30 && e.k === 'state');
  [shuffled[a], shuffled[b]] = [shuffled[b], shuffled[a]];
  const m1 = new RunModel();
  m1.add(history);
  const m2 = new RunModel();
  m2.add(shuffled);
  assert.deepEqual(snapshot(m2).lanes, snapshot(m1).lanes);
});

test('while live the last span lasts until now; when done, until the end of the run', () => {
  const m = new RunModel();
  m.setStatus('running');
  m.add(history.slice(0, 9)); // w2 running since 30, w1 running since 10
  const w2 = m.lanes.get('w2');
  m.setNow(100);
  assert.equal(w2.spanEnd(w2.n - 1, m.openEnd), 100, 'open span grows with the clock');
  assert.equal(m.spansBetween(90, 100), 2, 'both open spans reach now');
  m.add(history.slice(9));
  m.setStatus('done');
  assert.ok(m.finished);
  assert.equal(m.openEnd, 70, 'the end event closes open spans');
  assert.equal(w2.spanEnd(w2.n - 1, m.openEnd), 70);
  assert.equal(m.spansBetween(60, 70), 1, 'w1 ended at 50; only w2 is left');
});

test('a run that fails without an end event closes open spans at its last event', () => {
  const m = new RunModel();
  m.add(history.slice(0, 9));
  m.setNow(1e9);
  m.setStatus('failed');
  assert.equal(m.openEnd, 30);
});

test('spansBetween counts spans overlapping a window', () => {
  const m = new RunModel();
  m.add(history);
  assert.equal(m.spansBetween(0, 1000), 4);
  assert.equal(m.spansBetween(21, 29), 2, 'w1 running, w2 lock-wait');
  assert.equal(m.spansBetween(0, 10), 0);
});

test('the summary comes from the end event', () => {
  const m = new RunModel();
  m.add(history);
  assert.equal(m.summary.verdict, 'No update was lost.');
  assert.equal(m.counters.get('counter').valueAt(36), 2);
  assert.equal(m.counters.get('counter').valueAt(34), 0);
});

test('states naming an undeclared lane create it', () => {
  const m = new RunModel();
  m.add([{ t: 5, k: 'state', lane: 'g7', s: 'runnable' }]);
  assert.equal(m.laneList.length, 1);
  assert.equal(m.laneList[0].name, 'g7');
  m.add([{ t: 0, k: 'lane', id: 'g7', kind: 'goroutine', name: 'G7', group: 'sched' }]);
  assert.equal(m.laneList[0].name, 'G7');
  assert.equal(m.laneList[0].groupKey, 'sched');
});

test('the live clock advances with wall time and never goes back', () => {
  let wall = 0;
  const c = new LiveClock(() => wall);
  assert.equal(c.now(), 0);
  c.observe(1e6);
  wall = 2; // ms
  assert.equal(c.now(), 3e6);
  c.observe(2e6); // a late batch: keep the clock
  assert.equal(c.now(), 3e6);
  c.observe(5e6);
  assert.equal(c.now(), 5e6);
});

test('lanes are grouped by group, else pid, else one group; the scheduler only on demand', async () => {
  const { groupLanes, collapseGroup } = await import('../model.js');
  const m = new RunModel();
  m.add([
    { t: 0, k: 'lane', id: 'main', kind: 'thread', name: 'main' },
    { t: 0, k: 'lane', id: 'p1', kind: 'process', name: 'worker proc', pid: 41 },
    { t: 0, k: 'lane', id: 'g1', kind: 'goroutine', name: 'G1', group: 'sched' },
    { t: 0, k: 'lane', id: 'P0', kind: 'cpu', name: 'P0', group: 'sched' },
    { t: 0, k: 'lane', id: 't1', kind: 'thread', name: 'thread in 41', pid: 41 },
    { t: 0, k: 'lane', id: 'x', kind: 'task', name: 'x', group: 'tasks' },
  ]);
  const hidden = groupLanes(m.laneList, false);
  assert.deepEqual(hidden.map((g) => [g.key, g.label, g.lanes.map((l) => l.id)]), [
    ['', 'program', ['main']],
    ['pid 41', 'worker proc (pid 41)', ['p1', 't1']],
    ['tasks', 'tasks', ['x']],
  ]);
  const shown = groupLanes(m.laneList, true);
  assert.equal(shown.at(-1).key, 'sched');
  assert.deepEqual(shown.at(-1).lanes.map((l) => l.id), ['P0', 'g1'], 'cores first');

  const many = Array.from({ length: 10_000 }, (_, i) => i);
  const { shown: s, hidden: h } = collapseGroup(many);
  assert.equal(s.length, 100);
  assert.equal(h.length, 9_900);
  assert.equal(collapseGroup(many, true).hidden.length, 0);
  assert.equal(collapseGroup(many.slice(0, 110)).hidden.length, 0, 'a little over the cap is shown in full');
});

/** upTo is a finished model of the events of history before time t, as a replay at t should look. */
function upTo(events, t) {
  const m = new RunModel();
  m.add(events.filter((e) => e.t < t || (e.k === 'lane' && e.t <= t)));
  return m;
}

/** visible lists, per lane, the spans drawn with the model's cut: [state, start, end]. */
function visible(m, end) {
  return m.laneList.map((l) => {
    const out = [];
    for (let i = 0; i < l.n; i++) {
      if (l.states[i] === STATE_CODE.done || l.starts[i] >= m.cut) continue;
      out.push([l.states[i], l.starts[i], Math.min(l.spanEnd(i, end), m.cut)]);
    }
    return [l.id, out];
  });
}

test('a replay cursor shows the run as it was at that time, event for event', () => {
  const whole = new RunModel();
  whole.add(history);
  whole.setStatus('done');
  for (const t of [0, 5, 11, 20, 25, 30, 36, 50, 55, 69, 70]) {
    whole.setCursor(t);
    const then = upTo(history, t);
    then.setNow(t);
    const thenSpans = visible(then, t).filter(([, spans]) => spans.length > 0);
    const cutSpans = visible(whole, whole.drawEnd).filter(([, spans]) => spans.length > 0);
    assert.deepEqual(cutSpans, thenSpans, `spans at t=${t}`);
    assert.deepEqual(whole.laneList.map((l) => l.spansBefore(whole.cut)).filter((n) => n > 0), then.laneList.map((l) => l.spans).filter((n) => n > 0), `span counts at t=${t}`);
    assert.equal(whole.spansBetween(0, 1000), then.spansBetween(0, 1000), `spansBetween at t=${t}`);
    assert.equal(whole.spansBetween(t + 1, 1000), 0, `nothing after the cursor at t=${t}`);
    assert.deepEqual(whole.outputsUntil(t).map((o) => o.text), then.outputs.map((o) => o.text).concat(history.filter((e) => e.k === 'output' && e.t === t).map((e) => e.text)));
    assert.equal(whole.endedBy(t), t >= 70);
  }
  whole.setCursor(null);
  assert.equal(whole.cut, Infinity);
  assert.equal(whole.spansBetween(0, 1000), 4, 'no cursor: the whole run');
});

test('counters read at the cursor; drawEnd stops at it', () => {
  const m = new RunModel();
  m.add(history);
  m.setStatus('done');
  m.setCursor(34);
  assert.deepEqual(m.countersAt(m.cut), [{ name: 'counter', value: 0 }]);
  m.setCursor(35);
  assert.deepEqual(m.countersAt(m.cut), [{ name: 'counter', value: 2 }]);
  assert.equal(m.drawEnd, 35);
  m.setCursor(500);
  assert.equal(m.drawEnd, 70, 'a cursor past the end draws to the end');
  m.setCursor(-3);
  assert.equal(m.cursor, 0);
  m.setCursor(undefined);
  assert.equal(m.cursor, null);
});

test('event times are kept sorted for stepping, whatever the arrival order', () => {
  const m = new RunModel();
  m.add([history[5], history[2], history[9]]);
  m.add([history[0]]);
  assert.deepEqual(Array.from(m.eventTimes()), [0, 0, 20, 35]);
  assert.equal(m.nextEventTime(0), 20);
  assert.equal(m.prevEventTime(20), 0);
  assert.equal(m.nextEventTime(35), null);
  assert.equal(m.lanes.get('w2').since, 20, 'a lane appears with its first event');
});
