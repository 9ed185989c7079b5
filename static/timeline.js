/**
 * timeline.js: the canvas timeline of a run.
 *
 * Lanes are drawn in groups with headers (by group, else process), each
 * state as a rectangle in its colour and pattern, merged to at most about
 * two rectangles per pixel by lod.js and painted as pixels by raster.js,
 * with lock marks, flow arrows, marks, one counter track per counter and a
 * time axis. Only the rows inside the scrolled viewport are drawn, so a
 * frame costs about the pixels on screen rather than the spans in the run.
 *
 * The visible window [t0, t1] and follow-live live in a TimeView
 * (timeview.js), the timeline's own or one shared by timelines stacked on a
 * page so that they move together. The timeline owns the vertical scroll
 * and the mouse: drag to pan, wheel to zoom around the pointer, Shift+wheel
 * to scroll, click a group header to fold it, click a "+N more" lane to show
 * every lane of its group, click a lane to select it, click the time axis
 * to move the replay there. Keyboard shortcuts are wired by the page
 * controller to the public methods.
 *
 * A replay cursor (RunModel.cursor) cuts the run: only what had happened
 * before it is drawn, and a line marks it.
 */

import { STATES, STYLE, MARK_COLOURS, INK, SELECTED, makePattern } from './palette.js';
import { HOLDER_LABEL_MIN_W, collectHolderLabels, drawHolderLabels, drawHolderSwatch } from './holders.js';
import { drawSteps } from './stepmarks.js';
import { lodLane, LodBuffer } from './lod.js';
import { PixelPlot } from './raster.js';
import { ticks, formatDuration } from './axis.js';
import { formatValue } from './format.js';
import { LOCK_OP, groupLanes, collapseGroup, upperBound, lowerBoundBy } from './model.js';
import { TimeView } from './timeview.js';

/**
 * sizes returns the row sizes and fonts for normal or large type, or for
 * the presenter's projector (read from the back of a room at 1920×1080).
 */
function sizes(large, presenter = false) {
  const s = presenter ? (large ? 2 : 1.75) : (large ? 1.5 : 1);
  const family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  return {
    scale: s,
    axisH: Math.round(26 * s),
    laneH: Math.round(18 * s),
    lanePad: Math.max(2, Math.round(2 * s)),
    headerH: Math.round(22 * s),
    counterH: Math.round(46 * s),
    summaryH: Math.round(32 * s),
    gutterW: Math.round(190 * s),
    rightPad: 10,
    font: `${Math.round(12 * s)}px ${family}`,
    small: `${Math.round(10.5 * s)}px ${family}`,
    bold: `600 ${Math.round(12 * s)}px ${family}`,
  };
}

/**
 * Timeline draws a RunModel on a canvas.
 */
