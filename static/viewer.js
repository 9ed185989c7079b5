/**
 * viewer.js: one run on a timeline, with the parts of the page around it.
 *
 * A Viewer watches a run: it opens the event socket, queues what arrives,
 * and at each frame feeds the queue to the model (within a time budget)
 * and redraws — never on the socket's hot path. While the run executes a
 * frame comes only a few times a second and a hidden page does not draw,
 * so that the page does not take the cores the run is measured on; once
 * the run has ended it catches up at every animation frame (pace.js). It keeps the
 * status line, Run/Cancel, the output and the summary up to date. With a
 * replay cursor on the model (RunModel.setCursor) the output and summary
 * are those of that moment.
 *
 * The scenario and run pages have one Viewer bound to the page's own
 * elements (#timeline-canvas, #status, #output…). The comparison page
 * stacks several, each with its own canvas and status, sharing one
 * TimeView and wiring no page-wide toolbar or keys (options.wire = false).
 */

import { RunModel, LiveClock, isFinal } from './model.js';
import { Timeline, paintSwatch } from './timeline.js';
import { statusText } from './format.js';
import { connectRun, parseMessage } from './ws.js';
import { formatDuration } from './axis.js';
import { MARK_COLOURS, HOLDERS, makePattern } from './palette.js';
import { nextTick, ingestBudget, shouldDraw } from './pace.js';
import { runAgain } from './rerun.js';
import { panelMethods, emptyNote } from './viewer-panels.js';

export { emptyNote };

const $ = (id) => document.getElementById(id);

/** editable reports whether a key press belongs to a form control rather than to the page. */
export function editable(el) {
  return !!el && (el.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName));
}

/** pageParts are the elements of the scenario and run pages a Viewer keeps up to date. */
function pageParts() {
  return {
    status: $('status'),
    run: $('run'),
    cancel: $('cancel'),
    empty: $('timeline-empty'),
    output: $('output'),
    summary: $('summary'),
    verdict: $('verdict'),
    caveat: $('caveat'),
    caveatText: $('caveat-text'),
    runAgain: $('run-again-now'),
    metrics: $('metrics'),
    permalink: $('permalink'),
    message: $('run-message'),
  };
}

/**
 * timelineKey applies a timeline shortcut (zoom, pan, scroll, fit, follow)
 * to tl and reports whether the key was one. onTimeline says whether the
 * timeline has the focus (the up and down arrows scroll the page otherwise).
 */
export function timelineKey(tl, key, onTimeline) {
  const step = tl.plotW * 0.15;
  switch (key) {
    case '+': case '=': tl.zoomAt(0.7); break;
    case '-': case '_': tl.zoomAt(1 / 0.7); break;
    case '0': tl.fit(); break;
    case 'ArrowLeft': tl.panBy(-step); break;
    case 'ArrowRight': tl.panBy(step); break;
    case 'ArrowUp': if (!onTimeline) return false; tl.scrollBy(-tl.sz.laneH * 3); break;
    case 'ArrowDown': if (!onTimeline) return false; tl.scrollBy(tl.sz.laneH * 3); break;
    case 'f': tl.setFollow(!tl.follow); break;
    default: return false;
  }
  tl.requestRender();
  return true;
}

/**
 * Viewer shows one run at a time on a timeline, with its status, summary
 * and output.
 */
