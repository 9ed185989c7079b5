/**
 * app.js: the page controller.
 *
 * On every page it wires the display toggles (large type, the shortcut
 * list). On a scenario page (/s/{id}) it runs the scenario: Run reads the
 * form, POSTs /api/runs, replaces the URL with the share link and watches
 * the run; Cancel DELETEs it. On a run page (/r/{id}) it watches that run.
 * Watching means: open the event socket, queue what arrives, and once per
 * animation frame feed the queue to the model (within a time budget) and
 * redraw — never on the socket's hot path.
 *
 * The page's data comes from data-* attributes of #app: data-page
 * (scenario|run|catalog|error), data-scenario, data-engine, data-run,
 * data-status, data-engine-error.
 *
 * For browser tests the page exposes window.interleave (see exposeApi).
 */

import { RunModel, LiveClock, isFinal } from './model.js';
import { Timeline, paintSwatch } from './timeline.js';
import { statusText, formatMetric } from './format.js';
import { connectRun, parseMessage } from './ws.js';
import { readFields, runRequest, shareQuery, fieldOfError } from './params.js';
import { formatDuration } from './axis.js';
import { syntheticModel, frameScript, percentile } from './bench.js';
import { MARK_COLOURS } from './palette.js';

/** LARGE_TYPE_KEY is where the large-type choice is kept in localStorage. */
const LARGE_TYPE_KEY = 'interleave.largeType';

/** INGEST_BUDGET_MS is how long one frame may spend feeding events to the model. */
const INGEST_BUDGET_MS = 8;

/** CATCH_UP_BYTES of queued messages make a frame spend CATCH_UP_BUDGET_MS instead, to catch up. */
const CATCH_UP_BYTES = 2 << 20;
const CATCH_UP_BUDGET_MS = 40;

const $ = (id) => document.getElementById(id);

/** editable reports whether a key press belongs to a form control rather than to the page. */
function editable(el) {
  return !!el && (el.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName));
}

/** readLargeType returns the stored large-type choice. */
function readLargeType() {
  try {
    return localStorage.getItem(LARGE_TYPE_KEY) === '1';
  } catch {
    return false;
  }
}

/** DisplayToggles wires large type and the shortcut list, on every page. */
class DisplayToggles {
  constructor() {
    this.largeButton = $('large-toggle');
    this.helpButton = $('help-toggle');
    this.help = $('shortcuts');
    this.onLarge = () => {};
    this.largeButton?.addEventListener('click', () => this.setLarge(!this.large));
    this.helpButton?.addEventListener('click', () => this.toggleHelp());
    this.setLarge(readLargeType(), false);
  }

  /** setLarge switches large type and remembers it. */
  setLarge(on, store = true) {
    this.large = on;
    document.documentElement.classList.toggle('large-type', on);
    this.largeButton?.setAttribute('aria-pressed', String(on));
    if (store) {
      try {
        localStorage.setItem(LARGE_TYPE_KEY, on ? '1' : '0');
      } catch {
        // Private mode: the choice lasts for this page only.
      }
    }
    this.onLarge(on);
  }

  /** toggleHelp shows or hides the keyboard shortcuts. */
  toggleHelp(show) {
    if (!this.help) return;
    const on = show ?? this.help.hidden;
    this.help.hidden = !on;
    this.helpButton?.setAttribute('aria-pressed', String(on));
  }
}

/**
 * Viewer shows one run at a time on the timeline, with its status,
 * summary and output.
 */
class Viewer {
  constructor(root, toggles) {
    this.root = root;
    this.toggles = toggles;
    this.page = root.dataset.page;
    this.scenario = root.dataset.scenario || '';
    this.engine = root.dataset.engine || '';
    this.runId = null;
    this.socket = null;
    this.pending = [];
    this.pendingBytes = 0;
    this.frame = 0;
    this.fallbackTimer = 0;
    this.viewText = '';
    this.timeline = new Timeline($('timeline-canvas'), {
      tooltip: $('tooltip'),
      onViewChange: () => this.syncToolbar(),
    });
    this.timeline.setLarge(toggles.large);
    toggles.onLarge = (on) => this.timeline.setLarge(on);
    this.resetModel('idle');
    this.paintLegend();
    this.wireToolbar();
    this.wireKeys();
    this.syncToolbar();
  }

