import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timelineSVG, escapeXML, paint } from '../svg.js';
import { RunModel, groupLanes } from '../model.js';
import { ticks } from '../axis.js';

/** snapshotOf lays a model out the way Timeline.snapshot() does, without a canvas. */
function snapshotOf(m, { width = 800, t0 = 0, t1 = m.openEnd, selectedLane = '' } = {}) {
  const gutterW = 190;
  const axisH = 26;
  const plotW = width - gutterW - 10;
  const rows = [];
  let y = axisH;
  for (const c of m.counters.values()) {
    rows.push({ type: 'counter', y, h: 46, counter: c });
    y += 46;
  }
  for (const g of groupLanes(m.laneList)) {
    rows.push({ type: 'group', y, h: 22, group: g, folded: false });
    y += 22;
    for (const lane of g.lanes) {
      rows.push({ type: 'lane', y, h: 18, lane, group: g });
      y += 18;
    }
  }
  return {
    width, height: y + 6, gutterW, axisH, plotW, lanePad: 2, scale: 1, t0, t1,
    end: m.drawEnd, cut: m.cut, cursor: m.cursor, ticks: ticks(t0, t1, plotW, 90).ticks,
    selectedLane, rows, marks: m.marks, steps: m.steps,
  };
}

/** run is a finished run with two threads, a lock wait, a counter and a mark. */
function run() {
  const m = new RunModel();
  m.add([
    { t: 0, k: 'lane', id: 'a', kind: 'thread', name: 'worker <1> & co' },
    { t: 0, k: 'lane', id: 'b', kind: 'thread', name: 'worker 2' },
    { t: 0, k: 'state', lane: 'a', s: 'running' },
    { t: 0, k: 'state', lane: 'b', s: 'running' },
    { t: 400, k: 'state', lane: 'b', s: 'lock-wait' },
    { t: 500, k: 'counter', name: 'counter', v: 3 },
    { t: 600, k: 'state', lane: 'a', s: 'done' },
    { t: 700, k: 'state', lane: 'b', s: 'running' },
    { t: 800, k: 'mark', lane: 'b', label: 'exit 0' },
    { t: 1000, k: 'end', summary: { wall_ns: 1000 } },
  ]);
  m.setStatus('done');
  return m;
}

/** rects returns the span rectangles of an SVG: [x, width, fill]. */
function spanRects(svg) {
  return [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="14" fill="([^"]+)"\/>/g)].map((m) => [Number(m[1]), Number(m[2]), m[3]]);
}

test('the SVG has one rectangle per merged span, in its colour or pattern, and text as text', () => {
  const svg = timelineSVG(snapshotOf(run()), { title: 'Locks & co' });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="800"/);
  assert.match(svg, /<title>Locks &amp; co<\/title>/);
  assert.match(svg, /worker &lt;1&gt; &amp; co/, 'lane names are escaped');
  assert.match(svg, /<pattern id="st-lock-wait"/, 'patterns survive for colour-blind readers');
  const rects = spanRects(svg);
  assert.equal(rects.length, 4, 'a: running; b: running, lock-wait, running');
  assert.ok(rects.some(([, , fill]) => fill === 'url(#st-lock-wait)'));
  assert.match(svg, />exit 0</, 'marks are labelled');
  assert.ok(!/width="2" height="\d+" fill="#D55E00"/.test(svg), 'no cursor line without a replay');
});

test('with a replay cursor the SVG stops there, as the canvas does', () => {
  const m = run();
  m.setCursor(500);
  const svg = timelineSVG(snapshotOf(m, { t1: 1000 }));
  const plotW = 800 - 190 - 10;
  const cutX = 190 + (500 / 1000) * plotW;
  const rects = spanRects(svg);
  assert.equal(rects.length, 3, 'b has not gone back to running yet');
  for (const [x, w] of rects) assert.ok(x + w <= cutX + 0.01, `a span reaches ${x + w}, past the cursor at ${cutX}`);
  assert.ok(!/exit 0/.test(svg), 'the mark at 800 has not happened yet');
  assert.match(svg, new RegExp(`<rect x="${cutX - 1}" y="26" width="2"`), 'the cursor line');
});

test('the selected lane is outlined, not only tinted', () => {
  const svg = timelineSVG(snapshotOf(run(), { selectedLane: 'b' }));
  assert.match(svg, /font-weight="600" fill="#111111">worker 2</);
  assert.equal((svg.match(/height="1.5" fill="#1b2a3a"/g) || []).length, 2);
});

test('colours with alpha become an SVG paint and opacity', () => {
  assert.deepEqual(paint('rgba(0,0,0,0.55)'), { colour: 'rgb(0,0,0)', opacity: 0.55 });
  assert.deepEqual(paint('#009E73'), { colour: '#009E73', opacity: 1 });
  assert.equal(escapeXML(`"<'&>"`), '&quot;&lt;&#39;&amp;&gt;&quot;');
});

test('a step run\'s steps are ticks on their lanes, labelled with the line', () => {
  const m = new RunModel();
  m.add([
    { t: 0, k: 'lane', id: 'worker-1', kind: 'thread', name: 'worker 1' },
    { t: 10, k: 'step', lane: 'worker-1', line: 12, code: 'value = counter', locals: { value: '0' }, n: 1 },
    { t: 20, k: 'step', lane: 'worker-1', line: 0, code: '', locals: {}, n: 2 },
    { t: 30, k: 'end', summary: { wall_ns: 30 } },
  ]);
  m.setStatus('done');
  const svg = timelineSVG(snapshotOf(m));
  assert.match(svg, />L12<\/text>/);
  assert.match(svg, />↩<\/text>/);
  m.setCursor(15);
  assert.doesNotMatch(timelineSVG(snapshotOf(m)), />↩<\/text>/, 'a step after the cursor is not drawn');
});
