/**
 * bench.js: synthetic runs and the frame benchmark behind the browser
 * quality bar "1,000,000 spans, pan/zoom frame <= 16 ms".
 */

import { RunModel } from './model.js';

const BENCH_STATES = ['running', 'running', 'runnable', 'lock-wait', 'io', 'sleep', 'gil-wait', 'syscall', 'blocked'];

/**
 * syntheticModel builds a finished run of lanes × spansPerLane spans over
 * about ten seconds, fed through the same add() path as live events, in
 * batches like the server's.
 */
export function syntheticModel({ lanes = 100, spansPerLane = 10_000, seed = 1 } = {}) {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
  const m = new RunModel();
  m.setStatus('running');
  const total = 10e9;
  const mean = total / spansPerLane;
  const header = [];
  for (let l = 0; l < lanes; l++) {
    header.push({ t: 0, k: 'lane', id: `w${l}`, kind: 'goroutine', name: `worker ${l + 1}`, group: l % 2 ? 'odd workers' : 'even workers' });
  }
  m.add(header);
  const batch = [];
  let maxT = 0;
  for (let l = 0; l < lanes; l++) {
    let t = 0;
    for (let i = 0; i < spansPerLane; i++) {
      batch.push({ t: Math.round(t), k: 'state', lane: `w${l}`, s: BENCH_STATES[(rnd() * BENCH_STATES.length) | 0], src: 'app' });
      t += mean * (0.1 + 1.8 * rnd());
      if (batch.length === 50_000) {
        m.add(batch);
        batch.length = 0;
      }
    }
    if (t > maxT) maxT = t;
  }
  m.add(batch);
  m.add([{ t: Math.round(maxT), k: 'end', summary: { wall_ns: Math.round(maxT), cpu_ns: 0, metrics: {}, verdict: 'synthetic' } }]);
  m.setStatus('done');
  return m;
}

/**
 * frameScript is the sequence of view changes the benchmark renders: fit
 * all, zoom in step by step, pan, scroll, zoom back out.
 * @returns {((tl: import('./timeline.js').Timeline) => void)[]}
 */
export function frameScript() {
  const steps = [];
  steps.push((tl) => tl.fit());
  for (let i = 0; i < 24; i++) steps.push((tl) => tl.zoomAt(0.8, tl.plotW * 0.45));
  for (let i = 0; i < 24; i++) steps.push((tl) => tl.panBy(i < 12 ? 60 : -60));
  for (let i = 0; i < 10; i++) steps.push((tl) => tl.scrollBy(i < 5 ? 90 : -90));
  for (let i = 0; i < 24; i++) steps.push((tl) => tl.zoomAt(1.25, tl.plotW * 0.55));
  for (let i = 0; i < 12; i++) steps.push((tl) => tl.panBy(i % 2 ? 200 : -200));
  return steps;
}

/** percentile returns the p-th percentile (0..100) of sorted values. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
