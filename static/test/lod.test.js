import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lodLane, LodBuffer } from '../lod.js';
import { Lane } from '../model.js';
import { STATE_CODE, DONE } from '../palette.js';

/** randomLane builds a lane of n contiguous spans with random states and lengths. */
function randomLane(n, seed = 1, gapEvery = 0) {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  const lane = new Lane('l', 0);
  let t = 0;
  for (let i = 0; i < n; i++) {
    const code = gapEvery && i % gapEvery === gapEvery - 1 ? DONE : Math.floor(rnd() * 9);
    lane.addState(t, code, 0, 0);
    t += 1 + Math.floor(rnd() ** 3 * 10000);
  }
  return { lane, end: t };
}

/**
 * covered is the total length (in px) of the lane's spans inside the
 * window, and how many gaps (done) lie inside it.
 */
function covered(lane, end, t0, t1, width) {
  const k = width / (t1 - t0);
  let sum = 0;
  let gaps = 0;
  for (let i = 0; i < lane.n; i++) {
    const s = Math.max(lane.starts[i], t0);
    const e = Math.min(lane.spanEnd(i, end), t1);
    if (lane.states[i] === DONE) {
      if (e > s) gaps++;
      continue;
    }
    if (e > s) sum += (e - s) * k;
  }
  return { sum, gaps };
}

const cases = [
  { name: 'all spans wide', n: 20, width: 1000, window: (end) => [0, end] },
  { name: '100k spans in 800 px', n: 100_000, width: 800, window: (end) => [0, end] },
  { name: 'zoomed into the middle', n: 100_000, width: 1200, window: (end) => [end * 0.4, end * 0.41] },
  { name: 'with gaps (done)', n: 50_000, width: 640, gapEvery: 7, window: (end) => [0, end] },
  { name: 'window past the end', n: 1000, width: 500, window: (end) => [end * 0.5, end * 2] },
];

for (const c of cases) {
  test(`lod keeps total coverage: ${c.name}`, () => {
    const { lane, end } = randomLane(c.n, 7, c.gapEvery);
    const [t0, t1] = c.window(end);
    const out = new LodBuffer();
    const n = lodLane(lane, end, t0, t1, c.width, out);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      assert.ok(out.x1[i] > out.x0[i], 'no empty rectangle');
      assert.ok(out.x0[i] >= -1e-3 && out.x1[i] <= c.width + 1e-3, 'inside the window');
      if (i > 0) assert.ok(out.x0[i] >= out.x1[i - 1] - 1e-3, 'rectangles do not overlap');
      sum += out.x1[i] - out.x0[i];
    }
    // Exact without gaps; a gap inside one pixel column may be drawn over,
    // so each gap may add less than a pixel.
    const want = covered(lane, end, t0, t1, c.width);
    assert.ok(sum >= want.sum - 1e-6 && sum <= want.sum + want.gaps + 1e-6, `coverage ${sum} px vs ${want.sum} px (${want.gaps} gaps)`);
    if (!c.gapEvery) assert.ok(Math.abs(sum - want.sum) < 1e-6);
  });

  test(`lod emits at most 2 rectangles per pixel: ${c.name}`, () => {
    const { lane, end } = randomLane(c.n, 3, c.gapEvery);
    const [t0, t1] = c.window(end);
    const out = new LodBuffer();
    const n = lodLane(lane, end, t0, t1, c.width, out);
    const perPixel = new Uint16Array(Math.ceil(c.width) + 1);
    for (let i = 0; i < n; i++) {
      const a = Math.floor(out.x0[i]);
      const b = Math.min(Math.ceil(out.x1[i]) - 1, perPixel.length - 1);
      for (let p = a; p <= b; p++) perPixel[p]++;
    }
    assert.ok(Math.max(...perPixel) <= 2, `max ${Math.max(...perPixel)} per pixel`);
    assert.ok(n <= 2 * c.width + 2);
  });
}

