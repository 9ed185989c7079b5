import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunModel } from '../model.js';
import { stepState, threadNumber, threadLane, withSchedule, isStepQuery, lockHolders } from '../stepping.js';

const SRC = ['def add_locked(increments, lock):', '    global counter', '    for i in range(increments):',
  '        lock.acquire()', '        value = counter  # read', '        counter = value + 1  # write back', '        lock.release()'];

/**
 * run is a step run as the python engine records it (locks, lock=true, 2
 * threads): both arrive at their loop; worker 1 takes the lock; worker 2
 * asks for it and waits; worker 1 reads, writes and frees it.
 */
const run = [
  { t: 1, k: 'lane', id: 'main', kind: 'thread', name: 'main thread' },
  { t: 2, k: 'lane', id: 'worker-1', kind: 'thread', name: 'worker 1', parent: 'main' },
  { t: 3, k: 'step', lane: 'worker-1', line: 98, code: 'for i in range(increments):', locals: { increments: '2', lock: 'counter_lock' }, fn: 'add_locked', first: 96, source: SRC },
  { t: 3, k: 'state', lane: 'worker-1', s: 'runnable', why: 'ready before line 98: waits for its turn', src: 'app' },
  { t: 4, k: 'lane', id: 'worker-2', kind: 'thread', name: 'worker 2', parent: 'main' },
  { t: 5, k: 'step', lane: 'worker-2', line: 98, code: 'for i in range(increments):', locals: { increments: '2', lock: 'counter_lock' }, fn: 'add_locked', first: 96, source: SRC },
  { t: 5, k: 'state', lane: 'worker-2', s: 'runnable', why: 'ready before line 98: waits for its turn', src: 'app' },
  { t: 6, k: 'counter', name: 'counter', v: 0 },
  { t: 10, k: 'state', lane: 'worker-1', s: 'running', why: 'step 1: line 98', src: 'app' },
  { t: 11, k: 'step', lane: 'worker-1', line: 99, code: 'lock.acquire()', locals: { increments: '2', lock: 'counter_lock', i: '0' }, n: 1 },
  { t: 11, k: 'state', lane: 'worker-1', s: 'runnable', why: 'ready before line 99: waits for its turn', src: 'app' },
  { t: 20, k: 'state', lane: 'worker-1', s: 'running', why: 'step 2: line 99', src: 'app' },
  { t: 20, k: 'lock', lane: 'worker-1', lock: 'counter_lock', op: 'got' },
  { t: 21, k: 'step', lane: 'worker-1', line: 100, code: 'value = counter  # read', locals: { increments: '2', lock: 'counter_lock', i: '0' }, n: 2 },
  { t: 21, k: 'state', lane: 'worker-1', s: 'runnable', why: 'ready before line 100: waits for its turn', src: 'app' },
  { t: 30, k: 'state', lane: 'worker-2', s: 'running', why: 'step 3: line 98', src: 'app' },
  { t: 31, k: 'step', lane: 'worker-2', line: 99, code: 'lock.acquire()', locals: { increments: '2', lock: 'counter_lock', i: '0' }, n: 3 },
  { t: 31, k: 'state', lane: 'worker-2', s: 'runnable', why: 'ready before line 99: waits for its turn', src: 'app' },
  { t: 40, k: 'state', lane: 'worker-2', s: 'running', why: 'step 4: line 99', src: 'app' },
  { t: 40, k: 'lock', lane: 'worker-2', lock: 'counter_lock', op: 'want' },
  { t: 40, k: 'state', lane: 'worker-2', s: 'lock-wait', why: 'waits for counter_lock, held by worker 1', src: 'app' },
  { t: 41, k: 'step', lane: 'worker-2', line: 99, code: 'lock.acquire()', locals: { increments: '2', lock: 'counter_lock', i: '0' }, n: 4 },
  { t: 50, k: 'state', lane: 'worker-1', s: 'running', why: 'step 5: line 100', src: 'app' },
  { t: 51, k: 'step', lane: 'worker-1', line: 101, code: 'counter = value + 1  # write back', locals: { increments: '2', lock: 'counter_lock', i: '0', value: '0' }, n: 5 },
  { t: 51, k: 'state', lane: 'worker-1', s: 'runnable', why: 'ready before line 101: waits for its turn', src: 'app' },
  { t: 60, k: 'state', lane: 'worker-1', s: 'running', why: 'step 6: line 101', src: 'app' },
  { t: 61, k: 'step', lane: 'worker-1', line: 102, code: 'lock.release()', locals: { increments: '2', lock: 'counter_lock', i: '0', value: '0' }, n: 6 },
  { t: 61, k: 'state', lane: 'worker-1', s: 'runnable', why: 'ready before line 102: waits for its turn', src: 'app' },
  { t: 61, k: 'counter', name: 'counter', v: 1 },
  { t: 70, k: 'state', lane: 'worker-1', s: 'running', why: 'step 7: line 102', src: 'app' },
  { t: 70, k: 'lock', lane: 'worker-1', lock: 'counter_lock', op: 'free' },
  { t: 71, k: 'step', lane: 'worker-1', line: 98, code: 'for i in range(increments):', locals: { increments: '2', lock: 'counter_lock', i: '0', value: '0' }, n: 7 },
  { t: 71, k: 'state', lane: 'worker-1', s: 'runnable', why: 'ready before line 98: waits for its turn', src: 'app' },
];

