/**
 * stepmarks.js: a step run's steps on the timeline. Where a stepped thread
 * stopped, a tick on its lane from the bottom, labelled with the line it
 * stopped before (L12; ↩ when its function returned) where labels fit, so
 * the interleaving reads along the lanes.
 */

import { MARK_COLOURS } from './palette.js';
import { lowerBoundBy } from './model.js';

/** stepLabel is what a step's tick says: the line its thread stopped before. */
export function stepLabel(step) {
  return step.line > 0 ? `L${step.line}` : '↩';
}

/** drawSteps draws the steps of timeline tl's model in its window, up to the cut. */
export function drawSteps(tl, originY) {
  const { ctx, sz, model } = tl;
  const steps = model.steps;
  if (!steps || steps.length === 0) return;
  const t1 = Math.min(tl.view.t1, model.cut);
  const plotX = sz.gutterW;
  ctx.font = sz.small;
  ctx.textBaseline = 'bottom';
  const ticks = new Path2D();
  const lastLabel = new Map();
  let drawn = 0;
  for (let i = lowerBoundBy(steps, tl.view.t0); i < steps.length && steps[i].t <= t1 && drawn < 5000; i++) {
    const st = steps[i];
    const r = tl.laneRows.get(st.lane);
    if (!r) continue;
    const y = originY + r.y;
    if (y + r.h < sz.axisH || y > tl.cssH) continue;
    drawn++;
    const x = plotX + tl.xOf(st.t);
    const h = Math.max(4, r.h * 0.6);
    ticks.rect(x - 1, y + r.h - h, 2, h);
    const label = stepLabel(st);
    const w = tl.textWidth(label, sz.small);
    if (x - (lastLabel.get(st.lane) ?? -Infinity) < w + 6) continue;
    lastLabel.set(st.lane, x);
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(x + 2, y + r.h - h, w + 3, h);
    ctx.fillStyle = MARK_COLOURS.step;
    ctx.fillText(label, x + 3, y + r.h - 1);
  }
  ctx.fillStyle = MARK_COLOURS.step;
  ctx.fill(ticks);
}
