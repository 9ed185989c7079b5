/**
 * replaybar.js: the replay of a finished run on its page (/r/{id}).
 *
 * Once the whole history is in, the bar appears: play/pause (space), a
 * speed from 0.1× to 10×, a scrubber over the run, previous/next event
 * (, . or [ ]; of the selected lane when one is selected), start (Home)
 * and end (End). At a replay position the model is cut there
 * (RunModel.setCursor): the timeline, output and summary show the run as
 * it was then. At the end the cut goes away and the page shows the whole
 * run, as before the replay.
 *
 * The URL carries the view (urlstate.js): t (the position), t0/t1 (the
 * window, once zoomed or panned) and lane (the selected lane), written
 * with history.replaceState as they change and read on load, so that a
 * link opens the run at that moment.
 */

import { ReplayClock, SPEEDS, stepTime, formatSpeed } from './replay.js';
import { parseViewState, viewStateSearch } from './urlstate.js';
import { formatDuration } from './axis.js';
import { editable } from './viewer.js';

/** URL_EVERY_MS spaces URL updates (browsers throttle replaceState). */
const URL_EVERY_MS = 400;

const $ = (id) => document.getElementById(id);

/** ReplayBar replays the run a Viewer shows. */
export class ReplayBar {
  /**
   * @param {import('./viewer.js').Viewer} viewer
   * @param {string} search the page's query string, read for the initial view
   * @param {boolean} finished whether the run had finished when the page loaded
   *   (then the link's position applies while the history loads)
   */
  constructor(viewer, search = location.search, finished = true) {
    this.viewer = viewer;
    this.finishedAtLoad = finished;
    this.scrubbing = false;
    this.initial = parseViewState(search);
    this.pendingInitial = true;
    this.clock = new ReplayClock(0);
    this.ready = false;
    this.frame = 0;
    this.urlTimer = 0;
    this.urlWritten = 0;
    this.el = {
      bar: $('replay'),
      play: $('replay-play'),
      prev: $('replay-prev'),
      next: $('replay-next'),
      start: $('replay-start'),
      end: $('replay-end'),
      scrub: $('replay-scrub'),
      speed: $('replay-speed'),
      time: $('replay-time'),
    };
    const tl = viewer.timeline;
    if (this.initial.lane) tl.selectLane(this.initial.lane);
    viewer.onReset = (model) => this.resetModel(model);
    viewer.onFinal = () => this.loaded();
    viewer.onViewChange = () => this.scheduleURL();
    viewer.onSelectLane = () => this.scheduleURL();
    viewer.onSeek = (t) => {
      if (this.ready) this.seek(t);
    };
    this.resetModel(viewer.model);
    this.wire();
  }

  /** resetModel puts the replay position on a new model (the page's first, or a reconnect's). */
  resetModel(model) {
    if (this.ready) model.setCursor(this.cursorFor(this.clock.now()));
    else if (this.pendingInitial && this.finishedAtLoad && this.initial.t !== null) model.setCursor(this.initial.t);
  }

  /** loaded starts the replay once the finished run's whole history is in: the bar shows, the link's view applies. */
  loaded() {
    const v = this.viewer;
    const tl = v.timeline;
    this.clock.setDuration(v.model.openEnd);
    this.clock.seek(this.clock.duration);
    if (this.pendingInitial) {
      this.pendingInitial = false;
      const { t, t0, t1, lane } = this.initial;
      if (t !== null) this.clock.seek(t);
      if (t0 !== null) {
        tl.setFollow(false);
        tl.setView(t0, t1);
      }
      if (lane) tl.scrollToLane(lane);
    }
    this.ready = true;
    if (this.el.bar) this.el.bar.hidden = false;
    if (this.el.scrub) this.el.scrub.max = String(this.clock.duration);
    this.apply();
  }

  /** cursorFor is the model's cursor at position t: none at the end of the run (the whole run). */
  cursorFor(t) {
    return t >= this.clock.duration ? null : t;
  }

  /** position is the replay position (ns): the end of the run when the whole run is shown. */
  get position() {
    if (!this.ready) return this.viewer.model.cursor ?? this.viewer.model.openEnd;
    return this.clock.now();
  }

  /** apply shows the run at the clock's position and brings the bar up to date. */
  apply() {
    const v = this.viewer;
    const t = this.clock.now();
    v.model.setCursor(this.cursorFor(t));
    v.update();
    v.timeline.requestRender();
    this.syncBar(t);
    this.scheduleURL();
  }

  /** syncBar shows the position, the duration and play/pause on the bar. */
  syncBar(t) {
    const { play, scrub, time } = this.el;
    const playing = this.clock.playing;
    if (play) {
      play.textContent = playing ? 'Pause' : 'Play';
      play.setAttribute('aria-pressed', String(playing));
      play.dataset.state = playing ? 'playing' : 'paused';
    }
    if (scrub && !this.scrubbing) scrub.value = String(t);
    if (scrub) scrub.setAttribute('aria-valuetext', formatDuration(t));
    if (time) time.textContent = `${formatDuration(t)} / ${formatDuration(this.clock.duration)}`;
  }

