/**
 * holders.js: who holds each core, on the timeline. A core lane's (a Go P,
 * the GIL) running spans are painted by holder (palette.js HOLDERS); here
 * the spans wide enough get the holder's name written on them, and the
 * holder's own lane gets a swatch of its colour in the gutter, so who had
 * each core reads without hovering.
 */

import { HOLDER_BASE, INK, makePattern, paintStyle } from './palette.js';

/** HOLDER_LABEL_MIN_W is the narrowest core span (CSS px at scale 1) that gets its holder's name written on it. */
export const HOLDER_LABEL_MIN_W = 36;

/**
 * collectHolderLabels notes the rectangles of a core lane (row) drawn by
 * holder and at least minW wide, with the instant in their middle, so that
 * their holders' names can be written over the pixels once they are put.
 */
export function collectHolderLabels(labels, row, lod, n, t0, t1, plotW, minW) {
  for (let i = 0; i < n && labels.length < 2000; i++) {
    const code = lod.state[i];
    const x0 = Math.max(0, lod.x0[i]);
    const x1 = Math.min(plotW, lod.x1[i]);
    if (code < HOLDER_BASE || x1 - x0 < minW) continue;
    labels.push({ row, code, x0, x1, t: t0 + ((x0 + x1) / 2) * ((t1 - t0) / plotW) });
  }
}

/**
 * drawHolderLabels writes on timeline tl, over each core span noted by
 * collectHolderLabels, the name of the lane holding the core, in the colour
 * that reads on the holder's fill.
 */
export function drawHolderLabels(tl, labels, originY) {
  const { ctx, sz, model } = tl;
  if (labels.length === 0) return;
  ctx.save();
  ctx.font = sz.small;
  ctx.textBaseline = 'middle';
  const plotX = sz.gutterW;
  for (const lb of labels) {
    const l = lb.row.lane;
    const i = l.indexAt(lb.t);
    if (i < 0) continue;
    const name = model.whyOf(l, i);
    if (!name) continue;
    const room = Math.floor((lb.x1 - lb.x0 - 6) / 8) * 8; // in steps, so the label cache is not churned
    const text = tl.fit_(name, room, sz.small);
    if (!text || text === '…') continue;
    const w = tl.textWidth(text, sz.small);
    const x = plotX + lb.x0 + 3;
    const y = originY + lb.row.y + lb.row.h / 2;
    // A plate in the holder's own colour keeps the text legible over its pattern.
    ctx.fillStyle = paintStyle(lb.code).fill;
    ctx.fillRect(x - 2, y - 7 * sz.scale, w + 4, 14 * sz.scale);
    ctx.fillStyle = paintStyle(lb.code).text || INK.text;
    ctx.fillText(text, x, y);
  }
  ctx.restore();
}

/** drawHolderSwatch draws, in timeline tl's gutter at height y, the swatch of holder paint code (none for -1). */
export function drawHolderSwatch(tl, code, y) {
  if (code < 0) return;
  const { ctx, sz } = tl;
  const side = 8 * sz.scale;
  const style = paintStyle(code);
  ctx.fillStyle = style.fill;
  ctx.fillRect(2, y - side / 2, side - 2, side);
  const pat = style.pattern ? makePattern(ctx, style.pattern, style.ink, tl.dpr) : null;
  if (pat) {
    ctx.fillStyle = pat;
    ctx.fillRect(2, y - side / 2, side - 2, side);
  }
}
