/**
 * roomchart.js: the chart of a room question's answers, as pure logic.
 *
 * A chart is {attrs, shapes}: the attributes of its <svg> and the shapes
 * inside it, each {tag, attrs, text}, in drawing order. roomquestions.js
 * turns it into SVG elements; node --test checks what it draws (the bars,
 * the measured answer, this tab's own answer) without a browser.
 */

import { histogram, formatAnswer } from './roomstate.js';

/** CHART_WIDTH is the width of a chart's view box; the page scales it. */
const CHART_WIDTH = 600;

/** shape is one element of a chart. */
function shape(tag, attrs = {}, text = '') {
  return { tag, attrs, text };
}

/** questionChart is the chart of question q: bars per choice, or a histogram of numbers. */
export function questionChart(q, mine) {
  return q.kind === 'choice' ? choiceChart(q, mine) : numberChart(q, mine);
}

/** choiceChart draws the answers per choice as bars; the measured choice is outlined and marked. */
export function choiceChart(q, mine) {
  const counts = q.counts || [];
  const max = Math.max(1, ...counts);
  const rowH = 30;
  const W = CHART_WIDTH;
  const attrs = { viewBox: `0 0 ${W} ${counts.length * (rowH + 22) + 4}`, class: 'q-svg', role: 'img', 'aria-label': `Answers: ${q.choices.map((c, i) => `${c}: ${counts[i] || 0}`).join('; ')}` };
  const shapes = [];
  q.choices.forEach((c, i) => {
    const y = i * (rowH + 22) + 2;
    const measured = q.measured && q.measured.choice === i;
    shapes.push(shape('text', { x: 0, y: y + 15, class: `q-label${measured ? ' q-label-measured' : ''}` }, `${measured ? '✔ ' : ''}${c}${mine === i ? ' (yours)' : ''}`));
    const w = ((counts[i] || 0) / max) * (W - 70);
    shapes.push(shape('rect', { x: 0, y: y + 20, width: W - 70, height: rowH - 10, class: 'q-track' }));
    shapes.push(shape('rect', { x: 0, y: y + 20, width: Math.max(w, counts[i] ? 3 : 0), height: rowH - 10, class: measured ? 'q-bar q-bar-measured' : 'q-bar' }));
    if (measured) shapes.push(shape('rect', { x: -0.5, y: y + 18.5, width: W - 69, height: rowH - 7, class: 'q-measured-frame' }));
    shapes.push(shape('text', { x: W - 60, y: y + 36, class: 'q-count' }, String(counts[i] || 0)));
  });
  return { attrs, shapes };
}

/** numberChart draws number answers as a histogram, with the measured value as a line across it. */
export function numberChart(q, mine) {
  const measured = q.measured ? q.measured.value : null;
  const bins = histogram(q.values || [], { min: q.min ?? null, max: q.max ?? null, measured });
  const W = CHART_WIDTH;
  const H = 190;
  const top = 28;
  const base = H - 34;
  const attrs = { viewBox: `0 0 ${W} ${H}`, class: 'q-svg', role: 'img', 'aria-label': `${(q.values || []).length} answers${measured !== null ? `; measured ${formatAnswer(measured)}` : ''}` };
  const shapes = [];
  if (bins.length === 0) {
    shapes.push(shape('text', { x: W / 2, y: H / 2, class: 'q-empty', 'text-anchor': 'middle' }, 'No answers yet'));
    return { attrs, shapes };
  }
  const max = Math.max(1, ...bins.map((b) => b.n));
  const bw = W / bins.length;
  bins.forEach((b, i) => {
    const h = (b.n / max) * (base - top);
    shapes.push(shape('rect', { x: i * bw + 2, y: base - h, width: bw - 4, height: h, class: 'q-bar' }));
    if (b.n > 0) shapes.push(shape('text', { x: i * bw + bw / 2, y: base - h - 4, class: 'q-count', 'text-anchor': 'middle' }, String(b.n)));
  });
  shapes.push(shape('line', { x1: 0, x2: W, y1: base, y2: base, class: 'q-axis' }));
  const lo = bins[0].lo;
  const hi = bins[bins.length - 1].hi;
  shapes.push(shape('text', { x: 0, y: H - 12, class: 'q-tick' }, formatAnswer(lo)));
  shapes.push(shape('text', { x: W, y: H - 12, class: 'q-tick', 'text-anchor': 'end' }, formatAnswer(hi)));
  const xOf = (v) => (hi > lo ? ((v - lo) / (hi - lo)) * (W - 4) + 2 : W / 2);
  if (Number.isFinite(mine)) shapes.push(shape('path', { d: `M${xOf(mine) - 7} ${base + 14} l7 -12 l7 12 z`, class: 'q-yours-mark' }));
  if (measured !== null) {
    const x = xOf(measured);
    shapes.push(shape('line', { x1: x, x2: x, y1: top - 6, y2: base + 4, class: 'q-measured-line' }));
    shapes.push(shape('text', { x: Math.min(Math.max(x, 90), W - 90), y: top - 12, class: 'q-measured-text', 'text-anchor': 'middle' }, `measured ${formatAnswer(measured)}`));
  }
  return { attrs, shapes };
}