  // ---- actions ---------------------------------------------------------------

  /** play plays from the position (from the start when at the end). */
  play() {
    if (!this.ready) return;
    this.clock.play();
    this.apply();
    this.loop();
  }

  /** pause stops at the position. */
  pause() {
    if (!this.ready) return;
    this.clock.pause();
    this.apply();
  }

  /** toggle plays or pauses. */
  toggle() {
    if (this.clock.playing) this.pause(); else this.play();
  }

  /** seek moves to time t; playing goes on from there. */
  seek(t) {
    if (!this.ready) return;
    this.clock.seek(t);
    this.keepInView(this.clock.now(), true);
    this.apply();
  }

  /** step pauses and moves to the next (dir > 0) or previous event: of the selected lane, if any. */
  step(dir) {
    if (!this.ready) return;
    this.clock.pause();
    const v = this.viewer;
    const t = stepTime(v.model, this.clock.now(), dir, this.clock.duration, v.timeline.selectedLane);
    this.seek(t);
  }

  /** end shows the whole run (stops playing). */
  end() {
    if (!this.ready) return;
    this.clock.pause();
    this.clock.seek(this.clock.duration);
    this.apply();
  }

  /** setSpeed changes the replay speed. */
  setSpeed(speed) {
    this.clock.setSpeed(speed);
    if (this.el.speed) this.el.speed.value = String(this.clock.speed);
  }

  /** loop advances the replay once per frame while playing. */
  loop() {
    if (this.frame) return;
    const frame = () => {
      this.frame = 0;
      const t = this.clock.now();
      this.keepInView(t, false);
      this.apply();
      if (this.clock.playing) this.frame = requestAnimationFrame(frame);
    };
    this.frame = requestAnimationFrame(frame);
  }

  /**
   * keepInView pans the window when the position leaves it: to put it in
   * the middle after a jump, or a page further on while playing.
   */
  keepInView(t, jump) {
    const tl = this.viewer.timeline;
    if (t >= this.clock.duration) return;
    const { t0, t1 } = tl.view;
    const span = t1 - t0;
    if (t >= t0 && t <= t1 - span * 0.02) return;
    if (jump) tl.setView(t - span / 2, t + span / 2);
    else tl.setView(t - span * 0.1, t + span * 0.9);
  }

  // ---- the URL ---------------------------------------------------------------

  /** viewState is what the URL should carry now. */
  viewState() {
    const v = this.viewer;
    const tl = v.timeline;
    const zoomed = !tl.follow && !tl.tv.isFit();
    return {
      t: v.model.cursor,
      t0: zoomed ? tl.view.t0 : null,
      t1: zoomed ? tl.view.t1 : null,
      lane: tl.selectedLane || null,
    };
  }

  /** scheduleURL writes the view into the URL soon (at most every URL_EVERY_MS). */
  scheduleURL() {
    if (!this.ready || this.urlTimer) return;
    const wait = Math.max(0, this.urlWritten + URL_EVERY_MS - performance.now());
    this.urlTimer = setTimeout(() => {
      this.urlTimer = 0;
      this.urlWritten = performance.now();
      this.writeURL();
    }, wait);
  }

  /** writeURL replaces the URL with one that carries the current view. */
  writeURL() {
    const search = viewStateSearch(this.viewState(), location.search);
    if (search !== location.search) history.replaceState(history.state, '', `${location.pathname}${search}${location.hash}`);
  }

  // ---- controls --------------------------------------------------------------

  wire() {
    const { play, prev, next, start, end, scrub, speed } = this.el;
    play?.addEventListener('click', () => this.toggle());
    prev?.addEventListener('click', () => this.step(-1));
    next?.addEventListener('click', () => this.step(1));
    start?.addEventListener('click', () => this.seek(0));
    end?.addEventListener('click', () => this.end());
    if (scrub) {
      scrub.addEventListener('input', () => {
        this.scrubbing = true;
        this.seek(Number(scrub.value));
        this.scrubbing = false;
      });
    }
    if (speed) {
      if (speed.options.length === 0) {
        for (const s of SPEEDS) speed.append(new Option(formatSpeed(s), String(s), s === 1, s === 1));
      }
      speed.addEventListener('change', () => this.setSpeed(Number(speed.value)));
    }
    document.addEventListener('keydown', (e) => {
      // The scrubber is a form control, but the replay's keys are its keys too.
      if (!this.ready || e.ctrlKey || e.metaKey || e.altKey || (editable(e.target) && e.target !== scrub)) return;
      switch (e.key) {
        case ' ':
          // A focused button or link takes its own space.
          if (e.target instanceof HTMLButtonElement || e.target instanceof HTMLAnchorElement) return;
          this.toggle();
          break;
        case '.': case ']': this.step(1); break;
        case ',': case '[': this.step(-1); break;
        case 'Home': this.seek(0); break;
        case 'End': this.end(); break;
        default: return;
      }
      e.preventDefault();
    });
  }
}