function model(events = run) {
  const m = new RunModel();
  m.add(events);
  m.setStatus('running');
  return m;
}

test('threads are numbered as a schedule names them', () => {
  assert.equal(threadNumber('worker-7'), 7);
  assert.equal(threadNumber('main'), 0);
  assert.equal(threadLane(3), 'worker-3');
});

test('a run without step events has no stepping state', () => {
  assert.equal(stepState(model(run.slice(0, 2))), null);
});

test('after both arrive, each thread is ready before its first line, with its code', () => {
  const s = stepState(model(), 6);
  assert.equal(s.threads.length, 2);
  for (const th of s.threads) {
    assert.equal(th.status, 'ready');
    assert.equal(th.line, 98);
    assert.equal(th.canStep, true);
    assert.equal(th.first, 96);
    assert.deepEqual(th.source, SRC);
    assert.equal(th.why, 'ready before line 98');
  }
  assert.equal(s.schedule, '');
  assert.deepEqual(s.counters, [{ name: 'counter', value: 0 }]);
});

test('a thread waiting for a held lock cannot step and says who holds it', () => {
  const s = stepState(model(), 45);
  const [w1, w2] = s.threads;
  assert.equal(w1.status, 'ready');
  assert.equal(w1.canStep, true);
  assert.equal(w2.status, 'blocked');
  assert.equal(w2.canStep, false);
  assert.equal(w2.why, 'waits for counter_lock, held by worker 1');
  assert.equal(s.schedule, '1,1,2,2');
  assert.deepEqual(s.locks, [{ name: 'counter_lock', holder: 'worker-1', waiters: ['worker-2'] }]);
});

test('once the lock is free the waiting thread can step to take it', () => {
  const s = stepState(model());
  const w2 = s.threads[1];
  assert.equal(w2.status, 'blocked');
  assert.equal(w2.canStep, true);
  assert.match(w2.why, /which is free now/);
  assert.equal(s.locks[0].holder, '');
  assert.equal(s.schedule, '1,1,2,2,1,1,1');
  assert.deepEqual(s.counters, [{ name: 'counter', value: 1 }]);
  assert.deepEqual(s.threads[0].locals, { increments: '2', lock: 'counter_lock', i: '0', value: '0' });
});

test('the replay cursor shows each step as it was', () => {
  const m = model();
  m.setCursor(25);
  const s = stepState(m);
  assert.equal(s.schedule, '1,1');
  assert.equal(s.threads[0].line, 100);
  assert.equal(s.locks[0].holder, 'worker-1');
});

test('a deadlock and the end stop every thread from stepping', () => {
  const events = [...run,
    { t: 80, k: 'mark', label: 'deadlock: worker 1 waits for lock_b, held by worker 2; worker 2 waits for lock_a, held by worker 1' },
    { t: 90, k: 'end', summary: { wall_ns: 90, cpu_ns: 1, metrics: {}, verdict: 'Deadlock.' } }];
  const s = stepState(model(events));
  assert.equal(s.deadlock, 'worker 1 waits for lock_b, held by worker 2; worker 2 waits for lock_a, held by worker 1');
  assert.equal(s.ended, true);
  assert.ok(s.threads.every((th) => !th.canStep));
});

test('a returned thread is done', () => {
  const events = [...run, { t: 80, k: 'state', lane: 'worker-1', s: 'done', src: 'app' },
    { t: 80, k: 'step', lane: 'worker-1', line: 0, code: '', locals: {}, n: 8 }];
  const s = stepState(model(events));
  assert.equal(s.threads[0].status, 'done');
  assert.equal(s.threads[0].canStep, false);
});

test('lock holders replay got and free in time order across lanes', () => {
  const m = model();
  assert.deepEqual(lockHolders(m, 20), [{ name: 'counter_lock', holder: 'worker-1', waiters: [] }]);
  assert.deepEqual(lockHolders(m, 70), [{ name: 'counter_lock', holder: '', waiters: ['worker-2'] }]);
});

test('share links carry the schedule', () => {
  assert.equal(withSchedule('engine=python&workers=2&schedule=&step=true', '1,1,2', true), 'engine=python&workers=2&schedule=1,1,2&step=true');
  assert.equal(new URLSearchParams(withSchedule('engine=python', '2,1', false)).get('schedule'), '2,1');
  assert.equal(isStepQuery('engine=python&step=true'), true);
  assert.equal(isStepQuery('engine=python&step=false'), false);
});