export class Timeline {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {object} [options]
   * @param {HTMLElement} [options.tooltip] element shown on hover
   * @param {boolean} [options.interactive=true] attach mouse handlers
   * @param {{width:number, height:number}} [options.size] fixed CSS size (no resize observer)
   * @param {(t: Timeline) => void} [options.onViewChange] called when the view or a toggle changes
   * @param {TimeView} [options.view] a window shared with other timelines (default: its own)
   * @param {number} [options.maxHeight] the tallest the canvas grows (CSS px)
   * @param {number} [options.minHeight=180] the shortest it gets (CSS px)
   * @param {(laneId: string) => void} [options.onSelectLane] called when a click selects a lane ('' to clear)
   * @param {(t: number) => void} [options.onSeek] called with the time clicked on the axis
   */
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.tooltip = options.tooltip || null;
    this.onViewChange = options.onViewChange || (() => {});
    this.fixedSize = options.size || null;
    this.onSelectLane = options.onSelectLane || null;
    this.onSeek = options.onSeek || null;
    this.maxHeight = options.maxHeight || 0;
    this.minHeight = options.minHeight || 180;
    this.model = null;
    /** tv holds the visible window and follow-live, maybe shared with other timelines. */
    this.tv = options.view || new TimeView();
    this.tv.join(this);
    this.scrollY = 0;
    /** selectedLane is the id of the highlighted lane, or ''. */
    this.selectedLane = '';
    this.showSched = false;
    this.large = false;
    /** presenter sizes rows and fonts for a projector and fits the gutter to the lane names (see setPresenter). */
    this.presenter = false;
    this.collapsed = new Set();
    this.expanded = new Set();
    this.layoutKey = '';
    this.rows = [];
    this.laneRows = new Map();
    this.contentH = 0;
    this.cssW = 0;
    this.cssH = 0;
    this.dpr = 1;
    this.sz = sizes(false);
    this.lod = new LodBuffer(4096);
    this.plot = new PixelPlot();
    this.counts = null;
    this.labelCache = new Map();
    this.frameRequested = 0;
    this.drawnVersion = -1;
    this.pointer = null;
    this.hoverAt = null;
    if (options.interactive !== false) this.attachInput();
    this.resize();
  }

  /** view is the visible time window in ns since the run started. */
  get view() {
    return this.tv.view;
  }

  /** follow keeps the live end of the run in view. */
  get follow() {
    return this.tv.follow;
  }

  /** fitAll shows the whole run while following. */
  get fitAll() {
    return this.tv.fitAll;
  }

  /**
   * setModel shows another run, fitting the view and following it while
   * live. A timeline that shares its window with others leaves it alone.
   */
  setModel(model) {
    this.model = model;
    this.layoutKey = '';
    this.scrollY = 0;
    if (this.tv.members.size <= 1) {
      this.tv.reset();
      // A finished run (a replay, a benchmark) opens fitted to its length.
      if (model && model.finished) this.setView(0, this.runEnd() * 1.02);
    }
    this.requestRender();
  }

  // ---- geometry ----------------------------------------------------------

  /** plotW is the width of the time area in CSS pixels. */
  get plotW() {
    return Math.max(10, this.cssW - this.sz.gutterW - this.sz.rightPad);
  }

  /** viewH is the height of the scrolled lane area in CSS pixels. */
  get viewH() {
    return Math.max(0, this.cssH - this.sz.axisH);
  }

  /** xOf converts a time to an x in the plot (CSS px from the plot's left edge). */
  xOf(t) {
    return ((t - this.view.t0) / (this.view.t1 - this.view.t0)) * this.plotW;
  }

  /** tOf converts an x in the plot to a time. */
  tOf(x) {
    return this.view.t0 + (x / this.plotW) * (this.view.t1 - this.view.t0);
  }

  /** runEnd is the end of the run so far (ns; of the longest run when the window is shared), at least a small window. */
  runEnd() {
    return this.tv.runEnd();
  }

  /** resize matches the canvas to its CSS size and the device pixel ratio. */
  resize() {
    const dpr = (typeof window !== 'undefined' && window.devicePixelRatio) || 1;
    let w;
    if (this.fixedSize) w = this.fixedSize.width;
    else w = this.canvas.parentElement ? this.canvas.parentElement.clientWidth : this.canvas.clientWidth;
    w = Math.max(200, Math.floor(w || 800));
    const h = this.desiredHeight();
    if (w === this.cssW && h === this.cssH && dpr === this.dpr) return false;
    if (w !== this.cssW) {
      this.cssW = w;
      this.applySizes();
    }
    this.cssH = h;
    this.dpr = dpr;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.clampScroll();
    return true;
  }

  /** applySizes picks row sizes and fonts for the type size, with a gutter that leaves a narrow screen room for time. */
  applySizes() {
    this.sz = sizes(this.large, this.presenter);
    if (this.cssW > 0) this.sz.gutterW = Math.min(this.sz.gutterW, Math.max(90, Math.round(this.cssW * 0.28)));
    this.labelCache.clear();
    this.layoutKey = '';
  }

  /**
   * fitGutter widens the gutter to the longest lane label shown (name,
   * indent and kind), up to 40 % of the width, so that on a projector no
   * name is cut.
   */
  fitGutter(lanes) {
    const sz = this.sz;
    let need = 0;
    for (const lane of lanes) {
      const kind = lane.kind === 'cpu' ? 'core' : lane.kind;
      const w = (lane.parent ? 18 : 10) + 4 * sz.scale + this.textWidth(lane.name, sz.bold) + (kind ? this.textWidth(kind, sz.small) + 8 : 0) + 10;
      if (w > need) need = w;
    }
    const min = Math.round(190 * sz.scale);
    sz.gutterW = Math.round(Math.min(Math.max(min, need), Math.max(min, this.cssW * 0.4)));
  }

  /** desiredHeight fits the content, within bounds that keep the page usable. */
  desiredHeight() {
    if (this.fixedSize) return this.fixedSize.height;
    const inner = (typeof window !== 'undefined' && window.innerHeight) || 900;
    let max = Math.max(280, Math.round(inner * 0.72));
    if (this.maxHeight) max = Math.min(max, this.maxHeight);
    return Math.min(max, Math.max(this.minHeight, this.sz.axisH + this.contentH + 6));
  }

  // ---- layout ------------------------------------------------------------

  /** layout computes the rows (counters, group headers, lanes, summaries) when the structure changed. */
  layout() {
    const m = this.model;
    const key = m ? `${m.structure}|${this.showSched}|${this.large}|${this.presenter}|${[...this.collapsed]}|${[...this.expanded]}` : 'none';
    if (key === this.layoutKey) return;
    this.layoutKey = key;
    const sz = this.sz;
    const rows = [];
    const laneRows = new Map();
    const shownLanes = [];
    let y = 0;
    if (m) {
      const counters = [...m.counters.values()].sort((a, b) => a.order - b.order);
      for (const c of counters) {
        rows.push({ type: 'counter', y, h: sz.counterH, counter: c });
        y += sz.counterH;
      }
      for (const g of groupLanes(m.laneList, this.showSched)) {
        const folded = this.collapsed.has(g.key);
        rows.push({ type: 'group', y, h: sz.headerH, group: g, folded });
        y += sz.headerH;
        if (folded) continue;
        const { shown, hidden } = collapseGroup(g.lanes, this.expanded.has(g.key));
        if (this.presenter) shownLanes.push(...shown);
        for (const lane of shown) {
          const row = { type: 'lane', y, h: sz.laneH, lane, group: g };
          rows.push(row);
          laneRows.set(lane.id, row);
          y += sz.laneH;
        }
        if (hidden.length > 0) {
          rows.push({ type: 'summary', y, h: sz.summaryH, lanes: hidden, group: g });
          y += sz.summaryH;
        }
      }
    }
    this.rows = rows;
    this.laneRows = laneRows;
    this.contentH = y;
    if (this.presenter) this.fitGutter(shownLanes);
    this.resize();
    this.clampScroll();
  }

  /** firstRowAt returns the index of the first row whose bottom is below y. */
  firstRowAt(y) {
    let lo = 0;
    let hi = this.rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.rows[mid];
      if (r.y + r.h <= y) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // ---- view changes ------------------------------------------------------

  /** setView sets the visible window, clamped to the run. */
  setView(t0, t1) {
    this.tv.set(t0, t1);
  }

  /** zoomAt zooms by factor (< 1 zooms in) around plot x (default: the middle, or the live end while following). */
  zoomAt(factor, x) {
    this.tv.zoom(factor, x === undefined ? undefined : x / this.plotW);
  }

  /** panBy moves the window by dx CSS pixels (positive: later in time); it stops following. */
  panBy(dx) {
    this.tv.pan(dx * ((this.view.t1 - this.view.t0) / this.plotW));
  }

  /** scrollBy scrolls the lanes by dy CSS pixels. */
  scrollBy(dy) {
    this.scrollY += dy;
    this.clampScroll();
    this.requestRender();
  }

  clampScroll() {
    const max = Math.max(0, this.contentH - this.viewH);
    this.scrollY = Math.min(Math.max(0, this.scrollY), max);
  }

  /** fit shows the whole run; while live it also resumes following. */
  fit() {
    this.tv.fit();
  }

  /** setFollow turns following the live end on or off. */
  setFollow(on) {
    this.tv.setFollow(on);
  }

  /** setSched shows or hides the real Go scheduler's lanes. */
  setSched(on) {
    this.showSched = on;
    this.requestRender();
    this.onViewChange(this);
  }

  /** setPresenter switches the projector sizes and the gutter fitted to the names (a workshop's presenter). */
  setPresenter(on) {
    this.presenter = on;
    this.applySizes();
    this.requestRender();
  }

  /** setLarge switches large type (bigger rows and fonts). */
  setLarge(on) {
    this.large = on;
    this.applySizes();
    this.labelCache.clear();
    this.layoutKey = '';
    this.requestRender();
  }

  /** selectLane highlights a lane ('' for none). */
  selectLane(id) {
    if (this.selectedLane === id) return;
    this.selectedLane = id || '';
    this.requestRender();
  }

  /** scrollToLane scrolls the lanes so that lane id is in view; false when it has no row. */
  scrollToLane(id) {
    this.layout();
    const row = this.laneRows.get(id);
    if (!row) return false;
    if (row.y < this.scrollY || row.y + row.h > this.scrollY + this.viewH) {
      this.scrollY = row.y - Math.max(0, (this.viewH - row.h) / 3);
      this.clampScroll();
      this.requestRender();
    }
    return true;
  }

  // ---- drawing -------------------------------------------------------------

  /** requestRender draws at the next animation frame, at most once per frame. */
  requestRender() {
    if (this.frameRequested || typeof requestAnimationFrame === 'undefined') return;
    this.frameRequested = requestAnimationFrame(() => {
      this.frameRequested = 0;
      this.render();
    });
  }

  /** render draws one frame now, synchronously. */
  render() {
    if (!this.fixedSize && typeof window !== 'undefined' && window.devicePixelRatio !== this.dpr) this.resize();
    this.layout();
    this.tv.applyFollow();
    const { ctx, sz } = this;
    const W = this.cssW;
    const H = this.cssH;
    const plotW = this.plotW;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = INK.background;
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = INK.gutter;
    ctx.fillRect(0, sz.axisH, sz.gutterW, H - sz.axisH);

    const tk = ticks(this.view.t0, this.view.t1, plotW, 90 * sz.scale);

    const m = this.model;
    if (m) this.drawRows(tk);

    this.drawAxis(tk);
    this.drawScrollbar();
    if (m) this.drawnVersion = m.version;
  }

  /** visibleRows returns the rows inside the viewport. */
  visibleRows() {
    const out = [];
    const top = this.scrollY;
    const bottom = this.scrollY + this.viewH;
    for (let i = this.firstRowAt(top); i < this.rows.length && this.rows[i].y < bottom; i++) out.push(this.rows[i]);
    return out;
  }

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
  }

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
  }

  /** textWidth measures text in font (cached). */
  textWidth(text, font) {
    const key = `w|${font}|${text}`;
    let w = this.labelCache.get(key);
    if (w === undefined) {
      if (this.labelCache.size > 5000) this.labelCache.clear();
      this.ctx.font = font;
      w = this.ctx.measureText(text).width;
      this.labelCache.set(key, w);
    }
    return w;
  }

  /** fit_ shortens text with an ellipsis to fit width in font (cached). */
  fit_(text, width, font) {
    const key = `${font}|${width}|${text}`;
    let v = this.labelCache.get(key);
    if (v !== undefined) return v;
    if (this.labelCache.size > 5000) this.labelCache.clear();
    const ctx = this.ctx;
    ctx.font = font;
    v = text;
    if (ctx.measureText(text).width > width) {
      let lo = 0;
      let hi = text.length;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (ctx.measureText(`${text.slice(0, mid)}…`).width <= width) lo = mid; else hi = mid - 1;
      }
      v = `${text.slice(0, lo)}…`;
    }
    this.labelCache.set(key, v);
    return v;
  }

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
  }

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
  }

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
  }

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
  }

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
  }

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
  }

  /** drawScrollbar shows where the viewport is when the lanes do not all fit. */
  drawScrollbar() {
    if (this.contentH <= this.viewH) return;
    const { ctx, sz } = this;
    const h = this.viewH;
    const barH = Math.max(20, (h * h) / this.contentH);
    const y = sz.axisH + (this.scrollY / (this.contentH - h)) * (h - barH);
    ctx.fillStyle = 'rgba(0,0,0,0.35)';
    ctx.fillRect(this.cssW - 6, y, 4, barH);
  }

  /**
   * snapshot describes what is on screen as plain data for a vector export
   * (svg.js): the sizes, the window, the rows in the viewport (y from the
   * top of the canvas), the ticks and the replay cursor.
   */
  snapshot() {
    this.layout();
    this.tv.applyFollow();
    const sz = this.sz;
    const m = this.model;
    const { t0, t1 } = this.view;
    return {
      width: this.cssW,
      height: this.cssH,
      gutterW: sz.gutterW,
      axisH: sz.axisH,
      plotW: this.plotW,
      lanePad: sz.lanePad,
      scale: sz.scale,
      t0,
      t1,
      end: m ? m.drawEnd : 0,
      cut: m ? m.cut : Infinity,
      cursor: m ? m.cursor : null,
      ticks: ticks(t0, t1, this.plotW, 90 * sz.scale).ticks,
      selectedLane: this.selectedLane,
      rows: this.visibleRows().map((r) => ({ ...r, y: sz.axisH + r.y - this.scrollY })),
      marks: m ? m.marks : [],
      steps: m ? m.steps : [],
    };
  }

  // ---- hover and input ---------------------------------------------------

  /**
   * describe returns what is under CSS point (x, y) of the canvas as lines
   * of text for the tooltip, or null.
   */
  describe(x, y) {
    const m = this.model;
    const sz = this.sz;
    if (!m || y < sz.axisH) return null;
    const cy = y - sz.axisH + this.scrollY;
    const row = this.rows[this.firstRowAt(cy)];
    if (!row || row.y > cy) return null;
    const px = x - sz.gutterW;
    const t = this.tOf(px);
    if (row.type === 'group') {
      return [row.group.label, `${row.group.lanes.length.toLocaleString('en')} lanes · click to ${row.folded ? 'unfold' : 'fold'}`];
    }
    if (px >= 0 && t > m.cut && row.type !== 'group') return ['after the replay position', 'press End to show the whole run'];
    if (row.type === 'summary') {
      const counts = new Map();
      for (const l of row.lanes) {
        const i = l.indexAt(t);
        if (i < 0 || (i === l.n - 1 && t > m.openEnd)) continue;
        const s = STATES[l.states[i]];
        counts.set(s, (counts.get(s) || 0) + 1);
      }
      const parts = [...counts].filter(([s]) => s !== 'done').map(([s, n]) => `${n.toLocaleString('en')} ${s}`);
      return [`${row.lanes.length.toLocaleString('en')} more lanes of ${row.group.label}`, parts.join(', ') || 'none active here', 'click to show every lane'];
    }
    if (px < 0) {
      if (row.type === 'lane') {
        const l = row.lane;
        return [l.name, `${l.kind || 'lane'} ${l.id}${l.pid ? ` · pid ${l.pid}` : ''}${l.group ? ` · group ${l.group}` : ''}`, `${l.spans.toLocaleString('en')} spans`];
      }
      return null;
    }
    if (row.type === 'counter') {
      const v = row.counter.valueAt(t);
      return [row.counter.name, v === undefined ? 'no value yet' : `${formatValue(v)} at ${formatDuration(t)}`];
    }
    if (row.type === 'lane') {
      const l = row.lane;
      const i = l.indexAt(t);
      if (i < 0) return [l.name, 'not started yet'];
      const s = STATES[l.states[i]];
      const end = Math.min(l.spanEnd(i, m.openEnd), m.cut);
      if (s === 'done' || t > end) return [l.name, `ended at ${formatDuration(l.starts[i])}`];
      const why = m.whyOf(l, i);
      const src = m.srcOf(l, i);
      const kind = l.kind === 'cpu' ? 'core' : l.kind || 'lane';
      const lines = [
        l.name.includes(`(${kind})`) ? l.name : `${l.name} (${kind})`,
        `${s}${why ? `: ${why}` : ''}`,
        `${formatDuration(end - l.starts[i])} from ${formatDuration(l.starts[i])}${(i === l.n - 1 && !m.finished) || end === m.cut ? ' (still going)' : ''}`,
      ];
      if (src) lines.push(`source: ${src === 'sched' ? 'the Go scheduler (runtime/trace)' : 'the program'}`);
      return lines;
    }
    return null;
  }

  /** showTooltip places the tooltip near the pointer with the description of what is under it. */
  showTooltip(x, y) {
    const tip = this.tooltip;
    if (!tip) return;
    const lines = this.describe(x, y);
    if (!lines) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren(...lines.map((text, i) => {
      const div = document.createElement('div');
      if (i === 0) div.className = 'tip-title';
      div.textContent = text;
      return div;
    }));
    tip.hidden = false;
    const w = tip.offsetWidth;
    const left = x + 14 + w > this.cssW ? Math.max(0, x - 14 - w) : x + 14;
    tip.style.left = `${left}px`;
    tip.style.top = `${y + 14}px`;
  }

  /**
   * click folds a group, shows every lane of a summarised group, selects a
   * lane (or clears the selection when it was selected), or moves the
   * replay to the time clicked on the axis.
   */
  click(x, y) {
    if (y < this.sz.axisH) {
      if (this.onSeek && x >= this.sz.gutterW) this.onSeek(this.tOf(x - this.sz.gutterW));
      return;
    }
    const cy = y - this.sz.axisH + this.scrollY;
    const row = this.rows[this.firstRowAt(cy)];
    if (!row || row.y > cy) return;
    if (row.type === 'group') {
      if (this.collapsed.has(row.group.key)) this.collapsed.delete(row.group.key);
      else this.collapsed.add(row.group.key);
    } else if (row.type === 'summary') {
      this.expanded.add(row.group.key);
    } else if (row.type === 'lane') {
      const id = row.lane.id === this.selectedLane ? '' : row.lane.id;
      this.selectLane(id);
      this.onSelectLane?.(id);
    } else {
      return;
    }
    this.requestRender();
    this.showTooltip(x, y);
  }

  /** attachInput wires the mouse: drag to pan, wheel to zoom, click to fold. */
  attachInput() {
    const c = this.canvas;
    const pos = (e) => {
      const r = c.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      const [x, y] = pos(e);
      this.pointer = { id: e.pointerId, x, y, lastX: x, lastY: y, dragging: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      const [x, y] = pos(e);
      const p = this.pointer;
      if (p && p.id === e.pointerId) {
        if (!p.dragging && Math.abs(x - p.x) + Math.abs(y - p.y) > 4) {
          p.dragging = true;
          c.classList.add('dragging');
          if (this.tooltip) this.tooltip.hidden = true;
        }
        if (p.dragging) {
          if (x !== p.lastX) this.panBy(p.lastX - x);
          if (y !== p.lastY) this.scrollBy(p.lastY - y);
          p.lastX = x;
          p.lastY = y;
        }
        return;
      }
      this.showTooltip(x, y);
    });
    const end = (e) => {
      const p = this.pointer;
      if (!p || p.id !== e.pointerId) return;
      this.pointer = null;
      c.classList.remove('dragging');
      if (!p.dragging && e.type === 'pointerup') {
        const [x, y] = pos(e);
        this.click(x, y);
      }
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('pointerleave', () => {
      if (this.tooltip && !this.pointer) this.tooltip.hidden = true;
    });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? this.viewH : 1;
      const dx = e.deltaX * unit;
      const dy = e.deltaY * unit;
      if (e.shiftKey) {
        this.scrollBy(dy || dx);
      } else if (Math.abs(dx) > Math.abs(dy)) {
        this.panBy(dx);
      } else if (dy !== 0) {
        const [x] = pos(e);
        const px = Math.min(Math.max(0, x - this.sz.gutterW), this.plotW);
        this.zoomAt(Math.exp(dy * 0.002), px);
      }
    }, { passive: false });
    if (typeof ResizeObserver !== 'undefined' && !this.fixedSize && c.parentElement) {
      new ResizeObserver(() => {
        if (this.resize()) this.render();
      }).observe(c.parentElement);
    }
    // The window's height bounds the canvas's, and moving to another screen
    // may change the pixel ratio.
    window.addEventListener('resize', () => {
      if (this.resize()) this.render();
    });
  }
}


/**
 * paintSwatch draws a state's fill and pattern into a small canvas for the
 * legend, with the same code as the timeline.
 */
export function paintSwatch(canvas, state, cssW = 28, cssH = 14) {
  paintSwatchStyle(canvas, STYLE[state], cssW, cssH);
}

/** paintSwatchStyle fills a canvas with a style's colour and pattern (a state's, or a core holder's). */
export function paintSwatchStyle(canvas, style, cssW = 28, cssH = 14) {
  const dpr = (typeof window !== 'undefined' && window.devicePixelRatio) || 1;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  canvas.style.width = `${cssW}px`;
  canvas.style.height = `${cssH}px`;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = style.fill;
  ctx.fillRect(0, 0, cssW, cssH);
  const pat = makePattern(ctx, style.pattern, style.ink, dpr);
  if (pat) {
    ctx.fillStyle = pat;
    ctx.fillRect(0, 0, cssW, cssH);
  }
}

