/**
 * room.js: a workshop room on every page of a tab that is in one.
 *
 * The room page (/w/{code}) puts the tab in the room (sessionStorage, see
 * roomstate.js); from then on every page the tab opens loads this module,
 * which joins the room, opens its socket (GET /api/rooms/{code}/events) and
 * adds the room's dock: the room's code, whether this tab follows the
 * presenter, and the latest question with its answers.
 *
 * The presenter's pages publish their view (PUT /api/rooms/{code}/view) as
 * it changes: the page, the run, the replay moment, the window, the lane,
 * large type. An attendee's page follows it: it goes to the presenter's page
 * and shows the same moment, window and lane. An attendee who pans, zooms,
 * replays or opens something else stops following ("Following paused —
 * Rejoin", key f); rejoining jumps to the presenter's current view.
 *
 * Questions: the presenter asks (the scenario's built-in question for the
 * settings on the page, or one of their own); attendees answer once each;
 * everyone sees the answers fill in, and once the presenter's run ends the
 * measured answer is drawn on the same chart (roomquestions.js draws them,
 * roomchart.js lays out the chart).
 */

import { postJSON } from './api.js';
import { editable } from './viewer.js';
import { readRoom, writeRoom, samePage, viewOf, sameView, PAUSE_KEYS } from './roomstate.js';
import * as roomQuestions from './roomquestions.js';
import { el } from './roomdom.js';
import { drawRuns } from './roomruns.js';

/** PUBLISH_EVERY_MS spaces the presenter's view updates (a drag sends a few a second, the last one always). */
const PUBLISH_EVERY_MS = 50;

/** RECONNECT_MS is the wait before reconnecting a lost room socket (doubling up to 8 s). */
const RECONNECT_MS = 500;

/**
 * Room is this tab's place in a workshop room.
 */
class Room {
  constructor(code, page) {
    this.code = code;
    this.page = page; // {root, viewer, replay, toggles, runner}
    this.role = 'visitor';
    this.label = '';
    this.state = null;
    this.following = readRoom()?.following !== false;
    this.latest = null;
    this.latestSeq = 0;
    this.applied = { seq: 0, at: 0 };
    this.questions = new Map();
    this.answered = {};
    this.runs = [];
    this.people = { attendees: 0, connected: 0 };
    this.socket = null;
    this.retry = RECONNECT_MS;
    this.closed = false;
    this.published = null;
    this.publishTimer = 0;
    this.lastPublish = 0;
    this.sending = false;
    this.hiddenQuestion = '';
  }

  get onRoomPage() {
    return this.page.root?.dataset.page === 'room';
  }

  /** start joins the room, builds the page's parts and connects. */
  async start() {
    let res;
    let data;
    try {
      ({ res, data } = await postJSON(`/api/rooms/${encodeURIComponent(this.code)}/join`, {}));
    } catch (err) {
      this.notice(`Could not reach the room: ${err.message}`);
      return false;
    }
    if (res.status === 404) {
      writeRoom(null);
      this.notice(data.error || `Room ${this.code} is closed.`);
      return false;
    }
    if (!res.ok) {
      this.notice(data.error || `Could not join room ${this.code} (${res.status}).`);
      return false;
    }
    this.state = data;
    this.role = data.role;
    this.label = data.label || '';
    this.answered = data.answered || {};
    for (const q of data.questions || []) this.questions.set(q.id, q);
    this.runs = data.runs || [];
    this.people = { attendees: data.attendees, connected: data.connected };
    writeRoom({ code: this.code, following: this.following });
    this.build();
    if (this.role === 'presenter') this.startPresenting();
    else this.startFollowing();
    this.connect();
    // A page left (or kept in the back-forward cache) is no longer here:
    // its socket closes, and one comes back with the page.
    addEventListener('pagehide', () => {
      const ws = this.socket;
      this.socket = null;
      ws?.close(1000);
    });
    addEventListener('pageshow', (e) => {
      if (e.persisted && !this.socket && !this.closed) this.connect();
    });
    return true;
  }

