/**
 * timeview.js: the visible time window of one or more timelines.
 *
 * A TimeView is the window [t0, t1] (ns since each run started), whether it
 * follows the live end of the runs, and the timelines that show it. One
 * timeline has its own; timelines stacked on one page (the comparison) share
 * one, so that zooming or panning any of them moves all of them, on one time
 * axis.
 *
 * A member is anything with `model` (a RunModel or null), `requestRender()`
 * and `onViewChange(member)`: a Timeline, or a stand-in in the tests.
 */

/** MIN_SPAN is the narrowest window one can zoom to (ns). */
export const MIN_SPAN = 1000;

/** EMPTY_SPAN is the window shown before any run has an event (ns). */
export const EMPTY_SPAN = 1e8;

/** TimeView is a time window shared by the timelines that joined it. */
export class TimeView {
  constructor() {
    /** view is the visible window in ns since the runs started. */
    this.view = { t0: 0, t1: EMPTY_SPAN };
    /** follow keeps the live end in view; fitAll shows everything while following. */
    this.follow = true;
    this.fitAll = true;
    this.members = new Set();
  }

  /** join adds a timeline to those that show this window. */
  join(member) {
    this.members.add(member);
  }

  /** leave removes a timeline. */
  leave(member) {
    this.members.delete(member);
  }

  /** runEnd is the end of the longest run shown so far (ns), at least a small window. */
  runEnd() {
    let end = -1;
    for (const m of this.members) {
      if (m.model && m.model.openEnd > end) end = m.model.openEnd;
    }
    return end < 0 ? EMPTY_SPAN : Math.max(end, MIN_SPAN * 10);
  }

  /** live reports whether any run shown is still going. */
  live() {
    for (const m of this.members) {
      if (m.model && !m.model.finished) return true;
    }
    return false;
  }

  /** changed redraws every member and tells each that the view moved. */
  changed() {
    for (const m of this.members) {
      m.requestRender();
      m.onViewChange(m);
    }
  }

  /** set sets the window, clamped so that the runs stay in reach. */
  set(t0, t1) {
    const end = this.runEnd();
    let span = Math.max(MIN_SPAN, t1 - t0);
    span = Math.min(span, end * 1.5);
    const lo = -0.02 * span;
    const hi = Math.max(end, span) + 0.05 * span;
    const start = Math.min(Math.max(t0, lo), hi - span);
    this.view = { t0: start, t1: start + span };
    this.changed();
  }

  /**
   * zoom scales the window by factor (< 1 zooms in) around the point at
   * fraction frac of its width (default: the middle, or the live end while
   * following a live run).
   */
  zoom(factor, frac) {
    const { t0, t1 } = this.view;
    const span = t1 - t0;
    const live = this.follow && this.live();
    const f = frac === undefined ? (live ? 1 : 0.5) : frac;
    const anchor = t0 + f * span;
    const next = Math.max(MIN_SPAN, span * factor);
    this.fitAll = live && next >= this.runEnd();
    this.set(anchor - f * next, anchor - f * next + next);
  }

  /** pan moves the window by dt ns (positive: later); it stops following. */
  pan(dt) {
    this.setFollow(false);
    this.set(this.view.t0 + dt, this.view.t1 + dt);
  }

  /** fit shows every run whole; while one is live it also resumes following. */
  fit() {
    if (this.live()) {
      this.follow = true;
      this.fitAll = true;
    }
    this.set(0, this.runEnd() * 1.02);
  }

  /** setFollow turns following the live end on or off. */
  setFollow(on) {
    if (this.follow === on) return;
    this.follow = on;
    if (on) this.fitAll = this.view.t1 - this.view.t0 >= this.runEnd();
    this.changed();
  }

  /** applyFollow moves the window to the live end before a frame. */
  applyFollow() {
    if (!this.follow || !this.live()) return;
    const end = this.runEnd();
    if (this.fitAll) {
      this.view = { t0: 0, t1: end * 1.02 };
    } else {
      const span = this.view.t1 - this.view.t0;
      const t1 = end + span * 0.02;
      this.view = { t0: t1 - span, t1 };
    }
  }

  /** reset goes back to the initial state: following, everything in view. */
  reset() {
    this.follow = true;
    this.fitAll = true;
    this.view = { t0: 0, t1: EMPTY_SPAN };
  }

  /** isFit reports whether the window is (about) the whole-run window fit() gives. */
  isFit() {
    const want = this.runEnd() * 1.02;
    const { t0, t1 } = this.view;
    return Math.abs(t0) <= want * 1e-3 && Math.abs(t1 - want) <= want * 1e-3;
  }
}
