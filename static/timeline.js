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

import { STYLE, INK, makePattern } from './palette.js';
import { LodBuffer } from './lod.js';
import { PixelPlot } from './raster.js';
import { ticks } from './axis.js';
import { groupLanes, collapseGroup } from './model.js';
import { TimeView } from './timeview.js';
import { rowMethods } from './timeline-rows.js';
import { overlayMethods } from './timeline-draw.js';
import { inputMethods } from './timeline-input.js';

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

}

// The drawing of the rows and of the overlays and the input handling live in
// their own modules; their methods join the class here (this is the Timeline
// in each).
Object.assign(Timeline.prototype, rowMethods, overlayMethods, inputMethods);


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

