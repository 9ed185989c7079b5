import { test } from 'node:test';
import assert from 'node:assert/strict';
import { questionChart } from '../roomchart.js';

/** ofClass returns a chart's shapes of one class. */
const ofClass = (chart, cls) => chart.shapes.filter((s) => s.attrs.class === cls);

test('a choice question draws a bar per choice, as long as its count, and marks the measured one and yours', () => {
  const q = { kind: 'choice', choices: ['one core', 'two cores', 'four cores'], counts: [2, 0, 4], measured: { choice: 2 } };
  const c = questionChart(q, 0);
  assert.equal(c.attrs.role, 'img');
  assert.equal(c.attrs['aria-label'], 'Answers: one core: 2; two cores: 0; four cores: 4');
  const bars = c.shapes.filter((s) => s.tag === 'rect' && /^q-bar/.test(s.attrs.class));
  assert.equal(bars.length, 3);
  assert.equal(bars[2].attrs.width, 530, 'the most answered choice fills the track');
  assert.equal(bars[0].attrs.width, 265, 'half the answers, half the track');
  assert.equal(bars[1].attrs.width, 0, 'no answers, no bar');
  assert.equal(bars[2].attrs.class, 'q-bar q-bar-measured');
  assert.equal(ofClass(c, 'q-measured-frame').length, 1);
  const labels = c.shapes.filter((s) => s.tag === 'text' && s.attrs.class.startsWith('q-label')).map((s) => s.text);
  assert.deepEqual(labels, ['one core (yours)', 'two cores', '✔ four cores']);
  assert.deepEqual(ofClass(c, 'q-count').map((s) => s.text), ['2', '0', '4']);
});

test('a choice with a single answer still shows a sliver of a bar', () => {
  const c = questionChart({ kind: 'choice', choices: ['a', 'b'], counts: [1, 400] });
  const bars = ofClass(c, 'q-bar');
  assert.equal(bars[0].attrs.width, 3);
  assert.equal(ofClass(c, 'q-measured-frame').length, 0, 'nothing is measured yet');
});

test('a number question with no answers says so', () => {
  const c = questionChart({ kind: 'number', values: [] });
  assert.deepEqual(c.shapes.map((s) => s.text), ['No answers yet']);
  assert.equal(c.attrs['aria-label'], '0 answers');
});

test('a number question draws a histogram, the measured value as a line at its place, and your answer', () => {
  const q = { kind: 'number', values: [0, 100, 12000, 15000, 40000], min: 0, max: 40000, measured: { value: 20000 } };
  const c = questionChart(q, 10000);
  assert.equal(c.attrs['aria-label'], '5 answers; measured 20,000');
  const bars = ofClass(c, 'q-bar');
  assert.equal(bars.length, 8);
  const heights = bars.map((b) => b.attrs.height);
  assert.equal(Math.max(...heights), heights[0], 'the bin with two answers is the tallest');
  const line = ofClass(c, 'q-measured-line')[0];
  assert.equal(line.attrs.x1, 300, 'halfway through the range is halfway across');
  assert.equal(ofClass(c, 'q-measured-text')[0].text, 'measured 20,000');
  assert.deepEqual(ofClass(c, 'q-tick').map((s) => s.text), ['0', '40,000']);
  const mark = ofClass(c, 'q-yours-mark')[0];
  assert.match(mark.attrs.d, /^M144 /, 'your answer is marked a quarter of the way across');
});

test('a number question without a measured value draws no line', () => {
  const c = questionChart({ kind: 'number', values: [3, 4, 5] });
  assert.equal(ofClass(c, 'q-measured-line').length, 0);
  assert.equal(ofClass(c, 'q-yours-mark').length, 0);
});
