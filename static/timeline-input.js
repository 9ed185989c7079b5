// timeline-input.js: what the Timeline does under the pointer and the keys:
// describing what is under a point (the tooltip), clicks that select a lane,
// and the wheel, drag and keyboard bindings. Methods of Timeline (joined to
// its prototype in timeline.js), so `this` is the timeline.
import { STATES } from './palette.js';
import { formatDuration } from './axis.js';
import { formatValue } from './format.js';

export const inputMethods = {
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
  },

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
  },

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
  },

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
  },};