  // ---- the socket ---------------------------------------------------------

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/api/rooms/${encodeURIComponent(this.code)}/events`);
    this.socket = ws;
    ws.addEventListener('open', () => { this.retry = RECONNECT_MS; });
    ws.addEventListener('message', (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.receive(msg);
    });
    ws.addEventListener('close', (ev) => {
      if (this.socket !== ws || this.closed) return;
      this.socket = null;
      if (ev.code === 1000) {
        this.closed = true;
        writeRoom(null);
        this.setBar(`Room ${this.code} has closed.`);
        return;
      }
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(8000, this.retry * 2);
    });
  }

  receive(msg) {
    switch (msg.type) {
      case 'view':
        this.latest = msg.view;
        this.latestSeq = msg.seq;
        if (this.role !== 'presenter') {
          if (this.following) this.apply(msg.view, msg.seq);
          else this.showFollow();
        }
        break;
      case 'question':
        this.questions.set(msg.question.id, msg.question);
        this.drawQuestions();
        break;
      case 'runs':
        this.runs = msg.runs;
        this.drawRuns();
        break;
      case 'people':
        this.people = { attendees: msg.attendees, connected: msg.connected };
        this.drawPeople();
        break;
      default:
    }
  }

  // ---- the presenter: publish the view ---------------------------------

  startPresenting() {
    const { viewer, replay, toggles } = this.page;
    this.setPresenterLayout(true);
    const publish = () => this.schedulePublish();
    if (viewer) {
      const onView = viewer.onViewChange;
      viewer.onViewChange = () => { onView?.(); publish(); };
      wrap(viewer, 'watch', () => {
        publish();
        // Run pressed: bring the question and the timeline onto the projector.
        if (document.documentElement.classList.contains('presenter')) this.dock?.scrollIntoView({ block: 'start' });
      });
      wrap(viewer.timeline, 'selectLane', publish);
    }
    if (replay) wrap(replay, 'apply', publish);
    toggles?.onLargeChange(publish);
    this.schedulePublish();
  }

  /** currentView is what this page shows, as a view. */
  currentView() {
    const { viewer, root } = this.page;
    const tl = viewer?.timeline;
    const zoomed = tl && !tl.follow && !tl.tv.isFit();
    return viewOf({
      pathname: location.pathname,
      search: location.search,
      run: viewer?.runId || root?.dataset.run || null,
      cursor: viewer?.model.cursor ?? null,
      window: zoomed ? tl.view : null,
      lane: tl?.selectedLane || null,
      large: !!this.page.toggles?.large,
    });
  }

  /** schedulePublish sends the view now, or within PUBLISH_EVERY_MS of the last send. */
  schedulePublish() {
    if (this.publishTimer) return;
    const wait = Math.max(0, this.lastPublish + PUBLISH_EVERY_MS - performance.now());
    this.publishTimer = setTimeout(() => {
      this.publishTimer = 0;
      this.publish();
    }, wait);
  }

  async publish() {
    if (this.sending) {
      this.again = true;
      return;
    }
    const view = this.currentView();
    if (sameView(view, this.published)) return;
    this.sending = true;
    this.lastPublish = performance.now();
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(this.code)}/view`, {
        method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(view),
      });
      if (res.ok) this.published = view;
      else this.setBar(`The room did not take this view: ${(await res.json().catch(() => ({}))).error || res.status}`);
    } catch (err) {
      this.setBar(`The room is unreachable: ${err.message}`);
    } finally {
      this.sending = false;
      if (this.again) {
        this.again = false;
        this.schedulePublish();
      }
    }
  }

  /** setPresenterLayout switches the projector layout: full width, big lanes, high contrast. */
  setPresenterLayout(on) {
    document.documentElement.classList.toggle('presenter', on);
    this.page.viewer?.timeline.setPresenter(on);
    const b = document.getElementById('room-projector');
    b?.setAttribute('aria-pressed', String(on));
  }

  // ---- an attendee: follow ------------------------------------------------

  startFollowing() {
    // A click on the room's own parts (or on one that was just redrawn) is not exploring.
    const inRoom = (t) => !t.isConnected || t.closest?.('#room-dock, #room-questions, .room-join, #large-toggle, #help-toggle, #shortcuts');
    const pauseOn = (sel) => (e) => {
      if (!this.following || !(e.target instanceof Element) || inRoom(e.target)) return;
      if (e.target.closest(sel)) this.pause();
    };
    document.addEventListener('pointerdown', pauseOn('#timeline, #replay'), true);
    document.addEventListener('wheel', pauseOn('#timeline'), { capture: true, passive: true });
    document.addEventListener('click', pauseOn('a[href], button, select, input, summary'), true);
    document.addEventListener('keydown', (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || editable(e.target)) return;
      if (e.key === 'f') {
        // In a room f is "follow the presenter", not the timeline's follow-live.
        e.preventDefault();
        e.stopImmediatePropagation();
        if (this.following) this.pause(); else this.rejoin();
        return;
      }
      if (this.following && PAUSE_KEYS.has(e.key)) this.pause();
    }, true);
    const { viewer } = this.page;
    if (viewer) {
      // A finished run's history arrives after the view: show the view's moment once it is in.
      const onFinal = viewer.onFinal;
      viewer.onFinal = () => {
        onFinal?.();
        if (this.following && this.latest) this.apply(this.latest, this.latestSeq);
      };
    }
    this.showFollow();
  }

  /** pause stops following: this tab explores on its own. */
  pause() {
    if (!this.following) return;
    this.following = false;
    writeRoom({ code: this.code, following: false });
    this.showFollow();
  }

  /** rejoin follows the presenter again, from their current view. */
  rejoin() {
    this.following = true;
    writeRoom({ code: this.code, following: true });
    this.showFollow();
    if (this.latest) this.apply(this.latest, this.latestSeq);
  }

  /** apply shows view: the presenter's page, then its moment, window and lane. */
  apply(view, seq) {
    if (!samePage(view.path, location.pathname, location.search)) {
      if (this.navigating !== view.path) {
        this.navigating = view.path;
        location.assign(view.path);
      }
      return;
    }
    const { viewer, replay, toggles } = this.page;
    if (toggles && toggles.large !== !!view.large) toggles.setLarge(!!view.large, false);
    if (viewer) {
      const tl = viewer.timeline;
      if (view.run && viewer.runId !== view.run && this.page.root?.dataset.page === 'scenario') viewer.watch(view.run);
      if (Number.isFinite(view.t0) && Number.isFinite(view.t1)) {
        tl.setFollow(false);
        tl.setView(view.t0, view.t1);
      } else if (!tl.tv.isFit() || (!tl.follow && !viewer.model.finished)) {
        tl.fit();
      }
      tl.selectLane(view.lane || '');
      if (view.lane) tl.scrollToLane(view.lane);
      if (replay?.ready) {
        if (Number.isFinite(view.t)) replay.seek(view.t);
        else replay.end();
      }
      tl.requestRender();
    }
    requestAnimationFrame(() => {
      viewer?.timeline.render();
      this.applied = { seq, at: performance.timeOrigin + performance.now() };
    });
  }

  // ---- the page's parts -----------------------------------------------------

  build() {
    if (this.onRoomPage) {
      this.bar = null;
      this.questionBox = document.getElementById('room-questions');
      this.runsBox = document.getElementById('room-runs');
      const status = document.getElementById('room-status');
      if (status) status.textContent = `You joined as ${this.label}. Waiting for the presenter…`;
      if (this.role === 'presenter') this.questionBox?.before(this.askPanel(true));
    } else {
      const main = document.getElementById('content');
      this.dock = el('aside', { id: 'room-dock', class: 'room-dock', 'aria-label': `Workshop room ${this.code}`, 'data-role': this.role });
      this.bar = el('div', { class: 'room-bar' });
      this.questionBox = el('div', { id: 'room-question-card', class: 'room-question-card' });
      this.dock.append(this.bar, this.questionBox);
      // The presenter's dock sits right above the timeline, so that the
      // projector shows the question and the run together.
      const viewerBox = document.querySelector('main .viewer');
      if (this.role === 'presenter' && viewerBox) viewerBox.before(this.dock);
      else main?.prepend(this.dock);
      this.drawBar();
    }
    this.drawPeople();
    this.drawQuestions();
    this.drawRuns();
  }

  /** drawBar writes the room bar: the code, following or not, people, and the presenter's tools. */
  drawBar() {
    if (!this.bar) return;
    const parts = [el('a', { class: 'room-name', href: `/w/${this.code}`, text: `Room ${this.code}` })];
    if (this.role === 'presenter') {
      parts.push(el('span', { id: 'room-people', class: 'room-people' }));
      parts.push(el('button', {
        type: 'button', id: 'room-projector', class: 'toggle', 'aria-pressed': String(document.documentElement.classList.contains('presenter')),
        title: 'Full-width timeline, big lanes and type, high contrast: for the projector',
        onclick: () => this.setPresenterLayout(!document.documentElement.classList.contains('presenter')),
        text: 'Projector layout',
      }));
      parts.push(el('button', { type: 'button', id: 'room-ask-toggle', class: 'toggle', 'aria-pressed': 'false', onclick: () => this.toggleAsk(), text: 'Ask the room…' }));
    } else {
      parts.push(el('span', { id: 'room-follow', class: 'room-follow', role: 'status', 'aria-live': 'polite' }));
      parts.push(el('button', { type: 'button', id: 'room-rejoin', class: 'primary', onclick: () => this.rejoin(), title: 'Follow the presenter again (f)', text: 'Rejoin', hidden: true }));
      parts.push(el('span', { class: 'room-you', text: this.label }));
    }
    parts.push(el('button', { type: 'button', id: 'room-leave', onclick: () => this.leave(), text: 'Leave the room' }));
    this.bar.replaceChildren(...parts);
    this.showFollow();
  }

  /** setBar shows a message in the bar (or the room page's status line). */
  setBar(text) {
    const target = this.bar || document.getElementById('room-status') || document.getElementById('room-people');
    if (!target) return;
    let msg = target.querySelector?.('.room-message');
    if (!msg) {
      msg = el('span', { class: 'room-message', role: 'alert' });
      target.append(msg);
    }
    msg.textContent = text;
  }

  /** notice shows a message when the room could not be joined. */
  notice(text) {
    const status = document.getElementById('room-status');
    if (status) status.textContent = text;
  }

  showFollow() {
    if (this.role === 'presenter') return;
    const state = document.getElementById('room-follow');
    const rejoin = document.getElementById('room-rejoin');
    if (state) {
      state.textContent = this.following ? 'Following the presenter' : 'Following paused —';
      state.dataset.following = String(this.following);
    }
    if (rejoin) rejoin.hidden = this.following;
    const status = document.getElementById('room-status');
    if (status && this.onRoomPage && this.label) {
      status.textContent = this.following ? `You joined as ${this.label}. Following the presenter…` : `You joined as ${this.label}. Following paused.`;
    }
  }

  drawPeople() {
    const box = document.getElementById('room-people');
    if (!box) return;
    const { attendees, connected } = this.people;
    box.textContent = attendees === 0 ? 'No one has joined yet.' : `${attendees.toLocaleString('en')} joined · ${connected.toLocaleString('en')} connected now`;
    box.dataset.attendees = String(attendees);
  }

  /** leave takes this tab out of the room. */
  leave() {
    this.closed = true;
    writeRoom(null);
    this.socket?.close(1000);
    this.setPresenterLayout(false);
    this.dock?.remove();
    if (this.onRoomPage) location.assign('/');
  }

  // ---- questions (roomquestions.js) ----------------------------------------

  /** toggleAsk shows or hides the presenter's ask panel in the dock. */
  toggleAsk() {
    roomQuestions.toggleAsk(this);
  }

  /** askPanel is the presenter's form to ask the room a question. */
  askPanel(onRoomPage) {
    return roomQuestions.askPanel(this, onRoomPage);
  }

  /** drawQuestions shows the questions and their answers. */
  drawQuestions() {
    roomQuestions.drawQuestions(this);
  }

  // ---- the room's runs (presenter) ------------------------------------------

  drawRuns() {
    const box = this.runsBox;
    if (!box || this.role !== 'presenter') return;
    const key = JSON.stringify(this.runs);
    if (key === this.runsKey) return;
    this.runsKey = key;
    drawRuns(box, this.runs);
  }
}

/** wrap calls after() after every call of obj[name]. */
function wrap(obj, name, after) {
  const f = obj[name].bind(obj);
  obj[name] = (...args) => {
    const r = f(...args);
    after();
    return r;
  };
}

/**
 * startRoom puts the page in its room, if the tab is in one (or this is a
 * room page), and returns the Room (null otherwise).
 */
export async function startRoom(page) {
  const root = page.root;
  let code = readRoom()?.code || '';
  if (root?.dataset.page === 'room') {
    code = root.dataset.room;
    const prev = readRoom();
    writeRoom({ code, following: prev?.code === code ? prev.following : true });
  }
  if (!code) return null;
  const room = new Room(code, page);
  window.interleave = window.interleave || {};
  window.interleave.room = {
    get code() { return room.code; },
    get role() { return room.role; },
    get label() { return room.label; },
    get following() { return room.following; },
    get viewSeq() { return room.latestSeq; },
    get applied() { return room.applied; },
    get published() { return room.published; },
    get people() { return room.people; },
    questions: () => [...room.questions.values()],
    runs: () => room.runs,
    pause: () => room.pause(),
    rejoin: () => room.rejoin(),
  };
  await room.start();
  return room;
}
