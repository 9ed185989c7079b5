// timeline-rows.js: the Timeline's rows in the viewport: the lane area
// painted as pixels (bands, grid, spans, "+N more" summaries), the gutter,
// the overlays and the replay line over it, and the labels (group headers,
// lane names, counter readings). Methods of Timeline (joined to its
// prototype in timeline.js), so `this` is the timeline being drawn.
import { MARK_COLOURS, INK, SELECTED } from './palette.js';
import { HOLDER_LABEL_MIN_W, collectHolderLabels, drawHolderLabels, drawHolderSwatch } from './holders.js';
import { drawSteps } from './stepmarks.js';
import { lodLane } from './lod.js';
import { formatValue } from './format.js';

export const rowMethods = {
  /**
   * drawRows draws the rows in the viewport: the lane area as pixels
   * (bands, grid, spans, summaries), then counters, lock marks, flows and
   * marks over it, then the labels in the gutter.
   */
  drawRows(tk) {
    const { ctx, sz, model } = this;
    const plotX = sz.gutterW;
    const plotW = this.plotW;
    const { t0, t1 } = this.view;
    const end = model.drawEnd;
    const cut = model.cut;
    const originY = sz.axisH - this.scrollY;
    const rows = this.visibleRows();
    const selected = this.selectedLane;

    // The lane area, in pixels; y is relative to the top of the viewport.
    const plot = this.plot;
    plot.begin(ctx, plotW, this.viewH, this.dpr, INK.background);
    plot.columns(tk.ticks.map((t) => t.x), 0, this.viewH, INK.grid);
    const out = this.lod;
    const holderLabels = [];
    for (const r of rows) {
      const y = r.y - this.scrollY;
      if (r.type === 'group') plot.band(y, r.h, INK.header);
      else if (r.type === 'summary') plot.band(y, r.h, INK.summary);
      if (r.type === 'lane') {
        const sel = r.lane.id === selected;
        if (sel) plot.band(y, r.h, SELECTED.band);
        const n = lodLane(r.lane, end, t0, t1, plotW, out, cut, r.lane.paint);
        plot.lane(y + sz.lanePad, r.h - 2 * sz.lanePad, out, n);
        if (r.lane.kind === 'cpu') collectHolderLabels(holderLabels, r, out, n, t0, t1, plotW, HOLDER_LABEL_MIN_W * sz.scale);
        if (sel) {
          plot.band(y, 1.5, SELECTED.edge);
          plot.band(y + r.h - 1.5, 1.5, SELECTED.edge);
        }
      } else if (r.type === 'summary') {
        plot.stack(y + 1, r.h - 2, this.summaryCounts(r), r.lanes.length, Math.ceil(plotW));
      }
      plot.band(y + r.h - 1 / this.dpr, 1 / this.dpr, INK.separator);
    }
    plot.put(ctx, plotX, sz.axisH);

    // Gutter bands and separators.
    for (const r of rows) {
      const y = originY + r.y;
      if (r.type === 'group') {
        ctx.fillStyle = INK.header;
        ctx.fillRect(0, y, plotX, r.h);
      } else if (r.type === 'lane' && r.lane.id === selected) {
        ctx.fillStyle = SELECTED.band;
        ctx.fillRect(0, y, plotX, r.h);
        ctx.fillStyle = SELECTED.edge;
        ctx.fillRect(0, y, 4 * sz.scale, r.h);
      }
      ctx.fillStyle = INK.separator;
      ctx.fillRect(0, y + r.h - 0.5, plotX, 0.5);
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(plotX, sz.axisH, plotW, this.viewH);
    ctx.clip();
    for (const r of rows) {
      if (r.type === 'counter') this.drawCounter(r, originY + r.y);
      if (r.type === 'lane' && r.lane.lockN > 0) this.drawLocks(r, originY + r.y);
    }
    drawHolderLabels(this, holderLabels, originY);
    this.drawFlows(originY);
    drawSteps(this, originY);
    this.drawMarks(originY);
    if (model.cursor !== null) {
      // The replay position: nothing right of it has happened yet.
      const x = plotX + this.xOf(model.cursor);
      ctx.fillStyle = MARK_COLOURS.now;
      ctx.fillRect(Math.round(x) - 1, sz.axisH, 2, this.viewH);
    } else if (!model.finished && model.events > 0) {
      const x = plotX + this.xOf(end);
      ctx.fillStyle = MARK_COLOURS.now;
      ctx.fillRect(Math.round(x), sz.axisH, 1.5, this.viewH);
    }
    ctx.restore();

    // Group headers span the whole width; other labels stay in the gutter.
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, sz.axisH, this.cssW, this.viewH);
    ctx.clip();
    ctx.textBaseline = 'middle';
    for (const r of rows) {
      if (r.type !== 'group') continue;
      ctx.font = sz.bold;
      ctx.fillStyle = INK.headerText;
      const n = r.group.lanes.length;
      const text = `${r.folded ? '▸' : '▾'} ${r.group.label} · ${n.toLocaleString('en')} lane${n === 1 ? '' : 's'}`;
      ctx.fillText(text, 8, originY + r.y + r.h / 2);
    }
    ctx.restore();
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, sz.axisH, plotX, this.viewH);
    ctx.clip();
    ctx.textBaseline = 'middle';
    for (const r of rows) {
      const y = originY + r.y + r.h / 2;
      if (r.type === 'lane') {
        this.drawLaneLabel(r.lane, y, r.lane.id === selected, r.lane.since >= cut);
      } else if (r.type === 'summary') {
        ctx.font = sz.bold;
        ctx.fillStyle = INK.text;
        ctx.fillText(this.fit_(`+${r.lanes.length.toLocaleString('en')} more`, sz.gutterW - 16, sz.bold), 14, y - 6 * sz.scale);
        ctx.font = sz.small;
        ctx.fillStyle = INK.muted;
        ctx.fillText('click to show all', 14, y + 7 * sz.scale);
      } else if (r.type === 'counter') {
        const c = r.counter;
        ctx.font = sz.bold;
        ctx.fillStyle = INK.text;
        ctx.fillText(this.fit_(c.name, sz.gutterW - 16, sz.bold), 8, y - 7 * sz.scale);
        ctx.font = sz.small;
        ctx.fillStyle = INK.muted;
        if (cut === Infinity) {
          const last = c.n > 0 ? c.v[c.n - 1] : 0;
          ctx.fillText(`now ${formatValue(last)} · max ${formatValue(c.max)}`, 8, y + 8 * sz.scale);
        } else {
          const v = c.valueAt(cut);
          ctx.fillText(v === undefined ? 'no value yet' : `${formatValue(v)} at the cursor`, 8, y + 8 * sz.scale);
        }
      }
    }
    ctx.restore();
  },

  /**
   * drawLaneLabel writes a lane's name, and its kind when both fit: the
   * name comes first. A selected lane's name is bold; a lane that had not
   * started yet at the replay cursor is greyed. A lane that held a core
   * carries a swatch of its holder colour, matching the core lanes' spans.
   */
  drawLaneLabel(lane, y, selected = false, future = false) {
    const { ctx, sz } = this;
    if (lane.kind !== 'cpu') drawHolderSwatch(this, this.model.holderPaint(lane.name), y);
    const indent = (lane.parent ? 18 : 10) + (selected ? 4 * sz.scale : 0);
    const room = sz.gutterW - indent - 6;
    const kind = lane.kind === 'cpu' ? 'core' : lane.kind;
    const kindW = kind ? this.textWidth(kind, sz.small) + 8 : 0;
    const font = selected ? sz.bold : sz.font;
    const both = kind && this.textWidth(lane.name, font) <= room - kindW;
    ctx.font = font;
    ctx.fillStyle = future ? INK.future : INK.text;
    ctx.fillText(both ? lane.name : this.fit_(lane.name, room, font), indent, y);
    if (both) {
      ctx.font = sz.small;
      ctx.fillStyle = INK.muted;
      ctx.fillText(kind, sz.gutterW - kindW, y);
    }
  },
};
