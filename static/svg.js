/**
 * svg.js: the timeline's current view as an SVG image, for slides.
 *
 * It draws what the canvas shows (Timeline.snapshot()): the lanes in the
 * viewport with their spans merged by lod.js (so an image of a million
 * spans stays a few thousand rectangles), each state in its colour and
 * pattern, group headers, counters, marks, the time axis and the replay
 * cursor. Text stays text. It is pure: tested without a browser.
 */

import { STATES, MARK_COLOURS, INK, SELECTED, HOLDER_BASE, PAINT_CODES, paintStyle } from './palette.js';
import { stepLabel } from './stepmarks.js';
import { lodLane, LodBuffer } from './lod.js';
import { PATTERN_MIN_W } from './raster.js';
import { formatDuration } from './axis.js';
import { formatValue } from './format.js';
import { upperBound, lowerBoundBy } from './model.js';

/** TILE is the side of a pattern tile (px). */
const TILE = 6;

/** escapeXML makes text safe inside an element or an attribute. */
export function escapeXML(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

/** paint splits a CSS colour into an SVG paint and opacity ("rgba(0,0,0,0.5)" → rgb(0,0,0) and 0.5). */
export function paint(colour) {
  const m = /^rgba\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*([\d.]+)\s*\)$/.exec(colour);
  if (!m) return { colour, opacity: 1 };
  return { colour: `rgb(${m[1]},${m[2]},${m[3]})`, opacity: Number(m[4]) };
}

/** n writes a coordinate with at most two decimals. */
function n(x) {
  return String(Math.round(x * 100) / 100);
}

/** paintID is the id of the <pattern> of a paint code: a state, or a core's holder. */
function paintID(code) {
  return code < HOLDER_BASE ? `st-${STATES[code]}` : `holder-${code - HOLDER_BASE}`;
}

/** patternDef is the <pattern> of a paint code's fill and pattern, or '' for a plain fill. */
function patternDef(code) {
  const style = paintStyle(code);
  if (!style || !style.pattern) return '';
  const { colour, opacity } = paint(style.ink);
  const stroke = `stroke="${colour}" stroke-opacity="${opacity}" stroke-width="1"`;
  const s = TILE;
  let ink = '';
  switch (style.pattern) {
    case 'hatch':
      ink = `<path d="M0 ${s}L${s} 0M${-s / 2} ${s / 2}L${s / 2} ${-s / 2}M${s / 2} ${s * 1.5}L${s * 1.5} ${s / 2}" ${stroke}/>`;
      break;
    case 'backhatch':
      ink = `<path d="M0 0L${s} ${s}M${-s / 2} ${s / 2}L${s / 2} ${s * 1.5}M${s / 2} ${-s / 2}L${s * 1.5} ${s / 2}" ${stroke}/>`;
      break;
    case 'cross':
      ink = `<path d="M0 ${s}L${s} 0M0 0L${s} ${s}" ${stroke}/>`;
      break;
    case 'dots':
      ink = `<circle cx="${s / 4}" cy="${s / 4}" r="0.9" fill="${colour}" fill-opacity="${opacity}"/><circle cx="${(s * 3) / 4}" cy="${(s * 3) / 4}" r="0.9" fill="${colour}" fill-opacity="${opacity}"/>`;
      break;
    case 'vlines':
      ink = `<path d="M${s / 2} 0V${s}" ${stroke}/>`;
      break;
    case 'hlines':
      ink = `<path d="M0 ${s / 2}H${s}" ${stroke}/>`;
      break;
    case 'grid':
      ink = `<path d="M${s / 2} 0V${s}M0 ${s / 2}H${s}" ${stroke}/>`;
      break;
    default:
      return '';
  }
  return `<pattern id="${paintID(code)}" width="${s}" height="${s}" patternUnits="userSpaceOnUse"><rect width="${s}" height="${s}" fill="${style.fill}"/>${ink}</pattern>`;
}