test('lod colours a merged pixel by the state that took most of its time', () => {
  const lane = new Lane('l', 0);
  // In pixel 0 (10 ns per px): running 7 ns, io 3 ns; then io wide.
  lane.addState(0, STATE_CODE.running, 0, 0);
  lane.addState(7, STATE_CODE.io, 0, 0);
  lane.addState(8, STATE_CODE.running, 0, 0);
  lane.addState(9, STATE_CODE.io, 0, 0);
  const out = new LodBuffer();
  const n = lodLane(lane, 100, 0, 100, 10, out);
  assert.equal(n, 2);
  assert.equal(out.state[0], STATE_CODE.running);
  assert.deepEqual([out.x0[0], out.x1[0]], [0, 1]);
  assert.equal(out.state[1], STATE_CODE.io);
  assert.deepEqual([out.x0[1], out.x1[1]], [1, 10]);
});

test('lod joins adjacent wide spans of the same state', () => {
  const lane = new Lane('l', 0);
  lane.addState(0, STATE_CODE.running, 0, 0);
  lane.addState(50, STATE_CODE.running, 1, 0);
  lane.addState(80, DONE, 0, 0);
  const out = new LodBuffer();
  assert.equal(lodLane(lane, 100, 0, 100, 100, out), 1);
  assert.deepEqual([out.x0[0], out.x1[0]], [0, 80]);
});

test('lod of a million spans stays well under a frame', () => {
  const { lane, end } = randomLane(1_000_000, 11);
  const out = new LodBuffer();
  lodLane(lane, end, 0, end, 1200, out); // warm up
  const t = performance.now();
  for (let r = 0; r < 5; r++) lodLane(lane, end, 0, end, 1200, out);
  const ms = (performance.now() - t) / 5;
  assert.ok(ms < 16, `${ms.toFixed(1)} ms for 1M spans in one lane`);
});

test('a dense pixel column is coloured by the state that dominates it in time', () => {
  // 10,000 cycles of running 9 ns then io 1 ns in 10 px: ~1,000 spans per pixel.
  const lane = new Lane('l', 0);
  for (let c = 0; c < 10_000; c++) {
    lane.addState(c * 10, STATE_CODE.running, 0, 0);
    lane.addState(c * 10 + 9, STATE_CODE.io, 0, 0);
  }
  const out = new LodBuffer();
  const n = lodLane(lane, 100_000, 0, 100_000, 10, out);
  assert.equal(n, 1, 'one rectangle: every column is mostly running');
  assert.equal(out.state[0], STATE_CODE.running);
  assert.deepEqual([out.x0[0], out.x1[0]], [0, 10]);
});

test('a cut lane draws exactly like the lane of the events before the cut', () => {
  for (const [n, width, gapEvery] of [[200, 900, 0], [100_000, 800, 0], [50_000, 640, 7]]) {
    const { lane, end } = randomLane(n, 7, gapEvery);
    for (const f of [0, 0.003, 0.25, 0.5, 0.77, 0.999]) {
      const cut = Math.round(end * f) + 0.5; // between two starts, or on one
      const before = new Lane('l', 0);
      for (let i = 0; i < lane.n && lane.starts[i] < cut; i++) before.addState(lane.starts[i], lane.states[i], 0, 0);
      for (const [t0, t1] of [[0, end], [end * 0.2, end * 0.6], [cut - end * 0.01, cut + end * 0.01]]) {
        const a = new LodBuffer();
        const b = new LodBuffer();
        const na = lodLane(lane, end, t0, t1, width, a, cut);
        const nb = lodLane(before, cut, t0, t1, width, b);
        assert.equal(na, nb, `n=${n} cut=${f} window=[${t0}, ${t1}]`);
        assert.deepEqual(Array.from(a.x0.subarray(0, na)), Array.from(b.x0.subarray(0, nb)));
        assert.deepEqual(Array.from(a.x1.subarray(0, na)), Array.from(b.x1.subarray(0, nb)));
        assert.deepEqual(Array.from(a.state.subarray(0, na)), Array.from(b.state.subarray(0, nb)));
      }
    }
  }
});

test('with the cut on a span start, that span is not drawn yet', () => {
  const lane = new Lane('l', 0);
  lane.addState(0, STATE_CODE.running, 0, 0);
  lane.addState(100, STATE_CODE.io, 0, 0);
  const out = new LodBuffer();
  const n = lodLane(lane, 200, 0, 200, 200, out, 100);
  assert.equal(n, 1);
  assert.deepEqual([out.x0[0], out.x1[0], out.state[0]], [0, 100, STATE_CODE.running]);
});