  /** resetModel starts from an empty model (a new run, or a reconnect that replays history). */
  resetModel(status) {
    this.model = new RunModel();
    this.model.setStatus(status);
    this.clock = new LiveClock();
    this.pending = [];
    this.pendingBytes = 0;
    this.outputsShown = 0;
    this.outputBlocks = new Map();
    this.summaryShown = null;
    this.shownStatus = '';
    $('output')?.replaceChildren(emptyNote('Nothing printed yet.'));
    const summary = $('summary');
    if (summary) summary.hidden = true;
    this.timeline.setModel(this.model);
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
    const link = $('permalink');
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

  /** schedule asks for a frame; a timer stands in when frames do not come (hidden tab). */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => this.tick());
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = setTimeout(() => {
      if (this.frame) {
        cancelAnimationFrame(this.frame);
        this.tick();
      }
    }, 250);
  }

  /**
   * tick decodes queued messages and feeds them to the model within a time
   * budget, then redraws. When far behind (a late joiner's history, a
   * burst) the budget grows so that catching up is not limited by drawing.
   */
  tick() {
    this.frame = 0;
    clearTimeout(this.fallbackTimer);
    const budget = this.pendingBytes > CATCH_UP_BYTES ? CATCH_UP_BUDGET_MS : INGEST_BUDGET_MS;
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
        if (isFinal(item.status) && this.timeline.follow) {
          // The run is over: show all of it; there is no live end to follow.
          this.timeline.fit();
          this.timeline.setFollow(false);
        }
      } else if (item.close) {
        this.closed(item.close);
      }
    }
    this.pending.splice(0, i);
    const live = this.model.status === 'running' && !this.model.finished;
    if (live) this.model.setNow(this.clock.now());
    this.update();
    this.timeline.render();
    this.syncToolbar();
    if (this.pending.length > 0 || live) this.schedule();
  }

  /** closed reacts to the socket's end: a dropped or lost viewer may reconnect. */
  closed(info) {
    this.socket = null;
    if (info.kind === 'normal') return;
    this.setMessage(info.message, info.reconnect ? () => this.watch(this.runId) : null);
    if (!isFinal(this.model.status)) this.model.setStatus('disconnected');
  }

  /** setMessage shows a message under the run controls, with an optional Reconnect button. */
  setMessage(text, reconnect = null) {
    const box = $('run-message');
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

  /** update brings the status line, buttons, output and summary up to date with the model. */
  update() {
    const m = this.model;
    const key = `${m.status}|${m.position}`;
    if (key !== this.shownStatus) {
      this.shownStatus = key;
      const line = $('status');
      if (line) {
        line.textContent = statusText(m.status, m.position);
        line.dataset.status = m.status;
      }
      const busy = ['starting', 'connecting', 'queued', 'running', 'cancelling'].includes(m.status);
      const run = $('run');
      if (run && !this.root.dataset.engineError) run.disabled = busy;
      const cancel = $('cancel');
      if (cancel) cancel.disabled = !(this.runId && ['queued', 'running'].includes(m.status));
    }
    const empty = $('timeline-empty');
    if (empty) empty.hidden = m.laneList.length > 0 || m.counters.size > 0;
    this.showOutputs();
    if (m.summary && this.summaryShown !== m.summary) this.showSummary(m.summary);
  }

  /** showOutputs appends new output to one block per process. */
  showOutputs() {
    const m = this.model;
    const box = $('output');
    if (!box || this.outputsShown >= m.outputs.length) return;
    if (this.outputsShown === 0) box.replaceChildren();
    for (; this.outputsShown < m.outputs.length; this.outputsShown++) {
      const o = m.outputs[this.outputsShown];
      const lane = m.lanes.get(o.lane);
      const key = lane?.pid ? `pid ${lane.pid}` : o.lane || 'run';
      let block = this.outputBlocks.get(key);
      if (!block) {
        const section = document.createElement('section');
        section.className = 'process-output';
        const h = document.createElement('h3');
        h.textContent = lane ? `${lane.name}${lane.pid ? ` (pid ${lane.pid})` : ''}` : key;
        const pre = document.createElement('pre');
        section.append(h, pre);
        box.append(section);
        block = { pre, last: null, lastStream: '' };
        this.outputBlocks.set(key, block);
      }
      if (block.last && block.lastStream === o.stream) {
        block.last.appendData(o.text);
        continue;
      }
      const text = document.createTextNode(o.text);
      if (o.stream === 'stderr') {
        const span = document.createElement('span');
        span.className = 'stderr';
        span.append(text);
        block.pre.append(span);
      } else {
        block.pre.append(text);
      }
      block.last = text;
      block.lastStream = o.stream;
    }
  }

  /** showSummary writes the end event's verdict and metrics. */
  showSummary(summary) {
    this.summaryShown = summary;
    const section = $('summary');
    if (!section) return;
    $('verdict').textContent = summary.verdict || '';
    const rows = [
      ['wall time', formatDuration(summary.wall_ns)],
      ['CPU time', formatDuration(summary.cpu_ns)],
    ];
    for (const [name, metric] of Object.entries(summary.metrics || {})) {
      rows.push([metric.label || name, formatMetric(metric)]);
    }
    const body = $('metrics').tBodies[0];
    body.replaceChildren(...rows.map(([label, value]) => {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      th.textContent = label;
      const td = document.createElement('td');
      td.textContent = value;
      tr.append(th, td);
      return tr;
    }));
    section.hidden = false;
  }

  /** paintLegend paints the legend's swatches with the timeline's own colours and patterns. */
  paintLegend() {
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
    }
    sched?.addEventListener('click', () => tl.setSched(!tl.showSched));
    $('pin')?.addEventListener('click', () => this.togglePin());
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
    const tl = this.timeline;
    $('follow')?.setAttribute('aria-pressed', String(tl.follow));
    $('sched-toggle')?.setAttribute('aria-pressed', String(tl.showSched));
    const text = `${formatDuration(Math.max(0, tl.view.t0))} – ${formatDuration(tl.view.t1)}`;
    if (text !== this.viewText) {
      this.viewText = text;
      const range = $('view-range');
      if (range) range.textContent = text;
    }
  }

  /** wireKeys handles the keyboard shortcuts listed under "?". */
  wireKeys() {
    const tl = this.timeline;
    document.addEventListener('keydown', (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || editable(e.target)) return;
      const onTimeline = document.activeElement === $('timeline');
      const step = tl.plotW * 0.15;
      switch (e.key) {
        case '+': case '=': tl.zoomAt(0.7); break;
        case '-': case '_': tl.zoomAt(1 / 0.7); break;
        case '0': tl.fit(); break;
        case 'ArrowLeft': tl.panBy(-step); break;
        case 'ArrowRight': tl.panBy(step); break;
        case 'ArrowUp': if (!onTimeline) return; tl.scrollBy(-tl.sz.laneH * 3); break;
        case 'ArrowDown': if (!onTimeline) return; tl.scrollBy(tl.sz.laneH * 3); break;
        case 'f': tl.setFollow(!tl.follow); break;
        case 's': if ($('sched-toggle')?.hidden) return; tl.setSched(!tl.showSched); break;
        default: return;
      }
      e.preventDefault();
      tl.requestRender();
    });
  }
}