/**
 * timelineSVG returns an SVG document of a Timeline.snapshot(): the same
 * rows, spans, counters, marks, axis and cursor as on screen.
 * @param {ReturnType<import('./timeline.js').Timeline['snapshot']>} snap
 * @param {{title?: string}} [options]
 */
export function timelineSVG(snap, { title = '' } = {}) {
  const { width: W, height: H, gutterW: gx, axisH, plotW, t0, t1, scale } = snap;
  const k = plotW / (t1 - t0);
  const xOf = (t) => gx + (t - t0) * k;
  const font = 12 * scale;
  const small = 10.5 * scale;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="${n(font)}">`);
  if (title) out.push(`<title>${escapeXML(title)}</title>`);
  out.push('<defs>');
  for (let code = 0; code < PAINT_CODES; code++) {
    if (code < STATES.length || code >= HOLDER_BASE) out.push(patternDef(code));
  }
  out.push(`<clipPath id="plot"><rect x="${gx}" y="${axisH}" width="${n(plotW)}" height="${H - axisH}"/></clipPath>`);
  out.push(`<clipPath id="gutter"><rect x="0" y="${axisH}" width="${gx}" height="${H - axisH}"/></clipPath>`);
  out.push('</defs>');
  out.push(`<rect width="${W}" height="${H}" fill="${INK.background}"/>`);
  out.push(`<rect x="0" y="${axisH}" width="${gx}" height="${H - axisH}" fill="${INK.gutter}"/>`);

  // Grid, row bands and spans, clipped to the plot.
  out.push('<g clip-path="url(#plot)">');
  for (const tick of snap.ticks) out.push(`<rect x="${n(gx + tick.x)}" y="${axisH}" width="1" height="${H - axisH}" fill="${INK.grid}"/>`);
  const lod = new LodBuffer(2 * Math.ceil(plotW) + 16);
  const laneRows = new Map();
  for (const r of snap.rows) {
    if (r.type === 'group') out.push(`<rect x="${gx}" y="${n(r.y)}" width="${n(plotW)}" height="${r.h}" fill="${INK.header}"/>`);
    else if (r.type === 'summary') out.push(`<rect x="${gx}" y="${n(r.y)}" width="${n(plotW)}" height="${r.h}" fill="${INK.summary}"/>`);
    else if (r.type === 'lane') {
      laneRows.set(r.lane.id, r);
      const selected = r.lane.id === snap.selectedLane;
      if (selected) out.push(`<rect x="${gx}" y="${n(r.y)}" width="${n(plotW)}" height="${r.h}" fill="${SELECTED.band}"/>`);
      const count = lodLane(r.lane, snap.end, t0, t1, plotW, lod, snap.cut, r.lane.paint);
      const y = n(r.y + snap.lanePad);
      const h = n(r.h - 2 * snap.lanePad);
      for (let i = 0; i < count; i++) {
        const w = lod.x1[i] - lod.x0[i];
        const code = lod.state[i];
        const style = paintStyle(code);
        const fill = style.pattern && w >= PATTERN_MIN_W ? `url(#${paintID(code)})` : style.fill;
        out.push(`<rect x="${n(gx + lod.x0[i])}" y="${y}" width="${n(Math.max(w, 0.5))}" height="${h}" fill="${fill}"/>`);
      }
      if (selected) {
        out.push(`<rect x="${gx}" y="${n(r.y)}" width="${n(plotW)}" height="1.5" fill="${SELECTED.edge}"/>`);
        out.push(`<rect x="${gx}" y="${n(r.y + r.h - 1.5)}" width="${n(plotW)}" height="1.5" fill="${SELECTED.edge}"/>`);
      }
    } else if (r.type === 'counter') {
      out.push(counterPath(r, snap, xOf));
    }
    out.push(`<rect x="0" y="${n(r.y + r.h - 0.5)}" width="${W}" height="0.5" fill="${INK.separator}"/>`);
  }
  // Marks, up to the cursor.
  const marks = snap.marks;
  const stop = Math.min(t1, snap.cut);
  let drawn = 0;
  for (let i = lowerBoundBy(marks, t0); i < marks.length && marks[i].t <= stop && drawn < 500; i++) {
    const mk = marks[i];
    let y0 = axisH;
    let h = H - axisH;
    if (mk.lane) {
      const r = laneRows.get(mk.lane);
      if (!r) continue;
      y0 = r.y;
      h = r.h;
    }
    drawn++;
    const x = xOf(mk.t);
    out.push(`<rect x="${n(x - 1)}" y="${n(y0)}" width="2" height="${n(h)}" fill="${MARK_COLOURS.mark}"/>`);
    out.push(`<text x="${n(x + 4)}" y="${n(y0 + Math.min(h / 2, 10 * scale))}" dominant-baseline="middle" font-size="${n(small)}" fill="${MARK_COLOURS.mark}">${escapeXML(mk.label)}</text>`);
  }
  // A step run's steps: a tick on the thread's lane and the line it stopped before.
  const steps = snap.steps || [];
  drawn = 0;
  for (let i = lowerBoundBy(steps, t0); i < steps.length && steps[i].t <= stop && drawn < 5000; i++) {
    const st = steps[i];
    const r = laneRows.get(st.lane);
    if (!r) continue;
    drawn++;
    const x = xOf(st.t);
    const h = Math.max(4, r.h * 0.6);
    out.push(`<rect x="${n(x - 1)}" y="${n(r.y + r.h - h)}" width="2" height="${n(h)}" fill="${MARK_COLOURS.step}"/>`);
    out.push(`<text x="${n(x + 3)}" y="${n(r.y + r.h - 1)}" font-size="${n(small)}" fill="${MARK_COLOURS.step}">${escapeXML(stepLabel(st))}</text>`);
  }
  if (snap.cursor !== null) {
    out.push(`<rect x="${n(xOf(snap.cursor) - 1)}" y="${axisH}" width="2" height="${H - axisH}" fill="${MARK_COLOURS.now}"/>`);
  }
  out.push('</g>');

  // Group headers across the width, other labels in the gutter.
  for (const r of snap.rows) {
    const cy = n(r.y + r.h / 2);
    if (r.type === 'group') {
      const count = r.group.lanes.length;
      out.push(`<rect x="0" y="${n(r.y)}" width="${gx}" height="${r.h}" fill="${INK.header}"/>`);
      out.push(`<text x="8" y="${cy}" dominant-baseline="middle" font-weight="600" fill="${INK.headerText}">${escapeXML(`${r.folded ? '▸' : '▾'} ${r.group.label} · ${count.toLocaleString('en')} lane${count === 1 ? '' : 's'}`)}</text>`);
    }
  }
  out.push('<g clip-path="url(#gutter)">');
  for (const r of snap.rows) {
    const cy = r.y + r.h / 2;
    if (r.type === 'lane') {
      const selected = r.lane.id === snap.selectedLane;
      if (selected) {
        out.push(`<rect x="0" y="${n(r.y)}" width="${gx}" height="${r.h}" fill="${SELECTED.band}"/>`);
        out.push(`<rect x="0" y="${n(r.y)}" width="${n(4 * scale)}" height="${r.h}" fill="${SELECTED.edge}"/>`);
      }
      const indent = (r.lane.parent ? 18 : 10) + (selected ? 4 * scale : 0);
      const colour = r.lane.since >= snap.cut ? '#9a9a9a' : INK.text;
      out.push(`<text x="${n(indent)}" y="${n(cy)}" dominant-baseline="middle"${selected ? ' font-weight="600"' : ''} fill="${colour}">${escapeXML(r.lane.name)}</text>`);
    } else if (r.type === 'summary') {
      out.push(`<text x="14" y="${n(cy)}" dominant-baseline="middle" font-weight="600" fill="${INK.text}">+${r.lanes.length.toLocaleString('en')} more</text>`);
    } else if (r.type === 'counter') {
      const c = r.counter;
      const v = snap.cut === Infinity ? (c.n > 0 ? c.v[c.n - 1] : undefined) : c.valueAt(snap.cut);
      out.push(`<text x="8" y="${n(cy - 7 * scale)}" dominant-baseline="middle" font-weight="600" fill="${INK.text}">${escapeXML(c.name)}</text>`);
      out.push(`<text x="8" y="${n(cy + 8 * scale)}" dominant-baseline="middle" font-size="${n(small)}" fill="${INK.muted}">${v === undefined ? 'no value yet' : escapeXML(formatValue(v))}</text>`);
    }
  }
  out.push('</g>');

  // The axis.
  out.push(`<rect x="0" y="0" width="${W}" height="${axisH}" fill="${INK.background}"/>`);
  out.push(`<rect x="0" y="${axisH - 1}" width="${W}" height="1" fill="${INK.separator}"/>`);
  for (const tick of snap.ticks) {
    const x = n(gx + Math.round(tick.x));
    out.push(`<rect x="${x}" y="${axisH - 6}" width="1" height="6" fill="${INK.text}"/>`);
    out.push(`<text x="${n(gx + Math.round(tick.x) + 3)}" y="${n(axisH / 2 - 1)}" dominant-baseline="middle" font-size="${n(small)}" fill="${INK.text}">${escapeXML(tick.label)}</text>`);
  }
  out.push(`<rect x="0" y="0" width="${gx}" height="${axisH - 1}" fill="${INK.gutter}"/>`);
  out.push(`<text x="8" y="${n(axisH / 2 - 1)}" dominant-baseline="middle" font-size="${n(small)}" fill="${INK.muted}">window ${escapeXML(formatDuration(t1 - t0))}</text>`);
  out.push('</svg>');
  return out.filter(Boolean).join('\n');
}