export class Viewer {
  /**
   * @param {HTMLElement} root the page's #app, whose data-* describe it
   * @param {{large: boolean, onLargeChange: (fn: (on: boolean) => void) => void}} toggles
   * @param {object} [options]
   * @param {HTMLCanvasElement} [options.canvas] default #timeline-canvas
   * @param {HTMLElement} [options.tooltip] default #tooltip
   * @param {object} [options.parts] the elements to keep up to date (default: the page's)
   * @param {boolean} [options.wire=true] paint the legend, wire the toolbar and the keys
   * @param {boolean} [options.fitOnFinal=true] fit the run when it ends
   * @param {import('./timeview.js').TimeView} [options.view] a window shared with other viewers
   * @param {number} [options.maxHeight] the tallest the timeline grows (CSS px)
   * @param {number} [options.minHeight] the shortest it gets (CSS px)
   */
  constructor(root, toggles, options = {}) {
    this.root = root;
    this.toggles = toggles;
    this.page = root.dataset.page;
    this.scenario = root.dataset.scenario || '';
    this.engine = root.dataset.engine || '';
    this.parts = options.parts || pageParts();
    this.fitOnFinal = options.fitOnFinal !== false;
    this.wired = options.wire !== false;
    this.runId = null;
    this.socket = null;
    this.pending = [];
    this.pendingBytes = 0;
    this.frame = 0;
    this.fallbackTimer = 0;
    this.liveTimer = 0;
    this.viewText = '';
    /** onReset(model) is called when a new (empty) model replaces the old one. */
    this.onReset = null;
    /** onFinal() is called once a finished run's whole history is in the model. */
    this.onFinal = null;
    /** onViewChange() is called when the visible window or a toggle changes. */
    this.onViewChange = null;
    /** onUpdate() is called after the parts of the page were brought up to date (a panel of its own follows). */
    this.onUpdate = null;
    this.timeline = new Timeline(options.canvas || $('timeline-canvas'), {
      tooltip: options.tooltip === undefined ? $('tooltip') : options.tooltip,
      view: options.view,
      maxHeight: options.maxHeight,
      minHeight: options.minHeight,
      onViewChange: () => {
        if (this.wired) this.syncToolbar();
        this.onViewChange?.();
      },
      onSelectLane: (id) => this.onSelectLane?.(id),
      onSeek: (t) => this.onSeek?.(t),
    });
    /** onSelectLane(id) and onSeek(t) pass on clicks on a lane and on the axis. */
    this.onSelectLane = null;
    this.onSeek = null;
    this.timeline.setLarge(toggles.large);
    toggles.onLargeChange((on) => this.timeline.setLarge(on));
    this.resetModel('idle');
    if (this.wired) {
      this.paintLegend();
      this.wireToolbar();
      this.wireKeys();
      this.syncToolbar();
    }
  }

  /** resetModel starts from an empty model (a new run, or a reconnect that replays history). */
  resetModel(status) {
    this.model = new RunModel();
    this.model.setStatus(status);
    this.clock = new LiveClock();
    this.pending = [];
    this.pendingBytes = 0;
    this.outputsShown = 0;
    this.lastOutput = null;
    this.outputBlocks = new Map();
    this.summaryKey = '';
    this.shownStatus = '';
    this.finalSeen = false;
    this.parts.output?.replaceChildren(emptyNote('Nothing printed yet.'));
    if (this.parts.summary) this.parts.summary.hidden = true;
    this.timeline.setModel(this.model);
    this.onReset?.(this.model);
    this.update();
  }

  // ---- watching a run ------------------------------------------------------

  /** watch shows run id: opens its event socket (history first, then live). */
  watch(id, status = 'connecting') {
    this.socket?.close();
    this.runId = id;
    // Until the history has arrived, even a finished run is "connecting":
    // the view follows the events in, then fits the run at its final status.
    this.resetModel(isFinal(status) ? 'connecting' : status);
    this.setMessage('');
    const link = this.parts.permalink;
    if (link) {
      link.href = `/r/${encodeURIComponent(id)}`;
      link.hidden = false;
    }
    this.socket = connectRun(id, {
      onMessage: (raw) => {
        this.pendingBytes += raw.length;
        this.enqueue({ raw });
      },
      onClose: (info) => this.enqueue({ close: info }),
    });
  }

  /** enqueue queues a socket message for the next frame. */
  enqueue(item) {
    this.pending.push(item);
    this.schedule();
  }

  /** live reports whether the run is executing (its end not in yet): frames are then rare. */
  get live() {
    return this.model.status === 'running' && !this.model.finished;
  }

