/**
 * stepview.js: the stepping panel, where the learner is the scheduler.
 *
 * It shows the step run the viewer watches, as of the viewer's cut (live:
 * now; replay: the cursor): one column per thread with its code, the line
 * it stopped before and its locals, and a button that lets it run that line
 * (also its number key, 1 to 9); the shared state (the counters, who holds
 * which lock); the schedule taken so far, which is also put in the page's
 * URL. Run freely, Random step and Start over act on the run; the search
 * button asks POST /api/search and opens the shortest interleaving found as
 * a step run that follows it.
 *
 * What is shown is computed by stepping.js from the run's events only, so a
 * recorded run replays its steps exactly as they happened.
 */

import { postJSON } from './api.js';
import { editable } from './viewer.js';
import { isFinal } from './model.js';
import { stepState, threadLane, withSchedule, isStepQuery } from './stepping.js';

const $ = (id) => document.getElementById(id);

/** el makes an element with a class and text. */
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * StepPanel drives #stepping for one Viewer.
 */
export class StepPanel {
  /**
   * @param {HTMLElement} section #stepping
   * @param {import('./viewer.js').Viewer} viewer
   * @param {object} host what the page does for the panel
   * @param {() => string} host.query the share query of the run on the page (the page's settings before any)
   * @param {() => string} host.settings the share query of the page's settings (what a search explores)
   * @param {(overrides: Object<string,string>) => Promise<void>} host.start starts a run with the page's settings changed by overrides
   * @param {(query: string, runId: string) => void} [host.showSchedule] puts a share query with the schedule so far (and the run shown) in the address bar
   */
  constructor(section, viewer, host) {
    this.section = section;
    this.viewer = viewer;
    this.host = host;
    this.goals = (section.dataset.goals || '').split(',').filter(Boolean);
    this.startQuery = section.dataset.stepStart || '';
    this.threadsBox = $('step-threads');
    this.shared = $('step-shared');
    this.scheduleLine = $('step-schedule');
    this.message = $('step-message');
    this.columns = new Map();
    this.shownKey = '';
    this.busy = false;
    /** queue holds the commands given while one was on its way. */
    this.queue = [];
    this.state = null;
    $('step-start')?.addEventListener('click', () => this.startStepping());
    $('step-restart')?.addEventListener('click', () => this.restart());
    $('step-random')?.addEventListener('click', () => this.send({ random: true }));
    $('step-free')?.addEventListener('click', () => this.send({ free: true }));
    for (const b of section.querySelectorAll('.step-search')) {
      b.addEventListener('click', () => this.search(b.dataset.goal));
    }
    document.addEventListener('keydown', (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || editable(e.target)) return;
      if (!/^[1-9]$/.test(e.key) || !this.live) return;
      e.preventDefault();
      this.stepThread(Number(e.key));
    });
    section.hidden = false;
    this.update();
  }

  /** live reports whether the run on the page is a step run that waits for steps now. */
  get live() {
    const m = this.viewer.model;
    return !!this.viewer.runId && isStepQuery(this.host.query()) && m.status === 'running' && m.cursor === null && !!this.state && !this.state.ended;
  }

  /** update redraws the panel when the run (or the cursor) changed. */
  update() {
    const m = this.viewer.model;
    const s = stepState(m);
    this.state = s;
    const live = this.live;
    const key = `${m.version}|${m.status}|${m.cursor}|${live}|${this.busy}`;
    if (key === this.shownKey) return;
    this.shownKey = key;
    this.section.dataset.live = String(live);
    this.section.dataset.hasRun = String(!!s);
    for (const id of ['step-random', 'step-free']) {
      const b = $(id);
      if (b) b.disabled = !live || this.busy;
    }
    const restart = $('step-restart');
    if (restart) restart.hidden = !s;
    if (!s) {
      this.threadsBox.replaceChildren();
      this.shared.replaceChildren();
      this.scheduleLine.textContent = '';
      this.columns.clear();
      return;
    }
    this.showShared(s);
    this.showThreads(s, live);
    this.showSchedule(s);
    if (live && this.host.showSchedule) this.host.showSchedule(withSchedule(this.host.query(), s.schedule, true), this.viewer.runId);
  }

  /** showShared writes the counters and who holds each lock. */
  showShared(s) {
    const items = [];
    for (const c of s.counters) {
      items.push(this.fact(c.name, c.value === undefined ? '–' : String(c.value)));
    }
    for (const l of s.locks) {
      const holder = l.holder ? `held by ${this.nameOf(l.holder)}` : 'free';
      const waiting = l.waiters.length ? `; ${l.waiters.map((w) => this.nameOf(w)).join(', ')} waiting` : '';
      items.push(this.fact(l.name, holder + waiting));
    }
    if (s.deadlock) items.push(this.fact('deadlock', s.deadlock, 'deadlock'));
    this.shared.replaceChildren(...items);
  }

  fact(name, value, cls = '') {
    const p = el('span', `step-fact ${cls}`.trim());
    p.append(el('span', 'step-fact-name', name), ' ', el('strong', 'step-fact-value', value));
    return p;
  }

  nameOf(lane) {
    return this.viewer.model.lanes.get(lane)?.name || lane;
  }

  /** showThreads draws one column per thread: button, status, code with the current line, locals. */
  showThreads(s, live) {
    for (const th of s.threads) {
      let col = this.columns.get(th.lane);
      if (!col) {
        col = this.column(th);
        this.columns.set(th.lane, col);
        this.threadsBox.append(col.root);
      }
      col.root.dataset.status = th.status;
      col.button.disabled = !live || !th.canStep || this.busy;
      col.button.title = th.canStep ? `Let ${th.name} run line ${th.line} (key ${th.number})` : `${th.name} ${th.why}`;
      col.status.textContent = th.why;
      if (col.source !== th.source) this.fillCode(col, th);
      for (const [line, li] of col.lines) {
        const current = line === th.line && th.status !== 'done';
        li.classList.toggle('current', current);
        if (current) li.setAttribute('aria-current', 'step');
        else li.removeAttribute('aria-current');
      }
      const rows = Object.entries(th.locals || {}).map(([k, v]) => {
        const row = el('div', 'step-local');
        row.append(el('dt', '', k), el('dd', '', v));
        return row;
      });
      col.locals.replaceChildren(...(rows.length ? rows : [el('div', 'empty', th.status === 'done' ? 'returned' : 'no locals yet')]));
    }
  }

  /** column makes a thread's column. */
  column(th) {
    const root = el('section', 'step-thread');
    root.dataset.lane = th.lane;
    root.setAttribute('aria-label', th.name);
    const button = el('button', 'step-button');
    button.type = 'button';
    button.dataset.lane = th.lane;
    button.setAttribute('aria-keyshortcuts', String(th.number));
    button.append(el('kbd', '', String(th.number)), ` ${th.name}: run one line`);
    button.addEventListener('click', () => this.stepThread(th.number));
    const status = el('p', 'step-status');
    status.setAttribute('aria-live', 'polite');
    const code = el('ol', 'step-code');
    const locals = el('dl', 'step-locals');
    root.append(button, status, code, el('h4', 'step-locals-title', 'Locals'), locals);
    return { root, button, status, code, locals, lines: new Map(), source: null };
  }

  /** fillCode writes a thread's function, numbered as in the script. */
  fillCode(col, th) {
    col.source = th.source;
    col.lines.clear();
    col.code.start = th.first || 1;
    col.code.replaceChildren(...th.source.map((text, i) => {
      const li = el('li', '', text || ' ');
      col.lines.set(th.first + i, li);
      return li;
    }));
  }

  /** showSchedule writes the schedule so far, with a link that replays it. */
  showSchedule(s) {
    const line = this.scheduleLine;
    line.replaceChildren();
    if (!s.schedule) {
      line.append('No step taken yet.');
      return;
    }
    line.append(`Schedule so far (${s.steps} step${s.steps === 1 ? '' : 's'}): `, el('code', 'step-schedule-value', s.schedule), ' · ');
    const a = el('a', '', 'link to this interleaving');
    a.id = 'step-link';
    a.href = `/s/${encodeURIComponent(this.viewer.scenario)}?${withSchedule(this.host.query(), s.schedule, true)}`;
    line.append(a);
  }

  setMessage(text) {
    this.message.textContent = text;
  }

  /**
   * stepThread lets thread number n run one line. While a step is on its
   * way, presses wait their turn, so that every key pressed counts.
   */
  stepThread(n) {
    if (this.busy) {
      this.queue.push({ lane: threadLane(n) });
      return;
    }
    const th = this.state?.threads.find((x) => x.number === n);
    if (!th) {
      this.setMessage(`There is no thread ${n} in this run.`);
      return;
    }
    if (!th.canStep) {
      this.setMessage(`${th.name} cannot take a step: ${th.why}.`);
      return;
    }
    this.send({ lane: threadLane(n) });
  }

  /** send posts one step command to the run and reports a refusal; commands given meanwhile follow. */
  async send(body) {
    const id = this.viewer.runId;
    if (!id) return;
    if (this.busy) {
      this.queue.push(body);
      return;
    }
    this.busy = true;
    this.shownKey = '';
    this.update();
    try {
      const { res, data } = await postJSON(`/api/runs/${encodeURIComponent(id)}/step`, body);
      if (!res.ok) {
        this.queue = []; // what followed a refused step was meant for another state
        this.setMessage(data.error || `${res.status} ${res.statusText}`);
      }
      else if (data.deadlock) this.setMessage(`Deadlock: ${data.deadlock}.`);
      else if (body.free) this.setMessage('The threads run freely now.');
      else this.setMessage('');
    } catch (err) {
      this.setMessage(`Could not reach the server: ${err.message}`);
    } finally {
      this.busy = false;
      this.shownKey = '';
      this.update();
    }
    const next = this.queue.shift();
    if (next) await this.send(next);
  }

  /** startStepping starts a step run with the settings a first one uses. */
  startStepping() {
    this.setMessage('');
    return this.host.start(Object.fromEntries(new URLSearchParams(this.startQuery)));
  }

  /** restart starts the same step run again from the first line (the old one is cancelled). */
  async restart() {
    const id = this.viewer.runId;
    const m = this.viewer.model;
    if (id && !isFinal(m.status)) {
      await fetch(`/api/runs/${encodeURIComponent(id)}`, { method: 'DELETE' }).catch(() => {});
    }
    this.setMessage('');
    return this.host.start({ step: 'true', schedule: '' });
  }

  /** search asks for an interleaving that reaches goal and opens the shortest found. */
  async search(goal) {
    const buttons = this.section.querySelectorAll('.step-search');
    for (const b of buttons) b.disabled = true;
    this.setMessage('Searching: running the threads again and again, one interleaving after another…');
    try {
      const params = Object.fromEntries(new URLSearchParams(this.host.settings()));
      const engine = params.engine || this.viewer.engine;
      delete params.engine;
      delete params.step;
      delete params.schedule;
      const { res, data } = await postJSON('/api/search', { scenario: this.viewer.scenario, engine, params, goal });
      if (!res.ok) {
        this.setMessage(data.error || `${res.status} ${res.statusText}`);
        return;
      }
      this.setMessage(data.sentence);
      this.section.dataset.searched = data.found ? 'found' : 'none';
      if (data.found) {
        const id = this.viewer.runId;
        if (id && !isFinal(this.viewer.model.status)) {
          await fetch(`/api/runs/${encodeURIComponent(id)}`, { method: 'DELETE' }).catch(() => {});
        }
        await this.host.start({ step: 'true', schedule: data.schedule });
        this.setMessage(`${data.sentence} The run follows it, then waits for you.`);
      }
    } catch (err) {
      this.setMessage(`Could not reach the server: ${err.message}`);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }
}
