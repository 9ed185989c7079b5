/**
 * compare.js: the measured decision matrix (/compare), loaded by app.js on
 * that page only.
 *
 * "Run comparison" POSTs /api/compare with the form's values; the answer's
 * id becomes the page's URL (/compare/{id}, the permalink of the whole
 * comparison) and the page polls GET /api/compare/{id} until it is over. As
 * soon as a model has a run, its timeline watches the run live
 * (/api/runs/{run}/events): one Viewer per model, stacked, all sharing one
 * TimeView so that they read on one time axis and zoom and pan together.
 * The results table fills in as models finish; once every model has run,
 * the winner of each criterion is marked, or the tie when the best were
 * within the measured noise of each other, and the guide's matrix beside it
 * highlights the workload, the measured winner (or tie) and, when the
 * measurement disagrees with the rule of thumb or ties, the server's note.
 */

import { postJSON } from './api.js';
import { TimeView } from './timeview.js';
import { Viewer, timelineKey, syncToolbar, paintLegend, editable } from './viewer.js';
import {
  resultRows, ruleState, progressText, compareRequest, fieldOfCompareError,
  isFinalComparison, speedupHeading, noiseText, engineSlots, groupedTable,
} from './results.js';

/** POLL_MS is how often a running comparison is asked for its results. */
const POLL_MS = 300;

/** TIMELINE_MAX_H and TIMELINE_MIN_H bound one model's timeline (CSS px): several must fit on a screen. */
const TIMELINE_MAX_H = 300;
const TIMELINE_MIN_H = 90;

const $ = (id) => document.getElementById(id);

/** startCompare wires the comparison page and adds window.interleave.compare. */
export function startCompare(root, toggles) {
  const page = new ComparePage(root, toggles);
  if (window.interleave) window.interleave.compare = page.api();
  return page;
}

/** ComparePage runs, follows and shows one comparison at a time. */
class ComparePage {
  constructor(root, toggles) {
    this.root = root;
    this.toggles = toggles;
    this.form = $('compare-form');
    this.runButton = $('compare-run');
    this.message = $('compare-message');
    this.statusLine = $('compare-status');
    this.permalink = $('compare-permalink');
    this.stack = $('compare-timelines');
    this.template = $('compare-run-template');
    this.view = new TimeView();
    /** viewers maps a model to {section, viewer, run}. */
    this.viewers = new Map();
    this.id = root.dataset.comparison || '';
    this.result = null;
    this.resultKey = '';
    this.pollTimer = 0;
    this.generation = 0;
    this.viewText = '';
    this.fitted = false;
    this.wire();
    paintLegend();
    this.syncEngine();
    if (this.id) this.follow(this.id);
  }

  /** api is window.interleave.compare, for browser tests and the curious. */
  api() {
    const page = this;
    return {
      get id() { return page.id; },
      get status() { return page.result ? page.result.status : (page.id ? 'loading' : 'none'); },
      get result() { return page.result; },
      get error() { return page.message?.hidden === false ? page.message.textContent : ''; },
      timelines: () => [...page.viewers].map(([model, v]) => ({
        model,
        run: v.run,
        status: v.viewer.model.status,
        lanes: v.viewer.model.laneList.length,
        t0: v.viewer.timeline.view.t0,
        t1: v.viewer.timeline.view.t1,
      })),
      view: () => ({ ...page.view.view }),
      run: () => page.start(),
      zoom: (factor) => page.lead()?.zoomAt(factor),
    };
  }

  /** lead is the timeline the toolbar and keys act on (all share one window). */
  lead() {
    const first = this.viewers.values().next().value;
    return first ? first.viewer.timeline : null;
  }

  // ---- starting and following ------------------------------------------------

  /** fields reads the form. */
  fields() {
    const data = new FormData(this.form);
    return Object.fromEntries(['workload', 'engine', 'size', 'workers'].map((k) => [k, String(data.get(k) ?? '')]));
  }