/** counterPath draws a counter row as a step line up to the cursor, one vertical segment per pixel column. */
function counterPath(r, snap, xOf) {
  const c = r.counter;
  const count = upperBound(c.t, snap.cut, 0, c.n);
  if (count === 0) return '';
  const scale = snap.scale;
  const lo = Math.min(0, c.min);
  const hi = c.max > lo ? c.max : lo + 1;
  const top = r.y + 6 * scale;
  const h = r.h - 12 * scale;
  const yOf = (v) => top + h - ((v - lo) / (hi - lo)) * h;
  const stop = Math.min(snap.t1, snap.cut);
  let i = Math.max(0, upperBound(c.t, snap.t0, 0, count) - 1);
  let x = Math.max(snap.gutterW, xOf(c.t[i]));
  let level = yOf(c.v[i]);
  const d = [`M${n(x)} ${n(level)}`];
  let col = Math.floor(x);
  let minY = level;
  let maxY = level;
  // Many samples in one pixel column become one vertical stroke from their
  // lowest to their highest value, ending at the last one.
  const flush = () => {
    if (minY !== maxY) d.push(`V${n(minY)}V${n(maxY)}`);
    d.push(`V${n(level)}`);
  };
  for (i++; i < count && c.t[i] <= stop; i++) {
    const xi = xOf(c.t[i]);
    const yi = yOf(c.v[i]);
    if (Math.floor(xi) === col) {
      if (yi < minY) minY = yi;
      if (yi > maxY) maxY = yi;
      level = yi;
      continue;
    }
    flush();
    d.push(`H${n(xi)}V${n(yi)}`);
    col = Math.floor(xi);
    level = minY = maxY = yi;
    x = xi;
  }
  flush();
  const xEnd = Math.min(snap.gutterW + snap.plotW, xOf(snap.end));
  if (xEnd > x) d.push(`H${n(xEnd)}`);
  return `<path d="${d.join('')}" fill="none" stroke="${MARK_COLOURS.counter}" stroke-width="${n(1.5 * scale)}"/>`;
}