  /**
   * schedule asks for the next frame: a few times a second while the run
   * executes, else the next animation frame (a timer stands in when frames
   * do not come, in a hidden tab).
   */
  schedule() {
    if (this.frame || this.liveTimer) return;
    const next = nextTick({ live: this.live, pending: this.pending.length });
    if (next.kind === 'timer') {
      this.liveTimer = setTimeout(() => {
        this.liveTimer = 0;
        this.tick();
      }, next.ms);
      return;
    }
    this.frame = requestAnimationFrame(() => this.tick());
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = setTimeout(() => {
      if (this.frame) {
        cancelAnimationFrame(this.frame);
        this.tick();
      }
    }, 250);
  }

  /** loaded reports whether the run is over and all of it is in the model (the replay can start). */
  get loaded() {
    return isFinal(this.model.status) && this.pending.length === 0;
  }

  /**
   * tick decodes queued messages and feeds them to the model within a time
   * budget, then redraws. When far behind (a late joiner's history, a
   * burst) the budget grows so that catching up is not limited by drawing.
   */
  tick() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    clearTimeout(this.fallbackTimer);
    clearTimeout(this.liveTimer);
    this.liveTimer = 0;
    const budget = ingestBudget({ live: this.live, pendingBytes: this.pendingBytes });
    const deadline = performance.now() + budget;
    let i = 0;
    while (i < this.pending.length && (i === 0 || performance.now() < deadline)) {
      let item = this.pending[i++];
      if (item.raw !== undefined) {
        this.pendingBytes -= item.raw.length;
        item = parseMessage(item.raw) || {};
      }
      if (item.events) {
        this.model.add(item.events);
        this.clock.observe(this.model.maxT);
      } else if (item.status) {
        this.model.setStatus(item.status, item.position);
        const tl = this.timeline;
        if (isFinal(item.status) && this.fitOnFinal && tl.follow && !tl.tv.live()) {
          // The run is over: show all of it; there is no live end to follow.
          tl.fit();
          tl.setFollow(false);
        }
      } else if (item.close) {
        this.closed(item.close);
      }
    }
    this.pending.splice(0, i);
    const live = this.live;
    if (live) this.model.setNow(this.clock.now());
    this.update();
    if (shouldDraw({ hidden: document.hidden })) {
      this.timeline.render();
    } else {
      this.drawWhenShown();
    }
    if (this.wired) this.syncToolbar();
    if (this.pending.length > 0 || live) this.schedule();
    if (!this.finalSeen && this.loaded) {
      this.finalSeen = true;
      this.onFinal?.();
    }
  }

  /** drawWhenShown draws once the hidden page is shown again. */
  drawWhenShown() {
    if (this.onShown) return;
    this.onShown = () => {
      if (document.hidden) return;
      document.removeEventListener('visibilitychange', this.onShown);
      this.onShown = null;
      this.timeline.render();
    };
    document.addEventListener('visibilitychange', this.onShown);
  }

  /** closed reacts to the socket's end: a dropped or lost viewer may reconnect. */
  closed(info) {
    this.socket = null;
    if (info.kind === 'normal') return;
    this.setMessage(info.message, info.reconnect ? () => this.watch(this.runId) : null);
    if (!isFinal(this.model.status)) this.model.setStatus(info.kind === 'damaged' ? 'damaged' : 'disconnected');
  }

  /** setMessage shows a message under the run controls, with an optional Reconnect button. */
  setMessage(text, reconnect = null) {
    const box = this.parts.message;
    if (!box) return;
    box.replaceChildren();
    box.hidden = !text;
    if (!text) return;
    box.append(text);
    if (reconnect) {
      const b = document.createElement('button');
      b.type = 'button';
      b.id = 'reconnect';
      b.textContent = 'Reconnect';
      b.addEventListener('click', reconnect);
      box.append(' ', b);
    }
  }

  // ---- the page around the timeline ---------------------------------------

  /** update brings the status line, buttons, output and summary up to date with the model (and its cursor). */
  update() {
    const m = this.model;
    const p = this.parts;
    const key = `${m.status}|${m.position}`;
    if (key !== this.shownStatus) {
      this.shownStatus = key;
      if (p.status) {
        p.status.textContent = statusText(m.status, m.position);
        p.status.dataset.status = m.status;
      }
      const busy = ['starting', 'connecting', 'queued', 'running', 'cancelling'].includes(m.status);
      if (p.run && !this.root.dataset.engineError) p.run.disabled = busy;
      if (p.cancel) p.cancel.disabled = !(this.runId && ['queued', 'running'].includes(m.status));
    }
    if (p.empty) p.empty.hidden = m.laneList.length > 0 || m.counters.size > 0;
    this.showOutputs();
    this.showSummary();
    this.onUpdate?.();
  }

  /** paintLegend paints the legend's swatches with the timeline's own colours and patterns. */
  paintLegend() {
    paintLegend();
  }

  // ---- controls --------------------------------------------------------------

  wireToolbar() {
    const tl = this.timeline;
    $('zoom-in')?.addEventListener('click', () => tl.zoomAt(0.6));
    $('zoom-out')?.addEventListener('click', () => tl.zoomAt(1 / 0.6));
    $('fit')?.addEventListener('click', () => tl.fit());
    $('follow')?.addEventListener('click', () => tl.setFollow(!tl.follow));
    const sched = $('sched-toggle');
    if (this.root.dataset.imported === 'true') {
      // An imported Go trace has nothing but the scheduler's lanes.
      tl.setSched(true);
    } else if (sched && this.engine && this.engine !== 'go') {
      sched.hidden = true;
    } else if (sched) {
      // On the go engine the core lanes (one per P) are the lesson: one
      // core computing tasks in turn, or several at once, and who held
      // each. So they show by default; the toggle (or s) hides them.
      tl.setSched(true);
    }
    sched?.addEventListener('click', () => tl.setSched(!tl.showSched));
    $('pin')?.addEventListener('click', () => this.togglePin());
    this.parts.runAgain?.addEventListener('click', () => this.runAgain());
  }

  /**
   * runAgain starts the run shown with the same scenario, engine and
   * params: the scenario page watches the new run in place, the run page
   * goes to the new run's page.
   */
  async runAgain() {
    const id = this.runId || this.root.dataset.run;
    if (!id) return;
    const button = this.parts.runAgain;
    if (button) button.disabled = true;
    try {
      const next = await runAgain(id);
      if (this.page === 'run') {
        location.assign(`/r/${encodeURIComponent(next.id)}`);
        return;
      }
      this.watch(next.id, next.status || 'queued');
      this.model.setStatus(next.status || 'queued', next.position || 0);
      this.update();
    } catch (err) {
      this.setMessage(`Could not run again: ${err.message}`);
    } finally {
      if (button) button.disabled = false;
    }
  }

  /** togglePin pins the run (kept by retention) or unpins it. */
  async togglePin() {
    const button = $('pin');
    const id = this.runId || this.root.dataset.run;
    if (!button || !id) return;
    const pin = button.getAttribute('aria-pressed') !== 'true';
    button.disabled = true;
    try {
      const res = await fetch(`/api/runs/${encodeURIComponent(id)}/pin`, { method: pin ? 'POST' : 'DELETE' });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) {
        this.setMessage(`Could not ${pin ? 'pin' : 'unpin'} the run: ${data.error || res.status}`);
        return;
      }
      const pinned = data.pinned ?? pin;
      button.setAttribute('aria-pressed', String(pinned));
      button.textContent = pinned ? 'Pinned' : 'Pin this run';
      this.root.dataset.pinned = String(pinned);
    } catch (err) {
      this.setMessage(`Could not ${pin ? 'pin' : 'unpin'} the run: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  /** syncToolbar reflects the timeline's toggles and window in the toolbar. */
  syncToolbar() {
    syncToolbar(this.timeline, this);
  }

  /** wireKeys handles the keyboard shortcuts listed under "?". */
  wireKeys() {
    const tl = this.timeline;
    document.addEventListener('keydown', (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || editable(e.target)) return;
      if (e.key === 's') {
        const sched = $('sched-toggle');
        if (!sched || sched.hidden) return; // no scheduler recorded: pages of other engines have no toggle
        tl.setSched(!tl.showSched);
        tl.requestRender();
      } else if (!timelineKey(tl, e.key, document.activeElement === $('timeline'))) {
        return;
      }
      e.preventDefault();
    });
  }
}

// The output and summary panels live in their own module; their methods join
// the class here (this is the Viewer in each).
Object.assign(Viewer.prototype, panelMethods);

/**
 * syncToolbar reflects a timeline's follow and scheduler toggles and its
 * window in the page's toolbar; state remembers the text last written.
 */
export function syncToolbar(tl, state) {
  $('follow')?.setAttribute('aria-pressed', String(tl.follow));
  $('sched-toggle')?.setAttribute('aria-pressed', String(tl.showSched));
  const text = `${formatDuration(Math.max(0, tl.view.t0))} – ${formatDuration(tl.view.t1)}`;
  if (text !== state.viewText) {
    state.viewText = text;
    const range = $('view-range');
    if (range) range.textContent = text;
  }
}

/** paintLegend paints the page legend's swatches with the timeline's own colours and patterns. */
export function paintLegend() {
  for (const li of document.querySelectorAll('#legend li[data-state]')) {
    const canvas = document.createElement('canvas');
    paintSwatch(canvas, li.dataset.state);
    li.querySelector('.swatch')?.replaceChildren(canvas);
  }
  for (const li of document.querySelectorAll('#legend li[data-mark]')) {
    const canvas = document.createElement('canvas');
    paintMarkSwatch(canvas, li.dataset.mark);
    li.querySelector('.swatch')?.replaceChildren(canvas);
  }
}

/** paintMarkSwatch draws the legend entry of lock marks or flows. */
function paintMarkSwatch(canvas, kind) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = 28 * dpr;
  canvas.height = 14 * dpr;
  canvas.style.width = '28px';
  canvas.style.height = '14px';
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (kind === 'holders') {
    // Three holders side by side, each its colour and pattern.
    HOLDERS.slice(0, 3).forEach((style, i) => {
      ctx.fillStyle = style.fill;
      ctx.fillRect(i * 9 + 1, 1, 8, 12);
      const pat = makePattern(ctx, style.pattern, style.ink, dpr);
      if (pat) {
        ctx.fillStyle = pat;
        ctx.fillRect(i * 9 + 1, 1, 8, 12);
      }
    });
  } else if (kind === 'step') {
    ctx.fillStyle = MARK_COLOURS.step;
    ctx.fillRect(3, 4, 2, 10);
    ctx.font = '9px sans-serif';
    ctx.textBaseline = 'bottom';
    ctx.fillText('L9', 7, 14);
  } else if (kind === 'lock') {
    ctx.beginPath();
    ctx.moveTo(3, 2); ctx.lineTo(11, 2); ctx.lineTo(7, 9); ctx.closePath();
    ctx.fillStyle = '#fff'; ctx.fill();
    ctx.strokeStyle = MARK_COLOURS.lockWant; ctx.lineWidth = 1.25; ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(16, 2); ctx.lineTo(24, 2); ctx.lineTo(20, 9); ctx.closePath();
    ctx.fillStyle = MARK_COLOURS.lockGot; ctx.fill();
  } else {
    ctx.strokeStyle = MARK_COLOURS.flow; ctx.fillStyle = MARK_COLOURS.flow; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(2, 7); ctx.lineTo(22, 7); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(26, 7); ctx.lineTo(20, 3); ctx.lineTo(20, 11); ctx.closePath(); ctx.fill();
  }
}