  /** start POSTs a comparison of the form's settings, then follows it at its permalink. */
  async start() {
    const body = compareRequest(this.fields());
    // The link's own mistake, if any, is answered again (or not) by the server.
    $('error')?.remove();
    this.setMessage('');
    this.markField('');
    if (this.runButton) this.runButton.disabled = true;
    this.setStatus('starting…', 'starting');
    let res;
    let data = {};
    try {
      ({ res, data } = await postJSON('/api/compare', body));
    } catch (err) {
      this.failed(`Could not reach the server: ${err.message}`);
      return;
    }
    if (res.status === 201 && data.id) {
      history.replaceState(null, '', `/compare/${encodeURIComponent(data.id)}`);
      this.follow(data.id, data);
      return;
    }
    const msg = data.error || `${res.status} ${res.statusText}`;
    if (res.status === 429) {
      this.failed(`Too many comparisons: retry in ${res.headers.get('Retry-After') || 'a few'} s.`);
    } else if (res.status === 503) {
      this.markField('engine', msg);
      this.failed(`The engine is unavailable: ${msg}`);
    } else {
      this.markField(fieldOfCompareError(msg), msg);
      this.failed(msg);
    }
  }

  /** failed shows why a comparison did not start. */
  failed(message) {
    this.setMessage(message);
    this.setStatus(this.result ? progressText(this.result) : 'not started', this.result ? this.result.status : 'failed');
    this.syncEngine();
  }

  /** follow shows comparison id (a permalink, or one just started), polling it until it is over. */
  follow(id, first = null) {
    this.generation++;
    clearTimeout(this.pollTimer);
    if (id !== this.id || first) this.clear();
    this.id = id;
    this.root.dataset.comparison = id;
    if (this.permalink) {
      this.permalink.href = `/compare/${encodeURIComponent(id)}`;
      this.permalink.hidden = false;
    }
    if (first) this.show(first);
    this.poll(this.generation);
  }

  /** clear removes the previous comparison's timelines and results. */
  clear() {
    for (const { viewer } of this.viewers.values()) {
      viewer.socket?.close();
      this.view.leave(viewer.timeline);
    }
    this.viewers.clear();
    this.stack?.replaceChildren();
    this.view.reset();
    this.result = null;
    this.resultKey = '';
    this.fitted = false;
  }

  /** poll asks for the comparison's results every POLL_MS until it is over. */
  async poll(generation) {
    let res;
    let data = {};
    try {
      res = await fetch(`/api/compare/${encodeURIComponent(this.id)}`, { headers: { Accept: 'application/json' } });
      data = await res.json().catch(() => ({}));
    } catch (err) {
      if (generation !== this.generation) return;
      this.setMessage(`Lost contact with the server (${err.message}); retrying…`);
      this.pollTimer = setTimeout(() => this.poll(generation), POLL_MS * 5);
      return;
    }
    if (generation !== this.generation) return;
    if (res.status === 404) {
      this.setMessage('This comparison is not on the server any more: comparisons are kept until it restarts. Its runs stay recorded under Recent runs.');
      this.setStatus('not found', 'failed');
      return;
    }
    if (!res.ok) {
      this.setMessage(data.error || `${res.status} ${res.statusText}`);
      this.pollTimer = setTimeout(() => this.poll(generation), POLL_MS * 5);
      return;
    }
    this.setMessage('');
    this.show(data);
    if (!isFinalComparison(data.status)) this.pollTimer = setTimeout(() => this.poll(generation), POLL_MS);
  }

  // ---- showing ---------------------------------------------------------------

  /** show brings the page up to date with a comparison's results. */
  show(result) {
    this.result = result;
    this.setStatus(progressText(result), result.status);
    if (this.runButton) this.runButton.disabled = !isFinalComparison(result.status);
    this.syncForm(result);
    const slots = engineSlots(result);
    this.dropStaleSections(slots);
    for (const slot of slots) {
      const entry = this.section(slot.key, slots.length > (result.models || []).length ? `${this.engineName(slot.engine)} · ${slot.model}` : slot.model);
      if (slot.row.run && !entry.viewer) this.attach(entry, slot.row);
      this.syncSection(entry, slot.row);
    }
    const key = JSON.stringify([result.models, result.groups, result.winners, result.ties, result.rule, result.status, result.baseline]);
    if (key !== this.resultKey) {
      this.resultKey = key;
      this.showTable(result);
      this.showMatrix(result);
    }
    this.maybeFit();
  }