/**
 * ScenarioRunner adds Run and Cancel to the viewer of a scenario page.
 */
class ScenarioRunner {
  constructor(viewer) {
    this.viewer = viewer;
    this.form = $('params');
    $('run')?.addEventListener('click', () => this.start());
    $('cancel')?.addEventListener('click', () => this.cancel());
  }

  /** start submits a run with the form's values and watches it. */
  async start() {
    const v = this.viewer;
    if (v.root.dataset.engineError) return;
    const fields = readFields(this.form);
    const body = runRequest(v.scenario, fields);
    clearFieldErrors();
    v.setMessage('');
    this.before = v.model.status;
    v.model.setStatus('starting');
    v.update();
    let res;
    let data = {};
    try {
      res = await fetch('/api/runs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      });
      data = await res.json().catch(() => ({}));
    } catch (err) {
      this.failed(`Could not reach the server: ${err.message}`);
      return;
    }
    if (res.status === 201) {
      history.replaceState(null, '', `/s/${encodeURIComponent(v.scenario)}?${shareQuery(fields)}`);
      document.getElementById('error')?.remove();
      v.watch(data.id, data.status || 'queued');
      v.model.setStatus(data.status || 'queued', data.position || 0);
      v.update();
      return;
    }
    const msg = data.error || `${res.status} ${res.statusText}`;
    switch (res.status) {
      case 400:
        markFieldError(fieldOfError(msg), msg);
        this.failed(msg);
        break;
      case 429: {
        const retry = res.headers.get('Retry-After');
        this.failed(`The queue is full: retry in ${retry || 'a few'} s.`);
        break;
      }
      case 503:
        this.failed(`The engine is unavailable: ${msg}`);
        break;
      default:
        this.failed(msg);
    }
  }

  /** failed shows why a run did not start and makes Run available again. */
  failed(message) {
    const v = this.viewer;
    v.model.setStatus(this.before || 'idle'); // the previous run, if any, is still shown
    v.setMessage(message);
    v.update();
    const run = $('run');
    if (run) run.disabled = false;
  }

  /** cancel asks the server to stop the run; the socket reports "cancelled". */
  async cancel() {
    const v = this.viewer;
    if (!v.runId) return;
    const cancel = $('cancel');
    if (cancel) cancel.disabled = true;
    try {
      const res = await fetch(`/api/runs/${encodeURIComponent(v.runId)}`, { method: 'DELETE' });
      if (!res.ok) {
        const data = await res.json().catch(() => ({}));
        v.setMessage(`Cancel failed: ${data.error || res.status}`);
      }
    } catch (err) {
      v.setMessage(`Cancel failed: ${err.message}`);
    }
  }
}

/** clearFieldErrors removes the marks of a previous refused run. */
function clearFieldErrors() {
  for (const el of document.querySelectorAll('#params .field.client-invalid')) {
    el.classList.remove('client-invalid', 'invalid');
    el.querySelector('[aria-invalid]')?.removeAttribute('aria-invalid');
  }
}

/** markFieldError marks the control named by an API error and moves focus to it. */
function markFieldError(field, message) {
  if (!field) return;
  const box = document.querySelector(`#params .field[data-param="${CSS.escape(field)}"]`);
  if (!box) return;
  box.classList.add('invalid', 'client-invalid');
  const control = box.querySelector('input, select');
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    control.title = message;
    control.focus();
  }
}

