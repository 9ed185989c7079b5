/**
 * roomdom.js: how the room's modules (room.js, roomquestions.js) make their
 * elements: HTML elements from attributes and children, and a question's
 * chart (roomchart.js) as SVG.
 */

const SVG = 'http://www.w3.org/2000/svg';

/** el makes an element with attributes and children. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

/** svg makes an SVG element with attributes. */
function svg(tag, attrs = {}, text = '') {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text) e.textContent = text;
  return e;
}

/** chartElement draws a chart of roomchart.js as an <svg> with its shapes. */
export function chartElement(chart) {
  const s = svg('svg', chart.attrs);
  for (const sh of chart.shapes) s.append(svg(sh.tag, sh.attrs, sh.text));
  return s;
}