  /** syncForm shows the comparison's settings in the form (a permalink opened cold). */
  syncForm(result) {
    const engine = (result.engines && result.engines.length > 1 ? result.engines : [result.engine]).join(',');
    for (const [name, value] of [['workload', result.workload], ['engine', engine], ['size', result.size], ['workers', String(result.workers)]]) {
      const el = this.form?.elements.namedItem(name);
      if (el && value && el.value !== value && document.activeElement !== el) el.value = value;
    }
  }

  /**
   * section returns the timeline section of a slot (a model, or engine/model
   * on several engines), made from the page's template when missing; label
   * is what its heading says.
   */
  section(key, label = key) {
    let entry = this.viewers.get(key);
    if (entry) return entry;
    let el = this.stack?.querySelector(`section[data-model="${CSS.escape(key)}"]`);
    if (!el && this.template && this.stack) {
      el = this.template.content.firstElementChild.cloneNode(true);
      el.dataset.model = key;
      el.setAttribute('aria-label', `${label} timeline`);
      el.querySelector('.compare-model').textContent = label;
      this.stack.append(el);
    }
    entry = { section: el, viewer: null, run: '' };
    this.viewers.set(key, entry);
    return entry;
  }

  /**
   * dropStaleSections removes the sections the page was served with that
   * name no slot of the comparison (one per model, before it turned out to
   * run on several engines), keeping the order of the runs.
   */
  dropStaleSections(slots) {
    const keys = new Set(slots.map((s) => s.key));
    for (const el of [...(this.stack?.querySelectorAll('section[data-model]') || [])]) {
      if (!keys.has(el.dataset.model) && !this.viewers.get(el.dataset.model)?.viewer) {
        this.viewers.delete(el.dataset.model);
        el.remove();
      }
    }
  }

  /** engineName is how the page names an engine: its option in the form. */
  engineName(engine) {
    const select = this.form?.elements.namedItem('engine');
    const option = [...(select?.options || [])].find((o) => o.value === engine);
    return option ? option.textContent.replace(/\s*\(unavailable\)\s*$/, '').trim() : engine;
  }

  /** attach starts watching a model's run on its own timeline, on the shared time axis. */
  attach(entry, row) {
    const el = entry.section;
    if (!el) return;
    const canvas = el.querySelector('canvas');
    const viewer = new Viewer(this.root, this.toggles, {
      canvas,
      tooltip: el.querySelector('.tooltip'),
      parts: { status: el.querySelector('.status'), empty: el.querySelector('.timeline-empty') },
      wire: false,
      fitOnFinal: false,
      view: this.view,
      maxHeight: TIMELINE_MAX_H,
      minHeight: TIMELINE_MIN_H,
    });
    viewer.onViewChange = () => syncToolbar(this.lead() || viewer.timeline, this);
    viewer.onFinal = () => this.maybeFit();
    entry.viewer = viewer;
    entry.run = row.run;
    viewer.watch(row.run, row.status);
    const link = el.querySelector('.compare-run-link');
    if (link) {
      link.href = `/r/${encodeURIComponent(row.run)}`;
      link.hidden = false;
    }
  }

  /** syncSection marks a model's section with its run's status (waiting until it has a run). */
  syncSection(entry, row) {
    const el = entry.section;
    if (!el) return;
    el.dataset.status = row.run ? row.status : 'waiting';
    if (!entry.viewer) {
      const pill = el.querySelector('.status');
      if (pill) {
        pill.textContent = 'waiting';
        pill.dataset.status = 'waiting';
      }
    }
  }

  /**
   * maybeFit shows every run whole on the shared axis once the comparison
   * is over and every timeline has its history, unless the reader has
   * already moved the view.
   */
  maybeFit() {
    if (this.fitted || !this.result || !isFinalComparison(this.result.status)) return;
    for (const { viewer } of this.viewers.values()) {
      if (viewer && !viewer.loaded) return;
    }
    this.fitted = true;
    if (this.view.follow) {
      this.view.fit();
      this.view.setFollow(false);
    }
  }