/** emptyNote is the placeholder of an empty panel. */
function emptyNote(text) {
  const p = document.createElement('p');
  p.className = 'empty';
  p.textContent = text;
  return p;
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
  if (kind === 'lock') {
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

/**
 * runBenchmark loads a synthetic run of lanes × spansPerLane spans into a
 * fresh model and renders a scripted sequence of pan/zoom frames
 * synchronously on an off-screen canvas the size of the page's timeline,
 * forcing each frame to be rasterised before it is timed.
 */
function runBenchmark(viewer, { lanes = 100, spansPerLane = 10_000, width, height } = {}) {
  const t = performance.now();
  const model = syntheticModel({ lanes, spansPerLane });
  const buildMs = performance.now() - t;
  const page = viewer?.timeline;
  const size = { width: width || page?.cssW || 1200, height: height || Math.max(page?.cssH || 0, 600) };
  const canvas = document.createElement('canvas');
  const tl = new Timeline(canvas, { interactive: false, size });
  tl.setModel(model);
  tl.render();
  tl.ctx.getImageData(0, 0, 1, 1);
  const times = [];
  for (const step of frameScript()) {
    const a = performance.now();
    step(tl);
    tl.render();
    tl.ctx.getImageData(0, 0, 1, 1); // wait for the pixels, not just the draw calls
    times.push(performance.now() - a);
  }
  if (tl.frameRequested) cancelAnimationFrame(tl.frameRequested);
  const sorted = [...times].sort((x, y) => x - y);
  const round = (x) => Math.round(x * 100) / 100;
  return {
    frames: times.length,
    medianMs: round(percentile(sorted, 50)),
    p95Ms: round(percentile(sorted, 95)),
    maxMs: round(sorted[sorted.length - 1]),
    lanes,
    spans: model.spanTotal,
    buildMs: Math.round(buildMs),
    width: size.width,
    height: size.height,
  };
}

/**
 * exposeApi publishes window.interleave for browser tests and the curious:
 * status, runId, summary, eventCount(), lanes(), spansBetween(t0, t1),
 * view(), benchmark({lanes, spansPerLane}), run(), cancel().
 */
function exposeApi(viewer, runner) {
  window.interleave = {
    get status() { return viewer ? viewer.model.status : 'none'; },
    get runId() { return viewer ? viewer.runId : null; },
    get summary() { return viewer ? viewer.model.summary : null; },
    get model() { return viewer?.model ?? null; },
    get timeline() { return viewer?.timeline ?? null; },
    eventCount: () => (viewer ? viewer.model.events : 0),
    lanes: () => (viewer ? viewer.model.laneList.map((l) => ({
      id: l.id, kind: l.kind, name: l.name, group: l.group, pid: l.pid, spans: l.spans,
    })) : []),
    spansBetween: (t0, t1) => (viewer ? viewer.model.spansBetween(t0, t1) : 0),
    view: () => (viewer ? { t0: viewer.timeline.view.t0, t1: viewer.timeline.view.t1 } : { t0: 0, t1: 0 }),
    benchmark: (opts) => runBenchmark(viewer, opts),
    run: () => runner?.start(),
    cancel: () => runner?.cancel(),
  };
}

/** start wires the page that loaded this module. */
function start() {
  const toggles = new DisplayToggles();
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || editable(e.target)) return;
    if (e.key === 'l') toggles.setLarge(!toggles.large);
    else if (e.key === '?') toggles.toggleHelp();
    else if (e.key === 'Escape') toggles.toggleHelp(false);
    else return;
    e.preventDefault();
  });
  const root = $('app');
  const page = root?.dataset.page;
  let viewer = null;
  let runner = null;
  if ((page === 'scenario' || page === 'run') && $('timeline-canvas')) {
    viewer = new Viewer(root, toggles);
    if (page === 'scenario') runner = new ScenarioRunner(viewer);
    if (page === 'run' && root.dataset.run) viewer.watch(root.dataset.run, root.dataset.status || 'connecting');
    viewer.timeline.render();
  }
  exposeApi(viewer, runner);
}

start();
