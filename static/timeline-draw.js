// timeline-draw.js: the Timeline's overlays beside its lanes: "+N more"
// summary rows, counters, lock operations, hand-off arrows, marks, the time
// axis and the scrollbar. Methods of Timeline (joined to its prototype in
// timeline.js), so `this` is the timeline being drawn.
import { STATES, INK, MARK_COLOURS } from './palette.js';
import { lodLane } from './lod.js';
import { ticks, formatDuration } from './axis.js';
import { formatValue } from './format.js';
import { LOCK_OP, upperBound, lowerBoundBy } from './model.js';

export const overlayMethods = {
  /**
   * summaryCounts counts, for each pixel column, how many of a "+N more"
   * row's hidden lanes are in each state: one array per state.
   */
  summaryCounts(row) {
    const W = Math.ceil(this.plotW) + 1;
    if (!this.counts || this.counts[0].length !== W) {
      this.counts = STATES.map(() => new Float64Array(W));
    }
    const counts = this.counts;
    for (const c of counts) c.fill(0);
    const out = this.lod;
    const end = this.model.drawEnd;
    const cut = this.model.cut;
    for (const lane of row.lanes) {
      const n = lodLane(lane, end, this.view.t0, this.view.t1, this.plotW, out, cut);
      for (let i = 0; i < n; i++) {
        const a = Math.max(0, Math.floor(out.x0[i]));
        const b = Math.min(W - 1, Math.max(a + 1, Math.ceil(out.x1[i])));
        const c = counts[out.state[i]];
        c[a] += 1; // difference array: +1 where the span starts, -1 after it ends
        c[b] -= 1;
      }
    }
    for (const c of counts) {
      for (let x = 1; x < W; x++) c[x] += c[x - 1];
    }
    return counts;
  },

  /** drawCounter draws a counter as a step line, one vertical segment per pixel column. */
  drawCounter(row, y) {
    const { ctx, sz } = this;
    const c = row.counter;
    if (c.n === 0) return;
    const plotX = sz.gutterW;
    const lo = Math.min(0, c.min);
    const hi = c.max > lo ? c.max : lo + 1;
    const top = y + 6 * sz.scale;
    const h = row.h - 12 * sz.scale;
    const yOf = (v) => top + h - ((v - lo) / (hi - lo)) * h;
    const { t0 } = this.view;
    const t1 = Math.min(this.view.t1, this.model.cut);
    const n = upperBound(c.t, this.model.cut, 0, c.n);
    if (n === 0) return;
    let i = Math.max(0, upperBound(c.t, t0, 0, n) - 1);
    ctx.beginPath();
    let x = Math.max(0, this.xOf(c.t[i]));
    let level = yOf(c.v[i]);
    ctx.moveTo(plotX + x, level);
    let col = Math.floor(x);
    let minY = level;
    let maxY = level;
    for (i++; i < n && c.t[i] <= t1; i++) {
      const xi = this.xOf(c.t[i]);
      const yi = yOf(c.v[i]);
      if (Math.floor(xi) === col) {
        if (yi < minY) minY = yi;
        if (yi > maxY) maxY = yi;
        level = yi;
        continue;
      }
      if (minY !== maxY) {
        ctx.lineTo(plotX + col + 0.5, minY);
        ctx.lineTo(plotX + col + 0.5, maxY);
      }
      ctx.lineTo(plotX + col + 0.5, level);
      ctx.lineTo(plotX + xi, level);
      ctx.lineTo(plotX + xi, yi);
      col = Math.floor(xi);
      level = minY = maxY = yi;
    }
    const xEnd = Math.min(this.plotW, this.xOf(this.model.drawEnd));
    if (minY !== maxY) {
      ctx.lineTo(plotX + col + 0.5, minY);
      ctx.lineTo(plotX + col + 0.5, maxY);
      ctx.lineTo(plotX + col + 0.5, level);
    }
    ctx.lineTo(plotX + Math.max(xEnd, col), level);
    ctx.strokeStyle = MARK_COLOURS.counter;
    ctx.lineWidth = 1.5 * sz.scale;
    ctx.stroke();
    ctx.fillStyle = INK.muted;
    ctx.font = sz.small;
    ctx.textBaseline = 'top';
    ctx.fillText(formatValue(hi), plotX + 4, y + 2);
    ctx.textBaseline = 'middle';
  },

  /** drawLocks marks lock events on a lane: want ▽ (outline), got ▼ (filled), free (a short tick). */
  drawLocks(row, y) {
    const { ctx, sz } = this;
    const l = row.lane;
    const { t0 } = this.view;
    const t1 = Math.min(this.view.t1, this.model.cut);
    const first = upperBound(l.lockT, t0, 0, l.lockN);
    const last = upperBound(l.lockT, t1, 0, l.lockN);
    if (last - first > this.plotW * 2) return; // too dense to read: the spans say it
    const plotX = sz.gutterW;
    const s = 4 * sz.scale;
    const want = new Path2D();
    const got = new Path2D();
    let lastX = -10;
    for (let i = first; i < last; i++) {
      const x = plotX + this.xOf(l.lockT[i]);
      if (x - lastX < 3) continue;
      lastX = x;
      const op = l.lockOp[i];
      if (op === LOCK_OP.free) {
        got.rect(x - 0.5, y + row.h - s, 1, s);
        continue;
      }
      const p = op === LOCK_OP.want ? want : got;
      p.moveTo(x - s, y + 1);
      p.lineTo(x + s, y + 1);
      p.lineTo(x, y + 1 + s * 1.4);
      p.closePath();
    }
    ctx.fillStyle = '#ffffff';
    ctx.fill(want);
    ctx.strokeStyle = MARK_COLOURS.lockWant;
    ctx.lineWidth = 1.25;
    ctx.stroke(want);
    ctx.fillStyle = MARK_COLOURS.lockGot;
    ctx.fill(got);
  },

  /** drawFlows draws an arrow per flow between two lanes on screen. */
  drawFlows(originY) {
    const { ctx, sz, model } = this;
    const flows = model.flows;
    if (flows.length === 0) return;
    const { t0 } = this.view;
    const t1 = Math.min(this.view.t1, model.cut);
    let i = lowerBoundBy(flows, t0);
    const plotX = sz.gutterW;
    const top = this.scrollY;
    const bottom = this.scrollY + this.viewH;
    const path = new Path2D();
    const heads = new Path2D();
    const labels = [];
    let drawn = 0;
    let lastX = -10;
    for (; i < flows.length && flows[i].t <= t1 && drawn < 3000; i++) {
      const f = flows[i];
      const a = this.laneRows.get(f.from);
      const b = this.laneRows.get(f.to);
      if (!a || !b || a === b) continue;
      const ya = a.y + a.h / 2;
      const yb = b.y + b.h / 2;
      if (Math.max(ya, yb) < top || Math.min(ya, yb) > bottom) continue;
      const x = plotX + this.xOf(f.t);
      // On a projector arrows closer than a few pixels would smear into a band.
      if (this.presenter ? Math.abs(x - lastX) < 6 * sz.scale : Math.abs(x - lastX) < 2 && drawn > 200) continue;
      lastX = x;
      drawn++;
      const y0 = originY + ya;
      const y1 = originY + yb;
      const bend = Math.min(14, Math.abs(y1 - y0) / 3) * sz.scale;
      path.moveTo(x, y0);
      path.bezierCurveTo(x + bend, y0, x + bend, y1, x, y1 - Math.sign(y1 - y0) * 2);
      const dir = Math.sign(y1 - y0) || 1;
      const s = 4 * sz.scale;
      heads.moveTo(x, y1);
      heads.lineTo(x - s * 0.8, y1 - dir * s * 1.4);
      heads.lineTo(x + s * 0.8, y1 - dir * s * 1.4);
      heads.closePath();
      if (f.label) labels.push([x + bend + 3, (y0 + y1) / 2, f.label]);
    }
    ctx.strokeStyle = MARK_COLOURS.flow;
    ctx.globalAlpha = 0.8;
    ctx.lineWidth = 1.25 * sz.scale;
    ctx.stroke(path);
    ctx.globalAlpha = 1;
    ctx.fillStyle = MARK_COLOURS.flow;
    ctx.fill(heads);
    if (labels.length <= 60) {
      // Label the arrows whose labels do not overlap one already drawn.
      ctx.font = sz.small;
      ctx.textBaseline = 'middle';
      const lh = 14 * sz.scale;
      const placed = [];
      for (const [x, y, text] of labels) {
        const w = this.textWidth(text, sz.small) + 2;
        if (placed.some((b) => x < b.x + b.w && b.x < x + w && Math.abs(y - b.y) < lh)) continue;
        placed.push({ x, y, w });
        ctx.fillStyle = 'rgba(255,255,255,0.85)';
        ctx.fillRect(x - 1, y - lh / 2, w, lh);
        ctx.fillStyle = MARK_COLOURS.flow;
        ctx.fillText(text, x, y);
      }
    }
  },

  /** drawMarks draws marks as labelled ticks: on their lane, or across the run when they have none. */
  drawMarks(originY) {
    const { ctx, sz, model } = this;
    const marks = model.marks;
    if (marks.length === 0) return;
    const t1 = Math.min(this.view.t1, model.cut);
    const plotX = sz.gutterW;
    ctx.font = sz.small;
    ctx.textBaseline = 'middle';
    const lh = 14 * sz.scale;
    const placed = [];
    let drawn = 0;
    for (let i = lowerBoundBy(marks, this.view.t0); i < marks.length && marks[i].t <= t1 && drawn < 500; i++) {
      const mk = marks[i];
      const x = plotX + this.xOf(mk.t);
      let y0;
      let h;
      if (mk.lane) {
        const r = this.laneRows.get(mk.lane);
        if (!r) continue;
        y0 = originY + r.y;
        h = r.h;
      } else {
        y0 = this.sz.axisH;
        h = this.viewH;
      }
      if (y0 + h < sz.axisH || y0 > this.cssH) continue;
      drawn++;
      ctx.fillStyle = MARK_COLOURS.mark;
      ctx.fillRect(x - 1, y0, 2, h);
      const w = this.textWidth(mk.label, sz.small);
      // The label goes right of the tick, or left of it near the right edge,
      // and one line lower when it would cover another label.
      const lx = x + w + 10 > plotX + this.plotW ? Math.max(plotX + 2, x - w - 7) : x + 3;
      let ly = mk.lane ? y0 + h / 2 : y0 + lh / 2 + 2;
      let tries = 0;
      while (placed.some((b) => lx < b.x + b.w && b.x < lx + w + 4 && Math.abs(ly - b.y) < lh) && tries++ < 4) ly += lh;
      if (tries > 4) continue;
      placed.push({ x: lx, y: ly, w: w + 4 });
      ctx.fillStyle = 'rgba(255,255,255,0.9)';
      ctx.fillRect(lx, ly - lh / 2, w + 4, lh);
      ctx.fillStyle = MARK_COLOURS.mark;
      ctx.fillText(mk.label, lx + 2, ly);
    }
  },

  /** drawAxis draws the time axis with its tick labels. */
  drawAxis(tk) {
    const { ctx, sz } = this;
    const plotX = sz.gutterW;
    ctx.fillStyle = INK.background;
    ctx.fillRect(0, 0, this.cssW, sz.axisH);
    ctx.fillStyle = INK.separator;
    ctx.fillRect(0, sz.axisH - 1, this.cssW, 1);
    ctx.font = sz.small;
    ctx.textBaseline = 'middle';
    ctx.fillStyle = INK.text;
    for (const t of tk.ticks) {
      const x = plotX + Math.round(t.x);
      ctx.fillRect(x, sz.axisH - 6, 1, 6);
      ctx.fillText(t.label, x + 3, sz.axisH / 2 - 1);
    }
    const cursor = this.model ? this.model.cursor : null;
    if (cursor !== null) {
      const x = plotX + this.xOf(cursor);
      if (x >= plotX && x <= plotX + this.plotW) {
        // A handle on the axis above the cursor line.
        const s = 6 * sz.scale;
        ctx.beginPath();
        ctx.moveTo(x - s, sz.axisH - s * 1.4);
        ctx.lineTo(x + s, sz.axisH - s * 1.4);
        ctx.lineTo(x, sz.axisH);
        ctx.closePath();
        ctx.fillStyle = MARK_COLOURS.now;
        ctx.fill();
      }
    }
    ctx.fillStyle = INK.gutter;
    ctx.fillRect(0, 0, sz.gutterW, sz.axisH - 1);
    ctx.fillStyle = INK.muted;
    const span = this.view.t1 - this.view.t0;
    ctx.fillText(`window ${formatDuration(span)}`, 8, sz.axisH / 2 - 1);
  },

  /** drawScrollbar shows where the viewport is when the lanes do not all fit. */
  drawScrollbar() {
    if (this.contentH <= this.viewH) return;
    const { ctx, sz } = this;
    const h = this.viewH;
    const barH = Math.max(20, (h * h) / this.contentH);
    const y = sz.axisH + (this.scrollY / (this.contentH - h)) * (h - barH);
    ctx.fillStyle = 'rgba(0,0,0,0.35)';
    ctx.fillRect(this.cssW - 6, y, 4, barH);
  },
};
