/**
 * app.js: the page controller.
 *
 * On every page it wires the display toggles (large type, the shortcut
 * list). On a scenario page (/s/{id}) it runs the scenario: Run reads the
 * form, POSTs /api/runs, replaces the URL with the share link carrying the
 * run (?run=, so that a reload or a late follower re-attaches to it) and
 * watches the run (viewer.js); Cancel DELETEs it. When the queue is full
 * Run tries again by itself after the server's Retry-After. A tab in a
 * workshop room (or on a room page, /w/{code}) also loads room.js, and its
 * runs are the room's. On a run page (/r/{id}) it
 * watches that run and, once it is finished, replays it (replaybar.js).
 * On both, Save image exports the timeline as PNG or SVG. The comparison
 * page (/compare) is compare.js, loaded only there; the recent-runs page
 * (/runs) gets the trace upload (imports.js).
 *
 * The page's data comes from data-* attributes of #app: data-page
 * (scenario|run|runs|compare|catalog|error), data-scenario, data-engine,
 * data-run, data-status, data-engine-error.
 *
 * For browser tests the page exposes window.interleave (see exposeApi).
 */

import { postJSON } from './api.js';
import { isFinal } from './model.js';
import { Timeline } from './timeline.js';
import { Viewer, editable } from './viewer.js';
import { ReplayBar } from './replaybar.js';
import { timelineSVG } from './svg.js';
import { readFields, runRequest, shareQuery, fieldOfError } from './params.js';
import { syntheticModel, frameScript, percentile } from './bench.js';
import { StepPanel } from './stepview.js';
import { readRoom } from './roomstate.js';

/** MAX_RETRIES is how many times Run tries again by itself while the queue is full. */
const MAX_RETRIES = 30;

/** LARGE_TYPE_KEY is where the large-type choice is kept in localStorage. */
const LARGE_TYPE_KEY = 'interleave.largeType';