  /** showTable fills the results table, marking the winner of each criterion. */
  showTable(result) {
    const table = $('results');
    if (!table) return;
    const grouped = groupedTable(result);
    if (grouped) {
      this.showGroupedTable(table, grouped);
      return;
    }
    const head = table.querySelector('th[data-col="speedup"]');
    if (head) head.textContent = speedupHeading(result);
    const rows = resultRows(result);
    const body = table.tBodies[0];
    body.replaceChildren(...rows.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.model = r.model;
      tr.dataset.status = r.status;
      const th = document.createElement('th');
      th.scope = 'row';
      if (r.run) {
        const a = document.createElement('a');
        a.href = `/r/${encodeURIComponent(r.run)}`;
        a.textContent = r.model;
        a.title = r.verdict || 'the recorded run';
        th.append(a);
      } else {
        th.append(r.model);
      }
      const pill = document.createElement('span');
      pill.className = 'status';
      pill.dataset.status = r.run ? r.status : 'waiting';
      pill.textContent = r.statusText;
      th.append(' ', pill);
      tr.append(th);
      for (const c of r.cells) {
        const td = document.createElement('td');
        td.dataset.col = c.key;
        td.textContent = c.text;
        if (c.title) td.title = c.title;
        if (c.winner || c.tie) {
          td.classList.add(c.winner ? 'winner' : 'tie');
          const badge = document.createElement('span');
          badge.className = c.winner ? 'best' : 'best tie';
          badge.textContent = `${c.winner ? '★' : '='} ${c.best}`;
          td.append(' ', badge);
        }
        tr.append(td);
      }
      return tr;
    }));
    const noise = $('noise-note');
    if (noise) {
      noise.textContent = noiseText(result);
      noise.hidden = !noise.textContent;
    }
    const verdicts = $('verdicts');
    if (verdicts) {
      verdicts.replaceChildren(...rows.filter((r) => r.verdict).map((r) => {
        const li = document.createElement('li');
        const b = document.createElement('strong');
        b.textContent = `${r.model}: `;
        li.append(b, r.verdict);
        return li;
      }));
    }
  }

  /**
   * showGroupedTable fills the results table of a comparison over several
   * engines: one column group per engine, each with its own winners.
   */
  showGroupedTable(table, grouped) {
    const th = (text, attrs = {}) => {
      const el = document.createElement('th');
      el.textContent = text;
      Object.assign(el, attrs);
      return el;
    };
    const top = document.createElement('tr');
    top.append(th('', { scope: 'col' }));
    const sub = document.createElement('tr');
    sub.append(th('model', { scope: 'col' }));
    for (const engine of grouped.engines) {
      const g = th(this.engineName(engine), { scope: 'colgroup', colSpan: grouped.columns.length });
      g.dataset.engine = engine;
      top.append(g);
      for (const c of grouped.columns) {
        const h = th(c.label, { scope: 'col' });
        h.dataset.col = c.key;
        h.dataset.engine = engine;
        sub.append(h);
      }
    }
    table.tHead.replaceChildren(top, sub);
    table.tBodies[0].replaceChildren(...grouped.rows.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.model = r.model;
      tr.append(th(r.model, { scope: 'row' }));
      for (const g of r.groups) {
        for (const c of g.cells) {
          const td = document.createElement('td');
          td.dataset.col = c.key;
          td.dataset.engine = g.engine;
          if (c.key === 'wall' && g.run) {
            const a = document.createElement('a');
            a.href = `/r/${encodeURIComponent(g.run)}`;
            a.textContent = c.text || g.statusText;
            a.title = g.verdict || 'the recorded run';
            td.append(a);
          } else {
            td.textContent = c.text || (c.key === 'wall' ? g.statusText : '');
          }
          if (c.title) td.title = c.title;
          if (c.winner || c.tie) {
            td.classList.add(c.winner ? 'winner' : 'tie');
            const badge = document.createElement('span');
            badge.className = c.winner ? 'best' : 'best tie';
            badge.textContent = `${c.winner ? '★' : '='} ${c.best}`;
            td.append(' ', badge);
          }
          tr.append(td);
        }
      }
      return tr;
    }));
    const noise = $('noise-note');
    if (noise) {
      noise.textContent = noiseText(this.result || {});
      noise.hidden = !noise.textContent;
    }
    const verdicts = $('verdicts');
    if (verdicts) {
      verdicts.replaceChildren(...grouped.rows.flatMap((r) => r.groups.filter((g) => g.verdict).map((g) => {
        const li = document.createElement('li');
        const b = document.createElement('strong');
        b.textContent = `${this.engineName(g.engine)} · ${r.model}: `;
        li.append(b, g.verdict);
        return li;
      })));
    }
  }

  /** showMatrix highlights the workload's row of the guide's matrix, the measured winner and the note. */
  showMatrix(result) {
    const state = ruleState(result);
    for (const tr of document.querySelectorAll('#matrix tbody tr')) {
      const current = tr.dataset.workload === state.workload;
      tr.classList.toggle('current', current);
      if (current) tr.setAttribute('aria-current', 'true'); else tr.removeAttribute('aria-current');
      const cell = tr.querySelector('td.measured');
      if (!cell) continue;
      cell.replaceChildren();
      delete cell.dataset.agrees;
      if (!current || (!state.measured && state.tied.length === 0)) continue;
      const strong = document.createElement('strong');
      strong.textContent = state.measured || `tie: ${state.tied.join(', ')}`;
      cell.append(strong);
      if (state.agrees !== null) {
        cell.dataset.agrees = String(state.agrees);
        cell.append(state.agrees ? ' ✓ agrees' : ' ✗ disagrees');
      } else {
        cell.append(' (so far)');
      }
      for (const li of tr.querySelectorAll('.rule li')) {
        li.classList.toggle('measured-winner', li.dataset.model === state.measured || state.tied.includes(li.dataset.model));
      }
    }
    const note = $('rule-note');
    if (note) {
      note.textContent = state.note;
      note.hidden = !state.note;
    }
  }

  /** setStatus writes the comparison's status line. */
  setStatus(text, status) {
    if (!this.statusLine) return;
    this.statusLine.textContent = text;
    this.statusLine.dataset.status = status;
  }

  /** setMessage shows an error ('' hides it). */
  setMessage(text) {
    if (!this.message) return;
    this.message.textContent = text;
    this.message.hidden = !text;
  }

  /** markField marks the form control an error is about ('' clears every mark). */
  markField(field, message = '') {
    for (const el of this.form?.querySelectorAll('[aria-invalid]') || []) {
      el.removeAttribute('aria-invalid');
      el.removeAttribute('title');
    }
    if (!field) return;
    const el = this.form?.elements.namedItem(field);
    if (el) {
      el.setAttribute('aria-invalid', 'true');
      el.title = message;
    }
  }

  /** syncEngine disables Run, and says why, when the chosen engine cannot run here. */
  syncEngine() {
    const select = this.form?.elements.namedItem('engine');
    const option = select?.selectedOptions?.[0];
    const why = option?.dataset.unavailable || '';
    const note = $('compare-engine-note');
    if (note) {
      note.textContent = why ? `${option.textContent.replace(/ \(unavailable\)$/, '')} cannot run here: ${why}` : '';
      note.hidden = !why;
    }
    const running = this.result && !isFinalComparison(this.result.status);
    if (this.runButton) this.runButton.disabled = !!why || !!running;
  }

  // ---- controls --------------------------------------------------------------

  wire() {
    this.runButton?.addEventListener('click', () => this.start());
    this.form?.elements.namedItem('engine')?.addEventListener('change', () => this.syncEngine());
    const act = (fn) => () => {
      const tl = this.lead();
      if (tl) fn(tl);
    };
    $('zoom-in')?.addEventListener('click', act((tl) => tl.zoomAt(0.6)));
    $('zoom-out')?.addEventListener('click', act((tl) => tl.zoomAt(1 / 0.6)));
    $('fit')?.addEventListener('click', act((tl) => tl.fit()));
    $('follow')?.addEventListener('click', act((tl) => tl.setFollow(!tl.follow)));
    document.addEventListener('keydown', (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || editable(e.target)) return;
      const focused = [...this.viewers.values()].find((v) => v.viewer && v.viewer.timeline.canvas.parentElement === document.activeElement);
      const tl = focused ? focused.viewer.timeline : this.lead();
      if (!tl || !timelineKey(tl, e.key, !!focused)) return;
      e.preventDefault();
    });
  }
}