const $ = (id) => document.getElementById(id);

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
    this.largeListeners = [];
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
    for (const fn of this.largeListeners) fn(on);
  }

  /** onLargeChange calls fn(on) whenever large type is switched. */
  onLargeChange(fn) {
    this.largeListeners.push(fn);
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
 * ScenarioRunner adds Run and Cancel to the viewer of a scenario page.
 */
class ScenarioRunner {
  constructor(viewer) {
    this.viewer = viewer;
    this.form = $('params');
    this.retries = 0;
    this.retryTimer = 0;
    $('run')?.addEventListener('click', () => {
      this.retries = 0;
      this.start();
    });
    $('cancel')?.addEventListener('click', () => this.cancel());
  }

  /** start submits a run with the form's values and watches it. */
  async start() {
    const v = this.viewer;
    if (v.root.dataset.engineError) return;
    this.stopRetrying();
    const fields = readFields(this.form);
    const body = runRequest(v.scenario, fields);
    const room = readRoom();
    if (room) body.room = room.code;
    clearFieldErrors();
    v.setMessage('');
    this.before = v.model.status;
    v.model.setStatus('starting');
    v.update();
    let res;
    let data = {};
    try {
      ({ res, data } = await postJSON('/api/runs', body));
    } catch (err) {
      this.failed(`Could not reach the server: ${err.message}`);
      return;
    }
    if (res.status === 201) {
      this.retries = 0;
      this.runQuery = shareQuery(fields);
      history.replaceState(null, '', `/s/${encodeURIComponent(v.scenario)}?${this.runQuery}&run=${encodeURIComponent(data.id)}`);
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
      case 429:
        this.retryLater(Number(res.headers.get('Retry-After')) || 5, msg);
        break;
      case 503:
        this.failed(`The engine is unavailable: ${msg}`);
        break;
      default:
        this.failed(msg);
    }
  }

  /**
   * retryLater waits seconds (as the server's Retry-After asks, plus a
   * little so that a room's retries do not all land at once), counting
   * down, then runs again; Cancel stops it.
   */
  retryLater(seconds, why) {
    const v = this.viewer;
    if (++this.retries > MAX_RETRIES) {
      this.failed(`${why} Gave up after ${MAX_RETRIES} tries: press Run to try again.`);
      return;
    }
    let left = Math.max(1, Math.round(seconds + Math.random() * 2));
    v.model.setStatus('waiting');
    v.update();
    const cancel = $('cancel');
    if (cancel) cancel.disabled = false;
    const tick = () => {
      if (left <= 0) {
        this.retryTimer = 0;
        this.start();
        return;
      }
      v.setMessage(`The server is busy (${why.replace(/\.$/, '')}): trying again by itself in ${left} s (try ${this.retries}).`);
      left--;
      this.retryTimer = setTimeout(tick, 1000);
    };
    tick();
  }

  /** stopRetrying cancels a pending automatic retry. */
  stopRetrying() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
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
    if (this.retryTimer) {
      this.stopRetrying();
      this.failed('Stopped trying again.');
      return;
    }
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

/**
 * scenarioStepHost is what the stepping panel does on a scenario page: the
 * run's settings are the form's, a new run starts from the form (with the
 * panel's changes written into it), and the address bar follows the
 * schedule so far.
 */
function scenarioStepHost(runner, scenario) {
  const form = $('params');
  const settings = () => shareQuery(readFields(form));
  return {
    query: () => runner.runQuery || settings(),
    settings,
    start: async (overrides) => {
      for (const [name, value] of Object.entries(overrides)) {
        const control = form.elements.namedItem(name);
        if (control) control.value = value;
      }
      await runner.start();
    },
    showSchedule: (query, runId) => {
      const url = `/s/${encodeURIComponent(scenario)}?${query}${runId ? `&run=${encodeURIComponent(runId)}` : ''}`;
      if (location.pathname + location.search !== url) history.replaceState(null, '', url);
    },
  };
}

/**
 * runStepHost is what the stepping panel does on a run page: the settings
 * are the run's (data-query); a new run starts with them, changed, and the
 * page moves to it.
 */
function runStepHost(root, viewer) {
  const query = () => root.dataset.query || '';
  return {
    query,
    settings: query,
    start: async (overrides) => {
      const q = new URLSearchParams(query());
      for (const [name, value] of Object.entries(overrides)) q.set(name, value);
      const engine = q.get('engine') || root.dataset.engine;
      q.delete('engine');
      const { res, data } = await postJSON('/api/runs', { scenario: root.dataset.scenario, engine, params: Object.fromEntries(q) });
      if (res.status === 201) location.assign(`/r/${encodeURIComponent(data.id)}`);
      else viewer.setMessage(data.error || `${res.status} ${res.statusText}`);
    },
  };
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

/** fileStem is a file name for an export of the viewer's run: interleave-locks-k3ab12. */
function fileStem(viewer) {
  const root = viewer.root.dataset;
  const parts = ['interleave', root.scenario || 'run', viewer.runId || root.run || 'live'];
  if (viewer.model.cursor !== null) parts.push(`at-${Math.round(viewer.model.cursor)}ns`);
  return parts.filter(Boolean).join('-').replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** download saves blob as a file named name. */
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** svgOf is the timeline's current view as an SVG document. */
function svgOf(viewer) {
  const title = document.querySelector('h1')?.textContent?.trim() || 'Interleave';
  return timelineSVG(viewer.timeline.snapshot(), { title: `${title} · Interleave` });
}

/** wireImageExport makes Save PNG and Save SVG export the timeline as it is on screen, for slides. */
function wireImageExport(viewer) {
  $('save-png')?.addEventListener('click', () => {
    const tl = viewer.timeline;
    tl.render(); // the canvas as of now, cursor and selection included
    tl.canvas.toBlob((blob) => {
      if (blob) download(blob, `${fileStem(viewer)}.png`);
      else viewer.setMessage('The image could not be made.');
    }, 'image/png');
  });
  $('save-svg')?.addEventListener('click', () => {
    download(new Blob([svgOf(viewer)], { type: 'image/svg+xml' }), `${fileStem(viewer)}.svg`);
  });
}

/**
 * exposeApi publishes window.interleave for browser tests and the curious:
 * status, runId, summary, model, timeline, eventCount(), lanes() (spans
 * counted up to the replay position), spansBetween(t0, t1) (likewise),
 * view(), selectedLane, svg(), benchmark({lanes, spansPerLane}), run(),
 * cancel(), and on a run page replay: {ready, t, duration, playing, speed,
 * seek(t), play(), pause(), step(dir), end()}; with a stepping panel,
 * stepping: {state (stepping.js stepState), live}. The comparison page adds
 * compare (see compare.js).
 */
function exposeApi(viewer, runner, replay, stepPanel) {
  window.interleave = {
    get stepping() { return stepPanel ? { state: stepPanel.state, live: stepPanel.live } : null; },
    get status() { return viewer ? viewer.model.status : 'none'; },
    get runId() { return viewer ? viewer.runId : null; },
    get summary() { return viewer ? viewer.model.summary : null; },
    get model() { return viewer?.model ?? null; },
    get timeline() { return viewer?.timeline ?? null; },
    get selectedLane() { return viewer ? viewer.timeline.selectedLane : ''; },
    eventCount: () => (viewer ? viewer.model.events : 0),
    lanes: () => (viewer ? viewer.model.laneList.map((l) => ({
      id: l.id, kind: l.kind, name: l.name, group: l.group, pid: l.pid, spans: l.spansBefore(viewer.model.cut),
    })) : []),
    spansBetween: (t0, t1) => (viewer ? viewer.model.spansBetween(t0, t1) : 0),
    view: () => (viewer ? { t0: viewer.timeline.view.t0, t1: viewer.timeline.view.t1 } : { t0: 0, t1: 0 }),
    svg: () => (viewer ? svgOf(viewer) : ''),
    benchmark: (opts) => runBenchmark(viewer, opts),
    run: () => runner?.start(),
    cancel: () => runner?.cancel(),
    replay: replay ? {
      get ready() { return replay.ready; },
      get t() { return replay.position; },
      get duration() { return replay.clock.duration; },
      get playing() { return replay.clock.playing; },
      get speed() { return replay.clock.speed; },
      seek: (t) => replay.seek(t),
      play: () => replay.play(),
      pause: () => replay.pause(),
      step: (dir) => replay.step(dir),
      end: () => replay.end(),
    } : null,
  };
}

/** startWorkshop opens a room (this browser presents it) and goes to it. */
async function startWorkshop() {
  const msg = $('workshop-message');
  try {
    const { res, data } = await postJSON('/api/rooms', {});
    if (res.status === 201) {
      location.assign(`/w/${encodeURIComponent(data.code)}`);
      return;
    }
    if (msg) {
      msg.textContent = data.error || `The room could not be opened (${res.status}).`;
      msg.hidden = false;
    }
  } catch (err) {
    if (msg) {
      msg.textContent = `Could not reach the server: ${err.message}`;
      msg.hidden = false;
    }
  }
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
  let replay = null;
  let stepPanel = null;
  if ((page === 'scenario' || page === 'run') && $('timeline-canvas')) {
    viewer = new Viewer(root, toggles);
    if (page === 'scenario') {
      runner = new ScenarioRunner(viewer);
      // The link carries the run (?run=): re-attach to it, live or finished.
      if (root.dataset.run) viewer.watch(root.dataset.run, root.dataset.status || 'connecting');
    }
    if (page === 'run' && root.dataset.run) {
      const status = root.dataset.status || 'connecting';
      replay = new ReplayBar(viewer, location.search, isFinal(status));
      viewer.watch(root.dataset.run, status);
    }
    wireImageExport(viewer);
    const stepping = $('stepping');
    if (stepping) {
      const host = page === 'scenario' ? scenarioStepHost(runner, root.dataset.scenario) : runStepHost(root, viewer);
      const panel = new StepPanel(stepping, viewer, host);
      viewer.onUpdate = () => panel.update();
      stepPanel = panel;
    }
    viewer.timeline.render();
    viewer.syncToolbar(); // the first frame may have moved the window (following)
  }
  exposeApi(viewer, runner, replay, stepPanel);
  $('start-workshop')?.addEventListener('click', startWorkshop);
  if (page === 'room' || readRoom()) {
    import('./room.js').then((m) => m.startRoom({ root, viewer, replay, toggles, runner }));
  }
  if (page === 'compare') {
    import('./compare.js').then((m) => m.startCompare(root, toggles));
  } else if (page === 'runs') {
    import('./imports.js').then((m) => m.startRunsPage(root));
  }
}

start();
